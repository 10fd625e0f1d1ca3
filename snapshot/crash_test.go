package snapshot

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const crashEnv = "SNAPSHOT_CRASH_CHILD" // "dir|seed|mode"

// crashModel is the deterministic state at each raft index: step 1 writes 5,000 keys, every
// later step applies 100 random puts and deletes, all drawn from (seed, step).
type crashModel struct {
	seed  uint64
	index uint64
	st    state
}

func (m *crashModel) advanceTo(index uint64) {
	if m.st == nil {
		m.st = state{}
	}
	for m.index < index {
		m.index++
		rng := rand.New(rand.NewPCG(m.seed, m.index))
		n := 100
		if m.index == 1 {
			n = 5000
		}
		for i := 0; i < n; i++ {
			k := fmt.Sprintf("key/%05d", rng.IntN(5000))
			if m.index > 1 && rng.IntN(5) == 0 {
				delete(m.st, k)
				continue
			}
			m.st[k] = fmt.Sprintf("%d:%s", m.index, strings.Repeat("v", 50+rng.IntN(100)))
		}
	}
}

func crashOptions() Options {
	return Options{ChunkSize: 4096, Retain: 3, CompactMaxDeltas: 2}
}

// TestCrashChild is the child process of TestCrashRecovery; it does nothing unless started
// by it. It persists snapshots (every fifth full, the rest deltas of the previous one) in a
// loop until killed; in mode "compact" it also compacts after every snapshot.
func TestCrashChild(t *testing.T) {
	spec := os.Getenv(crashEnv)
	if spec == "" {
		t.Skip("helper process for TestCrashRecovery")
	}
	parts := strings.Split(spec, "|")
	seed, _ := strconv.ParseUint(parts[1], 10, 64)
	dir, mode := parts[0], parts[2]
	s, err := NewStore(dir, crashOptions())
	if err != nil {
		t.Fatalf("child NewStore: %v", err)
	}
	model := &crashModel{seed: seed}
	parent := ""
	if metas, _ := s.List(); len(metas) > 0 {
		parent = metas[0].ID
		model.advanceTo(metas[0].Index)
	}
	for {
		prev := model.st.clone()
		model.advanceTo(model.index + 1)
		cur := model.st.clone()
		var id string
		if parent == "" || model.index%5 == 1 {
			id, err = persist(t, s, model.index, func(w io.Writer) error { return writeFull(w, cur) })
		} else {
			id, err = persist(t, s, model.index, func(w io.Writer) error { return writeDelta(w, parent, prev, cur) })
		}
		if err != nil {
			t.Fatalf("child persist %d: %v", model.index, err)
		}
		parent = id
		if mode == "compact" {
			if err := s.Compact(); err != nil {
				t.Fatalf("child compact: %v", err)
			}
		}
	}
}

// TestCrashRecovery SIGKILLs a child process at random moments while it persists snapshots
// and compacts, then reopens the store: every listed snapshot must open and match the model
// at its index, no manifest may be set aside, and no run may be orphaned.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: -short")
	}
	for _, mode := range []string{"persist", "compact"} {
		t.Run("during="+mode, func(t *testing.T) {
			dir := t.TempDir()
			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			rng := rand.New(rand.NewPCG(seed, 0))
			maxIndex := uint64(0)
			deadline := time.Now().Add(9 * time.Second)
			rounds, interrupted := 0, 0
			for ; rounds < 12 && time.Now().Before(deadline); rounds++ {
				cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
				cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s|%d|%s", crashEnv, dir, seed, mode))
				out := &strings.Builder{}
				cmd.Stdout, cmd.Stderr = out, out
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				// The kill moment is what the test randomises; this is not synchronisation.
				time.Sleep(time.Duration(150+rng.IntN(600)) * time.Millisecond)
				_ = cmd.Process.Signal(syscall.SIGKILL)
				err := cmd.Wait()
				if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
					t.Fatalf("child exited on its own (%v):\n%s", err, out)
				}
				if tmps, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(tmps) > 0 {
					interrupted++ // the kill landed inside a write
				}
				maxIndex = max(maxIndex, verifyCrashDir(t, dir, seed))
			}
			if maxIndex < 3 {
				t.Fatalf("only reached index %d in %d rounds: the child made no progress", maxIndex, rounds)
			}
			t.Logf("%d kills (%d inside a write), reached index %d", rounds, interrupted, maxIndex)
		})
	}
}

// verifyCrashDir reopens the store and checks every listed snapshot against the model; it
// returns the newest index.
func verifyCrashDir(t *testing.T, dir string, seed uint64) uint64 {
	t.Helper()
	s, err := NewStore(dir, Options{Retain: 100, DisableAutoCompaction: true})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer s.Close()
	if bad, _ := filepath.Glob(filepath.Join(dir, "*.corrupt")); len(bad) > 0 {
		t.Fatalf("manifests set aside after a crash: %v", bad)
	}
	metas, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	model := &crashModel{seed: seed}
	for i := len(metas) - 1; i >= 0; i-- { // oldest first, so the model only moves forward
		m := metas[i]
		model.advanceTo(m.Index)
		got, err := openState(t, s, m.ID)
		if err != nil {
			t.Fatalf("Open(%s) after kill: %v", m.ID, err)
		}
		if err := equalState(model.st, got); err != nil {
			t.Fatalf("snapshot %s (index %d) after kill: %v", m.ID, m.Index, err)
		}
	}
	used := map[string]bool{}
	for _, m := range s.manifests {
		for _, r := range m.Runs {
			used[r] = true
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "run-*"))
	for _, f := range files {
		if !used[filepath.Base(f)] {
			t.Fatalf("orphan run %s survived reopen", f)
		}
	}
	if len(metas) == 0 {
		return 0
	}
	return metas[0].Index
}
