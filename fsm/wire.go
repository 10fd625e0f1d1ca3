package fsm

import (
	"encoding/binary"
	"fmt"
)

// Decoder limits. Every length and count read from the wire is checked against one of these
// and against the bytes that remain before anything is allocated.
const (
	maxString     = 64 << 10 // any string field
	maxPairs      = 1024     // user metadata, checksums, addresses
	maxBlobs      = 1 << 20  // blobs in one object or part
	maxBlobNodes  = 64       // replicas of one blob
	maxDeleteKeys = 1000     // keys in one DeleteObjects
	// MaxPartNumber is the highest part number S3 allows; also the longest completion list.
	MaxPartNumber = 10000
)

// encoder appends the primitives of the event and record encodings to b. The first error is
// sticky; later calls do nothing.
//
//	uvarint  unsigned LEB128 (encoding/binary), minimal length
//	i64      8 bytes, big-endian two's complement (timestamps)
//	u32      4 bytes, big-endian (part numbers)
//	string   uvarint length, then the bytes
//	list     uvarint count, then the elements
type encoder struct {
	b   []byte
	err error
}

func (e *encoder) fail(format string, args ...any) {
	if e.err == nil {
		e.err = fmt.Errorf("%w: "+format, append([]any{ErrInvalidEvent}, args...)...)
	}
}

func (e *encoder) u8(v uint8)       { e.b = append(e.b, v) }
func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) i64(v int64)      { e.b = binary.BigEndian.AppendUint64(e.b, uint64(v)) }
func (e *encoder) u64(v uint64)     { e.b = binary.BigEndian.AppendUint64(e.b, v) }
func (e *encoder) u32(v uint32)     { e.b = binary.BigEndian.AppendUint32(e.b, v) }

func (e *encoder) bool(v bool) {
	if v {
		e.u8(1)
	} else {
		e.u8(0)
	}
}

func (e *encoder) str(what, s string) {
	if len(s) > maxString {
		e.fail("%s is %d bytes, limit %d", what, len(s), maxString)
		return
	}
	e.uvarint(uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *encoder) count(what string, n, limit int) {
	if n > limit {
		e.fail("%s has %d entries, limit %d", what, n, limit)
		return
	}
	e.uvarint(uint64(n))
}

func (e *encoder) pairs(what string, ps []Pair) {
	e.count(what, len(ps), maxPairs)
	for i, p := range ps {
		if i > 0 && ps[i-1].Key >= p.Key {
			e.fail("%s not sorted by key or has duplicates at %q", what, p.Key)
		}
		e.str(what, p.Key)
		e.str(what, p.Value)
	}
}

func (e *encoder) strs(what string, ss []string, limit int) {
	e.count(what, len(ss), limit)
	for _, s := range ss {
		e.str(what, s)
	}
}

func (e *encoder) blobs(bs []Blob) {
	e.count("blobs", len(bs), maxBlobs)
	for _, b := range bs {
		e.str("blob id", b.ID)
		e.uvarint(b.Size)
		e.strs("blob nodes", b.Nodes, maxBlobNodes)
	}
}

func (e *encoder) meta(m ObjectMeta) {
	e.str("content type", m.ContentType)
	e.str("content encoding", m.ContentEncoding)
	e.str("content disposition", m.ContentDisposition)
	e.str("cache control", m.CacheControl)
	e.pairs("user metadata", m.UserMetadata)
}

// metaExt writes the metadata fields added in version 2 of the bodies that carry metadata.
func (e *encoder) metaExt(m ObjectMeta) {
	e.str("content language", m.ContentLanguage)
	e.str("expires", m.Expires)
}

// hasExt reports whether m has a field that version 1 bodies cannot carry.
func (m ObjectMeta) hasExt() bool { return m.ContentLanguage != "" || m.Expires != "" }

// decoder reads what encoder writes. It is defensive: lengths are bounded before allocating,
// varints must be minimal and booleans 0 or 1, so that whatever decodes re-encodes to the same
// bytes. The first error is sticky and later reads return zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
	}
}

func (d *decoder) truncated(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: reading %s", ErrTruncated, what)
	}
}

func (d *decoder) u8(what string) uint8 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.truncated(what)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	switch {
	case n == 0:
		d.truncated(what)
		return 0
	case n < 0:
		d.fail("%s: varint overflow", what)
		return 0
	case n != uvarintLen(v):
		d.fail("%s: non-minimal varint", what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func (d *decoder) i64(what string) int64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 8 {
		d.truncated(what)
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return int64(v)
}

func (d *decoder) u64(what string) uint64 { return uint64(d.i64(what)) }

// u32v reads a uvarint that must fit 32 bits.
func (d *decoder) u32v(what string) uint32 {
	v := d.uvarint(what)
	if v > 1<<32-1 {
		d.fail("%s %d exceeds 32 bits", what, v)
		return 0
	}
	return uint32(v)
}

// bool reads a u8 that must be 0 or 1.
func (d *decoder) bool(what string) bool {
	switch d.u8(what) {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail("%s: a boolean must be 0 or 1", what)
	return false
}

func (d *decoder) u32(what string) uint32 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 4 {
		d.truncated(what)
		return 0
	}
	v := binary.BigEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v
}

func (d *decoder) str(what string) string {
	n := d.uvarint(what)
	if d.err != nil {
		return ""
	}
	if n > maxString {
		d.fail("%s length %d exceeds %d", what, n, maxString)
		return ""
	}
	if n > uint64(len(d.b)) {
		d.truncated(what)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// count reads a list length: at most limit, and at most what the remaining bytes can hold
// (every element takes at least minSize bytes), so a corrupt count never causes an
// allocation larger than a small multiple of the input.
func (d *decoder) count(what string, limit, minSize int) int {
	n := d.uvarint(what)
	if d.err != nil {
		return 0
	}
	if n > uint64(limit) {
		d.fail("%s count %d exceeds %d", what, n, limit)
		return 0
	}
	if n*uint64(minSize) > uint64(len(d.b)) {
		d.truncated(what)
		return 0
	}
	return int(n)
}

func (d *decoder) pairs(what string) []Pair {
	n := d.count(what, maxPairs, 2)
	if n == 0 {
		return nil
	}
	out := make([]Pair, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		p := Pair{Key: d.str(what), Value: d.str(what)}
		if i > 0 && out[i-1].Key >= p.Key && d.err == nil {
			d.fail("%s not sorted or duplicate key %q", what, p.Key)
		}
		out = append(out, p)
	}
	return out
}

func (d *decoder) strs(what string, limit int) []string {
	n := d.count(what, limit, 1)
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, d.str(what))
	}
	return out
}

func (d *decoder) blobs() []Blob {
	n := d.count("blobs", maxBlobs, 3)
	if n == 0 {
		return nil
	}
	out := make([]Blob, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, Blob{ID: d.str("blob id"), Size: d.uvarint("blob size"), Nodes: d.strs("blob nodes", maxBlobNodes)})
	}
	return out
}

func (d *decoder) meta() ObjectMeta {
	return ObjectMeta{
		ContentType:        d.str("content type"),
		ContentEncoding:    d.str("content encoding"),
		ContentDisposition: d.str("content disposition"),
		CacheControl:       d.str("cache control"),
		UserMetadata:       d.pairs("user metadata"),
	}
}

func (d *decoder) metaExt(m *ObjectMeta) {
	m.ContentLanguage = d.str("content language")
	m.Expires = d.str("expires")
}

// finish reports trailing bytes as corruption: a record has exactly one encoding.
func (d *decoder) finish() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	return d.err
}
