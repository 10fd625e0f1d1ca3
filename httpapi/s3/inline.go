package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/internal/iox"
	"github.com/nebulaio/nebulaio/internal/sse"
)

// Small objects inside the event (issue 20): a body of at most Options.InlineObjectSize bytes
// is read into memory (through the same verification as any body: Content-MD5, checksums,
// streaming signatures, size), encrypted there if SSE applies, and carried in the PutObject or
// PutPart event itself as an inline blob (fsm.Blob Inline, Data). One raft round stores the
// bytes and the metadata together on every voter; no data-plane write happens. Reads take the
// bytes from the FSM (BlobData) on whatever node serves them. See doc.go, "Inline objects".

// ErrIncompleteBody: a body shorter or longer than its declared length.
var ErrIncompleteBody = &Error{"IncompleteBody", http.StatusBadRequest, "The body is shorter or longer than its declared length."}

// inlineLimit is the largest body a write of size bytes (-1: unknown) may carry inline: 0
// when it may not (over the limit, Options.InlineObjectSize 0, or Options.InlineAllowed says
// no, as it does while a voter holds no object bytes; asked only for a size that fits).
func (h *handler) inlineLimit(size int64) int64 {
	if h.inlineMax <= 0 || size > h.inlineMax || (h.inlineOK != nil && !h.inlineOK()) {
		return 0
	}
	return h.inlineMax
}

// getInlineBuf returns a pooled buffer of at least n bytes (the pool holds buffers sized for
// the largest inline body, encrypted).
func (h *handler) getInlineBuf(n int64) *[]byte {
	if bp, ok := h.inlineBufs.Get().(*[]byte); ok && int64(cap(*bp)) >= n {
		return bp
	}
	b := make([]byte, max(n, h.inlineCap))
	return &b
}

func (h *handler) putInlineBuf(bp *[]byte) {
	if bp != nil && int64(cap(*bp)) >= h.inlineCap {
		h.inlineBufs.Put(bp)
	}
}

// readInline reads src into a pooled buffer until it ends or holds more than lim bytes.
// ended reports that src ended within lim bytes: its bytes are then (*bp)[:n]. Otherwise the
// first n (= lim+1) bytes are in the buffer and src has more (or an error, returned as err).
func (h *handler) readInline(src io.Reader, lim int64) (bp *[]byte, n int, ended bool, err error) {
	bp = h.getInlineBuf(lim + 1)
	n, err = iox.Fill(src, (*bp)[:lim+1])
	switch {
	case err == io.EOF: // lim+1 bytes with the EOF are over the limit all the same
		return bp, n, n <= int(lim), nil
	case err != nil:
		h.putInlineBuf(bp)
		return nil, 0, false, err
	}
	return bp, n, false, nil // lim+1 bytes: over the limit, whether more follow or not
}

// inlineBlob makes the inline blob id of plain (held in *bp): it checks the declared size
// and Content-MD5 and encrypts as c says, into a second pooled buffer (the plaintext's goes
// back at once). The blob's buffer goes back to the pool with storedBlob.release, once the
// event that carries the bytes is encoded.
func (h *handler) inlineBlob(id string, bp *[]byte, plain []byte, size int64, wantMD5 []byte, c objectCipher) (storedBlob, error) {
	if size >= 0 && int64(len(plain)) != size {
		h.putInlineBuf(bp)
		return storedBlob{}, ErrIncompleteBody.with("the body is %d bytes; its declared length is %d", len(plain), size)
	}
	sum := md5.Sum(plain)
	if wantMD5 != nil && !bytes.Equal(sum[:], wantMD5) {
		h.putInlineBuf(bp)
		return storedBlob{}, ErrBadDigest
	}
	sb := storedBlob{id: id, size: int64(len(plain)), plain: int64(len(plain)), etag: sum[:], inline: true, data: plain, buf: bp}
	if c.key != nil {
		cp := h.getInlineBuf(sse.CiphertextSize(int64(len(plain))))
		sb.data = c.key.EncryptBytes(id, (*cp)[:0], plain)
		sb.size, sb.buf = int64(len(sb.data)), cp
		h.putInlineBuf(bp)
		if !c.plainETag() {
			s := md5.Sum(sb.data)
			sb.etag = s[:]
		}
	}
	sb.h = h
	return sb, nil
}

// release returns an inline blob's buffer to the pool: call it once the event that carries
// the bytes has been proposed (encoded), never before. A stored blob has nothing to release.
func (sb *storedBlob) release() {
	if sb.buf != nil {
		sb.h.putInlineBuf(sb.buf)
		sb.buf, sb.data = nil, nil
	}
}

// discard drops a blob this request made that no event will reference: a stored blob is
// deleted from its nodes, an inline one's buffer released.
func (h *handler) discard(sb storedBlob) {
	if sb.inline {
		sb.release()
		return
	}
	h.b.DiscardBlob(sb.id, sb.nodes)
}

// openBlob reads [off, off+length) of blob b (length < 0: to its end): an inline blob from the
// metadata (a freed one is ErrBlobNotFound, as a freed stored blob is), any other through the
// data plane.
func (h *handler) openBlob(ctx context.Context, b fsm.Blob, off, length int64) (io.ReadCloser, error) {
	if !b.Inline {
		return h.b.OpenBlob(ctx, b.ID, b.Nodes, off, length)
	}
	data, err := h.b.BlobData(b.ID)
	switch {
	case errors.Is(err, fsm.ErrNoSuchBlob):
		return nil, fmt.Errorf("%w: inline blob %s: %w", ErrBlobNotFound, b.ID, err)
	case err != nil:
		return nil, err
	case uint64(len(data)) != b.Size:
		return nil, fmt.Errorf("%w: inline blob %s holds %d bytes, its metadata says %d", ErrBlobCorrupt, b.ID, len(data), b.Size)
	case off < 0 || off > int64(len(data)):
		return nil, fmt.Errorf("s3: read at %d of the %d-byte inline blob %s", off, len(data), b.ID)
	}
	end := int64(len(data))
	if length >= 0 {
		end = min(end, off+length)
	}
	return io.NopCloser(bytes.NewReader(data[off:end])), nil
}

// countInline records an inline write that committed.
func (h *handler) countInline(sb storedBlob) {
	if sb.inline {
		h.m.Counter(MetricInlineWritesTotal, 1)
		h.m.Counter(MetricInlineBytesTotal, float64(sb.size))
	}
}
