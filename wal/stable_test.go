package wal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nebulaio/nebulaio/internal/vfs"
)

var termKey = []byte("CurrentTerm")

func getTerm(t *testing.T, l *Log) uint64 {
	t.Helper()
	v, err := l.GetUint64(termKey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestStableSetFaults fails the n-th Set's write (EIO, or torn) or its fdatasync: the Set
// returns the error; after a restart and after a power cut Open finds the state before that
// Set or - when the bytes did reach the file - the one it wrote, never an error; and the next
// Set, on the same open log, succeeds and is what a reopen finds. The state is never rolled
// back past the last Set that returned nil.
func TestStableSetFaults(t *testing.T) {
	stable := vfs.MatchBase(stableName)
	cases := []struct {
		name  string
		fault vfs.Fault
		want  error
	}{
		{"write EIO", vfs.Fault{Ops: vfs.OpWrite, Path: stable}, vfs.ErrIO},
		{"torn write", vfs.Fault{Ops: vfs.OpWrite, Path: stable, Short: true}, vfs.ErrIO},
		{"fdatasync EIO", vfs.Fault{Ops: vfs.OpSync, Path: stable}, vfs.ErrIO},
	}
	for _, tc := range cases {
		for _, stop := range vfs.Stops {
			for nth := 1; nth <= 3; nth++ { // which Set fails: both slots get their turn
				t.Run(fmt.Sprintf("%s/set %d/%s", tc.name, nth, stop), func(t *testing.T) {
					mem := vfs.NewMem()
					ffs := vfs.NewFaulty(mem)
					opts := testOpts()
					opts.FS = ffs
					l := openT(t, "/wal", opts)
					for v := uint64(1); v < uint64(nth); v++ {
						if err := l.SetUint64(termKey, v); err != nil {
							t.Fatal(err)
						}
					}
					acked := uint64(nth - 1)
					ft := tc.fault
					ft.Count = 1
					ffs.Inject(ft)
					if err := l.SetUint64(termKey, 100); !errors.Is(err, tc.want) {
						t.Fatalf("failing Set = %v, want %v", err, tc.want)
					}
					if got := getTerm(t, l); got != acked {
						t.Fatalf("after the failed Set the log says %d, want %d", got, acked)
					}
					// What a reopen finds right after the failure.
					l.Close()
					fsys := stop.Apply(mem)
					opts.FS = fsys
					l = openT(t, "/wal", opts)
					if got := getTerm(t, l); got != acked && got != 100 {
						t.Fatalf("after a %s: term %d, want %d (or 100, if the failed write reached the file)", stop, got, acked)
					}
					if err := l.SetUint64(termKey, 200); err != nil {
						t.Fatalf("Set after the fault: %v", err)
					}
					l.Close()
					if m, ok := fsys.(*vfs.Mem); ok {
						fsys = m.Crash() // the Set returned: it survives a power cut
					}
					opts.FS = fsys
					l = openT(t, "/wal", opts)
					defer l.Close()
					if got := getTerm(t, l); got != 200 {
						t.Fatalf("term %d after reopening, want 200", got)
					}
				})
			}
		}
	}
}

// TestStableSetFaultThenSetOnSameLog: after a failed Set, the next Set on the same open log
// (as raft retries a vote) is durable even across a power cut, though the failed sync dropped
// what it had written: the retry writes the slot again instead of trusting it.
func TestStableSetFaultThenSetOnSameLog(t *testing.T) {
	mem := vfs.NewMem()
	ffs := vfs.NewFaulty(mem)
	opts := testOpts()
	opts.FS = ffs
	l := openT(t, "/wal", opts)
	if err := l.SetUint64(termKey, 1); err != nil {
		t.Fatal(err)
	}
	ffs.Inject(vfs.Fault{Ops: vfs.OpSync, Path: vfs.MatchBase(stableName), Count: 1})
	if err := l.SetUint64(termKey, 2); !errors.Is(err, vfs.ErrIO) {
		t.Fatalf("Set with a failing sync: %v", err)
	}
	if err := l.Set([]byte("LastVoteCand"), []byte("n2")); err != nil {
		t.Fatal(err)
	}
	opts.FS = mem.Crash()
	l2 := openT(t, "/wal", opts)
	defer l2.Close()
	if v, err := l2.Get([]byte("LastVoteCand")); err != nil || string(v) != "n2" || getTerm(t, l2) != 1 {
		t.Fatalf("after a power cut: vote %q (%v), term %d; want n2 and 1", v, err, getTerm(t, l2))
	}
}

// TestStableOnFullDisk: once the log is open, Set never needs disk space: on a disk that is
// full, terms and votes are still saved (raft panics when it cannot save them), and read back
// after a power cut.
func TestStableOnFullDisk(t *testing.T) {
	mem := vfs.NewMem()
	opts := testOpts()
	opts.FS = mem
	l := openT(t, "/wal", opts)
	mem.SetCapacity(mem.Used()) // not one byte more
	if err := vfs.WriteFile(mem, "/other", []byte("x"), 0o644); !errors.Is(err, vfs.ErrNoSpace) {
		t.Fatalf("the disk is not full: %v", err)
	}
	for v := uint64(1); v <= 50; v++ {
		if err := l.SetUint64(termKey, v); err != nil {
			t.Fatalf("SetUint64 %d on a full disk: %v", v, err)
		}
		if err := l.Set([]byte("LastVoteCand"), []byte(fmt.Sprintf("node-%d", v))); err != nil {
			t.Fatalf("Set on a full disk: %v", err)
		}
	}
	l.Close()
	opts.FS = mem.Crash()
	l = openT(t, "/wal", opts)
	defer l.Close()
	if v, _ := l.Get([]byte("LastVoteCand")); getTerm(t, l) != 50 || string(v) != "node-50" {
		t.Fatalf("after a power cut: term %d, vote %q", getTerm(t, l), v)
	}
}

// TestStableOldFormat: a stable-state file written before the slots (one encoding, replaced
// whole) is read and rewritten in slots at Open; on a full disk that rewrite fails and Open says
// so, naming the file system's error.
func TestStableOldFormat(t *testing.T) {
	old := encodeStable(map[string][]byte{"LastVoteCand": []byte("n3")}, map[string]uint64{"CurrentTerm": 7, "LastVoteTerm": 7})
	for _, full := range []bool{false, true} {
		t.Run(fmt.Sprintf("full disk %v", full), func(t *testing.T) {
			mem := vfs.NewMem()
			opts := testOpts()
			opts.FS = mem
			openT(t, "/wal", opts).Close()
			if err := vfs.WriteFile(mem, "/wal/"+stableName, old, 0o644); err != nil {
				t.Fatal(err)
			}
			if full {
				mem.SetCapacity(mem.Used())
				_, err := Open("/wal", opts)
				if !errors.Is(err, vfs.ErrNoSpace) || !strings.Contains(err.Error(), "stable-state") {
					t.Fatalf("Open of an old stable file on a full disk: %v", err)
				}
				return
			}
			l := openT(t, "/wal", opts)
			if v, _ := l.Get([]byte("LastVoteCand")); getTerm(t, l) != 7 || string(v) != "n3" {
				t.Fatalf("old file read as term %d, vote %q", getTerm(t, l), v)
			}
			l.Close()
			b, err := vfs.ReadFile(mem, "/wal/"+stableName)
			if err != nil || len(b) != 2*minStableSlot || string(b[:4]) == stableMagic {
				t.Fatalf("not rewritten in slots: %d bytes, %q", len(b), b[:4])
			}
			l = openT(t, "/wal", opts)
			defer l.Close()
			if getTerm(t, l) != 7 {
				t.Fatal("term lost in the rewrite")
			}
		})
	}
}

// TestStableGrows: a state larger than its slot moves to a file with larger slots, and back
// every reopen finds the newest state.
func TestStableGrows(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, testOpts())
	big := bytes.Repeat([]byte("v"), 10<<10)
	for i := range 3 {
		if err := l.Set([]byte(fmt.Sprintf("k%d", i)), big); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.SetUint64(termKey, 9); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l = openT(t, dir, testOpts())
	defer l.Close()
	for i := range 3 {
		if v, err := l.Get([]byte(fmt.Sprintf("k%d", i))); err != nil || !bytes.Equal(v, big) {
			t.Fatalf("k%d: %d bytes, %v", i, len(v), err)
		}
	}
	if getTerm(t, l) != 9 {
		t.Fatal("term lost")
	}
	if fi, err := os.Stat(filepath.Join(dir, stableName)); err != nil || fi.Size() <= 2*minStableSlot {
		t.Fatalf("stable file did not grow: %v", err)
	}
}

// TestStableSlotDamage flips every byte of a stable file whose two slots hold terms 4 (older)
// and 5 (newer), and cuts it at every slot boundary: Open finds term 5, or term 4 (the newer
// slot no longer verifies: as after a torn write), or reports ErrCorrupt naming the file -
// never another state, never a panic.
func TestStableSlotDamage(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, testOpts())
	for v := uint64(1); v <= 5; v++ {
		if err := l.SetUint64(termKey, v); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	p := filepath.Join(dir, stableName)
	valid, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, b []byte) {
		t.Helper()
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := Open(dir, testOpts())
		if err != nil {
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.File != p {
				t.Fatalf("%s: Open = %v, want a CorruptError naming %s", name, err, p)
			}
			return
		}
		defer l.Close()
		if got := getTerm(t, l); got != 5 && got != 4 {
			t.Fatalf("%s: term %d, want 5 or 4", name, got)
		}
	}
	for i := 0; i < len(valid); i += 7 { // every 7th byte: all header fields and payload bytes of both slots
		b := bytes.Clone(valid)
		b[i] ^= 0x40
		check(fmt.Sprintf("byte %d flipped", i), b)
	}
	for _, n := range []int{0, 1, stableSlotHeader, minStableSlot, minStableSlot + 10, len(valid) - 1} {
		check(fmt.Sprintf("cut to %d bytes", n), valid[:n])
	}
	check("both slots zeroed", make([]byte, len(valid)))
}
