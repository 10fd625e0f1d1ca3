package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nebulaio/nebulaio/internal/testutil"
)

// fakeIntents is a ReconcileOptions.Intents that a test changes, and a Refused that records
// whom it was called for.
type fakeIntents struct {
	mu      sync.Mutex
	intents map[string]MemberIntent
	refused map[string]int
}

func (f *fakeIntents) get() map[string]MemberIntent {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]MemberIntent{}
	for k, v := range f.intents {
		out[k] = v
	}
	return out
}

func (f *fakeIntents) set(id string, in *MemberIntent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if in == nil {
		delete(f.intents, id)
	} else {
		f.intents[id] = *in
	}
}

func (f *fakeIntents) refuse(_ context.Context, m Member, _ time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refused[m.ID]++
}

func (f *fakeIntents) refusedCount(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refused[id]
}

// TestReconcilerFollowsRecordedIntents: with ReconcileOptions.Intents the reconciler follows
// the operator's recorded decisions over what members ask: a member that asks to vote but is
// recorded as a non-voter is added and never promoted; a voter recorded as a non-voter is
// demoted; a member recorded as removed is taken out of raft, is not added back while gossip
// shows it alive (even after it restarted), and is told so through Refused; once the record
// is lifted (re-admitted) it is added again — once.
func TestReconcilerFollowsRecordedIntents(t *testing.T) {
	c := newCluster(t, 1, clusterOpts{})
	leader := c.nodes[0]
	var nodes []*testNode
	for _, id := range []string{"n2", "n3"} {
		tn := &testNode{id: id, dir: t.TempDir()}
		c.nodes = append(c.nodes, tn)
		c.start(tn, false)
		nodes = append(nodes, tn)
	}
	n2, n3 := nodes[0], nodes[1]
	no := false
	in := &fakeIntents{intents: map[string]MemberIntent{"n2": {Voter: &no}}, refused: map[string]int{}}
	src := &fakeMembers{changed: make(chan struct{}, 1)}
	all := func(since time.Time) {
		src.set(Member{ID: "n1", RaftAddr: leader.addr, Voter: true, Alive: true},
			Member{ID: "n2", RaftAddr: n2.addr, Voter: true, Alive: true, AliveSince: since},
			Member{ID: "n3", RaftAddr: n3.addr, Voter: true, Alive: true, AliveSince: since})
	}
	all(time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		leader.node.RunReconciler(ctx, src, ReconcileOptions{Interval: 50 * time.Millisecond, Intents: in.get, Refused: in.refuse})
	}()
	defer func() { cancel(); <-done }()

	waitServers(t, leader.node, "n3 a voter, n2 a non-voter", func(s map[string]Server) bool {
		return s["n3"].Voter && s["n2"].Addr == n2.addr && !s["n2"].Voter
	})
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if serversOf(t, leader.node)["n2"].Voter {
			t.Fatal("n2 was promoted although the operator's recorded decision is non-voter")
		}
	}

	// Demote n3 by record only (as if the demote call itself had failed after recording).
	in.set("n3", &MemberIntent{Voter: &no})
	waitServers(t, leader.node, "n3 demoted by its record", func(s map[string]Server) bool { return !s["n3"].Voter && s["n3"].Addr == n3.addr })

	// Remove n2 by record only: the reconciler takes it out of raft and keeps it out.
	in.set("n2", &MemberIntent{Removed: true, RemovedAt: time.Now()})
	waitServers(t, leader.node, "n2 removed by its record", func(s map[string]Server) bool { _, ok := s["n2"]; return !ok })
	all(time.Now().Add(time.Second)) // it "restarted": alive since after the removal
	testutil.WaitUntil(t, 5*time.Second, "n2 told it is removed", func() bool { return in.refusedCount("n2") > 0 })
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if _, ok := serversOf(t, leader.node)["n2"]; ok {
			t.Fatal("a member recorded as removed was added back")
		}
	}
	if n := in.refusedCount("n2"); n > 1 {
		t.Fatalf("n2 told %d times within a second; at most once per %s", n, refusedEvery)
	}

	// Re-admitted: the record is gone, it is added back under its ID, once.
	in.set("n2", nil)
	waitServers(t, leader.node, "n2 re-added", func(s map[string]Server) bool { return s["n2"].Addr == n2.addr })
	if got := len(serversOf(t, leader.node)); got != 3 {
		t.Fatalf("%d servers after the re-admission, want 3", got)
	}
}

// TestTransferLeadership: leadership moves to a named voter when asked through a follower;
// a non-voter or an unknown ID is refused with the error that says why; an empty target
// picks another voter.
func TestTransferLeadership(t *testing.T) {
	c := newCluster(t, 3, clusterOpts{})
	leader := c.waitLeader(10 * time.Second)
	var target, via *testNode
	for _, tn := range c.nodes {
		switch {
		case tn == leader:
		case target == nil:
			target = tn
		default:
			via = tn
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := via.node.TransferLeadership(ctx, target.id); err != nil {
		t.Fatalf("transfer to %s through %s: %v", target.id, via.id, err)
	}
	testutil.WaitFor(t, 10*time.Second, "the named node leads", func() error {
		if id, _ := via.node.Leader(); id != target.id {
			return fmt.Errorf("leader %q", id)
		}
		return nil
	})
	if err := via.node.TransferLeadership(ctx, "nope"); !errors.Is(err, ErrUnknownServer) {
		t.Fatalf("transfer to an unknown node: %v, want ErrUnknownServer", err)
	}
	if err := target.node.ChangeMembership(ctx, OpDemote, via.id, ""); err != nil {
		t.Fatal(err)
	}
	if err := leader.node.TransferLeadership(ctx, via.id); !errors.Is(err, ErrNotVoter) {
		t.Fatalf("transfer to a non-voter: %v, want ErrNotVoter", err)
	}
	if err := target.node.TransferLeadership(ctx, ""); err != nil {
		t.Fatalf("transfer to any voter: %v", err)
	}
	testutil.WaitFor(t, 10*time.Second, "the other voter leads", func() error {
		if !leader.node.IsLeader() {
			return fmt.Errorf("leader is not %s", leader.id)
		}
		return nil
	})
}
