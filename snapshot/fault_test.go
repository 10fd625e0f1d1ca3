package snapshot

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/nebulaio/nebulaio/internal/vfs"
)

// TestPersistFaults injects one file-system fault while a snapshot is persisted: in its run or
// its manifest, a write, an fsync, a rename or the directory fsync. The sink must fail with an
// error wrapping the fault; the previous snapshot must stay listed and open with its state; the
// failed one must not be listed - now, after a restart, or after a power cut (vfs.Mem.Crash) -
// and its files must be gone once the store reopens; and once the fault is gone the next
// snapshot must succeed.
func TestPersistFaults(t *testing.T) {
	cases := []struct {
		name  string
		fault vfs.Fault
		delta bool // the failing snapshot is a delta on the previous one
	}{
		{name: "run write fails (ENOSPC)", fault: vfs.Fault{Ops: vfs.OpWrite, Path: vfs.MatchBase("run-*.tmp"), Err: vfs.ErrNoSpace}},
		{name: "run write torn (EIO)", fault: vfs.Fault{Ops: vfs.OpWrite, Path: vfs.MatchBase("run-*.tmp"), Short: true}},
		{name: "run fsync fails", fault: vfs.Fault{Ops: vfs.OpSync, Path: vfs.MatchBase("run-*.tmp")}},
		{name: "run rename fails", fault: vfs.Fault{Ops: vfs.OpRename, Path: vfs.MatchBase("run-*.run")}},
		{name: "delta run rename fails", fault: vfs.Fault{Ops: vfs.OpRename, Path: vfs.MatchBase("run-*.run")}, delta: true},
		{name: "manifest write fails (ENOSPC)", fault: vfs.Fault{Ops: vfs.OpWrite, Path: vfs.MatchBase("*.manifest.tmp"), Err: vfs.ErrNoSpace}},
		{name: "manifest fsync fails", fault: vfs.Fault{Ops: vfs.OpSync, Path: vfs.MatchBase("*.manifest.tmp")}},
		{name: "manifest rename fails", fault: vfs.Fault{Ops: vfs.OpRename, Path: vfs.MatchBase("*.manifest")}},
		{name: "delta manifest rename fails", fault: vfs.Fault{Ops: vfs.OpRename, Path: vfs.MatchBase("*.manifest")}, delta: true},
		// The first directory fsync publishes the run, the second follows the manifest's rename.
		{name: "directory fsync after the manifest rename fails", fault: vfs.Fault{Ops: vfs.OpSyncDir, After: 1, Count: 1}},
	}
	stA, stB, stC := testState(0, 500), testState(1, 500), testState(2, 300)
	for _, tc := range cases {
		for _, stop := range vfs.Stops {
			t.Run(tc.name+"/"+stop.String(), func(t *testing.T) {
				mem := vfs.NewMem()
				ffs := vfs.NewFaulty(mem)
				opts := Options{FS: ffs, DisableAutoCompaction: true}
				s, err := NewStore("/snap", opts)
				if err != nil {
					t.Fatal(err)
				}
				idA, err := persist(t, s, 10, func(w io.Writer) error { return writeFull(w, stA) })
				if err != nil {
					t.Fatal(err)
				}
				filesA := dirNames(t, mem)

				ffs.Inject(tc.fault)
				write := func(w io.Writer) error { return writeFull(w, stB) }
				if tc.delta {
					write = func(w io.Writer) error { return writeDelta(w, idA, stA, stB) }
				}
				_, err = persist(t, s, 20, write)
				want := tc.fault.Err
				if want == nil {
					want = vfs.ErrIO
				}
				if !errors.Is(err, want) {
					t.Fatalf("persist: %v, want an error wrapping %v", err, want)
				}
				if ffs.Failures() == 0 {
					t.Fatal("the fault never fired")
				}
				ffs.Reset()
				checkOnly(t, s, idA, stA)
				for _, n := range dirNames(t, mem) {
					if strings.HasSuffix(n, tmpSuffix) {
						t.Fatalf("temporary file %s left after the failed persist", n)
					}
				}

				reopen := stop.Apply(mem)
				_ = s.Close()
				opts.FS = reopen
				s, err = NewStore("/snap", opts)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				checkOnly(t, s, idA, stA)
				if got := dirNames(t, reopen); !slices.Equal(got, filesA) {
					t.Fatalf("after reopening the directory holds %v, want the first snapshot's %v", got, filesA)
				}

				idC, err := persist(t, s, 30, func(w io.Writer) error { return writeFull(w, stC) })
				if err != nil {
					t.Fatalf("persist once the fault is gone: %v", err)
				}
				metas, _ := s.List()
				if len(metas) != 2 || metas[0].ID != idC || metas[1].ID != idA {
					t.Fatalf("List after the next snapshot: %v", ids(metas))
				}
				got, err := openState(t, s, idC)
				if err != nil || equalState(got, stC) != nil {
					t.Fatalf("Open(%s): %v %v", idC, err, equalState(got, stC))
				}
			})
		}
	}
}

// checkOnly asserts that id is the only snapshot listed and that it opens with state want.
func checkOnly(t *testing.T, s *Store, id string, want state) {
	t.Helper()
	metas, err := s.List()
	if err != nil || len(metas) != 1 || metas[0].ID != id {
		t.Fatalf("List: %v %v, want only %s", ids(metas), err, id)
	}
	got, err := openState(t, s, id)
	if err != nil {
		t.Fatalf("Open(%s): %v", id, err)
	}
	if err := equalState(got, want); err != nil {
		t.Fatalf("Open(%s): %v", id, err)
	}
}

func testState(seed, n int) state {
	st := state{}
	for i := 0; i < n; i++ {
		st[fmt.Sprintf("key-%05d", i*3+seed)] = fmt.Sprintf("value %d of state %d", i, seed)
	}
	return st
}

func dirNames(t *testing.T, fsys vfs.FS) []string {
	t.Helper()
	ents, err := fsys.ReadDir("/snap")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func ids(metas []*raft.SnapshotMeta) []string {
	var out []string
	for _, m := range metas {
		out = append(out, m.ID)
	}
	return out
}
