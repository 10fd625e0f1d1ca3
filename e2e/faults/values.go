package main

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
)

// Every value written is self-describing, so that any read can be checked on its own, whatever
// node served it and whenever:
//
//	"NFV1 <key> <version> <size>\n" then size-len(header) bytes of a ChaCha8 stream seeded
//	with SHA-256(key " " version)
//
// A version is unique in a run (worker and sequence number), so a read names the one write it
// observed; a read whose bytes do not regenerate exactly is corrupt.

const valueMagic = "NFV1"

// errCorrupt: the bytes read are not a value this suite wrote for that key.
var errCorrupt = errors.New("corrupt value")

// valueHeader is the first line of a value.
func valueHeader(key, version string, size int) string {
	return fmt.Sprintf("%s %s %s %d\n", valueMagic, key, version, size)
}

// makeValue returns the bytes of version of key, at least size bytes long (the header always
// fits).
func makeValue(key, version string, size int) []byte {
	h := valueHeader(key, version, size)
	if size < len(h) {
		size = len(h)
		h = valueHeader(key, version, size)
		if len(h) > size { // the size grew a digit
			size = len(h)
			h = valueHeader(key, version, size)
		}
	}
	b := make([]byte, size)
	copy(b, h)
	fill(key, version, b[len(h):])
	return b
}

func fill(key, version string, b []byte) {
	seed := sha256.Sum256([]byte(key + " " + version))
	r := rand.NewChaCha8(seed)
	_, _ = r.Read(b) // ChaCha8.Read never fails
}

// checkValue returns the version that data holds for key, or an error wrapping errCorrupt
// that says what is wrong.
func checkValue(key string, data []byte) (string, error) {
	nl := bytes.IndexByte(data, '\n')
	if nl < 0 || nl > 512 {
		return "", fmt.Errorf("%w: no header in %d bytes (starts %q)", errCorrupt, len(data), prefix(data))
	}
	var magic, k, version string
	var size int
	if n, err := fmt.Sscanf(string(data[:nl+1]), "%s %s %s %d\n", &magic, &k, &version, &size); n != 4 || err != nil || magic != valueMagic {
		return "", fmt.Errorf("%w: bad header %q", errCorrupt, data[:nl])
	}
	if k != key {
		return "", fmt.Errorf("%w: the value of key %s was read for %s", errCorrupt, k, key)
	}
	if size != len(data) {
		return version, fmt.Errorf("%w: %s version %s: %d bytes, want %d", errCorrupt, key, version, len(data), size)
	}
	want := make([]byte, len(data)-nl-1)
	fill(key, version, want)
	if i := firstDiff(want, data[nl+1:]); i >= 0 {
		return version, fmt.Errorf("%w: %s version %s differs at byte %d of %d", errCorrupt, key, version, nl+1+i, len(data))
	}
	return version, nil
}

func firstDiff(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

func prefix(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}
