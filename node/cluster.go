package node

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"time"

	"github.com/nebulaio/nebulaio/engine"
	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/gossip"
	"github.com/nebulaio/nebulaio/httpapi"
	"github.com/nebulaio/nebulaio/transport"
)

// startCluster opens the raft transport, gossip, the data plane (startData), the FSM and the
// metadata engine, and starts membership reconciliation.
func (n *Node) startCluster(ctx context.Context, sink *httpapi.PromSink) error {
	cfg := n.cfg
	_, port, _ := net.SplitHostPort(cfg.Cluster.RaftAddress)
	advertise := net.JoinHostPort(cfg.Cluster.AdvertiseAddress, port)
	if port == "0" {
		advertise = "" // tests: the transport advertises the address the OS chose
	}
	if n.opts.RaftAdvertise != "" {
		advertise = n.opts.RaftAdvertise
	}
	tcfg := transport.Config{BindAddr: cfg.Cluster.RaftAddress, AdvertiseAddr: advertise, Metrics: sink,
		Faults: n.opts.TransportFaults}
	n.transportSecurity(&tcfg)
	trans, err := transport.New(tcfg)
	if err != nil {
		return fmt.Errorf("cluster.raft_address: %w", err)
	}
	n.trans = trans
	trans.Handle(methodConsoleDisk, n.handleConsoleDisk)

	g, err := n.startGossip(sink)
	if err != nil {
		return err
	}
	if n.opts.GossipUp != nil {
		n.opts.GossipUp(n)
	}

	if err := n.startData(sink); err != nil {
		return err
	}
	// The engine attaches its snapshot store: clean records beyond the cache are read back
	// from the newest snapshot, and the changed ones are bounded like the raft log. The data
	// plane deletes this node's copies of the blobs applied events free, from the first entry
	// raft replays.
	n.fsm = fsm.New(fsm.Options{
		Metrics:   sink,
		CacheSize: cfg.Performance.MetadataCacheSize,
		MaxDirty:  cfg.Performance.MaxRaftLogEntries,
		OnFreed:   n.Data().Freed,
	})
	ecfg := engine.Config{
		NodeID:           cfg.NodeID,
		Dir:              filepath.Join(cfg.DataDir, "raft"),
		Transport:        trans,
		FSM:              n.fsm,
		Results:          fsm.ResultCodec{},
		Bootstrap:        cfg.Cluster.Bootstraps(),
		ElectionTimeout:  cfg.Cluster.RaftElectionTimeout.D(),
		HeartbeatTimeout: cfg.Cluster.RaftHeartbeatTimeout.D(),
		MaxLogEntries:    cfg.Performance.MaxRaftLogEntries,
		Logger:           n.log,
		Metrics:          latencyTee{Metrics: sink, l: n.latency},
	}
	if cfg.Cluster.Bootstraps() && cfg.Cluster.ExpectNodes > 1 {
		ecfg.BootstrapServers = func() ([]engine.Server, error) {
			return waitForVoters(ctx, g, cfg.Cluster.ExpectNodes, func(have int) {
				n.log.Info().Int("have", have).Int("expect_nodes", cfg.Cluster.ExpectNodes).Str("cluster", n.ClusterID()).
					Msg("waiting for voters to join before bootstrapping (they need this cluster's join token: nebulaio cluster token asks this node)")
			})
		}
	}
	e, err := engine.Open(ecfg)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.engine = e
	n.mu.Unlock()

	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		rec := &peerRecorder{dir: cfg.DataDir, log: n.log}
		e.RunReconciler(ctx, newGossipSource(ctx, g, func() { rec.record(g) }), n.reconcileOptions())
	}()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.watchClusterID(ctx, e)
	}()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.watchMembership(ctx, e, g)
	}()
	return nil
}

// reconcileOptions are the membership reconciler's: the dead-member reaping of the
// configuration, the proof of a member's identity (identity.go), and the operator's recorded
// decisions (membership.go), which removed members learn of from the leader through the
// node.removed RPC.
func (n *Node) reconcileOptions() engine.ReconcileOptions {
	n.trans.Handle(methodRemoved, n.handleRemoved)
	return engine.ReconcileOptions{
		Interval:      n.opts.ReconcileInterval,
		DeadReapAfter: n.cfg.Cluster.DeadNodeReapAfter.D(),
		VerifyMember:  n.verifyMember,
		Intents:       n.intents,
		Refused:       n.tellRemoved,
	}
}

// startGossip joins gossip with the node's metadata (role, voter, advertised addresses). It
// joins the configured join addresses and the members remembered from the last run.
func (n *Node) startGossip(sink *httpapi.PromSink) (*gossip.Gossip, error) {
	cfg := n.cfg
	gcfg := gossip.Config{
		NodeID:        cfg.NodeID,
		BindAddr:      cfg.Cluster.GossipAddress,
		AdvertiseAddr: cfg.Cluster.AdvertiseAddress,
		Meta: gossip.NodeMeta{
			Role: cfg.Cluster.NodeRole, Voter: cfg.Cluster.IsVoter(), RaftAddr: n.trans.Addr(),
			S3Addr:    joinHostPort(cfg.Cluster.AdvertiseAddress, cfg.S3.Address),
			AdminAddr: joinHostPort(cfg.Cluster.AdvertiseAddress, n.adminAddr.String()),
			Version:   n.opts.Version,
		},
		JoinAddresses: joinList(cfg.Cluster.JoinAddresses, loadPeers(cfg.DataDir, n.log)),
		Logger:        n.log,
		Metrics:       sink,
		Faults:        n.opts.GossipFaults,
	}
	if err := n.gossipSecurity(&gcfg); err != nil {
		return nil, err
	}
	g, err := gossip.New(gcfg)
	if err != nil {
		return nil, fmt.Errorf("cluster.gossip_address: %w", err)
	}
	n.mu.Lock()
	n.gossip = g
	n.mu.Unlock()
	return g, nil
}

func joinHostPort(host, listen string) string {
	_, port, _ := net.SplitHostPort(listen)
	return net.JoinHostPort(host, port)
}

// gossipSource adapts gossip membership to the engine's reconciler.
type gossipSource struct {
	g       *gossip.Gossip
	changed chan struct{}
}

// newGossipSource adapts g for the reconciler; onEvent (if not nil) runs after every gossip
// event.
func newGossipSource(ctx context.Context, g *gossip.Gossip, onEvent func()) *gossipSource {
	s := &gossipSource{g: g, changed: make(chan struct{}, 1)}
	go func() {
		for {
			select {
			case _, ok := <-g.Events():
				if !ok {
					return
				}
				if onEvent != nil {
					onEvent()
				}
				select {
				case s.changed <- struct{}{}:
				default: // a signal is already pending; the reconciler re-reads everything
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return s
}

func (s *gossipSource) Changed() <-chan struct{} { return s.changed }

// Revive merges back at once a member gossip holds dead that raft shows alive.
func (s *gossipSource) Revive(id string) error { return s.g.Reach(id) }

var _ engine.MemberReviver = (*gossipSource)(nil)

func (s *gossipSource) Members() []engine.Member {
	var out []engine.Member
	now := time.Now()
	for _, m := range s.g.Members() {
		em := engine.Member{ID: m.ID, RaftAddr: m.Meta.RaftAddr, Voter: m.Meta.Voter, Alive: m.State == gossip.StateAlive}
		if !em.Alive {
			em.DeadFor = now.Sub(m.Since)
		} else {
			em.AliveSince = m.Since
		}
		out = append(out, em)
	}
	return out
}

// waitForVoters blocks until gossip shows want alive members that ask to vote (expect_nodes),
// then returns them as the voters of the new cluster.
func waitForVoters(ctx context.Context, g *gossip.Gossip, want int, log func(have int)) ([]engine.Server, error) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	lastLog := time.Time{}
	for {
		var servers []engine.Server
		for _, m := range g.Members() {
			if m.State == gossip.StateAlive && m.Meta.Voter && m.Meta.RaftAddr != "" {
				servers = append(servers, engine.Server{ID: m.ID, Addr: m.Meta.RaftAddr, Voter: true})
			}
		}
		if len(servers) >= want {
			sort.Slice(servers, func(i, j int) bool { return servers[i].ID < servers[j].ID })
			return servers[:want], nil
		}
		if time.Since(lastLog) > 5*time.Second {
			log(len(servers))
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for cluster.expect_nodes=%d voters: %w", want, ctx.Err())
		case <-t.C:
		}
	}
}
