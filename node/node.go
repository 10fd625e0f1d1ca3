package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/nebulaio/nebulaio/config"
	"github.com/nebulaio/nebulaio/dataplane"
	"github.com/nebulaio/nebulaio/dataplane/blob"
	"github.com/nebulaio/nebulaio/engine"
	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/gossip"
	"github.com/nebulaio/nebulaio/httpapi"
	"github.com/nebulaio/nebulaio/httpapi/console"
	s3api "github.com/nebulaio/nebulaio/httpapi/s3"
	"github.com/nebulaio/nebulaio/iam"
	"github.com/nebulaio/nebulaio/internal/sse"
	"github.com/nebulaio/nebulaio/lifecycle"
	"github.com/nebulaio/nebulaio/transport"
)

// Options are what a node needs besides its configuration. The zero value is valid: no log
// output, version "dev", no test hooks.
type Options struct {
	// Logger receives the node's log; every line should carry node_id (the caller adds it).
	Logger zerolog.Logger
	// Version is the build's version, advertised in gossip and shown by the admin API.
	Version string

	// The fields below are hooks for tests; production leaves them zero.

	// GossipUp is called once gossip runs, before the engine starts (which, with
	// cluster.expect_nodes, waits for the other members inside Open).
	GossipUp func(*Node)
	// RaftAdvertise replaces the raft address the node advertises (a proxy in front of it).
	RaftAdvertise string
	// TransportFaults and GossipFaults inject faults into the raft transport and gossip.
	TransportFaults *transport.Faults
	GossipFaults    *gossip.Faults
	// ReconcileInterval replaces the membership reconciler's interval (default 2 s), so that
	// tests can watch many reconciliations in a short time.
	ReconcileInterval time.Duration
	// Now replaces the S3 layer's wall clock (signature time checks, object and upload
	// times, version IDs); nil is time.Now. The fault suite steps it to act out a clock jump
	// (cmd/nebulaio: NEBULAIO_TEST_CLOCK_OFFSET_FILE). Raft, gossip and timeouts run on the
	// monotonic clock, which a step of the wall clock does not move.
	Now func() time.Time
}

// Node is one running NebulaIO server: its listeners and what they serve. Open starts it,
// Serve waits on it, Close stops it gracefully and Kill abruptly (see doc.go).
type Node struct {
	cfg     config.Config
	opts    Options
	log     zerolog.Logger
	creds   Credentials
	origins CredentialOrigins
	credsAt string
	keys    *iam.Keyring  // seals and opens users' secret keys
	trust   *clusterTrust // the cluster identity and TLS credentials; set by openTrust, then fixed

	admin     *http.Server
	adminAddr net.Addr
	// s3TLS and adminTLS serve the listeners' certificates (nil: plain HTTP); ReloadTLS
	// reloads them. keyring holds the SSE-S3 master keys (nil: none configured). Set in
	// Open before any listener starts, not changed after.
	s3TLS, adminTLS *httpapi.CertReloader
	keyring         *sse.Keyring
	failed          chan error // a listener stopped serving on its own

	// The console listener and what it records (console.go); set by Open before anything
	// else starts and not changed after.
	console     *http.Server
	consoleAddr net.Addr
	latency     *console.Latency
	events      *console.Events

	// Set during Open, in start order, and not changed after; trans, fsm, blobs and s3 are read
	// only by the goroutine that runs Open and by Close/Kill after it.
	trans  *transport.Transport
	fsm    *fsm.FSM
	blobs  *blob.Store
	s3     *http.Server
	s3Addr net.Addr

	// mu guards the parts the admin API and the data plane read while Open still runs (a
	// bootstrap node may wait for expect_nodes for a long time): nil until started.
	mu        sync.Mutex
	gossip    *gossip.Gossip
	data      *dataplane.Plane
	engine    *engine.Node
	lifecycle *lifecycle.Runner
	backend   s3api.Backend // what S3 requests and the admin API's identity store propose through

	cancel context.CancelFunc // stops the reconciler, maintenance and a pending expect_nodes wait
	wg     sync.WaitGroup     // the reconciler and maintenance goroutines

	removal removal // this node's own removal, as it learns of it (membership.go)
}

// readyMaxLag is how far (in entries) the FSM may trail the commit index and still be ready.
const readyMaxLag = 1000

// Open starts a node from a validated configuration and returns once it serves S3: it opens
// the data directory and the credentials, starts the admin listener (probes answer while the
// rest starts), the raft transport, gossip, the blob store and data plane, the FSM and the
// engine (a bootstrap node with cluster.expect_nodes > 1 waits here for the other voters, until
// ctx ends), the membership reconciler, the S3 listener and the data plane's maintenance. On an
// error, whatever was started is stopped again. ctx bounds the start and the background work:
// when it ends, the reconciler and maintenance stop (Close stops them too).
func Open(ctx context.Context, cfg config.Config, opts Options) (*Node, error) {
	if opts.Version == "" {
		opts.Version = "dev"
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	creds, origins, credsAt, generated, err := loadCredentials(cfg)
	if err != nil {
		return nil, err
	}
	if generated {
		opts.Logger.Warn().Str("file", credsAt).Msg("no credentials configured: generated new ones and stored them (mode 0600)")
	}
	n := &Node{cfg: cfg, opts: opts, log: opts.Logger, creds: creds, origins: origins, credsAt: credsAt, failed: make(chan error, 4)}
	if err := n.loadSecurity(); err != nil {
		return nil, err
	}
	ctx, n.cancel = context.WithCancel(ctx)

	sink, reg, err := newMetricsSink()
	if err != nil {
		return nil, err
	}
	n.reportTLS(sink)
	if err := n.openTrust(sink); err != nil {
		return nil, err
	}
	if err := n.openKeyring(); err != nil {
		return nil, err
	}
	if err := n.startAdmin(reg, sink); err != nil {
		return nil, err
	}
	if err := n.startConsole(); err != nil {
		_ = n.Close(context.Background())
		return nil, err
	}
	if err := n.startCluster(ctx, sink); err != nil {
		_ = n.Close(context.Background())
		return nil, err
	}
	if err := n.startS3(ctx, sink); err != nil {
		_ = n.Close(context.Background())
		return nil, err
	}
	n.log.Info().Str("cluster", n.ClusterID()).Str("s3", n.s3Addr.String()).Str("admin", n.adminAddr.String()).Str("console", n.consoleAddr.String()).Str("raft", n.trans.Addr()).Str("gossip", n.Gossip().Addr()).
		Str("data_dir", cfg.DataDir).Str("role", cfg.Cluster.NodeRole).Bool("voter", cfg.Cluster.IsVoter()).Msg("node started")
	return n, nil
}

// Serve blocks until ctx ends (it returns nil) or a listener stops serving on its own (it
// returns that error). It does not stop the node: call Close after it.
func (n *Node) Serve(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-n.failed:
		return err
	}
}

func (n *Node) serve(srv *http.Server, ln net.Listener, name string) {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		n.failed <- fmt.Errorf("%s listener: %w", name, err)
	}
}

// Close stops the node gracefully within ctx's deadline, in this order: the background work
// (reconciler, maintenance, a pending expect_nodes wait) ends; the S3 listener stops taking
// requests and drains those in flight while raft still runs; the engine closes (a leader
// transfers leadership first); the node leaves gossip (others see "left", not "dead") and
// gossip stops; the transport closes, then the data plane and the blob store; last the admin
// listener drains, so probes answer until the end. Errors along the way are logged; the
// admin listener's drain error is returned.
func (n *Node) Close(ctx context.Context) error {
	n.stopBackground()
	if n.s3 != nil {
		if err := n.s3.Shutdown(ctx); err != nil {
			n.log.Warn().Err(err).Msg("s3 listener drain")
		}
	}
	if n.console != nil {
		if err := n.console.Shutdown(ctx); err != nil {
			n.log.Warn().Err(err).Msg("console listener drain")
		}
	}
	if e := n.Engine(); e != nil {
		if err := e.Close(); err != nil {
			n.log.Warn().Err(err).Msg("engine close")
		}
	}
	if g := n.Gossip(); g != nil {
		if err := g.Leave(5 * time.Second); err != nil {
			n.log.Warn().Err(err).Msg("gossip leave")
		}
		_ = g.Shutdown()
	}
	n.closeStorage()
	if n.admin != nil {
		return n.admin.Shutdown(ctx)
	}
	return nil
}

// Kill stops the node abruptly, as a crash looks to the rest of the cluster: no leadership
// transfer, no gossip leave, no drain of the listeners. What was committed stays on disk;
// tests use it to fail a node and Open it again on the same data.
func (n *Node) Kill() {
	n.stopBackground()
	if e := n.Engine(); e != nil {
		_ = e.Kill()
	}
	if g := n.Gossip(); g != nil {
		_ = g.Shutdown()
	}
	if n.s3 != nil {
		_ = n.s3.Close()
	}
	if n.console != nil {
		_ = n.console.Close()
	}
	n.closeStorage()
	if n.admin != nil {
		_ = n.admin.Close()
	}
}

func (n *Node) stopBackground() {
	if n.cancel != nil {
		n.cancel()
	}
	n.wg.Wait()
}

// closeStorage closes the transport, the data plane (whose background calls fail fast once
// the transport is closed) and the blob store.
func (n *Node) closeStorage() {
	if n.trans != nil {
		_ = n.trans.Close()
	}
	if d := n.Data(); d != nil {
		d.Close()
	}
	if n.blobs != nil {
		_ = n.blobs.Close()
	}
}

// ID is the node's ID (node_id).
func (n *Node) ID() string { return n.cfg.NodeID }

// Config is the configuration the node runs with.
func (n *Node) Config() config.Config { return n.cfg }

// Credentials are the node's root secrets (configured, stored or generated).
func (n *Node) Credentials() Credentials { return n.creds }

// CredentialOrigins says where each root secret came from at this start (only generated ones
// may be shown).
func (n *Node) CredentialOrigins() CredentialOrigins { return n.origins }

// CredentialsFile is where generated secrets are kept (data_dir/credentials.json).
func (n *Node) CredentialsFile() string { return n.credsAt }

// S3Addr is the address the S3 listener is bound to (the port the OS chose for ":0").
func (n *Node) S3Addr() net.Addr { return n.s3Addr }

// AdminAddr is the address the admin listener is bound to.
func (n *Node) AdminAddr() net.Addr { return n.adminAddr }

// RaftAddr is the raft and node-to-node address the node advertises (the transport's).
func (n *Node) RaftAddr() string { return n.trans.Addr() }

// GossipAddr is the gossip address the node advertises ("" before gossip runs).
func (n *Node) GossipAddr() string {
	if g := n.Gossip(); g != nil {
		return g.Addr()
	}
	return ""
}

// Engine is the raft node; nil until it runs (a bootstrap node may wait for expect_nodes).
func (n *Node) Engine() *engine.Node {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.engine
}

// Gossip is the node's gossip member; nil until it runs.
func (n *Node) Gossip() *gossip.Gossip {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.gossip
}

// Data is the node's data plane; nil until it runs.
func (n *Node) Data() *dataplane.Plane {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.data
}

// FSM is the node's metadata state machine; nil until the engine is being opened.
func (n *Node) FSM() *fsm.FSM { return n.fsm }

// Blobs is the node's local blob store (empty on a management node); nil until it is open.
func (n *Node) Blobs() *blob.Store { return n.blobs }

// parts returns the engine and gossip, either nil while the node starts.
func (n *Node) parts() (*engine.Node, *gossip.Gossip) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.engine, n.gossip
}
