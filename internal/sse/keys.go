package sse

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// KeySize is the size of every key here: object keys, master keys and customer keys.
const KeySize = 32

// Errors. Each is returned wrapped, with the detail, and checked with errors.Is.
var (
	// ErrWrongKey is returned when a sealed object key does not open with the key given: a
	// wrong customer key, or a master key that is not the one its ID names.
	ErrWrongKey = errors.New("sse: the key does not open this object's sealed key")
	// ErrUnknownKey is returned when a sealed key names a master key ID the keyring lacks.
	ErrUnknownKey = errors.New("sse: master key not in the keyring")
	// ErrSealedKey is returned for a sealed key of the wrong length or version.
	ErrSealedKey = errors.New("sse: malformed sealed key")
	// ErrBadKey is returned for a master key that is not 32 bytes of base64.
	ErrBadKey = errors.New("sse: a key must be 32 bytes, base64-encoded")
	// ErrTampered is returned by a read whose ciphertext fails authentication, or whose blob
	// does not have the size of an encrypted blob.
	ErrTampered = errors.New("sse: encrypted data failed authentication")
)

// ObjectKey is the key of one object (or one multipart upload and the object it makes).
type ObjectKey [KeySize]byte

// NewObjectKey draws a new object key from crypto/rand.
func NewObjectKey() ObjectKey {
	var k ObjectKey
	_, _ = rand.Read(k[:]) // crypto/rand.Read never fails (it panics instead, Go ≥ 1.24)
	return k
}

// HKDF info strings and seal AADs; see doc.go.
const (
	infoKEKS3    = "nebulaio sse v1 kek sse-s3"
	infoKEKC     = "nebulaio sse v1 kek sse-c"
	infoBlob     = "nebulaio sse v1 blob "
	aadS3Prefix  = "nebulaio sse v1 sse-s3 "
	aadC         = "nebulaio sse v1 sse-c"
	keyIDPrefix  = "nebulaio sse v1 key id\x00"
	sealVersion  = 1
	nonceSize    = 12
	tagSize      = 16
	SealedKeyLen = 1 + nonceSize + KeySize + tagSize // 61
)

// derive returns HKDF-SHA256(secret, no salt, info), 32 bytes.
func derive(secret []byte, info string) []byte {
	k, err := hkdf.Key(sha256.New, secret, nil, info, KeySize)
	if err != nil {
		panic("sse: hkdf: " + err.Error()) // only for lengths beyond 255 hashes
	}
	return k
}

func newGCM(key []byte) cipher.AEAD {
	b, err := aes.NewCipher(key)
	if err != nil {
		panic("sse: aes: " + err.Error()) // the key is always 32 bytes
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		panic("sse: gcm: " + err.Error())
	}
	return g
}

// seal seals k under kek with aad: version, random nonce, ciphertext and tag.
func seal(kek []byte, aad string, k ObjectKey) []byte {
	out := make([]byte, 1+nonceSize, SealedKeyLen)
	out[0] = sealVersion
	_, _ = rand.Read(out[1 : 1+nonceSize])
	return newGCM(kek).Seal(out, out[1:1+nonceSize], k[:], []byte(aad))
}

// unseal opens what seal wrote.
func unseal(kek []byte, aad string, sealed []byte) (ObjectKey, error) {
	var k ObjectKey
	if len(sealed) != SealedKeyLen || sealed[0] != sealVersion {
		return k, fmt.Errorf("%w: %d bytes, version %d", ErrSealedKey, len(sealed), firstByte(sealed))
	}
	plain, err := newGCM(kek).Open(nil, sealed[1:1+nonceSize], sealed[1+nonceSize:], []byte(aad))
	if err != nil {
		return k, ErrWrongKey
	}
	copy(k[:], plain)
	return k, nil
}

func firstByte(b []byte) int {
	if len(b) == 0 {
		return -1
	}
	return int(b[0])
}

// KeyID returns the ID of a master key (see doc.go).
func KeyID(key []byte) string {
	h := sha256.Sum256(append([]byte(keyIDPrefix), key...))
	return hex.EncodeToString(h[:8])
}

// ParseKey decodes a master key: standard base64 (padded or not) of 32 bytes.
func ParseKey(b64 string) ([]byte, error) {
	s := strings.TrimSpace(b64)
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		k, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil || len(k) != KeySize {
		return nil, ErrBadKey
	}
	return k, nil
}

// GenerateKey returns a new master key in base64.
func GenerateKey() string {
	var k [KeySize]byte
	_, _ = rand.Read(k[:])
	return base64.StdEncoding.EncodeToString(k[:])
}

// Keyring holds the master keys of SSE-S3: the current one, which seals new object keys,
// and older ones, which only unseal. It is immutable after NewKeyring and safe for
// concurrent use.
type Keyring struct {
	current string
	keks    map[string][]byte // key id → KEK derived from the master key
}

// NewKeyring builds a keyring from the current master key and older ones (base64 each).
// The same key given twice is allowed (a rotation half done); ErrBadKey names the key that
// does not decode by its position ("current" or "old key N").
func NewKeyring(current string, old ...string) (*Keyring, error) {
	kr := &Keyring{keks: map[string][]byte{}}
	add := func(b64, what string) (string, error) {
		k, err := ParseKey(b64)
		if err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		id := KeyID(k)
		kr.keks[id] = derive(k, infoKEKS3)
		return id, nil
	}
	id, err := add(current, "current master key")
	if err != nil {
		return nil, err
	}
	kr.current = id
	for i, o := range old {
		if _, err := add(o, fmt.Sprintf("old master key %d", i+1)); err != nil {
			return nil, err
		}
	}
	return kr, nil
}

// CurrentID is the ID of the key that seals new object keys.
func (kr *Keyring) CurrentID() string { return kr.current }

// IDs lists the IDs of every key in the keyring, sorted.
func (kr *Keyring) IDs() []string {
	ids := make([]string, 0, len(kr.keks))
	for id := range kr.keks {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Seal seals k with the current master key and returns the key's ID with the sealed key.
func (kr *Keyring) Seal(k ObjectKey) (keyID string, sealed []byte) {
	return kr.current, seal(kr.keks[kr.current], aadS3Prefix+kr.current, k)
}

// Unseal opens an object key sealed by the master key keyID: ErrUnknownKey when the
// keyring lacks it, ErrWrongKey or ErrSealedKey when the sealed key does not open.
func (kr *Keyring) Unseal(keyID string, sealed []byte) (ObjectKey, error) {
	kek, ok := kr.keks[keyID]
	if !ok {
		return ObjectKey{}, fmt.Errorf("%w: key id %q (this node has %s)", ErrUnknownKey, keyID, strings.Join(kr.IDs(), ", "))
	}
	return unseal(kek, aadS3Prefix+keyID, sealed)
}

// CustomerKey is an SSE-C key as the client sent it.
type CustomerKey struct {
	key [KeySize]byte
	md5 string // base64 MD5 of the key, as S3 echoes it
}

// The SSE-C headers' values.
const AlgorithmAES256 = "AES256"

// Customer key errors, wrapped by ParseCustomerKey (S3 answers each with 400 InvalidArgument).
var (
	ErrCustomerAlgorithm   = errors.New("sse: the SSE-C algorithm must be AES256")
	ErrCustomerKeyMissing  = errors.New("sse: the SSE-C key is missing")
	ErrCustomerMD5Missing  = errors.New("sse: the SSE-C key MD5 is missing")
	ErrCustomerKeyInvalid  = errors.New("sse: the SSE-C key is not 32 bytes of base64")
	ErrCustomerMD5Mismatch = errors.New("sse: the SSE-C key MD5 does not match the key")
)

// ParseCustomerKey checks an SSE-C triple: algorithm AES256, key (base64 of 32 bytes) and the
// key's MD5 (base64), which must match.
func ParseCustomerKey(algorithm, keyB64, md5B64 string) (CustomerKey, error) {
	var c CustomerKey
	switch {
	case algorithm != AlgorithmAES256:
		return c, fmt.Errorf("%w, not %.20q", ErrCustomerAlgorithm, algorithm)
	case keyB64 == "":
		return c, ErrCustomerKeyMissing
	case md5B64 == "":
		return c, ErrCustomerMD5Missing
	}
	k, err := base64.StdEncoding.DecodeString(keyB64)
	if err != nil || len(k) != KeySize {
		return c, ErrCustomerKeyInvalid
	}
	sum := md5.Sum(k)
	want, err := base64.StdEncoding.DecodeString(md5B64)
	if err != nil || subtle.ConstantTimeCompare(want, sum[:]) != 1 {
		return c, ErrCustomerMD5Mismatch
	}
	copy(c.key[:], k)
	c.md5 = base64.StdEncoding.EncodeToString(sum[:])
	return c, nil
}

// KeyMD5 is the key's MD5 in base64, as the x-amz-server-side-encryption-customer-key-MD5
// response header echoes it.
func (c CustomerKey) KeyMD5() string { return c.md5 }

// Seal seals k with the customer's key.
func (c CustomerKey) Seal(k ObjectKey) []byte { return seal(derive(c.key[:], infoKEKC), aadC, k) }

// Unseal opens an object key the customer's key sealed: ErrWrongKey for another key.
func (c CustomerKey) Unseal(sealed []byte) (ObjectKey, error) {
	return unseal(derive(c.key[:], infoKEKC), aadC, sealed)
}
