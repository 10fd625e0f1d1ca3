package snapshot

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/nebulaio/nebulaio/internal/testutil"
)

// kvFSM is a small raft.FSM over a map that persists full or delta streams the way the real
// FSM will: a delta against the snapshot it last persisted or was restored from (the
// stream's Source), and a full stream when the store does not know that parent.
type kvFSM struct {
	mu       sync.Mutex
	st       state
	parentID string
	parentSt state
	deltas   int // deltas persisted successfully
}

func newKVFSM() *kvFSM { return &kvFSM{st: state{}} }

// Commands: "set\x00key\x00value" or "del\x00key".
func (f *kvFSM) Apply(l *raft.Log) any {
	parts := strings.SplitN(string(l.Data), "\x00", 3)
	f.mu.Lock()
	defer f.mu.Unlock()
	switch parts[0] {
	case "set":
		f.st[parts[1]] = parts[2]
	case "del":
		delete(f.st, parts[1])
	}
	return nil
}

func (f *kvFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &kvSnapshot{f: f, cur: f.st.clone(), parentID: f.parentID, parentSt: f.parentSt}, nil
}

func (f *kvFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	st, h, err := readState(rc)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st, f.parentID, f.parentSt = st, h.Source, st.clone()
	return nil
}

func (f *kvFSM) snapshotState() state {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st.clone()
}

type kvSnapshot struct {
	f        *kvFSM
	cur      state
	parentID string
	parentSt state
}

func (s *kvSnapshot) Persist(sink raft.SnapshotSink) error {
	var err error
	if s.parentID == "" {
		err = writeFull(sink, s.cur)
	} else {
		err = writeDelta(sink, s.parentID, s.parentSt, s.cur)
	}
	if err != nil {
		_ = sink.Cancel()
		return err
	}
	err = sink.Close()
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	switch {
	case errors.Is(err, ErrUnknownParent):
		s.f.parentID = "" // full next time
	case err == nil:
		if s.parentID != "" {
			s.f.deltas++
		}
		s.f.parentID, s.f.parentSt = sink.ID(), s.cur
	}
	return err
}

func (s *kvSnapshot) Release() {}

type raftNode struct {
	id    raft.ServerID
	addr  raft.ServerAddress
	dir   string
	logs  *raft.InmemStore
	store *Store
	fsm   *kvFSM
	trans *raft.NetworkTransport
	r     *raft.Raft
}

func raftConfig(id raft.ServerID) *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = id
	c.HeartbeatTimeout = 300 * time.Millisecond
	c.ElectionTimeout = 300 * time.Millisecond
	c.LeaderLeaseTimeout = 150 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	c.SnapshotThreshold = 1 << 40 // snapshots are taken explicitly
	c.SnapshotInterval = time.Hour
	c.TrailingLogs = 10
	c.LogOutput = io.Discard
	return c
}

func (n *raftNode) start(t *testing.T, bind string) {
	t.Helper()
	var err error
	if n.store, err = NewStore(n.dir, Options{ChunkSize: 4096}); err != nil {
		t.Fatal(err)
	}
	if n.trans, err = raft.NewTCPTransport(bind, nil, 3, 5*time.Second, io.Discard); err != nil {
		t.Fatal(err)
	}
	n.addr = n.trans.LocalAddr()
	n.fsm = newKVFSM()
	if n.r, err = raft.NewRaft(raftConfig(n.id), n.fsm, n.logs, n.logs, n.store, n.trans); err != nil {
		t.Fatal(err)
	}
}

func (n *raftNode) stop(t *testing.T) {
	t.Helper()
	if err := n.r.Shutdown().Error(); err != nil {
		t.Fatal(err)
	}
	_ = n.trans.Close()
	_ = n.store.Close()
}

// TestRaftInstallSnapshot runs three hashicorp/raft nodes over TCP on 127.0.0.1 with this
// store. One follower is stopped while the others commit, snapshot (full, then deltas) and
// truncate their logs; restarted, it can only catch up from a snapshot installed over the
// network (the leader's merged Open stream, stored as a new base). All three end with the
// same state, and the follower's next snapshot is a delta of the installed one.
func TestRaftInstallSnapshot(t *testing.T) {
	nodes := make([]*raftNode, 3)
	for i := range nodes {
		nodes[i] = &raftNode{id: raft.ServerID(fmt.Sprintf("n%d", i)), dir: t.TempDir(), logs: raft.NewInmemStore()}
		nodes[i].start(t, "127.0.0.1:0")
	}
	defer func() {
		for _, n := range nodes {
			if n.r != nil {
				n.r.Shutdown()
				_ = n.trans.Close()
				_ = n.store.Close()
			}
		}
	}()
	var servers []raft.Server
	for _, n := range nodes {
		servers = append(servers, raft.Server{ID: n.id, Address: n.addr})
	}
	if err := nodes[0].r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
		t.Fatal(err)
	}
	leader := func() *raftNode {
		for _, n := range nodes {
			if n.r != nil && n.r.State() == raft.Leader {
				return n
			}
		}
		return nil
	}
	testutil.WaitUntil(t, 10*time.Second, "a leader", func() bool { return leader() != nil })
	apply := func(cmd string) {
		t.Helper()
		for attempt := 0; ; attempt++ {
			l := leader()
			if l != nil {
				if err := l.r.Apply([]byte(cmd), 5*time.Second).Error(); err == nil {
					return
				} else if attempt > 50 {
					t.Fatalf("apply %q: %v", cmd, err)
				}
			}
			time.Sleep(20 * time.Millisecond) // leader change in progress; retry
		}
	}
	for i := 0; i < 100; i++ {
		apply(fmt.Sprintf("set\x00k%04d\x00v%d", i, i))
	}

	// Stop a follower; the rest commit, snapshot and truncate their logs.
	var lagging *raftNode
	for _, n := range nodes {
		if n != leader() {
			lagging = n
			break
		}
	}
	addr := string(lagging.addr)
	lagging.stop(t)
	lagging.r = nil
	for round := 0; round < 4; round++ {
		for i := 0; i < 150; i++ {
			k := (round*150 + i*7) % 600
			if i%10 == 0 {
				apply(fmt.Sprintf("del\x00k%04d", k))
			} else {
				apply(fmt.Sprintf("set\x00k%04d\x00r%d-%d", k, round, i))
			}
		}
		l := leader()
		if err := l.r.Snapshot().Error(); err != nil {
			t.Fatalf("leader snapshot: %v", err)
		}
	}
	l := leader()
	deltas := 0
	for _, n := range nodes {
		if n.r != nil {
			n.fsm.mu.Lock()
			deltas += n.fsm.deltas
			n.fsm.mu.Unlock()
		}
	}
	if deltas == 0 {
		t.Fatal("no node persisted a delta snapshot")
	}
	if first, _ := l.logs.FirstIndex(); first <= 101 {
		t.Fatalf("leader log not truncated (first index %d): no snapshot install would be needed", first)
	}

	// Restart the follower on the same address with its old log and an empty FSM.
	lagging.start(t, addr)
	want := func() state { return leader().fsm.snapshotState() }
	testutil.WaitUntil(t, 30*time.Second, "the lagging follower to install a snapshot and catch up", func() bool {
		return equalState(want(), lagging.fsm.snapshotState()) == nil
	})
	metas, err := lagging.store.List()
	if err != nil || len(metas) == 0 {
		t.Fatalf("the follower's store lists no installed snapshot (%v)", err)
	}
	lagging.fsm.mu.Lock()
	src := lagging.fsm.parentID
	lagging.fsm.mu.Unlock()
	if src != metas[0].ID {
		t.Fatalf("follower FSM restored from %q, newest local snapshot is %q", src, metas[0].ID)
	}

	// More writes; the follower's own next snapshot is a delta of the installed one.
	for i := 0; i < 30; i++ {
		apply(fmt.Sprintf("set\x00z%04d\x00late", i))
	}
	testutil.WaitUntil(t, 10*time.Second, "the follower to apply the late writes", func() bool {
		return equalState(want(), lagging.fsm.snapshotState()) == nil
	})
	if err := lagging.r.Snapshot().Error(); err != nil {
		t.Fatalf("follower snapshot: %v", err)
	}
	lagging.fsm.mu.Lock()
	followerDeltas := lagging.fsm.deltas
	lagging.fsm.mu.Unlock()
	if followerDeltas != 1 {
		t.Fatalf("follower's snapshot after install was not a delta (deltas=%d)", followerDeltas)
	}
	metas, _ = lagging.store.List()
	got, err := openState(t, lagging.store, metas[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := equalState(want(), got); err != nil {
		t.Fatalf("follower's delta snapshot: %v", err)
	}
	for _, n := range nodes {
		testutil.WaitUntil(t, 10*time.Second, "every node to converge", func() bool {
			return equalState(want(), n.fsm.snapshotState()) == nil
		})
	}
}
