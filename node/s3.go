package node

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/nebulaio/nebulaio/config"
	"github.com/nebulaio/nebulaio/dataplane"
	"github.com/nebulaio/nebulaio/engine"
	"github.com/nebulaio/nebulaio/httpapi"
	s3api "github.com/nebulaio/nebulaio/httpapi/s3"
	"github.com/nebulaio/nebulaio/lifecycle"
)

// startS3 serves the S3 API and starts the data plane's background work: garbage collection
// and scrubbing on every node, repair and the expiry of abandoned multipart uploads on the
// leader.
func (n *Node) startS3(ctx context.Context, sink *httpapi.PromSink) error {
	cfg := n.cfg
	e, data := n.Engine(), n.Data()
	var backend s3api.Backend = quorumBackend{s3api.NewBackend(e, n.fsm, data), e}
	if cfg.Cluster.DegradedReads {
		backend = degradedBackend{backend, e}
	}
	ln, err := net.Listen("tcp", cfg.S3.Address)
	if err != nil {
		return fmt.Errorf("s3.address: %w", err)
	}
	n.s3Addr = ln.Addr()
	if n.s3TLS != nil {
		ln = n.s3TLS.Listener(ln)
	}
	// The listener enforces s3.read_timeout and s3.write_timeout on every read and write; the
	// handler's own progress deadlines are set no shorter, so they never cut in first.
	n.s3 = httpapi.NewStreamingServer(markStale(s3api.NewHandler(s3api.Options{
		Backend:      backend,
		Credentials:  []s3api.Credentials{{AccessKey: n.creds.AccessKey, SecretKey: n.creds.SecretKey}},
		Keys:         n.keys,
		AuthLimit:    authLimit(cfg),
		Region:       cfg.S3.Region,
		StrictRegion: cfg.S3.StrictRegion,
		DisableSigV2: !cfg.S3.AllowSigV2,
		Domain:       cfg.S3.Domain,
		Logger:       n.log.With().Str("component", "s3").Logger(),
		Metrics:      sink,
		IdleTimeout:  max(cfg.S3.ReadTimeout.D(), cfg.S3.WriteTimeout.D()),
		Now:          n.opts.Now,
		LifecycleDay: cfg.Lifecycle.Day.D(),
		Keyring:      n.keyring,
		// The request's own TLS state decides SSE-C, so a node behind a TLS-terminating
		// proxy needs s3.allow_sse_c_over_http.
		AllowSSECOverHTTP: cfg.S3.AllowSSECOverHTTP,
		InlineObjectSize:  int64(cfg.Performance.InlineObjectSize),
		InlineAllowed:     n.inlineAllowed,
	}), cfg.Cluster.DegradedReads), httpapi.Timeouts{Read: cfg.S3.ReadTimeout.D(), Write: cfg.S3.WriteTimeout.D(), Idle: cfg.S3.IdleTimeout.D()})
	go n.serve(n.s3, ln, "s3")
	n.mu.Lock()
	n.backend = backend
	n.mu.Unlock()

	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		data.RunMaintenance(ctx, n.maintenance())
	}()

	// Lifecycle rules run on the leader as ordinary proposals (package lifecycle); the S3
	// handler's x-amz-expiration dates use the same day length.
	lc := lifecycle.New(lifecycle.Config{
		Meta: n.fsm, Proposer: backend, Barrier: backend.Sync, IsLeader: e.IsLeader,
		Day: cfg.Lifecycle.Day.D(), Interval: cfg.Lifecycle.Interval.D(),
		Rate:    cfg.Lifecycle.MaxExpirationsPerSecond,
		Logger:  n.log.With().Str("component", "lifecycle").Logger(),
		Metrics: sink,
	})
	n.mu.Lock()
	n.lifecycle = lc
	n.mu.Unlock()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		lc.Run(ctx)
	}()
	return nil
}

// maintenance is what the data plane's background work (and the admin API's LastCopies)
// needs of the node, with the configured schedule and bandwidths. Its barrier is always
// linearizable: the walks must see every acknowledged write, degraded reads or not.
func (n *Node) maintenance() dataplane.Maintenance {
	cfg, e := n.cfg, n.Engine()
	backend := s3api.NewBackend(e, n.fsm, n.Data())
	return dataplane.Maintenance{
		Meta:                  n.fsm,
		Barrier:               backend.Sync,
		IsLeader:              e.IsLeader,
		Proposer:              backend,
		RepairInterval:        cfg.Cluster.RepairInterval.D(),
		RepairDeadAfter:       cfg.Cluster.RepairDeadAfter.D(),
		BytesPerSecond:        int64(cfg.Cluster.RepairMiBPerSec) << 20,
		BalanceBytesPerSecond: cfg.Cluster.RebalanceBytesPerSec,
	}
}

// quorumBackend runs blob writes under the engine's quorum fence: a node cut off from the
// quorum (no contact with a leader for one election plus one heartbeat timeout) stops streaming
// an upload to peers it cannot reach and answers 503 at once, instead of after the transport's
// timeouts (issue 22: 10 s), since the write's metadata could not commit anyway.
type quorumBackend struct {
	s3api.Backend
	e *engine.Node
}

func (q quorumBackend) PutBlob(ctx context.Context, id string, r io.Reader, size int64, wantMD5 []byte) (int64, []byte, []string, error) {
	qctx, cancel := q.e.WithQuorum(ctx)
	defer cancel()
	n, sum, nodes, err := q.Backend.PutBlob(qctx, id, r, size, wantMD5)
	if err != nil && ctx.Err() == nil && qctx.Err() != nil {
		err = context.Cause(qctx) // wraps engine.ErrNoQuorum: 503 with Retry-After
	}
	return n, sum, nodes, err
}

// inlineAllowed reports whether a write may carry its bytes inside its event: only while every
// voter is known (through gossip) to be a hybrid node. Inline bytes are stored by every voter,
// and a management voter must hold no object bytes; a voter gossip has not seen yet, whose role
// is unknown, counts as one that may be a management node. Decided per write, from the
// current raft configuration (docs/DECISIONS.md, 2026-12-07).
func (n *Node) inlineAllowed() bool {
	e, g := n.parts()
	if e == nil || g == nil {
		return false
	}
	servers, err := e.Servers()
	if err != nil {
		return false
	}
	for _, s := range servers {
		if !s.Voter {
			continue
		}
		m, ok := g.Member(s.ID)
		if !ok || m.Meta.Role != config.RoleHybrid {
			return false
		}
	}
	return true
}
