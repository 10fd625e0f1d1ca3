package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/transport"
	"github.com/nebulaio/nebulaio/wal"

	"github.com/nebulaio/nebulaio/internal/testutil"
)

// Timings for in-process clusters: short enough for fast tests, long enough for -race on 2 cores.
const (
	testElection  = 500 * time.Millisecond
	testHeartbeat = 500 * time.Millisecond
)

// testCluster runs nodes in this process over real TCP on 127.0.0.1, with one shared Faults that
// can partition them.
type testCluster struct {
	t      *testing.T
	faults *transport.Faults
	nodes  []*testNode
	opts   clusterOpts
	lock   sync.Mutex // guards testNode.node against concurrent writers in failover tests
}

func (c *testCluster) mu() *sync.Mutex { return &c.lock }

type clusterOpts struct {
	maxLogEntries int
	snapInterval  time.Duration
	noCoalesce    bool
	// metaCache > 0 runs fsm.FSM (metaFSM) with that metadata_cache_size instead of kvFSM.
	metaCache int
	// metaMaxDirty is the metaFSM's MaxDirty; 0 means MaxLogEntries, as the server sets it.
	metaMaxDirty int
	// maxLogBytes is Config.MaxLogBytes (0: the default).
	maxLogBytes int64
}

type testNode struct {
	id    string
	dir   string
	addr  string // fixed after the first start so that raft's configuration stays valid
	trans *transport.Transport
	node  *Node
	fsm   testFSM
	// applyDelay slows the kvFSM that startOn gives the node, storeDelay every append to its
	// log (fault_test.go); wal is the log startOn opened itself for that, closed by closeWithin.
	applyDelay, storeDelay time.Duration
	wal                    *wal.Log
}

func newCluster(t *testing.T, n int, opts clusterOpts) *testCluster {
	t.Helper()
	c := &testCluster{t: t, faults: &transport.Faults{}, opts: opts}
	for i := 0; i < n; i++ {
		tn := &testNode{id: fmt.Sprintf("n%d", i+1), dir: filepath.Join(t.TempDir(), fmt.Sprintf("n%d", i+1))}
		c.nodes = append(c.nodes, tn)
		c.start(tn, i == 0)
	}
	t.Cleanup(c.closeAll)
	leader := c.waitLeader(10 * time.Second)
	for _, tn := range c.nodes {
		if tn == leader {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := leader.node.ChangeMembership(ctx, OpAddVoter, tn.id, tn.addr); err != nil {
			cancel()
			t.Fatalf("add voter %s: %v", tn.id, err)
		}
		cancel()
	}
	if opts.metaCache > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b, _ := fsm.Encode(&fsm.CreateBucket{Name: kvBucket, Owner: "test"})
		res, err := leader.node.Propose(ctx, b)
		if r, ok := res.(*fsm.Result); err != nil || !ok || r.Err != nil {
			t.Fatalf("create bucket %s: %v %+v", kvBucket, err, res)
		}
	}
	return c
}

// start (re)starts tn on its directory; a restart reuses the node's address.
func (c *testCluster) start(tn *testNode, bootstrap bool) {
	c.t.Helper()
	bind := "127.0.0.1:0"
	if tn.addr != "" {
		bind = tn.addr
	}
	var trans *transport.Transport
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		trans, err = transport.New(transport.Config{BindAddr: bind, Faults: c.faults, CallTimeout: 5 * time.Second})
		if err == nil || tn.addr == "" {
			break
		}
		time.Sleep(100 * time.Millisecond) // the old listener's port is still being released
	}
	if err != nil {
		c.t.Fatalf("transport for %s: %v", tn.id, err)
	}
	tn.trans = trans
	tn.addr = trans.Addr()
	var results ResultCodec = kvResults{}
	if c.opts.metaCache > 0 {
		maxDirty := c.opts.metaMaxDirty
		if maxDirty == 0 {
			maxDirty = c.opts.maxLogEntries
		}
		if maxDirty == 0 {
			maxDirty = 10000 // the engine's default MaxLogEntries
		}
		tn.fsm = newMetaFSM(c.t, c.opts.metaCache, maxDirty)
		results = fsm.ResultCodec{}
	} else {
		tn.fsm = newKV()
	}
	logger := zerolog.New(zerolog.NewTestWriter(c.t)).Level(zerolog.WarnLevel).With().Str("node_id", tn.id).Logger()
	if os.Getenv("ENGINE_TEST_LOG") != "" {
		logger = logger.Level(zerolog.InfoLevel)
	}
	node, err := Open(Config{
		NodeID: tn.id, Dir: tn.dir, Transport: trans, FSM: tn.fsm, Results: results,
		Bootstrap: bootstrap, ElectionTimeout: testElection, HeartbeatTimeout: testHeartbeat,
		MaxLogEntries: c.opts.maxLogEntries, SnapshotInterval: c.opts.snapInterval, NoCoalesce: c.opts.noCoalesce,
		MaxLogBytes: c.opts.maxLogBytes,
		Logger:      logger,
	})
	if err != nil {
		c.t.Fatalf("open %s: %v", tn.id, err)
	}
	tn.node = node
}

// kill stops tn abruptly (no leadership transfer), as a crash would.
func (c *testCluster) kill(tn *testNode) {
	if tn.node == nil {
		return
	}
	_ = tn.node.Kill()
	_ = tn.trans.Close()
	tn.node = nil
}

func (c *testCluster) closeAll() {
	var wg sync.WaitGroup
	for _, tn := range c.nodes {
		if tn.node == nil {
			continue
		}
		wg.Add(1)
		go func(tn *testNode) {
			defer wg.Done()
			_ = tn.node.Kill()
			_ = tn.trans.Close()
			tn.node = nil
		}(tn)
	}
	wg.Wait()
}

func (c *testCluster) running() []*testNode {
	var out []*testNode
	for _, tn := range c.nodes {
		if tn.node != nil {
			out = append(out, tn)
		}
	}
	return out
}

// waitLeader waits until exactly one running node is leader and every running, unpartitioned
// node agrees on it.
func (c *testCluster) waitLeader(within time.Duration) *testNode {
	c.t.Helper()
	var leader *testNode
	testutil.WaitFor(c.t, within, "a single leader", func() error {
		var leaders []string
		for _, tn := range c.running() {
			if tn.node.IsLeader() {
				leader = tn
				leaders = append(leaders, tn.id)
			}
		}
		if len(leaders) != 1 {
			return fmt.Errorf("leaders %v", leaders)
		}
		return nil
	})
	return leader
}

// waitNewLeader waits for a leader other than old.
func (c *testCluster) waitNewLeader(old *testNode, within time.Duration) (*testNode, time.Duration) {
	c.t.Helper()
	start := time.Now()
	var leader *testNode
	testutil.WaitUntil(c.t, within, "a new leader", func() bool {
		for _, tn := range c.running() {
			if tn != old && tn.node.IsLeader() {
				leader = tn
				return true
			}
		}
		return false
	})
	return leader, time.Since(start)
}

func (c *testCluster) followers(leader *testNode) []*testNode {
	var out []*testNode
	for _, tn := range c.running() {
		if tn != leader {
			out = append(out, tn)
		}
	}
	return out
}

// partition isolates tns from the rest (each call makes a new side).
func (c *testCluster) partition(tns ...*testNode) {
	addrs := make([]string, len(tns))
	for i, tn := range tns {
		addrs[i] = tn.addr
	}
	c.faults.Partition(addrs...)
}

// waitConverged waits until every running node has applied the same index and holds the same
// data, then returns that data.
func (c *testCluster) waitConverged(within time.Duration) map[string]string {
	c.t.Helper()
	var data map[string]string
	testutil.WaitFor(c.t, within, "nodes converged", func() error {
		nodes := c.running()
		data = nodes[0].fsm.copyData()
		for _, tn := range nodes[1:] {
			if !mapsEqual(data, tn.fsm.copyData()) || tn.node.AppliedIndex() != nodes[0].node.AppliedIndex() {
				return fmt.Errorf("%s: applied %d, %d keys; %s: applied %d, %d keys", nodes[0].id, nodes[0].node.AppliedIndex(),
					len(data), tn.id, tn.node.AppliedIndex(), len(tn.fsm.copyData()))
			}
		}
		return nil
	})
	return data
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// propose sends one set through tn with a deadline.
func propose(tn *testNode, key, value string, within time.Duration) error {
	return proposeTo(tn.node, key, value, within)
}

func proposeTo(n *Node, key, value string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	res, err := n.Propose(ctx, encodeSet(key, value))
	if err != nil {
		return err
	}
	if e, ok := res.(error); ok {
		return e
	}
	if r, ok := res.(*fsm.Result); ok && r.Err != nil {
		return r.Err
	}
	return nil
}
