package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rs/zerolog"

	"github.com/nebulaio/nebulaio/internal/vfs"
	"github.com/nebulaio/nebulaio/transport"
	"github.com/nebulaio/nebulaio/wal"
)

// segmentSyncs selects the fdatasyncs of the WAL's segments (the active one and the spare that
// becomes the next). The stable store (term and vote) is left alone: raft panics when it cannot
// persist its vote, which is raft's choice and not what these tests are about.
var segmentSyncs = vfs.Fault{Ops: vfs.OpSync, Path: vfs.MatchBase("*.wal", "next.spare")}

// TestWALSyncFailureSingleNode: the only node's WAL fsync starts failing. raft steps down instead
// of acknowledging; every proposal from then on fails with an error within the engine's bound
// (never hangs, never succeeds, never applies); the node closes cleanly; and a restart on a
// working disk has every write acknowledged before the failure.
func TestWALSyncFailureSingleNode(t *testing.T) {
	c := &testCluster{t: t, faults: &transport.Faults{}}
	t.Cleanup(c.closeAll)
	tn := &testNode{id: "n1", dir: filepath.Join(t.TempDir(), "n1")}
	c.nodes = []*testNode{tn}
	disk := vfs.NewFaulty(vfs.OS)
	startOn(c, tn, disk, true)
	c.waitLeader(10 * time.Second)
	for i := range 20 {
		if err := propose(tn, fmt.Sprintf("k%02d", i), "v", 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	acked := tn.fsm.copyData()

	disk.Inject(segmentSyncs)
	bound := 2*tn.node.noQuorumAfter() + time.Second // Propose's own limit, and some slack
	for i := range 5 {
		start := time.Now()
		err := propose(tn, fmt.Sprintf("lost%d", i), "v", 2*bound)
		took := time.Since(start)
		if err == nil {
			t.Fatalf("proposal %d succeeded on a node whose log cannot sync", i)
		}
		if errors.Is(err, context.DeadlineExceeded) || took > bound {
			t.Fatalf("proposal %d: %v after %s; want a refusal within %s", i, err, took, bound)
		}
		if !refusal(err) {
			t.Fatalf("proposal %d: %v; want ErrNoQuorum, ErrLeadershipLost, ErrNotLeader or wal.ErrFailed", i, err)
		}
	}
	if disk.Failures() == 0 {
		t.Fatal("no fsync failed: the fault did not reach the WAL")
	}
	if got := tn.fsm.copyData(); !mapsEqual(got, acked) {
		t.Fatalf("the FSM applied %d keys after the failure, want the %d acknowledged", len(got), len(acked))
	}
	closeWithin(t, tn, 10*time.Second)

	disk.Reset() // a working disk again, as after replacing it
	startOn(c, tn, disk, false)
	c.waitLeader(10 * time.Second)
	if err := tn.node.Read(context.Background(), Linearizable); err != nil {
		t.Fatal(err)
	}
	got := tn.fsm.copyData()
	for k, v := range acked {
		if got[k] != v {
			t.Fatalf("after the restart %q = %q, want %q (acknowledged before the failure)", k, got[k], v)
		}
	}
	if err := propose(tn, "after", "restart", 5*time.Second); err != nil {
		t.Fatalf("propose after the restart: %v", err)
	}
}

// TestWALSyncFailureLeader: the leader of three nodes loses its WAL fsync. It steps down, one
// of the two healthy nodes takes over, writes through it succeed and none is lost, and the
// failed node closes cleanly.
func TestWALSyncFailureLeader(t *testing.T) {
	c := &testCluster{t: t, faults: &transport.Faults{}}
	t.Cleanup(c.closeAll)
	disks := map[string]*vfs.Faulty{}
	root := t.TempDir()
	for i := range 3 {
		tn := &testNode{id: fmt.Sprintf("n%d", i+1), dir: filepath.Join(root, fmt.Sprintf("n%d", i+1))}
		disks[tn.id] = vfs.NewFaulty(vfs.OS)
		c.nodes = append(c.nodes, tn)
		startOn(c, tn, disks[tn.id], i == 0)
	}
	leader := c.waitLeader(10 * time.Second)
	for _, tn := range c.nodes[1:] {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := leader.node.ChangeMembership(ctx, OpAddVoter, tn.id, tn.addr)
		cancel()
		if err != nil {
			t.Fatalf("add voter %s: %v", tn.id, err)
		}
	}
	for i := range 20 {
		if err := propose(leader, fmt.Sprintf("k%02d", i), "v", 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}

	disks[leader.id].Inject(segmentSyncs)
	// The failed leader's own proposals are refused (or forwarded once another node leads).
	if err := propose(leader, "during", "failure", 2*leader.node.noQuorumAfter()+time.Second); err != nil && !refusal(err) {
		t.Fatalf("proposal on the failed leader: %v", err)
	}
	// The failed node's log is as long as the others' until the new leader appends, so it may
	// win an election or two first (and step down again at its first append).
	next, took := c.waitNewLeader(leader, 20*testElection)
	t.Logf("%s took over %s after the fault", next.id, took)
	for i := range 20 {
		if err := propose(next, fmt.Sprintf("after%02d", i), "v", 5*time.Second); err != nil {
			t.Fatalf("write through the new leader: %v", err)
		}
	}
	closeWithin(t, leader, 10*time.Second)
	data := c.waitConverged(10 * time.Second) // the running nodes: the two healthy ones
	for _, k := range []string{"k00", "k19", "after00", "after19"} {
		if data[k] != "v" {
			t.Fatalf("%s missing on the healthy nodes", k)
		}
	}
}

// refusal reports whether err is one of the ways the engine refuses a write it could not commit.
func refusal(err error) bool {
	return errors.Is(err, ErrNoQuorum) || errors.Is(err, ErrLeadershipLost) || errors.Is(err, ErrNotLeader) || errors.Is(err, wal.ErrFailed)
}

// closeWithin closes tn's node, failing the test if that takes longer than within.
func closeWithin(t *testing.T, tn *testNode, within time.Duration) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- tn.node.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Logf("Close of %s: %v", tn.id, err)
		}
	case <-time.After(within):
		t.Fatalf("Close of %s did not return within %s", tn.id, within)
	}
	_ = tn.trans.Close()
	if tn.wal != nil {
		_ = tn.wal.Close()
		tn.wal = nil
	}
	tn.node = nil
}

// slowLog delays every append to the log it wraps: a slow disk.
type slowLog struct {
	*wal.Log
	delay time.Duration
}

func (l slowLog) StoreLogs(logs []*raft.Log) error {
	time.Sleep(l.delay) // simulated slow fdatasync, not synchronisation
	return l.Log.StoreLogs(logs)
}

func (l slowLog) StoreLog(log *raft.Log) error { return l.StoreLogs([]*raft.Log{log}) }

// startOn (re)starts tn on its directory with the WAL and snapshot store on fsys.
func startOn(c *testCluster, tn *testNode, fsys vfs.FS, bootstrap bool) {
	c.t.Helper()
	bind := "127.0.0.1:0"
	if tn.addr != "" {
		bind = tn.addr
	}
	var err error
	deadline := time.Now().Add(5 * time.Second)
	for {
		tn.trans, err = transport.New(transport.Config{BindAddr: bind, Faults: c.faults, CallTimeout: 5 * time.Second})
		if err == nil || tn.addr == "" || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // the old listener's port is still being released
	}
	if err != nil {
		c.t.Fatalf("transport for %s: %v", tn.id, err)
	}
	tn.addr = tn.trans.Addr()
	kv := newKV()
	kv.delay = tn.applyDelay
	tn.fsm = kv
	cfg := Config{
		NodeID: tn.id, Dir: tn.dir, Transport: tn.trans, FSM: tn.fsm, Results: kvResults{},
		Bootstrap: bootstrap, ElectionTimeout: testElection, HeartbeatTimeout: testHeartbeat,
		Logger: zerolog.New(zerolog.NewTestWriter(c.t)).Level(zerolog.ErrorLevel).With().Str("node_id", tn.id).Logger(),
		FS:     fsys,
	}
	if tn.storeDelay > 0 {
		tn.wal, err = wal.Open(filepath.Join(tn.dir, "wal"), wal.Options{FS: fsys})
		if err != nil {
			c.t.Fatalf("wal of %s: %v", tn.id, err)
		}
		cfg.LogStore, cfg.StableStore = slowLog{tn.wal, tn.storeDelay}, tn.wal
	}
	tn.node, err = Open(cfg)
	if err != nil {
		c.t.Fatalf("open %s: %v", tn.id, err)
	}
}

// TestRestartOnFullDisk restarts a node whose disk filled up while it was down (issue 22: raft
// panicked saving its term). The node comes up, elects itself - saving its term and vote on the
// full disk - and serves every acknowledged write; a write either commits (into the log's
// preallocated segment) or is refused with an error, never a panic.
func TestRestartOnFullDisk(t *testing.T) {
	c := &testCluster{t: t, faults: &transport.Faults{}}
	t.Cleanup(c.closeAll)
	tn := &testNode{id: "n1", dir: "/disk/n1"}
	c.nodes = []*testNode{tn}
	mem := vfs.NewMem()
	startOn(c, tn, mem, true)
	c.waitLeader(10 * time.Second)
	for i := range 20 {
		if err := propose(tn, fmt.Sprintf("k%02d", i), "v", 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	acked := tn.fsm.copyData()
	closeWithin(t, tn, 10*time.Second)

	mem.SetCapacity(mem.Used()) // full: not one more byte
	if err := vfs.WriteFile(mem, "/disk/probe", []byte("x"), 0o644); !errors.Is(err, vfs.ErrNoSpace) {
		t.Fatalf("the disk is not full: %v", err)
	}
	startOn(c, tn, mem, false)
	c.waitLeader(10 * time.Second) // an election: term and vote saved on the full disk
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tn.node.Read(ctx, Linearizable); err != nil {
		t.Fatalf("linearizable read on a full disk: %v", err)
	}
	if got := tn.fsm.copyData(); !mapsEqual(got, acked) {
		t.Fatalf("after the restart on a full disk: %d keys, want the %d acknowledged", len(got), len(acked))
	}
	for i := range 5 {
		err := propose(tn, fmt.Sprintf("full%d", i), "v", 5*time.Second)
		if err != nil && !refusal(err) && !errors.Is(err, ErrLogStore) {
			t.Fatalf("write on a full disk: %v; want success or a refusal", err)
		}
	}
	closeWithin(t, tn, 10*time.Second)
}

// TestFirstReadWhileReplaying: a leader that restarts with a log to replay into a slow FSM
// serves its first linearizable read once the replay is done, rather than failing it with
// ErrNoQuorum after the no-quorum bound (1s here) - the quorum was there all along. The replay
// takes 20 x 100ms, and a slow disk (200ms an append) makes the read arrive before the new
// leader's no-op is committed. This is what made TestRestartOnFullDisk flaky on a loaded
// machine: such a first read waited for a raft barrier, which completes only after the FSM has
// caught up.
func TestFirstReadWhileReplaying(t *testing.T) {
	c := &testCluster{t: t, faults: &transport.Faults{}}
	t.Cleanup(c.closeAll)
	tn := &testNode{id: "n1", dir: "/disk/n1"}
	c.nodes = []*testNode{tn}
	mem := vfs.NewMem()
	startOn(c, tn, mem, true)
	c.waitLeader(10 * time.Second)
	for i := range 20 {
		if err := propose(tn, fmt.Sprintf("k%02d", i), "v", 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	acked := tn.fsm.copyData()
	closeWithin(t, tn, 10*time.Second)

	tn.applyDelay, tn.storeDelay = 100*time.Millisecond, 200*time.Millisecond

	startOn(c, tn, mem, false)
	c.waitLeader(10 * time.Second)
	if bound := tn.node.NoQuorumAfter(); bound >= 2*time.Second {
		t.Fatalf("the replay (2s) must outlast the no-quorum bound (%s)", bound)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := tn.node.Read(ctx, Linearizable); err != nil {
		t.Fatalf("first linearizable read while the FSM replays: %v", err)
	}
	if got := tn.fsm.copyData(); !mapsEqual(got, acked) {
		t.Fatalf("after the read: %d keys, want the %d acknowledged", len(got), len(acked))
	}
	closeWithin(t, tn, 10*time.Second)
}

// TestLogStoreFailureError: when the leader's WAL fails to append a proposal, the proposer gets
// ErrLogStore naming the leader - wrapping vfs.ErrNoSpace exactly when the disk was full - on
// the leader and, through the forwarding RPC, on a follower; never an anonymous error (the S3
// layer answers 507 or 503 from it, not 500).
func TestLogStoreFailureError(t *testing.T) {
	cases := []struct {
		name      string
		fault     vfs.Fault
		forwarded bool
		noSpace   bool
	}{
		{"leader, ENOSPC", vfs.Fault{Ops: vfs.OpWrite, Path: vfs.MatchBase("*.wal"), Err: vfs.ErrNoSpace}, false, true},
		{"leader, fdatasync EIO", segmentSyncs, false, false},
		{"forwarded, ENOSPC", vfs.Fault{Ops: vfs.OpWrite, Path: vfs.MatchBase("*.wal"), Err: vfs.ErrNoSpace}, true, true},
		{"forwarded, fdatasync EIO", segmentSyncs, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &testCluster{t: t, faults: &transport.Faults{}}
			t.Cleanup(c.closeAll)
			disks := map[string]*vfs.Faulty{}
			root := t.TempDir()
			n := 1
			if tc.forwarded {
				n = 3
			}
			for i := range n {
				tn := &testNode{id: fmt.Sprintf("n%d", i+1), dir: filepath.Join(root, fmt.Sprintf("n%d", i+1))}
				disks[tn.id] = vfs.NewFaulty(vfs.OS)
				c.nodes = append(c.nodes, tn)
				startOn(c, tn, disks[tn.id], i == 0)
			}
			leader := c.waitLeader(10 * time.Second)
			for _, tn := range c.nodes {
				if tn == leader {
					continue
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := leader.node.ChangeMembership(ctx, OpAddVoter, tn.id, tn.addr)
				cancel()
				if err != nil {
					t.Fatalf("add voter %s: %v", tn.id, err)
				}
			}
			if err := propose(leader, "before", "v", 5*time.Second); err != nil {
				t.Fatal(err)
			}
			from := leader
			if tc.forwarded {
				from = c.nodes[1]
				if from == leader {
					from = c.nodes[2]
				}
			}
			disks[leader.id].Inject(tc.fault)
			err := propose(from, "failing", "v", 5*time.Second)
			if !errors.Is(err, ErrLogStore) || errors.Is(err, vfs.ErrNoSpace) != tc.noSpace {
				t.Fatalf("propose through %s: %v; want ErrLogStore (ENOSPC: %v)", from.id, err, tc.noSpace)
			}
			if !strings.Contains(err.Error(), "node "+leader.id) {
				t.Fatalf("the error does not name the leader %s: %v", leader.id, err)
			}
		})
	}
}

// TestForwardedProposalPastDeadline: a leader that cannot commit a forwarded proposal before
// the caller's deadline (which the transport hands to its handler; here a disk that takes
// 300ms an append, the deadline 50ms) answers with a code the follower turns into ErrNoQuorum
// - outcome unknown, 503 to S3 clients - not an anonymous error that S3 answers with 500.
func TestForwardedProposalPastDeadline(t *testing.T) {
	c := &testCluster{t: t, faults: &transport.Faults{}}
	t.Cleanup(c.closeAll)
	tn := &testNode{id: "n1", dir: "/disk/n1", storeDelay: 300 * time.Millisecond}
	c.nodes = []*testNode{tn}
	startOn(c, tn, vfs.NewMem(), true)
	c.waitLeader(10 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := tn.node.handlePropose(ctx, encodeSet("k", "v"))
	if err == nil {
		t.Fatal("a proposal committed within 50ms on a disk that takes 300ms an append")
	}
	var coded interface{ RPCCode() string }
	if !errors.As(err, &coded) {
		t.Fatalf("handler error %v has no RPC code", err)
	}
	got := remoteToError(&transport.RemoteError{Code: coded.RPCCode(), Message: err.Error()})
	if !errors.Is(got, ErrNoQuorum) {
		t.Fatalf("the follower sees %q (code %s), want ErrNoQuorum", got, coded.RPCCode())
	}
	closeWithin(t, tn, 10*time.Second)
}
