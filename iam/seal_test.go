package iam

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	m1, m2 := NewMasterKey(), NewMasterKey()
	k1, err := NewKeyring(m1)
	if err != nil {
		t.Fatal(err)
	}
	sealed := k1.Seal("alice", "NBACCESSKEY0000000001", "the-secret-key")
	if strings.Contains(sealed, "the-secret-key") {
		t.Fatal("the sealed form holds the plaintext")
	}
	if got, err := k1.Open("alice", "NBACCESSKEY0000000001", sealed); err != nil || got != "the-secret-key" {
		t.Fatalf("Open: %q %v", got, err)
	}
	if SealedKeyID(sealed) != k1.KeyID() || len(k1.KeyID()) != 8 {
		t.Fatalf("key id %q vs %q", SealedKeyID(sealed), k1.KeyID())
	}
	if again := k1.Seal("alice", "NBACCESSKEY0000000001", "the-secret-key"); again == sealed {
		t.Fatal("two seals of one secret are equal (nonce reused?)")
	}
	// Bound to the user and access key: moved to another record, it does not open.
	for _, tc := range [][2]string{{"bob", "NBACCESSKEY0000000001"}, {"alice", "NBACCESSKEY0000000002"}} {
		if _, err := k1.Open(tc[0], tc[1], sealed); !errors.Is(err, ErrSealed) {
			t.Errorf("opened for %v: %v", tc, err)
		}
	}
	// Every flipped byte is refused (version, key id, nonce, ciphertext, tag).
	for i := range len(sealed) {
		b := []byte(sealed)
		b[i] ^= 0x40
		_, err := k1.Open("alice", "NBACCESSKEY0000000001", string(b))
		if !errors.Is(err, ErrSealed) && !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	for _, short := range []string{"", sealed[:10], sealed[:len(sealed)-1]} {
		if _, err := k1.Open("alice", "NBACCESSKEY0000000001", short); !errors.Is(err, ErrSealed) {
			t.Errorf("truncated to %d: %v", len(short), err)
		}
	}
	// Another master key: unknown; a keyring holding the old key as an older one opens it.
	k2, _ := NewKeyring(m2)
	if _, err := k2.Open("alice", "NBACCESSKEY0000000001", sealed); !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), k2.KeyID()) {
		t.Fatalf("other key: %v", err)
	}
	k21, _ := NewKeyring(m2, m1)
	if got, err := k21.Open("alice", "NBACCESSKEY0000000001", sealed); err != nil || got != "the-secret-key" {
		t.Fatalf("older key: %q %v", got, err)
	}
	if SealedKeyID(k21.Seal("a", "b", "c")) != k2.KeyID() {
		t.Fatal("a keyring seals with its primary key")
	}
}

func TestMasterKeys(t *testing.T) {
	m := NewMasterKey()
	got, err := ParseMasterKey(" " + FormatMasterKey(m) + "\n")
	if err != nil || !bytes.Equal(got, m) {
		t.Fatalf("round trip: %v", err)
	}
	for _, bad := range []string{"", "not base64!", FormatMasterKey(m[:16])} {
		if _, err := ParseMasterKey(bad); !errors.Is(err, ErrMasterKey) {
			t.Errorf("ParseMasterKey(%q): %v", bad, err)
		}
	}
	if _, err := NewKeyring(m[:31]); !errors.Is(err, ErrMasterKey) {
		t.Fatalf("short key: %v", err)
	}
	// Derivation from a cluster secret is fixed (a change would orphan every sealed secret).
	d := DeriveMasterKey(bytes.Repeat([]byte{7}, 32))
	if FormatMasterKey(d) != FormatMasterKey(DeriveMasterKey(bytes.Repeat([]byte{7}, 32))) || len(d) != MasterKeySize {
		t.Fatal("derivation is not deterministic")
	}
	if bytes.Equal(d, bytes.Repeat([]byte{7}, 32)) {
		t.Fatal("derived key equals its secret")
	}
}

func TestNamesAndKeys(t *testing.T) {
	for _, ok := range []string{"a", "app-1", "x+=,.@_-Y", strings.Repeat("u", 64)} {
		if CheckUserName(ok) != nil {
			t.Errorf("user name %q refused", ok)
		}
	}
	for _, bad := range []string{"", "a b", "a/b", "ü", strings.Repeat("u", 65)} {
		if CheckUserName(bad) == nil {
			t.Errorf("user name %q accepted", bad)
		}
	}
	if CheckPolicyName(strings.Repeat("p", 128)) != nil || CheckPolicyName(strings.Repeat("p", 129)) == nil {
		t.Error("policy name length")
	}
	ak, sk := NewAccessKey(), NewSecretKey()
	if CheckAccessKey(ak) != nil || len(ak) != 20 || !strings.HasPrefix(ak, "NB") || CheckSecretKey(sk) != nil || len(sk) != 40 {
		t.Fatalf("generated %q %q", ak, sk)
	}
	for _, bad := range []string{"short", "has-dash-0123456789", strings.Repeat("A", 129)} {
		if CheckAccessKey(bad) == nil {
			t.Errorf("access key %q accepted", bad)
		}
	}
	for _, bad := range []string{"short", "has space in it", strings.Repeat("s", 129)} {
		if CheckSecretKey(bad) == nil {
			t.Errorf("secret %q accepted", bad)
		}
	}
}
