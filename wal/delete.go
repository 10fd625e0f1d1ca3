package wal

import (
	"errors"
	"fmt"
	"io/fs"
)

// DeleteRange deletes the entries in [min, max]. raft deletes a prefix (compaction after a
// snapshot), a suffix (a follower dropping conflicting entries) or everything (before it
// installs a snapshot, since the log is monotonic). A range that would leave a gap in the middle
// returns ErrInvalidRange; a range that misses the log entirely deletes nothing.
func (l *Log) DeleteRange(min, max uint64) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	if max < min {
		return fmt.Errorf("%w: [%d, %d] is empty", ErrInvalidRange, min, max)
	}
	if l.first == 0 || max < l.first || min > l.last {
		return nil
	}
	var err error
	switch {
	case min <= l.first && max >= l.last:
		err = l.deleteAll()
	case min <= l.first:
		err = l.deleteHead(max + 1)
	case max >= l.last:
		err = l.deleteTail(min - 1)
	default:
		return fmt.Errorf("%w: [%d, %d] inside [%d, %d]", ErrInvalidRange, min, max, l.first, l.last)
	}
	l.publishGauges()
	return err
}

// deleteHead moves the logical head to newFirst (first < newFirst <= last). The head slot is
// written and the in-memory head moved; a background goroutine then fdatasyncs the head file and
// only after that unlinks the segments wholly below it (unlinking 16 MiB files took 15-25 ms
// here). A crash before that sync leaves the previous head and every segment: the deleted
// entries reappear, whole and unchanged, and raft compacts them again. A crash after it may
// leave segments below the head, which Open removes. There is never a gap.
func (l *Log) deleteHead(newFirst uint64) error {
	if err := l.head.set(newFirst, false); err != nil {
		return l.fail(fmt.Errorf("wal: write head: %w", err))
	}
	l.mu.Lock()
	l.first = newFirst
	k := 0
	for k < len(l.segs)-1 && l.segs[k].lastIndex() < newFirst {
		k++
	}
	dropped := append([]*segment(nil), l.segs[:k]...)
	l.segs = append(l.segs[:0:0], l.segs[k:]...)
	l.mu.Unlock()
	l.reapAsync(dropped)
	return nil
}

// syncHeadAndReap makes the head durable, then closes and unlinks segs (keeping up to
// RecycleSegments of them for reuse, see recycle). Runs in the background.
func (l *Log) syncHeadAndReap(segs []*segment) {
	if err := l.head.f.Datasync(); err != nil {
		l.opts.Logger.Error().Err(err).Msg("wal: sync head; compacted segments kept until Open")
		for _, s := range segs {
			s.f.Close()
		}
		return
	}
	for _, s := range segs {
		s.f.Close()
		if l.recycle(s.path) {
			continue
		}
		if err := l.fs.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			l.opts.Logger.Warn().Err(err).Str("file", s.path).Msg("wal: remove compacted segment (Open retries)")
		}
	}
}

// reapAsync syncs the head and unlinks segments below it in the background, one reaper at a
// time (in order). Close waits for it; startSegment waits for it before it lowers the head.
func (l *Log) reapAsync(segs []*segment) {
	l.reapWG.Add(1)
	prev := l.reapDone
	done := make(chan struct{})
	l.reapDone = done
	go func() {
		defer l.reapWG.Done()
		defer close(done)
		if prev != nil {
			<-prev
		}
		l.syncHeadAndReap(segs)
	}()
}

// deleteAll empties the log: the head moves past the last entry (durably), then every segment
// is unlinked and the directory synced, so the next StoreLogs may start at any index.
func (l *Log) deleteAll() error {
	l.reapWG.Wait() // no footer is being written to a segment about to be closed
	if err := l.head.set(l.last+1, true); err != nil {
		return l.fail(fmt.Errorf("wal: write head: %w", err))
	}
	l.mu.Lock()
	dropped := l.segs
	l.segs = nil
	l.first, l.last = 0, 0
	l.clearCache()
	l.mu.Unlock()
	return l.removeSegments(dropped, true)
}

// deleteTail drops entries after newLast (first <= newLast < last). Later segments are unlinked
// and the directory synced before the kept segment is cut, so a crash never leaves a segment
// that ends before the next one starts. The cut is an ftruncate + fsync to the end of the kept
// records, after which the space is zero-filled again for fast appends.
func (l *Log) deleteTail(newLast uint64) error {
	l.reapWG.Wait() // no footer is being written to a segment about to be cut or closed
	l.mu.Lock()
	k := len(l.segs) - 1
	for k > 0 && l.segs[k].first > newLast {
		k--
	}
	dropped := append([]*segment(nil), l.segs[k+1:]...)
	l.segs = l.segs[:k+1]
	seg := l.segs[k]
	var newEnd int64
	if newLast < seg.lastIndex() {
		newEnd, _ = seg.recordSpan(newLast + 1)
	} else {
		newEnd = seg.end
	}
	seg.offsets = seg.offsets[:newLast-seg.first+1]
	seg.end = newEnd
	seg.sealed = false
	seg.dirty = false
	l.last = newLast
	l.mu.Unlock()

	if err := l.removeSegments(dropped, true); err != nil {
		return err
	}
	if err := seg.f.Truncate(newEnd); err != nil {
		return l.fail(fmt.Errorf("wal: truncate %s: %w", seg.path, err))
	}
	if err := seg.f.Sync(); err != nil {
		return l.fail(fmt.Errorf("wal: sync %s: %w", seg.path, err))
	}
	if err := l.refill(seg); err != nil {
		return l.fail(err)
	}
	return nil
}

// refill zero-fills the active segment from its end to SegmentSize and syncs it, so that later
// appends land in allocated zeroed blocks. Writer only.
func (l *Log) refill(seg *segment) error {
	if seg.end >= l.opts.SegmentSize {
		return nil
	}
	if err := writeZeros(seg.f, seg.end, l.opts.SegmentSize); err != nil {
		return fmt.Errorf("wal: zero-fill %s: %w", seg.path, err)
	}
	if err := seg.f.Sync(); err != nil {
		return fmt.Errorf("wal: sync %s: %w", seg.path, err)
	}
	return nil
}

// removeSegments closes and unlinks segments no longer published; with syncDirectory the
// unlinks are made durable before it returns. Writer only.
func (l *Log) removeSegments(segs []*segment, syncDirectory bool) error {
	if len(segs) == 0 {
		return nil
	}
	for i := len(segs) - 1; i >= 0; i-- { // newest first: a crash leaves a contiguous log
		s := segs[i]
		s.f.Close()
		if err := l.fs.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return l.fail(fmt.Errorf("wal: remove %s: %w", s.path, err))
		}
	}
	if syncDirectory {
		if err := l.fs.SyncDir(l.dir); err != nil {
			return l.fail(fmt.Errorf("wal: sync dir: %w", err))
		}
	}
	return nil
}

// clearCache drops every cached entry. Caller holds mu.
func (l *Log) clearCache() {
	for i := range l.cache {
		l.cache[i] = cacheEntry{}
	}
}
