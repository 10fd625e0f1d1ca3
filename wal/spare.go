package wal

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nebulaio/nebulaio/internal/vfs"
)

// The next segment is prepared ahead of need as next.spare (see "Writes" in doc.go): requested
// once the active segment is half full, made by a background goroutine (from a recycled
// compacted segment or a new file, zero-filled or fallocated, synced), handed over on spareCh,
// and renamed to its segment name by the StoreLogs that first writes to it.

type spareResult struct {
	f   vfs.File
	err error
}

// startSegment takes the prepared spare file for a segment starting at first. Writer only.
func (l *Log) startSegment(first uint64) (*segment, error) {
	if len(l.segs) == 0 {
		// The log is empty and first may lie below the head: make every earlier unlink durable
		// before the head moves back, so that no deleted segment can reappear above it.
		l.reapWG.Wait()
		if err := l.fs.SyncDir(l.dir); err != nil {
			return nil, l.fail(fmt.Errorf("wal: sync dir: %w", err))
		}
		if err := l.head.set(first, true); err != nil {
			return nil, l.fail(fmt.Errorf("wal: write head: %w", err))
		}
	}
	f := l.spare
	l.spare = nil
	if f == nil {
		// A failed preparation is not sticky: nothing written to the log is in doubt, and the
		// next StoreLogs asks again (a full disk may have room by then).
		var err error
		if f, err = l.awaitSpare(true); err != nil {
			return nil, fmt.Errorf("wal: prepare next segment: %w", err)
		}
	}
	return &segment{first: first, path: filepath.Join(l.dir, spareName), f: f, end: segHeaderSize}, nil
}

// publishSegment renames a spare that now holds a synced header and batch to its segment name.
// The rename is made durable by the directory fsync that starts the next spare's preparation
// (or by Close); until then a crash leaves the segment named next.spare, which Open adopts.
func (l *Log) publishSegment(seg *segment) error {
	path := filepath.Join(l.dir, segName(seg.first))
	if err := l.fs.Rename(seg.path, path); err != nil {
		return err
	}
	seg.path = path
	l.renamed = true
	return nil
}

// awaitSpare takes the spare being prepared, requesting one first if none is (syncFirst as for
// requestSpare). While it waits, the preparation writes without pauses (see zeroFill). Writer
// only (or Open).
func (l *Log) awaitSpare(syncFirst bool) (vfs.File, error) {
	if !l.spareWaiting {
		l.requestSpare(syncFirst)
	}
	l.spareUrgent.Store(true)
	res := <-l.spareCh
	l.spareUrgent.Store(false)
	l.spareWaiting = false
	return res.f, res.err
}

// requestSpare starts preparing the next segment file in the background; syncFirst makes the
// directory durable first (persisting the rename of the segment that took the last spare).
// StoreLogs requests it once the active segment is half full (see spareLead), so that the
// preparation neither competes with the first half's appends nor happens at all for a log that
// is opened and closed again. Writer only (or Open).
func (l *Log) requestSpare(syncFirst bool) {
	l.spareWaiting = true
	if syncFirst {
		l.renamed = false
	}
	l.spareWG.Add(1)
	fill := l.avgBatch < largeBatch
	go func() {
		defer l.spareWG.Done()
		f, err := l.prepareSpare(syncFirst, fill)
		l.spareCh <- spareResult{f: f, err: err}
	}()
}

// prepareSpare creates next.spare and makes it durable at SegmentSize. With fill it writes zeros
// over it through the page cache, so that appends overwrite allocated, zeroed blocks whose pages
// are already cached: fdatasync has no metadata to flush, and an append neither reads a page
// from disk nor allocates page-cache memory. That is the fast mode for the small batches of a
// raft leader. Without fill (recent batches averaged >= 64 KiB) it only fallocates: large
// batches are bandwidth-bound, and writing every byte twice (zeros, then data) costs them more
// than the extent conversion at fdatasync (2 MiB batches: 9.0 ms filled vs 5.2 ms fallocated,
// same run; block traces: 4.5 vs 2.2 MiB written per batch).
func (l *Log) prepareSpare(syncFirst, fill bool) (vfs.File, error) {
	if syncFirst {
		// persist the rename of the segment that consumed the previous spare
		if err := l.fs.SyncDir(l.dir); err != nil {
			return nil, err
		}
	}
	f, recycled, err := l.openSpare()
	if err != nil {
		return nil, err
	}
	if fill || recycled { // overwriting blocks written before is cheap (see recycle)
		err = l.zeroFill(f)
	} else if err = f.Allocate(l.opts.SegmentSize); err != nil {
		err = l.zeroFill(f) // no fallocate on this file system
	}
	if err == nil && l.spareStop.Load() {
		err = ErrClosed
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = l.fs.SyncDir(l.dir)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// openSpare opens next.spare: a recycled compacted segment if one is kept and reusing it works,
// otherwise a new empty file.
func (l *Log) openSpare() (f vfs.File, recycled bool, err error) {
	path := filepath.Join(l.dir, spareName)
	f, err = l.takeRecycled(path)
	if err != nil {
		l.opts.Logger.Warn().Err(err).Msg("wal: reuse a compacted segment; creating a new one")
	}
	if f != nil {
		return f, true, nil
	}
	f, err = l.fs.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	return f, false, err
}

// recycle keeps the compacted segment at path for reuse as a spare, unless RecycleSegments
// files are kept already; it reports whether it did (else the caller unlinks it). Renaming it
// takes it out of the log as surely as unlinking: Open never reads a *.recycle file.
// Writing over blocks that were written before is much faster than writing new ones on
// thin-provisioned disks (figures in DESIGN.md), and so is the zero fill of a reused file.
func (l *Log) recycle(path string) bool {
	l.rmu.Lock()
	defer l.rmu.Unlock()
	if len(l.recycled) >= l.opts.RecycleSegments {
		return false
	}
	l.recycleSeq++
	name := fmt.Sprintf("%020d%s", l.recycleSeq, recycleSuffix)
	if err := l.fs.Rename(path, filepath.Join(l.dir, name)); err != nil {
		return false
	}
	l.recycled = append(l.recycled, name)
	return true
}

// takeRecycled renames a kept compacted segment, if any, to spare and returns it open. Its
// first page is zeroed and synced before the rename: a next.spare with a valid header is a
// segment whose rename was lost (Open adopts it), which the old contents must never look like.
// The caller zero-fills the rest. It returns nil when there is no file to reuse or reusing it
// failed (the file then keeps its *.recycle name, and Open finds it again).
func (l *Log) takeRecycled(spare string) (vfs.File, error) {
	l.rmu.Lock()
	defer l.rmu.Unlock()
	if len(l.recycled) == 0 {
		return nil, nil
	}
	old := filepath.Join(l.dir, l.recycled[0])
	l.recycled = l.recycled[1:]
	f, err := l.fs.OpenFile(old, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	err = f.Truncate(l.opts.SegmentSize) // a segment may have grown past it (one huge batch)
	if err == nil {
		_, err = f.WriteAt(zeros[:pageSize], 0)
	}
	if err == nil {
		err = f.Datasync()
	}
	if err == nil {
		err = l.fs.Rename(old, spare)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// zeroFill writes zeros over [0, SegmentSize) of the new file f, through the page cache, in
// fillChunk writes, stopping early when the log is being closed. Unless the log runs without
// sync, it makes every fillStep bytes durable before writing more and then pauses as long as
// that took: a virtual disk's flush (every append's fdatasync) writes out everything written
// before it, so 16 MiB of unsynced zeros made one append take 15-20 ms (RaftApply). Synced in
// steps, the fill costs the appends that overlap it about 1 ms each instead. While StoreLogs (or
// Open) waits for this spare, there is nothing to spare: the rest is written without steps.
func (l *Log) zeroFill(f vfs.File) error {
	size := l.opts.SegmentSize
	for off := int64(0); off < size; off += fillChunk {
		if l.spareStop.Load() {
			return ErrClosed
		}
		if _, err := f.WriteAt(zeros[:min(fillChunk, size-off)], off); err != nil {
			return err
		}
		if l.opts.NoSync || (off+fillChunk)%fillStep != 0 || off+fillChunk >= size || l.spareUrgent.Load() {
			continue
		}
		t := time.Now()
		if err := f.Datasync(); err != nil {
			return err
		}
		time.Sleep(time.Since(t))
	}
	return nil
}

// spareLead is how much room must be left in the active segment when the next spare is
// requested: half a segment, or eight average batches if that is more.
func (l *Log) spareLead() int64 { return max(l.opts.SegmentSize/2, 8*l.avgBatch) }
