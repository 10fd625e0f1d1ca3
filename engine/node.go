package engine

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/rs/zerolog"

	"github.com/nebulaio/nebulaio/internal/vfs"
	"github.com/nebulaio/nebulaio/snapshot"
	"github.com/nebulaio/nebulaio/transport"
	"github.com/nebulaio/nebulaio/wal"
)

// Config assembles one node. The caller owns the transport (the data plane shares it) and the
// state machine; the node owns raft and its stores under Dir.
type Config struct {
	// NodeID is the raft server ID; stable across restarts.
	NodeID string
	// Dir holds the raft state: Dir/wal and Dir/snapshots.
	Dir string
	// Transport carries raft and the node-to-node RPCs. Required. The node registers its
	// handlers on it and does not close it.
	Transport *transport.Transport
	// FSM is the replicated state machine. Required. Two optional interfaces let it keep its
	// state in the node's snapshot store (fsm.FSM implements both): AttachSnapshots receives
	// the store before raft starts (when the node opens NebulaIO's own store, or is given one
	// as SnapshotStore), and SnapshotWanted signals when the FSM holds enough changed records
	// that a snapshot should be taken even though the log is still short; the node then calls
	// raft's Snapshot, at most one at a time (see snapshotOnDemand).
	FSM raft.FSM
	// Results encodes the FSM's apply results so that a follower can forward a proposal to the
	// leader and return the leader's result. Required for clusters; nil works on one node.
	Results ResultCodec
	// Bootstrap makes a node without raft state start a new cluster: of itself alone, or of
	// the voters BootstrapServers returns. Nodes that join are added by the leader
	// (ChangeMembership, or RunReconciler from gossip).
	Bootstrap bool
	// BootstrapServers, when set, is called once on a bootstrap node without raft state and
	// returns the voters of the new cluster (expect_nodes: it waits until that many members are
	// known). It must include this node. Nil bootstraps this node alone.
	BootstrapServers func() ([]Server, error)
	// ElectionTimeout and HeartbeatTimeout tune raft (defaults 1s and 1s).
	ElectionTimeout  time.Duration
	HeartbeatTimeout time.Duration
	// MaxLogEntries bounds the raft log kept (default 10000): half are kept behind each
	// snapshot (TrailingLogs) and a snapshot is taken when half as many again accumulate.
	MaxLogEntries int
	// MaxLogBytes bounds the bytes of the entries kept behind each snapshot (default
	// DefaultMaxLogBytes, 1 GiB): large entries (small objects inline) lower TrailingLogs
	// below MaxLogEntries/2, to at least 32 (retention.go).
	MaxLogBytes int64
	// SnapshotInterval is how often raft checks whether a snapshot is due (default 5s).
	SnapshotInterval time.Duration
	// Logger receives the node's and raft's logs.
	Logger zerolog.Logger
	// Metrics receives the engine's measurements; nil records nothing.
	Metrics Metrics

	// Stores override the log, stable and snapshot stores (benchmarks compare peers this way;
	// tests may inject faults). Nil means NebulaIO's own wal and snapshot stores under Dir.
	LogStore      raft.LogStore
	StableStore   raft.StableStore
	SnapshotStore raft.SnapshotStore
	// NoCoalesce turns off the packing of concurrent proposals on the leader into one raft
	// entry per commit round (coalesce.go; engine/DESIGN.md has the measurements).
	NoCoalesce bool
	// NoSync turns off fsync in our stores. Tests and benchmarks only: a crash loses data.
	NoSync bool
	// FS is the file system of the stores the node opens itself (wal and snapshot, not the
	// ones given above). Nil means the operating system's; tests inject faults here.
	FS vfs.FS
}

// ResultCodec turns an FSM apply result into bytes and back, for forwarded proposals.
type ResultCodec interface {
	EncodeResult(any) ([]byte, error)
	DecodeResult([]byte) (any, error)
}

// Node is one member of the metadata raft cluster.
type Node struct {
	cfg   Config
	log   zerolog.Logger
	raft  *raft.Raft
	fsm   *appliedFSM
	logs  raft.LogStore
	trans *raft.NetworkTransport
	snaps raft.SnapshotStore

	// closers run in reverse order on Close (stores we opened).
	closers []io.Closer

	obsCh    chan raft.Observation
	observer *raft.Observer

	mu        sync.Mutex
	closed    bool
	leaderSub []chan struct{} // closed on the next leader change
	done      chan struct{}
	proposals chan *pendingProposal // the batcher's queue (nil with NoCoalesce)
	removed   tombstones            // members this node removed as leader (cluster.go)
	refused   refusedLog            // when each removed member was last told (intent.go)
	unproven  unprovenLog           // members VerifyMember refused, logged once (cluster.go)
	wg        sync.WaitGroup

	// readyTerm is the newest term in which this node, as leader, is known to have committed
	// an entry of its own; from then on its commit index may serve reads (readIndex).
	readyTerm atomic.Uint64

	// The quorum fence (quorum.go), guarded by fenceMu and updated by fenceWatch: the newest
	// contact with a leader (or being one), and a channel closed while that is more than
	// noQuorumAfter ago (replaced by an open one when contact resumes).
	fenceMu           sync.Mutex
	lastLeaderContact time.Time
	fenced            chan struct{}
}

// RPC method names on the transport.
const (
	methodPropose    = "engine.propose"
	methodReadIndex  = "engine.read_index"
	methodMembership = "engine.membership"
)

// Open starts the node: it opens (or creates) the stores, starts raft and, for a bootstrap
// node without state, bootstraps a cluster of itself.
func Open(cfg Config) (*Node, error) {
	if cfg.NodeID == "" || cfg.Transport == nil || cfg.FSM == nil {
		return nil, errors.New("engine: NodeID, Transport and FSM are required")
	}
	if cfg.ElectionTimeout <= 0 {
		cfg.ElectionTimeout = time.Second
	}
	if cfg.HeartbeatTimeout <= 0 {
		cfg.HeartbeatTimeout = time.Second
	}
	if cfg.MaxLogEntries <= 0 {
		cfg.MaxLogEntries = 10000
	}
	if cfg.MaxLogBytes <= 0 {
		cfg.MaxLogBytes = DefaultMaxLogBytes
	}
	if cfg.SnapshotInterval <= 0 {
		cfg.SnapshotInterval = 5 * time.Second
	}
	n := &Node{cfg: cfg, log: cfg.Logger.With().Str("component", "engine").Logger(), done: make(chan struct{}),
		lastLeaderContact: time.Now(), fenced: make(chan struct{})}
	if err := n.openStores(); err != nil {
		n.closeStores()
		return nil, err
	}

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.LeaderLeaseTimeout = cfg.HeartbeatTimeout
	rc.CommitTimeout = 5 * time.Millisecond
	rc.MaxAppendEntries = raftMaxAppendEntries
	rc.BatchApplyCh = true
	rc.TrailingLogs = uint64(max(cfg.MaxLogEntries/2, 1))
	rc.SnapshotThreshold = uint64(max(cfg.MaxLogEntries/2, 1))
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.NoSnapshotRestoreOnStart = false
	rc.LogOutput = &raftLogWriter{log: cfg.Logger.With().Str("component", "raft").Logger()}
	rc.LogLevel = "INFO"
	if err := raft.ValidateConfig(rc); err != nil {
		n.closeStores()
		return nil, fmt.Errorf("engine: raft config: %w", err)
	}

	n.fsm = newAppliedFSM(cfg.FSM)
	n.fsm.restoredIndex = func() uint64 {
		metas, err := n.snaps.List()
		if err != nil || len(metas) == 0 {
			return 0
		}
		return metas[0].Index
	}
	n.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  cfg.Transport.RaftLayer(),
		MaxPool: 4,
		Timeout: 10 * time.Second,
		Logger: hclog.New(&hclog.LoggerOptions{
			Name:   "raft-net",
			Output: &raftLogWriter{log: cfg.Logger.With().Str("component", "raft-net").Logger()},
			Level:  hclog.Warn,
		}),
	})

	if cfg.Bootstrap {
		has, err := raft.HasExistingState(n.logs, n.cfg.StableStore, n.snaps)
		if err != nil {
			n.closeStores()
			return nil, fmt.Errorf("engine: inspect state: %w", err)
		}
		if !has {
			bc := raft.Configuration{Servers: []raft.Server{{
				ID: rc.LocalID, Address: n.trans.LocalAddr(), Suffrage: raft.Voter,
			}}}
			if cfg.BootstrapServers != nil {
				servers, err := cfg.BootstrapServers()
				if err != nil {
					_ = n.trans.Close()
					n.closeStores()
					return nil, fmt.Errorf("engine: bootstrap servers: %w", err)
				}
				bc.Servers = nil
				for _, s := range servers {
					bc.Servers = append(bc.Servers, raft.Server{ID: raft.ServerID(s.ID), Address: raft.ServerAddress(s.Addr), Suffrage: raft.Voter})
				}
			}
			if err := raft.BootstrapCluster(rc, n.logs, n.cfg.StableStore, n.snaps, n.trans, bc); err != nil {
				n.closeStores()
				return nil, fmt.Errorf("engine: bootstrap: %w", err)
			}
			n.log.Info().Msg("bootstrapped a new cluster")
		}
	}

	r, err := raft.NewRaft(rc, n.fsm, n.logs, n.cfg.StableStore, n.snaps, n.trans)
	if err != nil {
		_ = n.trans.Close()
		n.closeStores()
		return nil, fmt.Errorf("engine: start raft: %w", err)
	}
	n.raft = r
	n.obsCh = make(chan raft.Observation, 64)
	n.observer = raft.NewObserver(n.obsCh, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.LeaderObservation, raft.RaftState:
			return true
		}
		return false
	})
	r.RegisterObserver(n.observer)
	n.wg.Add(4)
	go n.watch()
	go n.reportMetrics()
	go n.fenceWatch()
	go n.retain()
	if w, ok := cfg.FSM.(snapshotWanter); ok {
		n.wg.Add(1)
		go n.snapshotOnDemand(w.SnapshotWanted())
	}
	if !cfg.NoCoalesce {
		n.proposals = make(chan *pendingProposal, 4*maxEnvelopeItems)
		n.wg.Add(1)
		go n.runBatcher()
	}

	cfg.Transport.Handle(methodPropose, n.handlePropose)
	cfg.Transport.Handle(methodReadIndex, n.handleReadIndex)
	cfg.Transport.Handle(methodMembership, n.handleMembership)
	cfg.Transport.Handle(methodStatus, n.handleStatus)
	return n, nil
}

func (n *Node) openStores() error {
	c := &n.cfg
	if c.LogStore == nil || c.StableStore == nil {
		wl := c.Logger.With().Str("component", "wal").Logger()
		w, err := wal.Open(filepath.Join(c.Dir, "wal"), wal.Options{NoSync: c.NoSync, Metrics: c.Metrics, Logger: &wl, FS: c.FS})
		if err != nil {
			return fmt.Errorf("engine: open wal: %w", err)
		}
		n.closers = append(n.closers, w)
		if c.LogStore == nil {
			c.LogStore = w
		}
		if c.StableStore == nil {
			c.StableStore = w
		}
	}
	n.logs = c.LogStore
	if c.SnapshotStore == nil {
		sl := c.Logger.With().Str("component", "snapshot").Logger()
		s, err := snapshot.NewStore(filepath.Join(c.Dir, "snapshots"), snapshot.Options{Metrics: c.Metrics, Logger: &sl, FS: c.FS})
		if err != nil {
			return fmt.Errorf("engine: open snapshots: %w", err)
		}
		n.closers = append(n.closers, s)
		c.SnapshotStore = s
	}
	n.snaps = c.SnapshotStore
	if st, ok := c.SnapshotStore.(*snapshot.Store); ok {
		if a, ok := c.FSM.(snapshotAttacher); ok {
			a.AttachSnapshots(st)
		}
	}
	return nil
}

// snapshotAttacher is an FSM that reads its state back from the snapshot store.
type snapshotAttacher interface {
	AttachSnapshots(*snapshot.Store)
}

// snapshotWanter is an FSM that asks for snapshots by the size of its changed state.
type snapshotWanter interface {
	SnapshotWanted() <-chan struct{}
}

// snapshotOnDemand takes a raft snapshot whenever the FSM asks (raft's own trigger counts log
// entries only). One snapshot at a time: raft.Snapshot blocks until it is persisted. After a
// failed attempt (raft refuses, for example, while a configuration change is uncommitted) the
// next one waits at least snapshotRetry, until the FSM asks again.
func (n *Node) snapshotOnDemand(want <-chan struct{}) {
	defer n.wg.Done()
	for {
		select {
		case <-n.done:
			return
		case <-want:
		}
		err := n.raft.Snapshot().Error()
		if err == nil || errors.Is(err, raft.ErrNothingNewToSnapshot) {
			continue
		}
		if errors.Is(err, raft.ErrRaftShutdown) {
			return
		}
		n.log.Debug().Err(err).Msg("snapshot asked for by the FSM failed")
		t := time.NewTimer(snapshotRetry)
		select {
		case <-n.done:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// snapshotRetry spaces out FSM-requested snapshots after one fails.
const snapshotRetry = 200 * time.Millisecond

func (n *Node) closeStores() {
	for i := len(n.closers) - 1; i >= 0; i-- {
		if err := n.closers[i].Close(); err != nil {
			n.log.Warn().Err(err).Msg("closing a store")
		}
	}
	n.closers = nil
}

// ID returns the node's raft server ID.
func (n *Node) ID() string { return n.cfg.NodeID }

// Addr returns the address other nodes reach this node's raft at.
func (n *Node) Addr() string { return string(n.trans.LocalAddr()) }

// Raft exposes the raft instance to the cluster layer of this package's callers (membership
// reconciliation, status). The write path never needs it.
func (n *Node) Raft() *raft.Raft { return n.raft }

// IsLeader reports whether this node is the leader now.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader returns the current leader's ID and raft address, empty when none is known.
func (n *Node) Leader() (id, addr string) {
	a, i := n.raft.LeaderWithID()
	return string(i), string(a)
}

// AppliedIndex is the index of the newest entry the FSM has applied.
func (n *Node) AppliedIndex() uint64 {
	idx, _ := n.fsm.state()
	return idx
}

// WaitForLeader blocks until a leader is known or ctx ends.
func (n *Node) WaitForLeader(ctx context.Context) (id, addr string, err error) {
	for {
		ch := n.leaderChanged()
		if id, addr := n.Leader(); addr != "" {
			return id, addr, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return "", "", ctx.Err()
		case <-n.done:
			return "", "", ErrClosed
		}
	}
}

// leaderChanged returns a channel closed at the next leadership change (or raft state change).
func (n *Node) leaderChanged() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	ch := make(chan struct{})
	if n.closed {
		close(ch)
		return ch
	}
	n.leaderSub = append(n.leaderSub, ch)
	return ch
}

func (n *Node) watch() {
	defer n.wg.Done()
	for {
		select {
		case o := <-n.obsCh:
			if lo, ok := o.Data.(raft.LeaderObservation); ok {
				n.log.Info().Str("leader", string(lo.LeaderID)).Str("addr", string(lo.LeaderAddr)).Msg("leader changed")
				n.count("nebulaio_raft_leader_changes_total", 1)
			}
			n.mu.Lock()
			subs := n.leaderSub
			n.leaderSub = nil
			n.mu.Unlock()
			for _, ch := range subs {
				close(ch)
			}
		case <-n.done:
			return
		}
	}
}

// Close stops the node gracefully: a leader first hands leadership to an up-to-date voter
// (bounded by a few election timeouts), then raft stops and the stores close.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.mu.Unlock()
	if n.IsLeader() && n.otherVoters() > 0 {
		f := n.raft.LeadershipTransfer()
		errc := make(chan error, 1)
		go func() { errc <- f.Error() }()
		select {
		case err := <-errc:
			if err != nil {
				n.log.Warn().Err(err).Msg("leadership transfer failed; stopping anyway")
			} else {
				n.log.Info().Msg("leadership transferred")
			}
		case <-time.After(3 * n.cfg.ElectionTimeout):
			n.log.Warn().Msg("leadership transfer timed out; stopping anyway")
		}
	}
	return n.shutdown()
}

// Kill stops the node abruptly, as a crash would from the cluster's point of view (no
// leadership transfer). Its stores are closed so the same directory can be reopened; tests use
// it to simulate a failed leader.
func (n *Node) Kill() error { return n.shutdown() }

func (n *Node) shutdown() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	subs := n.leaderSub
	n.leaderSub = nil
	n.mu.Unlock()
	for _, ch := range subs {
		close(ch)
	}
	err := n.raft.Shutdown().Error()
	n.raft.DeregisterObserver(n.observer)
	close(n.done)
	n.wg.Wait()
	_ = n.trans.Close()
	n.closeStores()
	return err
}

func (n *Node) otherVoters() int {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return 0
	}
	c := 0
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter && string(s.ID) != n.cfg.NodeID {
			c++
		}
	}
	return c
}

// raftLogWriter turns hashicorp/raft's hclog text lines into zerolog events.
type raftLogWriter struct {
	log zerolog.Logger
	mu  sync.Mutex
}

func (w *raftLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	sc := bufio.NewScanner(bytes.NewReader(p))
	for sc.Scan() {
		line := sc.Text()
		ev := w.log.Info()
		switch {
		case bytes.Contains([]byte(line), []byte("[ERROR]")):
			ev = w.log.Error()
		case bytes.Contains([]byte(line), []byte("[WARN]")):
			ev = w.log.Warn()
		case bytes.Contains([]byte(line), []byte("[DEBUG]")), bytes.Contains([]byte(line), []byte("[TRACE]")):
			ev = w.log.Debug()
		}
		if i := bytes.Index([]byte(line), []byte("]")); i >= 0 && i+1 < len(line) {
			line = string(bytes.TrimSpace([]byte(line[i+1:])))
		}
		ev.Msg(line)
	}
	return len(p), nil
}

// Ready reports whether the node should receive traffic: it knows a leader and its FSM is
// within maxLag entries of the commit index it knows. The reason says what is missing.
func (n *Node) Ready(maxLag uint64) (bool, string) {
	if n.isClosed() {
		return false, "node is shutting down"
	}
	id, addr := n.Leader()
	if addr == "" {
		return false, "no leader known"
	}
	commit, applied := n.raft.CommitIndex(), n.AppliedIndex()
	if commit > applied && commit-applied > maxLag {
		return false, fmt.Sprintf("catching up: applied %d of %d (leader %s)", applied, commit, id)
	}
	return true, ""
}
