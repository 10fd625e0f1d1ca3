package blob

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/nebulaio/nebulaio/internal/vfs"
)

const faultDir = "/store"

// openFaulty opens a store on a Faulty over a Mem (so that a test can also cut the power).
func openFaulty(t *testing.T, mem *vfs.Mem) (*Store, *vfs.Faulty) {
	t.Helper()
	ffs := vfs.NewFaulty(mem)
	s, err := Open(faultDir, Options{BlockSize: 4096, FS: ffs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, ffs
}

func readAll(t *testing.T, s *Store, id string) []byte {
	t.Helper()
	r, _, err := s.Open(id)
	if err != nil {
		t.Fatalf("open %s: %v", id, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", id, err)
	}
	return b
}

// TestPutFaults fails each file operation of a Put in turn: the Put reports the file system's
// error, publishes nothing (not now, not after a restart or a power cut), leaves no temporary
// file (or, when removing it fails too, one that RemoveStaleTemp collects), keeps the other
// blobs intact, and the store works again once the fault is gone.
func TestPutFaults(t *testing.T) {
	data := randData(3*4096+100, 5) // 4 blocks: writes 1..4 are blocks, write 5 the header
	id := "victim"
	fan := matchName(fanout(id))
	tmp := vfs.MatchBase("put-*.tmp")
	cases := []struct {
		name   string
		faults []vfs.Fault
		want   error
		stale  bool // the temporary file cannot be removed either
	}{
		{name: "create temp ENOSPC", faults: []vfs.Fault{{Ops: vfs.OpOpen, Path: tmp, Err: vfs.ErrNoSpace}}, want: vfs.ErrNoSpace},
		{name: "first block EIO", faults: []vfs.Fault{{Ops: vfs.OpWrite, Path: tmp}}, want: vfs.ErrIO},
		{name: "third block torn ENOSPC", faults: []vfs.Fault{{Ops: vfs.OpWrite, Path: tmp, After: 2, Short: true, Err: vfs.ErrNoSpace}}, want: vfs.ErrNoSpace},
		{name: "header torn EIO", faults: []vfs.Fault{{Ops: vfs.OpWrite, Path: tmp, After: 4, Short: true}}, want: vfs.ErrIO},
		{name: "fsync EIO", faults: []vfs.Fault{{Ops: vfs.OpSync, Path: tmp}}, want: vfs.ErrIO},
		{name: "fan-out mkdir ENOSPC", faults: []vfs.Fault{{Ops: vfs.OpMkdir, Path: fan, Err: vfs.ErrNoSpace}}, want: vfs.ErrNoSpace},
		{name: "blobs dir fsync EIO", faults: []vfs.Fault{{Ops: vfs.OpSyncDir, Path: vfs.MatchBase("blobs")}}, want: vfs.ErrIO},
		{name: "rename EIO", faults: []vfs.Fault{{Ops: vfs.OpRename, Path: tmp}}, want: vfs.ErrIO},
		{name: "fan-out dir fsync after rename EIO", faults: []vfs.Fault{{Ops: vfs.OpSyncDir, Path: fan}}, want: vfs.ErrIO},
		{name: "write and remove fail", stale: true, want: vfs.ErrNoSpace, faults: []vfs.Fault{
			{Ops: vfs.OpWrite, Path: tmp, After: 1, Err: vfs.ErrNoSpace},
			{Ops: vfs.OpRemove, Path: tmp},
		}},
	}
	for _, tc := range cases {
		for _, stop := range vfs.Stops {
			t.Run(tc.name+"/"+stop.String(), func(t *testing.T) {
				mem := vfs.NewMem()
				s, ffs := openFaulty(t, mem)
				keep := randData(5000, 6)
				if _, err := s.Put(context.Background(), "keep", bytes.NewReader(keep), expectOf(keep)); err != nil {
					t.Fatal(err)
				}
				for _, f := range tc.faults {
					f.Count = 1
					ffs.Inject(f)
				}
				_, err := s.Put(context.Background(), id, bytes.NewReader(data), expectOf(data))
				if !errors.Is(err, tc.want) {
					t.Fatalf("Put = %v, want %v", err, tc.want)
				}
				if ffs.Failures() == 0 {
					t.Fatal("no fault was hit")
				}
				if _, err := s.Stat(id); !errors.Is(err, ErrNotFound) {
					t.Fatalf("failed Put published its blob: Stat = %v", err)
				}
				left := tempFiles(t, s)
				if tc.stale != (len(left) > 0) {
					t.Fatalf("temporary files after the failed Put: %v (a stale one expected: %v)", left, tc.stale)
				}
				if tc.stale {
					if n, err := s.removeTemp(time.Now().Add(time.Second)); n != 1 || err != nil {
						t.Fatalf("collecting the stale temporary file: %d, %v", n, err)
					}
				}
				// The store works again, and the failed Put left nothing behind a restart.
				if _, err := s.Put(context.Background(), "after", bytes.NewReader(data), expectOf(data)); err != nil {
					t.Fatalf("Put after the fault: %v", err)
				}
				s.Close()
				s2, err := Open(faultDir, Options{BlockSize: 4096, FS: stop.Apply(mem)})
				if err != nil {
					t.Fatal(err)
				}
				defer s2.Close()
				if _, err := s2.Stat(id); !errors.Is(err, ErrNotFound) {
					t.Fatalf("after a %s the failed blob is visible: %v", stop, err)
				}
				if !bytes.Equal(readAll(t, s2, "keep"), keep) || !bytes.Equal(readAll(t, s2, "after"), data) {
					t.Fatal("another blob changed")
				}
				if err := s2.List(func(e Entry) error {
					if e.ID != "keep" && e.ID != "after" {
						t.Errorf("unexpected blob %s listed", e.ID)
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// matchName selects the paths whose last element is name (a fan-out directory).
func matchName(name string) func(string) bool {
	return func(p string) bool { return filepath.Base(p) == name }
}

// TestPutOnFullDisk writes onto a small in-memory disk: a Put that does not fit fails with
// ErrNoSpace, publishes nothing, and gives back every byte it took; blobs stored before stay
// readable, and a Put fits again once a blob is deleted.
func TestPutOnFullDisk(t *testing.T) {
	mem := vfs.NewMem()
	mem.SetCapacity(64 << 10)
	s, err := Open(faultDir, Options{BlockSize: 4096, FS: mem})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	first := randData(40<<10, 1)
	if _, err := s.Put(context.Background(), "first", bytes.NewReader(first), expectOf(first)); err != nil {
		t.Fatal(err)
	}
	used := mem.Used()
	second := randData(30<<10, 2)
	if _, err := s.Put(context.Background(), "second", bytes.NewReader(second), expectOf(second)); !errors.Is(err, vfs.ErrNoSpace) {
		t.Fatalf("Put past the capacity = %v, want ErrNoSpace", err)
	}
	if _, err := s.Stat("second"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("blob that did not fit: Stat = %v", err)
	}
	if mem.Used() != used || len(tempFiles(t, s)) != 0 {
		t.Fatalf("the failed Put kept space: used %d, was %d; temp files %v", mem.Used(), used, tempFiles(t, s))
	}
	if !bytes.Equal(readAll(t, s, "first"), first) {
		t.Fatal("blob stored before the disk filled changed")
	}
	if err := s.Delete("first"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(context.Background(), "second", bytes.NewReader(second), expectOf(second)); err != nil {
		t.Fatalf("Put after freeing space: %v", err)
	}
	if !bytes.Equal(readAll(t, s, "second"), second) {
		t.Fatal("second blob reads back wrong")
	}
}

// TestReadFaults fails reads of a stored blob at each point (the header, each block): the read
// reports the I/O error and never returns a byte that differs from what was stored; every byte
// before the failure is right; once the fault is gone the blob reads back whole.
func TestReadFaults(t *testing.T) {
	data := randData(3*4096+100, 7)
	for after := 0; after <= 4; after++ { // read 0 is the header, reads 1..4 the blocks
		for _, how := range []string{"sequential", "ReadAt"} {
			t.Run(how+"/read "+string(rune('0'+after)), func(t *testing.T) {
				s, ffs := openFaulty(t, vfs.NewMem())
				if _, err := s.Put(context.Background(), "b", bytes.NewReader(data), expectOf(data)); err != nil {
					t.Fatal(err)
				}
				ffs.Inject(vfs.Fault{Ops: vfs.OpRead, Path: vfs.MatchBase("b"), After: after, Count: 1})
				var got []byte
				var err error
				r, _, oerr := s.Open("b")
				switch {
				case oerr != nil:
					err = oerr
				case how == "sequential":
					got, err = io.ReadAll(r)
				default:
					got = make([]byte, len(data))
					var n int
					n, err = r.ReadAt(got, 0)
					got = got[:n]
				}
				if r != nil {
					r.Close()
				}
				if !errors.Is(err, vfs.ErrIO) || errors.Is(err, ErrNotFound) {
					t.Fatalf("read with a failing read %d: %v, want the I/O error", after, err)
				}
				if !bytes.Equal(got, data[:len(got)]) {
					t.Fatalf("bytes returned before the failure differ from the stored ones")
				}
				if len(got) > after*4096 {
					t.Fatalf("%d bytes returned, but read %d (block %d) failed", len(got), after, after-1)
				}
				if !bytes.Equal(readAll(t, s, "b"), data) {
					t.Fatal("blob reads back wrong once the fault is gone")
				}
			})
		}
	}
}
