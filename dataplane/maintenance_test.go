package dataplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nebulaio/nebulaio/fsm"

	"github.com/nebulaio/nebulaio/internal/testutil"
)

// recordingProposer answers aborts like the FSM would: the first abort of an upload succeeds,
// a second is NoSuchUpload; fail makes every proposal's outcome unknown.
type recordingProposer struct {
	mu      sync.Mutex
	aborted []string
	fail    error
}

func (p *recordingProposer) Propose(_ context.Context, ev fsm.Event) (*fsm.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return nil, p.fail
	}
	a := ev.(*fsm.AbortMultipartUpload)
	if slices.Contains(p.aborted, a.UploadID) {
		return &fsm.Result{Err: &fsm.Error{Code: fsm.CodeNoSuchUpload}}, nil
	}
	p.aborted = append(p.aborted, a.UploadID)
	return &fsm.Result{}, nil
}

func (p *recordingProposer) got() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.aborted)
}

// TestCollectGarbage: unreferenced local blobs older than the grace period are deleted;
// referenced ones and young ones are kept; a failed barrier deletes nothing.
func TestCollectGarbage(t *testing.T) {
	c := newDataCluster(t, 1, 1)
	d := c.nodes["d1"].d
	for _, id := range []string{"live", "orphan"} {
		if _, _, err := d.Put(context.Background(), id, bytes.NewReader([]byte(id)), Expect{Size: int64(len(id))}); err != nil {
			t.Fatal(err)
		}
	}
	m := maintenance(blobRef("live", 4, []string{"d1"}))
	m.GCGrace = time.Hour
	st, err := d.CollectGarbage(context.Background(), m, time.Now())
	if err != nil || st.Scanned != 2 || st.Candidates != 0 || st.Deleted != 0 {
		t.Fatalf("young blobs: %+v %v", st, err)
	}
	m.Barrier = func(context.Context) error { return errors.New("no quorum") }
	if _, err := d.CollectGarbage(context.Background(), m, time.Now().Add(2*time.Hour)); err == nil || c.holders("orphan") == nil {
		t.Fatalf("a pass without its barrier: %v, orphan on %v", err, c.holders("orphan"))
	}
	m.Barrier = func(context.Context) error { return nil }
	st, err = d.CollectGarbage(context.Background(), m, time.Now().Add(2*time.Hour))
	if err != nil || st.Candidates != 2 || st.Referenced != 1 || st.Deleted != 1 {
		t.Fatalf("old blobs: %+v %v", st, err)
	}
	if h := c.holders("orphan"); h != nil {
		t.Fatalf("the orphan is still on %v", h)
	}
	if h := c.holders("live"); !slices.Equal(h, []string{"d1"}) {
		t.Fatalf("the referenced blob is on %v", h)
	}
}

// TestExpireUploads: uploads initiated before the cutoff are aborted through the proposer,
// the others kept; an abort lost to a concurrent one is not counted; an unknown outcome stops
// the pass with an error.
func TestExpireUploads(t *testing.T) {
	c := newDataCluster(t, 1, 1)
	d := c.nodes["d1"].d
	now := time.Now()
	up := func(id string, age time.Duration) fsm.UploadInfo {
		return fsm.UploadInfo{Bucket: "b", Key: "k", UploadID: id, Initiated: now.Add(-age).UnixNano()}
	}
	p := &recordingProposer{aborted: []string{"gone"}}
	m := maintenance()
	m.Meta = &fakeMeta{uploads: []fsm.UploadInfo{up("old", 8*24*time.Hour), up("fresh", time.Hour), up("gone", 30*24*time.Hour), up("old2", 7*24*time.Hour+time.Minute)}}
	m.Proposer = p
	n, err := d.ExpireUploads(context.Background(), m, now)
	if err != nil || n != 2 || !slices.Equal(p.got(), []string{"gone", "old", "old2"}) {
		t.Fatalf("expiry with the default age: %d %v, aborted %v", n, err, p.got())
	}
	p.fail = errors.New("no quorum")
	if _, err := d.ExpireUploads(context.Background(), m, now.Add(30*24*time.Hour)); !errors.Is(err, p.fail) {
		t.Fatalf("unknown outcome: %v", err)
	}
}

// TestRunMaintenance: the loops run on their schedule — the garbage collector on every node,
// repair and upload expiry only while the node leads — and stop when ctx ends.
func TestRunMaintenance(t *testing.T) {
	c := newDataCluster(t, 1, 1)
	d := c.nodes["d1"].d
	for i := 0; i < 3; i++ {
		id := fmt.Sprint("g", i)
		if _, _, err := d.Put(context.Background(), id, bytes.NewReader([]byte(id)), Expect{Size: 2}); err != nil {
			t.Fatal(err)
		}
	}
	var leader sync.Mutex
	leading := false
	p := &recordingProposer{}
	m := maintenance(blobRef("g0", 2, []string{"d1"}))
	m.Meta.(*fakeMeta).uploads = []fsm.UploadInfo{{Bucket: "b", Key: "k", UploadID: "u", Initiated: 1}}
	m.Proposer = p
	m.IsLeader = func() bool { leader.Lock(); defer leader.Unlock(); return leading }
	m.FirstRun, m.GCInterval, m.GCGrace = time.Millisecond, 5*time.Millisecond, time.Nanosecond
	m.RepairInterval, m.UploadInterval = 5*time.Millisecond, time.Nanosecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.RunMaintenance(ctx, m) }()
	testutil.WaitUntil(t, 10*time.Second, "the garbage collector removes the unreferenced blobs", func() bool {
		return c.holders("g1") == nil && c.holders("g2") == nil
	})
	if c.holders("g0") == nil {
		t.Fatal("the referenced blob was collected")
	}
	if got := p.got(); len(got) != 0 || d.Stats().Passes != 0 {
		t.Fatalf("a follower expired uploads %v or ran %d repair passes", got, d.Stats().Passes)
	}
	leader.Lock()
	leading = true
	leader.Unlock()
	testutil.WaitUntil(t, 10*time.Second, "the leader expires the upload and repairs", func() bool {
		return slices.Equal(p.got(), []string{"u"}) && d.Stats().Passes > 0
	})
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("RunMaintenance did not return after ctx ended")
	}
}
