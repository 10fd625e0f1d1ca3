package snapshot

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math/bits"
	"os"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/nebulaio/nebulaio/internal/vfs"
)

// Run file layout (see doc.go, "Run format"):
//
//	+---------------------------------------------+
//	| magic "NBRN" | version u8 | kind u8 | 0 u16  |  8-byte header
//	+---------------------------------------------+
//	| chunk 0: one zstd frame                     |
//	| chunk 1: one zstd frame                     |
//	| ...                                         |
//	+---------------------------------------------+
//	| index (uvarints, see encodeIndex; v2 ends   |
//	| with the key filter, see bloom.go)          |
//	+---------------------------------------------+
//	| indexOff u64 | indexLen u32 | indexCRC u32  |  24-byte footer, little endian
//	| footerCRC u32 | magic "NBRF"                |
//	+---------------------------------------------+
//
// A chunk's raw (decompressed) bytes are stream records (op, key, value) exactly as in the
// logical stream, so a base run's chunks concatenate into the body of a full stream.

const (
	runMagic       = "NBRN"
	runFooterMagic = "NBRF"
	// runVersion is the version written; readers accept 1 (no key filter) and 2.
	runVersion    = 2
	runVersionMin = 1
	runHeaderSize = 8
	runFooterSize = 24

	runKindBase  = 1
	runKindDelta = 2

	// maxChunkRaw bounds a chunk's decompressed size: the chunk size limit plus one record.
	maxChunkRaw = 16<<20 + MaxKeySize + MaxValueSize + 32
	// maxIndexLen bounds the index a decoder will allocate.
	maxIndexLen = 1 << 30
)

// chunkMeta is one entry of a run's sparse index.
type chunkMeta struct {
	off     int64  // offset of the compressed frame in the file
	compLen int64  // compressed length
	rawLen  int64  // decompressed length
	records int64  // records in the chunk
	crc     uint32 // CRC-32C of the compressed bytes
	first   []byte // first key
	last    []byte // last key
}

// runIndex is the decoded index of one run file. It is immutable once loaded.
type runIndex struct {
	name       string
	version    byte // run format version: 1 has no filter
	kind       byte
	records    int64
	tombstones int64
	rawSize    int64 // sum of chunk rawLen: the record bytes
	fileSize   int64
	chunks     []chunkMeta
	filter     *bloom // nil in a version 1 run
}

func encodeIndex(ix *runIndex) []byte {
	b := make([]byte, 0, 64+len(ix.chunks)*64)
	b = append(b, ix.kind)
	b = binary.AppendUvarint(b, uint64(len(ix.chunks)))
	b = binary.AppendUvarint(b, uint64(ix.records))
	b = binary.AppendUvarint(b, uint64(ix.tombstones))
	b = binary.AppendUvarint(b, uint64(ix.rawSize))
	for _, c := range ix.chunks {
		b = binary.AppendUvarint(b, uint64(c.off))
		b = binary.AppendUvarint(b, uint64(c.compLen))
		b = binary.AppendUvarint(b, uint64(c.rawLen))
		b = binary.AppendUvarint(b, uint64(c.records))
		b = binary.LittleEndian.AppendUint32(b, c.crc)
		b = binary.AppendUvarint(b, uint64(len(c.first)))
		b = append(b, c.first...)
		b = binary.AppendUvarint(b, uint64(len(c.last)))
		b = append(b, c.last...)
	}
	if ix.version >= 2 {
		b = appendFilter(b, ix.filter)
	}
	return b
}

// decoder reads uvarints and byte strings from a buffer, bounding every length.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint(limit uint64, what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("%w: bad varint for %s", ErrCorrupt, what)
		return 0
	}
	if v > limit {
		d.err = fmt.Errorf("%w: %s %d exceeds %d", ErrCorrupt, what, v, limit)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(limit uint64, what string) []byte {
	n := d.uvarint(limit, what+" length")
	if d.err != nil {
		return nil
	}
	if uint64(len(d.b)) < n {
		d.err = fmt.Errorf("%w: %s overruns its buffer", ErrCorrupt, what)
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u32(what string) uint32 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 4 {
		d.err = fmt.Errorf("%w: %s overruns its buffer", ErrCorrupt, what)
		return 0
	}
	v := binary.LittleEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v
}

// decodeIndex parses and validates an index (of a run of the given format version) whose
// chunks must tile [runHeaderSize, indexOff).
func decodeIndex(name string, version byte, b []byte, indexOff int64) (*runIndex, error) {
	d := &decoder{b: b}
	ix := &runIndex{name: name, version: version}
	if len(b) < 1 {
		return nil, fmt.Errorf("%w: empty index", ErrCorrupt)
	}
	ix.kind = b[0]
	d.b = b[1:]
	if ix.kind != runKindBase && ix.kind != runKindDelta {
		return nil, fmt.Errorf("%w: unknown run kind %d", ErrCorrupt, ix.kind)
	}
	// Each chunk entry takes at least 10 bytes, which bounds the count before allocating.
	n := d.uvarint(uint64(len(b)/10), "chunk count")
	ix.records = int64(d.uvarint(1<<62, "record count"))
	ix.tombstones = int64(d.uvarint(uint64(ix.records), "tombstone count"))
	ix.rawSize = int64(d.uvarint(1<<62, "raw size"))
	if d.err != nil {
		return nil, d.err
	}
	if ix.kind == runKindBase && ix.tombstones != 0 {
		return nil, fmt.Errorf("%w: base run with %d tombstones", ErrCorrupt, ix.tombstones)
	}
	ix.chunks = make([]chunkMeta, 0, n)
	next := int64(runHeaderSize)
	var recs, raw int64
	for i := uint64(0); i < n; i++ {
		var c chunkMeta
		c.off = int64(d.uvarint(1<<62, "chunk offset"))
		c.compLen = int64(d.uvarint(maxChunkRaw, "chunk length"))
		c.rawLen = int64(d.uvarint(maxChunkRaw, "chunk raw length"))
		c.records = int64(d.uvarint(maxChunkRaw, "chunk records"))
		c.crc = d.u32("chunk crc")
		c.first = d.bytes(MaxKeySize, "first key")
		c.last = d.bytes(MaxKeySize, "last key")
		if d.err != nil {
			return nil, fmt.Errorf("chunk %d: %w", i, d.err)
		}
		switch {
		case c.off != next:
			return nil, fmt.Errorf("%w: chunk %d at offset %d, want %d", ErrCorrupt, i, c.off, next)
		case c.records < 1 || c.compLen < 1 || c.rawLen < 1:
			return nil, fmt.Errorf("%w: chunk %d is empty", ErrCorrupt, i)
		case bytes.Compare(c.first, c.last) > 0:
			return nil, fmt.Errorf("%w: chunk %d first key after last key", ErrCorrupt, i)
		case i > 0 && bytes.Compare(ix.chunks[i-1].last, c.first) >= 0:
			return nil, fmt.Errorf("%w: chunk %d overlaps chunk %d", ErrCorrupt, i, i-1)
		}
		next += c.compLen
		recs += c.records
		raw += c.rawLen
		ix.chunks = append(ix.chunks, c)
	}
	if version >= 2 {
		f, err := decodeFilter(d)
		if err != nil {
			return nil, fmt.Errorf("filter: %w", err)
		}
		ix.filter = f
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing index bytes", ErrCorrupt, len(d.b))
	}
	if next != indexOff {
		return nil, fmt.Errorf("%w: chunks end at %d, index starts at %d", ErrCorrupt, next, indexOff)
	}
	if recs != ix.records || raw != ix.rawSize {
		return nil, fmt.Errorf("%w: index totals (%d records, %d bytes) disagree with chunks (%d, %d)",
			ErrCorrupt, ix.records, ix.rawSize, recs, raw)
	}
	return ix, nil
}

func encodeFooter(indexOff int64, indexLen int, indexCRC uint32) []byte {
	f := make([]byte, runFooterSize)
	binary.LittleEndian.PutUint64(f[0:8], uint64(indexOff))
	binary.LittleEndian.PutUint32(f[8:12], uint32(indexLen))
	binary.LittleEndian.PutUint32(f[12:16], indexCRC)
	binary.LittleEndian.PutUint32(f[16:20], crc32.Checksum(f[0:16], castagnoli))
	copy(f[20:24], runFooterMagic)
	return f
}

// readRunIndex reads and validates the header, footer and index of an open run file.
func readRunIndex(name string, f io.ReaderAt, size int64) (*runIndex, error) {
	if size < runHeaderSize+runFooterSize {
		return nil, fmt.Errorf("run %s: %w: file of %d bytes", name, ErrTruncated, size)
	}
	var hdr [runHeaderSize]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return nil, fmt.Errorf("run %s: %w", name, err)
	}
	if string(hdr[:4]) != runMagic || hdr[4] < runVersionMin || hdr[4] > runVersion || hdr[6]|hdr[7] != 0 {
		return nil, fmt.Errorf("run %s: %w: bad header %x", name, ErrCorrupt, hdr[:])
	}
	var ft [runFooterSize]byte
	if _, err := f.ReadAt(ft[:], size-runFooterSize); err != nil {
		return nil, fmt.Errorf("run %s: %w", name, err)
	}
	if string(ft[20:24]) != runFooterMagic {
		return nil, fmt.Errorf("run %s: %w: no footer (torn write?)", name, ErrTruncated)
	}
	if crc32.Checksum(ft[0:16], castagnoli) != binary.LittleEndian.Uint32(ft[16:20]) {
		return nil, fmt.Errorf("run %s: %w: footer checksum", name, ErrCorrupt)
	}
	indexOff := int64(binary.LittleEndian.Uint64(ft[0:8]))
	indexLen := int64(binary.LittleEndian.Uint32(ft[8:12]))
	if indexOff < runHeaderSize || indexLen > maxIndexLen || indexOff+indexLen != size-runFooterSize {
		return nil, fmt.Errorf("run %s: %w: index at %d+%d in a file of %d bytes", name, ErrCorrupt, indexOff, indexLen, size)
	}
	b := make([]byte, indexLen)
	if _, err := f.ReadAt(b, indexOff); err != nil {
		return nil, fmt.Errorf("run %s: %w", name, err)
	}
	if crc32.Checksum(b, castagnoli) != binary.LittleEndian.Uint32(ft[12:16]) {
		return nil, fmt.Errorf("run %s: %w: index checksum", name, ErrCorrupt)
	}
	ix, err := decodeIndex(name, hdr[4], b, indexOff)
	if err != nil {
		return nil, fmt.Errorf("run %s: index: %w", name, err)
	}
	if ix.kind != hdr[5] {
		return nil, fmt.Errorf("run %s: %w: header kind %d, index kind %d", name, ErrCorrupt, hdr[5], ix.kind)
	}
	ix.fileSize = size
	return ix, nil
}

var (
	decoderOnce sync.Once
	zdec        *zstd.Decoder
)

// sharedDecoder returns a process-wide zstd decoder; DecodeAll is safe for concurrent use.
func sharedDecoder() *zstd.Decoder {
	decoderOnce.Do(func() {
		d, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)),
			zstd.WithDecoderMaxMemory(maxChunkRaw),
			zstd.IgnoreChecksum(true))
		if err != nil {
			panic(err) // only on invalid options, which are constant
		}
		zdec = d
	})
	return zdec
}

// readChunk reads, verifies and decompresses chunk i of ix into dst (reused if large enough).
// Errors name the run and chunk.
func readChunk(ix *runIndex, f io.ReaderAt, i int, comp, dst []byte) (raw, compBuf []byte, err error) {
	c := &ix.chunks[i]
	if int64(cap(comp)) < c.compLen {
		comp = make([]byte, c.compLen)
	}
	comp = comp[:c.compLen]
	if _, err := f.ReadAt(comp, c.off); err != nil {
		return nil, comp, fmt.Errorf("run %s: chunk %d: %w", ix.name, i, err)
	}
	if got := crc32.Checksum(comp, castagnoli); got != c.crc {
		return nil, comp, fmt.Errorf("run %s: chunk %d: %w: checksum %08x, want %08x", ix.name, i, ErrCorrupt, got, c.crc)
	}
	var fh zstd.Header
	if err := fh.Decode(comp); err != nil || fh.HasFCS && fh.FrameContentSize != uint64(c.rawLen) {
		return nil, comp, fmt.Errorf("run %s: chunk %d: %w: frame header does not declare %d bytes", ix.name, i, ErrCorrupt, c.rawLen)
	}
	if int64(cap(dst)) < c.rawLen {
		dst = make([]byte, 0, c.rawLen)
	}
	raw, err = sharedDecoder().DecodeAll(comp, dst[:0])
	if err != nil {
		return nil, comp, fmt.Errorf("run %s: chunk %d: %w: %v", ix.name, i, ErrCorrupt, err)
	}
	if int64(len(raw)) != c.rawLen {
		return nil, comp, fmt.Errorf("run %s: chunk %d: %w: %d raw bytes, want %d", ix.name, i, ErrCorrupt, len(raw), c.rawLen)
	}
	return raw, comp, nil
}

// parseRecord decodes the record at raw[pos:], returning the position after it.
func parseRecord(raw []byte, pos int) (key, value []byte, tombstone bool, next int, err error) {
	if pos >= len(raw) {
		return nil, nil, false, pos, fmt.Errorf("%w: record overruns chunk", ErrCorrupt)
	}
	op := raw[pos]
	pos++
	switch op {
	case opPut:
	case opDel:
		tombstone = true
	default:
		return nil, nil, false, pos, fmt.Errorf("%w: unknown op %d", ErrCorrupt, op)
	}
	kl, n := binary.Uvarint(raw[pos:])
	if n <= 0 || kl > MaxKeySize || uint64(len(raw)-pos-n) < kl {
		return nil, nil, false, pos, fmt.Errorf("%w: bad key length", ErrCorrupt)
	}
	pos += n
	key = raw[pos : pos+int(kl) : pos+int(kl)]
	pos += int(kl)
	if !tombstone {
		vl, n := binary.Uvarint(raw[pos:])
		if n <= 0 || vl > MaxValueSize || uint64(len(raw)-pos-n) < vl {
			return nil, nil, false, pos, fmt.Errorf("%w: bad value length", ErrCorrupt)
		}
		pos += n
		value = raw[pos : pos+int(vl) : pos+int(vl)]
		pos += int(vl)
	}
	return key, value, tombstone, pos, nil
}

// verifyChunk checks a decompressed chunk's records against its index entry: count, order,
// first and last keys, and tombstones only in delta runs.
func verifyChunk(ix *runIndex, i int, raw []byte) error {
	return scanChunk(ix, i, raw, nil)
}

// verifyChunkOffsets is verifyChunk that also returns the offset of each record, for binary
// search by Reader.Get.
func verifyChunkOffsets(ix *runIndex, i int, raw []byte) ([]int32, error) {
	offs := make([]int32, 0, min(ix.chunks[i].records, int64(len(raw)/3+1))) // a record is at least 3 bytes
	err := scanChunk(ix, i, raw, func(pos int, _, _ []byte, _ bool) { offs = append(offs, int32(pos)) })
	return offs, err
}

// scanChunk verifies a decompressed chunk (see verifyChunk), calling fn, if not nil, for each
// record in order as it goes; a record passed to fn may be followed by an error.
func scanChunk(ix *runIndex, i int, raw []byte, fn func(pos int, key, value []byte, tomb bool)) error {
	c := &ix.chunks[i]
	var prev []byte
	var n int64
	for pos := 0; pos < len(raw); {
		k, v, tomb, next, err := parseRecord(raw, pos)
		if err != nil {
			return fmt.Errorf("run %s: chunk %d: record %d: %w", ix.name, i, n, err)
		}
		if tomb && ix.kind != runKindDelta {
			return fmt.Errorf("run %s: chunk %d: %w: tombstone in a base run", ix.name, i, ErrCorrupt)
		}
		if n == 0 && !bytes.Equal(k, c.first) || n > 0 && bytes.Compare(k, prev) <= 0 {
			return fmt.Errorf("run %s: chunk %d: %w: key order or first key", ix.name, i, ErrCorrupt)
		}
		if fn != nil {
			fn(pos, k, v, tomb)
		}
		prev = k
		n++
		pos = next
	}
	if n != c.records || !bytes.Equal(prev, c.last) {
		return fmt.Errorf("run %s: chunk %d: %w: %d records ending %q, index says %d ending %q",
			ix.name, i, ErrCorrupt, n, prev, c.records, c.last)
	}
	return nil
}

// ---- writing ----

type encoderPool struct {
	level zstd.EncoderLevel
	pool  sync.Pool
}

func (p *encoderPool) get() *zstd.Encoder {
	if e, ok := p.pool.Get().(*zstd.Encoder); ok {
		return e
	}
	e, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(p.level),
		zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderCRC(false),
		zstd.WithLowerEncoderMem(true))
	if err != nil {
		panic(err) // only on invalid options; level is validated by Options
	}
	return e
}

func (p *encoderPool) put(e *zstd.Encoder) { p.pool.Put(e) }

// chunkJob is one chunk on its way through the compression pipeline.
type chunkJob struct {
	raw   []byte
	first []byte
	last  []byte
	recs  int64
	comp  []byte
	done  chan struct{}
}

// runWriter cuts records into chunks, compresses them on up to `workers` goroutines, and
// writes them in order to a file. It is used by one goroutine.
type runWriter struct {
	f         vfs.File
	bw        *bufio.Writer
	off       int64
	chunkSize int
	enc       *encoderPool
	workers   int
	sem       chan struct{}
	pending   []*chunkJob // FIFO of submitted chunks not yet written

	cur     *chunkJob
	prev    []byte
	started bool
	ix      runIndex
	hashes  []uint64 // of every key, for the filter
	err     error
}

func newRunWriter(fsys vfs.FS, path, name string, kind byte, chunkSize int, enc *encoderPool) (*runWriter, error) {
	f, err := fsys.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	workers := runtime.GOMAXPROCS(0)
	w := &runWriter{
		f:         f,
		bw:        bufio.NewWriterSize(f, 256<<10),
		chunkSize: chunkSize,
		enc:       enc,
		workers:   workers,
		sem:       make(chan struct{}, workers),
		ix:        runIndex{name: name, version: runVersion, kind: kind},
	}
	w.write([]byte{runMagic[0], runMagic[1], runMagic[2], runMagic[3], runVersion, kind, 0, 0})
	return w, w.err
}

func (w *runWriter) write(b []byte) {
	if w.err != nil {
		return
	}
	n, err := w.bw.Write(b)
	w.off += int64(n)
	w.err = err
}

// add appends one record; keys must ascend (the stream reader has checked).
func (w *runWriter) add(tombstone bool, key, value []byte) error {
	if w.err != nil {
		return w.err
	}
	if w.started && bytes.Compare(key, w.prev) <= 0 {
		return fmt.Errorf("%w: %q after %q", ErrKeyOrder, key, w.prev)
	}
	w.started = true
	w.prev = append(w.prev[:0], key...)
	w.hashes = append(w.hashes, keyHash(key))
	if w.cur == nil {
		w.cur = &chunkJob{raw: getBuf(w.chunkSize + w.chunkSize/4), first: append([]byte(nil), key...)}
	}
	w.cur.raw = appendRecord(w.cur.raw, tombstone, key, value)
	w.cur.recs++
	w.ix.records++
	if tombstone {
		w.ix.tombstones++
	}
	if len(w.cur.raw) >= w.chunkSize {
		w.cut()
	}
	return w.err
}

// cut hands the current chunk to a compression goroutine and writes finished chunks in
// order, keeping at most 2*workers chunks in flight.
func (w *runWriter) cut() {
	j := w.cur
	w.cur = nil
	j.last = append([]byte(nil), w.prev...)
	j.done = make(chan struct{})
	w.sem <- struct{}{}
	go func() {
		e := w.enc.get()
		j.comp = e.EncodeAll(j.raw, getBuf(len(j.raw)/2+64))
		w.enc.put(e)
		<-w.sem
		close(j.done)
	}()
	w.pending = append(w.pending, j)
	for len(w.pending) > 2*w.workers {
		w.drainOne()
	}
}

func (w *runWriter) drainOne() {
	j := w.pending[0]
	w.pending = w.pending[1:]
	<-j.done
	c := chunkMeta{
		off:     w.off,
		compLen: int64(len(j.comp)),
		rawLen:  int64(len(j.raw)),
		records: j.recs,
		crc:     crc32.Checksum(j.comp, castagnoli),
		first:   j.first,
		last:    j.last,
	}
	w.write(j.comp)
	w.ix.rawSize += c.rawLen
	w.ix.chunks = append(w.ix.chunks, c)
	putBuf(j.raw)
	putBuf(j.comp)
	j.raw, j.comp = nil, nil
}

// bufPools recycle chunk buffers (writers' chunks, readers' compressed and decompressed
// chunks) by size class: pool i holds buffers of capacity at least 1<<i, so buffers of the
// different sizes in use do not evict each other.
var bufPools [26]sync.Pool // up to 32 MiB

func getBuf(capacity int) []byte {
	c := bits.Len(uint(max(capacity, 1) - 1)) // the smallest class that fits
	if c < len(bufPools) {
		if b, ok := bufPools[c].Get().(*[]byte); ok {
			return (*b)[:0]
		}
		return make([]byte, 0, 1<<c)
	}
	return make([]byte, 0, capacity)
}

func putBuf(b []byte) {
	if cap(b) == 0 {
		return
	}
	c := bits.Len(uint(cap(b))) - 1 // the largest class it fills
	if c >= len(bufPools) {
		return
	}
	b = b[:0]
	bufPools[c].Put(&b)
}

// finish writes the remaining chunks, the index and the footer, and fsyncs and closes the
// file. It returns the run's index.
func (w *runWriter) finish() (*runIndex, error) {
	if w.cur != nil {
		w.cut()
	}
	for len(w.pending) > 0 {
		w.drainOne()
	}
	indexOff := w.off
	w.ix.filter = buildFilter(w.hashes)
	w.hashes = nil
	idx := encodeIndex(&w.ix)
	w.write(idx)
	w.write(encodeFooter(indexOff, len(idx), crc32.Checksum(idx, castagnoli)))
	if w.err == nil {
		w.err = w.bw.Flush()
	}
	if w.err == nil {
		w.err = w.f.Sync()
	}
	if cerr := w.f.Close(); w.err == nil {
		w.err = cerr
	}
	w.ix.fileSize = w.off
	return &w.ix, w.err
}

// abort waits for in-flight compression and closes the file; the caller removes it.
func (w *runWriter) abort() {
	if w.cur != nil {
		w.cur = nil
	}
	for _, j := range w.pending {
		<-j.done
	}
	w.pending = nil
	_ = w.f.Close()
}
