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
	for i := len(r.runs) - 1; i >= 0; i-- {
		run := r.runs[i]
		chunks := run.ix.chunks
		c := sort.Search(len(chunks), func(j int) bool { return bytes.Compare(chunks[j].last, key) >= 0 })
		if c == len(chunks) || bytes.Compare(chunks[c].first, key) > 0 {
			continue
		}
		ck := cacheKey{run.ix.name, c}
		ch, hit := r.cache.get(ck)
		if hit {
			r.metrics.Counter(MetricCacheHitsTotal, 1)
		} else {
			r.metrics.Counter(MetricCacheMissesTotal, 1)
			raw, _, err := readChunk(run.ix, run.f, c, nil, nil)
			if err == nil {
				err = verifyChunk(run.ix, c, raw)
			}
			if err != nil {
				return nil, false, fmt.Errorf("snapshot %s: %w", r.id, err)
			}
			ch = &cachedChunk{raw: raw, offs: recordOffsets(raw, chunks[c].records)}
			r.cache.add(ck, ch)
		}
		// Binary search the verified chunk's records by key.
		i := sort.Search(len(ch.offs), func(j int) bool {
			k, _, _, _, _ := parseRecord(ch.raw, int(ch.offs[j]))
			return bytes.Compare(k, key) >= 0
		})
		if i < len(ch.offs) {
			k, v, tomb, _, _ := parseRecord(ch.raw, int(ch.offs[i]))
			if bytes.Equal(k, key) {
				if tomb {
					return nil, false, nil
				}
				return append([]byte(nil), v...), true, nil
			}
		}
	}
	return nil, false, nil
}

// recordOffsets returns the offset of each record of a verified chunk.
func recordOffsets(raw []byte, n int64) []int32 {
	offs := make([]int32, 0, n)
	for pos := 0; pos < len(raw); {
		offs = append(offs, int32(pos))
		_, _, _, next, _ := parseRecord(raw, pos) // verified by the caller
		pos = next
	}
	return offs
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
