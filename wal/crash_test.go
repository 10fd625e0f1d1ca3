package wal

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

const (
	crashEnvDir  = "NEBULAIO_WAL_CRASH_DIR"
	crashSeed    = 42
	crashMaxSize = 3000
)

func crashOpts() Options {
	return Options{SegmentSize: 64 << 10, CompressAbove: 1024, CacheEntries: 16}
}

// TestCrashChild is the child half of TestCrash; it runs only when re-executed by it. It appends
// batches forever, printing "A <last index>" after each acknowledged StoreLogs and
// "H <first index>" after each acknowledged front DeleteRange, until it is killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnvDir)
	if dir == "" {
		t.Skip("helper process for TestCrash")
	}
	l, err := Open(dir, crashOpts())
	if err != nil {
		fmt.Printf("E open: %v\n", err)
		os.Exit(2)
	}
	last, _ := l.LastIndex()
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for n := 0; ; n++ {
		k := 1 + r.IntN(16)
		if err := l.StoreLogs(genBatch(crashSeed, last+1, k, crashMaxSize)); err != nil {
			fmt.Printf("E store: %v\n", err)
			os.Exit(2)
		}
		last += uint64(k)
		fmt.Printf("A %d\n", last)
		if n%25 == 24 {
			first, _ := l.FirstIndex()
			if last-first > 200 {
				if err := l.DeleteRange(first, last-100); err != nil {
					fmt.Printf("E delete: %v\n", err)
					os.Exit(2)
				}
				fmt.Printf("H %d\n", last-99)
			}
		}
	}
}

// TestCrash re-executes the test binary as a child that appends, SIGKILLs it at random moments,
// and after each kill checks that every acknowledged entry is present and byte-identical and
// that anything beyond the last acknowledgement is a whole entry the child wrote.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("re-exec crash test skipped in -short mode")
	}
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	deadline := time.Now().Add(12 * time.Second)
	var ackedLast, ackedHead uint64
	rounds := 0
	for rounds < 40 && (rounds < 6 || time.Now().Before(deadline)) {
		rounds++
		killAfter := 1 + r.IntN(300) // acknowledgements before the kill
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnvDir+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		acks := 0
		killed := false
		for sc.Scan() {
			line := sc.Text()
			kind, val, ok := strings.Cut(line, " ")
			if !ok {
				continue
			}
			switch kind {
			case "A":
				n, _ := strconv.ParseUint(val, 10, 64)
				ackedLast = n
				acks++
			case "H":
				n, _ := strconv.ParseUint(val, 10, 64)
				ackedHead = n
			case "E":
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("round %d: child failed: %s", rounds, line)
			}
			if acks >= killAfter && !killed {
				// a random extra delay moves the kill to a random point of the next write
				if d := r.IntN(3); d > 0 {
					spin(time.Duration(r.IntN(400)) * time.Microsecond)
				}
				cmd.Process.Signal(syscall.SIGKILL)
				killed = true
			}
		}
		err = cmd.Wait()
		if !killed {
			t.Fatalf("round %d: child exited on its own: %v", rounds, err)
		}
		verifyCrashDir(t, dir, rounds, ackedHead, ackedLast)
	}
	t.Logf("%d rounds, last acknowledged index %d, head %d", rounds, ackedLast, ackedHead)
}

// spin busy-waits: a fault-injection delay, not synchronisation.
func spin(d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); {
	}
}

func verifyCrashDir(t *testing.T, dir string, round int, ackedHead, ackedLast uint64) {
	t.Helper()
	l, err := Open(dir, crashOpts())
	if err != nil {
		t.Fatalf("round %d: reopen: %v", round, err)
	}
	defer l.Close()
	first, _ := l.FirstIndex()
	last, _ := l.LastIndex()
	if last < ackedLast {
		t.Fatalf("round %d: last index %d < acknowledged %d", round, last, ackedLast)
	}
	if first == 0 || first < ackedHead || first > ackedLast {
		t.Fatalf("round %d: first index %d, acknowledged head %d, last %d", round, first, ackedHead, ackedLast)
	}
	for i := first; i <= last; i++ {
		var got raft.Log
		if err := l.GetLog(i, &got); err != nil {
			t.Fatalf("round %d: GetLog(%d) of [%d, %d] (acked %d): %v", round, i, first, last, ackedLast, err)
		}
		if d := diffLog(genLog(crashSeed, i, crashMaxSize), &got); d != "" {
			t.Fatalf("round %d: %s", round, d)
		}
	}
	checkInvariants(t, l)
}
