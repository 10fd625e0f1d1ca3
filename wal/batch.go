package wal

import (
	"fmt"

	"github.com/hashicorp/raft"
)

// batch is StoreLogs' encoding of one call, written with one write. Its buffers are reused from
// call to call (writer only), so that an append allocates nothing.
//
//	buf:  | segment header room | records ... | zero padding to the page end |
//	                                     ^ pieces: large payloads written from the callers'
//	                                       slices between buf's bytes (pwritev)
type batch struct {
	buf     []byte   // segHeaderSize bytes of room, the records, then padding
	scratch []byte   // compression scratch for appendRecord
	offs    []uint32 // offset of each record, relative to the first record
	pieces  []piece  // payloads that follow buf[:at], in order
	bufs    [][]byte // the buffers of one pwritev
	size    int64    // bytes of the records, pieces included (padding excluded)
}

// piece is a payload written straight from the caller's slice, after buf[:at].
type piece struct {
	at   int
	data []byte
}

// vecMinData is the payload size from which StoreLogs writes Data from the caller's slice
// (pwritev) instead of copying it into the batch buffer.
const vecMinData = 4 << 10

// encode encodes logs into b behind room for a segment header (used if the batch starts a new
// segment). The first record is flagged as the start of a batch. Large uncompressed payloads are
// not copied: they become pieces.
func (b *batch) encode(logs []*raft.Log, compressAbove, maxEntrySize int) error {
	b.buf = growTo(b.buf[:0], segHeaderSize)
	b.offs = b.offs[:0]
	var pieceBytes int64
	for i, lg := range logs {
		if n := len(lg.Data) + len(lg.Extensions); n > maxEntrySize {
			return fmt.Errorf("%w: index %d is %d bytes, limit %d", ErrEntryTooLarge, lg.Index, n, maxEntrySize)
		}
		var flags uint8
		if i == 0 {
			flags = flagBatchStart
		}
		b.offs = append(b.offs, uint32(int64(len(b.buf)-segHeaderSize)+pieceBytes))
		var ext []byte
		b.buf, b.scratch, ext = appendRecord(b.buf, lg, flags, compressAbove, b.scratch, vecMinData)
		if ext != nil {
			b.pieces = append(b.pieces, piece{at: len(b.buf), data: ext})
			pieceBytes += int64(len(ext))
		}
	}
	b.size = int64(len(b.buf)-segHeaderSize) + pieceBytes
	return nil
}

// pad appends zeros to buf so that a write of the batch at segment offset at ends at the end of a
// page (but not past the end of the segment, unless the batch itself does). The space after the
// records holds zeros already; a write that ends inside a page that is not cached makes the
// kernel read that page from disk first, synchronously, and one that covers the page does not.
func (b *batch) pad(at, segmentSize int64) {
	end := at + b.size
	if pad := min(pageEnd(end), max(segmentSize, end)) - end; pad > 0 {
		n := len(b.buf)
		b.buf = growTo(b.buf, n+int(pad))
		clear(b.buf[n:])
	}
}

// vectors returns the buffers of the pwritev that writes buf[from:] with the pieces in place.
func (b *batch) vectors(from int) [][]byte {
	bufs := b.bufs[:0]
	prev := from
	for _, p := range b.pieces {
		bufs = append(bufs, b.buf[prev:p.at], p.data)
		prev = p.at
	}
	b.bufs = append(bufs, b.buf[prev:])
	return b.bufs
}

// release drops the references to the callers' payloads.
func (b *batch) release() {
	clear(b.pieces)
	b.pieces = b.pieces[:0]
	clear(b.bufs)
	b.bufs = b.bufs[:0]
}
