package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// profile is how long each phase of a run lasts.
type profile struct {
	name          string
	faults        []string
	warmup        time.Duration // load before the baseline of goroutines and descriptors
	before        time.Duration // load before the fault
	hold          time.Duration // how long most faults last
	partitionHold time.Duration // how long partitions last (longer than failure detection)
	after         time.Duration // load after the heal
	converge      time.Duration // bound for the cluster to be whole again after the heal
	workers       int
}

var profiles = map[string]profile{
	"full": {name: "full", warmup: 3 * time.Second, before: 5 * time.Second, hold: 15 * time.Second,
		partitionHold: 25 * time.Second, after: 10 * time.Second, converge: 90 * time.Second, workers: 6},
	"short": {name: "short", faults: []string{"kill-leader", "pause-leader", "partition-leader", "disk-full", "torn-wal", "flip-byte"},
		warmup: 2 * time.Second, before: 3 * time.Second, hold: 8 * time.Second,
		partitionHold: 16 * time.Second, after: 5 * time.Second, converge: 60 * time.Second, workers: 6},
}

// Leak tolerances: after the run (clients' idle connections closed), each node may hold this
// many more goroutines and descriptors than at the baseline, plus a quarter.
const (
	leakGoroutines = 40
	leakFDs        = 20
	leakSettle     = 30 * time.Second
)

// tmpfsSize is the size of the full-disk fault's file system.
const tmpfsSize = "384m"

// run is one fault against a fresh cluster.
type run struct {
	p       profile
	f       fault
	dir     string
	lab     *lab
	c       *cluster
	h       *history
	ld      *load
	clients []*s3client
	holdFor time.Duration

	target             int   // node the fault acts on
	oldLeader          int   // leader when the fault was injected
	injectAt, healAt   int64 // history clock
	loadStart, loadEnd int64
	stopClock          context.CancelFunc
	bg                 sync.WaitGroup // background work of the fault (watchers, clock steps)

	mu        sync.Mutex // guards the fields below, written by background work
	failover  time.Duration
	newLeader int
	notes     []string
}

// logf appends a line to the run's faults.log (in its directory, kept with a failed run).
func (r *run) logf(format string, args ...any) {
	f, err := os.OpenFile(filepath.Join(r.dir, "faults.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s %s\n", time.Now().UTC().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

func (r *run) note(format string, args ...any) {
	r.mu.Lock()
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

// result is one row of the table.
type result struct {
	fault    string
	f        findings
	converge time.Duration
	failures []string // checks that failed, and why
	notes    []string
	dir      string
}

func (res result) pass() bool {
	return len(res.failures) == 0 && len(res.f.lost) == 0 && len(res.f.corrupt) == 0 && len(res.f.phantom) == 0 &&
		len(res.f.stale) == 0 && res.f.linear == porcupine.Ok
}

// poll calls cond until it returns nil, ctx ends or timeout passes, and returns cond's last
// error (or ctx's). It checks at once, then backs off from 10 ms to 250 ms.
func poll(ctx context.Context, timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	wait := 10 * time.Millisecond
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		if pause(ctx, wait) != nil {
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		}
		wait = min(2*wait, 250*time.Millisecond)
	}
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// execute runs fault f under profile p in dir (created), with binary bin and lab names
// starting with prefix. Everything it starts or creates is gone when it returns, except the
// directory (logs, history) which the caller keeps or removes.
func execute(ctx context.Context, p profile, f fault, dir, bin, prefix string, seed uint64) (res result) {
	res = result{fault: f.name, dir: dir}
	r := &run{p: p, f: f, dir: dir, holdFor: f.hold(p)}
	fail := func(format string, args ...any) { res.failures = append(res.failures, fmt.Sprintf(format, args...)) }
	defer func() {
		r.bg.Wait()
		r.mu.Lock()
		res.notes = append(res.notes, r.notes...)
		r.mu.Unlock()
		if r.h != nil {
			if err := r.h.writeJSONL(filepath.Join(dir, "history.jsonl")); err != nil {
				fail("writing the history: %v", err)
			}
		}
	}()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		fail("%v", err)
		return res
	}

	var err error
	if r.lab, err = newLab(prefix, 3); err != nil {
		fail("lab: %v", err)
		return res
	}
	if err := r.lab.setup(); err != nil {
		fail("lab: %v", err)
		return res
	}
	defer r.lab.teardown()

	sec := secrets{accessKey: "FAULTS" + randHex(7), secretKey: randHex(20), adminToken: randHex(16)}
	if sec.joinToken, err = newJoinToken(bin); err != nil {
		fail("%v", err)
		return res
	}
	r.c = newCluster(r.lab, bin, dir, sec, nil)
	if f.tmpfs {
		d := r.c.nodes[2].dir
		if err := os.MkdirAll(d, 0o750); err != nil {
			fail("%v", err)
			return res
		}
		if err := sh("mount", "-t", "tmpfs", "-o", "size="+tmpfsSize, "tmpfs", d); err != nil {
			fail("tmpfs: %v", err)
			return res
		}
		defer func() {
			if err := sh("umount", d); err != nil {
				fail("umount: %v", err)
			}
		}()
	}
	if f.clock {
		for i, n := range r.c.nodes {
			n.env = append(n.env, "NEBULAIO_TEST_CLOCK_OFFSET_FILE="+r.clockFile(i))
		}
	}
	defer r.c.killAll()

	for i := range r.c.nodes {
		if err := r.c.start(i); err != nil {
			fail("%v", err)
			return res
		}
	}
	if err := poll(ctx, 90*time.Second, func() error { return r.c.whole(ctx) }); err != nil {
		fail("the cluster did not form within 90s: %v", err)
		return res
	}
	for i := range r.c.nodes {
		c, err := newS3Client(i, r.c.s3Addr(i), "faults", sec.accessKey, sec.secretKey)
		if err != nil {
			fail("%v", err)
			return res
		}
		r.clients = append(r.clients, c)
	}
	if err := poll(ctx, 30*time.Second, func() error { return r.clients[0].makeBucket(ctx) }); err != nil {
		fail("create the bucket: %v", err)
		return res
	}

	r.h = newHistory()
	r.ld = newLoad(r.h, r.clients, p.workers, seed)
	wctx, cancel := context.WithTimeout(ctx, p.warmup)
	r.ld.run(wctx, 0)
	cancel()
	base, err := r.usage(ctx)
	if err != nil {
		fail("baseline: %v", err)
		return res
	}

	lctx, stopLoad := context.WithCancel(ctx)
	loadDone := make(chan struct{})
	r.loadStart = r.h.now()
	go func() { r.ld.run(lctx, 1); close(loadDone) }()
	stop := func() {
		if r.loadEnd == 0 {
			r.loadEnd = r.h.now()
			stopLoad()
			<-loadDone
		}
	}
	defer stop()

	interrupted := func() result { fail("interrupted: %v", ctx.Err()); return res }
	if pause(ctx, p.before) != nil {
		return interrupted()
	}
	r.injectAt = r.h.now()
	if err := f.inject(ctx, r); err != nil {
		fail("inject: %v", err)
		return res
	}
	if pause(ctx, r.holdFor) != nil {
		return interrupted()
	}
	r.healAt = r.h.now()
	healed := time.Now()
	if err := f.heal(ctx, r); err != nil {
		fail("heal: %v", err)
	}
	// healed→whole is measured while the load goes on: the first time the cluster is whole
	// after the heal, polled from the heal on (not from the end of the load).
	type wholeResult struct {
		after time.Duration
		err   error
	}
	wholeCh := make(chan wholeResult, 1)
	go func() {
		last := ""
		err := poll(ctx, p.after+p.converge, func() error {
			err := r.c.whole(ctx)
			// Each change of what is missing goes to the run's log: why a heal was slow.
			if msg := fmt.Sprint(err); err != nil && msg != last {
				last = msg
				r.logf("+%s after the heal, not whole: %s", time.Since(healed).Round(10*time.Millisecond), msg)
			}
			return err
		})
		wholeCh <- wholeResult{time.Since(healed), err}
	}()
	if pause(ctx, p.after) != nil {
		<-wholeCh
		return interrupted()
	}
	stop()

	w := <-wholeCh
	if w.err != nil {
		fail("not whole %s after the heal: %v", p.after+p.converge, w.err)
	}
	res.converge = w.after
	// Whole once is not enough: it must still be whole now that the load has stopped.
	if w.err == nil {
		if err := poll(ctx, p.converge, func() error { return r.c.whole(ctx) }); err != nil {
			fail("whole %s after the heal, then not whole again within %s: %v", w.after.Round(10*time.Millisecond), p.converge, err)
		}
	}
	finalReads(r.clients, r.h, p.workers)
	if err := f.verify(ctx, r); err != nil {
		fail("the fault did not take effect as intended: %v", err)
	}
	res.f = analyze(r.h.snapshot(), r.loadStart, r.loadEnd, len(r.c.nodes), filepath.Join(dir, "linearizability.html"))
	if s := unknownCodes(r.h.snapshot()); s != "" {
		r.note("unknown outcomes: %s", s)
	}
	r.noteLeaderChanges(ctx, base)
	if res.f.linear == porcupine.Unknown {
		fail("the linearizability check timed out")
	}
	if err := r.noLeaks(ctx, base); err != nil {
		fail("%v", err)
	}
	if err := r.c.stopAll(30 * time.Second); err != nil {
		fail("clean stop: %v", err)
	}
	return res
}

// usage is each node's goroutines and open descriptors, with this process's idle connections
// closed first.
func (r *run) usage(ctx context.Context) ([]map[string]float64, error) {
	for _, c := range r.clients {
		c.closeIdle()
	}
	r.c.http.CloseIdleConnections()
	var out []map[string]float64
	for i := range r.c.nodes {
		m, err := r.c.metrics(ctx, i, metricGoroutines, metricOpenFDs, metricLeaderChanges)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// noteLeaderChanges notes how many leader changes each node saw since the baseline (a node
// restarted by the fault counts from its restart): an election the fault did not ask for
// explains a window.
func (r *run) noteLeaderChanges(ctx context.Context, base []map[string]float64) {
	var parts []string
	for i := range r.c.nodes {
		m, err := r.c.metrics(ctx, i, metricLeaderChanges)
		if err != nil {
			parts = append(parts, fmt.Sprintf("n%d ?", i+1))
			continue
		}
		d := m[metricLeaderChanges] - base[i][metricLeaderChanges]
		if r.c.nodes[i].starts > 1 {
			d = m[metricLeaderChanges]
		}
		parts = append(parts, fmt.Sprintf("n%d %v", i+1, d))
	}
	r.note("leader changes seen since the warm-up: %s", strings.Join(parts, ", "))
}

// noLeaks waits up to leakSettle for every node's goroutines and descriptors to come back
// within the tolerance of the baseline.
func (r *run) noLeaks(ctx context.Context, base []map[string]float64) error {
	var last []map[string]float64
	err := poll(ctx, leakSettle, func() error {
		now, err := r.usage(ctx)
		if err != nil {
			return err
		}
		last = now
		var errs []error
		for i := range now {
			for name, extra := range map[string]float64{metricGoroutines: leakGoroutines, metricOpenFDs: leakFDs} {
				if limit := base[i][name]*1.25 + extra; now[i][name] > limit {
					errs = append(errs, fmt.Errorf("n%d %s %v, baseline %v", i+1, name, now[i][name], base[i][name]))
				}
			}
		}
		return errors.Join(errs...)
	})
	if err == nil {
		for i := range last {
			r.note("n%d goroutines %v→%v fds %v→%v", i+1, base[i][metricGoroutines], last[i][metricGoroutines], base[i][metricOpenFDs], last[i][metricOpenFDs])
		}
		return nil
	}
	return fmt.Errorf("goroutines or descriptors grew (within %s): %w", leakSettle, err)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// unknownCodes summarises the load's operations of unknown outcome by S3 error code ("no
// answer" for timeouts and broken connections), most frequent first.
func unknownCodes(ops []op) string {
	count := map[string]int{}
	for _, o := range ops {
		if o.Final || o.Outcome != unknown {
			continue
		}
		c := o.Code
		if c == "" {
			c = "no answer"
		}
		count[c]++
	}
	codes := slices.Collect(maps.Keys(count))
	sort.Slice(codes, func(i, j int) bool {
		if count[codes[i]] != count[codes[j]] {
			return count[codes[i]] > count[codes[j]]
		}
		return codes[i] < codes[j]
	})
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%s×%d", c, count[c]))
	}
	return strings.Join(parts, ", ")
}
