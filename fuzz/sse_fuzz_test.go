package fuzz

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/nebulaio/nebulaio/internal/sse"
)

// fuzzObjectKey is the fixed object key of the SSE fuzz targets.
func fuzzObjectKey() sse.ObjectKey {
	var k sse.ObjectKey
	for i := range k {
		k[i] = byte(i * 7)
	}
	return k
}

// FuzzSSEDecrypt feeds arbitrary stored bytes to the decryption of an encrypted blob, whole and
// by a range. Properties: never a panic; a size no encrypted blob has, and bytes that do not
// authenticate, are sse.ErrTampered (a range that does not fit is refused before any read);
// whatever decrypts whole (a plaintext of at least one byte: a read of none opens nothing)
// re-encrypts to exactly the stored bytes (the format has one
// encoding per plaintext, so nothing but a sealed blob is ever served), and a range is the
// same bytes of it.
func FuzzSSEDecrypt(f *testing.F) {
	k := fuzzObjectKey()
	for _, n := range []int{0, 1, 100, sse.ChunkSize - 1, sse.ChunkSize, sse.ChunkSize + 1} {
		blob, err := io.ReadAll(k.Encrypt("blob", bytes.NewReader(bytes.Repeat([]byte{'p'}, n))))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(blob, uint32(0), uint32(n))
		f.Add(blob, uint32(n/2), uint32(n/3+1))
	}
	f.Add([]byte("not a blob at all"), uint32(0), uint32(1))
	f.Fuzz(func(t *testing.T, stored []byte, off, n uint32) {
		open := func(o, l int64) (io.ReadCloser, error) {
			end := int64(len(stored))
			if l >= 0 {
				end = o + l
			}
			if o < 0 || o > end || end > int64(len(stored)) {
				t.Fatalf("open(%d, %d) outside a %d-byte blob", o, l, len(stored))
			}
			return io.NopCloser(bytes.NewReader(stored[o:end])), nil
		}
		plain, err := sse.PlaintextSize(int64(len(stored)))
		if err != nil {
			if !errors.Is(err, sse.ErrTampered) {
				t.Fatalf("PlaintextSize: %v", err)
			}
			return
		}
		if sse.CiphertextSize(plain) != int64(len(stored)) {
			t.Fatalf("CiphertextSize(PlaintextSize(%d)) = %d", len(stored), sse.CiphertextSize(plain))
		}
		read := func(o, l int64) ([]byte, error) {
			rc, err := k.Decrypt("blob", int64(len(stored)), open, o, l)
			if err != nil {
				return nil, err
			}
			defer rc.Close()
			return io.ReadAll(rc)
		}
		if plain == 0 {
			return // a read of no bytes opens nothing, so serves nothing to check
		}
		whole, err := read(0, plain)
		if err != nil {
			if !errors.Is(err, sse.ErrTampered) {
				t.Fatalf("whole read: %v", err)
			}
			return
		}
		again, err := io.ReadAll(k.Encrypt("blob", bytes.NewReader(whole)))
		if err != nil || !bytes.Equal(again, stored) {
			t.Fatalf("decrypted %d bytes that do not re-encrypt to the stored blob (%v)", len(whole), err)
		}
		o, l := int64(off), int64(n)
		if o+l > plain {
			if _, err := read(o, l); err == nil {
				t.Fatalf("range [%d, +%d) of a %d-byte plaintext accepted", o, l, plain)
			}
			return
		}
		part, err := read(o, l)
		if err != nil || !bytes.Equal(part, whole[o:o+l]) {
			t.Fatalf("range [%d, +%d): %v", o, l, err)
		}
	})
}

// FuzzSSEUnseal opens arbitrary sealed keys with a keyring and a customer key. Properties:
// never a panic; every failure is ErrSealedKey, ErrWrongKey or ErrUnknownKey; only what
// Seal wrote opens.
func FuzzSSEUnseal(f *testing.F) {
	kr, err := sse.NewKeyring("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
	if err != nil {
		f.Fatal(err)
	}
	ck, err := sse.ParseCustomerKey("AES256", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "tP/LI3N87DFaSk0aoqYgzg==")
	if err != nil {
		f.Fatal(err)
	}
	id, sealed := kr.Seal(fuzzObjectKey())
	f.Add(sealed, id)
	f.Add(ck.Seal(fuzzObjectKey()), id)
	f.Add([]byte{1, 2, 3}, "nope")
	f.Fuzz(func(t *testing.T, sealed []byte, keyID string) {
		for _, open := range []func() (sse.ObjectKey, error){
			func() (sse.ObjectKey, error) { return kr.Unseal(keyID, sealed) },
			func() (sse.ObjectKey, error) { return ck.Unseal(sealed) },
		} {
			k, err := open()
			switch {
			case err == nil:
				if k != fuzzObjectKey() {
					t.Fatalf("a sealed key opened to a key nobody sealed")
				}
			case !errors.Is(err, sse.ErrSealedKey) && !errors.Is(err, sse.ErrWrongKey) && !errors.Is(err, sse.ErrUnknownKey):
				t.Fatalf("unseal: %v", err)
			}
		}
	})
}
