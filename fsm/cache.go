package fsm

import (
	"hash/maphash"
	"sync"
)

// entryCache holds clean records (objects, uploads, parts) read back from the snapshot runs
// or written by a snapshot that has since persisted, at most max of them (negative: no bound,
// 0: none) and at most maxBytes bytes as cost counts them (0: no byte bound): an inline
// blob's bytes are records too, and one of 64 KiB must not count as one record. It keeps their encodings, not decoded structs: half the bytes, and no pointers
// for the garbage collector to trace (a decoded ObjectInfo holds a dozen), which keeps GC
// work — and read latency under it — independent of the cache size. A hit decodes (~1 µs). It is scan resistant in the manner of S3-FIFO (Yang et al., SOSP 2023): a new
// record enters a small FIFO (a tenth of the room); one that is not read again before it
// reaches the end of that queue leaves, and only its key hash is remembered in a ghost queue;
// one that was read again, or whose hash is still in the ghost queue when it comes back, moves
// to the main FIFO, where a record read since its last pass is kept for another round. A walk
// over many records once (a HEAD of every object) therefore cycles through the small queue and
// leaves the hot set in the main queue alone. Listings do not fill the cache at all: they read
// the runs in order.
//
// The cache knows nothing of tiers: the FSM consults it only for keys that are neither dirty
// nor frozen, and keeps it coherent at every switch of the snapshot runs (put and remove of
// what the persisted snapshot changed, then a new epoch; see FSM.switchBase). fill, used by
// readers that read the runs without holding the FSM lock, is refused across an epoch change,
// so a value read from runs that have since been replaced never enters the cache.
//
// Cached encodings are never modified after insertion. All methods are safe for concurrent
// use.
type entryCache struct {
	mu       sync.Mutex // guards every field below
	max      int
	smallMax int
	maxBytes int64
	bytes    int64 // cost of every record held
	// smallBytes is the cost of the records in the small queue (a tenth of maxBytes).
	smallBytes int64
	m          map[string]*cnode
	small      fifo
	main       fifo
	ghost      ghostQueue
	epoch      uint64
	seed       maphash.Seed
	metrics    Metrics // hits, misses and evictions are counted as they happen
}

type cnode struct {
	key        string
	val        []byte
	freq       uint8 // reads since insertion or the last pass, capped at 3
	inMain     bool
	prev, next *cnode
}

// fifo is an intrusive doubly linked queue: push at the head, pop at the tail.
type fifo struct {
	head, tail *cnode
	n          int
}

func (q *fifo) push(c *cnode) {
	c.prev, c.next = nil, q.head
	if q.head != nil {
		q.head.prev = c
	} else {
		q.tail = c
	}
	q.head = c
	q.n++
}

func (q *fifo) unlink(c *cnode) {
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		q.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		q.tail = c.prev
	}
	c.prev, c.next = nil, nil
	q.n--
}

// ghostQueue remembers the hashes of the last cap keys evicted from the small queue.
type ghostQueue struct {
	ring []uint64
	seqs []uint64
	next uint64
	in   map[uint64]uint64 // hash → sequence number of its newest slot
}

func (g *ghostQueue) add(h uint64) {
	if len(g.ring) == 0 {
		return
	}
	i := g.next % uint64(len(g.ring))
	if g.next >= uint64(len(g.ring)) {
		if old := g.ring[i]; g.in[old] == g.seqs[i] {
			delete(g.in, old)
		}
	}
	g.ring[i], g.seqs[i] = h, g.next
	g.in[h] = g.next
	g.next++
}

// take reports whether h is remembered, and forgets it.
func (g *ghostQueue) take(h uint64) bool {
	if _, ok := g.in[h]; ok {
		delete(g.in, h)
		return true
	}
	return false
}

// cnodeOverhead approximates what a cached record costs beyond its key and encoding: the
// node, the map entry and the ghost slot.
const cnodeOverhead = 96

func cost(key string, val []byte) int64 { return int64(len(key) + len(val) + cnodeOverhead) }

func newEntryCache(max int, maxBytes int64, m Metrics) *entryCache {
	c := &entryCache{max: max, maxBytes: maxBytes, seed: maphash.MakeSeed(), metrics: m}
	c.reset()
	return c
}

// reset empties the cache; the caller holds mu or owns c.
func (c *entryCache) reset() {
	c.m = make(map[string]*cnode)
	c.small, c.main = fifo{}, fifo{}
	c.bytes, c.smallBytes = 0, 0
	if c.max > 0 {
		c.smallMax = max(1, c.max/10)
		mainMax := max(1, c.max-c.smallMax)
		c.ghost = ghostQueue{ring: make([]uint64, mainMax), seqs: make([]uint64, mainMax), in: make(map[uint64]uint64)}
	} else {
		c.ghost = ghostQueue{}
	}
}

// get returns the cached encoding of key's record.
func (c *entryCache) get(key string) ([]byte, bool) {
	c.mu.Lock()
	n := c.m[key]
	var val []byte
	if n != nil {
		val = n.val
		if n.freq < 3 {
			n.freq++
		}
	}
	c.mu.Unlock()
	if n == nil {
		c.metrics.Counter(MetricCacheMissesTotal, 1)
		return nil, false
	}
	c.metrics.Counter(MetricCacheHitsTotal, 1)
	return val, true
}

// currentEpoch returns the epoch a reader must pass to fill.
func (c *entryCache) currentEpoch() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch
}

// fill adds a record read from the runs of epoch, unless the runs have been switched since or
// the key is cached already.
func (c *entryCache) fill(key string, val []byte, epoch uint64) {
	if c.max == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if epoch != c.epoch || c.m[key] != nil {
		return
	}
	c.insertLocked(key, val)
}

// put stores the newest clean record of key (a write that a persisted snapshot now holds).
func (c *entryCache) put(key string, val []byte) {
	if c.max == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.m[key]; n != nil {
		d := cost(key, val) - cost(key, n.val)
		c.bytes += d
		if !n.inMain {
			c.smallBytes += d
		}
		n.val = val
		c.trimLocked()
		return
	}
	c.insertLocked(key, val)
}

// remove drops key (deleted by a persisted snapshot).
func (c *entryCache) remove(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.m[key]; n != nil {
		c.unlinkLocked(n)
		delete(c.m, key)
	}
}

// unlinkLocked takes n out of its queue and its cost out of the totals.
func (c *entryCache) unlinkLocked(n *cnode) {
	c.queue(n).unlink(n)
	k := cost(n.key, n.val)
	c.bytes -= k
	if !n.inMain {
		c.smallBytes -= k
	}
}

// pushLocked puts n at the head of its queue and counts its cost.
func (c *entryCache) pushLocked(n *cnode) {
	c.queue(n).push(n)
	k := cost(n.key, n.val)
	c.bytes += k
	if !n.inMain {
		c.smallBytes += k
	}
}

// over reports whether the cache holds more than its bounds allow.
func (c *entryCache) over() bool {
	return c.max > 0 && len(c.m) > c.max || c.maxBytes > 0 && c.bytes > c.maxBytes
}

// smallOver reports whether the small queue holds more than its share (a tenth of the
// records and of the bytes, and always room for one record).
func (c *entryCache) smallOver() bool {
	return c.small.n > c.smallMax || c.maxBytes > 0 && c.small.n > 1 && c.smallBytes > c.maxBytes/10
}

func (c *entryCache) trimLocked() {
	for c.max > 0 && c.over() && len(c.m) > 0 {
		c.evictLocked()
	}
}

// newEpoch makes fills of values read before it fail; clear also empties the cache.
func (c *entryCache) newEpoch(clear bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	if clear {
		c.reset()
	}
}

func (c *entryCache) queue(n *cnode) *fifo {
	if n.inMain {
		return &c.main
	}
	return &c.small
}

func (c *entryCache) insertLocked(key string, val []byte) {
	n := &cnode{key: key, val: val}
	if c.maxBytes > 0 && key[0] == prefixBlobData && cost(key, val) > c.maxBytes/4 {
		return // an inline blob that would push out most of the others
	}
	if c.max > 0 && c.ghost.take(maphash.String(c.seed, key)) {
		n.inMain = true
	}
	c.pushLocked(n)
	c.m[key] = n
	c.trimLocked()
}

// evictLocked moves or removes one record: from the small queue when it is over its share
// (a record read again moves to main, another leaves for the ghost queue), else from main
// (a record read since its last pass goes round again with one read less).
func (c *entryCache) evictLocked() {
	if c.smallOver() || c.main.n == 0 {
		t := c.small.tail
		c.unlinkLocked(t)
		if t.freq > 0 {
			t.freq = 0
			t.inMain = true
			c.pushLocked(t)
			return
		}
		delete(c.m, t.key)
		c.ghost.add(maphash.String(c.seed, t.key))
		c.metrics.Counter(MetricCacheEvictionsTotal, 1)
		return
	}
	t := c.main.tail
	c.unlinkLocked(t)
	if t.freq > 0 {
		t.freq--
		c.pushLocked(t)
		return
	}
	delete(c.m, t.key)
	c.metrics.Counter(MetricCacheEvictionsTotal, 1)
}

// size returns the number of records held.
func (c *entryCache) size() int {
	n, _ := c.usage()
	return n
}

// usage returns the number of records held and their cost.
func (c *entryCache) usage() (int, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m), c.bytes
}
