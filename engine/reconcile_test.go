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

type fakeMembers struct {
	mu      sync.Mutex
	members []Member
	changed chan struct{}
}

func (f *fakeMembers) Members() []Member {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Member(nil), f.members...)
}
func (f *fakeMembers) Changed() <-chan struct{} { return f.changed }
func (f *fakeMembers) set(ms ...Member) {
	f.mu.Lock()
	f.members = ms
	f.mu.Unlock()
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

func serversOf(t *testing.T, n *Node) map[string]Server {
	t.Helper()
	ss, err := n.Servers()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Server{}
	for _, s := range ss {
		out[s.ID] = s
	}
	return out
}

func waitServers(t *testing.T, n *Node, what string, ok func(map[string]Server) bool) {
	t.Helper()
	testutil.WaitFor(t, 15*time.Second, what, func() error {
		if s := serversOf(t, n); !ok(s) {
			return fmt.Errorf("configuration is %v", s)
		}
		return nil
	})
}

// TestReconcilerFollowsGossip drives the leader's reconciler with a fake member list: a new
// member becomes a non-voter, then a voter once it asks and is caught up; a dead member stays
// until DeadReapAfter has passed, and is then removed.
func TestReconcilerFollowsGossip(t *testing.T) {
	c := newCluster(t, 1, clusterOpts{})
	leader := c.nodes[0]
	// A second node, started empty, not yet known to raft.
	tn := &testNode{id: "n2", dir: t.TempDir()}
	c.nodes = append(c.nodes, tn)
	c.start(tn, false)

	src := &fakeMembers{changed: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		leader.node.RunReconciler(ctx, src, ReconcileOptions{Interval: 100 * time.Millisecond, DeadReapAfter: time.Minute})
	}()
	defer func() { cancel(); <-done }()

	src.set(Member{ID: "n1", RaftAddr: leader.addr, Voter: true, Alive: true}, Member{ID: "n2", RaftAddr: tn.addr, Voter: false, Alive: true})
	waitServers(t, leader.node, "n2 added as non-voter", func(s map[string]Server) bool { return s["n2"].Addr == tn.addr && !s["n2"].Voter })

	src.set(Member{ID: "n1", RaftAddr: leader.addr, Voter: true, Alive: true}, Member{ID: "n2", RaftAddr: tn.addr, Voter: true, Alive: true})
	waitServers(t, leader.node, "n2 promoted", func(s map[string]Server) bool { return s["n2"].Voter })

	// Dead, but not for long enough: it stays.
	src.set(Member{ID: "n1", RaftAddr: leader.addr, Voter: true, Alive: true}, Member{ID: "n2", RaftAddr: tn.addr, Voter: true, DeadFor: 30 * time.Second})
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if _, ok := serversOf(t, leader.node)["n2"]; !ok {
			t.Fatal("a member dead for less than DeadReapAfter was removed")
		}
	}
	// Dead for longer: removed. (n2 really goes away first, so the remaining voter has quorum.)
	c.kill(tn)
	src.set(Member{ID: "n1", RaftAddr: leader.addr, Voter: true, Alive: true}, Member{ID: "n2", RaftAddr: tn.addr, Voter: true, DeadFor: 2 * time.Minute})
	testutil.WaitFor(t, 20*time.Second, "member dead past DeadReapAfter removed", func() error {
		s := serversOf(t, leader.node)
		if _, ok := s["n2"]; !leader.node.IsLeader() || ok {
			return fmt.Errorf("leader %v, configuration %v", leader.node.IsLeader(), s)
		}
		return nil
	})
}

// TestReconcilerDoesNotReaddRemovedMember: a member removed by an operator while gossip still
// shows it alive is not added back, until it becomes alive again after the removal.
func TestReconcilerDoesNotReaddRemovedMember(t *testing.T) {
	c := newCluster(t, 1, clusterOpts{})
	leader := c.nodes[0]
	tn := &testNode{id: "n2", dir: t.TempDir()}
	c.nodes = append(c.nodes, tn)
	c.start(tn, false)

	joined := time.Now()
	src := &fakeMembers{changed: make(chan struct{}, 1)}
	src.set(Member{ID: "n1", RaftAddr: leader.addr, Voter: true, Alive: true}, Member{ID: "n2", RaftAddr: tn.addr, Alive: true, AliveSince: joined})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		leader.node.RunReconciler(ctx, src, ReconcileOptions{Interval: 50 * time.Millisecond})
	}()
	defer func() { cancel(); <-done }()
	waitServers(t, leader.node, "n2 added", func(s map[string]Server) bool { return s["n2"].Addr == tn.addr })

	if err := leader.node.ChangeMembership(context.Background(), OpRemove, "n2", ""); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if _, ok := serversOf(t, leader.node)["n2"]; ok {
			t.Fatal("a removed member that gossip still showed alive was added back")
		}
	}
	// It restarts: alive again, since after the removal. Now it may rejoin.
	src.set(Member{ID: "n1", RaftAddr: leader.addr, Voter: true, Alive: true}, Member{ID: "n2", RaftAddr: tn.addr, Alive: true, AliveSince: time.Now()})
	waitServers(t, leader.node, "n2 re-added after it came back", func(s map[string]Server) bool { return s["n2"].Addr == tn.addr })
}

// TestReconcilerAddsOnlyProvenMembers: a gossip member that VerifyMember refuses (it could
// not show, over the transport, to be the node gossip names) is neither added to raft nor
// promoted, however long it stays alive; once it proves itself it is added.
func TestReconcilerAddsOnlyProvenMembers(t *testing.T) {
	c := newCluster(t, 1, clusterOpts{})
	leader := c.nodes[0]
	tn := &testNode{id: "n2", dir: t.TempDir()}
	c.nodes = append(c.nodes, tn)
	c.start(tn, false)

	var mu sync.Mutex
	proven := false
	asked := 0
	verify := func(ctx context.Context, id, addr string) error {
		mu.Lock()
		defer mu.Unlock()
		if id != "n2" || addr != tn.addr {
			t.Errorf("VerifyMember(%q, %q), want n2 at %s", id, addr, tn.addr)
		}
		asked++
		if !proven {
			return errors.New("certificate names another node")
		}
		return nil
	}
	src := &fakeMembers{changed: make(chan struct{}, 1)}
	src.set(Member{ID: "n1", RaftAddr: leader.addr, Voter: true, Alive: true}, Member{ID: "n2", RaftAddr: tn.addr, Voter: true, Alive: true})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		leader.node.RunReconciler(ctx, src, ReconcileOptions{Interval: 50 * time.Millisecond, VerifyMember: verify})
	}()
	defer func() { cancel(); <-done }()

	// Several rounds pass, each asking and refusing: n2 stays out.
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		n := asked
		mu.Unlock()
		if _, ok := serversOf(t, leader.node)["n2"]; ok {
			t.Fatal("a member that did not prove itself was added to raft")
		}
		if n >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("VerifyMember asked %d times", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	proven = true
	mu.Unlock()
	waitServers(t, leader.node, "n2 added and promoted once proven", func(s map[string]Server) bool { return s["n2"].Voter })
}
