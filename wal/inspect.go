package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/raft"

	"github.com/nebulaio/nebulaio/internal/vfs"
)

// InspectOptions configure Inspect.
type InspectOptions struct {
	// FS is the file system (nil: the operating system's).
	FS vfs.FS
	// MaxEntrySize bounds a record body as Options.MaxEntrySize does (0: the default).
	MaxEntrySize int
	// Progress, if not nil, is called after each segment with the segment bytes read so far
	// and the total.
	Progress func(done, total int64)
}

// SegmentInfo describes one segment file as Inspect found it.
type SegmentInfo struct {
	File string // base name
	// First is the index in the header; Records the whole records that follow it, so the
	// segment holds First..First+Records-1.
	First   uint64
	Records int
	// FirstTerm and LastTerm are the terms of its first and last record (0 without records).
	FirstTerm, LastTerm uint64
	// Size is the file's size; DataEnd the offset after its last whole record.
	Size, DataEnd int64
	// Compressed counts the records stored snappy-compressed.
	Compressed int
	// Sealed: the segment ends with a valid index footer (every segment but the active one).
	Sealed bool
	// Damaged: reading stopped at damage (a problem names it); Records counts the whole
	// records before it.
	Damaged bool
	// BelowHead: every record is below the log head (deleted from the front; Open removes the
	// file without reading it, so its damage, if any, is not reported).
	BelowHead bool
}

// Last is the index of the segment's last record (First-1 when it holds none).
func (s SegmentInfo) Last() uint64 { return s.First + uint64(s.Records) - 1 }

// Damage is one defect Inspect found.
type Damage struct {
	File   string
	Offset int64
	Reason string
	// Torn marks the torn tail of the last segment: an append a crash interrupted, which Open
	// truncates (logged). Everything else is corruption: Open refuses the log.
	Torn bool
}

func (d Damage) String() string {
	kind := "corrupt"
	if d.Torn {
		kind = "torn tail (Open truncates it)"
	}
	return fmt.Sprintf("%s: %s at offset %d: %s", kind, d.File, d.Offset, d.Reason)
}

// StableInfo is raft's state in the stable-state file.
type StableInfo struct {
	CurrentTerm  uint64
	LastVoteTerm uint64
	LastVoteCand string
	Keys         int
}

// InspectReport is what Inspect found in a WAL directory.
type InspectReport struct {
	Dir string
	// Head is the logical head (entries below it are deleted).
	Head uint64
	// FirstIndex and LastIndex are the entries Open would serve (0, 0 when empty).
	FirstIndex, LastIndex uint64
	Segments              []SegmentInfo
	Stable                StableInfo
	// Bytes is the size of the segment files; Spare, Recycled and Temp count the other files
	// (a prepared next segment, compacted segments kept for reuse, leftovers Open removes).
	Bytes          int64
	Spare          bool
	Recycled, Temp int
	Problems       []Damage
}

// Corrupt reports whether any problem is corruption (not a torn tail): Open would refuse the
// log.
func (r InspectReport) Corrupt() bool {
	for _, d := range r.Problems {
		if !d.Torn {
			return true
		}
	}
	return false
}

// Inspect reads a WAL directory without changing anything or taking its lock (on a running
// node's directory it sees a moment's state, which the writer may change meanwhile) and
// verifies it as Open would, record by record: every header and body CRC, the body's
// decompression, consecutive indexes within and across segments, the footers of sealed
// segments, the head and the stable state. Unlike Open it does not stop at the first
// defect: every segment is read and each defect reported with its file and offset.
// Inspect's own error is for a directory it cannot read at all.
func Inspect(dir string, opts InspectOptions) (InspectReport, error) {
	rep := InspectReport{Dir: dir}
	o := Options{FS: opts.FS, MaxEntrySize: opts.MaxEntrySize}.withDefaults()
	l := &Log{dir: dir, opts: o, fs: o.FS, stable: filepath.Join(dir, stableName)}
	entries, err := l.fs.ReadDir(dir)
	if err != nil {
		return rep, fmt.Errorf("wal: inspect: %w", err)
	}
	type segFile struct {
		name  string
		first uint64
		size  int64
	}
	var segs []segFile
	var total int64
	haveHead := false
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == headName:
			haveHead = true
		case name == stableName || name == lockName:
		case name == spareName:
			rep.Spare = true
		case strings.HasSuffix(name, recycleSuffix):
			rep.Recycled++
		case strings.HasSuffix(name, tmpSuffix):
			rep.Temp++
		default:
			first, ok := parseSegName(name)
			if !ok {
				continue // not ours
			}
			fi, err := e.Info()
			if err != nil {
				return rep, fmt.Errorf("wal: inspect: %w", err)
			}
			segs = append(segs, segFile{name, first, fi.Size()})
			total += fi.Size()
		}
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].first < segs[j].first })
	l.inspectStable(&rep)
	if haveHead {
		l.inspectHead(&rep)
	}

	var done int64
	for i, sf := range segs {
		info, probs := l.inspectSegment(sf.name, sf.first, i == len(segs)-1)
		info.Size = sf.size
		// As Open decides: a segment whose successor starts at or below the head holds only
		// deleted entries (its removal was lost to a crash), and Open removes it unread.
		info.BelowHead = i+1 < len(segs) && segs[i+1].first <= rep.Head
		if !info.BelowHead {
			rep.Problems = append(rep.Problems, probs...)
		}
		rep.Segments = append(rep.Segments, info)
		rep.Bytes += sf.size
		done += sf.size
		if opts.Progress != nil {
			opts.Progress(done, total)
		}
	}
	rep.checkContinuity()
	return rep, nil
}

// checkContinuity checks that the segments at or above the head hold consecutive indexes,
// and sets FirstIndex and LastIndex.
func (r *InspectReport) checkContinuity() {
	var prev *SegmentInfo
	for i := range r.Segments {
		s := &r.Segments[i]
		if s.BelowHead {
			continue
		}
		if prev != nil && !prev.Damaged && s.First != prev.Last()+1 {
			r.Problems = append(r.Problems, Damage{File: filepath.Join(r.Dir, s.File), Offset: 8,
				Reason: fmt.Sprintf("starts at index %d, but %s ends at %d", s.First, prev.File, prev.Last())})
		}
		if s.Records > 0 {
			if r.FirstIndex == 0 {
				r.FirstIndex = max(s.First, r.Head)
			}
			r.LastIndex = s.Last()
		}
		prev = s
	}
}

// inspectSegment reads one segment file and verifies every record (see Inspect).
func (l *Log) inspectSegment(name string, first uint64, last bool) (SegmentInfo, []Damage) {
	info := SegmentInfo{File: name, First: first}
	path := filepath.Join(l.dir, name)
	damage := func(off int64, torn bool, format string, args ...any) []Damage {
		info.Damaged = true
		return []Damage{{File: path, Offset: off, Reason: fmt.Sprintf(format, args...), Torn: torn}}
	}
	data, err := vfs.ReadFile(l.fs, path)
	if err != nil {
		return info, damage(0, false, "read: %v", err)
	}
	hfirst, st := decodeSegHeader(data)
	switch {
	case st == segHeaderNewer:
		return info, damage(4, false, "written by a newer format version")
	case st != segHeaderOK:
		return info, damage(0, false, "bad segment header")
	case hfirst != first:
		return info, damage(8, false, "header first index %d does not match the file name", hfirst)
	}
	off := int64(segHeaderSize)
	var rl raft.Log
	for {
		if off >= int64(len(data)) {
			break
		}
		h, hs := decodeHeader(data[off:], l.opts.MaxEntrySize)
		if hs == recOK && h.flags&flagIndex != 0 {
			info.Sealed = l.footerValid(path, first, off, info.Records)
			if !info.Sealed {
				return info, damage(off, false, "index footer does not match the %d records before it", info.Records)
			}
			break
		}
		n, cs := l.checkRecord(data, off, first+uint64(info.Records))
		if cs == recOK {
			cs = decodeBody(h, data[off+recHeaderSize:off+n], l.opts.MaxEntrySize, &rl)
		}
		if cs == recZero && isZero(data[off:]) {
			break
		}
		if cs != recOK {
			want := first + uint64(info.Records)
			if !last {
				return info, damage(off, false, "%s (want index %d; the segment is sealed: the next one starts after it)", cs, want)
			}
			if ev := l.laterBatch(data, off, want); ev >= 0 {
				return info, damage(off, false, "%s (want index %d), and a later batch follows at offset %d", cs, want, ev)
			}
			info.DataEnd = off
			return info, damage(off, true, "%s (want index %d)", cs, want)
		}
		if info.Records == 0 {
			info.FirstTerm = h.term
		}
		info.LastTerm = h.term
		if h.flags&flagSnappy != 0 {
			info.Compressed++
		}
		info.Records++
		off += n
	}
	info.DataEnd = off
	if !last && !info.Sealed {
		return info, damage(off, false, "sealed segment without its index footer")
	}
	return info, nil
}

// footerValid checks the index footer at off of a segment whose records before it are count,
// as Open does (loadFooter).
func (l *Log) footerValid(path string, first uint64, off int64, count int) bool {
	f, err := l.fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	s := &segment{path: path, first: first, f: f}
	return count > 0 && l.loadFooter(s, uint64(count)) && s.end == off
}

// inspectHead reads the head file without creating or changing it.
func (l *Log) inspectHead(rep *InspectReport) {
	path := filepath.Join(l.dir, headName)
	b, err := vfs.ReadFile(l.fs, path)
	if err != nil {
		rep.Problems = append(rep.Problems, Damage{File: path, Reason: fmt.Sprintf("read: %v", err)})
		return
	}
	var found bool
	var seq uint64
	for s := 0; s < 2; s++ {
		if len(b) < s*headSlotSize+headSlotLen {
			continue
		}
		q, head, ok := decodeHeadSlot(b[s*headSlotSize:])
		if ok && (!found || q > seq) {
			seq, rep.Head, found = q, head, true
		}
	}
	if !found && !isZero(b) {
		rep.Problems = append(rep.Problems, Damage{File: path, Reason: "no valid head slot"})
	}
}

// inspectStable reads raft's state from the stable-state file (without rewriting an earlier
// format, as Open does).
func (l *Log) inspectStable(rep *InspectReport) {
	b, err := l.readStable()
	var kv map[string][]byte
	var kvInt map[string]uint64
	switch {
	case err != nil:
	case b == nil:
		return // a log never opened
	case len(b) >= 4 && string(b[0:4]) == stableMagic:
		kv, kvInt, err = decodeStable(l.stable, b)
	default:
		kv, kvInt, _, _, err = decodeStableSlots(l.stable, b)
	}
	if err != nil {
		var ce *CorruptError
		d := Damage{File: l.stable, Reason: err.Error()}
		if errors.As(err, &ce) {
			d.Offset, d.Reason = ce.Offset, ce.Reason
		}
		rep.Problems = append(rep.Problems, d)
		return
	}
	rep.Stable = StableInfo{CurrentTerm: kvInt["CurrentTerm"], LastVoteTerm: kvInt["LastVoteTerm"],
		LastVoteCand: string(kv["LastVoteCand"]), Keys: len(kv) + len(kvInt)}
}
