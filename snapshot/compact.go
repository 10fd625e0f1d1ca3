package snapshot

import (
	"fmt"
	"time"
)

// Compact merges the base and delta runs of the newest snapshot into a new base run, and
// rewrites every manifest whose runs start with the merged ones to name the new base
// instead. It does nothing when the newest snapshot has no deltas. Create, Open and sinks
// proceed while it runs; only the final rename and manifest rewrites hold the store lock.
func (s *Store) Compact() error {
	s.mu.Lock()
	ms := s.sortedLocked()
	s.mu.Unlock()
	if len(ms) == 0 {
		return nil
	}
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	return s.compact(ms[0].ID)
}

// compactHook, when set (tests only), runs after the new base is written and before it is
// published.
var compactHook func()

// compact does the work of Compact for snapshot id; the caller holds compactMu.
func (s *Store) compact(id string) (err error) {
	start := time.Now()
	defer func() {
		if err != nil {
			s.opts.Metrics.Counter(MetricCompactionErrsTotal, 1)
			err = fmt.Errorf("snapshot %s: compaction: %w", id, err)
		}
	}()
	m, runs, err := s.pin(id)
	if err != nil || len(m.Runs) < 2 {
		if err == nil {
			closeRuns(runs)
		}
		return err
	}
	defer closeRuns(runs)
	s.mu.Lock()
	name := runName(s.nextSeqLocked())
	s.mu.Unlock()
	tmp := s.path(name + tmpSuffix)
	w, err := newRunWriter(s.fs, tmp, name, runKindBase, s.opts.ChunkSize, s.enc)
	if err != nil {
		return err
	}
	it := newMergeIter(runs, nil, nil, readAhead())
	for it.next() {
		if err = w.add(false, it.key, it.val); err != nil {
			break
		}
	}
	it.close()
	if err == nil {
		err = it.err
	}
	if err != nil {
		w.abort()
		_ = s.fs.Remove(tmp)
		return err
	}
	ix, err := w.finish()
	if err != nil {
		_ = s.fs.Remove(tmp)
		return err
	}
	if compactHook != nil {
		compactHook()
	}
	s.opts.Metrics.Counter(MetricBytesRawTotal, float64(ix.rawSize))
	s.opts.Metrics.Counter(MetricBytesCompTotal, float64(ix.fileSize))

	s.mu.Lock()
	defer s.mu.Unlock()
	var users []*manifest
	for _, mm := range s.manifests {
		if hasPrefix(mm.Runs, m.Runs) {
			users = append(users, mm)
		}
	}
	if len(users) == 0 || s.closed {
		_ = s.fs.Remove(tmp) // every snapshot using the old runs is gone
		return nil
	}
	if err := s.publishRunLocked(ix); err != nil {
		_ = s.fs.Remove(tmp)
		return err
	}
	for _, mm := range users {
		c := mm.clone()
		c.Runs = append([]string{name}, mm.Runs[len(m.Runs):]...)
		if len(c.Runs) == 1 {
			c.DataSize, c.Records = ix.rawSize, ix.records
		}
		if err := s.writeManifestLocked(c); err != nil {
			// Manifests already rewritten are valid; the rest still name the old runs.
			_ = s.reapLocked()
			return err
		}
		s.manifests[c.ID] = c
	}
	if err := s.reapLocked(); err != nil {
		return err
	}
	s.opts.Metrics.Counter(MetricCompactionsTotal, 1)
	s.opts.Metrics.Observe(MetricCompactSeconds, time.Since(start).Seconds())
	return nil
}
