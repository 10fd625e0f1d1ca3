package sse

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"pgregory.net/rapid"
)

func testKey(seed byte) ObjectKey {
	var k ObjectKey
	for i := range k {
		k[i] = seed + byte(i)
	}
	return k
}

func plaintext(n int, seed uint64) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(b)
	return b
}

// fataler is what the helpers need of *testing.T and *rapid.T.
type fataler interface {
	Helper()
	Fatal(args ...any)
}

func encrypt(t fataler, k ObjectKey, id string, p []byte) []byte {
	t.Helper()
	c, err := io.ReadAll(k.Encrypt(id, bytes.NewReader(p)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// blobOpener serves ranges of blob and records what was asked.
type blobOpener struct {
	blob   []byte
	opened []int64 // off, length pairs
}

func (o *blobOpener) open(off, length int64) (io.ReadCloser, error) {
	o.opened = append(o.opened, off, length)
	end := int64(len(o.blob))
	if length >= 0 {
		end = off + length
	}
	return io.NopCloser(bytes.NewReader(o.blob[off:end])), nil
}

func decrypt(k ObjectKey, id string, blob []byte, off, n int64) ([]byte, *blobOpener, error) {
	o := &blobOpener{blob: blob}
	rc, err := k.Decrypt(id, int64(len(blob)), o.open, off, n)
	if err != nil {
		return nil, o, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return b, o, err
}

// TestFormatAsDocumented builds the blob of doc.go with the primitives alone (HKDF, AES-GCM,
// the nonce layout) and compares it byte for byte with what Encrypt writes.
func TestFormatAsDocumented(t *testing.T) {
	k := testKey(7)
	const id = "0123456789abcdef0123456789abcdef"
	p := plaintext(2*ChunkSize+100, 1)
	bk, err := hkdf.Key(sha256.New, k[:], nil, "nebulaio sse v1 blob "+id, 32)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := aes.NewCipher(bk)
	g, _ := cipher.NewGCM(blk)
	var want []byte
	for i, lo := 0, 0; lo < len(p); i, lo = i+1, lo+ChunkSize {
		hi := min(lo+ChunkSize, len(p))
		nonce := make([]byte, 12)
		binary.BigEndian.PutUint64(nonce, uint64(i))
		if hi == len(p) {
			nonce[11] = 1
		}
		want = g.Seal(want, nonce, p[lo:hi], nil)
	}
	if got := encrypt(t, k, id, p); !bytes.Equal(got, want) {
		t.Fatalf("Encrypt wrote %d bytes that differ from the documented format (%d bytes)", len(got), len(want))
	}
	// The empty plaintext is one final empty chunk: its tag alone.
	nonce := make([]byte, 12)
	nonce[11] = 1
	if got := encrypt(t, k, id, nil); !bytes.Equal(got, g.Seal(nil, nonce, nil, nil)) {
		t.Fatalf("empty plaintext: %x", got)
	}
}

func TestSizes(t *testing.T) {
	for _, p := range []int64{0, 1, 15, 16, 17, ChunkSize - 1, ChunkSize, ChunkSize + 1, 3 * ChunkSize, 3*ChunkSize + 5, 5 << 30} {
		c := CiphertextSize(p)
		got, err := PlaintextSize(c)
		if err != nil || got != p {
			t.Fatalf("PlaintextSize(CiphertextSize(%d) = %d) = %d, %v", p, c, got, err)
		}
		if p < 4*ChunkSize {
			if n := int64(len(encrypt(t, testKey(1), "b", plaintext(int(p), 2)))); n != c {
				t.Fatalf("CiphertextSize(%d) = %d, Encrypt wrote %d", p, c, n)
			}
		}
	}
	// Sizes no plaintext encrypts to.
	for _, c := range []int64{0, 1, 15, sealedChunk + 1, sealedChunk + 16, 2*sealedChunk + 3} {
		if _, err := PlaintextSize(c); !errors.Is(err, ErrTampered) {
			t.Fatalf("PlaintextSize(%d): %v, want ErrTampered", c, err)
		}
	}
}

// TestRangeReads: every range of objects around the chunk boundaries reads the plaintext's
// bytes, and opens only the chunks the range covers.
func TestRangeReads(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		size := rapid.Int64Range(0, 4*ChunkSize+3).Draw(t, "size")
		off := rapid.Int64Range(0, size).Draw(t, "off")
		n := rapid.Int64Range(0, size-off).Draw(t, "n")
		k, id := testKey(3), "blob-1"
		p := plaintext(int(size), uint64(size))
		blob := encrypt(t, k, id, p)
		got, o, err := decrypt(k, id, blob, off, n)
		if err != nil {
			t.Fatalf("Decrypt(%d, %d) of %d bytes: %v", off, n, size, err)
		}
		if !bytes.Equal(got, p[off:off+n]) {
			t.Fatalf("Decrypt(%d, %d) of %d bytes: wrong bytes", off, n, size)
		}
		if n == 0 {
			if len(o.opened) != 0 {
				t.Fatalf("an empty range opened %v", o.opened)
			}
			return
		}
		first, last := off/ChunkSize, (off+n-1)/ChunkSize
		wantOff := first * sealedChunk
		if o.opened[0] != wantOff {
			t.Fatalf("range [%d,+%d) opened at %d, want %d", off, n, o.opened[0], wantOff)
		}
		if all := chunks(size) - 1; last == all {
			if o.opened[1] != -1 {
				t.Fatalf("a range reaching the last chunk opened %d bytes, want to the end (-1)", o.opened[1])
			}
		} else if want := (last - first + 1) * sealedChunk; o.opened[1] != want {
			t.Fatalf("range [%d,+%d) opened %d bytes, want %d", off, n, o.opened[1], want)
		}
	})
}

// TestTampering: a flipped byte, a blob cut or extended, chunks swapped, the blob read under
// another ID or another key: every one is ErrTampered, never plaintext.
func TestTampering(t *testing.T) {
	k, id := testKey(9), "blob-x"
	p := plaintext(3*ChunkSize+10, 5)
	blob := encrypt(t, k, id, p)
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(blob)) }
	cases := []struct {
		name string
		blob []byte
		key  ObjectKey
		id   string
	}{
		{"flip in chunk 0", mut(func(b []byte) []byte { b[10] ^= 1; return b }), k, id},
		{"flip in a tag", mut(func(b []byte) []byte { b[sealedChunk-1] ^= 0x80; return b }), k, id},
		{"flip in the last chunk", mut(func(b []byte) []byte { b[len(b)-20] ^= 4; return b }), k, id},
		{"cut after chunk 2", mut(func(b []byte) []byte { return b[:3*sealedChunk] }), k, id},
		{"cut after chunk 1 plus a partial", mut(func(b []byte) []byte { return b[:2*sealedChunk+100] }), k, id},
		{"chunks 0 and 1 swapped", mut(func(b []byte) []byte {
			c0 := bytes.Clone(b[:sealedChunk])
			copy(b, b[sealedChunk:2*sealedChunk])
			copy(b[sealedChunk:], c0)
			return b
		}), k, id},
		{"another blob id", blob, k, "blob-y"},
		{"another object key", blob, testKey(10), id},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, _, err := decrypt(c.key, c.id, c.blob, 0, min(int64(len(p)), mustPlain(c.blob)))
			if !errors.Is(err, ErrTampered) {
				t.Fatalf("read %d bytes, err %v: want ErrTampered", len(got), err)
			}
		})
	}
	// A blob extended past its final chunk: read with the size the metadata records, the
	// bytes after the final chunk are noticed.
	long := append(bytes.Clone(blob), 0)
	o := &blobOpener{blob: long}
	rc, err := k.Decrypt(id, int64(len(blob)), o.open, 0, int64(len(p)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(rc); !errors.Is(err, ErrTampered) {
		t.Fatalf("extended blob: %v, want ErrTampered", err)
	}
}

// mustPlain is the plaintext size a (possibly cut) blob claims; 0 when it has none.
func mustPlain(b []byte) int64 {
	n, err := PlaintextSize(int64(len(b)))
	if err != nil {
		return 0
	}
	return n
}

// TestEncryptSourceError: an error of the plaintext reader (a signature that fails at the end
// of the body) comes out of the ciphertext reader, and no chunk is sealed as final before it.
func TestEncryptSourceError(t *testing.T) {
	boom := errors.New("boom")
	for _, n := range []int{0, 10, ChunkSize, ChunkSize + 1} {
		src := io.MultiReader(bytes.NewReader(plaintext(n, 1)), iotestErr{boom})
		got, err := io.ReadAll(testKey(1).Encrypt("b", src))
		if !errors.Is(err, boom) {
			t.Fatalf("%d bytes then an error: %v", n, err)
		}
		// Out come the chunks known not to be the last: those with more bytes after them.
		if want := max(0, (n-1)/ChunkSize) * sealedChunk; len(got) != want {
			t.Fatalf("%d bytes then an error: %d bytes out, want the %d of the chunks before the last", n, len(got), want)
		}
	}
}

// TestEncryptCutBody: a body that ends early with io.ErrUnexpectedEOF (net/http's for a
// connection closed before Content-Length) is a failure, not the end of the plaintext: no
// final chunk is sealed, so no valid blob can be made of a truncated upload.
func TestEncryptCutBody(t *testing.T) {
	for _, n := range []int{0, 10, ChunkSize, ChunkSize + 1, 2 * ChunkSize} {
		src := io.MultiReader(bytes.NewReader(plaintext(n, 1)), iotestErr{io.ErrUnexpectedEOF})
		got, err := io.ReadAll(testKey(1).Encrypt("b", src))
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("%d bytes then io.ErrUnexpectedEOF: err %v", n, err)
		}
		if want := max(0, (n-1)/ChunkSize) * sealedChunk; len(got) != want {
			t.Fatalf("%d bytes then a cut: %d bytes out, want the %d of the chunks before the last", n, len(got), want)
		}
	}
	// A reader that returns its last bytes together with io.EOF ends the plaintext normally.
	for _, n := range []int{1, ChunkSize, ChunkSize + 5} {
		p := plaintext(n, 2)
		blob, err := io.ReadAll(testKey(1).Encrypt("b", &dataWithEOF{p: p}))
		if err != nil {
			t.Fatal(err)
		}
		if got, _, err := decrypt(testKey(1), "b", blob, 0, int64(n)); err != nil || !bytes.Equal(got, p) {
			t.Fatalf("%d bytes with io.EOF: %v", n, err)
		}
	}
}

// dataWithEOF returns all of p with io.EOF in one Read.
type dataWithEOF struct {
	p    []byte
	done bool
}

func (d *dataWithEOF) Read(b []byte) (int, error) {
	if d.done {
		return 0, io.EOF
	}
	n := copy(b, d.p)
	d.p = d.p[n:]
	if len(d.p) == 0 {
		d.done = true
		return n, io.EOF
	}
	return n, nil
}

type iotestErr struct{ err error }

func (e iotestErr) Read([]byte) (int, error) { return 0, e.err }

func TestDecryptOutOfRange(t *testing.T) {
	blob := encrypt(t, testKey(1), "b", plaintext(10, 1))
	if _, _, err := decrypt(testKey(1), "b", blob, 5, 6); err == nil {
		t.Fatal("a range past the end was accepted")
	}
}

// BenchmarkStream measures the cost of encryption at rest per byte: op=copy is the plain
// copy a read or write does anyway (the peer), op=encrypt a PUT's encryption, op=decrypt a
// whole GET's, op=range a 4 KiB range read in the middle of the blob (SetBytes counts the
// 4 KiB served, and crosses a chunk boundary in the 1 MiB blob).
func BenchmarkStream(b *testing.B) {
	k := testKey(1)
	for _, size := range []int{4 << 10, 1 << 20} {
		p := plaintext(size, 1)
		blob := encrypt(b, k, "b", p)
		o := &blobOpener{blob: blob}
		for _, op := range []string{"copy", "encrypt", "decrypt", "range"} {
			b.Run(fmt.Sprintf("op=%s/size=%d", op, size), func(b *testing.B) {
				served := int64(size)
				if op == "range" {
					served = min(4<<10, int64(size))
				}
				b.SetBytes(served)
				b.ReportAllocs()
				for b.Loop() {
					var r io.Reader
					switch op {
					case "copy": // hide WriterTo: io.Copy then copies through its buffer, as a body is read
						r = struct{ io.Reader }{bytes.NewReader(p)}
					case "encrypt":
						r = k.Encrypt("b", bytes.NewReader(p))
					case "decrypt", "range":
						off := int64(0)
						if op == "range" {
							off = (int64(size) - served) / 2
						}
						o.opened = o.opened[:0]
						rc, err := k.Decrypt("b", int64(len(blob)), o.open, off, served)
						if err != nil {
							b.Fatal(err)
						}
						r = rc
					}
					want := served
					if op == "encrypt" {
						want = CiphertextSize(served)
					}
					n, err := io.Copy(io.Discard, r)
					if err != nil || n != want {
						b.Fatalf("%d bytes, %v", n, err)
					}
				}
			})
		}
	}
}

// TestEncryptBytesIsEncrypt: the in-memory sealing of a small object's bytes writes exactly
// the blob the streaming encrypter writes (so either decrypts both), at chunk boundaries too,
// and appends to dst; encrypters run one after another (their chunk buffers pooled) each
// write their own blob intact.
func TestEncryptBytesIsEncrypt(t *testing.T) {
	k := testKey(7)
	for _, n := range []int{0, 1, 100, ChunkSize - 1, ChunkSize, ChunkSize + 1, 2 * ChunkSize, 2*ChunkSize + 5} {
		p := plaintext(n, uint64(n))
		want := encrypt(t, k, "blob-a", p)
		prefix := []byte("prefix")
		got := k.EncryptBytes("blob-a", append([]byte(nil), prefix...), p)
		if !bytes.Equal(got[:len(prefix)], prefix) || !bytes.Equal(got[len(prefix):], want) {
			t.Fatalf("%d bytes: EncryptBytes differs from Encrypt", n)
		}
		if int64(len(want)) != CiphertextSize(int64(n)) {
			t.Fatalf("%d bytes: %d bytes of ciphertext, want %d", n, len(want), CiphertextSize(int64(n)))
		}
		back, _, err := decrypt(k, "blob-a", want, 0, int64(n))
		if err != nil || !bytes.Equal(back, p) {
			t.Fatalf("%d bytes: decrypt: %v", n, err)
		}
	}
}
