package iam

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Users' secret keys are kept in replicated state sealed, never in plaintext. SigV4 needs the
// secret itself to verify a signature (an HMAC), so it cannot be hashed: it is encrypted with
// AES-256-GCM under a key derived from a master key that every node holds and that is never
// replicated. The layout of a sealed secret (doc.go, "Sealed secrets"):
//
//	+---------+-------------+-------------+-------------------------------------+
//	| version | key id      | nonce       | ciphertext ‖ GCM tag (16 bytes)     |
//	| u8 = 1  | 4 bytes     | 12 bytes    | len(secret) + 16 bytes              |
//	+---------+-------------+-------------+-------------------------------------+
//
// with additional data "nebulaio iam user secret v1" ‖ 0 ‖ user name ‖ 0 ‖ access key, so
// that a sealed secret moved to another user's record does not open.

// MasterKeySize is the size of a master key in bytes.
const MasterKeySize = 32

// Errors of sealing and opening.
var (
	// ErrMasterKey is returned (wrapped) for a master key that is not base64 of MasterKeySize bytes.
	ErrMasterKey = errors.New("iam: invalid master key")
	// ErrUnknownKey is returned (wrapped, naming the key IDs) by Open for a secret sealed under
	// a master key this keyring does not hold: the nodes were given different master keys.
	ErrUnknownKey = errors.New("iam: secret sealed with a master key this node does not hold")
	// ErrSealed is returned by Open for a sealed secret that is malformed or fails its
	// authentication tag (damaged, or moved to another user's record).
	ErrSealed = errors.New("iam: sealed secret does not open")
)

const (
	sealVersion = 1
	keyIDSize   = 4
	nonceSize   = 12
	sealAAD     = "nebulaio iam user secret v1"
	// HKDF info strings; changing one makes every sealed secret unreadable.
	infoSealKey = "nebulaio iam secret sealing key v1"
	infoKeyID   = "nebulaio iam key id v1"
	infoDerive  = "nebulaio iam master key v1"
)

// Keyring seals user secrets under its primary master key and opens secrets sealed under any
// of its keys (the primary and older ones kept for reading). Safe for concurrent use.
type Keyring struct {
	keys []sealKey // keys[0] is the primary
}

type sealKey struct {
	id   [keyIDSize]byte
	aead cipher.AEAD
}

// NewKeyring returns a keyring whose primary key is derived from primary; older master keys,
// if any, still open what they sealed. Each key must be MasterKeySize bytes.
func NewKeyring(primary []byte, older ...[]byte) (*Keyring, error) {
	k := &Keyring{}
	for _, m := range append([][]byte{primary}, older...) {
		if len(m) != MasterKeySize {
			return nil, fmt.Errorf("%w: %d bytes, want %d", ErrMasterKey, len(m), MasterKeySize)
		}
		key := derive(m, infoSealKey, 32)
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		sk := sealKey{aead: aead}
		copy(sk.id[:], derive(m, infoKeyID, keyIDSize))
		k.keys = append(k.keys, sk)
	}
	return k, nil
}

func derive(secret []byte, info string, n int) []byte {
	b, err := hkdf.Key(sha256.New, secret, nil, info, n)
	if err != nil { // only for n beyond 255 hash lengths
		panic("iam: hkdf: " + err.Error())
	}
	return b
}

// DeriveMasterKey returns the master key derived from a cluster-wide secret (HKDF-SHA256, info
// "nebulaio iam master key v1"): what a node uses when its cluster has such a secret.
func DeriveMasterKey(clusterSecret []byte) []byte {
	return derive(clusterSecret, infoDerive, MasterKeySize)
}

// NewMasterKey returns a random master key.
func NewMasterKey() []byte {
	b := make([]byte, MasterKeySize)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24 panics instead)
	return b
}

// ParseMasterKey reads a master key's text form: base64 (standard or URL alphabet, padded or
// not) of exactly MasterKeySize bytes.
func ParseMasterKey(text string) ([]byte, error) {
	text = strings.TrimSpace(text)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(text); err == nil {
			if len(b) != MasterKeySize {
				return nil, fmt.Errorf("%w: %d bytes, want %d (make one with: head -c 32 /dev/urandom | base64)", ErrMasterKey, len(b), MasterKeySize)
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("%w: not base64 (make one with: head -c 32 /dev/urandom | base64)", ErrMasterKey)
}

// FormatMasterKey is the text form of a master key (standard base64).
func FormatMasterKey(key []byte) string { return base64.StdEncoding.EncodeToString(key) }

// KeyID is the identifier of the primary key (8 hex digits, derived from the master key and
// revealing nothing of it): the sealed secrets name it, and errors and logs show it.
func (k *Keyring) KeyID() string { return hex.EncodeToString(k.keys[0].id[:]) }

func aad(user, accessKey string) []byte {
	return []byte(sealAAD + "\x00" + user + "\x00" + accessKey)
}

// Seal encrypts the secret key of user's access key under the primary key.
func (k *Keyring) Seal(user, accessKey, secret string) string {
	p := k.keys[0]
	out := make([]byte, 0, 1+keyIDSize+nonceSize+len(secret)+p.aead.Overhead())
	out = append(out, sealVersion)
	out = append(out, p.id[:]...)
	nonce := make([]byte, nonceSize)
	_, _ = rand.Read(nonce)
	out = append(out, nonce...)
	out = p.aead.Seal(out, nonce, []byte(secret), aad(user, accessKey))
	return string(out)
}

// Open decrypts a secret Seal made for the same user and access key.
func (k *Keyring) Open(user, accessKey, sealed string) (string, error) {
	b := []byte(sealed)
	if len(b) < 1+keyIDSize+nonceSize+16 || b[0] != sealVersion {
		return "", fmt.Errorf("%w: malformed (user %q)", ErrSealed, user)
	}
	id := b[1 : 1+keyIDSize]
	for _, sk := range k.keys {
		if string(sk.id[:]) != string(id) {
			continue
		}
		nonce := b[1+keyIDSize : 1+keyIDSize+nonceSize]
		plain, err := sk.aead.Open(nil, nonce, b[1+keyIDSize+nonceSize:], aad(user, accessKey))
		if err != nil {
			return "", fmt.Errorf("%w: authentication failed (user %q)", ErrSealed, user)
		}
		return string(plain), nil
	}
	return "", fmt.Errorf("%w: user %q's secret is sealed under key %x, this node holds %s: give every node the same iam.master_key",
		ErrUnknownKey, user, id, k.KeyID())
}

// SealedKeyID returns the key ID a sealed secret names ("" if it is malformed), for diagnostics.
func SealedKeyID(sealed string) string {
	if len(sealed) < 1+keyIDSize || sealed[0] != sealVersion {
		return ""
	}
	return hex.EncodeToString([]byte(sealed[1 : 1+keyIDSize]))
}
