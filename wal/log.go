package wal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/nebulaio/nebulaio/internal/vfs"
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
	f       vfs.File
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

// Log is a segmented write-ahead log: raft's LogStore, MonotonicLogStore and StableStore.
// All methods are safe for concurrent use; GetLog, FirstIndex and LastIndex run concurrently
// with StoreLogs and with each other.
type Log struct {
	dir  string
	opts Options
	fs   vfs.FS // Options.FS, without syncs when Options.NoSync
	lock io.Closer

	// wmu serialises the mutating log operations (StoreLogs, DeleteRange, Close). The fields
	// below it are owned by whoever holds wmu.
	wmu          sync.Mutex
	batch        batch // StoreLogs' encoding buffers, reused
	failed       error // sticky: set after a write or sync failed
	head         *headFile
	spareCh      chan spareResult // capacity 1; the background preparer sends one spare per request
	spareWaiting bool             // a spare was requested and not yet received
	spare        vfs.File         // a prepared spare received before it was needed (Open)
	spareWG      sync.WaitGroup
	spareStop    atomic.Bool    // set by Close: abandon a preparation in progress
	spareUrgent  atomic.Bool    // set while StoreLogs or Open waits for the spare: no fill steps
	avgBatch     int64          // moving average of batch bytes; picks how the spare is prepared
	reapWG       sync.WaitGroup // background head syncs and unlinks of compacted segments
	reapDone     chan struct{}  // closed when the newest reaper finishes (reapers run in order)
	renamed      bool           // a segment was renamed and no directory fsync followed yet

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
	smu        sync.Mutex
	kv         map[string][]byte
	kvInt      map[string]uint64
	stable     string
	stableF    vfs.File // the stable-state file, open for Set (stable.go)
	stableSlot int64    // its slot size
	stableSeq  uint64   // the sequence of the newest state, in slot stableSeq % 2
}

// Open opens (creating if needed) the log in dir and recovers it: a torn tail of the last
// segment is truncated and logged, any other damage is an error wrapping ErrCorrupt that names
// the file and offset, and files of a newer format version give ErrNewerFormat.
func Open(dir string, opts Options) (*Log, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	fsys := opts.FS
	if opts.NoSync {
		fsys = vfs.NoSync(fsys)
	}
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("wal: create dir: %w", err)
	}
	lock, err := fsys.Lock(filepath.Join(dir, lockName))
	if errors.Is(err, vfs.ErrLocked) {
		return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("wal: lock: %w", err)
	}
	l := &Log{
		dir:     dir,
		opts:    opts,
		fs:      fsys,
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
		f, err := l.awaitSpare(false) // recover synced the directory if it changed it
		if err != nil {
			l.closeFiles()
			return nil, fmt.Errorf("wal: prepare first segment: %w", err)
		}
		l.spare = f
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
// Data and Extensions must not be modified afterwards: the newest are cached by reference. An
// error from a write or sync wraps ErrFailed (and the file system's error, such as
// vfs.ErrNoSpace): the log then refuses every later write until it is reopened.
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
	if err := l.checkOrder(logs); err != nil {
		return err
	}
	b := &l.batch
	defer b.release()
	if err := b.encode(logs, l.opts.CompressAbove, l.opts.MaxEntrySize); err != nil {
		return err
	}
	l.avgBatch += (b.size - l.avgBatch) / 8
	if segHeaderSize+b.size > 1<<32-1 {
		return fmt.Errorf("%w: batch of %d bytes", ErrEntryTooLarge, b.size)
	}
	seg, newSeg, err := l.segmentFor(logs[0].Index)
	if err != nil {
		return err
	}
	if err := l.writeBatch(seg, newSeg, logs[0].Index); err != nil {
		if newSeg {
			seg.f.Close()
		}
		return l.fail(fmt.Errorf("wal: append to %s: %w", seg.path, err))
	}
	if sealed := l.publish(seg, newSeg, logs); sealed != nil {
		l.footerAsync(sealed)
	}
	if !l.spareWaiting && l.spare == nil && seg.end+l.spareLead() > l.opts.SegmentSize {
		l.requestSpare(l.renamed)
	}
	m := l.opts.Metrics
	m.Observe(MetricAppendSeconds, time.Since(start).Seconds())
	m.Counter(MetricBytesWrittenTotal, float64(b.size))
	m.Counter(MetricEntriesWrittenTotal, float64(len(logs)))
	m.Gauge(MetricLastIndex, float64(l.last))
	if newSeg {
		l.publishGauges()
	}
	return nil
}

// checkOrder returns ErrOutOfOrder unless logs continue the log with consecutive indexes.
// Writer only.
func (l *Log) checkOrder(logs []*raft.Log) error {
	first := logs[0].Index
	if first == 0 || (l.last != 0 && first != l.last+1) {
		return fmt.Errorf("%w: got index %d, log ends at %d", ErrOutOfOrder, first, l.last)
	}
	for i, lg := range logs {
		if lg.Index != first+uint64(i) {
			return fmt.Errorf("%w: index %d follows %d in one batch", ErrOutOfOrder, lg.Index, first+uint64(i)-1)
		}
	}
	return nil
}

// segmentFor returns the segment the encoded batch goes to: the active one if the batch fits,
// otherwise a new one (made from the spare) that starts at first. Writer only.
func (l *Log) segmentFor(first uint64) (seg *segment, isNew bool, err error) {
	if n := len(l.segs); n > 0 && l.segs[n-1].end+l.batch.size <= l.opts.SegmentSize {
		return l.segs[n-1], false, nil
	}
	seg, err = l.startSegment(first)
	return seg, err == nil, err
}

// writeBatch writes the encoded batch after seg's records (a new segment gets its header in the
// same write), padded to the end of its last page, and makes it durable; then a new segment is
// renamed from the spare's name to its own. Writer only.
func (l *Log) writeBatch(seg *segment, newSeg bool, first uint64) error {
	b := &l.batch
	b.pad(seg.end, l.opts.SegmentSize)
	from, at := segHeaderSize, seg.end
	if newSeg {
		encodeSegHeader(b.buf[:segHeaderSize], first)
		from, at = 0, 0
	}
	var err error
	if len(b.pieces) == 0 {
		_, err = seg.f.WriteAt(b.buf[from:], at)
	} else {
		_, err = seg.f.WriteVAt(b.vectors(from), at)
	}
	if err == nil {
		err = l.sync(seg.f)
	}
	if err == nil && newSeg {
		err = l.publishSegment(seg)
	}
	return err
}

// publish makes a written batch visible to readers: a new segment joins the log (sealing the
// previous one, which it returns), the records' offsets join the index, and the last index and
// the cache move. Writer only.
func (l *Log) publish(seg *segment, newSeg bool, logs []*raft.Log) (sealed *segment) {
	b := &l.batch
	l.mu.Lock()
	defer l.mu.Unlock()
	if newSeg {
		if n := len(l.segs); n > 0 {
			sealed = l.segs[n-1]
			sealed.sealed = true
		}
		l.segs = append(l.segs, seg)
	}
	base := uint32(seg.end)
	for _, o := range b.offs {
		seg.offsets = append(seg.offsets, base+o)
	}
	seg.end += b.size
	if l.first == 0 {
		l.first = logs[0].Index
	}
	l.last = logs[len(logs)-1].Index
	l.cachePut(logs)
	return sealed
}

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

// sync fdatasyncs an appended segment and observes how long that took.
func (l *Log) sync(f vfs.File) error {
	if l.opts.NoSync {
		return nil
	}
	t := time.Now()
	err := f.Datasync()
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

// fail records a write failure and returns it wrapping ErrFailed; the log refuses writes until
// reopened.
func (l *Log) fail(err error) error {
	l.failed = fmt.Errorf("%w: %w", ErrFailed, err)
	l.opts.Logger.Error().Err(err).Msg("wal: write failed; log is read-only until reopened")
	return l.failed
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
		if err := l.fs.Remove(filepath.Join(l.dir, spareName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			first = err
		}
	}
	l.spareWG.Wait()
	l.reapWG.Wait()
	if l.renamed && l.failed == nil {
		// make the last rotation's rename durable (Open would adopt the spare otherwise)
		if err := l.fs.SyncDir(l.dir); err != nil && first == nil {
			first = err
		}
	}
	for _, s := range l.segs {
		if s.dirty && l.failed == nil {
			if err := s.f.Datasync(); err != nil && first == nil {
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
	l.smu.Lock() // a Set that saw the log open may still be writing
	if l.stableF != nil {
		l.stableF.Close()
		l.stableF = nil
	}
	l.smu.Unlock()
	if l.lock != nil {
		l.lock.Close()
		l.lock = nil
	}
	return first
}
