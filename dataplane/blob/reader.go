package blob

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/nebulaio/nebulaio/internal/vfs"
)

// Reader reads one blob. Every byte it returns comes from a block whose CRC32C (which also
// covers the block's index) was verified first, so a damaged region fails with ErrCorrupt
// whether it is reached by a full read, a Seek+Read or a ReadAt, and ranges elsewhere in the
// blob still read fine. A full sequential read from offset 0 also checks the whole-blob
// CRC32C at EOF. Read and Seek are not safe for concurrent use; ReadAt is (it uses no shared
// state).
type Reader struct {
	s    *Store
	f    vfs.File
	h    header
	info Info

	pos      int64
	seq      bool   // read sequentially from 0 since open (or the last Seek to 0)
	wholeCRC uint32 // CRC32C of bytes [0, pos) while seq
	final    error  // sticky EOF-time failure

	buf      []byte // block buffer for Read
	cacheIdx int64  // index of the block in buf, -1 if none
	cacheLen int
	closed   bool
}

var (
	_ io.ReadSeekCloser = (*Reader)(nil)
	_ io.ReaderAt       = (*Reader)(nil)
)

// Info returns the blob's header information.
func (r *Reader) Info() Info { return r.info }

// Size is the blob's length in bytes.
func (r *Reader) Size() int64 { return r.h.size }

func (r *Reader) blockLen(i int64) int {
	bs := int64(r.h.blockSize)
	return int(min(bs, r.h.size-i*bs))
}

// newBuf returns a block buffer, from the store's pool when the block size matches.
func (r *Reader) newBuf() []byte {
	if r.h.blockSize == r.s.blockSize {
		return *(r.s.bufPool.Get().(*[]byte))
	}
	return make([]byte, int(r.h.blockSize)+blockCRCSize)
}

func (r *Reader) freeBuf(b []byte) {
	if r.h.blockSize == r.s.blockSize && b != nil {
		r.s.bufPool.Put(&b)
	}
}

// loadBlock reads and verifies block i into buf, returning its data.
func (r *Reader) loadBlock(i int64, buf []byte) ([]byte, error) {
	n := r.blockLen(i)
	off := headerSize + i*(int64(r.h.blockSize)+blockCRCSize)
	if _, err := r.f.ReadAt(buf[:n+blockCRCSize], off); err != nil {
		if errors.Is(err, io.EOF) {
			r.s.metrics.Counter(metricCorrupt, 1)
			return nil, fmt.Errorf("blob %s: %w: truncated at block %d", r.info.ID, ErrCorrupt, i)
		}
		return nil, fmt.Errorf("blob %s: read block %d: %w", r.info.ID, i, err)
	}
	stored := uint32(buf[n]) | uint32(buf[n+1])<<8 | uint32(buf[n+2])<<16 | uint32(buf[n+3])<<24
	if blockCRC(i, buf[:n]) != stored {
		r.s.metrics.Counter(metricCorrupt, 1)
		return nil, fmt.Errorf("blob %s: %w: block %d (bytes %d..%d) checksum mismatch",
			r.info.ID, ErrCorrupt, i, i*int64(r.h.blockSize), i*int64(r.h.blockSize)+int64(n))
	}
	return buf[:n], nil
}

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, os.ErrClosed
	}
	if r.final != nil {
		return 0, r.final
	}
	if r.pos >= r.h.size {
		r.final = io.EOF
		if r.seq && r.wholeCRC != r.h.crc32c {
			r.s.metrics.Counter(metricCorrupt, 1)
			r.final = fmt.Errorf("blob %s: %w: whole-blob CRC32C mismatch", r.info.ID, ErrCorrupt)
		}
		return 0, r.final
	}
	if len(p) == 0 {
		return 0, nil
	}
	i := r.pos / int64(r.h.blockSize)
	if r.cacheIdx != i {
		if r.buf == nil {
			r.buf = r.newBuf()
		}
		data, err := r.loadBlock(i, r.buf)
		if err != nil {
			r.cacheIdx = -1
			return 0, err
		}
		r.cacheIdx, r.cacheLen = i, len(data)
	}
	off := int(r.pos - i*int64(r.h.blockSize))
	n := copy(p, r.buf[off:r.cacheLen])
	if r.seq {
		r.wholeCRC = crc32.Update(r.wholeCRC, castagnoli, p[:n])
	}
	r.pos += int64(n)
	r.s.metrics.Counter(metricBytesRead, float64(n))
	return n, nil
}

// Seek implements io.Seeker. Seeking anywhere but offset 0 ends whole-blob verification for
// this reader (per-block verification continues).
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	if r.closed {
		return 0, os.ErrClosed
	}
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.pos + offset
	case io.SeekEnd:
		abs = r.h.size + offset
	default:
		return 0, fmt.Errorf("blob: seek: bad whence %d", whence)
	}
	if abs < 0 {
		return 0, fmt.Errorf("blob: seek: negative position %d", abs)
	}
	r.pos = abs
	r.final = nil
	r.seq = abs == 0
	r.wholeCRC = 0
	return abs, nil
}

// ReadAt implements io.ReaderAt: it verifies every block the range touches.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	if r.closed {
		return 0, os.ErrClosed
	}
	if off < 0 {
		return 0, fmt.Errorf("blob: ReadAt: negative offset %d", off)
	}
	if off >= r.h.size {
		return 0, io.EOF
	}
	buf := r.newBuf()
	defer r.freeBuf(buf)
	bs := int64(r.h.blockSize)
	n := 0
	for n < len(p) && off < r.h.size {
		i := off / bs
		data, err := r.loadBlock(i, buf)
		if err != nil {
			return n, err
		}
		c := copy(p[n:], data[off-i*bs:])
		n += c
		off += int64(c)
	}
	r.s.metrics.Counter(metricBytesRead, float64(n))
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Close releases the file. Further calls fail with os.ErrClosed.
func (r *Reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.freeBuf(r.buf)
	r.buf = nil
	return r.f.Close()
}
