package wal

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/raft"
)

// Compile-time checks that Log satisfies the contracts raft uses.
var (
	_ raft.LogStore          = (*Log)(nil)
	_ raft.MonotonicLogStore = (*Log)(nil)
	_ raft.StableStore       = (*Log)(nil)
)

// segment is one segment file.
//
// first and path are fixed once the segment is published (path changes once, from the spare's
// name, before publication). offsets, end and sealed are written only by the writer (holding
// Log.wmu) and only while also holding Log.mu; readers hold Log.mu.RLock.
type segment struct {
	first   uint64
	path    string
	f       *os.File
	offsets []uint32 // offsets[i] is the file offset of the record for index first+i
	end     int64    // offset just past the last record
	sealed  bool     // a newer segment exists; an index footer may follow end
	dirty   bool     // footer written but not synced (writer only)
	zeroed  bool     // recovery saw only zeros from end to the end of the file (Open only)
}

// lastIndex is the index of the segment's last record; first-1 when it has none.
func (s *segment) lastIndex() uint64 { return s.first + uint64(len(s.offsets)) - 1 }

// recordSpan returns the file range of the record for index i (which must be in the segment).
func (s *segment) recordSpan(i uint64) (off, end int64) {
	k := i - s.first
	off = int64(s.offsets[k])
	if int(k)+1 < len(s.offsets) {
		return off, int64(s.offsets[k+1])
	}
	return off, s.end
}

type cacheEntry struct {
	index uint64 // 0: empty slot
	log   raft.Log
}

// piece is a payload written straight from the caller's slice, after buf[:at].
type piece struct {
	at   int
	data []byte
}

// vecMinData is the payload size from which StoreLogs writes Data from the caller's slice
// (pwritev) instead of copying it into the batch buffer.
const vecMinData = 4 << 10

func clearPieces(p []piece) []piece {
	clear(p)
	return p[:0]
}

func clearBufs(b [][]byte) [][]byte {
	clear(b)
	return b[:0]
}

type spareResult struct {
	f   *os.File
	err error
}

// Log is a segmented write-ahead log: raft's LogStore, MonotonicLogStore and StableStore.
// All methods are safe for concurrent use; GetLog, FirstIndex and LastIndex run concurrently
// with StoreLogs and with each other.
type Log struct {
	dir  string
	opts Options
	lock *os.File

	// wmu serialises the mutating log operations (StoreLogs, DeleteRange, Close). The fields
	// below it are owned by whoever holds wmu.
	wmu          sync.Mutex
	buf          []byte
	scratch      []byte
	relOffs      []uint32
	failed       error // sticky: set after a write or sync failed
	head         *headFile
	spareCh      chan spareResult // capacity 1; the background preparer sends one spare per request
	spareWaiting bool             // a spare was requested and not yet received
	spare        *os.File         // a prepared spare received before it was needed (Open)
	spareWG      sync.WaitGroup
	spareStop    atomic.Bool     // set by Close: abandon a preparation in progress
	spareUrgent  atomic.Bool     // set while StoreLogs or Open waits for the spare: no fill steps
	avgBatch     int64           // moving average of batch bytes; picks how the spare is prepared
	reapWG       sync.WaitGroup  // background head syncs and unlinks of compacted segments
	reapDone     chan struct{}   // closed when the newest reaper finishes (reapers run in order)
	pieces       []piece         // payloads written from the callers' slices (see appendRecord)
	bufs         [][]byte        // the buffers of one pwritev
	iov          []syscall.Iovec // scratch for pwritev
	renamed      bool            // a segment was renamed and no directory fsync followed yet

	// rmu guards the names of the compacted segment files kept for reuse (*.recycle): the
	// reaper adds, the spare preparation takes.
	rmu        sync.Mutex
	recycled   []string
	recycleSeq uint64 // the number in the newest *.recycle name

	// mu guards the published state below; the writer holds wmu and mu to change it.
	mu     sync.RWMutex
	segs   []*segment // ascending by first; the last one is the active segment
	first  uint64     // 0 when the log is empty
	last   uint64     // 0 when the log is empty
	closed bool
	cache  []cacheEntry // ring indexed by index % len(cache)

	// smu guards the stable store.
	smu    sync.Mutex
	kv     map[string][]byte
	kvInt  map[string]uint64
	stable string
}

// Open opens (creating if needed) the log in dir and recovers it: a torn tail of the last
// segment is truncated and logged, any other damage is an error wrapping ErrCorrupt that names
// the file and offset, and files of a newer format version give ErrNewerFormat.
func Open(dir string, opts Options) (*Log, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("wal: create dir: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	l := &Log{
		dir:     dir,
		opts:    opts,
		lock:    lock,
		spareCh: make(chan spareResult, 1),
		stable:  filepath.Join(dir, stableName),
	}
	if opts.CacheEntries > 0 {
		l.cache = make([]cacheEntry, opts.CacheEntries)
	}
	if err := l.recover(); err != nil {
		l.closeFiles()
		return nil, err
	}
	l.publishGauges()
	if len(l.segs) == 0 {
		// The first StoreLogs needs a segment: prepare it now, so that the first write has the
		// latency of every other one. A non-empty log prepares its next segment only once the
		// active one is half full, so that opening a log (and closing it again) writes nothing.
		l.requestSpare(false) // recover synced the directory if it changed it
		l.spareUrgent.Store(true)
		res := <-l.spareCh
		l.spareUrgent.Store(false)
		l.spareWaiting = false
		if res.err != nil {
			l.closeFiles()
			return nil, fmt.Errorf("wal: prepare first segment: %w", res.err)
		}
		l.spare = res.f
	}
	return l, nil
}

// IsMonotonic tells raft that the log never has gaps: raft deletes the whole log instead of
// leaving a gap when it installs a snapshot.
func (l *Log) IsMonotonic() bool { return true }

// FirstIndex returns the first index in the log, 0 when it is empty.
func (l *Log) FirstIndex() (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, ErrClosed
	}
	return l.first, nil
}

// LastIndex returns the last index in the log, 0 when it is empty.
func (l *Log) LastIndex() (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, ErrClosed
	}
	return l.last, nil
}

// GetLog reads the entry at index into out. It returns raft.ErrLogNotFound for an index outside
// [FirstIndex, LastIndex] and an error wrapping ErrCorrupt if the record fails its CRC.
// out.Data and out.Extensions are freshly allocated and owned by the caller.
func (l *Log) GetLog(index uint64, out *raft.Log) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	if l.first == 0 || index < l.first || index > l.last {
		return raft.ErrLogNotFound
	}
	if l.cache != nil {
		if c := &l.cache[index%uint64(len(l.cache))]; c.index == index {
			*out = c.log
			raw := make([]byte, len(c.log.Extensions)+len(c.log.Data))
			n := copy(raw, c.log.Extensions)
			copy(raw[n:], c.log.Data)
			out.Extensions = nil
			if n > 0 {
				out.Extensions = raw[:n:n]
			}
			out.Data = raw[n:]
			return nil
		}
	}
	seg := l.findSegment(index)
	off, end := seg.recordSpan(index)
	buf := make([]byte, end-off)
	if _, err := seg.f.ReadAt(buf, off); err != nil {
		return fmt.Errorf("wal: read %s at %d: %w", seg.path, off, err)
	}
	h, st := decodeHeader(buf, l.opts.MaxEntrySize)
	if st == recOK && h.index != index {
		st = recBadIndex
	}
	if st == recOK && h.flags&flagIndex != 0 {
		st = recBadHdr
	}
	if st == recOK {
		var tmp raft.Log
		st = decodeBody(h, buf[recHeaderSize:], l.opts.MaxEntrySize, &tmp)
		if st == recOK {
			*out = tmp
			return nil
		}
	}
	l.opts.Metrics.Counter(MetricCorruptReadsTotal, 1)
	return corruptf(seg.path, off, "index %d: %s", index, st)
}

// findSegment returns the segment holding index, which must be in [first, last]. Caller holds mu.
func (l *Log) findSegment(index uint64) *segment {
	n := len(l.segs)
	if s := l.segs[n-1]; index >= s.first {
		return s
	}
	i := sort.Search(n, func(i int) bool { return l.segs[i].first > index })
	return l.segs[i-1]
}

// StoreLog stores one entry; see StoreLogs.
func (l *Log) StoreLog(log *raft.Log) error { return l.StoreLogs([]*raft.Log{log}) }

// StoreLogs appends a batch with one write and one fdatasync. The batch must continue the log:
// its first index is LastIndex()+1 (any index when the log is empty) and the indexes are
// consecutive; otherwise ErrOutOfOrder. When it returns nil every entry is durable. The entries'
// Data and Extensions must not be modified afterwards: the newest are cached by reference.
func (l *Log) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	start := time.Now()
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	first := logs[0].Index
	if first == 0 || (l.last != 0 && first != l.last+1) {
		return fmt.Errorf("%w: got index %d, log ends at %d", ErrOutOfOrder, first, l.last)
	}
	for i, lg := range logs {
		if lg.Index != first+uint64(i) {
			return fmt.Errorf("%w: index %d follows %d in one batch", ErrOutOfOrder, lg.Index, first+uint64(i)-1)
		}
	}

	// Encode the batch behind room for a segment header, which is used if the batch starts a
	// new segment. Large uncompressed payloads are not copied: they become buffers of their own
	// in the one pwritev that writes the batch.
	buf := growTo(l.buf[:0], segHeaderSize)
	offs := l.relOffs[:0]
	pieces := l.pieces[:0]
	var extBytes int64
	for i, lg := range logs {
		if len(lg.Data)+len(lg.Extensions) > l.opts.MaxEntrySize {
			l.pieces = clearPieces(pieces)
			return fmt.Errorf("%w: index %d is %d bytes, limit %d", ErrEntryTooLarge, lg.Index, len(lg.Data)+len(lg.Extensions), l.opts.MaxEntrySize)
		}
		var flags uint8
		if i == 0 {
			flags = flagBatchStart
		}
		offs = append(offs, uint32(int64(len(buf)-segHeaderSize)+extBytes))
		var ext []byte
		buf, l.scratch, ext = appendRecord(buf, lg, flags, l.opts.CompressAbove, l.scratch, vecMinData)
		if ext != nil {
			pieces = append(pieces, piece{at: len(buf), data: ext})
			extBytes += int64(len(ext))
		}
	}
	size := int64(len(buf)-segHeaderSize) + extBytes
	l.avgBatch += (size - l.avgBatch) / 8
	if segHeaderSize+size > 1<<32-1 {
		l.buf, l.relOffs, l.pieces = buf, offs, clearPieces(pieces)
		return fmt.Errorf("%w: batch of %d bytes", ErrEntryTooLarge, size)
	}

	var seg *segment
	newSeg := false
	if n := len(l.segs); n > 0 && l.segs[n-1].end+size <= l.opts.SegmentSize {
		seg = l.segs[n-1]
	} else {
		var err error
		if seg, err = l.startSegment(first); err != nil {
			l.buf, l.relOffs, l.pieces = buf, offs, clearPieces(pieces)
			return err
		}
		newSeg = true
	}
	base := seg.end
	from := segHeaderSize
	if newSeg {
		encodeSegHeader(buf[:segHeaderSize], first)
		from = 0
		base = 0
	}
	// Pad the write with zeros to the end of its last page (the space after the records holds
	// zeros already): a write that ends inside a page that is not cached makes the kernel read
	// that page from disk first, synchronously, and one that covers the page does not.
	endOff := seg.end + size
	if pad := min(pageEnd(endOff), max(l.opts.SegmentSize, endOff)) - endOff; pad > 0 {
		n := len(buf)
		buf = growTo(buf, n+int(pad))
		clear(buf[n:])
	}
	var werr error
	if len(pieces) == 0 {
		_, werr = seg.f.WriteAt(buf[from:], base)
	} else {
		bufs := l.bufs[:0]
		prev := from
		for _, p := range pieces {
			bufs = append(bufs, buf[prev:p.at], p.data)
			prev = p.at
		}
		bufs = append(bufs, buf[prev:])
		l.iov, werr = pwritev(seg.f, bufs, base, l.iov)
		l.bufs = clearBufs(bufs)
	}
	l.buf, l.relOffs, l.pieces = buf, offs, clearPieces(pieces)
	base = seg.end
	if werr == nil {
		werr = l.sync(seg.f)
	}
	if werr == nil && newSeg {
		werr = l.publishSegment(seg)
	}
	if werr != nil {
		if newSeg {
			seg.f.Close()
		}
		return l.fail(fmt.Errorf("wal: append to %s: %w", seg.path, werr))
	}

	l.mu.Lock()
	var sealed *segment
	if newSeg {
		if n := len(l.segs); n > 0 {
			sealed = l.segs[n-1]
			sealed.sealed = true
		}
		l.segs = append(l.segs, seg)
	}
	for _, o := range offs {
		seg.offsets = append(seg.offsets, uint32(base)+o)
	}
	seg.end = base + size
	if l.first == 0 {
		l.first = first
	}
	l.last = logs[len(logs)-1].Index
	l.cachePut(logs)
	l.mu.Unlock()

	if sealed != nil {
		l.footerAsync(sealed)
	}
	if !l.spareWaiting && l.spare == nil && seg.end+l.spareLead() > l.opts.SegmentSize {
		l.requestSpare(l.renamed)
	}
	m := l.opts.Metrics
	m.Observe(MetricAppendSeconds, time.Since(start).Seconds())
	m.Counter(MetricBytesWrittenTotal, float64(size))
	m.Counter(MetricEntriesWrittenTotal, float64(len(logs)))
	m.Gauge(MetricLastIndex, float64(l.last))
	if newSeg {
		l.publishGauges()
	}
	return nil
}

// startSegment takes the prepared spare file for a segment starting at first. Writer only.
func (l *Log) startSegment(first uint64) (*segment, error) {
	if len(l.segs) == 0 {
		// The log is empty and first may lie below the head: make every earlier unlink durable
		// before the head moves back, so that no deleted segment can reappear above it.
		l.reapWG.Wait()
		if !l.opts.NoSync {
			if err := syncDir(l.dir); err != nil {
				return nil, l.fail(fmt.Errorf("wal: sync dir: %w", err))
			}
		}
		if err := l.head.set(first, true); err != nil {
			return nil, l.fail(fmt.Errorf("wal: write head: %w", err))
		}
	}
	f := l.spare
	l.spare = nil
	if f == nil {
		if !l.spareWaiting {
			l.requestSpare(true)
		}
		l.spareUrgent.Store(true)
		res := <-l.spareCh
		l.spareUrgent.Store(false)
		l.spareWaiting = false
		if res.err != nil {
			return nil, fmt.Errorf("wal: prepare next segment: %w", res.err)
		}
		f = res.f
	}
	return &segment{first: first, path: filepath.Join(l.dir, spareName), f: f, end: segHeaderSize}, nil
}

// publishSegment renames a spare that now holds a synced header and batch to its segment name.
// The rename is made durable by the directory fsync that starts the next spare's preparation
// (or by Close); until then a crash leaves the segment named next.spare, which Open adopts.
func (l *Log) publishSegment(seg *segment) error {
	path := filepath.Join(l.dir, segName(seg.first))
	if err := os.Rename(seg.path, path); err != nil {
		return err
	}
	seg.path = path
	l.renamed = true
	return nil
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
func (l *Log) prepareSpare(syncFirst, fill bool) (*os.File, error) {
	sync := !l.opts.NoSync
	if sync && syncFirst {
		// persist the rename of the segment that consumed the previous spare
		if err := syncDir(l.dir); err != nil {
			return nil, err
		}
	}
	path := filepath.Join(l.dir, spareName)
	f, err := l.takeRecycled(path)
	if err != nil {
		l.opts.Logger.Warn().Err(err).Msg("wal: reuse a compacted segment; creating a new one")
	}
	if f != nil {
		fill = true // overwriting blocks written before is cheap (see recycle)
	} else {
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	}
	if err != nil {
		return nil, err
	}
	if fill {
		err = l.zeroFill(f)
	} else if err = syscall.Fallocate(int(f.Fd()), 0, 0, l.opts.SegmentSize); err != nil {
		err = l.zeroFill(f) // no fallocate on this file system
	}
	if err == nil && l.spareStop.Load() {
		err = ErrClosed
	}
	if err == nil && sync {
		err = f.Sync()
	}
	if err == nil && sync {
		err = syncDir(l.dir)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
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
	if err := os.Rename(path, filepath.Join(l.dir, name)); err != nil {
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
func (l *Log) takeRecycled(spare string) (*os.File, error) {
	l.rmu.Lock()
	defer l.rmu.Unlock()
	if len(l.recycled) == 0 {
		return nil, nil
	}
	old := filepath.Join(l.dir, l.recycled[0])
	l.recycled = l.recycled[1:]
	f, err := os.OpenFile(old, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	err = f.Truncate(l.opts.SegmentSize) // a segment may have grown past it (one huge batch)
	if err == nil {
		_, err = f.WriteAt(zeros[:pageSize], 0)
	}
	if err == nil && !l.opts.NoSync {
		err = fdatasync(f)
	}
	if err == nil {
		err = os.Rename(old, spare)
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
func (l *Log) zeroFill(f *os.File) error {
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
		if err := fdatasync(f); err != nil {
			return err
		}
		time.Sleep(time.Since(t))
	}
	return nil
}

// spareLead is how much room must be left in the active segment when the next spare is
// requested: half a segment, or eight average batches if that is more.
func (l *Log) spareLead() int64 { return max(l.opts.SegmentSize/2, 8*l.avgBatch) }

// footerAsync writes a sealed segment's footer in the background, in order with the reapers.
func (l *Log) footerAsync(s *segment) {
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
		l.writeFooter(s)
	}()
}

// writeFooter appends the index record and trailer to a sealed segment and trims the file to
// them. The footer only speeds up Open (which verifies it and falls back to a scan), so it is
// not synced here and a failure is logged, not returned. Writer only.
func (l *Log) writeFooter(s *segment) {
	footer := appendIndexFooter(nil, s.end, s.offsets)
	_, err := s.f.WriteAt(footer, s.end)
	if err == nil {
		err = s.f.Truncate(s.end + int64(len(footer)))
	}
	if err != nil {
		l.opts.Logger.Warn().Err(err).Str("file", s.path).Msg("wal: write segment index footer")
		return
	}
	s.dirty = true
}

func (l *Log) sync(f *os.File) error {
	if l.opts.NoSync {
		return nil
	}
	t := time.Now()
	err := fdatasync(f)
	l.opts.Metrics.Observe(MetricFsyncSeconds, time.Since(t).Seconds())
	return err
}

// writable reports why the log cannot be written, if it cannot. Writer only.
func (l *Log) writable() error {
	if l.closed {
		return ErrClosed
	}
	return l.failed
}

// fail records a write failure; the log refuses writes until reopened.
func (l *Log) fail(err error) error {
	l.failed = fmt.Errorf("%w: %w", ErrFailed, err)
	l.opts.Logger.Error().Err(err).Msg("wal: write failed; log is read-only until reopened")
	return err
}

// cachePut caches the newest entries. Like raft's own LogCache it keeps references to the
// callers' Data and Extensions (raft never modifies an entry after storing it); GetLog copies
// them out. Caller holds wmu and mu.
func (l *Log) cachePut(logs []*raft.Log) {
	if l.cache == nil {
		return
	}
	n := uint64(len(l.cache))
	if len(logs) > len(l.cache) {
		logs = logs[len(logs)-len(l.cache):]
	}
	for _, lg := range logs {
		c := &l.cache[lg.Index%n]
		if len(lg.Data)+len(lg.Extensions) > 64<<10 {
			*c = cacheEntry{}
			continue
		}
		c.index = lg.Index
		c.log = *lg
		c.log.AppendedAt = decodeAppendedAt(encodeAppendedAt(lg.AppendedAt)) // as read back from disk
	}
}

func (l *Log) publishGauges() {
	m := l.opts.Metrics
	m.Gauge(MetricSegments, float64(len(l.segs)))
	m.Gauge(MetricFirstIndex, float64(l.first))
	m.Gauge(MetricLastIndex, float64(l.last))
}

// Close waits for background work, syncs segment footers and closes every file. It is safe to
// call more than once.
func (l *Log) Close() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	l.spareStop.Store(true)
	var first error
	hadSpare := l.spare != nil
	if l.spareWaiting {
		res := <-l.spareCh
		l.spareWaiting = false
		hadSpare = true
		if res.f != nil {
			l.spare = res.f
		}
	}
	if hadSpare {
		if l.spare != nil {
			l.spare.Close()
			l.spare = nil
		}
		if err := os.Remove(filepath.Join(l.dir, spareName)); err != nil && !os.IsNotExist(err) {
			first = err
		}
	}
	l.spareWG.Wait()
	l.reapWG.Wait()
	if l.renamed && !l.opts.NoSync && l.failed == nil {
		// make the last rotation's rename durable (Open would adopt the spare otherwise)
		if err := syncDir(l.dir); err != nil && first == nil {
			first = err
		}
	}
	for _, s := range l.segs {
		if s.dirty && !l.opts.NoSync && l.failed == nil {
			if err := fdatasync(s.f); err != nil && first == nil {
				first = err
			}
		}
	}
	if err := l.closeFiles(); err != nil && first == nil {
		first = err
	}
	return first
}

func (l *Log) closeFiles() error {
	var first error
	for _, s := range l.segs {
		if err := s.f.Close(); err != nil && first == nil {
			first = err
		}
	}
	l.segs = nil
	if l.head != nil {
		l.head.f.Close()
	}
	if l.lock != nil {
		l.lock.Close() // releases the flock
		l.lock = nil
	}
	return first
}
