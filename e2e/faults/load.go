package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// The load: workers, each bound to one node (worker w to node w mod 3, as Jepsen binds clients
// to nodes), each issuing one operation at a time at most every opInterval, so the load is
// bounded in rate as well as in time. Keys:
//
//   - registers "r/<slot>.<generation>": a few slots that every worker puts, overwrites,
//     deletes and reads concurrently; each generation of a slot takes at most registerOps
//     operations before the slot moves to a new key, so that no key's history grows past what
//     the linearizability checker handles quickly (an operation of unknown outcome is
//     concurrent with everything after it on its key);
//   - unique keys "u/w<worker>/<n>": written once (PutObject, or a multipart upload), never
//     overwritten or deleted: the durability set, read back at random during the run and from
//     every node at the end;
//   - listings of "u/": every unique key acknowledged before a listing starts must be in it,
//     and none whose write certainly failed.

// mix is the share of each operation, in percent (the rest are unique PUTs).
type mix struct {
	regPut, regGet, regDel, uniqGet, list, mpu int
}

var defaultMix = mix{regPut: 28, regGet: 24, regDel: 8, uniqGet: 10, list: 3, mpu: 1}

const (
	registerSlots = 6
	registerOps   = 40
	// maxMultipart bounds multipart uploads in a run (each is more than 5 MiB, written to
	// three nodes).
	maxMultipart = 8
)

// keyspace hands out keys to the workers.
type keyspace struct {
	mu    sync.Mutex
	gen   [registerSlots]int
	uses  [registerSlots]int
	acked []string // unique keys whose write was acknowledged, for reads during the run
}

func (k *keyspace) register(r *rand.Rand) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := r.IntN(registerSlots)
	if k.uses[s] >= registerOps {
		k.gen[s]++
		k.uses[s] = 0
	}
	k.uses[s]++
	return fmt.Sprintf("r/%d.%d", s, k.gen[s])
}

func (k *keyspace) ackedUnique(r *rand.Rand) (string, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.acked) == 0 {
		return "", false
	}
	return k.acked[r.IntN(len(k.acked))], true
}

func (k *keyspace) addAcked(key string) {
	k.mu.Lock()
	k.acked = append(k.acked, key)
	k.mu.Unlock()
}

// load runs the workers and records every operation in h.
type load struct {
	h          *history
	clients    []*s3client // one per node
	workers    int
	opInterval time.Duration
	opTimeout  time.Duration
	seed       uint64
	mix        mix

	keys      keyspace
	seq       []atomic.Int64 // per worker: versions and unique keys
	multipart atomic.Int32
}

func newLoad(h *history, clients []*s3client, workers int, seed uint64) *load {
	return &load{h: h, clients: clients, workers: workers, opInterval: 40 * time.Millisecond,
		opTimeout: 8 * time.Second, seed: seed, mix: defaultMix, seq: make([]atomic.Int64, workers)}
}

// run drives the load until ctx ends and returns once every worker has recorded its last
// operation. Calls may follow each other (warm-up, then the run); keys and sequence numbers
// carry on.
func (l *load) run(ctx context.Context, round int) {
	var wg sync.WaitGroup
	for w := range l.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(l.seed, uint64(round*1000+w)))
			for ctx.Err() == nil {
				pause := l.opInterval
				if o := l.one(r, w); o.Outcome != ok {
					pause *= 3 // back off a little from a node that fails
				}
				t := time.NewTimer(pause)
				select {
				case <-ctx.Done():
				case <-t.C:
				}
				t.Stop()
			}
		}()
	}
	wg.Wait()
}

// one issues one operation chosen by the mix and records it. The operation runs under its own
// timeout, not the load's context: stopping the load lets operations in flight finish.
func (l *load) one(r *rand.Rand, w int) op {
	c := l.clients[w%len(l.clients)]
	ctx, cancel := context.WithTimeout(context.Background(), l.opTimeout)
	defer cancel()
	o := op{Worker: w, Node: c.node}
	version := func() string { return fmt.Sprintf("w%d-%d", w, l.seq[w].Add(1)) }
	p := r.IntN(100)
	m := l.mix
	o.Call = l.h.now()
	var err error
	switch {
	case p < m.regPut:
		o.Kind, o.Key, o.Version, o.Size = opPut, l.keys.register(r), version(), 64+r.IntN(16<<10)
		err = c.put(ctx, o.Key, o.Version, o.Size)
	case p < m.regPut+m.regGet:
		o.Kind, o.Key = opGet, l.keys.register(r)
		err = l.read(ctx, c, &o)
	case p < m.regPut+m.regGet+m.regDel:
		o.Kind, o.Key = opDel, l.keys.register(r)
		err = c.del(ctx, o.Key)
	case p < m.regPut+m.regGet+m.regDel+m.uniqGet:
		key, found := l.keys.ackedUnique(r)
		if !found {
			key = l.keys.register(r)
		}
		o.Kind, o.Key = opGet, key
		err = l.read(ctx, c, &o)
	case p < m.regPut+m.regGet+m.regDel+m.uniqGet+m.list:
		o.Kind, o.Prefix = opList, "u/"
		o.Listed, err = c.list(ctx, o.Prefix)
	case p < m.regPut+m.regGet+m.regDel+m.uniqGet+m.list+m.mpu && l.multipart.Add(1) <= maxMultipart:
		n := l.seq[w].Add(1)
		o.Kind, o.Key, o.Version, o.Size = opMPU, fmt.Sprintf("u/w%d/%d", w, n), fmt.Sprintf("w%d-%d", w, n), multipartPartSize+1+r.IntN(64<<10)
		var sent bool
		sent, err = c.multipart(ctx, o.Key, o.Version, o.Size)
		if err != nil && !sent {
			o.Return = l.h.now()
			o.Outcome, o.Err = failed, "not completed: "+err.Error()
			l.h.add(o)
			return o
		}
	default:
		n := l.seq[w].Add(1)
		o.Kind, o.Key, o.Version, o.Size = opPut, fmt.Sprintf("u/w%d/%d", w, n), fmt.Sprintf("w%d-%d", w, n), 256+r.IntN(128<<10)
		err = c.put(ctx, o.Key, o.Version, o.Size)
	}
	o.Return = l.h.now()
	o.Outcome, o.Code = classify(err)
	if err != nil {
		o.Err = err.Error()
	}
	if o.Outcome == ok && o.Kind.write() && isUnique(o.Key) {
		l.keys.addAcked(o.Key)
	}
	l.h.add(o)
	return o
}

// read GETs o.Key into o (Version, Corrupt).
func (l *load) read(ctx context.Context, c *s3client, o *op) error {
	version, found, corrupt, err := c.get(ctx, o.Key)
	if err != nil {
		return err
	}
	if found {
		o.Version = version
		if o.Version == "" {
			o.Version = "?"
		}
	}
	if corrupt != nil {
		o.Corrupt = corrupt.Error()
	}
	return nil
}

func isUnique(key string) bool { return len(key) > 2 && key[:2] == "u/" }
