package fsm

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/nebulaio/nebulaio/snapshot"

	"github.com/nebulaio/nebulaio/internal/testutil"
)

// raftNode is a single-voter raft over in-memory log and transport, with the real snapshot
// store and this FSM.
type raftNode struct {
	r     *raft.Raft
	f     *FSM
	store *snapshot.Store
	m     *recordingMetrics
}

func (n *raftNode) count(name string) float64 {
	n.m.mu.Lock()
	defer n.m.mu.Unlock()
	return n.m.seen[name]
}

// startRaft starts the node; with bounded, the FSM reads its clean records back from the
// store's runs through a two-record cache.
func startRaft(t *testing.T, logs *raft.InmemStore, dir string, bootstrap, bounded bool) *raftNode {
	t.Helper()
	conf := raft.DefaultConfig()
	conf.LocalID = "n1"
	conf.HeartbeatTimeout = 50 * time.Millisecond
	conf.ElectionTimeout = 50 * time.Millisecond
	conf.LeaderLeaseTimeout = 50 * time.Millisecond
	conf.CommitTimeout = 5 * time.Millisecond
	conf.SnapshotThreshold = 1 << 30 // snapshots only when the test asks
	conf.Logger = hclog.NewNullLogger()
	store, err := snapshot.NewStore(dir, snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, trans := raft.NewInmemTransport("n1")
	m := &recordingMetrics{t: t, seen: map[string]float64{}}
	opts := Options{Metrics: m}
	if bounded {
		opts.Snapshots, opts.CacheSize = store, 2
	}
	f := New(opts)
	r, err := raft.NewRaft(conf, f, logs, logs, store, trans)
	if err != nil {
		t.Fatal(err)
	}
	if bootstrap {
		cfg := raft.Configuration{Servers: []raft.Server{{ID: "n1", Address: trans.LocalAddr()}}}
		if err := r.BootstrapCluster(cfg).Error(); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitUntil(t, 5*time.Second, "a leader", func() bool { return r.State() == raft.Leader })
	return &raftNode{r: r, f: f, store: store, m: m}
}

func (n *raftNode) propose(t *testing.T, ev Event) *Result {
	t.Helper()
	b, err := Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	fut := n.r.Apply(b, 5*time.Second)
	if err := fut.Error(); err != nil {
		t.Fatal(err)
	}
	res, ok := fut.Response().(*Result)
	if !ok {
		t.Fatalf("response %T", fut.Response())
	}
	return res
}

func (n *raftNode) stop(t *testing.T) {
	t.Helper()
	if err := n.r.Shutdown().Error(); err != nil {
		t.Fatal(err)
	}
	if err := n.store.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestRaftSnapshotRestart runs the FSM under hashicorp/raft with snapshot.Store: results come
// back through ApplyFuture.Response, snapshots are full then delta, and a restarted node
// restores the newest snapshot, replays the log tail, and snapshots a delta of what it restored.
func TestRaftSnapshotRestart(t *testing.T) {
	for _, bounded := range []bool{false, true} {
		t.Run(fmt.Sprintf("runs=%v", bounded), func(t *testing.T) { testRaftSnapshotRestart(t, bounded) })
	}
}

func testRaftSnapshotRestart(t *testing.T, bounded bool) {
	logs := raft.NewInmemStore()
	dir := t.TempDir()
	n := startRaft(t, logs, dir, true, bounded)
	if res := n.propose(t, bkt); res.Err != nil || res.Bucket.Name != "bkt" {
		t.Fatalf("create bucket: %+v", res)
	}
	if res := n.propose(t, bkt); res.Err == nil || res.Err.Code != CodeBucketAlreadyOwnedByYou {
		t.Fatalf("second create: %+v", res)
	}
	put := func(from, to int) {
		for i := from; i < to; i++ {
			res := n.propose(t, &PutObject{Bucket: "bkt", Key: string(rune('a'+i%26)) + "/" + string(rune('0'+i%10)), Blobs: blobs(string(rune(i)))})
			if res.Err != nil {
				t.Fatal(res.Err)
			}
		}
	}
	put(0, 100)
	snap := func(n *raftNode, wantFull, wantDelta float64) {
		t.Helper()
		if err := n.r.Snapshot().Error(); err != nil {
			t.Fatal(err)
		}
		if full, delta := n.count(MetricSnapshotFullTotal), n.count(MetricSnapshotDelta); full != wantFull || delta != wantDelta {
			t.Fatalf("%v full and %v delta snapshots, want %v and %v", full, delta, wantFull, wantDelta)
		}
	}
	snap(n, 1, 0)
	put(100, 150)
	snap(n, 1, 1)
	put(150, 180) // in the log only
	want := stateMap(t, n.f)
	wantIndex := n.f.AppliedIndex()
	n.stop(t)

	m := startRaft(t, logs, dir, false, bounded)
	defer m.stop(t)
	// Wait until the restarted node has applied the whole log.
	testutil.WaitFor(t, 5*time.Second, "the whole log applied", func() error {
		if got := m.f.AppliedIndex(); got < wantIndex {
			return fmt.Errorf("applied %d, want %d", got, wantIndex)
		}
		return nil
	})
	got := stateMap(t, m.f)
	if len(got) != len(want) || diffMaps(got, want) != "" {
		t.Fatalf("restarted state differs:\n%s", diffMaps(got, want))
	}
	// raft restored through its counting reader: a bounded FSM still found the runs.
	if st := m.f.MemoryStats(); bounded && (st.Snapshot == "" || st.Cached > 2) {
		t.Fatalf("restarted FSM: %+v, want it reading the restored snapshot's runs", st)
	}
	// The restored FSM's next snapshot is a delta of the snapshot it restored.
	m.propose(t, &DeleteObject{Bucket: "bkt", Key: "a/0"})
	snap(m, 0, 1)
	list, err := m.store.List()
	if err != nil || len(list) < 2 {
		t.Fatalf("List: %v %v", list, err)
	}
	_, rc, err := m.store.Open(list[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	g := New(Options{})
	if err := g.Restore(rc); err != nil {
		t.Fatal(err)
	}
	checkSameState(t, g, m.f)
}
