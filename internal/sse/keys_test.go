package sse

import (
	"crypto/md5"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func masterKey(seed byte) string {
	k := make([]byte, KeySize)
	for i := range k {
		k[i] = seed ^ byte(i*7)
	}
	return b64(k)
}

// TestKeyRotation: an object key sealed by an old current key unseals after a new key became
// current (the old one kept), and new seals name the new key.
func TestKeyRotation(t *testing.T) {
	old, err := NewKeyring(masterKey(1))
	if err != nil {
		t.Fatal(err)
	}
	k := NewObjectKey()
	id1, sealed := old.Seal(k)
	if len(sealed) != SealedKeyLen {
		t.Fatalf("sealed key is %d bytes", len(sealed))
	}
	rotated, err := NewKeyring(masterKey(2), masterKey(1))
	if err != nil {
		t.Fatal(err)
	}
	if rotated.CurrentID() == id1 {
		t.Fatal("the new key has the old key's ID")
	}
	got, err := rotated.Unseal(id1, sealed)
	if err != nil || got != k {
		t.Fatalf("old object after rotation: %v", err)
	}
	id2, sealed2 := rotated.Seal(k)
	if id2 != rotated.CurrentID() {
		t.Fatalf("sealed with %s, current is %s", id2, rotated.CurrentID())
	}
	// Without the old key, the old object names the key it needs.
	only, _ := NewKeyring(masterKey(2))
	if _, err := only.Unseal(id1, sealed); !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), id1) {
		t.Fatalf("unseal without the old key: %v", err)
	}
	if _, err := only.Unseal(id2, sealed2); err != nil {
		t.Fatal(err)
	}
	// A sealed key presented under another key's ID (metadata swapped) does not open.
	if _, err := rotated.Unseal(id2, sealed); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("sealed key under the wrong id: %v", err)
	}
	sealed[5] ^= 1
	if _, err := rotated.Unseal(id1, sealed); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("damaged sealed key: %v", err)
	}
	if _, err := rotated.Unseal(id1, sealed[:20]); !errors.Is(err, ErrSealedKey) {
		t.Fatalf("short sealed key: %v", err)
	}
}

// TestKeyID pins the key ID derivation (doc.go): an ID change would orphan every object.
func TestKeyID(t *testing.T) {
	// The value was computed apart: python3 -c "import hashlib;
	// print(hashlib.sha256(b'nebulaio sse v1 key id\x00' + bytes(32)).hexdigest()[:16])"
	if got := KeyID(make([]byte, KeySize)); got != "e15e70230902b5ba" {
		t.Fatalf("KeyID(zero key) = %q", got)
	}
}

func TestParseKey(t *testing.T) {
	for _, bad := range []string{"", "not base64!", b64(make([]byte, 16)), b64(make([]byte, 33))} {
		if _, err := NewKeyring(bad); !errors.Is(err, ErrBadKey) {
			t.Fatalf("NewKeyring(%q): %v", bad, err)
		}
	}
	if _, err := NewKeyring(masterKey(1), "short"); err == nil || !strings.Contains(err.Error(), "old master key 1") {
		t.Fatalf("a bad old key: %v", err)
	}
	raw := strings.TrimRight(masterKey(3), "=")
	if _, err := ParseKey(raw); err != nil {
		t.Fatalf("unpadded base64: %v", err)
	}
	if _, err := ParseKey(GenerateKey()); err != nil {
		t.Fatal(err)
	}
}

func customer(seed byte) (alg, key, sum string) {
	k := make([]byte, KeySize)
	for i := range k {
		k[i] = seed + byte(i)
	}
	s := md5.Sum(k)
	return AlgorithmAES256, b64(k), b64(s[:])
}

func TestCustomerKey(t *testing.T) {
	alg, key, sum := customer(1)
	_, _, otherSum := customer(2)
	for _, c := range []struct {
		name          string
		alg, key, md5 string
		want          error
	}{
		{"wrong algorithm", "AES128", key, sum, ErrCustomerAlgorithm},
		{"no key", alg, "", sum, ErrCustomerKeyMissing},
		{"no md5", alg, key, "", ErrCustomerMD5Missing},
		{"short key", alg, b64([]byte("short")), sum, ErrCustomerKeyInvalid},
		{"md5 of another key", alg, key, otherSum, ErrCustomerMD5Mismatch},
		{"md5 not base64", alg, key, "%%", ErrCustomerMD5Mismatch},
	} {
		if _, err := ParseCustomerKey(c.alg, c.key, c.md5); !errors.Is(err, c.want) {
			t.Fatalf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	ck, err := ParseCustomerKey(alg, key, sum)
	if err != nil || ck.KeyMD5() != sum {
		t.Fatalf("%v %q", err, ck.KeyMD5())
	}
	k := NewObjectKey()
	sealed := ck.Seal(k)
	if got, err := ck.Unseal(sealed); err != nil || got != k {
		t.Fatalf("unseal with the same key: %v", err)
	}
	other, _ := ParseCustomerKey(customer(2))
	if _, err := other.Unseal(sealed); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("unseal with another key: %v", err)
	}
	// An SSE-S3 keyring with the same 32 bytes does not open an SSE-C seal (domain separation).
	kr, _ := NewKeyring(key)
	if _, err := kr.Unseal(kr.CurrentID(), sealed); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("SSE-C seal opened as SSE-S3: %v", err)
	}
	// Two seals of one key do not look alike.
	if string(ck.Seal(k)) == string(sealed) {
		t.Fatal("two seals are equal")
	}
}
