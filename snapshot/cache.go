package snapshot

import (
	"container/list"
	"sync"
)

// chunkCache keeps verified, decompressed chunks for Reader.Get, least recently used first
// out, bounded by the bytes it holds. Run names are never reused, so an entry can never go
// stale; entries of reaped runs just age out. Cached bytes are never modified or pooled.
type chunkCache struct {
	mu   sync.Mutex // guards all fields
	max  int64
	used int64
	ll   *list.List // of *cacheEntry, most recent at the front
	m    map[cacheKey]*list.Element
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

func newChunkCache(max int64) *chunkCache {
	return &chunkCache{max: max, ll: list.New(), m: make(map[cacheKey]*list.Element)}
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
