package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// fault is one kind of run: what is done to the cluster while the load runs, how it is undone,
// and how the run proves that it did happen (a fault that silently did nothing would make a
// green table worthless).
type fault struct {
	name string
	what string
	// tmpfs puts node 3's data_dir on a small tmpfs of its own (the full disk).
	tmpfs bool
	// clock starts every node with the test clock hook (cmd/nebulaio, testClockEnv).
	clock bool
	// hold is how long the fault lasts in profile p.
	hold func(p profile) time.Duration
	// inject picks r.target and does the fault; heal undoes it (restart, SIGCONT, mend, ...).
	inject, heal func(ctx context.Context, r *run) error
	// verify runs after the final reads: it returns an error when the fault did not take
	// effect as intended, and may add notes (measurements) to r.
	verify func(ctx context.Context, r *run) error
}

func holdOf(p profile) time.Duration      { return p.hold }
func partitionOf(p profile) time.Duration { return p.partitionHold }

// faults lists every fault, in the order the full profile runs them.
var faults = []fault{
	{
		name: "kill-leader", what: "kill -9 of the leader, restarted after the hold",
		hold: holdOf,
		inject: func(ctx context.Context, r *run) error {
			if err := r.pickLeader(ctx); err != nil {
				return err
			}
			if err := r.c.kill9(r.target); err != nil {
				return err
			}
			r.watchFailover(ctx)
			return nil
		},
		heal:   func(_ context.Context, r *run) error { return r.c.start(r.target) },
		verify: func(_ context.Context, r *run) error { return r.failoverSeen() },
	},
	{
		name: "kill-follower", what: "kill -9 of a follower, restarted after the hold",
		hold: holdOf,
		inject: func(ctx context.Context, r *run) error {
			if err := r.pickFollower(ctx); err != nil {
				return err
			}
			return r.c.kill9(r.target)
		},
		heal:   func(_ context.Context, r *run) error { return r.c.start(r.target) },
		verify: func(context.Context, *run) error { return nil },
	},
	{
		name: "pause-leader", what: "SIGSTOP of the leader, SIGCONT after the hold",
		hold: holdOf,
		inject: func(ctx context.Context, r *run) error {
			if err := r.pickLeader(ctx); err != nil {
				return err
			}
			if err := r.c.signal(r.target, syscall.SIGSTOP); err != nil {
				return err
			}
			r.watchFailover(ctx)
			return nil
		},
		heal:   func(_ context.Context, r *run) error { return r.c.signal(r.target, syscall.SIGCONT) },
		verify: func(_ context.Context, r *run) error { return r.failoverSeen() },
	},
	{
		name: "partition-leader", what: "the leader cut off from both peers (iptables DROP both ways), clients still reach it",
		hold: partitionOf,
		inject: func(ctx context.Context, r *run) error {
			if err := r.pickLeader(ctx); err != nil {
				return err
			}
			if err := r.lab.cut(r.target, both); err != nil {
				return err
			}
			r.watchFailover(ctx)
			return nil
		},
		heal: func(_ context.Context, r *run) error { return r.lab.mend(r.target) },
		verify: func(_ context.Context, r *run) error {
			return errors.Join(r.failoverSeen(), r.minorityFailsFast())
		},
	},
	{
		name: "asymmetric-partition", what: "the leader hears nothing from its peers, which still hear it (iptables DROP inbound only)",
		hold: partitionOf,
		inject: func(ctx context.Context, r *run) error {
			if err := r.pickLeader(ctx); err != nil {
				return err
			}
			if err := r.lab.cut(r.target, inbound); err != nil {
				return err
			}
			r.watchFailover(ctx)
			return nil
		},
		heal: func(_ context.Context, r *run) error { return r.lab.mend(r.target) },
		verify: func(_ context.Context, r *run) error {
			return errors.Join(r.failoverSeen(), r.minorityFailsFast())
		},
	},
	{
		name: "disk-full", what: "node 3's data_dir (a 384 MiB tmpfs) filled to the last byte, then freed",
		tmpfs: true, hold: holdOf,
		inject: func(_ context.Context, r *run) error {
			r.target = 2
			n, err := fillDisk(filepath.Join(r.c.nodes[2].dir, "filler"))
			r.note("filled %d MiB", n>>20)
			return err
		},
		heal: func(_ context.Context, r *run) error {
			return os.Remove(filepath.Join(r.c.nodes[2].dir, "filler"))
		},
		verify: func(ctx context.Context, r *run) error {
			m, err := r.c.metrics(ctx, r.target, metricReserveRefusals)
			if err != nil {
				return err
			}
			r.note("n3 refused %v blob writes for lack of space", m[metricReserveRefusals])
			if m[metricReserveRefusals] < 1 {
				return fmt.Errorf("%s is %v on n3: the full disk refused no write", metricReserveRefusals, m[metricReserveRefusals])
			}
			// One full node costs a write one replica, not the quorum: writes through the
			// full node itself go on.
			acked, n := r.writesThrough(r.target, r.injectAt+int64(time.Second), r.healAt)
			r.note("%d of %d writes through n3 acknowledged while its disk was full", acked, n)
			if n > 0 && acked == 0 {
				return fmt.Errorf("no write through n3 was acknowledged while its disk was full (%d tried)", n)
			}
			return nil
		},
	},
	{
		name: "clock-jump", what: "the leader's wall clock stepped +10m, -10m, then +1h, then back (test clock hook)",
		clock: true, hold: holdOf,
		inject: func(ctx context.Context, r *run) error {
			if err := r.pickLeader(ctx); err != nil {
				return err
			}
			return r.stepClock(ctx)
		},
		heal: func(_ context.Context, r *run) error {
			r.stopClock()
			return os.Remove(r.clockFile(r.target))
		},
		verify: func(_ context.Context, r *run) error {
			n := 0
			for _, o := range r.h.snapshot() {
				if o.Node == r.target && o.Code == "RequestTimeTooSkewed" {
					n++
				}
			}
			r.note("%d requests refused with RequestTimeTooSkewed while n%d was an hour ahead", n, r.target+1)
			if n == 0 {
				return fmt.Errorf("no request to n%d was refused for clock skew: the +1h step did not take effect", r.target+1)
			}
			return nil
		},
	},
	{
		name: "torn-wal", what: "kill -9 of the leader, a torn record written after its WAL's last record, restarted",
		hold: func(p profile) time.Duration { return p.hold / 2 },
		inject: func(ctx context.Context, r *run) error {
			if err := r.pickLeader(ctx); err != nil {
				return err
			}
			if err := r.c.kill9(r.target); err != nil {
				return err
			}
			torn, err := tearWALTail(filepath.Join(r.c.nodes[r.target].dir, "raft", "wal"))
			if err != nil {
				return err
			}
			r.note("torn record at %s offset %d, after index %d", filepath.Base(torn.segment), torn.offset, torn.lastIndex)
			return nil
		},
		heal: func(_ context.Context, r *run) error { return r.c.start(r.target) },
		verify: func(ctx context.Context, r *run) error {
			m, err := r.c.metrics(ctx, r.target, metricWALTornTails)
			if err != nil {
				return err
			}
			if m[metricWALTornTails] < 1 {
				return fmt.Errorf("%s is %v on n%d after its restart: the WAL did not see the torn tail", metricWALTornTails, m[metricWALTornTails], r.target+1)
			}
			return nil
		},
	},
	{
		name: "flip-byte", what: "one data byte flipped in blob files on a follower (a written object's and up to 5 others), read through every node",
		hold: holdOf,
		inject: func(ctx context.Context, r *run) error {
			if err := r.pickFollower(ctx); err != nil {
				return err
			}
			return r.flipBlobs(ctx)
		},
		heal: func(context.Context, *run) error { return nil },
		verify: func(ctx context.Context, r *run) error {
			m, err := r.c.metrics(ctx, r.target, metricBlobCorrupt)
			if err != nil {
				return err
			}
			r.note("n%d detected %v corrupt blob reads", r.target+1, m[metricBlobCorrupt])
			if m[metricBlobCorrupt] < 1 {
				return fmt.Errorf("%s is %v on n%d: the flipped byte was never detected", metricBlobCorrupt, m[metricBlobCorrupt], r.target+1)
			}
			return nil
		},
	},
}

func faultByName(name string) (fault, bool) {
	for _, f := range faults {
		if f.name == name {
			return f, true
		}
	}
	return fault{}, false
}

// pickLeader sets r.target to the leader the nodes agree on.
func (r *run) pickLeader(ctx context.Context) error {
	var err error
	perr := poll(ctx, 10*time.Second, func() error {
		r.target, err = r.c.leader(ctx)
		return err
	})
	if perr != nil {
		return fmt.Errorf("no leader to pick: %w", perr)
	}
	r.oldLeader = r.target
	return nil
}

// pickFollower sets r.target to a node that is not the leader.
func (r *run) pickFollower(ctx context.Context) error {
	if err := r.pickLeader(ctx); err != nil {
		return err
	}
	r.target = (r.oldLeader + 1 + rand.IntN(2)) % len(r.c.nodes)
	return nil
}

// watchFailover waits in the background, for at most the hold, until another node reports
// itself leader (nebulaio_raft_state, read locally on each node: the admin API's health may
// wait on the old leader), and records how long that took after the fault.
func (r *run) watchFailover(ctx context.Context) {
	start := time.Now()
	r.bg.Add(1)
	go func() {
		defer r.bg.Done()
		_ = poll(ctx, r.holdFor, func() error {
			for i := range r.c.nodes {
				if i == r.oldLeader {
					continue
				}
				m, err := r.c.metrics(ctx, i, metricRaftState)
				if err == nil && m[metricRaftState] == raftStateLeader {
					r.mu.Lock()
					r.failover, r.newLeader = time.Since(start), i
					r.mu.Unlock()
					return nil
				}
			}
			return errors.New("no new leader yet")
		})
	}()
}

// failoverSeen: the other nodes elected a new leader while the fault held.
func (r *run) failoverSeen() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failover == 0 {
		return fmt.Errorf("the other nodes elected no new leader within the %s hold", r.holdFor)
	}
	r.notes = append(r.notes, fmt.Sprintf("n%d → n%d in %s", r.oldLeader+1, r.newLeader+1, r.failover.Round(10*time.Millisecond)))
	return nil
}

// minorityBound is how long a write on a node cut off from the quorum may take to fail: the
// README's bounds (2 s for a PUT after the last contact, 3 s for a forwarded metadata write)
// with room for a loaded machine.
const minorityBound = 5 * time.Second

// minorityFailsFast: writes through the node cut off, started once the cut is a second old
// (so that they are not ones a leader could still commit) and before the heal, failed within
// minorityBound, and none was acknowledged.
func (r *run) minorityFailsFast() error {
	var worst time.Duration
	var n, acked int
	for _, o := range r.h.snapshot() {
		if o.Node != r.target || !o.Kind.write() || o.Final || o.Call < r.injectAt+int64(time.Second) || o.Call > r.healAt-int64(minorityBound) {
			continue
		}
		n++
		if o.Outcome == ok {
			acked++
			continue
		}
		worst = max(worst, time.Duration(o.Return-o.Call))
	}
	r.note("%d writes through n%d while cut off, slowest failure %s", n, r.target+1, worst.Round(10*time.Millisecond))
	var errs []error
	if acked > 0 {
		errs = append(errs, fmt.Errorf("%d writes through n%d were acknowledged while it was cut off: the partition did not hold", acked, r.target+1))
	}
	if worst > minorityBound {
		errs = append(errs, fmt.Errorf("a write through n%d took %s to fail while it was cut off, want at most %s", r.target+1, worst.Round(10*time.Millisecond), minorityBound))
	}
	return errors.Join(errs...)
}

// writesThrough counts the load's writes through node i invoked in [from, to] (history clock)
// and how many of them were acknowledged.
func (r *run) writesThrough(i int, from, to int64) (acked, n int) {
	for _, o := range r.h.snapshot() {
		if o.Node != i || !o.Kind.write() || o.Final || o.Call < from || o.Call > to {
			continue
		}
		n++
		if o.Outcome == ok {
			acked++
		}
	}
	return acked, n
}

func (r *run) clockFile(i int) string { return filepath.Join(r.dir, r.c.nodes[i].id+".clock") }

// stepClock steps r.target's clock +10m, then -10m, then +1h, a third of the hold each.
func (r *run) stepClock(ctx context.Context) error {
	steps := []string{"10m", "-10m", "1h"}
	if err := os.WriteFile(r.clockFile(r.target), []byte(steps[0]), 0o600); err != nil {
		return err
	}
	cctx, cancel := context.WithCancel(ctx)
	r.stopClock = cancel
	r.bg.Add(1)
	go func() {
		defer r.bg.Done()
		for _, s := range steps[1:] {
			select {
			case <-cctx.Done():
				return
			case <-time.After(r.holdFor / 3):
			}
			if err := os.WriteFile(r.clockFile(r.target), []byte(s), 0o600); err != nil {
				r.note("clock step %s: %v", s, err)
			}
		}
	}()
	return nil
}

// flipBlobs writes a fresh object, finds its blob on r.target, flips a byte of it and of up to
// five other blob files there, and reads the object through r.target at once (which must fail
// over to a good copy). The write and the read are part of the history.
func (r *run) flipBlobs(ctx context.Context) error {
	key, version := "u/flip", "flip-1"
	worker := r.p.workers + len(r.c.nodes) // after the load's workers and the final readers
	c := r.clients[(r.target+1)%len(r.clients)]
	o := op{Worker: worker, Node: c.node, Kind: opPut, Key: key, Version: version, Size: 200 << 10, Call: r.h.now()}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err := c.put(pctx, key, version, o.Size)
	cancel()
	o.Return = r.h.now()
	o.Outcome, o.Code = classify(err)
	if err != nil {
		o.Err = err.Error()
	}
	r.h.add(o)
	if err != nil {
		return fmt.Errorf("writing the object to corrupt: %w", err)
	}
	dir := r.c.nodes[r.target].dir
	hdr := []byte(valueHeader(key, version, o.Size))
	var path string
	if err := poll(ctx, 10*time.Second, func() error {
		path, err = findBlobHolding(dir, hdr)
		return err
	}); err != nil {
		return err
	}
	if err := flipByte(path, int64(len(hdr)+100)); err != nil {
		return err
	}
	flipped := 1
	files, _ := blobFiles(dir)
	rand.Shuffle(len(files), func(i, j int) { files[i], files[j] = files[j], files[i] })
	for _, p := range files {
		if flipped == 6 {
			break
		}
		if st, err := os.Stat(p); err != nil || p == path || st.Size() < blobHeader+200 {
			continue
		}
		if flipByte(p, 150) == nil {
			flipped++
		}
	}
	r.note("flipped a byte in %d blob files on n%d", flipped, r.target+1)

	g := op{Worker: worker, Node: r.target, Kind: opGet, Key: key, Call: r.h.now()}
	gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err = r.ld.read(gctx, r.clients[r.target], &g)
	g.Return = r.h.now()
	g.Outcome, g.Code = classify(err)
	if err != nil {
		g.Err = err.Error()
	}
	r.h.add(g)
	return nil
}
