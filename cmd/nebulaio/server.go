package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/nebulaio/nebulaio/config"
	"github.com/nebulaio/nebulaio/dataplane"
	"github.com/nebulaio/nebulaio/dataplane/blob"
	"github.com/nebulaio/nebulaio/engine"
	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/gossip"
	"github.com/nebulaio/nebulaio/httpapi"
	s3api "github.com/nebulaio/nebulaio/httpapi/s3"
	"github.com/nebulaio/nebulaio/snapshot"
	"github.com/nebulaio/nebulaio/transport"
	"github.com/nebulaio/nebulaio/wal"
)

// shutdownTimeout bounds a clean stop: listeners drain for at most this long after SIGTERM.
const shutdownTimeout = 15 * time.Second

// runServer is `nebulaio server`: load and check the configuration (nothing is opened before it
// is valid), start the node, and run until SIGINT or SIGTERM.
func runServer(args []string, stdout, stderr io.Writer) int {
	cfg, warnings, code := loadConfig(args, stderr)
	if code >= 0 {
		return code
	}
	log, err := newLogger(cfg.Log, cfg.NodeID, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "nebulaio: %v\n", err)
		return 2
	}
	for _, w := range warnings {
		log.Warn().Msg(w)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	n, err := startNode(ctx, cfg, log)
	if err != nil {
		log.Error().Err(err).Msg("start failed")
		return 1
	}
	printBanner(stdout, n)

	select {
	case <-ctx.Done():
		log.Info().Msg("signal received, shutting down")
	case err := <-n.failed:
		log.Error().Err(err).Msg("listener failed, shutting down")
		shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		_ = n.Close(shutdownCtx)
		return 1
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := n.Close(shutdownCtx); err != nil {
		log.Error().Err(err).Msg("unclean shutdown")
		return 1
	}
	log.Info().Msg("stopped")
	return 0
}

// loadConfig applies defaults, the --config file, the environment and the flags, then validates.
// It returns code -1 to go on, or the exit code to stop with (0 after --help, 2 on bad input).
func loadConfig(args []string, stderr io.Writer) (cfg config.Config, warnings []string, code int) {
	path := configPath(args)
	cfg, err := config.Load(path, os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "nebulaio: %v\n", err)
		return cfg, nil, 2
	}
	fs := flag.NewFlagSet("nebulaio server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.String("config", "", "YAML configuration file (flags override its keys)")
	config.Flags(fs, &cfg)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, nil, 0
		}
		return cfg, nil, 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "nebulaio: unexpected argument %q (flags are --key=value)\n", fs.Arg(0))
		return cfg, nil, 2
	}
	warnings, err = cfg.Validate()
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) && path != "" {
			ce.Source = path + " and flags"
		}
		fmt.Fprintf(stderr, "nebulaio: %v\n", err)
		return cfg, nil, 2
	}
	return cfg, warnings, -1
}

// configPath finds --config before the other flags are parsed, because the file's values must be
// in place before flags override them.
func configPath(args []string) string {
	for i, a := range args {
		for _, p := range []string{"--config", "-config"} {
			if a == p && i+1 < len(args) {
				return args[i+1]
			}
			if v, ok := strings.CutPrefix(a, p+"="); ok {
				return v
			}
		}
		if a == "--" {
			break
		}
	}
	return ""
}

// node is a running NebulaIO process: its listeners and what they serve.
type node struct {
	cfg     config.Config
	log     zerolog.Logger
	creds   credentials
	credsAt string

	admin     *http.Server
	adminAddr net.Addr
	failed    chan error // a listener stopped serving on its own

	trans  *transport.Transport
	gossip *gossip.Gossip
	fsm    *fsm.FSM
	blobs  *blob.Store
	data   *dataplane.Plane // the data plane; set before the engine starts
	s3     *http.Server
	s3Addr net.Addr

	mu     sync.Mutex
	engine *engine.Node // nil until started (a bootstrap node may wait for expect_nodes)

	cancel context.CancelFunc // stops the reconciler and a pending expect_nodes wait
	wg     sync.WaitGroup
}

func (n *node) parts() (*engine.Node, *gossip.Gossip) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.engine, n.gossip
}

// startNode opens the data directory and starts, in order: the admin listener (so probes answer
// while the rest starts), the raft transport, gossip, and the engine.
func startNode(ctx context.Context, cfg config.Config, log zerolog.Logger) (*node, error) {
	return startNodeWith(ctx, cfg, log, startHooks{})
}

// startHooks let tests into startNode; the zero value changes nothing.
type startHooks struct {
	// gossipUp is called once gossip runs and before the engine starts (which, with
	// expect_nodes, waits for the other members).
	gossipUp func(*node)
	// raftAdvertise replaces the raft address the node advertises (a proxy in front of it).
	raftAdvertise string
	// Faults injected into the raft transport and into gossip.
	transportFaults *transport.Faults
	gossipFaults    *gossip.Faults
}

// startNodeWith is startNode with test hooks.
func startNodeWith(ctx context.Context, cfg config.Config, log zerolog.Logger, hooks startHooks) (*node, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	creds, credsAt, generated, err := loadCredentials(cfg)
	if err != nil {
		return nil, err
	}
	if generated {
		log.Warn().Str("file", credsAt).Msg("no credentials configured: generated new ones and stored them (mode 0600)")
	}
	n := &node{cfg: cfg, log: log, creds: creds, credsAt: credsAt, failed: make(chan error, 4)}
	ctx, n.cancel = context.WithCancel(ctx)

	reg := httpapi.NewRegistry()
	sink, err := newMetricsSink(reg)
	if err != nil {
		return nil, err
	}
	adminLn, err := net.Listen("tcp", cfg.Admin.Address)
	if err != nil {
		return nil, fmt.Errorf("admin.address: %w", err)
	}
	n.adminAddr = adminLn.Addr()
	n.admin = httpapi.NewServer(httpapi.NewAdminHandler(httpapi.AdminOptions{
		Registry: reg,
		Ready: func() (bool, string) {
			e, _ := n.parts()
			if e == nil {
				return false, "starting: raft is not running yet"
			}
			return e.Ready(readyMaxLag)
		},
		Cluster: clusterAdmin{n},
		Token:   creds.AdminToken,
	}), httpapi.Timeouts{Read: cfg.Admin.ReadTimeout.D(), Write: cfg.Admin.WriteTimeout.D(), Idle: cfg.Admin.IdleTimeout.D()})
	go n.serve(n.admin, adminLn, "admin")

	if err := n.startCluster(ctx, sink, hooks); err != nil {
		n.stop(context.Background())
		return nil, err
	}
	if err := n.startS3(ctx, sink); err != nil {
		n.stop(context.Background())
		return nil, err
	}
	log.Info().Str("s3", n.s3Addr.String()).Str("admin", n.adminAddr.String()).Str("raft", n.trans.Addr()).Str("gossip", n.gossip.Addr()).
		Str("data_dir", cfg.DataDir).Str("role", cfg.Cluster.NodeRole).Bool("voter", cfg.Cluster.IsVoter()).Msg("node started")
	return n, nil
}

// readyMaxLag is how far (in entries) the FSM may trail the commit index and still be ready.
const readyMaxLag = 1000

// startCluster opens the raft transport, gossip and the metadata engine, and starts membership
// reconciliation.
func (n *node) startCluster(ctx context.Context, sink *httpapi.PromSink, hooks startHooks) error {
	cfg := n.cfg
	_, port, _ := net.SplitHostPort(cfg.Cluster.RaftAddress)
	advertise := net.JoinHostPort(cfg.Cluster.AdvertiseAddress, port)
	if port == "0" {
		advertise = "" // tests: the transport advertises the address the OS chose
	}
	if hooks.raftAdvertise != "" {
		advertise = hooks.raftAdvertise
	}
	trans, err := transport.New(transport.Config{BindAddr: cfg.Cluster.RaftAddress, AdvertiseAddr: advertise, Metrics: sink,
		Faults: hooks.transportFaults})
	if err != nil {
		return fmt.Errorf("cluster.raft_address: %w", err)
	}
	n.trans = trans

	var key []byte
	if cfg.Cluster.GossipKey != "" {
		if key, err = gossip.DecodeKey(cfg.Cluster.GossipKey); err != nil {
			return fmt.Errorf("cluster.gossip_key: %w", err)
		}
	}
	g, err := gossip.New(gossip.Config{
		NodeID:        cfg.NodeID,
		BindAddr:      cfg.Cluster.GossipAddress,
		AdvertiseAddr: cfg.Cluster.AdvertiseAddress,
		Meta: gossip.NodeMeta{
			Role: cfg.Cluster.NodeRole, Voter: cfg.Cluster.IsVoter(), RaftAddr: trans.Addr(),
			S3Addr:    joinHostPort(cfg.Cluster.AdvertiseAddress, cfg.S3.Address),
			AdminAddr: joinHostPort(cfg.Cluster.AdvertiseAddress, n.adminAddr.String()),
			Version:   version,
		},
		JoinAddresses: joinList(cfg.Cluster.JoinAddresses, loadPeers(cfg.DataDir, n.log)),
		SecretKey:     key,
		Logger:        n.log,
		Metrics:       sink,
		Faults:        hooks.gossipFaults,
	})
	if err != nil {
		return fmt.Errorf("cluster.gossip_address: %w", err)
	}
	n.mu.Lock()
	n.gossip = g
	n.mu.Unlock()
	if hooks.gossipUp != nil {
		hooks.gossipUp(n)
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
		OnFreed:   n.data.Freed,
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
		Metrics:          sink,
	}
	if cfg.Cluster.Bootstraps() && cfg.Cluster.ExpectNodes > 1 {
		ecfg.BootstrapServers = func() ([]engine.Server, error) {
			return waitForVoters(ctx, g, cfg.Cluster.ExpectNodes, func(have int) {
				n.log.Info().Int("have", have).Int("expect_nodes", cfg.Cluster.ExpectNodes).Msg("waiting for voters to join before bootstrapping")
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
		e.RunReconciler(ctx, newGossipSource(ctx, g, func() { rec.record(g) }), engine.ReconcileOptions{DeadReapAfter: cfg.Cluster.DeadNodeReapAfter.D()})
	}()
	return nil
}

// startData opens the blob store and the data plane. A management node holds no object
// bytes: its uploads go to hybrid and storage nodes. Membership and addresses come from the
// engine (once it runs) and gossip.
func (n *node) startData(sink *httpapi.PromSink) error {
	cfg := n.cfg
	store, err := blob.Open(filepath.Join(cfg.DataDir, "blobs"), blob.Options{Metrics: sink})
	if err != nil {
		return fmt.Errorf("data_dir: blobs: %w", err)
	}
	n.blobs = store
	d := dataplane.New(dataplane.Config{
		Local: store, Transport: n.trans, Self: cfg.NodeID,
		HoldsData: cfg.Cluster.NodeRole != config.RoleManagement,
		Resolve: func(id string) (string, bool) {
			if e, _ := n.parts(); e != nil {
				return e.ServerAddr(id)
			}
			return "", false
		},
		Members: func() []dataplane.Member { return dataMembers(n.parts()) },
		Factor:  cfg.Cluster.ReplicationFactor,
		Logger:  n.log.With().Str("component", "data").Logger(),
		Metrics: sink,
	})
	n.mu.Lock()
	n.data = d
	n.mu.Unlock()
	return nil
}

// startS3 serves the S3 API and starts the data plane's background work: garbage collection
// and scrubbing on every node, repair and the expiry of abandoned multipart uploads on the
// leader.
func (n *node) startS3(ctx context.Context, sink *httpapi.PromSink) error {
	cfg := n.cfg
	e, _ := n.parts()
	backend := quorumBackend{s3api.NewBackend(e, n.fsm, n.data), e}
	ln, err := net.Listen("tcp", cfg.S3.Address)
	if err != nil {
		return fmt.Errorf("s3.address: %w", err)
	}
	n.s3Addr = ln.Addr()
	// The listener enforces s3.read_timeout and s3.write_timeout on every read and write; the
	// handler's own progress deadlines are set no shorter, so they never cut in first.
	n.s3 = httpapi.NewStreamingServer(s3api.NewHandler(s3api.Options{
		Backend:      backend,
		Credentials:  []s3api.Credentials{{AccessKey: n.creds.AccessKey, SecretKey: n.creds.SecretKey}},
		Region:       cfg.S3.Region,
		StrictRegion: cfg.S3.StrictRegion,
		DisableSigV2: !cfg.S3.AllowSigV2,
		Domain:       cfg.S3.Domain,
		Logger:       n.log.With().Str("component", "s3").Logger(),
		Metrics:      sink,
		IdleTimeout:  max(cfg.S3.ReadTimeout.D(), cfg.S3.WriteTimeout.D()),
	}), httpapi.Timeouts{Read: cfg.S3.ReadTimeout.D(), Write: cfg.S3.WriteTimeout.D(), Idle: cfg.S3.IdleTimeout.D()})
	go n.serve(n.s3, ln, "s3")

	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.data.RunMaintenance(ctx, dataplane.Maintenance{
			Meta:            n.fsm,
			Barrier:         backend.Sync,
			IsLeader:        e.IsLeader,
			Proposer:        backend,
			RepairInterval:  cfg.Cluster.RepairInterval.D(),
			RepairDeadAfter: cfg.Cluster.RepairDeadAfter.D(),
			BytesPerSecond:  int64(cfg.Cluster.RepairMiBPerSec) << 20,
		})
	}()
	return nil
}

func (n *node) dataPlane() *dataplane.Plane {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.data
}

// dataMembers describes the raft members to the data plane: their role and liveness come from
// gossip. A member gossip has not seen (since this node started) counts as neither alive nor
// storage-capable until it shows up. Before the engine runs there are none.
func dataMembers(e *engine.Node, g *gossip.Gossip) []dataplane.Member {
	if e == nil || g == nil {
		return nil
	}
	servers, err := e.Servers()
	if err != nil {
		return nil
	}
	now := time.Now()
	out := make([]dataplane.Member, 0, len(servers))
	for _, s := range servers {
		dm := dataplane.Member{ID: s.ID}
		if m, ok := g.Member(s.ID); ok {
			dm.Storage = m.Meta.Role == config.RoleHybrid || m.Meta.Role == config.RoleStorage
			dm.Alive = m.State == gossip.StateAlive || m.Local
			if !dm.Alive {
				dm.DownFor = now.Sub(m.Since)
			}
		}
		out = append(out, dm)
	}
	return out
}

// stop shuts the node down: the engine first (a leader hands leadership over), then gossip
// leaves, then the transport closes and the admin listener drains within ctx.
func (n *node) stop(ctx context.Context) error {
	if n.cancel != nil {
		n.cancel()
	}
	n.wg.Wait()
	if n.s3 != nil {
		// Stop taking S3 requests and let those in flight finish while raft still runs.
		if err := n.s3.Shutdown(ctx); err != nil {
			n.log.Warn().Err(err).Msg("s3 listener drain")
		}
	}
	e, g := n.parts()
	if e != nil {
		if err := e.Close(); err != nil {
			n.log.Warn().Err(err).Msg("engine close")
		}
	}
	if g != nil {
		if err := g.Leave(5 * time.Second); err != nil {
			n.log.Warn().Err(err).Msg("gossip leave")
		}
		_ = g.Shutdown()
	}
	if n.trans != nil {
		_ = n.trans.Close()
	}
	if d := n.dataPlane(); d != nil {
		d.Close() // its background calls fail fast now that the transport is closed
	}
	if n.blobs != nil {
		_ = n.blobs.Close()
	}
	if n.admin != nil {
		return n.admin.Shutdown(ctx)
	}
	return nil
}

func (n *node) serve(srv *http.Server, ln net.Listener, name string) {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		n.failed <- fmt.Errorf("%s listener: %w", name, err)
	}
}

// Close stops the node within ctx's deadline.
func (n *node) Close(ctx context.Context) error { return n.stop(ctx) }

// newMetricsSink declares every package's metrics on one Prometheus sink.
func newMetricsSink(reg *prometheus.Registry) (*httpapi.PromSink, error) {
	sink := httpapi.NewPromSink(reg)
	var all []httpapi.MetricDesc
	all = appendDescs(all, wal.MetricDescs)
	all = appendDescs(all, snapshot.MetricDescs)
	all = appendDescs(all, fsm.MetricDescs)
	all = appendDescs(all, transport.MetricDescs)
	all = appendDescs(all, gossip.MetricDescs)
	all = appendDescs(all, engine.MetricDescs)
	all = appendDescs(all, dataplane.MetricDescs)
	all = appendDescs(all, blob.MetricDescs)
	all = appendDescs(all, s3api.MetricDescs)
	if err := sink.Declare(all...); err != nil {
		return nil, err
	}
	return sink, nil
}

// appendDescs converts a library's metric table (each library declares the same struct; see
// docs/CONVENTIONS.md) to the adapter's.
func appendDescs[D ~struct {
	Name string
	Kind string
	Help string
}](all []httpapi.MetricDesc, descs []D) []httpapi.MetricDesc {
	for _, d := range descs {
		all = append(all, httpapi.MetricDesc(d))
	}
	return all
}

func printBanner(w io.Writer, n *node) {
	host := func(a net.Addr) string {
		h, p, _ := net.SplitHostPort(a.String())
		if ip := net.ParseIP(h); h == "" || (ip != nil && ip.IsUnspecified()) {
			h = n.cfg.Cluster.AdvertiseAddress
		}
		return net.JoinHostPort(h, p)
	}
	fmt.Fprintf(w, `
NebulaIO %s — node %s (%s)
  S3:         http://%s   (region %s)
  Admin:      http://%s   (/health/live, /health/ready, /metrics, /api/v1/admin/)
  Raft:       %s
  Gossip:     %s
  AccessKey:  %s
  SecretKey:  %s
  AdminToken: %s
  Credentials file: %s

  Try: AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s aws --endpoint-url http://%s s3 ls
`, version, n.cfg.NodeID, n.cfg.Cluster.NodeRole, host(n.s3Addr), n.cfg.S3.Region, host(n.adminAddr),
		n.trans.Addr(), n.gossip.Addr(), n.creds.AccessKey, n.creds.SecretKey, n.creds.AdminToken, n.credsAt,
		n.creds.AccessKey, n.creds.SecretKey, host(n.s3Addr))
}

// kill stops the node abruptly, as a crash would look to the cluster: no leadership transfer,
// no gossip leave. Tests use it.
func (n *node) kill() {
	if n.cancel != nil {
		n.cancel()
	}
	n.wg.Wait()
	e, g := n.parts()
	if e != nil {
		_ = e.Kill()
	}
	if g != nil {
		_ = g.Shutdown()
	}
	if n.trans != nil {
		_ = n.trans.Close()
	}
	if d := n.dataPlane(); d != nil {
		d.Close() // its background calls fail fast now that the transport is closed
	}
	if n.s3 != nil {
		_ = n.s3.Close()
	}
	if n.blobs != nil {
		_ = n.blobs.Close()
	}
	if n.admin != nil {
		_ = n.admin.Close()
	}
}
