package snapshot

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

// The logical snapshot stream (see doc.go, "Stream format"):
//
//	+-------+---------+------+--------------+--------+--------------+--------+
//	| magic | version | kind | uvarint plen | parent | uvarint slen | source |   header
//	+-------+---------+------+--------------+--------+--------------+--------+
//	| op=1 | uvarint klen | key | uvarint vlen | value |                          put record
//	| op=2 | uvarint klen | key |                                                 tombstone record
//	| op=0 | count uint64 LE | crc32c uint32 LE |                                   trailer
//
// The CRC-32C (Castagnoli) covers every byte of the stream before the CRC itself.

// StreamKind says whether a stream carries the whole state or a delta of a parent snapshot.
type StreamKind uint8

const (
	// KindFull is the whole state; tombstones are not allowed.
	KindFull StreamKind = 1
	// KindDelta is the set of changes since Parent: puts and tombstones.
	KindDelta StreamKind = 2
)

// String returns "full", "delta" or "kind(N)".
func (k StreamKind) String() string {
	switch k {
	case KindFull:
		return "full"
	case KindDelta:
		return "delta"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// StreamHeader opens every logical snapshot stream.
type StreamHeader struct {
	Kind StreamKind
	// Parent is the raft snapshot ID of the parent (KindDelta only).
	Parent string
	// Source is set by Store.Open: the ID of the snapshot this stream was read from ("" when
	// written by an FSM).
	Source string
}

const (
	streamMagic   = "NBSS"
	streamVersion = 1

	opEnd  = 0
	opPut  = 1
	opDel  = 2
	maxIDs = 1024 // longest Parent or Source accepted

	// MaxKeySize is the longest key a stream or run may hold; longer is ErrTooLarge when
	// writing and ErrCorrupt when reading.
	MaxKeySize = 64 << 10
	// MaxValueSize is the longest value a stream or run may hold.
	MaxValueSize = 64 << 20

	streamTrailerSize = 1 + 8 + 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeHeader appends the encoded header of h to dst.
func encodeHeader(dst []byte, h StreamHeader) []byte {
	dst = append(dst, streamMagic...)
	dst = append(dst, streamVersion, byte(h.Kind))
	dst = binary.AppendUvarint(dst, uint64(len(h.Parent)))
	dst = append(dst, h.Parent...)
	dst = binary.AppendUvarint(dst, uint64(len(h.Source)))
	dst = append(dst, h.Source...)
	return dst
}

func validateHeader(h StreamHeader) error {
	switch h.Kind {
	case KindFull:
		if h.Parent != "" {
			return fmt.Errorf("%w: full stream with parent %q", ErrBadHeader, h.Parent)
		}
	case KindDelta:
		if h.Parent == "" {
			return fmt.Errorf("%w: delta stream without parent", ErrBadHeader)
		}
	default:
		return fmt.Errorf("%w: unknown kind %d", ErrBadHeader, h.Kind)
	}
	if len(h.Parent) > maxIDs || len(h.Source) > maxIDs {
		return fmt.Errorf("%w: id longer than %d bytes", ErrBadHeader, maxIDs)
	}
	return nil
}

// appendRecord appends one encoded record (op, key, value) to dst.
func appendRecord(dst []byte, tombstone bool, key, value []byte) []byte {
	if tombstone {
		dst = append(dst, opDel)
		dst = binary.AppendUvarint(dst, uint64(len(key)))
		return append(dst, key...)
	}
	dst = append(dst, opPut)
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	dst = append(dst, key...)
	dst = binary.AppendUvarint(dst, uint64(len(value)))
	return append(dst, value...)
}

// recordSize is len(appendRecord(nil, tombstone, key, value)).
func recordSize(tombstone bool, klen, vlen int) int {
	n := 1 + uvarintLen(uint64(klen)) + klen
	if !tombstone {
		n += uvarintLen(uint64(vlen)) + vlen
	}
	return n
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// StreamWriter encodes a logical snapshot stream. It is not safe for concurrent use.
type StreamWriter struct {
	w       *bufio.Writer
	kind    StreamKind
	crc     uint32
	count   uint64
	prev    []byte
	started bool
	scratch []byte
	err     error // sticky
	closed  bool
}

// NewStreamWriter writes the header immediately (buffered) and then records. It returns
// ErrBadHeader if h is not a valid header.
func NewStreamWriter(w io.Writer, h StreamHeader) (*StreamWriter, error) {
	if err := validateHeader(h); err != nil {
		return nil, err
	}
	sw := &StreamWriter{w: bufio.NewWriterSize(w, 64<<10), kind: h.Kind}
	sw.emit(encodeHeader(sw.scratch[:0], h))
	if sw.err != nil {
		return nil, sw.err
	}
	return sw, nil
}

func (sw *StreamWriter) emit(b []byte) {
	if sw.err != nil {
		return
	}
	sw.crc = crc32.Update(sw.crc, castagnoli, b)
	if _, err := sw.w.Write(b); err != nil {
		sw.err = err
	}
}

func (sw *StreamWriter) record(tombstone bool, key, value []byte) error {
	if sw.err != nil {
		return sw.err
	}
	if sw.closed {
		return ErrClosed
	}
	if len(key) > MaxKeySize || len(value) > MaxValueSize {
		return fmt.Errorf("%w: key %d bytes, value %d bytes", ErrTooLarge, len(key), len(value))
	}
	if sw.started && bytes.Compare(key, sw.prev) <= 0 {
		return fmt.Errorf("%w: %q after %q", ErrKeyOrder, key, sw.prev)
	}
	sw.started = true
	sw.prev = append(sw.prev[:0], key...)
	sw.count++
	// Encode straight into the bufio buffer when it has room (Write then copies nothing).
	sw.emit(appendRecord(sw.w.AvailableBuffer(), tombstone, key, value))
	return sw.err
}

// Put appends a record. key must be greater than the previous key, else ErrKeyOrder.
func (sw *StreamWriter) Put(key, value []byte) error {
	return sw.record(false, key, value)
}

// Delete appends a tombstone for key. Only a KindDelta stream may hold tombstones
// (ErrTombstoneInFull otherwise); key ordering is as for Put.
func (sw *StreamWriter) Delete(key []byte) error {
	if sw.kind != KindDelta {
		return ErrTombstoneInFull
	}
	return sw.record(true, key, nil)
}

// Close writes the trailer (record count and checksum) and flushes. It does not close the
// underlying writer.
func (sw *StreamWriter) Close() error {
	if sw.closed {
		return sw.err
	}
	sw.closed = true
	var t [streamTrailerSize]byte
	t[0] = opEnd
	binary.LittleEndian.PutUint64(t[1:9], sw.count)
	sw.emit(t[:9])
	binary.LittleEndian.PutUint32(t[9:13], sw.crc)
	if sw.err == nil {
		if _, err := sw.w.Write(t[9:13]); err != nil {
			sw.err = err
		}
	}
	if sw.err == nil {
		sw.err = sw.w.Flush()
	}
	return sw.err
}

// StreamReader decodes a logical snapshot stream. It is not safe for concurrent use.
type StreamReader struct {
	r       io.Reader
	buf     []byte // buffered input; buf[pos:end] is unread
	pos     int
	end     int
	crc     uint32 // over consumed bytes before buf[crcPos]
	crcPos  int    // buf[crcPos:pos] is consumed but not yet in crc
	eof     bool   // r returned io.EOF
	hdr     StreamHeader
	count   uint64
	key     []byte
	val     []byte
	prev    []byte
	started bool
	done    bool
	err     error // sticky
}

// NewStreamReader reads and validates the header. A stream that is not one of ours is
// ErrBadHeader; a truncated header is ErrTruncated.
func NewStreamReader(r io.Reader) (*StreamReader, error) {
	sr := &StreamReader{r: r, buf: make([]byte, 64<<10)}
	magic, err := sr.take(len(streamMagic) + 2)
	if err != nil {
		return nil, err
	}
	if string(magic[:4]) != streamMagic {
		return nil, fmt.Errorf("%w: bad magic %x", ErrBadHeader, magic[:4])
	}
	if magic[4] != streamVersion {
		return nil, fmt.Errorf("%w: unsupported version %d", ErrBadHeader, magic[4])
	}
	sr.hdr.Kind = StreamKind(magic[5])
	p, err := sr.bytesField(maxIDs, "parent")
	if err != nil {
		return nil, err
	}
	sr.hdr.Parent = string(p)
	s, err := sr.bytesField(maxIDs, "source")
	if err != nil {
		return nil, err
	}
	sr.hdr.Source = string(s)
	if err := validateHeader(sr.hdr); err != nil {
		return nil, err
	}
	return sr, nil
}

// Header returns the stream's header.
func (sr *StreamReader) Header() StreamHeader { return sr.hdr }

// Count returns the number of records returned by Next so far.
func (sr *StreamReader) Count() uint64 { return sr.count }

// fill makes at least n bytes available in buf[pos:end], or fails with ErrTruncated.
func (sr *StreamReader) fill(n int) error {
	if sr.end-sr.pos >= n {
		return nil
	}
	if n > len(sr.buf) || sr.pos+n > len(sr.buf) {
		sr.sumConsumed()
		nb := sr.buf
		if n > len(sr.buf) {
			nb = make([]byte, n)
		}
		copy(nb, sr.buf[sr.pos:sr.end])
		sr.end -= sr.pos
		sr.pos, sr.crcPos = 0, 0
		sr.buf = nb
	}
	for sr.end-sr.pos < n {
		if sr.eof {
			return ErrTruncated
		}
		m, err := sr.r.Read(sr.buf[sr.end:])
		sr.end += m
		if err == io.EOF {
			sr.eof = true
		} else if err != nil {
			return err
		} else if m == 0 {
			// A reader returning (0, nil) repeatedly: keep trying; io.Reader permits it rarely.
			continue
		}
	}
	return nil
}

// take consumes n bytes; the result aliases the buffer until the next take.
func (sr *StreamReader) take(n int) ([]byte, error) {
	if err := sr.fill(n); err != nil {
		return nil, err
	}
	b := sr.buf[sr.pos : sr.pos+n]
	sr.pos += n
	return b, nil
}

// sumConsumed folds the consumed bytes not yet checksummed into crc.
func (sr *StreamReader) sumConsumed() {
	sr.crc = crc32.Update(sr.crc, castagnoli, sr.buf[sr.crcPos:sr.pos])
	sr.crcPos = sr.pos
}

// nextBuffered decodes the next record in place when all of it is already buffered; ok is
// false (nothing consumed) when it is not, or when it looks malformed, so that the careful
// path can take over and report the right error.
func (sr *StreamReader) nextBuffered() (key, value []byte, tombstone, ok bool) {
	b := sr.buf[sr.pos:sr.end]
	if len(b) < 2 || (b[0] != opPut && b[0] != opDel) || (b[0] == opDel && sr.hdr.Kind != KindDelta) {
		return nil, nil, false, false
	}
	tombstone = b[0] == opDel
	p := 1
	kl, n := binary.Uvarint(b[p:])
	if n <= 0 || kl > MaxKeySize || uint64(len(b)-p-n) < kl {
		return nil, nil, false, false
	}
	p += n
	key = b[p : p+int(kl) : p+int(kl)]
	p += int(kl)
	if !tombstone {
		vl, n := binary.Uvarint(b[p:])
		if n <= 0 || vl > MaxValueSize || uint64(len(b)-p-n) < vl {
			return nil, nil, false, false
		}
		p += n
		value = b[p : p+int(vl) : p+int(vl)]
		p += int(vl)
	}
	if sr.started && bytes.Compare(key, sr.prev) <= 0 {
		return nil, nil, false, false
	}
	sr.pos += p
	return key, value, tombstone, true
}

func (sr *StreamReader) uvarint() (uint64, error) {
	// Up to 10 bytes; fill as much as is available without requiring all 10.
	var x uint64
	var s uint
	for i := 0; i < binary.MaxVarintLen64; i++ {
		b, err := sr.take(1)
		if err != nil {
			return 0, err
		}
		c := b[0]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				return 0, fmt.Errorf("%w: varint overflow", ErrCorrupt)
			}
			return x | uint64(c)<<s, nil
		}
		x |= uint64(c&0x7f) << s
		s += 7
	}
	return 0, fmt.Errorf("%w: varint overflow", ErrCorrupt)
}

func (sr *StreamReader) bytesField(limit int, what string) ([]byte, error) {
	n, err := sr.uvarint()
	if err != nil {
		return nil, err
	}
	if n > uint64(limit) {
		return nil, fmt.Errorf("%w: %s length %d exceeds %d", ErrCorrupt, what, n, limit)
	}
	return sr.take(int(n))
}

// Next returns the next record. It returns io.EOF after a valid trailer; a truncated stream
// is ErrTruncated and a damaged one ErrCorrupt (or ErrKeyOrder / ErrTombstoneInFull), never
// a silent io.EOF. The returned slices are valid until the next call to Next.
func (sr *StreamReader) Next() (key, value []byte, tombstone bool, err error) {
	if sr.err != nil {
		return nil, nil, false, sr.err
	}
	key, value, tombstone, err = sr.next()
	if err != nil {
		sr.err = err
		if err != io.EOF {
			sr.err = fmt.Errorf("snapshot: stream record %d: %w", sr.count, err)
		}
		return nil, nil, false, sr.err
	}
	return key, value, tombstone, nil
}

func (sr *StreamReader) next() (key, value []byte, tombstone bool, err error) {
	if sr.done {
		return nil, nil, false, io.EOF
	}
	if k, v, tomb, ok := sr.nextBuffered(); ok {
		// The slices alias buf, which only moves in fill, at the next call.
		sr.started = true
		sr.prev = append(sr.prev[:0], k...)
		sr.count++
		return k, v, tomb, nil
	}
	opb, err := sr.take(1)
	if err != nil {
		return nil, nil, false, err
	}
	op := opb[0]
	switch op {
	case opEnd:
		return nil, nil, false, sr.trailer()
	case opPut:
	case opDel:
		if sr.hdr.Kind != KindDelta {
			return nil, nil, false, ErrTombstoneInFull
		}
		tombstone = true
	default:
		return nil, nil, false, fmt.Errorf("%w: unknown op %d", ErrCorrupt, op)
	}
	k, err := sr.bytesField(MaxKeySize, "key")
	if err != nil {
		return nil, nil, false, err
	}
	sr.key = append(sr.key[:0], k...)
	if sr.started && bytes.Compare(sr.key, sr.prev) <= 0 {
		return nil, nil, false, fmt.Errorf("%w: %q after %q", ErrKeyOrder, sr.key, sr.prev)
	}
	sr.val = sr.val[:0]
	if !tombstone {
		v, err := sr.bytesField(MaxValueSize, "value")
		if err != nil {
			return nil, nil, false, err
		}
		sr.val = append(sr.val, v...)
	}
	sr.started = true
	sr.prev = append(sr.prev[:0], sr.key...)
	sr.count++
	return sr.key, sr.val, tombstone, nil
}

func (sr *StreamReader) trailer() error {
	c, err := sr.take(8)
	if err != nil {
		return err
	}
	count := binary.LittleEndian.Uint64(c)
	sr.sumConsumed()
	want := sr.crc
	cb, err := sr.take(4)
	if err != nil {
		return err
	}
	if got := binary.LittleEndian.Uint32(cb); got != want {
		return fmt.Errorf("%w: stream checksum %08x, computed %08x", ErrCorrupt, got, want)
	}
	if count != sr.count {
		return fmt.Errorf("%w: trailer counts %d records, stream had %d", ErrCorrupt, count, sr.count)
	}
	sr.done = true
	return io.EOF
}
