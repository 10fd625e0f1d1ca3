package dataplane

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nebulaio/nebulaio/dataplane/blob"
	"github.com/nebulaio/nebulaio/fsm"
)

// Metadata is what the background work reads of the committed metadata; *fsm.FSM satisfies
// it. The walks read the local state as it is: Maintenance.Barrier comes first.
type Metadata interface {
	// WalkBlobs calls fn for every blob an object or a part of an open upload references,
	// once each, as of one point in time; fn must be quick.
	WalkBlobs(ctx context.Context, fn func(fsm.BlobRef) error) error
	// WalkUploads calls fn for every open multipart upload.
	WalkUploads(ctx context.Context, fn func(fsm.UploadInfo) error) error
}

var _ Metadata = (*fsm.FSM)(nil)

// Proposer replicates a metadata event and returns the FSM's result once it is applied (the
// S3 backend's Propose). An error means the outcome is unknown.
type Proposer interface {
	Propose(ctx context.Context, ev fsm.Event) (*fsm.Result, error)
}

// Maintenance is what the background work needs from the rest of the node, and its schedule.
// Zero durations take the defaults named.
type Maintenance struct {
	// Meta is the committed metadata. Required.
	Meta Metadata
	// Barrier returns once the local metadata reflects every write acknowledged before the
	// call (a linearizable read barrier, engine.Node.Read). Required.
	Barrier func(ctx context.Context) error
	// IsLeader reports whether this node drives repair and upload expiry now. Required by
	// RunMaintenance.
	IsLeader func() bool
	// Proposer replicates the aborts of expired uploads. Required by ExpireUploads.
	Proposer Proposer

	// RepairInterval is the time between repair passes on the leader (default 1m).
	RepairInterval time.Duration
	// RepairDeadAfter: the copies on a member that has not been alive for this long no
	// longer count (default 10m). Copies on a member removed from the cluster never count.
	RepairDeadAfter time.Duration
	// BytesPerSecond throttles the bytes repair copies and the scrubber reads; 0 means
	// unthrottled.
	BytesPerSecond int64
	// BalanceBytesPerSecond throttles the bytes the balancer copies (rebalance and drain);
	// 0 means unthrottled.
	BalanceBytesPerSecond int64
	// BalanceCheck is how often the leader checks whether the placement changed (a storage
	// member joined or left, a drain began or was cancelled): a change runs a balance pass at
	// once (default 2s). A pass that left work (a drain not finished, blobs not moved) runs
	// again after BalanceRetry (default 5s); otherwise a pass runs every BalanceInterval
	// (default 10m).
	BalanceCheck    time.Duration
	BalanceRetry    time.Duration
	BalanceInterval time.Duration
	// ScrubInterval: every node reads all its blobs once per interval (default 24h).
	ScrubInterval time.Duration
	// GCInterval is the time between garbage collections on every node (default 10m); the
	// first one runs FirstRun after the start (default 30s).
	GCInterval time.Duration
	FirstRun   time.Duration
	// GCGrace: an unreferenced blob younger than this may belong to a write in flight and is
	// spared (default 1h). It must exceed the longest a write can stay between its blob's
	// publication and its commit.
	GCGrace time.Duration
	// UploadMaxAge: multipart uploads initiated longer ago are aborted by the leader
	// (default 7 days), checked every UploadInterval (default 1h).
	UploadMaxAge   time.Duration
	UploadInterval time.Duration
}

// Defaults of Maintenance.
const (
	DefaultRepairInterval  = time.Minute
	DefaultRepairDeadAfter = 10 * time.Minute
	DefaultScrubInterval   = 24 * time.Hour
	DefaultGCInterval      = 10 * time.Minute
	DefaultFirstRun        = 30 * time.Second
	DefaultGCGrace         = time.Hour
	DefaultUploadMaxAge    = 7 * 24 * time.Hour
	DefaultUploadInterval  = time.Hour
	DefaultBalanceCheck    = 2 * time.Second
	DefaultBalanceRetry    = 5 * time.Second
	DefaultBalanceInterval = 10 * time.Minute
)

func (m Maintenance) withDefaults() Maintenance {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&m.RepairInterval, DefaultRepairInterval)
	def(&m.RepairDeadAfter, DefaultRepairDeadAfter)
	def(&m.ScrubInterval, DefaultScrubInterval)
	def(&m.GCInterval, DefaultGCInterval)
	def(&m.FirstRun, DefaultFirstRun)
	def(&m.GCGrace, DefaultGCGrace)
	def(&m.UploadMaxAge, DefaultUploadMaxAge)
	def(&m.UploadInterval, DefaultUploadInterval)
	def(&m.BalanceCheck, DefaultBalanceCheck)
	def(&m.BalanceRetry, DefaultBalanceRetry)
	def(&m.BalanceInterval, DefaultBalanceInterval)
	return m
}

// RunMaintenance runs the background work of the data plane until ctx ends: on every node the
// garbage collector (every GCInterval) and the scrubber (every ScrubInterval, on nodes that
// hold data); on the leader, repair (every RepairInterval), the balancer (runBalancer) and
// upload expiry (every UploadInterval, checked at each garbage collection).
func (d *Plane) RunMaintenance(ctx context.Context, m Maintenance) {
	m = m.withDefaults()
	var wg sync.WaitGroup
	run := func(fn func()) {
		wg.Add(1)
		go func() { defer wg.Done(); fn() }()
	}
	run(func() {
		every(ctx, m.RepairInterval, m.RepairInterval, func() {
			if !m.IsLeader() {
				return
			}
			if _, err := d.RepairPass(ctx, m); err != nil && ctx.Err() == nil {
				d.log.Warn().Err(err).Msg("repair pass")
			}
		})
	})
	run(func() { d.runBalancer(ctx, m) })
	if d.cfg.HoldsData {
		run(func() {
			every(ctx, m.ScrubInterval, m.ScrubInterval, func() {
				st, err := d.ScrubPass(ctx, m.BytesPerSecond)
				if err != nil && ctx.Err() == nil {
					d.log.Warn().Err(err).Msg("scrub pass")
				}
				d.log.Info().Int("verified", st.Verified).Int("dropped", st.Dropped).Int64("bytes", st.Bytes).Msg("scrub pass done")
			})
		})
	}
	run(func() {
		var lastUploads time.Time
		every(ctx, m.FirstRun, m.GCInterval, func() {
			if st, err := d.CollectGarbage(ctx, m, time.Now()); err != nil && ctx.Err() == nil {
				d.log.Warn().Err(err).Msg("blob garbage collection")
			} else {
				d.log.Debug().Interface("stats", st).Msg("blob garbage collection")
			}
			if !m.IsLeader() || time.Since(lastUploads) < m.UploadInterval {
				return
			}
			lastUploads = time.Now()
			if k, err := d.ExpireUploads(ctx, m, time.Now()); err != nil && ctx.Err() == nil {
				d.log.Warn().Err(err).Msg("abort stale multipart uploads")
			} else if k > 0 {
				d.log.Info().Int("aborted", k).Msg("aborted stale multipart uploads")
			}
		})
	})
	wg.Wait()
}

// every calls fn after first, then every interval after the previous call returned, until ctx
// ends.
func every(ctx context.Context, first, interval time.Duration, fn func()) {
	t := time.NewTimer(first)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fn()
		t.Reset(interval)
	}
}

// GCStats reports one garbage collection pass.
type GCStats struct {
	Scanned    int // local blobs
	Candidates int // of those, published before now-grace
	Referenced int // blob references the metadata walk reported
	Deleted    int // candidates nothing referenced, deleted
	// TempRemoved counts temporary files of blob writes not written for GCGrace: files a
	// failed write could not remove (the blob store removes the others itself).
	TempRemoved int
}

// CollectGarbage deletes the local blobs that the metadata does not reference and that were
// published before now-m.GCGrace: the blobs of writes whose outcome was unknown (503) and did
// not commit, copies that repair made of a blob freed meanwhile, and freed blobs whose
// deletion was dropped or missed (a node down, a snapshot installed instead of the log).
// Order matters: the store is listed first, then the metadata is walked after the barrier, so
// a blob is only deleted if it was already old when listed and is unreferenced in a state that
// includes every write acknowledged before the pass. A write that failed with an unknown
// outcome and commits later than the grace period loses its bytes. The pass holds the IDs of
// the old local blobs in memory.
func (d *Plane) CollectGarbage(ctx context.Context, m Maintenance, now time.Time) (GCStats, error) {
	m = m.withDefaults()
	var st GCStats
	if !d.cfg.HoldsData {
		return st, nil
	}
	n, err := d.local.RemoveStaleTemp(m.GCGrace)
	st.TempRemoved = n
	if err != nil {
		return st, fmt.Errorf("dataplane: gc: %w", err)
	}
	candidates := map[string]struct{}{}
	err = d.local.List(func(e blob.Entry) error {
		st.Scanned++
		if now.Sub(e.ModTime) > m.GCGrace {
			candidates[e.ID] = struct{}{}
		}
		return ctx.Err()
	})
	if err != nil {
		return st, fmt.Errorf("dataplane: gc: list blobs: %w", err)
	}
	st.Candidates = len(candidates)
	if len(candidates) == 0 {
		return st, nil
	}
	if err := m.Barrier(ctx); err != nil {
		return st, fmt.Errorf("dataplane: gc: read barrier: %w", err)
	}
	err = m.Meta.WalkBlobs(ctx, func(r fsm.BlobRef) error {
		if r.Inline { // in the metadata, never a local file (fsm, "Inline blobs")
			return nil
		}
		st.Referenced++
		for _, id := range blobIDs(r.ID) { // an erasure-coded blob's shards
			delete(candidates, id)
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("dataplane: gc: walk the metadata: %w", err)
	}
	for id := range candidates {
		if err := d.local.Delete(id); err != nil {
			if errors.Is(err, blob.ErrNotFound) {
				continue // freed and deleted meanwhile
			}
			return st, fmt.Errorf("dataplane: gc: delete %s: %w", id, err)
		}
		st.Deleted++
		d.m.Counter(MetricGCDeleted, 1)
	}
	return st, nil
}

// ExpireUploads aborts every multipart upload initiated before now-m.UploadMaxAge (S3's
// lifecycle "AbortIncompleteMultipartUpload") and returns how many it aborted; every storage
// node then deletes its copies of their parts (Freed). Run it on one node at a time (the
// leader): two concurrent passes only race to abort the same upload, and the loser's
// NoSuchUpload is not counted.
func (d *Plane) ExpireUploads(ctx context.Context, m Maintenance, now time.Time) (int, error) {
	m = m.withDefaults()
	if err := m.Barrier(ctx); err != nil {
		return 0, fmt.Errorf("dataplane: upload expiry: read barrier: %w", err)
	}
	cutoff := now.Add(-m.UploadMaxAge).UnixNano()
	var stale []fsm.UploadInfo
	err := m.Meta.WalkUploads(ctx, func(u fsm.UploadInfo) error {
		if u.Initiated < cutoff {
			stale = append(stale, u)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("dataplane: upload expiry: walk the uploads: %w", err)
	}
	aborted := 0
	for _, u := range stale {
		res, err := m.Proposer.Propose(ctx, &fsm.AbortMultipartUpload{Bucket: u.Bucket, Key: u.Key, UploadID: u.UploadID})
		if err != nil {
			return aborted, fmt.Errorf("dataplane: upload expiry: abort %s: %w", u.UploadID, err)
		}
		if res.Err == nil {
			aborted++
			d.m.Counter(MetricUploadsExpired, 1)
		}
	}
	return aborted, nil
}
