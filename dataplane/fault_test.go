package dataplane

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nebulaio/nebulaio/dataplane/blob"
	"github.com/nebulaio/nebulaio/internal/vfs"
)

// withFS puts the blob stores of the named nodes on the given file systems.
func withFS(fss map[string]vfs.FS) nodeOption {
	return func(id string, bo *blob.Options, _ *Config) {
		if fs, ok := fss[id]; ok {
			bo.FS = fs
		}
	}
}

// tempFiles lists the temporary files of a blob store (writes in flight or left behind).
func tempFiles(t *testing.T, st *blob.Store, fsys vfs.FS) []string {
	t.Helper()
	ents, err := fsys.ReadDir(st.Dir() + "/tmp")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// TestReplicaWriteFaults fails the blob write of one replica (at each step of the local
// store's Put: write, torn write, fsync, rename; on the writing node and on a remote one) or of
// two: with one failure the write reaches its quorum and every node reads the object back
// intact; with two it answers ErrWriteQuorum (ErrNoSpace as well only when both failed for lack
// of space), and no copy is left anywhere. A failed replica never publishes a blob.
func TestReplicaWriteFaults(t *testing.T) {
	tmp := vfs.MatchBase("put-*.tmp")
	type fault struct {
		node string
		f    vfs.Fault
	}
	eio := func(node string, ops vfs.Op) fault { return fault{node, vfs.Fault{Ops: ops, Path: tmp}} }
	full := func(node string) fault {
		return fault{node, vfs.Fault{Ops: vfs.OpWrite, Path: tmp, After: 1, Short: true, Err: vfs.ErrNoSpace}}
	}
	cases := []struct {
		name    string
		faults  []fault
		want    error // nil: the write succeeds on the other replicas
		notWant error
	}{
		{name: "local write EIO", faults: []fault{eio("d1", vfs.OpWrite)}},
		{name: "remote write EIO", faults: []fault{eio("d2", vfs.OpWrite)}},
		{name: "remote torn write ENOSPC", faults: []fault{full("d3")}},
		{name: "local fsync EIO", faults: []fault{eio("d1", vfs.OpSync)}},
		{name: "remote fsync EIO", faults: []fault{eio("d2", vfs.OpSync)}},
		{name: "remote rename EIO", faults: []fault{eio("d3", vfs.OpRename)}},
		{name: "two replicas EIO", faults: []fault{eio("d1", vfs.OpWrite), eio("d2", vfs.OpSync)},
			want: ErrWriteQuorum, notWant: ErrNoSpace},
		{name: "two replicas ENOSPC", faults: []fault{full("d2"), full("d3")}, want: ErrNoSpace},
		{name: "one ENOSPC one EIO", faults: []fault{full("d1"), eio("d3", vfs.OpRename)},
			want: ErrWriteQuorum, notWant: ErrNoSpace},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fss := map[string]vfs.FS{}
			for _, id := range []string{"d1", "d2", "d3"} {
				fss[id] = vfs.NewFaulty(vfs.OS)
			}
			c := newDataCluster(t, 3, 3, withFS(fss))
			for _, f := range tc.faults {
				fss[f.node].(*vfs.Faulty).Inject(f.f)
			}
			data := randomBytes(9, fanoutChunk*2+100)
			info, nodes, err := c.nodes["d1"].d.Put(context.Background(), "obj", bytes.NewReader(data), blob.Expect{Size: int64(len(data))})
			for _, f := range tc.faults {
				if fss[f.node].(*vfs.Faulty).Failures() == 0 {
					t.Fatalf("the fault on %s was not hit", f.node)
				}
			}
			if tc.want == nil {
				if err != nil {
					t.Fatalf("put with one failing replica: %v", err)
				}
				failed := tc.faults[0].node
				want := slices.DeleteFunc(slices.Clone(c.order), func(n string) bool { return n == failed })
				if !slices.Equal(nodes, want) || info.Size != int64(len(data)) {
					t.Fatalf("put recorded %v (%d bytes), want %v", nodes, info.Size, want)
				}
				for _, n := range c.order {
					if got := readAll(t, c.nodes[n].d, "obj", nodes, 0, -1); !bytes.Equal(got, data) {
						t.Fatalf("read through %s differs from what was written", n)
					}
				}
			} else {
				if !errors.Is(err, tc.want) || !errors.Is(err, ErrWriteQuorum) {
					t.Fatalf("put with %d failing replicas: %v, want %v", len(tc.faults), err, tc.want)
				}
				if tc.notWant != nil && errors.Is(err, tc.notWant) {
					t.Fatalf("put: %v should not match %v", err, tc.notWant)
				}
			}
			for _, n := range c.order {
				c.nodes[n].d.Close() // waits for the deletion of a failed write's copies
			}
			holders := c.holders("obj")
			if tc.want == nil && !slices.Equal(holders, nodes) {
				t.Fatalf("copies on %v, want exactly %v", holders, nodes)
			}
			if tc.want != nil {
				// A replica that finished while the write was failing may have published its
				// copy after the deletion reached it: an intact, unreferenced copy, which the
				// garbage collector takes once older than its grace period.
				for _, n := range holders {
					if err := c.nodes[n].store.Verify("obj"); err != nil {
						t.Fatalf("copy left on %s by the failed write: %v", n, err)
					}
					if _, err := c.nodes[n].d.CollectGarbage(context.Background(), maintenance(), time.Now().Add(2*time.Hour)); err != nil {
						t.Fatal(err)
					}
				}
				if h := c.holders("obj"); len(h) != 0 {
					t.Fatalf("garbage collection left the failed write's copies on %v", h)
				}
			}
			// A cancelled replica's Put may still be running on its node: wait for it to clean up.
			deadline := time.Now().Add(10 * time.Second)
			for _, n := range c.order {
				for tf := tempFiles(t, c.nodes[n].store, fss[n]); len(tf) != 0; tf = tempFiles(t, c.nodes[n].store, fss[n]) {
					if time.Now().After(deadline) {
						t.Fatalf("temporary files left on %s: %v", n, tf)
					}
					time.Sleep(10 * time.Millisecond) // polling interval
				}
			}
		})
	}
}

// recorder keeps the data plane's metrics for a test.
type recorder struct {
	mu sync.Mutex
	v  map[string]float64
}

func newRecorder() *recorder { return &recorder{v: map[string]float64{}} }

func (r *recorder) Counter(name string, d float64) { r.mu.Lock(); r.v[name] += d; r.mu.Unlock() }
func (r *recorder) Gauge(name string, v float64)   { r.mu.Lock(); r.v[name] = v; r.mu.Unlock() }
func (r *recorder) Observe(name string, v float64) {}
func (r *recorder) get(name string) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.v[name]
}

// TestFreeSpaceReserve runs three nodes on small in-memory disks with a reserve: writes go
// through while they leave the reserve free, then are refused with ErrNoSpace naming the node
// (and counted), before the disk itself is full; the blobs stored before read back intact; once
// blobs are deleted, writes go through again. Without a reserve, writes of unknown length run
// the disks full and fail with ErrNoSpace too, from the file system.
func TestFreeSpaceReserve(t *testing.T) {
	const capacity, reserve, size = 2 << 20, 512 << 10, 300 << 10
	for _, tc := range []struct {
		name    string
		minFree int64
		expect  int64 // Expect.Size of the writes
		counter string
	}{
		{"reserve", reserve, size, MetricReserveRefusals},
		{"no reserve", -1, AnySize, MetricNoSpaceErrors},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mems := map[string]*vfs.Mem{}
			fss := map[string]vfs.FS{}
			recs := map[string]*recorder{}
			for _, id := range []string{"d1", "d2", "d3"} {
				mems[id] = vfs.NewMem()
				mems[id].SetCapacity(capacity)
				fss[id] = mems[id]
				recs[id] = newRecorder()
			}
			c := newDataCluster(t, 3, 3, withFS(fss), func(id string, _ *blob.Options, cfg *Config) {
				cfg.MinFreeBytes = tc.minFree
				cfg.Metrics = recs[id]
			})
			ctx := context.Background()
			type stored struct {
				id    string
				data  []byte
				nodes []string
			}
			var done []stored
			var err error
			for i := 0; i < 20; i++ {
				data := randomBytes(int64(i), size)
				id := "obj-" + string(rune('a'+i))
				var nodes []string
				_, nodes, err = c.nodes["d1"].d.Put(ctx, id, bytes.NewReader(data), blob.Expect{Size: tc.expect})
				if err != nil {
					break
				}
				done = append(done, stored{id, data, nodes})
			}
			if !errors.Is(err, ErrNoSpace) || !errors.Is(err, vfs.ErrNoSpace) || !strings.Contains(err.Error(), "node d") {
				t.Fatalf("put on full disks: %v, want ErrNoSpace naming a node", err)
			}
			if len(done) < 3 {
				t.Fatalf("only %d writes went through before the disks were full", len(done))
			}
			refused := 0.0
			for _, id := range c.order {
				refused += recs[id].get(tc.counter)
			}
			if refused < 2 { // two replicas of three must have failed for lack of space
				t.Fatalf("%s counted %v times", tc.counter, refused)
			}
			for _, id := range c.order {
				sp, _ := mems[id].Space("/")
				if tc.minFree > 0 && sp.Free < reserve {
					t.Fatalf("%s: %d bytes free, the reserve of %d was used", id, sp.Free, reserve)
				}
				if tc.minFree > 0 && recs[id].get(MetricDiskFree) != float64(sp.Free) {
					t.Fatalf("%s: free-space gauge %v, file system says %d", id, recs[id].get(MetricDiskFree), sp.Free)
				}
				if tc.minFree > 0 && recs[id].get(MetricDiskReserve) != reserve {
					t.Fatalf("%s: reserve gauge %v", id, recs[id].get(MetricDiskReserve))
				}
			}
			for _, s := range done {
				for _, n := range c.order {
					if got := readAll(t, c.nodes[n].d, s.id, s.nodes, 0, -1); !bytes.Equal(got, s.data) {
						t.Fatalf("%s read through %s differs once the disks are full", s.id, n)
					}
				}
			}
			for _, s := range done[:2] {
				c.nodes["d1"].d.Discard(s.id, s.nodes)
			}
			// Discard deletes the remote copies in the background: wait for them.
			for deadline := time.Now().Add(10 * time.Second); len(c.holders(done[0].id))+len(c.holders(done[1].id)) > 0; {
				if time.Now().After(deadline) {
					t.Fatal("discarded copies still there after 10s")
				}
				time.Sleep(10 * time.Millisecond) // polling interval
			}
			data := randomBytes(99, size)
			if _, nodes, err := c.nodes["d2"].d.Put(ctx, "after", bytes.NewReader(data), blob.Expect{Size: size}); err != nil || len(nodes) != 3 {
				t.Fatalf("put after deleting blobs: nodes %v, %v", nodes, err)
			}
		})
	}
}
