package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nebulaio/nebulaio/internal/testutil"
)

// fakeRounds drives a readBatcher whose rounds the test finishes: every round announces itself
// on started and returns what the test sends on answers.
type fakeRounds struct {
	b       *readBatcher
	started chan struct{}
	answers chan readOutcome
	done    chan struct{}
}

func newFakeRounds(t *testing.T) *fakeRounds {
	f := &fakeRounds{started: make(chan struct{}), answers: make(chan readOutcome), done: make(chan struct{})}
	f.b = newReadBatcher(func() (uint64, error) {
		select {
		case f.started <- struct{}{}:
		case <-f.done:
			return 0, ErrClosed
		}
		select {
		case o := <-f.answers:
			return o.idx, o.err
		case <-f.done:
			return 0, ErrClosed
		}
	}, f.done)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		f.b.run()
	}()
	t.Cleanup(func() {
		select {
		case <-f.done:
		default:
			close(f.done)
		}
		<-stopped
	})
	return f
}

// read starts a read and returns where its outcome will arrive.
func (f *fakeRounds) read(ctx context.Context) <-chan readOutcome {
	out := make(chan readOutcome, 1)
	go func() {
		idx, err := f.b.read(ctx)
		out <- readOutcome{idx, err}
	}()
	return out
}

// queueBehindARound starts one read and, once its round is in flight, n more, which queue for
// the next round.
func (f *fakeRounds) queueBehindARound(t *testing.T, n int) (first <-chan readOutcome, later []<-chan readOutcome) {
	t.Helper()
	first = f.read(context.Background())
	f.waitStarted(t)
	for i := 0; i < n; i++ {
		later = append(later, f.read(context.Background()))
	}
	f.waitQueued(t, n)
	return first, later
}

func (f *fakeRounds) waitStarted(t *testing.T) {
	t.Helper()
	select {
	case <-f.started:
	case <-time.After(10 * time.Second):
		t.Fatal("no round started")
	}
}

func (f *fakeRounds) waitQueued(t *testing.T, n int) {
	t.Helper()
	testutil.WaitUntil(t, 10*time.Second, fmt.Sprintf("%d reads queued", n), func() bool { return f.b.queued() == n })
}

func outcome(t *testing.T, out <-chan readOutcome) readOutcome {
	t.Helper()
	select {
	case o := <-out:
		return o
	case <-time.After(10 * time.Second):
		t.Fatal("read not answered")
		return readOutcome{}
	}
}

// TestReadArrivingDuringARoundWaitsForTheNext: a read queued while a round is in flight is not
// answered by that round (its index was captured before the read arrived) but by the next one,
// which it shares with every other read queued meanwhile.
func TestReadArrivingDuringARoundWaitsForTheNext(t *testing.T) {
	f := newFakeRounds(t)
	first, later := f.queueBehindARound(t, 50)
	f.answers <- readOutcome{idx: 10}
	if o := outcome(t, first); o.err != nil || o.idx != 10 {
		t.Fatalf("first read: %+v, want index 10", o)
	}
	f.waitStarted(t)
	for i, out := range later {
		select {
		case o := <-out:
			t.Fatalf("read %d queued during round 1 answered before round 2 ended: %+v", i, o)
		default:
		}
	}
	f.answers <- readOutcome{idx: 11}
	for i, out := range later {
		if o := outcome(t, out); o.err != nil || o.idx != 11 {
			t.Fatalf("read %d queued during round 1: %+v, want index 11 from round 2", i, o)
		}
	}
	if got := f.b.rounds.Load(); got != 2 {
		t.Fatalf("%d rounds for 51 reads, want 2", got)
	}
}

// TestReadRoundErrorReachesEveryWaiter: when a round fails (leadership lost, no quorum), every
// read of it gets the error.
func TestReadRoundErrorReachesEveryWaiter(t *testing.T) {
	f := newFakeRounds(t)
	first, later := f.queueBehindARound(t, 20)
	f.answers <- readOutcome{err: &NotLeaderError{LeaderAddr: "elsewhere"}}
	if o := outcome(t, first); !errors.Is(o.err, ErrNotLeader) || o.idx != 0 {
		t.Fatalf("read of round 1: %+v, want ErrNotLeader", o)
	}
	f.waitStarted(t)
	f.answers <- readOutcome{err: fmt.Errorf("%w: verify leadership: leadership lost", ErrNoQuorum)}
	for i, out := range later {
		if o := outcome(t, out); !errors.Is(o.err, ErrNoQuorum) || o.idx != 0 {
			t.Fatalf("read %d of round 2: %+v, want ErrNoQuorum", i, o)
		}
	}
}

// TestReadCancelledWhileQueued: a read whose context ends while it waits for the next round
// returns the context's error at once and leaves the queue; the round in flight and later reads
// are not held up, and no round runs for it.
func TestReadCancelledWhileQueued(t *testing.T) {
	f := newFakeRounds(t)
	first := f.read(context.Background())
	f.waitStarted(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancelled := f.read(ctx)
	f.waitQueued(t, 1)
	cancel()
	if o := outcome(t, cancelled); !errors.Is(o.err, context.Canceled) {
		t.Fatalf("cancelled read: %+v, want context.Canceled", o)
	}
	if q := f.b.queued(); q != 0 {
		t.Fatalf("%d reads still queued after the only one left", q)
	}
	f.answers <- readOutcome{idx: 3}
	if o := outcome(t, first); o.err != nil || o.idx != 3 {
		t.Fatalf("first read: %+v", o)
	}
	next := f.read(context.Background())
	f.waitStarted(t)
	f.answers <- readOutcome{idx: 4}
	if o := outcome(t, next); o.err != nil || o.idx != 4 {
		t.Fatalf("next read: %+v", o)
	}
	if got := f.b.rounds.Load(); got != 2 {
		t.Fatalf("%d rounds, want 2: none for the cancelled read", got)
	}
	if o := outcome(t, f.read(ctx)); !errors.Is(o.err, context.Canceled) {
		t.Fatalf("read with an ended context: %+v", o)
	}
}

// TestReadBatcherClose: closing wakes the read in a round and the reads queued behind it with
// ErrClosed, and run returns (the cleanup waits for it).
func TestReadBatcherClose(t *testing.T) {
	f := newFakeRounds(t)
	first := f.read(context.Background())
	f.waitStarted(t)
	queued := f.read(context.Background())
	f.waitQueued(t, 1)
	close(f.done)
	for _, out := range []<-chan readOutcome{first, queued} {
		if o := outcome(t, out); !errors.Is(o.err, ErrClosed) {
			t.Fatalf("read at close: %+v, want ErrClosed", o)
		}
	}
}

// TestConcurrentReadsShareRounds: 200 concurrent linearizable reads, half on the leader and half
// forwarded by a follower, each see a write acknowledged before they began, and the leader
// confirms its leadership for them in fewer rounds than reads.
func TestConcurrentReadsShareRounds(t *testing.T) {
	c := newCluster(t, 3, clusterOpts{})
	leader := c.waitLeader(5 * time.Second)
	follower := c.followers(leader)[0]
	if err := propose(leader, "before", "v", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	const reads = 200
	before := leader.node.reads.rounds.Load()
	start := make(chan struct{})
	errs := make(chan error, reads)
	var wg sync.WaitGroup
	for i := 0; i < reads; i++ {
		tn := leader
		if i%2 == 1 {
			tn = follower
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := tn.node.Read(ctx, Linearizable); err != nil {
				errs <- fmt.Errorf("read on %s: %w", tn.id, err)
				return
			}
			if _, ok := tn.fsm.get("before"); !ok {
				errs <- fmt.Errorf("linearizable read on %s missed an acknowledged write", tn.id)
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	rounds := leader.node.reads.rounds.Load() - before
	t.Logf("%d reads, %d leadership rounds", reads, rounds)
	if rounds >= reads {
		t.Fatalf("%d rounds for %d concurrent reads: reads do not share rounds", rounds, reads)
	}
}

// BenchmarkReadIndex: parallel linearizable reads on a 3-node in-process cluster, on the
// leader and on a follower (which asks the leader for the read index over the transport).
// cpu-ns/op is the CPU time of the whole process (all three nodes) per read.
func BenchmarkReadIndex(b *testing.B) {
	c := newCluster(b, 3, clusterOpts{})
	leader := c.waitLeader(5 * time.Second)
	if err := propose(leader, "k", "v", 5*time.Second); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		tn   *testNode
	}{{"leader", leader}, {"follower", c.followers(leader)[0]}} {
		b.Run(bc.name, func(b *testing.B) {
			rounds := leader.node.reads.rounds.Load()
			cpu := processCPU(b)
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := bc.tn.node.Read(context.Background(), Linearizable); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(processCPU(b)-cpu)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(b.N)/float64(leader.node.reads.rounds.Load()-rounds), "reads/round")
		})
	}
}

// processCPU is the CPU time (user and system) this process has used so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
