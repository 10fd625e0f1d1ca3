package dataplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nebulaio/nebulaio/fsm"
)

// The balancer moves blobs to where placement wants them: after a storage node joins
// (rebalance: the rendezvous order over the new set of storage members puts about
// factor/(N+1) of the copies on the new node) and off members that are draining (drain: every
// blob they hold gets its copies on the other storage members, then the member is marked
// drained). It runs on the leader (RunMaintenance), like repair, and works from the nodes'
// inventories, not from a plan: a pass that a leader change cuts short leaves blobs where they
// are, each intact, and the next leader's first pass finds what is left.
//
// A blob is moved by copy, check, then delete: the targets that lack it fetch it from a holder
// (blob.fetch); every target is asked again (the fetch is idempotent: a target that has the
// copy answers at once), so the delete below never runs on an inventory that went stale; then
// copies outside the placement are deleted, except on draining members (their copies go with
// them when they are removed). No read can miss the blob at any point: readers try the
// placement first and every alive storage member after it.

// BalanceStats is the balancer's progress as the node that drives it (the leader) reports it.
type BalanceStats struct {
	Driver          string    `json:"driver"`
	Running         bool      `json:"running"`
	Passes          uint64    `json:"passes"`
	PassStart       time.Time `json:"pass_start"` // of the running pass, or of the last one
	LastPassSeconds float64   `json:"last_pass_seconds"`
	LastPassError   string    `json:"last_pass_error,omitempty"`
	Factor          int       `json:"replication_factor"`
	StorageNodes    int       `json:"storage_nodes"`   // placement may choose them (not draining)
	BlobsChecked    uint64    `json:"blobs_checked"`   // this (or the last) pass
	BlobCopies      uint64    `json:"blob_copies"`     // copies found by this pass's inventories
	Misplaced       uint64    `json:"misplaced"`       // blobs off their placement at the pass's start
	MisplacedBytes  uint64    `json:"misplaced_bytes"` // their size
	Moved           uint64    `json:"moved"`           // of those, brought to their placement so far
	MovedBytes      uint64    `json:"moved_bytes"`
	CopiesMade      uint64    `json:"copies_made"`    // this pass: copies fetched to placement targets
	CopiesDeleted   uint64    `json:"copies_deleted"` // this pass: copies deleted off placement
	CopyErrors      uint64    `json:"copy_errors"`    // this pass
	Waiting         uint64    `json:"waiting"`        // this pass: misplaced, but a placement target is down
	Recent          uint64    `json:"recent"`         // this pass: written with another placement too recently to move (the next pass does)
	Deferred        uint64    `json:"deferred"`       // this pass: beyond the pass's limit, left to the next
	// RateBytesPerSec is what this pass copied per second so far; ETASeconds the misplaced
	// bytes left at that rate (-1 while unknown).
	RateBytesPerSec float64         `json:"rate_bytes_per_sec"`
	ETASeconds      float64         `json:"eta_seconds"`
	Drains          []DrainProgress `json:"drains,omitempty"`
	// Since the placement last changed (a storage member joined or left, a drain began or
	// ended) as this driver saw it, summed over its passes: PlacementSince is when it saw the
	// change, ChangeCopies the most blob copies a pass found since, ChangeCopiesMade the
	// copies made since, and ChangeMovedFraction their ratio — about 1/(N+1) of the data after
	// a storage node joins N (rendezvous placement moves only the copies the new node wins).
	PlacementSince      time.Time `json:"placement_since"`
	ChangeCopies        uint64    `json:"change_copies"`
	ChangeCopiesMade    uint64    `json:"change_copies_made"`
	ChangeMovedFraction float64   `json:"change_moved_fraction"`
}

// MovedFraction is the share of the blob copies this pass found that it moved onto their
// placement: about 1/(N+1) after a storage node joins N (rendezvous placement moves only the
// copies the new node wins).
func (s BalanceStats) MovedFraction() float64 {
	if s.BlobCopies == 0 {
		return 0
	}
	return float64(s.CopiesMade) / float64(s.BlobCopies)
}

// DrainProgress is one draining member's progress. A blob counts as done once it has its
// copies without the member (on its placement, or on enough other storage members while a
// placement target is down); when every blob the member holds is done the balancer marks it
// drained (fsm.MemberDrained).
type DrainProgress struct {
	Node            string    `json:"node"`
	State           string    `json:"state"` // draining or drained
	Since           time.Time `json:"since"` // when the drain began (draining) or finished
	BlobsTotal      uint64    `json:"blobs_total"`
	BlobsDone       uint64    `json:"blobs_done"`
	BytesTotal      uint64    `json:"bytes_total"`
	BytesDone       uint64    `json:"bytes_done"`
	Percent         float64   `json:"percent"` // of the bytes (of the blobs when they are empty)
	RateBytesPerSec float64   `json:"rate_bytes_per_sec"`
	ETASeconds      float64   `json:"eta_seconds"` // -1 while unknown
	// Inventoried is false when the member could not be listed (down): its blobs are then
	// those the metadata says were written to it.
	Inventoried bool `json:"inventoried"`
	// Blocked says why the drain cannot finish now ("" when it can).
	Blocked string `json:"blocked,omitempty"`
}

// balanceState is the balancer's shared progress; guarded by Plane.balanceMu.
type balanceState struct {
	stats  BalanceStats
	sig    string // the placement signature of the last pass (PlacementSince)
	copied uint64 // bytes this pass copied (the rate)
	// drains by member; kept across passes so that a drain's rate spans them.
	drains map[string]*drainTrack
}

type drainTrack struct {
	DrainProgress
	started     time.Time // when this driver began working on it
	bytesCopied uint64    // by this driver
	copyFailed  bool      // a copy for it failed in the running pass
	// pending: the last walk found something it could not count or finish (a blob written
	// too recently, a deferred or stuck one), so the drain is not at 100 % whatever the
	// counted blobs say.
	pending bool
}

const methodBalanceStat = "balance.stats"

// maxBalanceJobs bounds the blobs one pass moves (about 300 bytes each); the rest are counted
// as deferred and found again by the next pass. A variable for tests.
var maxBalanceJobs = 100_000

// balanceJob is one blob the pass moves.
type balanceJob struct {
	ref      fsm.BlobRef
	holders  []string // inventoried nodes that have it: the sources
	copyTo   []string // targets that lack it
	confirm  []string // targets that hold it: asked again before anything is deleted
	deleteOn []string // copies off placement to delete once every target holds one
	drains   []string // draining members this blob counts for
	misplace bool     // not on its placement (rebalance)
	// drainsDone: once the copies are made, the blob is done for its drains.
	drainsDone bool
}

// drainVerdict is what one blob means for the drains it counts for.
type drainVerdict int

const (
	drainDone  drainVerdict = iota // it has its copies without the draining members
	drainAfter                     // it will, once its job's copies are made
	drainStuck                     // it cannot get them now
)

// BalancePass runs one balance pass now and returns the stats after it (see the comment at
// the top of balance.go). m.BalanceBytesPerSecond throttles the copies; m.Proposer marks
// finished drains. The leader runs it (RunMaintenance); any node may, every step is idempotent.
func (d *Plane) BalancePass(ctx context.Context, m Maintenance) (BalanceStats, error) {
	m = m.withDefaults()
	start := time.Now()
	sig := placementSignature(d.placement())
	d.balanceMu.Lock()
	prev := d.balance.stats
	d.balance.stats = BalanceStats{Driver: d.self, Running: true, PassStart: start, Passes: prev.Passes, ETASeconds: -1,
		PlacementSince: prev.PlacementSince, ChangeCopies: prev.ChangeCopies, ChangeCopiesMade: prev.ChangeCopiesMade}
	if sig != d.balance.sig {
		d.balance.sig = sig
		st := &d.balance.stats
		st.PlacementSince, st.ChangeCopies, st.ChangeCopiesMade = start, 0, 0
	}
	d.balance.copied = 0
	d.balanceMu.Unlock()
	d.m.Gauge(MetricBalanceRunning, 1)
	defer d.m.Gauge(MetricBalanceRunning, 0)

	err := d.balancePass(ctx, m, start)

	d.balanceMu.Lock()
	defer d.balanceMu.Unlock()
	st := &d.balance.stats
	st.Running = false
	st.Passes++
	st.ChangeCopies = max(st.ChangeCopies, st.BlobCopies)
	st.LastPassSeconds = time.Since(start).Seconds()
	if err != nil {
		st.LastPassError = err.Error()
	}
	d.m.Counter(MetricBalancePasses, 1)
	d.m.Gauge(MetricBalanceMisplaced, float64(st.Misplaced-st.Moved))
	d.reportDrainsLocked()
	return d.balanceStatsLocked(), err
}

// BalanceStats returns the balancer's progress as this node knows it (its own passes).
func (d *Plane) BalanceStats() BalanceStats {
	d.balanceMu.Lock()
	defer d.balanceMu.Unlock()
	return d.balanceStatsLocked()
}

func (d *Plane) balanceStatsLocked() BalanceStats {
	st := d.balance.stats
	if c := max(st.ChangeCopies, st.BlobCopies); c > 0 {
		st.ChangeMovedFraction = float64(st.ChangeCopiesMade) / float64(c)
	}
	st.Drains = nil
	for _, id := range sortedKeys(d.balance.drains) {
		st.Drains = append(st.Drains, d.balance.drains[id].DrainProgress)
	}
	return st
}

// RemoteBalanceStats asks the node at addr for its balancer's progress (the leader's are the
// cluster's).
func (d *Plane) RemoteBalanceStats(ctx context.Context, addr string) (BalanceStats, error) {
	var st BalanceStats
	reply, err := d.trans.Call(ctx, addr, methodBalanceStat, nil)
	if err != nil {
		return st, err
	}
	err = json.Unmarshal(reply, &st)
	return st, err
}

func (d *Plane) handleBalanceStats(ctx context.Context, _ []byte) ([]byte, error) {
	return json.Marshal(d.BalanceStats())
}

func (d *Plane) balancePass(ctx context.Context, m Maintenance, start time.Time) error {
	p := d.placement()
	d.updateBalance(func(st *BalanceStats) { st.Factor, st.StorageNodes = p.factor, len(p.storage) })
	d.syncDrains(p)
	if p.factor == 0 {
		if len(p.leaving) > 0 {
			d.blockDrains(p.leaving, "no other storage node to copy to")
		}
		return nil
	}
	fresh := map[string]map[string]struct{}{}
	for _, n := range p.live {
		inv, err := d.inventory(ctx, n)
		if err != nil {
			d.log.Warn().Err(err).Str("node", n).Msg("balance: inventory")
			continue
		}
		fresh[n] = inv
	}
	if err := m.Barrier(ctx); err != nil {
		return fmt.Errorf("read barrier: %w", err)
	}
	plan, err := d.planBalance(ctx, m, p, fresh, start)
	if err != nil {
		return err
	}
	d.updateBalance(func(st *BalanceStats) {
		st.BlobsChecked, st.BlobCopies, st.Misplaced, st.MisplacedBytes = plan.checked, plan.copies, plan.misplaced, plan.misplacedBytes
		st.Waiting, st.Deferred, st.Recent = plan.waiting, plan.deferred, plan.recent
	})
	d.setDrainTotals(plan)
	if err := d.runBalanceJobs(ctx, m, plan.jobs, start); err != nil {
		return err
	}
	return d.finishDrains(ctx, m, p, plan)
}

// balancePlan is what a pass found during its walk of the metadata.
type balancePlan struct {
	checked, copies, misplaced, misplacedBytes, waiting, deferred, recent uint64
	jobs                                                                  []*balanceJob
	drains                                                                map[string]*drainCount
}

// drainCount is one draining member's blobs as the walk found them.
type drainCount struct {
	inventoried          bool
	blobs, bytes         uint64
	doneBlobs, doneBytes uint64
	pending              bool   // something keeps this pass from finishing the drain
	stuck                uint64 // blobs that cannot get their copies without it now
}

// planBalance walks the metadata and sorts each referenced blob: in place, to move (a job),
// waiting for a placement target that is down, or recent (left to the next pass).
func (d *Plane) planBalance(ctx context.Context, m Maintenance, p placement, fresh map[string]map[string]struct{}, start time.Time) (*balancePlan, error) {
	plan := &balancePlan{drains: map[string]*drainCount{}}
	for _, n := range p.leaving {
		if p.members[n].Drain == fsm.DrainDraining {
			_, inv := fresh[n]
			plan.drains[n] = &drainCount{inventoried: inv}
		}
	}
	cutoff := start.Add(-recentMargin).UnixNano()
	// visit sorts one stored blob: a replicated blob, or one shard of an erasure-coded blob
	// (a blob of its own, with one placement target).
	visit := func(ref fsm.BlobRef) error {
		var holders, drains []string
		for _, n := range p.live {
			if _, has := fresh[n][ref.ID]; has {
				holders = append(holders, n)
			}
		}
		for _, n := range sortedKeys(plan.drains) {
			if slices.Contains(holders, n) || !plan.drains[n].inventoried && slices.Contains(ref.Nodes, n) {
				drains = append(drains, n)
			}
		}
		plan.checked++
		plan.copies += uint64(len(holders))
		job, verdict, waiting := placeBlob(p, fresh, ref, holders, drains)
		for _, n := range drains {
			dc := plan.drains[n]
			dc.blobs++
			dc.bytes += ref.Size
			switch verdict {
			case drainDone:
				dc.doneBlobs++
				dc.doneBytes += ref.Size
			case drainStuck:
				dc.pending = true
				dc.stuck++
			}
		}
		if waiting {
			plan.misplaced++
			plan.misplacedBytes += ref.Size
			plan.waiting++
		}
		if job == nil {
			return nil
		}
		if job.misplace {
			plan.misplaced++
			plan.misplacedBytes += ref.Size
		}
		if len(plan.jobs) == maxBalanceJobs {
			plan.deferred++
			for _, n := range job.drains {
				plan.drains[n].pending = true
			}
			return nil
		}
		plan.jobs = append(plan.jobs, job)
		return nil
	}
	err := m.Meta.WalkBlobs(ctx, func(ref fsm.BlobRef) error {
		if ref.Inline { // in the metadata: nothing to place (fsm, "Inline blobs")
			return nil
		}
		if ref.ModTime > cutoff {
			// Its copies may postdate the inventories: the next pass sorts it, if it was
			// written somewhere else than its placement (before a storage node joined). A
			// drain whose member was named as a replica cannot finish in this pass.
			if !sameSet(ref.Nodes, p.blobTargets(ref.ID)) {
				plan.recent++
			}
			for n, dc := range plan.drains {
				if slices.Contains(ref.Nodes, n) {
					dc.pending = true
				}
			}
			return nil
		}
		for _, sref := range storedRefs(ref) {
			if err := visit(sref); err != nil {
				return err
			}
		}
		return nil
	})
	return plan, err
}

// placeBlob decides what to do with one blob: a job (nil when there is nothing to do now),
// what the blob means for the drains it counts for, and whether it is misplaced but waits for
// a placement target that is down. holders are the inventoried members that have it; drains
// the draining members it counts for.
//
// A shard of an erasure-coded blob is a blob of factor 1 whose one target is the shard's
// (placement.want); new copies go first to members that are no shard's target.
func placeBlob(p placement, fresh map[string]map[string]struct{}, ref fsm.BlobRef, holders, drains []string) (*balanceJob, drainVerdict, bool) {
	want, factor := p.want(ref.ID), p.factorOf(ref.ID)
	if len(want) == 0 {
		// A shard with no target: fewer storage members than the blob has shards. Nothing
		// moves, and a drain holding it cannot finish.
		return nil, drainStuck, false
	}
	allUp := true
	for _, n := range want {
		if _, ok := fresh[n]; !ok {
			allUp = false
		}
	}
	if len(holders) == 0 {
		// No copy can be read now: lost or unavailable is repair's business; a drain that
		// counts it (its member down) cannot finish.
		return nil, drainStuck, false
	}
	job := &balanceJob{ref: ref, holders: holders, drains: drains}
	if allUp {
		for _, n := range want {
			if slices.Contains(holders, n) {
				job.confirm = append(job.confirm, n)
			} else {
				job.copyTo = append(job.copyTo, n)
			}
		}
		for _, n := range holders {
			if !slices.Contains(want, n) && !p.members[n].leaving() {
				job.deleteOn = append(job.deleteOn, n)
			}
		}
		job.misplace = len(job.copyTo) > 0 || len(job.deleteOn) > 0
		if len(job.copyTo) == 0 {
			if !job.misplace {
				return nil, drainDone, false
			}
			return job, drainDone, false
		}
		job.drainsDone = true
		return job, drainAfter, false
	}
	// A placement target is down: nothing moves and nothing is deleted, except that a blob
	// on a draining member gets its copies on the alive members in rendezvous order (as
	// repair would place them).
	waiting := !sameSet(want, holders)
	if len(drains) == 0 {
		return nil, drainDone, waiting
	}
	have := 0
	for _, n := range holders {
		if !p.members[n].leaving() {
			have++
		}
	}
	if have >= factor {
		return nil, drainDone, waiting
	}
	for _, n := range p.order(ref.ID) {
		if have == factor {
			break
		}
		if _, up := fresh[n]; up && !slices.Contains(holders, n) {
			job.copyTo = append(job.copyTo, n)
			have++
		}
	}
	if len(job.copyTo) == 0 {
		return nil, drainStuck, waiting
	}
	if have < factor {
		return job, drainStuck, waiting // the copies help, but the factor is out of reach now
	}
	job.drainsDone = true
	return job, drainAfter, waiting
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// balanceWorkers is how many blobs a pass moves at once: a move is a few round-trips and
// fsyncs on small blobs, so one at a time leaves the disks and the network idle (752 small
// copies took a minute under a read load). The byte throttle is shared by the workers.
const balanceWorkers = 4

// runBalanceJobs makes each job's copies, confirms its targets and deletes the copies off
// placement, balanceWorkers blobs at a time and at most m.BalanceBytesPerSecond in all.
func (d *Plane) runBalanceJobs(ctx context.Context, m Maintenance, jobs []*balanceJob, start time.Time) error {
	var throttled atomic.Int64
	next := make(chan *balanceJob)
	errc := make(chan error, balanceWorkers)
	var wg sync.WaitGroup
	for range balanceWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				if err := d.runBalanceJob(ctx, m, j, start, &throttled); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	var err error
feed:
	for _, j := range jobs {
		select {
		case next <- j:
		case err = <-errc:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	close(errc)
	if err == nil {
		err = <-errc // nil when no worker failed
	}
	return err
}

// runBalanceJob moves one blob: copies, then (when copies go) a check of every target, then
// the deletes. Only ctx's end is an error; a failed copy is counted and the blob left for the
// next pass.
func (d *Plane) runBalanceJob(ctx context.Context, m Maintenance, j *balanceJob, start time.Time, throttled *atomic.Int64) error {
	for _, t := range j.copyTo {
		if err := d.fetchTo(ctx, t, j.ref, j.holders); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			d.balanceCopyFailed(j, t, err)
			return nil
		}
		d.balanceCopied(j, start)
		if err := throttle(ctx, m.BalanceBytesPerSecond, start, throttled.Add(int64(j.ref.Size))); err != nil {
			return err
		}
	}
	if len(j.deleteOn) > 0 {
		// The inventories may be stale: every target must hold a copy now (an idempotent
		// fetch answers at once when it does) before any other copy goes.
		for _, t := range j.confirm {
			if err := d.fetchTo(ctx, t, j.ref, j.holders); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				d.balanceCopyFailed(j, t, err)
				return nil
			}
		}
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		d.deleteOn(dctx, j.ref.ID, j.deleteOn)
		cancel()
		d.m.Counter(MetricBalanceDeleted, float64(len(j.deleteOn)))
	}
	d.balanceDone(j)
	return nil
}

func (d *Plane) balanceCopyFailed(j *balanceJob, target string, err error) {
	d.m.Counter(MetricBalanceCopyErrors, 1)
	d.log.Warn().Err(err).Str("blob", j.ref.ID).Str("target", target).Msg("balance: copy failed")
	d.balanceMu.Lock()
	defer d.balanceMu.Unlock()
	d.balance.stats.CopyErrors++
	for _, n := range j.drains {
		if t := d.balance.drains[n]; t != nil {
			t.copyFailed = true
		}
	}
}

// balanceCopied records one copy of j made: the pass's and each drain's bytes and rates.
func (d *Plane) balanceCopied(j *balanceJob, start time.Time) {
	d.m.Counter(MetricBalanceCopies, 1)
	d.m.Counter(MetricBalanceBytes, float64(j.ref.Size))
	d.balanceMu.Lock()
	defer d.balanceMu.Unlock()
	st := &d.balance.stats
	st.CopiesMade++
	st.ChangeCopiesMade++
	d.balance.copied += j.ref.Size
	if el := time.Since(start).Seconds(); el > 0 {
		st.RateBytesPerSec = float64(d.balance.copied) / el
	}
	for _, n := range j.drains {
		if t := d.balance.drains[n]; t != nil {
			t.bytesCopied += j.ref.Size
		}
	}
}

// balanceDone records job j finished: the blob is at its placement, and done for its drains.
func (d *Plane) balanceDone(j *balanceJob) {
	d.balanceMu.Lock()
	defer d.balanceMu.Unlock()
	st := &d.balance.stats
	st.CopiesDeleted += uint64(len(j.deleteOn))
	if j.misplace {
		st.Moved++
		st.MovedBytes += j.ref.Size
		if st.RateBytesPerSec > 0 {
			st.ETASeconds = float64(st.MisplacedBytes-min(st.MovedBytes, st.MisplacedBytes)) / st.RateBytesPerSec
		}
		d.m.Counter(MetricBalanceMoved, 1)
	}
	if j.drainsDone {
		for _, n := range j.drains {
			if t := d.balance.drains[n]; t != nil {
				t.BlobsDone++
				t.BytesDone += j.ref.Size
				t.refresh()
			}
		}
	}
	d.reportDrainsLocked()
}

func (d *Plane) updateBalance(fn func(*BalanceStats)) {
	d.balanceMu.Lock()
	defer d.balanceMu.Unlock()
	fn(&d.balance.stats)
}

// syncDrains keeps one track per member that is draining or drained, and forgets the others.
func (d *Plane) syncDrains(p placement) {
	d.balanceMu.Lock()
	defer d.balanceMu.Unlock()
	if d.balance.drains == nil {
		d.balance.drains = map[string]*drainTrack{}
	}
	for id := range d.balance.drains {
		if !slices.Contains(p.leaving, id) {
			delete(d.balance.drains, id)
		}
	}
	for _, id := range p.leaving {
		m := p.members[id]
		t := d.balance.drains[id]
		if t == nil {
			t = &drainTrack{started: time.Now()}
			t.Node, t.ETASeconds = id, -1
			d.balance.drains[id] = t
		}
		t.State = m.Drain.String()
		t.copyFailed = false
		t.Blocked = ""
	}
	d.reportDrainsLocked()
}

func (d *Plane) blockDrains(ids []string, why string) {
	d.balanceMu.Lock()
	defer d.balanceMu.Unlock()
	for _, id := range ids {
		if t := d.balance.drains[id]; t != nil && t.State == fsm.DrainDraining.String() {
			t.Blocked = why
		}
	}
}

// setDrainTotals copies the walk's counts into the drains' progress.
func (d *Plane) setDrainTotals(plan *balancePlan) {
	d.balanceMu.Lock()
	defer d.balanceMu.Unlock()
	for id, dc := range plan.drains {
		t := d.balance.drains[id]
		if t == nil {
			continue
		}
		t.Inventoried = dc.inventoried
		t.BlobsTotal, t.BytesTotal = dc.blobs, dc.bytes
		t.BlobsDone, t.BytesDone = dc.doneBlobs, dc.doneBytes
		t.pending = dc.pending
		switch {
		case dc.stuck > 0 && !dc.inventoried:
			t.Blocked = fmt.Sprintf("%d blobs have no copy outside draining members and %s is down", dc.stuck, id)
		case dc.stuck > 0:
			t.Blocked = fmt.Sprintf("%d blobs cannot get their copies without draining members now (too few storage nodes alive?)", dc.stuck)
		}
		t.refresh()
	}
	d.reportDrainsLocked()
}

// finishDrains marks drained every draining member whose blobs this pass found (or made)
// complete without it.
func (d *Plane) finishDrains(ctx context.Context, m Maintenance, p placement, plan *balancePlan) error {
	var errs []error
	for _, id := range sortedKeys(plan.drains) {
		dc := plan.drains[id]
		d.balanceMu.Lock()
		t := d.balance.drains[id]
		complete := t != nil && !dc.pending && !t.copyFailed && t.BlobsDone == t.BlobsTotal
		d.balanceMu.Unlock()
		if !complete {
			continue
		}
		if m.Proposer == nil {
			errs = append(errs, fmt.Errorf("drain of %s complete, but no proposer to record it", id))
			continue
		}
		res, err := m.Proposer.Propose(ctx, &fsm.MemberChange{ID: id, Op: fsm.MemberDrained, At: time.Now().UnixNano()})
		if err == nil && res.Err != nil {
			err = res.Err // cancelled meanwhile (InvalidMemberState): nothing to record
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("mark %s drained: %w", id, err))
			continue
		}
		d.log.Info().Str("node", id).Uint64("blobs", dc.blobs).Uint64("bytes", dc.bytes).Msg("drain finished: every blob the node holds has its copies without it")
		d.balanceMu.Lock()
		if t := d.balance.drains[id]; t != nil {
			t.State, t.Since = fsm.DrainDrained.String(), time.Now()
			t.refresh()
		}
		d.balanceMu.Unlock()
	}
	return errors.Join(errs...)
}

// refresh recomputes the derived fields of a drain's progress.
func (t *drainTrack) refresh() {
	switch {
	case t.State == fsm.DrainDrained.String() || t.BlobsTotal == 0 && t.Inventoried && !t.pending:
		t.Percent = 100
	case t.BytesTotal > 0:
		t.Percent = 100 * float64(t.BytesDone) / float64(t.BytesTotal)
	case t.BlobsTotal > 0:
		t.Percent = 100 * float64(t.BlobsDone) / float64(t.BlobsTotal)
	default:
		t.Percent = 0
	}
	if t.pending && t.State != fsm.DrainDrained.String() {
		// Blobs the walk could not count yet (written in the last seconds) are still to do:
		// never show 100 % before the drain is done.
		t.Percent = min(t.Percent, 99.9)
	}
	if t.State == fsm.DrainDrained.String() {
		t.BlobsDone, t.BytesDone, t.ETASeconds = t.BlobsTotal, t.BytesTotal, 0
		return
	}
	t.ETASeconds = -1
	if el := time.Since(t.started).Seconds(); el > 0 && t.bytesCopied > 0 {
		t.RateBytesPerSec = float64(t.bytesCopied) / el
		t.ETASeconds = float64(t.BytesTotal-min(t.BytesDone, t.BytesTotal)) / t.RateBytesPerSec
	}
}

// reportDrainsLocked sets the drain gauges (summed over the draining members: the metrics
// seam has no labels). The caller holds balanceMu.
func (d *Plane) reportDrainsLocked() {
	var nodes, blobsLeft, bytesLeft, bytesTotal, bytesDone float64
	for _, t := range d.balance.drains {
		if t.State != fsm.DrainDraining.String() {
			continue
		}
		nodes++
		blobsLeft += float64(t.BlobsTotal - min(t.BlobsDone, t.BlobsTotal))
		bytesLeft += float64(t.BytesTotal - min(t.BytesDone, t.BytesTotal))
		bytesTotal += float64(t.BytesTotal)
		bytesDone += float64(t.BytesDone)
	}
	d.m.Gauge(MetricDrainNodes, nodes)
	d.m.Gauge(MetricDrainBlobsLeft, blobsLeft)
	d.m.Gauge(MetricDrainBytesLeft, bytesLeft)
	ratio := 1.0
	if bytesTotal > 0 {
		ratio = bytesDone / bytesTotal
	}
	d.m.Gauge(MetricDrainProgress, ratio)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// LastCopies reports the referenced blobs whose only readable copy is on member node, and the
// erasure-coded blobs that would keep fewer than K readable shards without it: the blobs an
// operator would lose by removing it now. It inventories every alive storage member
// and walks the metadata after m.Barrier; when node itself cannot be listed (down), the blobs
// the metadata says were written to it count. At most 5 IDs are returned as examples.
func (d *Plane) LastCopies(ctx context.Context, node string, m Maintenance) (blobs, bytes uint64, examples []string, err error) {
	p := d.placement()
	if mem, ok := p.members[node]; ok && !mem.Storage {
		return 0, 0, nil, nil
	}
	fresh := map[string]map[string]struct{}{}
	for _, n := range p.live {
		inv, err := d.inventory(ctx, n)
		if err != nil {
			continue // a member that cannot be listed holds nothing we can count on
		}
		fresh[n] = inv
	}
	if err := m.Barrier(ctx); err != nil {
		return 0, 0, nil, fmt.Errorf("dataplane: last copies: read barrier: %w", err)
	}
	own, listed := fresh[node]
	err = m.Meta.WalkBlobs(ctx, func(ref fsm.BlobRef) error {
		if ref.Inline { // in the metadata, on no storage node (fsm, "Inline blobs")
			return nil
		}
		if l, ok := parseEC(ref.ID); ok {
			// An erasure-coded blob is lost when fewer than K of its shards are left
			// elsewhere; the shards held only by node are rebuilt by repair otherwise.
			held, elsewhere := !listed && slices.Contains(ref.Nodes, node), 0
			for _, sid := range blobIDs(ref.ID) {
				if _, has := own[sid]; has {
					held = true
				}
				for n, inv := range fresh {
					if _, has := inv[sid]; has && n != node {
						elsewhere++
						break
					}
				}
			}
			if held && elsewhere < l.k {
				blobs++
				bytes += ref.Size
				if len(examples) < 5 {
					examples = append(examples, ref.ID)
				}
			}
			return nil
		}
		if listed {
			if _, has := own[ref.ID]; !has {
				return nil
			}
		} else if !slices.Contains(ref.Nodes, node) {
			return nil
		}
		for n, inv := range fresh {
			if _, has := inv[ref.ID]; has && n != node {
				return nil
			}
		}
		blobs++
		bytes += ref.Size
		if len(examples) < 5 {
			examples = append(examples, ref.ID)
		}
		return nil
	})
	if err != nil {
		return 0, 0, nil, fmt.Errorf("dataplane: last copies: %w", err)
	}
	return blobs, bytes, examples, nil
}

// Targets returns the members blob id belongs on under the current membership: the first
// factor storage-capable members that are not draining, in rendezvous order (alive or not).
func (d *Plane) Targets(id string) []string { return d.placement().targets(id) }

// placementSignature names the members placement chooses from and the draining ones: the
// balancer runs at once when it changes.
func placementSignature(p placement) string {
	s := slices.Clone(p.storage)
	sort.Strings(s)
	l := slices.Clone(p.leaving)
	sort.Strings(l)
	var b strings.Builder
	b.WriteString(strings.Join(s, ","))
	b.WriteString("|")
	for _, n := range l {
		b.WriteString(n)
		b.WriteString("=")
		b.WriteString(p.members[n].Drain.String())
		b.WriteString(",")
	}
	return b.String()
}

// runBalancer runs balance passes on the leader until ctx ends: at once when the placement
// changes (a storage member joins or leaves, a drain begins, ends or is cancelled) or this node
// becomes the leader (a pass cut short by a leader change resumes there: every pass starts
// from the inventories), again after m.BalanceRetry while a pass left work, and every
// m.BalanceInterval otherwise.
func (d *Plane) runBalancer(ctx context.Context, m Maintenance) {
	t := time.NewTicker(m.BalanceCheck)
	defer t.Stop()
	var lastSig string
	var lastPass time.Time
	pending, leading := false, false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !m.IsLeader() {
			leading = false
			continue
		}
		p := d.placement()
		sig := placementSignature(p)
		since := time.Since(lastPass)
		if leading && sig == lastSig && !(pending && since >= m.BalanceRetry) && since < m.BalanceInterval {
			continue
		}
		leading = true
		st, err := d.BalancePass(ctx, m)
		if err != nil && ctx.Err() == nil {
			d.log.Warn().Err(err).Msg("balance pass")
		}
		lastSig, lastPass = sig, time.Now()
		pending = err != nil || st.Moved < st.Misplaced || st.Recent > 0 || st.Deferred > 0
		for _, dr := range st.Drains {
			pending = pending || dr.State == fsm.DrainDraining.String()
		}
		if st.Misplaced > 0 || len(st.Drains) > 0 {
			d.log.Info().Uint64("misplaced", st.Misplaced).Uint64("moved", st.Moved).Uint64("copies", st.CopiesMade).
				Uint64("deleted", st.CopiesDeleted).Uint64("waiting", st.Waiting).Float64("seconds", st.LastPassSeconds).Msg("balance pass done")
		}
	}
}
