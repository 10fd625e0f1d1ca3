package snapshot

import (
	"container/list"
	"sync"
)

// chunkCache keeps verified, decompressed chunks for Reader.Get, least recently used first
// out, bounded by the bytes it holds. Run names are never reused, so an entry can never go
// stale; entries of reaped runs just age out. Cached bytes are never modified or pooled.
//
// A chunk is admitted on its second miss among the last few thousand (a "doorkeeper"): random
// point reads over a large state rarely touch a chunk twice, and caching each one would only
// churn the cache (and allocate a chunk per read for the garbage collector); chunks that are
// read again — a hot key range, a small delta run — get in.
type chunkCache struct {
	mu   sync.Mutex // guards all fields
	max  int64
	used int64
	ll   *list.List // of *cacheEntry, most recent at the front
	m    map[cacheKey]*list.Element

	seen     map[cacheKey]struct{} // chunks missed once, recently
	seenRing []cacheKey
	seenNext int
}

type cacheKey struct {
	run   string
	chunk int
}

type cacheEntry struct {
	key cacheKey
	ch  *cachedChunk
}

// cachedChunk is a verified chunk and the offset of each record in it, for binary search.
type cachedChunk struct {
	raw  []byte
	offs []int32
}

func (c *cachedChunk) size() int64 { return int64(len(c.raw) + 4*len(c.offs)) }

func newChunkCache(limit int64) *chunkCache {
	ring := int(min(max(limit/4096, 64), 1<<16))
	return &chunkCache{max: limit, ll: list.New(), m: make(map[cacheKey]*list.Element),
		seen: make(map[cacheKey]struct{}, ring), seenRing: make([]cacheKey, 0, ring)}
}

// admit reports whether a chunk that missed should be cached: it did miss recently. A first
// miss is remembered instead.
func (c *chunkCache) admit(k cacheKey) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[k]; ok {
		delete(c.seen, k)
		return true
	}
	if len(c.seenRing) < cap(c.seenRing) {
		c.seenRing = append(c.seenRing, k)
	} else {
		delete(c.seen, c.seenRing[c.seenNext])
		c.seenRing[c.seenNext] = k
		c.seenNext = (c.seenNext + 1) % len(c.seenRing)
	}
	c.seen[k] = struct{}{}
	return false
}

func (c *chunkCache) get(k cacheKey) (*cachedChunk, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok {
		return nil, false
	}
	c.ll.MoveToFront(e)
	return e.Value.(*cacheEntry).ch, true
}

func (c *chunkCache) add(k cacheKey, ch *cachedChunk) {
	if c == nil || ch.size() > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; ok {
		return
	}
	c.m[k] = c.ll.PushFront(&cacheEntry{key: k, ch: ch})
	c.used += ch.size()
	for c.used > c.max {
		e := c.ll.Back()
		ce := e.Value.(*cacheEntry)
		c.ll.Remove(e)
		delete(c.m, ce.key)
		c.used -= ce.ch.size()
	}
}
