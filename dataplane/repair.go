package dataplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nebulaio/nebulaio/dataplane/blob"
	"github.com/nebulaio/nebulaio/fsm"
)

// RepairStats is the progress of repair as seen by the node that drives it (the leader).
type RepairStats struct {
	Driver           string    `json:"driver"` // node ID that ran the passes below
	Running          bool      `json:"running"`
	Passes           uint64    `json:"passes"`
	LastPassStart    time.Time `json:"last_pass_start"`
	LastPassSeconds  float64   `json:"last_pass_seconds"`
	LastPassError    string    `json:"last_pass_error,omitempty"`
	Factor           int       `json:"replication_factor"`
	BlobsChecked     uint64    `json:"blobs_checked"`     // in the last pass
	UnderReplicated  uint64    `json:"under_replicated"`  // in the last pass, before repairing
	Unavailable      uint64    `json:"unavailable"`       // in the last pass: every counted copy is on a node that is down
	Lost             uint64    `json:"lost"`              // in the last pass: no copy anywhere
	CopiesMade       uint64    `json:"copies_made"`       // since this node started
	CopyErrors       uint64    `json:"copy_errors"`       // since this node started
	BytesCopied      uint64    `json:"bytes_copied"`      // since this node started
	SkippedRecent    uint64    `json:"skipped_recent"`    // in the last pass: written after the inventory, checked next pass
	Deferred         uint64    `json:"deferred"`          // in the last pass: under-replicated beyond the pass's limit, left to the next
	NodesInventoried int       `json:"nodes_inventoried"` // in the last pass
}

// recentMargin: blobs written less than this before a pass's inventory are checked by the next
// pass (their copies may be younger than the inventory; allows for clock skew).
const recentMargin = 5 * time.Second

// RepairPass runs one repair pass now and returns the stats after it. A pass takes each live
// storage member's inventory, walks the metadata after m.Barrier, and for every blob with
// fewer counted copies than the factor asks alive members that lack it to fetch it from a
// holder, in rendezvous order, one copy at a time and at most m.BytesPerSecond. The leader
// runs it (RunMaintenance); any node may, the copies are idempotent.
func (d *Plane) RepairPass(ctx context.Context, m Maintenance) (RepairStats, error) {
	m = m.withDefaults()
	start := time.Now()
	d.repairMu.Lock()
	d.repairStats.Running = true
	d.repairStats.Driver = d.self
	d.repairMu.Unlock()

	pass, err := d.repairPass(ctx, m, start)

	d.repairMu.Lock()
	defer d.repairMu.Unlock()
	st := &d.repairStats
	st.Running = false
	st.Passes++
	st.LastPassStart = start
	st.LastPassSeconds = time.Since(start).Seconds()
	st.LastPassError = ""
	if err != nil {
		st.LastPassError = err.Error()
	}
	st.Factor = pass.Factor
	st.BlobsChecked, st.UnderReplicated, st.Unavailable, st.Lost = pass.BlobsChecked, pass.UnderReplicated, pass.Unavailable, pass.Lost
	st.SkippedRecent, st.Deferred, st.NodesInventoried = pass.SkippedRecent, pass.Deferred, pass.NodesInventoried
	st.CopiesMade += pass.CopiesMade
	st.CopyErrors += pass.CopyErrors
	st.BytesCopied += pass.BytesCopied
	d.m.Counter(MetricRepairPasses, 1)
	d.m.Gauge(MetricRepairUnderReplicated, float64(pass.UnderReplicated))
	d.m.Gauge(MetricRepairLost, float64(pass.Lost))
	d.m.Observe(MetricRepairPassSeconds, st.LastPassSeconds)
	return *st, err
}

// Stats returns the repair progress this node knows (its own passes).
func (d *Plane) Stats() RepairStats {
	d.repairMu.Lock()
	defer d.repairMu.Unlock()
	return d.repairStats
}

// RemoteStats asks the node at addr for its repair stats (the leader's are the cluster's).
func (d *Plane) RemoteStats(ctx context.Context, addr string) (RepairStats, error) {
	var st RepairStats
	reply, err := d.trans.Call(ctx, addr, methodRepairStat, nil)
	if err != nil {
		return st, err
	}
	err = json.Unmarshal(reply, &st)
	return st, err
}

func (d *Plane) handleRepairStats(ctx context.Context, _ []byte) ([]byte, error) {
	return json.Marshal(d.Stats())
}

func (d *Plane) repairPass(ctx context.Context, m Maintenance, start time.Time) (RepairStats, error) {
	var st RepairStats
	p := d.placement()
	st.Factor = p.factor
	if p.factor == 0 {
		return st, nil
	}
	// Inventories first: a blob committed before the inventory has all its acknowledged
	// copies in it (copies are written before the metadata commits). Draining members are
	// inventoried too: their copies count and serve as sources, but they get no new ones.
	fresh := map[string]map[string]struct{}{}
	for _, n := range p.live {
		inv, err := d.inventory(ctx, n)
		if err != nil {
			d.log.Warn().Err(err).Str("node", n).Msg("repair: inventory")
			continue
		}
		fresh[n] = inv
		st.NodesInventoried++
	}
	d.repairMu.Lock()
	for n, inv := range fresh {
		d.lastInv[n] = inv
	}
	for n := range d.lastInv {
		if _, ok := p.members[n]; !ok {
			delete(d.lastInv, n) // removed from the cluster
		}
	}
	last := d.lastInv
	d.repairMu.Unlock()
	d.m.Gauge(MetricRepairRunning, 1)
	defer d.m.Gauge(MetricRepairRunning, 0)

	if err := m.Barrier(ctx); err != nil {
		return st, fmt.Errorf("read barrier: %w", err)
	}
	// The walk only sorts the blobs (it holds a view of the metadata, which must be quick);
	// the copies are made after it.
	var jobs []repairJob
	var ecJobs []ecRepairJob
	cutoff := start.Add(-recentMargin).UnixNano()
	err := m.Meta.WalkBlobs(ctx, func(ref fsm.BlobRef) error {
		if ref.Inline { // its bytes are in the metadata (fsm, "Inline blobs"): no copies to repair
			return nil
		}
		if ref.ModTime > cutoff {
			st.SkippedRecent++
			return nil
		}
		st.BlobsChecked++
		d.m.Counter(MetricRepairChecked, 1)
		if l, ok := parseEC(ref.ID); ok {
			job := d.checkShards(p, m, fresh, last, ref, l, &st)
			if job != nil {
				if len(jobs)+len(ecJobs) >= maxRepairJobs {
					st.Deferred++
				} else {
					ecJobs = append(ecJobs, *job)
				}
			}
			return nil
		}
		var holders, sources []string
		for _, n := range p.holders {
			if inv, ok := fresh[n]; ok {
				if _, has := inv[ref.ID]; has {
					holders = append(holders, n)
					sources = append(sources, n)
				}
				continue
			}
			// Not inventoried (down or unreachable): its copies count until it has been
			// down for DeadAfter.
			if mem := p.members[n]; mem.DownFor >= m.RepairDeadAfter {
				continue
			}
			_, had := last[n][ref.ID]
			if had || slices.Contains(ref.Nodes, n) {
				holders = append(holders, n)
			}
		}
		if len(holders) >= p.factor {
			return nil
		}
		st.UnderReplicated++
		switch {
		case len(holders) == 0:
			st.Lost++
			d.log.Error().Str("blob", ref.ID).Strs("written_to", ref.Nodes).Msg("repair: no copy of a referenced blob is left")
		case len(sources) == 0:
			st.Unavailable++
		case len(jobs)+len(ecJobs) >= maxRepairJobs:
			st.Deferred++
		default:
			jobs = append(jobs, repairJob{ref: ref, holders: holders, sources: sources, need: p.factor - len(holders)})
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	if err := d.runRepairJobs(ctx, m, p, fresh, jobs, &st); err != nil {
		return st, err
	}
	return st, d.runShardJobs(ctx, m, p, fresh, ecJobs, &st)
}

// ecRepairJob is an erasure-coded blob a pass found with shards missing.
type ecRepairJob struct {
	ref     fsm.BlobRef
	l       ecLayout
	missing []int               // shards with no counted holder
	holds   map[string]struct{} // inventoried nodes holding some shard of the blob
}

// checkShards counts the shards of erasure-coded blob ref as repair counts copies (a shard on
// a node not inventoried now counts while the node's last inventory had it and it has been
// down less than RepairDeadAfter) and returns the job of rebuilding the missing ones, nil
// when none is missing or they cannot be rebuilt now. Fewer than K shards counted is a lost
// blob; fewer than K readable now, an unavailable one.
func (d *Plane) checkShards(p placement, m Maintenance, fresh, last map[string]map[string]struct{}, ref fsm.BlobRef, l ecLayout, st *RepairStats) *ecRepairJob {
	job := &ecRepairJob{ref: ref, l: l, holds: map[string]struct{}{}}
	counted, readable := 0, 0
	for i := range l.shards() {
		sid := shardID(ref.ID, i)
		has, canRead := false, false
		for _, n := range p.holders {
			if inv, ok := fresh[n]; ok {
				if _, ok := inv[sid]; ok {
					has, canRead = true, true
					job.holds[n] = struct{}{}
				}
				continue
			}
			if mem := p.members[n]; mem.DownFor >= m.RepairDeadAfter {
				continue
			}
			if _, had := last[n][sid]; had {
				has = true
			}
		}
		if has {
			counted++
		} else {
			job.missing = append(job.missing, i)
		}
		if canRead {
			readable++
		}
	}
	if len(job.missing) == 0 {
		return nil
	}
	st.UnderReplicated++
	switch {
	case counted < l.k:
		st.Lost++
		d.log.Error().Str("blob", ref.ID).Int("shards", counted).Int("needed", l.k).Strs("written_to", ref.Nodes).Msg("repair: too few shards of an erasure-coded blob are left")
		return nil
	case readable < l.k:
		st.Unavailable++
		return nil
	}
	return job
}

// runShardJobs rebuilds the missing shards: each on the first alive member of its order (its
// target first) that holds no shard of the blob, one at a time and at most m.BytesPerSecond
// (counting the K shards read).
func (d *Plane) runShardJobs(ctx context.Context, m Maintenance, p placement, fresh map[string]map[string]struct{}, jobs []ecRepairJob, st *RepairStats) error {
	var throttleStart time.Time
	var throttled int64
	for _, j := range jobs {
		for _, i := range j.missing {
			sid := shardID(j.ref.ID, i)
			target := ""
			for _, n := range p.order(sid) {
				if _, ok := fresh[n]; !ok {
					continue
				}
				if _, holds := j.holds[n]; !holds {
					target = n
					break
				}
			}
			if target == "" {
				st.CopyErrors++
				d.m.Counter(MetricRepairCopyErrors, 1)
				d.log.Warn().Str("blob", j.ref.ID).Int("shard", i).Msg("repair: no alive storage node without a shard of the blob to rebuild a shard on")
				continue
			}
			if throttleStart.IsZero() {
				throttleStart = time.Now()
			}
			if err := d.rebuildShard(ctx, j.ref, j.l, i, target); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				st.CopyErrors++
				d.m.Counter(MetricRepairCopyErrors, 1)
				d.log.Warn().Err(err).Str("blob", j.ref.ID).Int("shard", i).Str("target", target).Msg("repair: shard rebuild failed")
				continue
			}
			j.holds[target] = struct{}{}
			fresh[target][sid] = struct{}{}
			size := uint64(j.l.shardSize())
			st.CopiesMade++
			st.BytesCopied += size
			d.m.Counter(MetricRepairCopies, 1)
			d.m.Counter(MetricErasureRebuilt, 1)
			d.m.Counter(MetricRepairBytes, float64(size))
			throttled += int64(size) * int64(j.l.k+1)
			if err := throttle(ctx, m.BytesPerSecond, throttleStart, throttled); err != nil {
				return err
			}
		}
	}
	return nil
}

// maxRepairJobs bounds the blobs one pass copies (and the memory the list takes, about 200
// bytes each); the rest are counted as deferred and found again by the next pass. A variable
// for tests.
var maxRepairJobs = 100_000

// repairJob is a blob a pass found with too few copies, and where they are.
type repairJob struct {
	ref     fsm.BlobRef
	holders []string // nodes whose copies count
	sources []string // holders that were inventoried (reachable) now
	need    int      // copies to make
}

// runRepairJobs makes the missing copies: for each blob, on the alive members that lack it in
// rendezvous order, one copy at a time and at most m.BytesPerSecond.
func (d *Plane) runRepairJobs(ctx context.Context, m Maintenance, p placement, fresh map[string]map[string]struct{}, jobs []repairJob, st *RepairStats) error {
	var throttleStart time.Time
	var throttled int64
	for _, j := range jobs {
		for _, target := range rendezvous(j.ref.ID, p.alive) {
			if j.need == 0 {
				break
			}
			inv, ok := fresh[target]
			if !ok || slices.Contains(j.holders, target) {
				continue
			}
			if throttleStart.IsZero() {
				throttleStart = time.Now()
			}
			if err := d.fetchTo(ctx, target, j.ref, j.sources); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				st.CopyErrors++
				d.m.Counter(MetricRepairCopyErrors, 1)
				d.log.Warn().Err(err).Str("blob", j.ref.ID).Str("target", target).Msg("repair: copy failed")
				continue
			}
			inv[j.ref.ID] = struct{}{}
			j.need--
			st.CopiesMade++
			st.BytesCopied += j.ref.Size
			d.m.Counter(MetricRepairCopies, 1)
			d.m.Counter(MetricRepairBytes, float64(j.ref.Size))
			throttled += int64(j.ref.Size)
			if err := throttle(ctx, m.BytesPerSecond, throttleStart, throttled); err != nil {
				return err
			}
		}
	}
	return nil
}

// throttle sleeps until copying `done` bytes since start keeps within bps.
func throttle(ctx context.Context, bps int64, start time.Time, done int64) error {
	if bps <= 0 {
		return nil
	}
	due := start.Add(time.Duration(float64(done) / float64(bps) * float64(time.Second)))
	d := time.Until(due)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// blobFetchReq asks a node to copy a blob from one of Sources.
type blobFetchReq struct {
	ID      string   `json:"id"`
	Size    int64    `json:"size"`
	Sources []string `json:"sources"`
}

// fetchTo makes target copy ref from one of sources.
func (d *Plane) fetchTo(ctx context.Context, target string, ref fsm.BlobRef, sources []string) error {
	req := blobFetchReq{ID: ref.ID, Size: int64(ref.Size), Sources: sources}
	if target == d.self {
		return d.fetch(ctx, req)
	}
	addr, ok := d.cfg.Resolve(target)
	if !ok {
		return fmt.Errorf("node %s: address unknown", target)
	}
	body, _ := json.Marshal(req)
	cctx, cancel := context.WithTimeout(ctx, fetchTimeout(int64(ref.Size)))
	defer cancel()
	_, err := d.trans.Call(cctx, addr, methodBlobFetch, body)
	return err
}

// fetchTimeout bounds one repair copy: a minute plus a second per 4 MiB.
func fetchTimeout(size int64) time.Duration {
	return time.Minute + time.Duration(size/(4<<20))*time.Second
}

func (d *Plane) handleFetch(ctx context.Context, body []byte) ([]byte, error) {
	var req blobFetchReq
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("dataplane: bad blob fetch: %w", err)
	}
	return nil, d.fetch(ctx, req)
}

// fetch copies a blob into the local store from the first source that serves it whole. A
// copy already here is kept (fetch is idempotent).
func (d *Plane) fetch(ctx context.Context, req blobFetchReq) error {
	if !d.cfg.HoldsData {
		return &blobRPCError{code: "no_data", err: errors.New("dataplane: this node holds no object data")}
	}
	if _, err := d.local.Stat(req.ID); err == nil {
		return nil
	} else if errors.Is(err, blob.ErrCorrupt) {
		d.dropIfCorrupt(req.ID)
	}
	var srcs []string
	for _, s := range req.Sources {
		if s != d.self {
			srcs = append(srcs, s)
		}
	}
	fr := &failoverReader{d: d, ctx: ctx, id: req.ID, cands: srcs, remain: -1}
	if err := fr.advance(); err != nil {
		return err
	}
	defer fr.Close()
	if _, err := d.putLocal(ctx, req.ID, fr, blob.Expect{Size: req.Size}); err != nil {
		return &blobRPCError{code: blobErrCode(err), err: err}
	}
	return nil
}
