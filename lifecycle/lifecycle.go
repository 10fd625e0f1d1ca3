package lifecycle

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/nebulaio/nebulaio/fsm"
)

// Metadata is what a pass reads of the committed metadata; *fsm.FSM satisfies it.
type Metadata interface {
	Buckets() []fsm.BucketInfo
	BucketLifecycle(bucket string) ([]fsm.LifecycleRule, error)
	ListObjectVersions(bucket string, p fsm.VersionListParams) (fsm.VersionListResult, error)
	ListUploads(bucket string, p fsm.UploadListParams) (fsm.UploadListResult, error)
}

var _ Metadata = (*fsm.FSM)(nil)

// Proposer replicates an event and returns the FSM's result once it is applied (the S3
// backend's Propose). An error means the outcome is unknown.
type Proposer interface {
	Propose(ctx context.Context, ev fsm.Event) (*fsm.Result, error)
}

// Config is what the runner needs from the node, and its schedule. Zero values take the
// defaults named.
type Config struct {
	Meta     Metadata                        // required
	Proposer Proposer                        // required
	Barrier  func(ctx context.Context) error // linearizable read barrier; required
	IsLeader func() bool                     // required by Run and Pass
	// Day is the length of a lifecycle day (lifecycle.day, default 24h).
	Day time.Duration
	// Interval is the time between passes on the leader (lifecycle.interval, default 1h).
	Interval time.Duration
	// Rate bounds the targets proposed a second (lifecycle.max_expirations_per_second,
	// default 1000).
	Rate int
	// Batch is the number of targets per LifecycleExpire event (default 100, at most
	// fsm.MaxExpireTargets).
	Batch int
	// Now is the clock (default time.Now).
	Now     func() time.Time
	Logger  zerolog.Logger
	Metrics Metrics // nil records nothing
}

// Defaults of Config.
const (
	DefaultDay      = 24 * time.Hour
	DefaultInterval = time.Hour
	DefaultRate     = 1000
	DefaultBatch    = 100
	// firstPassMax bounds the wait for the first pass after Run starts.
	firstPassMax = time.Minute
)

// Errors.
var (
	// ErrNotLeader: the pass stopped because this node is not (or no longer) the leader.
	ErrNotLeader = errors.New("lifecycle: not the leader")
)

// Summary describes one pass.
type Summary struct {
	Started  time.Time `json:"started"`
	Seconds  float64   `json:"duration_seconds"`
	Buckets  int       `json:"buckets"`  // buckets with lifecycle rules
	Examined int       `json:"examined"` // versions, delete markers and uploads looked at
	// Carried out: current versions expired (deleted, or hidden by a delete marker in a
	// versioned bucket), noncurrent versions removed, lone delete markers removed, uploads
	// aborted. Expired is their sum.
	Expired           int `json:"expired"`
	CurrentExpired    int `json:"current_expired"`
	NoncurrentRemoved int `json:"noncurrent_removed"`
	MarkersRemoved    int `json:"delete_markers_removed"`
	UploadsAborted    int `json:"uploads_aborted"`
	// Locked: due, but kept by object lock. NotDue: proposed, but no longer due when the
	// FSM applied it (changed meanwhile). Failed: refused for another reason.
	Locked int    `json:"skipped_locked"`
	NotDue int    `json:"not_due"`
	Failed int    `json:"failed"`
	Error  string `json:"error,omitempty"`
}

// Runner runs lifecycle passes. Its methods are safe for concurrent use; passes do not
// overlap (a Pass called while another runs waits for it).
type Runner struct {
	cfg Config
	m   Metrics
	// passMu serialises passes.
	passMu sync.Mutex
	// mu guards last.
	mu      sync.Mutex
	last    Summary
	hasLast bool
}

// New returns a runner. It panics if a required Config field is missing (a wiring bug).
func New(cfg Config) *Runner {
	if cfg.Meta == nil || cfg.Proposer == nil || cfg.Barrier == nil || cfg.IsLeader == nil {
		panic("lifecycle: Config needs Meta, Proposer, Barrier and IsLeader")
	}
	if cfg.Day <= 0 {
		cfg.Day = DefaultDay
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Rate <= 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	cfg.Batch = min(cfg.Batch, fsm.MaxExpireTargets)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := cfg.Metrics
	if m == nil {
		m = nopMetrics{}
	}
	return &Runner{cfg: cfg, m: m}
}

// Day is the lifecycle day the runner uses.
func (r *Runner) Day() time.Duration { return r.cfg.Day }

// Run runs a pass every Interval while this node is the leader, until ctx ends.
func (r *Runner) Run(ctx context.Context) {
	t := time.NewTimer(min(r.cfg.Interval, firstPassMax))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if r.cfg.IsLeader() {
			s, err := r.Pass(ctx)
			switch {
			case err == nil:
				r.cfg.Logger.Info().Int("examined", s.Examined).Int("expired", s.Expired).Int("locked", s.Locked).
					Float64("seconds", s.Seconds).Msg("lifecycle pass")
			case ctx.Err() == nil && !errors.Is(err, ErrNotLeader):
				r.cfg.Logger.Warn().Err(err).Msg("lifecycle pass")
			}
		}
		t.Reset(r.cfg.Interval)
	}
}

// LastRun returns the summary of the last pass this node ran, and whether it ran one.
func (r *Runner) LastRun() (Summary, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last, r.hasLast
}

// Pass runs one pass over every bucket with lifecycle rules. It returns ErrNotLeader if this
// node is not the leader (at the start: no pass is recorded; or at any batch), and the error
// of a proposal whose outcome is unknown; the summary then covers what was done.
func (r *Runner) Pass(ctx context.Context) (Summary, error) {
	r.passMu.Lock()
	defer r.passMu.Unlock()
	if !r.cfg.IsLeader() {
		return Summary{}, ErrNotLeader
	}
	p := &pass{r: r, ctx: ctx, s: Summary{Started: r.cfg.Now()}}
	start := time.Now()
	err := p.run()
	p.s.Seconds = time.Since(start).Seconds()
	if err != nil {
		p.s.Error = err.Error()
		if !errors.Is(err, ErrNotLeader) {
			r.m.Counter(MetricErrors, 1)
		}
	}
	r.m.Counter(MetricPasses, 1)
	r.m.Counter(MetricExamined, float64(p.s.Examined))
	r.m.Counter(MetricExpired, float64(p.s.Expired))
	r.m.Counter(MetricSkippedLocked, float64(p.s.Locked))
	r.m.Observe(MetricPassSeconds, p.s.Seconds)
	r.m.Gauge(MetricLastPassEnd, float64(r.cfg.Now().Unix()))
	r.mu.Lock()
	r.last, r.hasLast = p.s, true
	r.mu.Unlock()
	return p.s, err
}

// pass is one pass in progress.
type pass struct {
	r       *Runner
	ctx     context.Context
	s       Summary
	bucket  string
	targets []fsm.ExpireTarget
}

func (p *pass) run() error {
	if err := p.r.cfg.Barrier(p.ctx); err != nil {
		return fmt.Errorf("lifecycle: read barrier: %w", err)
	}
	for _, b := range p.r.cfg.Meta.Buckets() {
		rules, err := p.r.cfg.Meta.BucketLifecycle(b.Name)
		var fe *fsm.Error
		switch {
		case errors.As(err, &fe) && (fe.Code == fsm.CodeNoSuchLifecycleConfiguration || fe.Code == fsm.CodeNoSuchBucket):
			continue
		case err != nil:
			return fmt.Errorf("lifecycle: bucket %s: %w", b.Name, err)
		}
		p.s.Buckets++
		p.bucket = b.Name
		if err := p.versions(rules); err != nil {
			return err
		}
		if err := p.uploads(rules); err != nil {
			return err
		}
		if err := p.flush(); err != nil {
			return err
		}
	}
	return nil
}

// keyState follows one key's versions as the listing gives them, newest first.
type keyState struct {
	key     string
	n       int   // versions of the key seen so far
	prevMod int64 // ModTime of the version before (newer than) the next one
	marker  *fsm.ObjectInfo
}

// versions walks the bucket's versions key by key and queues the targets that are due.
func (p *pass) versions(rules []fsm.LifecycleRule) error {
	day := int64(p.r.cfg.Day)
	now := p.r.cfg.Now().UnixNano()
	var ks keyState
	endKey := func() error {
		if ks.marker != nil && ks.n == 1 {
			for i := range rules {
				if due, ok := rules[i].MarkerDue(ks.marker, day); ok && due <= now {
					return p.add(fsm.ExpireTarget{Action: fsm.ExpireDeleteMarker, Key: ks.key, VersionID: ks.marker.VersionID, RuleID: rules[i].ID})
				}
			}
		}
		return nil
	}
	lp := fsm.VersionListParams{MaxKeys: 1000}
	for {
		page, err := p.r.cfg.Meta.ListObjectVersions(p.bucket, lp)
		if err != nil {
			return fmt.Errorf("lifecycle: list versions of %s: %w", p.bucket, err)
		}
		for _, v := range page.Versions {
			if v.Key != ks.key {
				if err := endKey(); err != nil {
					return err
				}
				ks = keyState{key: v.Key}
			}
			p.s.Examined++
			o := v.ObjectInfo
			switch {
			case v.IsLatest && o.DeleteMarker:
				ks.marker = &o
			case v.IsLatest:
				if err := p.current(rules, &o, day, now); err != nil {
					return err
				}
			case ks.n > 0: // noncurrent: since its successor's creation, ks.n-1 noncurrent newer
				if err := p.noncurrent(rules, &o, ks.prevMod, ks.n-1, day, now); err != nil {
					return err
				}
			}
			ks.n++
			ks.prevMod = o.ModTime
		}
		if !page.IsTruncated {
			return endKey()
		}
		lp.KeyMarker, lp.VersionIDMarker = page.NextKeyMarker, page.NextVersionIDMarker
	}
}

func (p *pass) current(rules []fsm.LifecycleRule, o *fsm.ObjectInfo, day, now int64) error {
	due, id, ok := fsm.Expiration(rules, o, day)
	if !ok || due > now {
		return nil
	}
	return p.add(fsm.ExpireTarget{Action: fsm.ExpireCurrent, Key: o.Key, VersionID: o.VersionID, RuleID: id})
}

func (p *pass) noncurrent(rules []fsm.LifecycleRule, o *fsm.ObjectInfo, since int64, newer int, day, now int64) error {
	for i := range rules {
		due, ok := rules[i].NoncurrentDue(o, since, newer, day)
		if !ok || due > now {
			continue
		}
		if o.LockedAt(now) {
			p.s.Locked++ // the FSM would refuse it: not proposed
			return nil
		}
		return p.add(fsm.ExpireTarget{Action: fsm.ExpireNoncurrent, Key: o.Key, VersionID: o.VersionID, RuleID: rules[i].ID})
	}
	return nil
}

// uploads queues the bucket's uploads that are due.
func (p *pass) uploads(rules []fsm.LifecycleRule) error {
	day := int64(p.r.cfg.Day)
	now := p.r.cfg.Now().UnixNano()
	lp := fsm.UploadListParams{MaxUploads: 1000}
	for {
		page, err := p.r.cfg.Meta.ListUploads(p.bucket, lp)
		if err != nil {
			return fmt.Errorf("lifecycle: list uploads of %s: %w", p.bucket, err)
		}
		for i := range page.Uploads {
			u := &page.Uploads[i]
			p.s.Examined++
			for j := range rules {
				if due, ok := rules[j].UploadDue(u, day); ok && due <= now {
					if err := p.add(fsm.ExpireTarget{Action: fsm.ExpireUpload, Key: u.Key, VersionID: u.UploadID, RuleID: rules[j].ID}); err != nil {
						return err
					}
					break
				}
			}
		}
		if !page.IsTruncated {
			return nil
		}
		lp.KeyMarker, lp.UploadIDMarker = page.NextKeyMarker, page.NextUploadIDMarker
	}
}

// add queues a target and proposes a batch when it is full.
func (p *pass) add(t fsm.ExpireTarget) error {
	p.targets = append(p.targets, t)
	if len(p.targets) >= p.r.cfg.Batch {
		return p.flush()
	}
	return nil
}

// flush proposes the queued targets as one LifecycleExpire, then waits as the rate says.
func (p *pass) flush() error {
	if len(p.targets) == 0 {
		return nil
	}
	if !p.r.cfg.IsLeader() {
		return ErrNotLeader
	}
	now := p.r.cfg.Now()
	targets := p.targets
	p.targets = nil
	res, err := p.r.cfg.Proposer.Propose(p.ctx, &fsm.LifecycleExpire{Bucket: p.bucket, Now: now.UnixNano(),
		Day: int64(p.r.cfg.Day), MarkerVersionID: newVersionID(now), Targets: targets})
	if err != nil {
		return fmt.Errorf("lifecycle: propose %d expirations in %s: %w", len(targets), p.bucket, err)
	}
	switch {
	case res.Err != nil && res.Err.Code == fsm.CodeNoSuchBucket: // deleted meanwhile
		p.s.NotDue += len(targets)
	case res.Err != nil:
		return fmt.Errorf("lifecycle: expirations in %s refused: %w", p.bucket, res.Err)
	default:
		p.count(targets, res.Deleted)
	}
	return p.wait(len(targets))
}

// count adds the outcome of each target to the summary.
func (p *pass) count(targets []fsm.ExpireTarget, out []fsm.DeleteResult) {
	for i, d := range out {
		if i >= len(targets) {
			break
		}
		switch {
		case d.Err == nil:
			p.s.Expired++
			switch targets[i].Action {
			case fsm.ExpireCurrent:
				p.s.CurrentExpired++
			case fsm.ExpireNoncurrent:
				p.s.NoncurrentRemoved++
			case fsm.ExpireDeleteMarker:
				p.s.MarkersRemoved++
			case fsm.ExpireUpload:
				p.s.UploadsAborted++
			}
		case d.Err.Code == fsm.CodeAccessDenied:
			p.s.Locked++
		case d.Err.Code == fsm.CodePreconditionFailed, d.Err.Code == fsm.CodeNoSuchVersion,
			d.Err.Code == fsm.CodeNoSuchKey, d.Err.Code == fsm.CodeNoSuchUpload:
			p.s.NotDue++
		default:
			p.s.Failed++
			p.r.cfg.Logger.Warn().Str("bucket", p.bucket).Str("key", d.Key).Str("version", d.VersionID).
				Str("code", d.Err.Code).Str("message", d.Err.Message).Msg("lifecycle expiration refused")
		}
	}
}

// wait throttles: n targets take n/Rate seconds.
func (p *pass) wait(n int) error {
	d := time.Duration(n) * time.Second / time.Duration(p.r.cfg.Rate)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.ctx.Done():
		return p.ctx.Err()
	case <-t.C:
		return nil
	}
}

// newVersionID is the candidate version ID of the delete markers an expiry makes.
func newVersionID(now time.Time) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("lifecycle: crypto/rand failed: " + err.Error()) // unreachable on Linux
	}
	return fsm.NewVersionID(now.UnixNano(), binary.BigEndian.Uint64(b[:]))
}
