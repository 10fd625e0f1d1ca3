package engine

import (
	"context"
	"sync"
	"sync/atomic"
)

// readBatcher shares leadership confirmations among concurrent linearizable reads on the
// leader: the read-index batching of etcd (raft thesis §6.4). Without it every read, and every
// read index a follower asks for, cost the cluster one VerifyLeader, a round of heartbeats to
// every follower.
//
// Invariant: a request is answered with a commit index captured after the request was queued,
// and with success only if a leadership confirmation started after that capture succeeded.
// Rounds run one at a time; a round takes every request queued when it starts, captures the
// commit index once, confirms leadership once and answers all of them alike (the index, or the
// round's error). A request queued while a round is in flight waits for the next round: the
// one in flight captured its index before the request arrived, so it proves nothing about the
// writes acknowledged before then.
//
// A request waits for at most the round in flight and its own; each round is bounded by the
// round function (within the no-quorum bound in production, readRound). A request whose
// context ends leaves the queue and returns the context's error; closing done wakes every
// request with ErrClosed and stops run.
type readBatcher struct {
	// round captures a read index and then confirms it (Node.readRound). It is called from
	// run only, so never twice at once.
	round func() (uint64, error)
	done  <-chan struct{}
	wake  chan struct{} // holds a token when requests were queued since run last looked

	mu    sync.Mutex
	queue []*readRequest // waiting for the next round

	rounds atomic.Uint64 // rounds started: tests and benchmarks compare it with the reads
}

type readRequest struct {
	out chan readOutcome // buffered 1: run never waits for a request that left
}

type readOutcome struct {
	idx uint64
	err error
}

func newReadBatcher(round func() (uint64, error), done <-chan struct{}) *readBatcher {
	return &readBatcher{round: round, done: done, wake: make(chan struct{}, 1)}
}

// read queues a request for the next round and returns that round's read index or error;
// ctx.Err() if ctx ends first, ErrClosed if done closes first.
func (b *readBatcher) read(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	r := &readRequest{out: make(chan readOutcome, 1)}
	b.mu.Lock()
	b.queue = append(b.queue, r)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default: // run has a token already and will see this request
	}
	select {
	case o := <-r.out:
		return o.idx, o.err
	case <-ctx.Done():
		b.leave(r)
		return 0, ctx.Err()
	case <-b.done:
		return 0, ErrClosed
	}
}

// leave takes r out of the queue, so that a round is not run for requests that all left. A
// request already taken by a round is answered into its buffer and dropped with it.
func (b *readBatcher) leave(r *readRequest) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, q := range b.queue {
		if q == r {
			b.queue = append(b.queue[:i], b.queue[i+1:]...)
			return
		}
	}
}

// queued is the number of requests waiting for the next round.
func (b *readBatcher) queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

// run serves rounds until done closes: whenever requests are queued and no round is in flight,
// the next round takes them all.
func (b *readBatcher) run() {
	for {
		select {
		case <-b.wake:
		case <-b.done:
			return
		}
		for {
			b.mu.Lock()
			batch := b.queue
			b.queue = nil
			b.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			b.rounds.Add(1)
			idx, err := b.round()
			for _, r := range batch {
				r.out <- readOutcome{idx, err}
			}
			select {
			case <-b.done:
				return
			default:
			}
		}
	}
}
