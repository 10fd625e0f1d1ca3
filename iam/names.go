package iam

import (
	"crypto/rand"
	"fmt"
)

// Names and keys, with AWS IAM's rules where it has them.
const (
	maxUserName   = 64
	maxPolicyName = 128
	minAccessKey  = 16
	maxAccessKey  = 128
	minSecretKey  = 8
	maxSecretKey  = 128
)

// CheckUserName returns an error unless name is 1..64 characters of A-Z a-z 0-9 and +=,.@_-
// (AWS's user names).
func CheckUserName(name string) error { return checkName("user name", name, maxUserName) }

// CheckPolicyName returns an error unless name is 1..128 characters of A-Z a-z 0-9 and
// +=,.@_- (AWS's policy names).
func CheckPolicyName(name string) error { return checkName("policy name", name, maxPolicyName) }

func checkName(what, s string, max int) error {
	if s == "" || len(s) > max {
		return fmt.Errorf("%s must be 1..%d characters", what, max)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '=' ||
			c == ',' || c == '.' || c == '@' || c == '_' || c == '-') {
			return fmt.Errorf("%s %q: only letters, digits and +=,.@_- are allowed", what, s)
		}
	}
	return nil
}

// CheckAccessKey returns an error unless key is 16..128 characters of A-Z a-z 0-9 (the
// characters every S3 client accepts in an access key ID).
func CheckAccessKey(key string) error {
	if len(key) < minAccessKey || len(key) > maxAccessKey {
		return fmt.Errorf("access key must be %d..%d characters", minAccessKey, maxAccessKey)
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return fmt.Errorf("access key: only letters and digits are allowed")
		}
	}
	return nil
}

// CheckSecretKey returns an error unless secret is 8..128 printable ASCII characters without
// spaces.
func CheckSecretKey(secret string) error {
	if len(secret) < minSecretKey || len(secret) > maxSecretKey {
		return fmt.Errorf("secret key must be %d..%d characters", minSecretKey, maxSecretKey)
	}
	for i := 0; i < len(secret); i++ {
		if secret[i] <= ' ' || secret[i] > '~' {
			return fmt.Errorf("secret key: only printable ASCII characters without spaces are allowed")
		}
	}
	return nil
}

// Alphabets of RandomString.
const (
	UpperAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	Alnum      = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// NewAccessKey returns a random access key: "NB" and 18 upper-case letters and digits (20
// characters, as AWS's).
func NewAccessKey() string { return "NB" + RandomString(18, UpperAlnum) }

// NewSecretKey returns a random secret key of 40 letters and digits (238 bits).
func NewSecretKey() string { return RandomString(40, Alnum) }

// RandomString returns n characters drawn uniformly from alphabet (at most 256 characters)
// with crypto/rand.
func RandomString(n int, alphabet string) string {
	b := make([]byte, n)
	var buf [1]byte
	for i := range b {
		for {
			_, _ = rand.Read(buf[:]) // never fails (Go ≥ 1.24 panics instead)
			if int(buf[0]) < 256-256%len(alphabet) {
				b[i] = alphabet[int(buf[0])%len(alphabet)]
				break
			}
		}
	}
	return string(b)
}
