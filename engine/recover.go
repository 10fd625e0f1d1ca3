package engine

import (
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/rs/zerolog"

	"github.com/nebulaio/nebulaio/internal/vfs"
)

// Errors of the offline operations on a stopped node's raft directory (ForceNewCluster, Seed).
var (
	// ErrNoState: ForceNewCluster found no raft state to recover (a wrong directory?).
	ErrNoState = errors.New("engine: no raft state in the directory")
	// ErrHasState: Seed refuses a directory that already holds raft state.
	ErrHasState = errors.New("engine: the directory already holds raft state")
	// ErrNotMember: ForceNewCluster was asked to keep a node that the raft configuration on
	// disk does not hold (a wrong node ID).
	ErrNotMember = errors.New("engine: the node is not in the raft configuration")
)

// keyCurrentTerm is the StableStore key under which hashicorp/raft keeps its current term.
var keyCurrentTerm = []byte("CurrentTerm")

// RecoverConfig describes a stopped node whose raft state ForceNewCluster rewrites.
type RecoverConfig struct {
	// NodeID is the node's raft server ID: the one member the new configuration keeps.
	NodeID string
	// Dir is the node's raft directory (Config.Dir: Dir/wal and Dir/snapshots).
	Dir string
	// Addr is the raft address to record for the node; "" keeps the address the old
	// configuration has for it.
	Addr string
	// FSM is a fresh state machine of the kind the node runs (fsm.FSM in production). The
	// state is rebuilt in it (newest snapshot, then the log after it) to write the new
	// snapshot; it is not used afterwards.
	FSM raft.FSM
	// Logger receives raft's log lines.
	Logger zerolog.Logger
	// FS is the file system of the stores (nil: the operating system's).
	FS vfs.FS
}

// RecoverResult says what ForceNewCluster found and wrote.
type RecoverResult struct {
	// Old is the raft configuration found on disk (the newest: the newest snapshot's, then any
	// configuration entry of the log after it), sorted by ID.
	Old []Server
	// Server is the one voter of the new configuration.
	Server Server
	// Index and Term are those of the newest entry kept: the new snapshot's.
	Index, Term uint64
}

// ForceNewCluster rewrites the raft state of a stopped node so that it is the only voter of
// its cluster, keeping every entry it has: the way out of a permanent loss of quorum (etcd's
// --force-new-cluster, Consul's peers.json). It is hashicorp/raft's RecoverCluster on the
// node's own stores: the newest snapshot is restored into cfg.FSM, the log after it replayed
// (entries this node holds but that may never have been committed are kept: they become
// committed in the new cluster), a new snapshot is written at the last entry with a
// configuration of this node alone, and the log is emptied. Started afterwards, the node
// elects itself and serves everything it had.
//
// It refuses a directory without raft state (ErrNoState) and a node ID that the configuration
// on disk does not hold (ErrNotMember), so a mistyped ID cannot make a cluster of a node that
// never existed. The other members must never come back with their old state: wipe them and
// let them join the recovered node as new members.
func ForceNewCluster(cfg RecoverConfig) (RecoverResult, error) {
	var res RecoverResult
	if cfg.NodeID == "" || cfg.FSM == nil {
		return res, errors.New("engine: ForceNewCluster needs NodeID and FSM")
	}
	n, err := openOffline(cfg.Dir, cfg.FSM, cfg.Logger, cfg.FS)
	if err != nil {
		return res, err
	}
	defer n.closeStores()
	has, err := raft.HasExistingState(n.logs, n.cfg.StableStore, n.snaps)
	if err != nil {
		return res, fmt.Errorf("engine: inspect state: %w", err)
	}
	if !has {
		return res, fmt.Errorf("%w: %s", ErrNoState, cfg.Dir)
	}
	old, err := latestConfiguration(n.logs, n.snaps)
	if err != nil {
		return res, err
	}
	for _, s := range old.Servers {
		res.Old = append(res.Old, Server{ID: string(s.ID), Addr: string(s.Address), Voter: s.Suffrage == raft.Voter})
		if string(s.ID) == cfg.NodeID {
			res.Server = Server{ID: cfg.NodeID, Addr: string(s.Address), Voter: true}
		}
	}
	sortServers(res.Old)
	if res.Server.ID == "" {
		return res, fmt.Errorf("%w: %q is not among %v", ErrNotMember, cfg.NodeID, res.Old)
	}
	if cfg.Addr != "" {
		res.Server.Addr = cfg.Addr
	}
	rc := offlineRaftConfig(cfg.NodeID, cfg.Logger)
	conf := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(cfg.NodeID), Address: raft.ServerAddress(res.Server.Addr)}}}
	// The wrapper the running node applies through: it unpacks coalesced proposals.
	if err := raft.RecoverCluster(rc, newAppliedFSM(cfg.FSM), n.logs, n.cfg.StableStore, n.snaps, nil, conf); err != nil {
		return res, fmt.Errorf("engine: recover cluster: %w", err)
	}
	metas, err := n.snaps.List()
	if err != nil || len(metas) == 0 {
		return res, fmt.Errorf("engine: recover cluster: no snapshot after recovery (%v)", err)
	}
	res.Index, res.Term = metas[0].Index, metas[0].Term
	return res, nil
}

// SeedConfig describes the new one-voter cluster Seed creates.
type SeedConfig struct {
	// NodeID and Addr are the one voter's raft ID and address.
	NodeID, Addr string
	// Dir is the node's raft directory (created if missing; it must hold no raft state).
	Dir string
	// Index and Term are those of the state the stream holds (a backup's snapshot): the new
	// node's log continues after them.
	Index, Term uint64
	// Logger receives the stores' log lines; FS is their file system (nil: the OS's).
	Logger zerolog.Logger
	FS     vfs.FS
}

// Seed creates the raft state of a new one-voter cluster from a full snapshot stream (a
// backup's): the stream becomes the only snapshot, at cfg.Index and cfg.Term, with a
// configuration of cfg.NodeID alone, and the current term is set to cfg.Term so that the
// terms of the new log continue the snapshot's. A node started on the directory restores the
// snapshot and elects itself. A directory that already holds raft state is refused
// (ErrHasState). The stream is checked by the snapshot store as it is written (a damaged one
// fails and nothing is published).
func Seed(cfg SeedConfig, stream io.Reader) error {
	if cfg.NodeID == "" || cfg.Index == 0 || cfg.Term == 0 {
		return fmt.Errorf("engine: Seed needs a node ID, an index and a term (got %q, %d, %d)", cfg.NodeID, cfg.Index, cfg.Term)
	}
	n, err := openOffline(cfg.Dir, nil, cfg.Logger, cfg.FS)
	if err != nil {
		return err
	}
	defer n.closeStores()
	has, err := raft.HasExistingState(n.logs, n.cfg.StableStore, n.snaps)
	if err != nil {
		return fmt.Errorf("engine: inspect state: %w", err)
	}
	if has {
		return fmt.Errorf("%w: %s", ErrHasState, cfg.Dir)
	}
	conf := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(cfg.NodeID), Address: raft.ServerAddress(cfg.Addr)}}}
	sink, err := n.snaps.Create(raft.SnapshotVersionMax, cfg.Index, cfg.Term, conf, cfg.Index, nil)
	if err != nil {
		return fmt.Errorf("engine: seed: %w", err)
	}
	if _, err := io.Copy(sink, stream); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("engine: seed: writing the snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("engine: seed: %w", err)
	}
	if err := n.cfg.StableStore.SetUint64(keyCurrentTerm, cfg.Term); err != nil {
		return fmt.Errorf("engine: seed: current term: %w", err)
	}
	return nil
}

// openOffline opens a stopped node's stores under dir (no raft, no transport), attaching fsm
// to the snapshot store when it reads its state from there. The caller closes them with
// closeStores.
func openOffline(dir string, fsm raft.FSM, log zerolog.Logger, fs vfs.FS) (*Node, error) {
	n := &Node{cfg: Config{Dir: dir, FSM: fsm, Logger: log, FS: fs}, log: log}
	if err := n.openStores(); err != nil {
		n.closeStores()
		return nil, err
	}
	return n, nil
}

// offlineRaftConfig is the raft configuration RecoverCluster validates.
func offlineRaftConfig(id string, log zerolog.Logger) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(id)
	rc.Logger = hclog.New(&hclog.LoggerOptions{
		Name:   "raft",
		Output: &raftLogWriter{log: log.With().Str("component", "raft").Logger()},
		Level:  hclog.Info,
	})
	return rc
}

// latestConfiguration is the newest raft configuration on disk: the newest snapshot's, or a
// configuration entry of the log after it.
func latestConfiguration(logs raft.LogStore, snaps raft.SnapshotStore) (raft.Configuration, error) {
	var conf raft.Configuration
	var from uint64 = 1
	metas, err := snaps.List()
	if err != nil {
		return conf, fmt.Errorf("engine: list snapshots: %w", err)
	}
	if len(metas) > 0 {
		conf, from = metas[0].Configuration, metas[0].Index+1
	}
	first, err := logs.FirstIndex()
	if err != nil {
		return conf, fmt.Errorf("engine: first index: %w", err)
	}
	last, err := logs.LastIndex()
	if err != nil {
		return conf, fmt.Errorf("engine: last index: %w", err)
	}
	for i := max(from, first); i <= last && i > 0; i++ {
		var l raft.Log
		if err := logs.GetLog(i, &l); err != nil {
			return conf, fmt.Errorf("engine: log entry %d: %w", i, err)
		}
		if l.Type == raft.LogConfiguration {
			conf = raft.DecodeConfiguration(l.Data)
		}
	}
	return conf, nil
}

func sortServers(s []Server) {
	sort.Slice(s, func(i, j int) bool { return s[i].ID < s[j].ID })
}
