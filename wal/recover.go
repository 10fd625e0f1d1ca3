package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/nebulaio/nebulaio/internal/vfs"
)

// recover loads the stable store and the head, finds the segments, verifies them and rebuilds
// the offset index. See "Recovery" in doc.go.
func (l *Log) recover() error {
	if err := l.loadStable(); err != nil {
		return err
	}
	head, created, err := openHead(l.fs, filepath.Join(l.dir, headName))
	if err != nil {
		return err
	}
	l.head = head
	dirDirty := created

	entries, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("wal: read dir: %w", err)
	}
	var segs []*segment
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == spareName:
			// A spare with a valid header holds a synced batch whose rename was lost.
			s, err := l.adoptSpare()
			if err != nil {
				return err
			}
			if s != nil {
				segs = append(segs, s)
			}
			dirDirty = true
		case strings.HasSuffix(name, recycleSuffix):
			// a compacted segment kept for reuse; never read
			seq, err := strconv.ParseUint(strings.TrimSuffix(name, recycleSuffix), 10, 64)
			if err != nil || len(l.recycled) >= l.opts.RecycleSegments {
				l.fs.Remove(filepath.Join(l.dir, name))
				dirDirty = true
				continue
			}
			l.recycled = append(l.recycled, name)
			l.recycleSeq = max(l.recycleSeq, seq)
		case strings.HasSuffix(name, tmpSuffix):
			l.fs.Remove(filepath.Join(l.dir, name))
			dirDirty = true
		default:
			first, ok := parseSegName(name)
			if !ok {
				continue
			}
			s, err := l.openSegment(filepath.Join(l.dir, name), first)
			if err != nil {
				return err
			}
			segs = append(segs, s)
		}
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].first < segs[j].first })
	l.segs = segs // closeFiles closes them on error

	// Segments wholly below the head were deleted from the front; a crash lost the unlink.
	h := l.head.head
	k := 0
	for k+1 < len(segs) && segs[k+1].first <= h {
		k++
	}
	if k > 0 {
		if err := l.dropRecovered(segs[:k]); err != nil {
			return err
		}
		segs = segs[k:]
		l.segs = segs
		dirDirty = true
	}

	for i, s := range segs {
		if i+1 < len(segs) {
			next := segs[i+1].first
			if next <= s.first {
				return corruptf(segs[i+1].path, 0, "segment starts at %d, not after %s (first %d)", next, filepath.Base(s.path), s.first)
			}
			if err := l.recoverSealed(s, next-s.first); err != nil {
				return err
			}
			s.sealed = true
			continue
		}
		if err := l.recoverLast(s); err != nil {
			return err
		}
	}

	// Drop an empty last segment and segments entirely below the head.
	for len(segs) > 0 {
		s := segs[len(segs)-1]
		if len(s.offsets) > 0 && s.lastIndex() >= h {
			break
		}
		if err := l.dropRecovered([]*segment{s}); err != nil {
			return err
		}
		segs = segs[:len(segs)-1]
		l.segs = segs
		dirDirty = true
	}
	if len(segs) > 0 {
		l.first = max(h, segs[0].first)
		l.last = segs[len(segs)-1].lastIndex()
		// The active segment may carry the footer of an interrupted rotation, or have been cut
		// short: zero-fill it again before appending.
		if act := segs[len(segs)-1]; act.sealed || act.dirty {
			act.sealed = false
		}
		if err := l.prepareActive(segs[len(segs)-1]); err != nil {
			return err
		}
	}
	if dirDirty {
		if err := l.fs.SyncDir(l.dir); err != nil {
			return fmt.Errorf("wal: sync dir: %w", err)
		}
	}
	return nil
}

// prepareActive makes sure the bytes after the active segment's records are zero (cutting a
// footer or leftover bytes) and that the segment is zero-filled to SegmentSize again.
func (l *Log) prepareActive(s *segment) error {
	st, err := s.f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	if size > s.end && !s.zeroed {
		clean, err := zeroAfter(s.f, s.end, size)
		if err != nil {
			return err
		}
		if !clean {
			if err := s.f.Truncate(s.end); err != nil {
				return fmt.Errorf("wal: truncate %s: %w", s.path, err)
			}
			if err := s.f.Sync(); err != nil {
				return err
			}
			size = s.end
		}
	}
	if size < l.opts.SegmentSize {
		if err := writeZeros(s.f, size, l.opts.SegmentSize); err != nil {
			return fmt.Errorf("wal: zero-fill %s: %w", s.path, err)
		}
		return s.f.Sync()
	}
	return nil
}

// zeroAfter reports whether f holds only zeros in [from, to).
func zeroAfter(f vfs.File, from, to int64) (bool, error) {
	buf := make([]byte, 1<<20)
	for off := from; off < to; {
		n := min(int64(len(buf)), to-off)
		if _, err := f.ReadAt(buf[:n], off); err != nil && !errors.Is(err, io.EOF) {
			return false, err
		}
		if !isZero(buf[:n]) {
			return false, nil
		}
		off += n
	}
	return true, nil
}

func (l *Log) dropRecovered(segs []*segment) error {
	for i := len(segs) - 1; i >= 0; i-- {
		s := segs[i]
		s.f.Close()
		if err := l.fs.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("wal: remove %s: %w", s.path, err)
		}
		l.opts.Logger.Info().Str("file", s.path).Msg("wal: removed segment below the log head")
	}
	return nil
}

// openSegment opens a segment file and checks its header.
func (l *Log) openSegment(path string, nameFirst uint64) (*segment, error) {
	f, err := l.fs.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("wal: open segment: %w", err)
	}
	var hb [segHeaderSize]byte
	if _, err := f.ReadAt(hb[:], 0); err != nil && !errors.Is(err, io.EOF) {
		f.Close()
		return nil, fmt.Errorf("wal: read %s: %w", path, err)
	}
	first, st := decodeSegHeader(hb[:])
	switch {
	case st == segHeaderNewer:
		f.Close()
		return nil, fmt.Errorf("%w: %s has version %d, this build reads up to %d", ErrNewerFormat, path, binary.LittleEndian.Uint16(hb[4:6]), formatVersion)
	case st != segHeaderOK:
		f.Close()
		return nil, corruptf(path, 0, "bad segment header")
	case first != nameFirst:
		f.Close()
		return nil, corruptf(path, 8, "header first index %d does not match the file name", first)
	}
	return &segment{first: first, path: path, f: f, end: segHeaderSize}, nil
}

// adoptSpare returns the spare as a segment if its header is valid (its rename was lost in a
// crash), renaming it; otherwise removes it. Only a synced batch ever gets a header written.
func (l *Log) adoptSpare() (*segment, error) {
	path := filepath.Join(l.dir, spareName)
	f, err := l.fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	var hb [segHeaderSize]byte
	_, rerr := f.ReadAt(hb[:], 0)
	f.Close()
	first, st := decodeSegHeader(hb[:])
	if rerr != nil || st != segHeaderOK {
		if st == segHeaderNewer {
			return nil, fmt.Errorf("%w: %s", ErrNewerFormat, path)
		}
		return nil, l.fs.Remove(path)
	}
	final := filepath.Join(l.dir, segName(first))
	if err := l.fs.Rename(path, final); err != nil {
		return nil, err
	}
	l.opts.Logger.Info().Str("file", final).Msg("wal: adopted a segment whose rename was lost")
	return l.openSegment(final, first)
}

// recoverSealed rebuilds the offset index of a segment that must hold exactly count entries:
// from its footer when that is intact, otherwise by scanning and verifying every record. Any
// failure is corruption, since a sealed segment was fully synced before the next one began.
func (l *Log) recoverSealed(s *segment, count uint64) error {
	if count > 1<<30 {
		return corruptf(s.path, 0, "segment would hold %d entries", count)
	}
	if l.loadFooter(s, count) {
		return nil
	}
	data, err := vfs.ReadFile(l.fs, s.path)
	if err != nil {
		return fmt.Errorf("wal: read %s: %w", s.path, err)
	}
	off := int64(segHeaderSize)
	offs := make([]uint32, 0, count)
	for i := uint64(0); i < count; i++ {
		n, st := l.checkRecord(data, off, s.first+i)
		if st != recOK {
			return corruptf(s.path, off, "%s (want index %d; segment %s ends before the next one starts)", st, s.first+i, filepath.Base(s.path))
		}
		offs = append(offs, uint32(off))
		off += n
	}
	s.offsets, s.end = offs, off
	return nil
}

// checkRecord verifies the record at off in data and that it carries want; it returns the
// record's length.
func (l *Log) checkRecord(data []byte, off int64, want uint64) (int64, recStatus) {
	if off > int64(len(data)) {
		return 0, recShort
	}
	h, st := decodeHeader(data[off:], l.opts.MaxEntrySize)
	if st != recOK {
		return 0, st
	}
	if h.flags&flagIndex != 0 || h.index != want {
		return 0, recBadIndex
	}
	end := off + recHeaderSize + int64(h.bodyLen)
	if end > int64(len(data)) {
		return 0, recShort
	}
	if crc(data[off+recHeaderSize:end]) != h.bodyCRC {
		return 0, recBadBody
	}
	return end - off, recOK
}

// loadFooter reads a sealed segment's index footer and spot-checks it against the records it
// points at. It returns false (and the caller scans) if anything does not match.
func (l *Log) loadFooter(s *segment, count uint64) bool {
	st, err := s.f.Stat()
	if err != nil || st.Size() < segHeaderSize+recHeaderSize+trailerSize {
		return false
	}
	var t [trailerSize]byte
	if _, err := s.f.ReadAt(t[:], st.Size()-trailerSize); err != nil {
		return false
	}
	recOff, ok := decodeTrailer(t[:])
	if !ok || recOff < segHeaderSize || recOff+recHeaderSize+int64(4*count)+trailerSize != st.Size() {
		return false
	}
	buf := make([]byte, recHeaderSize+4*count)
	if _, err := s.f.ReadAt(buf, recOff); err != nil {
		return false
	}
	h, hs := decodeHeader(buf, l.opts.MaxEntrySize)
	if hs != recOK || h.flags != flagIndex || uint64(h.bodyLen) != 4*count || crc(buf[recHeaderSize:]) != h.bodyCRC {
		return false
	}
	offs := make([]uint32, count)
	prev := int64(segHeaderSize - 1)
	for i := range offs {
		o := int64(binary.LittleEndian.Uint32(buf[recHeaderSize+4*i:]))
		if o <= prev || o+recHeaderSize > recOff {
			return false
		}
		offs[i], prev = uint32(o), o
	}
	if offs[0] != segHeaderSize {
		return false
	}
	// spot-check the first and last record headers
	for _, i := range []uint64{0, count - 1} {
		var hb [recHeaderSize]byte
		if _, err := s.f.ReadAt(hb[:], int64(offs[i])); err != nil {
			return false
		}
		rh, rs := decodeHeader(hb[:], l.opts.MaxEntrySize)
		if rs != recOK || rh.index != s.first+i || rh.flags&flagIndex != 0 {
			return false
		}
		if i == count-1 && int64(offs[i])+recHeaderSize+int64(rh.bodyLen) != recOff {
			return false
		}
	}
	s.offsets, s.end = offs, recOff
	return true
}

// recoverLast rebuilds the offset index of the last segment, verifying every record. The common
// case - whole records followed by zeros (or by the footer of an interrupted rotation) - is
// checked in place through a read-only mapping of the file, without copying it; anything else is
// handed to recoverLastFull, which decides between a torn tail and corruption.
func (l *Log) recoverLast(s *segment) error {
	st, err := s.f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	if size <= segHeaderSize || size > 1<<32 {
		return l.recoverLastFull(s)
	}
	rc, err := vfs.RawConn(s.f) // OS files only; others are read through the seam
	if err != nil {
		return l.recoverLastFull(s)
	}
	var data []byte
	var merr error
	if err := rc.Control(func(fd uintptr) {
		data, merr = syscall.Mmap(int(fd), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	}); err != nil || merr != nil {
		return l.recoverLastFull(s)
	}
	offs, end, ok, sealed := l.scanClean(data, s.first)
	syscall.Munmap(data)
	if !ok {
		return l.recoverLastFull(s)
	}
	s.offsets, s.end, s.sealed, s.zeroed = offs, end, sealed, !sealed
	return nil
}

// scanClean walks the records of data from the segment header on. ok reports that they end
// cleanly: at the end of the data, at a zero header followed only by zeros, or at an index
// footer (sealed).
func (l *Log) scanClean(data []byte, first uint64) (offs []uint32, end int64, ok, sealed bool) {
	off := int64(segHeaderSize)
	want := first
	for off < int64(len(data)) {
		if off+recHeaderSize > int64(len(data)) {
			return offs, off, isZero(data[off:]), false
		}
		h, hs := decodeHeader(data[off:], l.opts.MaxEntrySize)
		switch {
		case hs == recOK && h.flags&flagIndex != 0:
			return offs, off, true, true
		case hs == recZero:
			return offs, off, isZero(data[off:]), false
		case hs != recOK || h.index != want:
			return nil, 0, false, false
		}
		next := off + recHeaderSize + int64(h.bodyLen)
		if next > int64(len(data)) || crc(data[off+recHeaderSize:next]) != h.bodyCRC {
			return nil, 0, false, false
		}
		offs = append(offs, uint32(off))
		off = next
		want++
	}
	return offs, off, true, false
}

// recoverLastFull scans the last segment, verifying every record. At the first record that does not
// verify it decides between a torn tail (the unacknowledged end of the last batch: truncated and
// logged) and corruption (an error): it is corruption if a valid record that starts a later
// batch, or a segment index footer, follows the damage, because the log writes a batch only
// after the previous one was synced.
func (l *Log) recoverLastFull(s *segment) error {
	data, err := vfs.ReadFile(l.fs, s.path)
	if err != nil {
		return fmt.Errorf("wal: read %s: %w", s.path, err)
	}
	off := int64(segHeaderSize)
	var offs []uint32
	want := s.first
	var bad recStatus = recOK
	for {
		if off >= int64(len(data)) {
			s.zeroed = true
			break
		}
		if off+recHeaderSize <= int64(len(data)) {
			if h, st := decodeHeader(data[off:], l.opts.MaxEntrySize); st == recOK && h.flags&flagIndex != 0 {
				// the footer of an interrupted rotation: the records end here
				s.sealed = true
				break
			}
		}
		n, st := l.checkRecord(data, off, want)
		if st == recZero && isZero(data[off:]) {
			s.zeroed = true
			break
		}
		if st != recOK {
			bad = st
			break
		}
		if off > 1<<32-1 {
			return corruptf(s.path, off, "segment larger than 4 GiB")
		}
		offs = append(offs, uint32(off))
		off += n
		want++
	}
	s.offsets, s.end = offs, off
	if bad == recOK {
		return nil
	}
	if evidence := l.laterBatch(data, off, want); evidence >= 0 {
		return corruptf(s.path, off, "%s (want index %d), and a later batch follows at offset %d", bad, want, evidence)
	}
	lastNonZero := int64(len(data))
	for lastNonZero > off && data[lastNonZero-1] == 0 {
		lastNonZero--
	}
	l.opts.Logger.Warn().Str("file", s.path).Int64("offset", off).Int64("bytes", lastNonZero-off).
		Uint64("last_index", want-1).Str("reason", bad.String()).Msg("wal: truncated torn tail")
	l.opts.Metrics.Counter(MetricTornTailsTotal, 1)
	// Cut the torn bytes; prepareActive zero-fills the segment again.
	if err := s.f.Truncate(off); err != nil {
		return fmt.Errorf("wal: truncate %s: %w", s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("wal: sync %s: %w", s.path, err)
	}
	return nil
}

// laterBatch searches data after off for a valid record that starts a batch with an index of at
// least want, or a valid segment index record; it returns its offset or -1.
func (l *Log) laterBatch(data []byte, off int64, want uint64) int64 {
	for p := off; p+recHeaderSize <= int64(len(data)); p++ {
		if data[p] == 0 && data[p+1] == 0 && data[p+2] == 0 && data[p+3] == 0 {
			continue // a header CRC is (almost) never zero; skip zeroed space quickly
		}
		h, st := decodeHeader(data[p:], l.opts.MaxEntrySize)
		if st != recOK {
			continue
		}
		end := p + recHeaderSize + int64(h.bodyLen)
		if end > int64(len(data)) || crc(data[p+recHeaderSize:end]) != h.bodyCRC {
			continue
		}
		if h.flags&flagIndex != 0 || (h.flags&flagBatchStart != 0 && h.index >= want) {
			return p
		}
	}
	return -1
}
