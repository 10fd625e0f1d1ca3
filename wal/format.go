package wal

import (
	"encoding/binary"
	"hash/crc32"
	"time"

	"github.com/golang/snappy"
	"github.com/hashicorp/raft"
)

// The byte layout is documented in doc.go; the diagrams are repeated here beside the code that
// writes and reads them. All integers are little-endian.

const (
	formatVersion = 1

	segMagic   = "NWAL"
	indexMagic = "NWIX"

	// segment header
	//  0       4       6       8              16                     28      32
	//  +-------+-------+-------+---------------+----------------------+-------+
	//  | magic |version| rsvd  | first index   | reserved (zero)      | crc   |
	//  +-------+-------+-------+---------------+----------------------+-------+
	segHeaderSize = 32

	// record header, followed by bodyLen bytes of body
	//  0      4        8        12   13    14     16      24     32          40      44
	//  +------+--------+--------+----+-----+------+-------+------+-----------+-------+
	//  | hcrc | bodyLen| bodyCRC|type|flags| rsvd | index | term | appendedAt| extLen|
	//  +------+--------+--------+----+-----+------+-------+------+-----------+-------+
	//  hcrc covers header bytes 4..44; bodyCRC covers the bodyLen body bytes.
	recHeaderSize = 44

	// trailer at the very end of a sealed segment, after its index record
	//  0                8       12      16
	//  +----------------+-------+-------+
	//  | index rec off  | crc   | magic |
	//  +----------------+-------+-------+
	//  crc covers bytes 0..8 and the magic.
	trailerSize = 16

	flagSnappy     = 1 << 0 // body is snappy-compressed (ext || data)
	flagBatchStart = 1 << 1 // first record of a StoreLogs batch
	flagIndex      = 1 << 2 // segment index record: body = uint32 offset per entry
	knownFlags     = flagSnappy | flagBatchStart | flagIndex

	maxBodyLen = 1<<31 - 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// recHeader is a decoded record header.
type recHeader struct {
	bodyLen    uint32
	bodyCRC    uint32
	typ        uint8
	flags      uint8
	index      uint64
	term       uint64
	appendedAt int64
	extLen     uint32
}

func encodeSegHeader(b []byte, first uint64) {
	_ = b[segHeaderSize-1]
	copy(b[0:4], segMagic)
	binary.LittleEndian.PutUint16(b[4:6], formatVersion)
	clear(b[6:8])
	binary.LittleEndian.PutUint64(b[8:16], first)
	clear(b[16:28])
	binary.LittleEndian.PutUint32(b[28:32], crc(b[0:28]))
}

// segHeaderStatus classifies a segment header.
type segHeaderStatus int

const (
	segHeaderOK segHeaderStatus = iota
	segHeaderZero
	segHeaderBadMagic
	segHeaderNewer
	segHeaderBadCRC
)

func decodeSegHeader(b []byte) (first uint64, st segHeaderStatus) {
	if len(b) < segHeaderSize {
		return 0, segHeaderZero
	}
	if isZero(b[:segHeaderSize]) {
		return 0, segHeaderZero
	}
	if string(b[0:4]) != segMagic {
		return 0, segHeaderBadMagic
	}
	if crc(b[0:28]) != binary.LittleEndian.Uint32(b[28:32]) {
		return 0, segHeaderBadCRC
	}
	if v := binary.LittleEndian.Uint16(b[4:6]); v > formatVersion {
		return 0, segHeaderNewer
	}
	return binary.LittleEndian.Uint64(b[8:16]), segHeaderOK
}

func encodeAppendedAt(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func decodeAppendedAt(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// appendRecord appends one framed record for l to dst. scratch is reused for compression and
// returned for the next call. When l.Data is stored uncompressed and is at least vecMin bytes
// (vecMin > 0), the record's Data is not copied: dst ends with the header and the Extensions,
// and the returned ext is l.Data, which the caller writes right after dst's bytes (pwritev).
func appendRecord(dst []byte, l *raft.Log, flags uint8, compressAbove int, scratch []byte, vecMin int) (out, scratchOut, ext []byte) {
	start := len(dst)
	dst = growTo(dst, start+recHeaderSize)
	rawLen := len(l.Extensions) + len(l.Data)
	var bodyCRC uint32
	var bodyLen int
	switch {
	case compressAbove > 0 && rawLen > compressAbove:
		scratch = append(append(scratch[:0], l.Extensions...), l.Data...)
		need := snappy.MaxEncodedLen(rawLen)
		bodyStart := len(dst)
		dst = growTo(dst, bodyStart+need)
		enc := snappy.Encode(dst[bodyStart:bodyStart+need], scratch)
		if len(enc) < rawLen-rawLen/8 {
			dst = dst[:bodyStart+len(enc)]
			flags |= flagSnappy
		} else {
			dst = append(append(dst[:bodyStart], l.Extensions...), l.Data...)
		}
		bodyLen = len(dst) - bodyStart
		bodyCRC = crc(dst[bodyStart:])
	case vecMin > 0 && len(l.Data) >= vecMin:
		dst = append(dst, l.Extensions...)
		ext = l.Data
		bodyLen = rawLen
		bodyCRC = crcUpdate(crc(l.Extensions), l.Data)
	default:
		dst = append(append(dst, l.Extensions...), l.Data...)
		bodyLen = rawLen
		bodyCRC = crc(dst[start+recHeaderSize:])
	}
	h := dst[start : start+recHeaderSize]
	binary.LittleEndian.PutUint32(h[4:8], uint32(bodyLen))
	binary.LittleEndian.PutUint32(h[8:12], bodyCRC)
	h[12] = uint8(l.Type)
	h[13] = flags
	clear(h[14:16])
	binary.LittleEndian.PutUint64(h[16:24], l.Index)
	binary.LittleEndian.PutUint64(h[24:32], l.Term)
	binary.LittleEndian.PutUint64(h[32:40], uint64(encodeAppendedAt(l.AppendedAt)))
	binary.LittleEndian.PutUint32(h[40:44], uint32(len(l.Extensions)))
	binary.LittleEndian.PutUint32(h[0:4], crc(h[4:recHeaderSize]))
	return dst, scratch, ext
}

func growTo(b []byte, n int) []byte {
	if cap(b) >= n {
		return b[:n]
	}
	nb := make([]byte, n, n+n/4)
	copy(nb, b)
	return nb
}

// recStatus classifies the bytes at a record position.
type recStatus int

const (
	recOK       recStatus = iota
	recZero               // all-zero header: preallocated space, the end of the records
	recShort              // fewer bytes than the header or the body claims
	recBadHdr             // header CRC mismatch or impossible field
	recBadBody            // body CRC mismatch
	recBadIndex           // header fine but the index is not the one expected
)

func (s recStatus) String() string {
	switch s {
	case recOK:
		return "ok"
	case recZero:
		return "zeroed header"
	case recShort:
		return "record extends beyond the end of the file"
	case recBadHdr:
		return "record header checksum mismatch"
	case recBadBody:
		return "record body checksum mismatch"
	case recBadIndex:
		return "unexpected record index"
	}
	return "unknown"
}

// decodeHeader checks and decodes a record header. b must hold at least recHeaderSize bytes
// or the result is recShort. maxBody bounds bodyLen before anything is allocated.
func decodeHeader(b []byte, maxBody int) (recHeader, recStatus) {
	if len(b) < recHeaderSize {
		if isZero(b) {
			return recHeader{}, recZero
		}
		return recHeader{}, recShort
	}
	h := b[:recHeaderSize]
	if isZero(h) {
		return recHeader{}, recZero
	}
	if crc(h[4:]) != binary.LittleEndian.Uint32(h[0:4]) {
		return recHeader{}, recBadHdr
	}
	r := recHeader{
		bodyLen:    binary.LittleEndian.Uint32(h[4:8]),
		bodyCRC:    binary.LittleEndian.Uint32(h[8:12]),
		typ:        h[12],
		flags:      h[13],
		index:      binary.LittleEndian.Uint64(h[16:24]),
		term:       binary.LittleEndian.Uint64(h[24:32]),
		appendedAt: int64(binary.LittleEndian.Uint64(h[32:40])),
		extLen:     binary.LittleEndian.Uint32(h[40:44]),
	}
	if r.flags&^knownFlags != 0 || h[14] != 0 || h[15] != 0 || int64(r.bodyLen) > int64(maxBody) {
		return r, recBadHdr
	}
	if r.flags&flagSnappy == 0 && r.extLen > r.bodyLen {
		return r, recBadHdr
	}
	return r, recOK
}

// decodeBody verifies the body CRC and fills l. The returned slices alias body unless the body
// is compressed.
func decodeBody(h recHeader, body []byte, maxBody int, l *raft.Log) recStatus {
	if len(body) != int(h.bodyLen) {
		return recShort
	}
	if crc(body) != h.bodyCRC {
		return recBadBody
	}
	raw := body
	if h.flags&flagSnappy != 0 {
		n, err := snappy.DecodedLen(body)
		if err != nil || n > maxBody || uint32(n) < h.extLen {
			return recBadBody
		}
		raw, err = snappy.Decode(make([]byte, n), body)
		if err != nil {
			return recBadBody
		}
	}
	l.Index = h.index
	l.Term = h.term
	l.Type = raft.LogType(h.typ)
	l.AppendedAt = decodeAppendedAt(h.appendedAt)
	if h.extLen > 0 {
		l.Extensions = raw[:h.extLen:h.extLen]
	} else {
		l.Extensions = nil
	}
	l.Data = raw[h.extLen:]
	return recOK
}

// encodeIndexRecord appends the segment index record (offsets of each entry) and the trailer.
func appendIndexFooter(dst []byte, recOff int64, offsets []uint32) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, recHeaderSize+4*len(offsets))...)
	body := dst[start+recHeaderSize:]
	for i, o := range offsets {
		binary.LittleEndian.PutUint32(body[4*i:], o)
	}
	h := dst[start : start+recHeaderSize]
	binary.LittleEndian.PutUint32(h[4:8], uint32(len(body)))
	binary.LittleEndian.PutUint32(h[8:12], crc(body))
	h[13] = flagIndex
	binary.LittleEndian.PutUint32(h[0:4], crc(h[4:recHeaderSize]))
	var t [trailerSize]byte
	binary.LittleEndian.PutUint64(t[0:8], uint64(recOff))
	copy(t[12:16], indexMagic)
	binary.LittleEndian.PutUint32(t[8:12], trailerCRC(t[:]))
	return append(dst, t[:]...)
}

func trailerCRC(t []byte) uint32 {
	c := crc32.Update(0, castagnoli, t[0:8])
	return crc32.Update(c, castagnoli, t[12:16])
}

// decodeTrailer returns the offset of the index record, or false.
func decodeTrailer(t []byte) (int64, bool) {
	if len(t) != trailerSize || string(t[12:16]) != indexMagic {
		return 0, false
	}
	if trailerCRC(t) != binary.LittleEndian.Uint32(t[8:12]) {
		return 0, false
	}
	return int64(binary.LittleEndian.Uint64(t[0:8])), true
}

func isZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func crcUpdate(c uint32, b []byte) uint32 { return crc32.Update(c, castagnoli, b) }
