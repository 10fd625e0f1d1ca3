package trust

import (
	"bytes"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// SecretSize is the size of a cluster secret in bytes.
const SecretSize = 32

// clusterIDSize is the number of random bytes in a cluster ID (hex-encoded: twice as many
// characters).
const clusterIDSize = 8

// Errors of secrets, cluster IDs and tokens.
var (
	// ErrSecret is returned (wrapped, with the reason) for a secret text that is not base64 of
	// exactly SecretSize bytes.
	ErrSecret = errors.New("trust: invalid cluster secret")
	// ErrClusterID is returned for a cluster ID that is not 16 lowercase hex digits.
	ErrClusterID = errors.New("trust: invalid cluster ID")
	// ErrToken is returned (wrapped, with the reason) for a join token that does not parse or
	// whose check value does not match (a damaged or edited token).
	ErrToken = errors.New("trust: invalid join token")
)

// Secret is a cluster secret: the root every credential of a cluster is derived from (see
// doc.go, "Derivations"). Its String and GoString never print the bytes; Text does.
type Secret [SecretSize]byte

// NewSecret returns a random secret.
func NewSecret() (Secret, error) {
	var s Secret
	if _, err := rand.Read(s[:]); err != nil {
		return s, fmt.Errorf("trust: random secret: %w", err)
	}
	return s, nil
}

// ParseSecret reads the text form of a secret: base64 of exactly 32 bytes, URL or standard
// alphabet, padded or not, surrounding space ignored.
func ParseSecret(text string) (Secret, error) {
	var s Secret
	b, err := decodeBase64(strings.TrimSpace(text))
	if err != nil {
		return s, fmt.Errorf("%w: not base64: %v", ErrSecret, err)
	}
	if len(b) != SecretSize {
		return s, fmt.Errorf("%w: %d bytes, want %d (generate one with: head -c 32 /dev/urandom | base64)", ErrSecret, len(b), SecretSize)
	}
	copy(s[:], b)
	return s, nil
}

func decodeBase64(text string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.StdEncoding} {
		if b, err := enc.DecodeString(text); err == nil {
			return b, nil
		}
	}
	_, err := base64.StdEncoding.DecodeString(text)
	return nil, err
}

// Text returns the secret as unpadded base64url, the form ParseSecret reads.
func (s Secret) Text() string { return base64.RawURLEncoding.EncodeToString(s[:]) }

// String hides the secret, so that logging a value that holds one prints no key material.
func (s Secret) String() string { return "trust.Secret(redacted)" }

// GoString hides the secret from %#v as well.
func (s Secret) GoString() string { return s.String() }

// Equal compares two secrets in constant time.
func (s Secret) Equal(o Secret) bool { return subtle.ConstantTimeCompare(s[:], o[:]) == 1 }

// IsZero reports whether s is the zero value (no secret).
func (s Secret) IsZero() bool { return s == Secret{} }

// derive returns n bytes of HKDF-SHA256 of the secret for one purpose (doc.go lists them).
func (s Secret) derive(info string, n int) []byte {
	b, err := hkdf.Key(sha256.New, s[:], nil, info, n)
	if err != nil { // only for n beyond 255 hash lengths, which no caller asks for
		panic("trust: hkdf: " + err.Error())
	}
	return b
}

// GossipKey is the AES-256 key gossip is encrypted with when no explicit cluster.gossip_key is
// set: HKDF-SHA256(secret, info "nebulaio gossip key v1"), 32 bytes.
func (s Secret) GossipKey() []byte { return s.derive(infoGossipKey, 32) }

// HKDF info strings: one per derived value. Changing one changes every cluster's credentials.
const (
	infoGossipKey = "nebulaio gossip key v1"
	infoCAKey     = "nebulaio cluster CA key v1"
	infoCASerial  = "nebulaio cluster CA serial v1"
)

// NewClusterID returns a random cluster ID: 8 random bytes as 16 lowercase hex digits.
func NewClusterID() (string, error) {
	var b [clusterIDSize]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("trust: random cluster ID: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// CheckClusterID returns an error wrapping ErrClusterID unless id is 16 lowercase hex digits.
func CheckClusterID(id string) error {
	if len(id) != 2*clusterIDSize {
		return fmt.Errorf("%w: %q is %d characters, want %d hex digits", ErrClusterID, id, len(id), 2*clusterIDSize)
	}
	for _, c := range id {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return fmt.Errorf("%w: %q is not lowercase hex", ErrClusterID, id)
		}
	}
	return nil
}

// Token is what a node needs to join a cluster: its ID and its secret. Its text form (doc.go,
// "Join token") is
//
//	nbio1.<cluster ID: 16 hex digits>.<base64url, unpadded: secret (32 bytes) ‖ check (4 bytes)>
//
// where check is the first 4 bytes of SHA-256("nbio1" ‖ cluster ID ‖ secret), so that a token
// damaged in copying, or whose cluster ID was edited, is refused at start rather than failing
// later as a key that decrypts nothing.
type Token struct {
	ClusterID string
	Secret    Secret
}

const (
	tokenPrefix = "nbio1"
	checkSize   = 4
)

// Text returns the token's text form.
func (t Token) Text() string {
	payload := make([]byte, 0, SecretSize+checkSize)
	payload = append(payload, t.Secret[:]...)
	payload = append(payload, t.check()...)
	return tokenPrefix + "." + t.ClusterID + "." + base64.RawURLEncoding.EncodeToString(payload)
}

// String hides the secret part of the token.
func (t Token) String() string { return tokenPrefix + "." + t.ClusterID + ".(redacted)" }

// GoString hides the secret part from %#v as well.
func (t Token) GoString() string { return t.String() }

func (t Token) check() []byte {
	h := sha256.New()
	h.Write([]byte(tokenPrefix))
	h.Write([]byte(t.ClusterID))
	h.Write(t.Secret[:])
	return h.Sum(nil)[:checkSize]
}

// ParseToken reads a token's text form (surrounding space ignored). Errors wrap ErrToken and
// say which part is wrong; they never contain the secret.
func ParseToken(text string) (Token, error) {
	var t Token
	parts := strings.Split(strings.TrimSpace(text), ".")
	if len(parts) != 3 {
		return t, fmt.Errorf("%w: want three dot-separated parts (nbio1.<cluster ID>.<secret>), got %d", ErrToken, len(parts))
	}
	if parts[0] != tokenPrefix {
		return t, fmt.Errorf("%w: unknown prefix %q, want %q", ErrToken, parts[0], tokenPrefix)
	}
	if err := CheckClusterID(parts[1]); err != nil {
		return t, fmt.Errorf("%w: %w", ErrToken, err)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(payload) != SecretSize+checkSize {
		return t, fmt.Errorf("%w: the secret part is not %d characters of base64url (damaged in copying?)", ErrToken,
			base64.RawURLEncoding.EncodedLen(SecretSize+checkSize))
	}
	t.ClusterID = parts[1]
	copy(t.Secret[:], payload[:SecretSize])
	if !bytes.Equal(t.check(), payload[SecretSize:]) {
		return Token{}, fmt.Errorf("%w: check value mismatch: the token was damaged or edited", ErrToken)
	}
	return t, nil
}
