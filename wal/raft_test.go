package wal

import (
	"encoding/binary"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/nebulaio/nebulaio/internal/testutil"
)

// listFSM records every command it applies, in order.
type listFSM struct {
	mu   sync.Mutex
	cmds []string
}

func (f *listFSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cmds = append(f.cmds, string(l.Data))
	return len(f.cmds)
}

func (f *listFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &listSnap{cmds: append([]string(nil), f.cmds...)}, nil
}

func (f *listFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	var cmds []string
	for len(b) > 0 {
		if len(b) < 4 {
			return fmt.Errorf("short snapshot")
		}
		n := binary.LittleEndian.Uint32(b)
		if int(n) > len(b)-4 {
			return fmt.Errorf("short snapshot")
		}
		cmds = append(cmds, string(b[4:4+n]))
		b = b[4+n:]
	}
	f.mu.Lock()
	f.cmds = cmds
	f.mu.Unlock()
	return nil
}

func (f *listFSM) snapshot() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.cmds...)
}

type listSnap struct{ cmds []string }

func (s *listSnap) Persist(sink raft.SnapshotSink) error {
	var b []byte
	for _, c := range s.cmds {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(c)))
		b = append(b, c...)
	}
	if _, err := sink.Write(b); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}
func (s *listSnap) Release() {}

// raftNode is one raft server whose LogStore and StableStore are a WAL.
type raftNode struct {
	id    raft.ServerID
	dir   string
	addr  raft.ServerAddress
	wal   *Log
	fsm   *listFSM
	trans *raft.NetworkTransport
	raft  *raft.Raft

	stopped bool
}

func raftConfig(id raft.ServerID) *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = id
	// generous timeouts keep leadership stable under -race on 2 busy cores; applyN still
	// retries if leadership moves
	c.HeartbeatTimeout = time.Second
	c.ElectionTimeout = time.Second
	c.LeaderLeaseTimeout = 500 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	c.SnapshotThreshold = 64
	c.SnapshotInterval = 50 * time.Millisecond
	c.TrailingLogs = 16
	c.Logger = hclog.New(&hclog.LoggerOptions{Output: io.Discard, Level: hclog.Off})
	return c
}

// startNode opens the node's WAL and starts raft; addr "" picks a free port.
func startNode(t *testing.T, id raft.ServerID, dir string, addr raft.ServerAddress) *raftNode {
	t.Helper()
	n := &raftNode{id: id, dir: dir, fsm: &listFSM{}}
	opts := Options{SegmentSize: 32 << 10}
	var err error
	if n.wal, err = Open(filepath.Join(dir, "wal"), opts); err != nil {
		t.Fatal(err)
	}
	snaps, err := raft.NewFileSnapshotStore(dir, 2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	bind := string(addr)
	if bind == "" {
		bind = "127.0.0.1:0"
	}
	if n.trans, err = raft.NewTCPTransport(bind, nil, 3, time.Second, io.Discard); err != nil {
		t.Fatal(err)
	}
	n.addr = n.trans.LocalAddr()
	if n.raft, err = raft.NewRaft(raftConfig(id), n.fsm, n.wal, n.wal, snaps, n.trans); err != nil {
		t.Fatal(err)
	}
	// on a failed test, stop raft before t.TempDir is removed under it
	t.Cleanup(func() {
		if !n.stopped {
			n.raft.Shutdown().Error()
			n.trans.Close()
			n.wal.Close()
		}
	})
	return n
}

func (n *raftNode) stop(t *testing.T) {
	t.Helper()
	n.stopped = true
	if err := n.raft.Shutdown().Error(); err != nil {
		t.Fatal(err)
	}
	n.trans.Close()
	if err := n.wal.Close(); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitLeader(t *testing.T, nodes []*raftNode) *raftNode {
	t.Helper()
	var leader *raftNode
	testutil.WaitUntil(t, 15*time.Second, "a leader", func() bool {
		for _, n := range nodes {
			if n.raft.State() == raft.Leader {
				leader = n
				return true
			}
		}
		return false
	})
	return leader
}

// applyN applies cmd-from .. cmd-(from+n-1) through whichever node leads, in chunks; a chunk
// that fails (leadership moved) is applied again from its first failed command, so a command
// may be applied twice but every command is applied, in order of first appearance.
func applyN(t *testing.T, nodes []*raftNode, from, n int) {
	t.Helper()
	const chunk = 50
	for i := from; i < from+n; {
		leader := waitLeader(t, nodes)
		end := min(i+chunk, from+n)
		futures := make([]raft.ApplyFuture, 0, end-i)
		for k := i; k < end; k++ {
			futures = append(futures, leader.raft.Apply([]byte(fmt.Sprintf("cmd-%d", k)), 5*time.Second))
		}
		failed := -1
		for k, f := range futures {
			if err := f.Error(); err != nil && failed < 0 {
				failed = i + k
			}
		}
		if failed < 0 {
			i = end
		} else {
			i = failed
		}
	}
}

// checkCmds checks that the FSM holds cmd-0 .. cmd-(n-1) in order once repeats are dropped.
func checkCmds(t *testing.T, got []string, n int) {
	t.Helper()
	seen := map[string]bool{}
	var uniq []string
	for _, c := range got {
		if !seen[c] {
			seen[c] = true
			uniq = append(uniq, c)
		}
	}
	if len(uniq) != n {
		t.Fatalf("FSM has %d distinct commands, want %d", len(uniq), n)
	}
	for i, c := range uniq {
		if c != fmt.Sprintf("cmd-%d", i) {
			t.Fatalf("command %d is %q", i, c)
		}
	}
}

func distinct(n *raftNode) int {
	seen := map[string]bool{}
	for _, c := range n.fsm.snapshot() {
		seen[c] = true
	}
	return len(seen)
}

func fsmHas(n *raftNode, count int) func() bool {
	return func() bool { return distinct(n) >= count }
}

func TestRaftSingleNode(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, "n1", dir, "")
	cfg := raft.Configuration{Servers: []raft.Server{{ID: n.id, Address: n.addr}}}
	if err := n.raft.BootstrapCluster(cfg).Error(); err != nil {
		t.Fatal(err)
	}
	waitLeader(t, []*raftNode{n})
	applyN(t, []*raftNode{n}, 0, 300)
	testutil.WaitUntil(t, 15*time.Second, "FSM to apply 300", fsmHas(n, 300))
	checkCmds(t, n.fsm.snapshot(), 300)
	n.stop(t)

	// restart: state comes back from the snapshot plus the WAL
	n = startNode(t, "n1", dir, "")
	waitLeader(t, []*raftNode{n})
	applyN(t, []*raftNode{n}, 300, 100)
	testutil.WaitUntil(t, 15*time.Second, "restored FSM", fsmHas(n, 400))
	checkCmds(t, n.fsm.snapshot(), 400)
	testutil.WaitUntil(t, 15*time.Second, "a snapshot to compact the WAL", func() bool {
		first, _ := n.wal.FirstIndex()
		return first > 1
	})
	if last, _ := n.wal.LastIndex(); last < 400 {
		t.Fatalf("WAL last index %d, want >= 400", last)
	}
	n.stop(t)
}

func TestRaftThreeNodes(t *testing.T) {
	base := t.TempDir()
	var nodes []*raftNode
	for i := 1; i <= 3; i++ {
		id := raft.ServerID(fmt.Sprintf("n%d", i))
		nodes = append(nodes, startNode(t, id, filepath.Join(base, string(id)), ""))
	}
	var cfg raft.Configuration
	for _, n := range nodes {
		cfg.Servers = append(cfg.Servers, raft.Server{ID: n.id, Address: n.addr, Suffrage: raft.Voter})
	}
	if err := nodes[0].raft.BootstrapCluster(cfg).Error(); err != nil {
		t.Fatal(err)
	}
	leader := waitLeader(t, nodes)
	applyN(t, nodes, 0, 200)
	for _, n := range nodes {
		testutil.WaitUntil(t, 15*time.Second, string(n.id)+" to apply 200", fsmHas(n, 200))
	}

	// Stop a follower, write enough for the leader to compact past it, restart it: it catches up
	// by snapshot install (the WAL deletes its whole log) and then by replication.
	var follower *raftNode
	for i, n := range nodes {
		if n != leader {
			follower = n
			n.stop(t)
			nodes = append(nodes[:i:i], nodes[i+1:]...)
			break
		}
	}
	applyN(t, nodes, 200, 300)
	leader = waitLeader(t, nodes)
	testutil.WaitUntil(t, 15*time.Second, "leader snapshot", func() bool {
		first, _ := leader.wal.FirstIndex()
		return first > 300
	})
	restarted := startNode(t, follower.id, follower.dir, follower.addr)
	nodes = append(nodes, restarted)
	testutil.WaitUntil(t, 15*time.Second, "restarted follower to catch up", fsmHas(restarted, 500))
	checkCmds(t, restarted.fsm.snapshot(), 500)

	// Restart the whole cluster on the same addresses; every node recovers all commands.
	addrs := map[raft.ServerID]raft.ServerAddress{}
	dirs := map[raft.ServerID]string{}
	for _, n := range nodes {
		addrs[n.id], dirs[n.id] = n.addr, n.dir
		n.stop(t)
	}
	nodes = nodes[:0]
	for _, id := range []raft.ServerID{"n1", "n2", "n3"} {
		nodes = append(nodes, startNode(t, id, dirs[id], addrs[id]))
	}
	leader = waitLeader(t, nodes)
	applyN(t, nodes, 500, 50)
	for _, n := range nodes {
		testutil.WaitUntil(t, 15*time.Second, string(n.id)+" to apply 550", fsmHas(n, 550))
		checkCmds(t, n.fsm.snapshot(), 550)
	}
	// identical logs on every node for the range they all hold
	var lo, hi uint64 = 0, ^uint64(0)
	for _, n := range nodes {
		f, _ := n.wal.FirstIndex()
		l, _ := n.wal.LastIndex()
		lo, hi = max(lo, f), min(hi, l)
	}
	for i := lo; i <= hi; i++ {
		var ref raft.Log
		if err := nodes[0].wal.GetLog(i, &ref); err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes[1:] {
			var got raft.Log
			if err := n.wal.GetLog(i, &got); err != nil {
				t.Fatal(err)
			}
			if got.Term != ref.Term || string(got.Data) != string(ref.Data) || got.Type != ref.Type {
				t.Fatalf("%s differs at index %d", n.id, i)
			}
		}
	}
	for _, n := range nodes {
		n.stop(t)
	}
}
