package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nebulaio/nebulaio/internal/testutil"
	"github.com/nebulaio/nebulaio/internal/vfs"
)

// gateFS passes everything to a Mem, counts renames and directory fsyncs per directory, and,
// once armed for a directory, holds the next fsync of it until released.
type gateFS struct {
	vfs.FS
	mu      sync.Mutex
	syncs   map[string]int
	renames map[string]int
	armed   string        // directory whose next SyncDir blocks
	held    chan struct{} // closed when that SyncDir is blocked
	release chan struct{} // closing it lets it go on
}

func newGateFS(inner vfs.FS) *gateFS {
	return &gateFS{FS: inner, syncs: map[string]int{}, renames: map[string]int{}}
}

func (g *gateFS) arm(dir string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.armed, g.held, g.release = dir, make(chan struct{}), make(chan struct{})
}

func (g *gateFS) Rename(oldpath, newpath string) error {
	err := g.FS.Rename(oldpath, newpath)
	g.mu.Lock()
	g.renames[filepath.Dir(newpath)]++
	g.mu.Unlock()
	return err
}

func (g *gateFS) SyncDir(dir string) error {
	g.mu.Lock()
	g.syncs[dir]++
	var release chan struct{}
	if dir == g.armed {
		g.armed = ""
		close(g.held)
		release = g.release
	}
	g.mu.Unlock()
	if release != nil {
		<-release
	}
	return g.FS.SyncDir(dir)
}

func (g *gateFS) count(m map[string]int, dir string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return m[dir]
}

// idsIn returns n ids (with the given prefix) that share the fan-out directory of fan.
func idsIn(fan, prefix string, n int) []string {
	var ids []string
	for i := 0; len(ids) < n; i++ {
		if id := fmt.Sprintf("%s%d", prefix, i); fanout(id) == fan {
			ids = append(ids, id)
		}
	}
	return ids
}

// waiting is the number of Puts queued for the next fsync of id's directory.
func (s *Store) waiting(id string) int {
	d := &s.dirSync[fanoutIndex(id)]
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.next == nil {
		return 0
	}
	return d.next.members
}

// openGate opens a store on a gateFS over mem.
func openGate(t *testing.T, mem *vfs.Mem) (*Store, *gateFS) {
	t.Helper()
	gfs := newGateFS(mem)
	s, err := Open(faultDir, Options{BlockSize: 4096, FS: gfs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, gfs
}

// heldPuts starts a Put of each id (all in one fan-out directory) and returns their errors'
// channel once the first Put's directory fsync is held by gfs and the others wait for the next
// fsync, all of them renamed into place.
func heldPuts(t *testing.T, s *Store, gfs *gateFS, ids []string, data func(string) []byte) chan error {
	t.Helper()
	gfs.arm(filepath.Dir(s.path(ids[0])))
	errs := make(chan error, len(ids))
	put := func(id string) {
		_, err := s.Put(context.Background(), id, bytes.NewReader(data(id)), expectOf(data(id)))
		errs <- err
	}
	go put(ids[0])
	<-gfs.held // the first Put's fsync is running (held)
	for _, id := range ids[1:] {
		go put(id)
	}
	testutil.WaitUntil(t, 10*time.Second, "the other Puts to queue for the next fsync", func() bool {
		return s.waiting(ids[1]) == len(ids)-1
	})
	return errs
}

// Puts that rename into one directory while an fsync of it runs share the next fsync: nine
// Puts, two directory fsyncs, and each Put returns only after an fsync that began after its
// rename.
func TestDirSyncGroupCommit(t *testing.T) {
	s, gfs := openGate(t, vfs.NewMem())
	ctx := context.Background()
	ids := idsIn("3c", "g", 9)
	dir := filepath.Dir(s.path(ids[0]))
	data := randData(6000, 1)
	if _, err := s.Put(ctx, "warm-"+ids[0], bytes.NewReader(data), expectOf(data)); err != nil { // creates other fan-out dirs; not ours
		t.Fatal(err)
	}
	if err := s.ensureDir(dir); err != nil {
		t.Fatal(err)
	}
	syncs0 := gfs.count(gfs.syncs, dir)

	errs := heldPuts(t, s, gfs, ids, func(string) []byte { return data })
	if n := gfs.count(gfs.renames, dir); n != len(ids) {
		t.Fatalf("%d renames into the directory, want %d", n, len(ids))
	}
	select {
	case err := <-errs:
		t.Fatalf("a Put returned (%v) while the fsync covering it was held", err)
	default:
	}
	close(gfs.release)
	for range ids {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := gfs.count(gfs.syncs, dir) - syncs0; n != 2 {
		t.Fatalf("%d Puts into one directory made %d directory fsyncs, want 2 (one held, one shared)", len(ids), n)
	}
	for _, id := range ids {
		if err := s.Verify(id); err != nil {
			t.Fatal(err)
		}
	}
}

// A power cut while Puts wait for a shared directory fsync: every acknowledged blob is there
// after the crash; the ones not acknowledged are absent or whole (never torn), and a failed
// fsync round fails each of its Puts.
func TestCrashGroupCommittedDirSync(t *testing.T) {
	mem := vfs.NewMem()
	s, gfs := openGate(t, mem)
	ctx := context.Background()
	ids := idsIn("a7", "c", 6)
	blobs := map[string][]byte{}
	for i, id := range ids {
		blobs[id] = randData(1000+i*3000, uint64(i)) // one to five blocks
	}
	// ids[0] is acknowledged before the cut.
	if _, err := s.Put(ctx, ids[0], bytes.NewReader(blobs[ids[0]]), expectOf(blobs[ids[0]])); err != nil {
		t.Fatal(err)
	}
	errs := heldPuts(t, s, gfs, ids[1:], func(id string) []byte { return blobs[id] })

	after := mem.Crash()
	close(gfs.release)
	for range ids[1:] {
		if err := <-errs; !errors.Is(err, vfs.ErrCrashed) {
			t.Fatalf("a Put whose directory fsync failed returned %v", err)
		}
	}
	s2, err := Open(faultDir, Options{BlockSize: 4096, FS: after})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if !bytes.Equal(readAll(t, s2, ids[0]), blobs[ids[0]]) {
		t.Fatal("the acknowledged blob changed")
	}
	for _, id := range ids[1:] {
		switch err := s2.Verify(id); {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			t.Fatalf("unacknowledged blob %s after the crash: %v", id, err)
		default:
			if !bytes.Equal(readAll(t, s2, id), blobs[id]) {
				t.Fatalf("unacknowledged blob %s has other bytes", id)
			}
		}
	}
}

// Many concurrent Puts into a few directories, the power cut at a random moment: each blob
// acknowledged before the cut is intact afterwards, each other one absent or intact.
func TestCrashConcurrentPuts(t *testing.T) {
	for seed := range uint64(5) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			mem := vfs.NewMem()
			s, err := Open(faultDir, Options{BlockSize: 4096, FS: mem})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ids := append(idsIn("10", "p", 40), idsIn("11", "q", 40)...)
			blobs := make([][]byte, len(ids))
			for i := range ids {
				blobs[i] = randData(rng.IntN(3*4096), uint64(i))
			}
			cutAfter := int64(rng.IntN(60))
			var acks atomic.Int64
			acked := make([]atomic.Bool, len(ids))
			var crashOnce sync.Once
			var after *vfs.Mem
			var wg sync.WaitGroup
			for w := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < len(ids); i += 16 {
						if _, err := s.Put(context.Background(), ids[i], bytes.NewReader(blobs[i]), expectOf(blobs[i])); err != nil {
							if !errors.Is(err, vfs.ErrCrashed) {
								t.Errorf("Put %s: %v", ids[i], err)
							}
							return
						}
						acked[i].Store(true)
						if acks.Add(1) == cutAfter {
							crashOnce.Do(func() { after = mem.Crash() })
						}
					}
				}()
			}
			wg.Wait()
			crashOnce.Do(func() { after = mem.Crash() })
			s2, err := Open(faultDir, Options{BlockSize: 4096, FS: after})
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			for i, id := range ids {
				err := s2.Verify(id)
				switch {
				case errors.Is(err, ErrNotFound) && !acked[i].Load():
				case err != nil:
					t.Fatalf("blob %s (acknowledged %v) after the crash: %v", id, acked[i].Load(), err)
				case !bytes.Equal(readAll(t, s2, id), blobs[i]):
					t.Fatalf("blob %s has other bytes after the crash", id)
				}
			}
		})
	}
}
