package engine

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nebulaio/nebulaio/internal/testutil"
)

// blackhole makes tn's links hang the way a firewall that drops packets does (writes never go
// out, dials never finish), rather than fail at once as Partition's do. Only closing the
// transports releases the hung writes, so at the end of the test they close before the nodes
// stop (raft's shutdown waits for its replication goroutines).
func (c *testCluster) blackhole(tn *testNode) {
	c.faults.Delay(tn.addr, time.Hour)
	c.t.Cleanup(func() {
		for _, n := range c.running() {
			_ = n.trans.Close()
		}
	})
}

// TestMinorityWriteFailsWithinTheNoQuorumBound: a follower cut off by a network that drops
// packets answers a proposal with ErrNoQuorum within the forwarding deadline (one election plus
// one heartbeat timeout, plus one election timeout for the call), and WithQuorum contexts end
// about one election plus one heartbeat timeout after its last contact with the leader.
func TestMinorityWriteFailsWithinTheNoQuorumBound(t *testing.T) {
	c := newCluster(t, 3, clusterOpts{})
	leader := c.waitLeader(5 * time.Second)
	if err := propose(leader, "before", "1", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	f := c.followers(leader)[0]
	if err := propose(f, "through-f", "1", 5*time.Second); err != nil { // warms f's connection to the leader
		t.Fatal(err)
	}
	qctx, cancel := f.node.WithQuorum(context.Background())
	defer cancel()
	leaderCtx, cancelLeader := leader.node.WithQuorum(context.Background())
	defer cancelLeader()

	c.blackhole(f)
	cut := time.Now()
	fenceBound := f.node.noQuorumAfter() + 2*f.node.fenceTick() + time.Second // slack for -race on 2 cores
	bound := fenceBound + testElection
	err := propose(f, "minority", "x", 30*time.Second)
	took := time.Since(cut)
	if !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("write on a cut-off follower: %v, want ErrNoQuorum", err)
	}
	t.Logf("ErrNoQuorum after %s: %v", took.Round(time.Millisecond), err)
	if took > bound {
		t.Fatalf("ErrNoQuorum after %s, want within %s", took, bound)
	}
	select {
	case <-qctx.Done():
		if cause := context.Cause(qctx); !errors.Is(cause, ErrNoQuorum) {
			t.Fatalf("WithQuorum ended with %v, want ErrNoQuorum", cause)
		}
	case <-time.After(fenceBound - time.Since(cut)):
		t.Fatalf("WithQuorum context not done %s after the cut", fenceBound)
	}
	// A context asked for now is done at once; the majority's are not.
	late, cancelLate := f.node.WithQuorum(context.Background())
	defer cancelLate()
	if late.Err() == nil {
		t.Fatal("WithQuorum on a fenced node returned a live context")
	}
	if err := propose(c.waitLeaderAmong(t, f), "majority", "1", 5*time.Second); err != nil {
		t.Fatalf("majority write: %v", err)
	}
	if leaderCtx.Err() != nil && c.waitLeaderAmong(t, f) == leader {
		t.Fatal("the leader's WithQuorum context ended while it kept its quorum")
	}
}

// waitLeaderAmong returns the leader of the nodes other than except.
func (c *testCluster) waitLeaderAmong(t *testing.T, except *testNode) *testNode {
	t.Helper()
	var leader *testNode
	testutil.WaitUntil(t, 10*time.Second, "a leader among the majority", func() bool {
		for _, tn := range c.running() {
			if tn != except && tn.node.IsLeader() {
				leader = tn
				return true
			}
		}
		return false
	})
	return leader
}

// reviver records the members it was asked to revive.
type reviver struct {
	fakeMembers
	mu      sync.Mutex
	revived map[string]int
}

func (r *reviver) Revive(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.revived[id]++
	return nil
}

func (r *reviver) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.revived[id]
}

// TestReconcilerRevivesMembersAliveInRaft: on any node, a raft member that gossip shows dead
// but that answers raft (or is the leader this node hears from) is revived; one that is really
// down is not.
func TestReconcilerRevivesMembersAliveInRaft(t *testing.T) {
	c := newCluster(t, 3, clusterOpts{})
	leader := c.waitLeader(5 * time.Second)
	fs := c.followers(leader)
	f, down := fs[0], fs[1]
	c.kill(down)

	src := &reviver{fakeMembers: fakeMembers{changed: make(chan struct{}, 1)}, revived: map[string]int{}}
	src.set(Member{ID: leader.id, RaftAddr: leader.addr, Voter: true, DeadFor: time.Minute},
		Member{ID: f.id, RaftAddr: f.addr, Voter: true, Alive: true},
		Member{ID: down.id, RaftAddr: down.addr, Voter: true, DeadFor: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.node.RunReconciler(ctx, src, ReconcileOptions{Interval: 50 * time.Millisecond})
	}()
	defer func() { cancel(); <-done }()
	testutil.WaitUntil(t, 10*time.Second, "the leader, dead in gossip, revived by a follower that hears from it",
		func() bool { return src.count(leader.id) > 0 })
	// Several rounds later, the member that is really down has still not been revived.
	for end := time.Now().Add(500 * time.Millisecond); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if src.count(down.id) != 0 {
			t.Fatalf("%s, which is down, was revived", down.id)
		}
	}

	// On the leader, a follower gossip shows dead but that answers raft is revived too.
	lsrc := &reviver{fakeMembers: fakeMembers{changed: make(chan struct{}, 1)}, revived: map[string]int{}}
	lsrc.set(Member{ID: leader.id, RaftAddr: leader.addr, Voter: true, Alive: true},
		Member{ID: f.id, RaftAddr: f.addr, Voter: true, DeadFor: time.Minute})
	leaderDone := make(chan struct{})
	go func() {
		defer close(leaderDone)
		leader.node.RunReconciler(ctx, lsrc, ReconcileOptions{Interval: 50 * time.Millisecond})
	}()
	defer func() { cancel(); <-leaderDone }()
	testutil.WaitUntil(t, 10*time.Second, "a follower dead in gossip but answering raft revived by the leader",
		func() bool { return lsrc.count(f.id) > 0 })
}

// TestWithQuorumReevaluatesAStaleFence: the fence is re-evaluated every fenceTick, so just after
// an election it can still be closed on the new leader. WithQuorum must look again instead of
// cancelling at once (a PUT on a freshly elected leader answered 503 three times in a row).
func TestWithQuorumReevaluatesAStaleFence(t *testing.T) {
	c := newCluster(t, 1, clusterOpts{})
	leader := c.waitLeader(5 * time.Second)
	n := leader.node
	// Make the fence look as a tick before the election did: closed, last contact long ago.
	n.fenceMu.Lock()
	n.lastLeaderContact = time.Now().Add(-time.Hour)
	select {
	case <-n.fenced:
	default:
		close(n.fenced)
	}
	n.fenceMu.Unlock()

	qctx, cancel := n.WithQuorum(context.Background())
	defer cancel()
	if err := qctx.Err(); err != nil {
		t.Fatalf("WithQuorum on the leader with a stale fence: %v (cause %v), want an open context", err, context.Cause(qctx))
	}
}
