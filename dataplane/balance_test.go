package dataplane

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nebulaio/nebulaio/dataplane/blob"
	"github.com/nebulaio/nebulaio/fsm"
)

// drainProposer records the MemberChange events a balance pass proposes and answers them
// as the FSM would for a member that is draining.
type drainProposer struct {
	mu      sync.Mutex
	drained []string
}

func (p *drainProposer) Propose(_ context.Context, ev fsm.Event) (*fsm.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	mc, ok := ev.(*fsm.MemberChange)
	if !ok || mc.Op != fsm.MemberDrained {
		return nil, fmt.Errorf("unexpected proposal %#v", ev)
	}
	p.drained = append(p.drained, mc.ID)
	return &fsm.Result{}, nil
}

func (p *drainProposer) got() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.drained)
}

// putBlobs writes n blobs through node via and returns their references (written a minute
// ago as far as the passes are concerned) and contents.
func putBlobs(t *testing.T, c *dataCluster, via string, n int, prefix string) ([]fsm.BlobRef, map[string][]byte) {
	t.Helper()
	var refs []fsm.BlobRef
	data := map[string][]byte{}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%s%04d", prefix, i)
		data[id] = randomBytes(int64(i), 512+i%7*300)
		_, nodes, err := c.nodes[via].d.Put(context.Background(), id, bytes.NewReader(data[id]), blob.Expect{Size: int64(len(data[id]))})
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, blobRef(id, len(data[id]), nodes))
	}
	return refs, data
}

// readable reads every blob through node via (with the write-time replicas as the metadata
// records them) and returns the first failure.
func readable(c *dataCluster, via string, refs []fsm.BlobRef, data map[string][]byte) error {
	for _, r := range refs {
		rc, err := c.nodes[via].d.Open(context.Background(), r.ID, r.Nodes, 0, -1)
		if err != nil {
			return fmt.Errorf("open %s: %w", r.ID, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, data[r.ID]) {
			return fmt.Errorf("read %s: %d bytes, err %v", r.ID, len(got), err)
		}
	}
	return nil
}

// TestBalanceMovesBlobsToANewNode: blobs written on three nodes (factor 2); a fourth joins;
// one balance pass puts every blob on its placement over the four — each copy the new node
// wins is copied there, and the copy it replaces is deleted — while a reader reading every
// blob in a loop never fails. The moved share of the copies is about 1/(N+1) = 1/4. A second
// pass finds nothing to do.
func TestBalanceMovesBlobsToANewNode(t *testing.T) {
	c := newDataCluster(t, 4, 2)
	c.mu.Lock()
	c.gone["d4"] = true
	c.mu.Unlock()
	refs, data := putBlobs(t, c, "d1", 400, "m")
	c.mu.Lock()
	c.gone["d4"] = false
	c.mu.Unlock()

	var stop atomic.Bool
	var readErr error
	var reads atomic.Int64
	done := make(chan struct{})
	go func() { // reads through d2 while the pass runs, with the metadata's (stale) lists
		defer close(done)
		for !stop.Load() {
			if err := readable(c, "d2", refs, data); err != nil {
				readErr = err
				return
			}
			reads.Add(1)
		}
	}()
	m := maintenance(refs...)
	st, err := c.nodes["d1"].d.BalancePass(context.Background(), m)
	stop.Store(true)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if readErr != nil {
		t.Fatalf("a read failed during the rebalance: %v", readErr)
	}
	wantMoved := 0
	for _, r := range refs {
		want := rendezvous(r.ID, c.order)[:2]
		if slices.Contains(want, "d4") {
			wantMoved++
		}
		h := c.holders(r.ID)
		slices.Sort(want)
		if !slices.Equal(h, want) {
			t.Fatalf("%s on %v after the pass, placement %v", r.ID, h, want)
		}
	}
	frac := st.MovedFraction()
	t.Logf("3 -> 4 storage nodes, factor 2, %d blobs: %d misplaced, %d copies moved of %d (%.3f; 1/(N+1) = 0.25); %d full read rounds during the pass",
		len(refs), st.Misplaced, st.CopiesMade, st.BlobCopies, frac, reads.Load())
	if st.Misplaced != uint64(wantMoved) || st.Moved != st.Misplaced || st.CopiesMade != uint64(wantMoved) || st.CopiesDeleted != uint64(wantMoved) {
		t.Fatalf("stats %+v, want %d blobs moved, one copy each", st, wantMoved)
	}
	if math.Abs(frac-0.25) > 0.06 {
		t.Fatalf("moved %.3f of the copies, want about 1/4", frac)
	}
	if err := readable(c, "d4", refs, data); err != nil {
		t.Fatal(err)
	}
	if st.ChangeMovedFraction != frac {
		t.Fatalf("change_moved_fraction %.3f after the first pass, want %.3f", st.ChangeMovedFraction, frac)
	}
	if st, err = c.nodes["d1"].d.BalancePass(context.Background(), m); err != nil || st.Misplaced != 0 || st.CopiesMade != 0 {
		t.Fatalf("second pass: %+v %v", st, err)
	}
	// The moved fraction since the placement changed spans passes.
	if st.ChangeMovedFraction != frac || st.ChangeCopiesMade != uint64(wantMoved) {
		t.Fatalf("second pass: change_moved_fraction %.3f (%d copies made), want %.3f (%d)", st.ChangeMovedFraction, st.ChangeCopiesMade, frac, wantMoved)
	}
}

// TestDrainCopiesOffAndMarksDrained: a draining node is never chosen for a write; a pass
// gives every blob it holds its copies on the other nodes (keeping its own), reports 100 %
// and proposes MemberDrained; a blob whose only copy is on it counts in LastCopies until then.
func TestDrainCopiesOffAndMarksDrained(t *testing.T) {
	c := newDataCluster(t, 4, 2)
	refs, data := putBlobs(t, c, "d1", 200, "d")
	onD2 := 0
	for _, r := range refs {
		if slices.Contains(r.Nodes, "d2") {
			onD2++
		}
	}
	// One blob lives on d2 alone (its other copy lost): removing d2 now would lose it.
	var lonely fsm.BlobRef
	for _, r := range refs {
		if slices.Contains(r.Nodes, "d2") {
			lonely = r
			break
		}
	}
	for _, n := range lonely.Nodes {
		if n != "d2" {
			if err := c.nodes[n].store.Delete(lonely.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	m := maintenance(refs...)
	if blobs, _, ex, err := c.nodes["d3"].d.LastCopies(context.Background(), "d2", m); err != nil || blobs != 1 || ex[0] != lonely.ID {
		t.Fatalf("LastCopies(d2) = %d %v %v, want the one blob only d2 holds", blobs, ex, err)
	}

	c.mu.Lock()
	c.drain["d2"] = fsm.DrainDraining
	c.mu.Unlock()
	more, moreData := putBlobs(t, c, "d2", 50, "w")
	for _, r := range more {
		if slices.Contains(r.Nodes, "d2") {
			t.Fatalf("a write through the draining node was placed on it: %v", r.Nodes)
		}
	}
	prop := &drainProposer{}
	m = maintenance(append(refs, more...)...)
	m.Proposer = prop
	st, err := c.nodes["d1"].d.BalancePass(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Drains) != 1 {
		t.Fatalf("drains %+v", st.Drains)
	}
	dp := st.Drains[0]
	if dp.Node != "d2" || dp.State != "drained" || dp.BlobsTotal != uint64(onD2) || dp.BlobsDone != dp.BlobsTotal || dp.Percent != 100 || dp.BytesDone != dp.BytesTotal {
		t.Fatalf("drain progress %+v, want d2 drained with %d blobs", dp, onD2)
	}
	if got := prop.got(); !slices.Equal(got, []string{"d2"}) {
		t.Fatalf("proposed drained for %v", got)
	}
	for _, r := range append(refs, more...) {
		n := 0
		for _, h := range c.holders(r.ID) {
			if h != "d2" {
				n++
			}
		}
		if n < 2 {
			t.Fatalf("%s has %d copies without d2 (holders %v)", r.ID, n, c.holders(r.ID))
		}
	}
	if blobs, _, _, err := c.nodes["d3"].d.LastCopies(context.Background(), "d2", m); err != nil || blobs != 0 {
		t.Fatalf("LastCopies(d2) after the drain = %d %v", blobs, err)
	}
	// Remove it: everything still reads, through any node.
	c.mu.Lock()
	c.gone["d2"] = true
	c.mu.Unlock()
	for k, v := range moreData {
		data[k] = v
	}
	if err := readable(c, "d4", append(refs, more...), data); err != nil {
		t.Fatal(err)
	}
}

// TestDrainWaitsForCopiesItCannotMake: with two storage nodes and factor 2, a drain cannot
// give its blobs two copies elsewhere: the pass says why and proposes nothing.
func TestDrainWaitsForCopiesItCannotMake(t *testing.T) {
	c := newDataCluster(t, 2, 2)
	refs, _ := putBlobs(t, c, "d1", 10, "s")
	c.mu.Lock()
	c.drain["d2"] = fsm.DrainDraining
	c.mu.Unlock()
	prop := &drainProposer{}
	m := maintenance(refs...)
	m.Proposer = prop
	// The factor over the nodes placement may choose is 1 now: d1 holds every blob, so the
	// drain is complete at once.
	st, err := c.nodes["d1"].d.BalancePass(context.Background(), m)
	if err != nil || len(st.Drains) != 1 || st.Drains[0].State != "drained" {
		t.Fatalf("factor 1 without d2: %+v %v", st, err)
	}
	// Drain both: no node left to copy to.
	c.mu.Lock()
	c.drain["d1"], c.drain["d2"] = fsm.DrainDraining, fsm.DrainDraining
	c.mu.Unlock()
	st, err = c.nodes["d1"].d.BalancePass(context.Background(), m)
	if err != nil || len(prop.got()) != 1 {
		t.Fatalf("second pass: %v, proposed %v", err, prop.got())
	}
	for _, dp := range st.Drains {
		if dp.State != "draining" || dp.Blocked == "" {
			t.Fatalf("drain %+v, want it blocked with a reason", dp)
		}
	}
}

// TestRendezvousSpreadsEvenly: over node IDs that differ in one byte (n1..n5), every node
// gets its share of the copies for every factor, and a node joining N takes about 1/(N+1) of
// the copies. (Unmixed FNV-1a weights gave n4 17 % of the copies at factor 3 of 4 nodes.)
func TestRendezvousSpreadsEvenly(t *testing.T) {
	const keys = 20000
	for _, n := range []int{3, 4, 5} {
		var nodes []string
		for i := 1; i <= n; i++ {
			nodes = append(nodes, fmt.Sprintf("n%d", i))
		}
		for f := 1; f < n; f++ {
			count := map[string]int{}
			moved := 0
			for k := range keys {
				id := fmt.Sprintf("%016x%016x", uint64(k)*0x9e3779b97f4a7c15, uint64(k))
				after := rendezvous(id, nodes)[:f]
				for _, x := range after {
					count[x]++
				}
				if before := rendezvous(id, nodes[:n-1])[:f]; !sameSet(before, after) {
					moved++ // one copy moves to the new node
				}
			}
			for _, x := range nodes {
				share := float64(count[x]) / float64(keys*f)
				if math.Abs(share-1/float64(n)) > 0.02 {
					t.Errorf("%d nodes, factor %d: %s holds %.3f of the copies, want %.3f", n, f, x, share, 1/float64(n))
				}
			}
			if frac := float64(moved) / float64(keys*f); math.Abs(frac-1/float64(n)) > 0.02 {
				t.Errorf("%d -> %d nodes, factor %d: %.3f of the copies move, want %.3f", n-1, n, f, frac, 1/float64(n))
			}
		}
	}
}
