package sse

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// ChunkSize is the plaintext size of every chunk of an encrypted blob but the last.
const ChunkSize = 64 << 10

// sealedChunk is the size of a full chunk once sealed.
const sealedChunk = ChunkSize + tagSize

// CiphertextSize is the size of the encrypted blob of plain plaintext bytes (plain ≥ 0).
func CiphertextSize(plain int64) int64 {
	chunks := max(1, (plain+ChunkSize-1)/ChunkSize)
	return plain + chunks*tagSize
}

// PlaintextSize is the plaintext size of an encrypted blob of size bytes; ErrTampered for a
// size the writer never produces.
func PlaintextSize(size int64) (int64, error) {
	full, rest := size/sealedChunk, size%sealedChunk
	switch {
	case size < tagSize, rest > 0 && rest <= tagSize && !(full == 0 && rest == tagSize):
		return 0, fmt.Errorf("%w: %d bytes is not the size of an encrypted blob", ErrTampered, size)
	case rest == 0:
		return full * ChunkSize, nil
	}
	return full*ChunkSize + rest - tagSize, nil
}

// chunks is the number of chunks of a plaintext of plain bytes.
func chunks(plain int64) int64 { return max(1, (plain+ChunkSize-1)/ChunkSize) }

// blobAEAD is the AES-256-GCM of one blob's key (see doc.go).
func (k ObjectKey) blobAEAD(blobID string) cipher.AEAD {
	return newGCM(derive(k[:], infoBlob+blobID))
}

func chunkNonce(nonce *[nonceSize]byte, i int64, final bool) []byte {
	binary.BigEndian.PutUint64(nonce[:8], uint64(i))
	var f uint32
	if final {
		f = 1
	}
	binary.BigEndian.PutUint32(nonce[8:], f)
	return nonce[:]
}

// Encrypt returns a reader of the encrypted blob blobID whose plaintext src yields. An error
// of src is returned as is (after the chunks before it), so the caller sees why the body
// failed; the reader never returns a blob that lacks its final chunk without an error.
func (k ObjectKey) Encrypt(blobID string, src io.Reader) io.Reader {
	return &encrypter{aead: k.blobAEAD(blobID), src: src, buf: *chunkBufs.Get().(*[]byte)}
}

// chunkBufs holds the one-chunk buffers of encrypters: an encrypter returns its buffer once
// it has returned its final chunk or src's error (one abandoned midway leaves it to the GC).
var chunkBufs = sync.Pool{New: func() any { b := make([]byte, sealedChunk); return &b }}

// release returns e's buffer to chunkBufs; nothing of it is returned by Read afterwards.
func (e *encrypter) release() {
	if e.buf != nil {
		b := e.buf
		e.buf, e.out, e.pos = nil, nil, 0
		chunkBufs.Put(&b)
	}
}

// EncryptBytes appends to dst the encrypted blob blobID of plain, held in memory: the same
// bytes Encrypt yields for a reader of plain (CiphertextSize(len(plain)) of them), sealed
// straight into dst (no chunk buffer). dst must not overlap plain.
func (k ObjectKey) EncryptBytes(blobID string, dst, plain []byte) []byte {
	aead := k.blobAEAD(blobID)
	var nonce [nonceSize]byte
	n := chunks(int64(len(plain)))
	for i := int64(0); i < n; i++ {
		chunk := plain[min(int64(len(plain)), i*ChunkSize):min(int64(len(plain)), (i+1)*ChunkSize)]
		dst = aead.Seal(dst, chunkNonce(&nonce, i, i == n-1), chunk, nil)
	}
	return dst
}

// encrypter seals in place: a chunk's plaintext is read into buf and sealed over itself into
// out (= buf[:len]), and the next chunk is read into buf only once out has been returned
// whole, so one buffer serves both.
type encrypter struct {
	aead    cipher.AEAD
	src     io.Reader
	buf     []byte // one sealed chunk: ChunkSize bytes of plaintext and room for the tag
	out     []byte // the current sealed chunk (in buf)
	pos     int    // bytes of out already returned
	next    int64  // index of the next chunk to seal
	peek    [1]byte
	hasPeek bool // peek holds the first byte of the next chunk
	done    bool // the final chunk is sealed
	err     error
	nonce   [nonceSize]byte
}

func (e *encrypter) Read(p []byte) (int, error) {
	for e.pos == len(e.out) {
		if e.done {
			e.release()
			return 0, io.EOF
		}
		if e.err != nil {
			e.release()
			return 0, e.err
		}
		e.fill()
	}
	n := copy(p, e.out[e.pos:])
	e.pos += n
	return n, nil
}

// fill seals the next chunk into out, or records src's error. Only io.EOF from src ends the
// plaintext: any other error — io.ErrUnexpectedEOF of a body cut short included — is src's
// failure and seals no final chunk.
func (e *encrypter) fill() {
	plain := e.buf[:ChunkSize]
	have := 0
	if e.hasPeek {
		plain[0] = e.peek[0]
		have, e.hasPeek = 1, false
	}
	n, err := readFull(e.src, plain[have:])
	have += n
	final := false
	switch {
	case err == io.EOF:
		final = true
	case err != nil:
		e.err = err
		return
	default: // a full chunk: is there more?
		m, err := readFull(e.src, e.peek[:])
		switch {
		case err != nil && err != io.EOF:
			e.err = err
			return
		case m == 1:
			e.hasPeek = true
		default:
			final = true
		}
	}
	e.out = e.aead.Seal(plain[:0], chunkNonce(&e.nonce, e.next, final), plain[:have], nil)
	e.pos = 0
	e.next++
	e.done = final
}

// readFull reads into buf until it is full or r fails; unlike io.ReadFull it returns r's
// error as it is (io.EOF only when r ended), so a reader that fails with io.ErrUnexpectedEOF
// is not taken for one that ended. A reader that returns data with io.EOF is read once more,
// which returns io.EOF again.
func readFull(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			if err == io.EOF && n == len(buf) {
				return n, nil
			}
			return n, err
		}
	}
	return n, nil
}

// OpenFunc opens bytes [off, off+length) of an encrypted blob; length < 0 means to its end.
type OpenFunc func(off, length int64) (io.ReadCloser, error)

// Decrypt returns a reader of plaintext bytes [off, off+n) of the encrypted blob blobID of
// size bytes (its stored length), opening only the chunks the range covers through open (see
// doc.go). The range must lie within the plaintext. Chunks that fail authentication, and a
// blob longer or shorter than size, are ErrTampered; open's errors are returned as they are.
func (k ObjectKey) Decrypt(blobID string, size int64, open OpenFunc, off, n int64) (io.ReadCloser, error) {
	plain, err := PlaintextSize(size)
	if err != nil {
		return nil, err
	}
	if off < 0 || n < 0 || off+n > plain {
		return nil, fmt.Errorf("sse: range [%d, %d) outside a %d-byte plaintext", off, off+n, plain)
	}
	d := &decrypter{aead: k.blobAEAD(blobID), size: size, last: chunks(plain) - 1, skip: off % ChunkSize, remain: n}
	if n == 0 {
		return d, nil
	}
	d.idx = off / ChunkSize
	end := (off + n - 1) / ChunkSize // last chunk needed
	from := d.idx * sealedChunk
	length := int64(-1) // to the end: the store then checks its whole-blob checksum
	if end < d.last {
		length = (end+1)*sealedChunk - from
	}
	if d.src, err = open(from, length); err != nil {
		return nil, err
	}
	d.buf = make([]byte, 0, min(sealedChunk, size)) // no chunk is longer than the blob
	return d, nil
}

type decrypter struct {
	aead   cipher.AEAD
	src    io.ReadCloser
	size   int64 // stored blob size
	last   int64 // index of the blob's final chunk
	idx    int64 // next chunk to read
	skip   int64 // plaintext bytes of the next chunk before the range
	remain int64 // plaintext bytes of the range not yet returned
	buf    []byte
	out    []byte // plaintext not yet returned
	nonce  [nonceSize]byte
	err    error
}

func (d *decrypter) Read(p []byte) (int, error) {
	for len(d.out) == 0 {
		if d.remain == 0 {
			return 0, io.EOF
		}
		if d.err != nil {
			return 0, d.err
		}
		if len(p) == 0 {
			return 0, nil
		}
		d.err = d.next()
	}
	n := copy(p, d.out)
	d.out = d.out[n:]
	return n, nil
}

// next reads, authenticates and decrypts chunk idx into out (the part the range wants).
func (d *decrypter) next() error {
	clen := int64(sealedChunk)
	if d.idx == d.last {
		clen = d.size - d.idx*sealedChunk
	}
	buf := d.buf[:clen]
	if _, err := io.ReadFull(d.src, buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: chunk %d is cut short", ErrTampered, d.idx)
		}
		return err
	}
	final := d.idx == d.last
	plain, err := d.aead.Open(buf[:0], chunkNonce(&d.nonce, d.idx, final), buf, nil)
	if err != nil {
		return fmt.Errorf("%w: chunk %d", ErrTampered, d.idx)
	}
	if final {
		// The store checks its whole-blob checksum at the end; a longer blob is not ours.
		var one [1]byte
		if m, err := io.ReadFull(d.src, one[:]); m > 0 {
			return fmt.Errorf("%w: bytes after the final chunk", ErrTampered)
		} else if !errors.Is(err, io.EOF) {
			return err
		}
	}
	plain = plain[min(d.skip, int64(len(plain))):]
	d.skip = 0
	if int64(len(plain)) > d.remain {
		plain = plain[:d.remain]
	}
	d.remain -= int64(len(plain))
	d.out = plain
	d.idx++
	return nil
}

func (d *decrypter) Close() error {
	if d.src == nil {
		return nil
	}
	return d.src.Close()
}
