package testcluster

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/rs/zerolog"

	"github.com/nebulaio/nebulaio/config"
	"github.com/nebulaio/nebulaio/gossip"
	"github.com/nebulaio/nebulaio/internal/testutil"
	"github.com/nebulaio/nebulaio/internal/trust"
	"github.com/nebulaio/nebulaio/node"
	"github.com/nebulaio/nebulaio/transport"
)

// T is the part of testing.TB the harness uses; *testing.T satisfies it.
type T interface {
	Helper()
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}

// The credentials every node of a test cluster is configured with.
const (
	AccessKey  = "TESTCLUSTERACCESSKEY"
	SecretKey  = "testcluster/secret/key/0123456789"
	AdminToken = "test-admin-token"
	Region     = "us-east-1"
)

// Bounds of the harness's own waits, generous for -race on a loaded two-core machine. Tests
// that measure a bound (a failover time, a detection time) wait with their own.
const (
	startTimeout  = 60 * time.Second // node.Open up to gossip running, or to the end
	formTimeout   = 60 * time.Second // the raft configuration holding every node
	leaderTimeout = 30 * time.Second
	verifyTimeout = 60 * time.Second
)

// Options shape a test cluster. The zero value is three hybrid voters with the default
// timings.
type Options struct {
	// Nodes is the number of nodes (default 3).
	Nodes int
	// Configure adjusts node i's configuration (0-based; IDs are n1, n2, ...) after the
	// harness's defaults: listeners on 127.0.0.1:0, data in a temporary directory, the test
	// credentials, cluster.bootstrap auto on every node: node 0 (no join addresses)
	// bootstraps, and every other node without join addresses and without bootstrap: true is
	// given node 0's gossip address when it starts, so it joins.
	Configure func(i int, c *config.Config)
	// DropNet routes raft links through proxies that drop traffic across a partition instead
	// of refusing it (see the package doc).
	DropNet bool
	// ReconcileInterval replaces every node's membership reconciliation interval (default
	// 2 s; node.Options.ReconcileInterval).
	ReconcileInterval time.Duration
}

// Cluster is a set of nodes of one test. Its methods are called from the test's goroutine
// (they fail the test with Fatalf); they may also be called concurrently.
type Cluster struct {
	t      T
	base   string
	opts   Options
	trans  *transport.Faults
	gossip *gossip.Faults
	drop   *dropNet // nil without Options.DropNet
	leads  *leaderObserver
	closed atomic.Bool // set once close has stopped every node

	token trust.Token // the cluster's identity: every node is configured with it

	mu      sync.Mutex
	members []*member
	acked   map[objectKey]objectSum
}

// member is one node slot: its configuration and the node running in it.
type member struct {
	cfg config.Config

	// Guarded by Cluster.mu.
	node       *node.Node    // nil unless running and opened
	gossipAddr string        // of the current (or last) start
	opening    chan struct{} // closed when the current node.Open returned; nil before the first start
	openErr    error
	cancel     context.CancelFunc // ends the current node's context (a pending expect_nodes wait)
	raftAddr   string             // advertised raft address of the current start
}

// Start creates a cluster, starts every node (node 0 first), waits until each has opened and
// the leader's raft configuration holds every node with the suffrage its configuration asks
// for, and returns it. The nodes are killed when the test ends.
func Start(t T, opts Options) *Cluster {
	t.Helper()
	c := New(t, opts)
	for i := range c.members {
		c.Start(i)
	}
	for i := range c.members {
		c.WaitOpen(i)
	}
	c.WaitFormed()
	return c
}

// New creates a cluster's nodes without starting them.
func New(t T, opts Options) *Cluster {
	t.Helper()
	if opts.Nodes <= 0 {
		opts.Nodes = 3
	}
	c := &Cluster{t: t, base: t.TempDir(), opts: opts, trans: &transport.Faults{}, gossip: &gossip.Faults{},
		acked: map[objectKey]objectSum{}, token: NewToken(t)}
	if opts.DropNet {
		c.drop = newDropNet()
	}
	for i := 0; i < opts.Nodes; i++ {
		c.members = append(c.members, &member{cfg: c.defaultConfig(i)})
		if opts.Configure != nil {
			opts.Configure(i, &c.members[i].cfg)
		}
	}
	c.leads = startLeaderObserver(c)
	t.Cleanup(c.close)
	return c
}

func (c *Cluster) defaultConfig(i int) config.Config {
	cfg := config.Default()
	cfg.NodeID = fmt.Sprintf("n%d", i+1)
	cfg.DataDir = filepath.Join(c.base, cfg.NodeID)
	cfg.S3.Address, cfg.Admin.Address, cfg.Console.Address = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Cluster.RaftAddress, cfg.Cluster.GossipAddress = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Admin.Token, cfg.S3.AccessKey, cfg.S3.SecretKey = AdminToken, AccessKey, SecretKey
	cfg.S3.Region = Region
	cfg.Cluster.Bootstrap = config.BootstrapFalse
	if i == 0 {
		cfg.Cluster.Bootstrap = config.BootstrapTrue
	}
	// Every node gets the cluster's token: node 0 bootstraps with its identity, the others
	// join with it (docs/security.md).
	cfg.Cluster.JoinToken = c.token.Text()
	return cfg
}

// NewToken returns the join token of a new cluster: a random cluster ID and secret.
func NewToken(t T) trust.Token {
	t.Helper()
	id, err := trust.NewClusterID()
	if err != nil {
		t.Fatalf("testcluster: %v", err)
	}
	s, err := trust.NewSecret()
	if err != nil {
		t.Fatalf("testcluster: %v", err)
	}
	return trust.Token{ClusterID: id, Secret: s}
}

// Token is the cluster's join token (its ID and secret), set as cluster.join_token on every
// node the harness configures.
func (c *Cluster) Token() trust.Token { return c.token }

// Add creates one more node (configured by configure, if not nil, after the defaults: it
// joins node 0), starts it, waits until it has opened and returns its index. It does not wait
// for it to join raft.
func (c *Cluster) Add(configure func(*config.Config)) int {
	c.t.Helper()
	i := c.Len()
	m := &member{cfg: c.defaultConfig(i)}
	if configure != nil {
		configure(&m.cfg) // outside c.mu: it may ask the cluster for addresses
	}
	c.mu.Lock()
	if len(c.members) != i {
		c.mu.Unlock()
		c.t.Fatalf("testcluster: concurrent Add")
	}
	c.members = append(c.members, m)
	c.mu.Unlock()
	c.Start(i)
	c.WaitOpen(i)
	return i
}

// Len is the number of nodes, running or not.
func (c *Cluster) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.members)
}

func (c *Cluster) member(i int) *member {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if i < 0 || i >= len(c.members) {
		c.t.Fatalf("testcluster: no node %d (the cluster has %d)", i, len(c.members))
	}
	return c.members[i]
}

// Config is node i's configuration; changes apply from its next start.
func (c *Cluster) Config(i int) *config.Config { return &c.member(i).cfg }

// ID is node i's node ID.
func (c *Cluster) ID(i int) string { return c.member(i).cfg.NodeID }

// Node is node i while it runs (nil while it is stopped, or still inside node.Open).
func (c *Cluster) Node(i int) *node.Node {
	m := c.member(i)
	c.mu.Lock()
	defer c.mu.Unlock()
	return m.node
}

// MustNode is Node, failing the test when node i does not run.
func (c *Cluster) MustNode(i int) *node.Node {
	c.t.Helper()
	n := c.Node(i)
	if n == nil {
		c.t.Fatalf("testcluster: node %d (%s) is not running", i, c.ID(i))
	}
	return n
}

// Running lists the nodes that run (opened and not stopped), in index order.
func (c *Cluster) Running() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int
	for i, m := range c.members {
		if m.node != nil {
			out = append(out, i)
		}
	}
	return out
}

// GossipAddr is node i's advertised gossip address (known from the moment its gossip runs,
// before node.Open returns; kept after it stops).
func (c *Cluster) GossipAddr(i int) string {
	m := c.member(i)
	c.mu.Lock()
	defer c.mu.Unlock()
	return m.gossipAddr
}

// Start starts node i on its data directory and returns once its gossip runs (node.Open
// may still be waiting for cluster.expect_nodes; WaitOpen waits for it). The node must not
// run.
func (c *Cluster) Start(i int) {
	c.t.Helper()
	m := c.member(i)
	c.mu.Lock()
	busy := m.node != nil || (m.opening != nil && !closed(m.opening))
	c.mu.Unlock()
	if busy {
		c.t.Fatalf("testcluster: Start(%d): %s runs already", i, m.cfg.NodeID)
	}
	cfg := m.cfg
	if !cfg.Cluster.Bootstraps() && len(cfg.Cluster.JoinAddresses) == 0 {
		seed := c.GossipAddr(0)
		if seed == "" {
			c.t.Fatalf("testcluster: Start(%d): %s joins node 0, which has not started", i, cfg.NodeID)
		}
		cfg.Cluster.JoinAddresses = []string{seed}
	}
	opts := node.Options{Logger: c.logger(cfg.NodeID), Version: "test", GossipFaults: c.gossip, ReconcileInterval: c.opts.ReconcileInterval}
	if c.drop != nil {
		cfg.Cluster.RaftAddress = testutil.FreeAddr(c.t, false)
		var err error
		if opts.RaftAdvertise, err = c.drop.proxy(cfg.Cluster.RaftAddress); err != nil {
			c.t.Fatalf("testcluster: proxy: %v", err)
		}
	} else {
		opts.TransportFaults = c.trans
	}
	if _, err := cfg.Validate(); err != nil {
		c.t.Fatalf("testcluster: %s: %v", cfg.NodeID, err)
	}
	gossipUp := make(chan *node.Node, 1)
	opts.GossipUp = func(n *node.Node) { gossipUp <- n }
	ctx, cancel := context.WithCancel(context.Background())
	opening := make(chan struct{})
	c.mu.Lock()
	m.opening, m.openErr, m.cancel = opening, nil, cancel
	c.mu.Unlock()
	go func() {
		defer close(opening)
		n, err := node.Open(ctx, cfg, opts)
		c.mu.Lock()
		defer c.mu.Unlock()
		m.node, m.openErr = n, err
	}()
	select {
	case n := <-gossipUp:
		c.mu.Lock()
		m.gossipAddr, m.raftAddr = n.GossipAddr(), n.RaftAddr()
		c.mu.Unlock()
	case <-opening:
		c.mu.Lock()
		err := m.openErr
		c.mu.Unlock()
		cancel()
		c.t.Fatalf("testcluster: start %s: %v", cfg.NodeID, err)
	case <-time.After(startTimeout):
		c.t.Fatalf("testcluster: start %s: gossip not running after %s", cfg.NodeID, startTimeout)
	}
}

// Opened reports whether node i's node.Open has returned (successfully or not) since its last
// start.
func (c *Cluster) Opened(i int) bool {
	m := c.member(i)
	c.mu.Lock()
	defer c.mu.Unlock()
	return m.opening != nil && closed(m.opening)
}

// WaitOpen waits until node i's node.Open has returned, and fails the test if it failed.
func (c *Cluster) WaitOpen(i int) {
	c.t.Helper()
	m := c.member(i)
	c.mu.Lock()
	opening := m.opening
	c.mu.Unlock()
	if opening == nil {
		c.t.Fatalf("testcluster: WaitOpen(%d): %s was never started", i, m.cfg.NodeID)
	}
	select {
	case <-opening:
	case <-time.After(startTimeout):
		c.t.Fatalf("testcluster: %s still starting after %s", m.cfg.NodeID, startTimeout)
	}
	c.mu.Lock()
	err := m.openErr
	c.mu.Unlock()
	if err != nil {
		c.t.Fatalf("testcluster: start %s: %v", m.cfg.NodeID, err)
	}
}

// WaitFormed waits until some running node leads and its raft configuration holds every node
// that runs, each as a voter or a non-voter as its configuration asks.
func (c *Cluster) WaitFormed() {
	c.t.Helper()
	testutil.WaitFor(c.t, formTimeout, "the cluster formed", func() error {
		l := c.Leader()
		if l < 0 {
			return fmt.Errorf("no leader")
		}
		servers, err := c.Node(l).Engine().Servers()
		if err != nil {
			return err
		}
		have := map[string]bool{}
		for _, s := range servers {
			have[s.ID] = s.Voter
		}
		for _, i := range c.Running() {
			cfg := c.Config(i)
			voter, ok := have[cfg.NodeID]
			switch {
			case !ok:
				return fmt.Errorf("%s is not in the raft configuration %v", cfg.NodeID, servers)
			case voter != cfg.Cluster.IsVoter():
				return fmt.Errorf("%s: voter %v, want %v", cfg.NodeID, voter, cfg.Cluster.IsVoter())
			}
		}
		return nil
	})
}

// Kill stops node i abruptly (node.Kill: no leadership transfer, no gossip leave), as a crash
// would; its data stays for Restart. A node still inside node.Open is stopped too.
func (c *Cluster) Kill(i int) {
	c.t.Helper()
	if n := c.detach(i); n != nil {
		n.Kill()
	}
}

// Stop stops node i gracefully (node.Close, as on SIGTERM).
func (c *Cluster) Stop(i int) {
	c.t.Helper()
	if n := c.detach(i); n != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := n.Close(ctx); err != nil {
			c.t.Fatalf("testcluster: stop %s: %v", c.ID(i), err)
		}
	}
}

// detach takes node i out of the running set and returns it (nil if it was not running); a
// pending node.Open is ended first.
func (c *Cluster) detach(i int) *node.Node {
	m := c.member(i)
	c.mu.Lock()
	opening, cancel := m.opening, m.cancel
	c.mu.Unlock()
	if opening == nil {
		return nil
	}
	select {
	case <-opening:
	default:
		cancel() // a node waiting for expect_nodes gives up; Open stops what it started
		<-opening
	}
	cancel() // the node's background work ends with its context; Kill and Close end it too
	c.mu.Lock()
	defer c.mu.Unlock()
	n := m.node
	m.node = nil
	return n
}

// Restart stops node i abruptly if it runs, and starts it again with the same ID and data
// directory (and new ports, unless its configuration names fixed ones); it waits until
// node.Open has returned.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	c.Kill(i)
	c.Start(i)
	c.WaitOpen(i)
}

// Leader is a running node that believes it leads, or -1.
func (c *Cluster) Leader() int {
	for _, i := range c.Running() {
		if e := c.Node(i).Engine(); e != nil && e.IsLeader() {
			return i
		}
	}
	return -1
}

// Followers are the running nodes that do not lead.
func (c *Cluster) Followers() []int {
	var out []int
	for _, i := range c.Running() {
		if e := c.Node(i).Engine(); e != nil && !e.IsLeader() {
			out = append(out, i)
		}
	}
	return out
}

// WaitForLeader waits until exactly one running node leads and returns it.
func (c *Cluster) WaitForLeader() int {
	c.t.Helper()
	leader := -1
	testutil.WaitFor(c.t, leaderTimeout, "a single leader", func() error {
		var leaders []string
		for _, i := range c.Running() {
			if e := c.Node(i).Engine(); e != nil && e.IsLeader() {
				leader = i
				leaders = append(leaders, c.ID(i))
			}
		}
		if len(leaders) != 1 {
			return fmt.Errorf("leaders: %v", leaders)
		}
		return nil
	})
	return leader
}

// WaitForNewLeader waits until a running node other than old leads and returns it.
func (c *Cluster) WaitForNewLeader(old int) int {
	c.t.Helper()
	leader := -1
	testutil.WaitUntil(c.t, leaderTimeout, "a leader other than node "+fmt.Sprint(old), func() bool {
		for _, i := range c.Running() {
			if e := c.Node(i).Engine(); i != old && e != nil && e.IsLeader() {
				leader = i
				return true
			}
		}
		return false
	})
	return leader
}

// Partition puts nodes on a new side of a partition: raft and gossip links between sides are
// cut both ways (a later call makes another side, taking its nodes from the side they were
// on). The nodes are named by the addresses they run with now: a node restarted on new ports
// is on the common side again.
func (c *Cluster) Partition(nodes ...int) {
	c.t.Helper()
	var raft, goss []string
	for _, i := range nodes {
		m := c.member(i)
		c.mu.Lock()
		raft, goss = append(raft, m.raftAddr), append(goss, m.gossipAddr)
		c.mu.Unlock()
	}
	if c.drop != nil {
		c.drop.partition(raft...)
	} else {
		c.trans.Partition(raft...)
	}
	c.gossip.Partition(goss...)
}

// Heal removes every partition.
func (c *Cluster) Heal() {
	if c.drop != nil {
		c.drop.heal()
	}
	c.trans.Heal()
	c.gossip.Heal()
}

// TransportFaults are the faults every node's transport shares (nil with DropNet), for delays
// and drop rates (transport.Faults.Delay, DropRate) by raft address.
func (c *Cluster) TransportFaults() *transport.Faults {
	if c.drop != nil {
		return nil
	}
	return c.trans
}

// S3Endpoint is node i's S3 base URL.
func (c *Cluster) S3Endpoint(i int) string { return "http://" + c.MustNode(i).S3Addr().String() }

// AdminURL is node i's admin API base URL (bearer token AdminToken).
func (c *Cluster) AdminURL(i int) string { return "http://" + c.MustNode(i).AdminAddr().String() }

// S3Client is an AWS SDK client of node i's S3 endpoint with the cluster's credentials
// (path-style addressing, the SDK's default retries).
func (c *Cluster) S3Client(i int) *s3.Client {
	c.t.Helper()
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(c.S3Endpoint(i)), Region: Region, UsePathStyle: true,
		Credentials: awscreds.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
	})
}

// close kills every node (in parallel) and the proxies; it runs when the test ends.
func (c *Cluster) close() {
	c.leads.stop()
	var wg sync.WaitGroup
	for i := range c.Len() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if n := c.detach(i); n != nil {
				n.Kill()
			}
		}()
	}
	wg.Wait()
	if c.drop != nil {
		c.drop.close()
	}
	c.closed.Store(true)
}

func (c *Cluster) logger(id string) zerolog.Logger {
	return zerolog.New(logWriter{c}).Level(zerolog.WarnLevel).With().Timestamp().Str("node_id", id).Logger()
}

// logWriter writes each log line to the test's log until the cluster is closed; lines logged
// later (memberlist's last probe may run a while after its Shutdown) are dropped, because
// testing.T rejects logging after the test has completed.
type logWriter struct{ c *Cluster }

func (w logWriter) Write(p []byte) (int, error) {
	if !w.c.closed.Load() {
		w.c.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func closed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
