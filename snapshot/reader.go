package snapshot

import (
	"bytes"
	"fmt"
	"sort"
	"sync"
)

// Reader reads one snapshot's state by key without streaming all of it: the sparse index
// of each run finds the one chunk that may hold a key, and only that chunk is read,
// checksummed, decompressed and kept in the store's chunk cache (Options.CacheBytes). A Reader pins the snapshot's runs until Close, so retention
// and compaction cannot take them away. Get and Iterate may be called concurrently.
type Reader struct {
	id      string
	runs    []openRun // base first, then deltas
	cache   *chunkCache
	metrics Metrics

	mu     sync.RWMutex // Close takes it exclusively
	closed bool
}

// Reader opens snapshot id for point and range reads.
func (s *Store) Reader(id string) (*Reader, error) {
	_, runs, err := s.pin(id)
	if err != nil {
		return nil, err
	}
	return &Reader{id: id, runs: runs, cache: s.cache, metrics: s.opts.Metrics}, nil
}

// ID returns the snapshot's ID.
func (r *Reader) ID() string { return r.id }

// Get returns the value of key in the snapshot's merged view. A key deleted by a delta, or
// never written, is (nil, false, nil). The value is a fresh copy.
func (r *Reader) Get(key []byte) (value []byte, found bool, err error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return nil, false, ErrClosed
	}
	h := keyHash(key)
	for i := len(r.runs) - 1; i >= 0; i-- {
		run := r.runs[i]
		if !run.ix.filter.mayContain(h) {
			continue
		}
		chunks := run.ix.chunks
		c := sort.Search(len(chunks), func(j int) bool { return bytes.Compare(chunks[j].last, key) >= 0 })
		if c == len(chunks) || bytes.Compare(chunks[c].first, key) > 0 {
			continue
		}
		v, tomb, found, err := r.getInChunk(run, c, key)
		if err != nil {
			return nil, false, fmt.Errorf("snapshot %s: %w", r.id, err)
		}
		if found {
			if tomb {
				return nil, false, nil
			}
			return v, true, nil
		}
	}
	return nil, false, nil
}

// getInChunk looks key up in chunk c of run: from the chunk cache, or by reading, verifying
// and decompressing the chunk into pooled buffers. A chunk enters the cache on its second miss
// (the cache's admission), so a stream of one-off reads allocates only the values it returns.
// A found value is a fresh copy.
func (r *Reader) getInChunk(run openRun, c int, key []byte) (value []byte, tomb, found bool, err error) {
	ck := cacheKey{run.ix.name, c}
	ch, hit := r.cache.get(ck)
	if hit {
		r.metrics.Counter(MetricCacheHitsTotal, 1)
	} else {
		r.metrics.Counter(MetricCacheMissesTotal, 1)
		meta := &run.ix.chunks[c]
		raw, comp, err := readChunk(run.ix, run.f, c, getBuf(int(meta.compLen)), getBuf(int(meta.rawLen)))
		defer putBuf(comp)
		if err != nil {
			return nil, false, false, err
		}
		defer putBuf(raw)
		if !r.cache.admit(ck) {
			err = scanChunk(run.ix, c, raw, func(_ int, k, v []byte, t bool) {
				if bytes.Equal(k, key) {
					value, tomb, found = append([]byte(nil), v...), t, true
				}
			})
			if err != nil {
				return nil, false, false, err
			}
			return value, tomb, found, nil
		}
		offs, err := verifyChunkOffsets(run.ix, c, raw)
		if err != nil {
			return nil, false, false, err
		}
		ch = &cachedChunk{raw: bytes.Clone(raw), offs: offs}
		r.cache.add(ck, ch)
	}
	// Binary search the verified chunk's records by key.
	i := sort.Search(len(ch.offs), func(j int) bool {
		k, _, _, _, _ := parseRecord(ch.raw, int(ch.offs[j]))
		return bytes.Compare(k, key) >= 0
	})
	if i < len(ch.offs) {
		k, v, t, _, _ := parseRecord(ch.raw, int(ch.offs[i]))
		if bytes.Equal(k, key) {
			return append([]byte(nil), v...), t, true, nil
		}
	}
	return nil, false, false, nil
}

// Iterate calls fn for each key in [start, end) of the merged view, in ascending order,
// until fn returns false. A nil end means to the last key. The slices passed to fn are
// valid only during the call.
func (r *Reader) Iterate(start, end []byte, fn func(key, value []byte) bool) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return ErrClosed
	}
	it := newMergeIter(r.runs, start, end, 0)
	defer it.close()
	for it.next() {
		if !fn(it.key, it.val) {
			return nil
		}
	}
	if it.err != nil {
		return fmt.Errorf("snapshot %s: %w", r.id, it.err)
	}
	return nil
}

// Close releases the runs. Further calls return ErrClosed.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	closeRuns(r.runs)
	return nil
}

// Iter walks the merged view of a Reader over [start, end) in ascending key order, newest
// run winning and tombstones hiding keys, like Iterate but pulled one record at a time so that
// a caller can merge it with other sources. Use it from one goroutine; Close it when done.
//
//	it := r.Iter(start, end)
//	defer it.Close()
//	for it.Next() {
//		use(it.Key(), it.Value())
//	}
//	if err := it.Err(); err != nil { ... }
type Iter struct {
	r    *Reader
	m    *mergeIter
	err  error
	done bool
}

// Iter returns an iterator over [start, end) (nil end: to the last key) that reads chunks
// as it needs them: suited to short ranges such as one page of a listing. Positioning costs
// one chunk read per run whose range covers start.
func (r *Reader) Iter(start, end []byte) *Iter { return r.newIter(start, end, 0) }

// Scan is Iter for long ranges: chunks are read and decompressed ahead, in parallel.
func (r *Reader) Scan(start, end []byte) *Iter { return r.newIter(start, end, readAhead()) }

func (r *Reader) newIter(start, end []byte, ahead int) *Iter {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return &Iter{r: r, err: ErrClosed, done: true}
	}
	return &Iter{r: r, m: newMergeIter(r.runs, start, end, ahead)}
}

// Next advances to the next key; false at the end of the range or on error (see Err).
func (it *Iter) Next() bool {
	if it.done {
		return false
	}
	it.r.mu.RLock()
	ok := false
	if it.r.closed {
		it.err = ErrClosed
	} else {
		ok = it.m.next()
		if it.m.err != nil {
			it.err = fmt.Errorf("snapshot %s: %w", it.r.id, it.m.err)
		}
	}
	it.r.mu.RUnlock()
	if !ok {
		it.done = true
	}
	return ok
}

// Key returns the current key; valid until the next call to Next.
func (it *Iter) Key() []byte { return it.m.key }

// Value returns the current value; valid until the next call to Next.
func (it *Iter) Value() []byte { return it.m.val }

// Err returns the error that ended the iteration, if any.
func (it *Iter) Err() error { return it.err }

// Close stops the iterator and its read-ahead.
func (it *Iter) Close() {
	it.done = true
	if it.m != nil {
		it.m.close()
	}
}
