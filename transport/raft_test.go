package transport

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/nebulaio/nebulaio/internal/testutil"
)

// listFSM records every applied command in order.
type listFSM struct {
	mu      sync.Mutex
	applied [][]byte
}

func (f *listFSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = append(f.applied, bytes.Clone(l.Data))
	return len(f.applied)
}

func (f *listFSM) Snapshot() (raft.FSMSnapshot, error) { return nopSnapshot{}, nil }
func (f *listFSM) Restore(rc io.ReadCloser) error      { return rc.Close() }

func (f *listFSM) entries() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.applied...)
}

type nopSnapshot struct{}

func (nopSnapshot) Persist(s raft.SnapshotSink) error { return s.Close() }
func (nopSnapshot) Release()                          {}

type raftNode struct {
	tr  *Transport
	nt  *raft.NetworkTransport
	r   *raft.Raft
	fsm *listFSM
}

// raftCluster is an in-process hashicorp/raft cluster whose only network is this package.
type raftCluster struct {
	t     *testing.T
	nodes []*raftNode
}

func (c *raftCluster) node(addr raft.ServerAddress) *raftNode {
	for _, n := range c.nodes {
		if raft.ServerAddress(n.tr.Addr()) == addr {
			return n
		}
	}
	return nil
}

type clusterOpts struct {
	n      int
	faults func(i int) *Faults // nil: no fault injection
	tls    func(i int) (server, client *tls.Config)
}

func newRaftCluster(t *testing.T, o clusterOpts) *raftCluster {
	t.Helper()
	c := &raftCluster{t: t}
	var servers []raft.Server
	for i := range o.n {
		cfg := Config{BindAddr: "127.0.0.1:0"}
		if o.faults != nil {
			cfg.Faults = o.faults(i)
		}
		if o.tls != nil {
			cfg.TLS, cfg.ClientTLS = o.tls(i)
		}
		tr, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		nt := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
			Stream:  tr.RaftLayer(),
			MaxPool: 3,
			Timeout: 2 * time.Second,
			Logger:  hclog.NewNullLogger(),
		})
		rc := raft.DefaultConfig()
		rc.LocalID = raft.ServerID(fmt.Sprintf("node-%d", i))
		rc.HeartbeatTimeout = 500 * time.Millisecond
		rc.ElectionTimeout = 500 * time.Millisecond
		rc.LeaderLeaseTimeout = 250 * time.Millisecond
		rc.CommitTimeout = 5 * time.Millisecond
		rc.Logger = hclog.NewNullLogger()
		fsm := &listFSM{}
		store := raft.NewInmemStore()
		r, err := raft.NewRaft(rc, fsm, store, store, raft.NewInmemSnapshotStore(), nt)
		if err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, &raftNode{tr: tr, nt: nt, r: r, fsm: fsm})
		servers = append(servers, raft.Server{ID: rc.LocalID, Address: raft.ServerAddress(tr.Addr())})
	}
	t.Cleanup(c.shutdown)
	if err := c.nodes[0].r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *raftCluster) shutdown() {
	for _, n := range c.nodes {
		if err := n.r.Shutdown().Error(); err != nil {
			c.t.Errorf("raft shutdown: %v", err)
		}
		_ = n.nt.Close()
		_ = n.tr.Close()
	}
}

// leader waits for exactly one node among among to be leader and returns it.
func (c *raftCluster) leader(among []*raftNode, within time.Duration) *raftNode {
	c.t.Helper()
	var l *raftNode
	testutil.WaitUntil(c.t, within, "a leader", func() bool {
		l = nil
		count := 0
		for _, n := range among {
			if n.r.State() == raft.Leader {
				l = n
				count++
			}
		}
		return count == 1
	})
	return l
}

// apply commits commands from..to-1 through whichever node of among leads, retrying when
// leadership moves (an entry whose outcome was lost may then be applied twice; converged allows
// that).
func (c *raftCluster) apply(among []*raftNode, from, to int) {
	c.t.Helper()
	for i := from; i < to; i++ {
		deadline := time.Now().Add(15 * time.Second)
		for {
			l := c.leader(among, 10*time.Second)
			err := l.r.Apply([]byte(fmt.Sprintf("cmd-%d", i)), 5*time.Second).Error()
			if err == nil {
				break
			}
			if time.Now().After(deadline) || (err != raft.ErrLeadershipLost && err != raft.ErrNotLeader) {
				c.t.Fatalf("apply %d on %s: %v", i, l.tr.Addr(), err)
			}
		}
	}
}

// converged waits for every node to hold the same history, containing cmd-0..cmd-(want-1).
func (c *raftCluster) converged(want int, within time.Duration) {
	c.t.Helper()
	testutil.WaitUntil(c.t, within, fmt.Sprintf("all nodes to apply %d commands", want), func() bool {
		ref := c.nodes[0].fsm.entries()
		seen := make(map[string]bool)
		for _, e := range ref {
			seen[string(e)] = true
		}
		for i := range want {
			if !seen[fmt.Sprintf("cmd-%d", i)] {
				return false
			}
		}
		for _, n := range c.nodes[1:] {
			got := n.fsm.entries()
			if len(got) != len(ref) {
				return false
			}
			for i := range got {
				if !bytes.Equal(got[i], ref[i]) {
					c.t.Fatalf("node %s diverges at %d: %q vs %q", n.tr.Addr(), i, got[i], ref[i])
				}
			}
		}
		return true
	})
}

func TestRaftCluster(t *testing.T) {
	pki := newTestPKI(t)
	tests := []struct {
		name string
		tls  func(i int) (*tls.Config, *tls.Config)
	}{
		{name: "plain"},
		{name: "mutual TLS", tls: func(i int) (*tls.Config, *tls.Config) {
			return pki.mutualTLS(t, fmt.Sprintf("node-%d", i))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newRaftCluster(t, clusterOpts{n: 3, tls: tc.tls})
			c.apply(c.nodes, 0, 50)
			c.converged(50, 10*time.Second)
		})
	}
}

// Isolating the leader with Faults makes the other two elect a new one and go on; the old
// leader cannot commit; on Heal every node converges on one history. Whether the nodes share one
// Faults or each has its own (with the same partition), raft sees a real partition.
func TestRaftPartitionAndHeal(t *testing.T) {
	tests := []struct {
		name   string
		shared bool
	}{
		{name: "shared Faults", shared: true},
		{name: "Faults per node"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			all := []*Faults{{}, {}, {}}
			if tc.shared {
				all = []*Faults{all[0], all[0], all[0]}
			}
			c := newRaftCluster(t, clusterOpts{n: 3, faults: func(i int) *Faults { return all[i] }})
			c.apply(c.nodes, 0, 10)
			c.converged(10, 10*time.Second)
			old := c.leader(c.nodes, 10*time.Second)

			for _, f := range all {
				f.Partition(old.tr.Addr())
			}
			var rest []*raftNode
			for _, n := range c.nodes {
				if n != old {
					rest = append(rest, n)
				}
			}
			c.apply(rest, 10, 30)
			if err := old.r.Apply([]byte("lost"), 500*time.Millisecond).Error(); err == nil {
				t.Fatal("isolated old leader committed a command")
			}
			for _, f := range all {
				f.Heal()
			}
			c.converged(30, 15*time.Second)
			for _, n := range c.nodes {
				for _, e := range n.fsm.entries() {
					if string(e) == "lost" {
						t.Fatalf("node %s applied the isolated leader's command", n.tr.Addr())
					}
				}
			}
		})
	}
}
