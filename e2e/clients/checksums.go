package main

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"hash/crc32"

	"github.com/minio/crc64nvme"
)

// algorithms are the S3 checksum algorithms, as S3 names them.
var algorithms = []string{"CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"}

func newHash(alg string) hash.Hash {
	switch alg {
	case "CRC32":
		return crc32.NewIEEE()
	case "CRC32C":
		return crc32.New(crc32.MakeTable(crc32.Castagnoli))
	case "CRC64NVME":
		return crc64nvme.New()
	case "SHA1":
		return sha1.New()
	case "SHA256":
		return sha256.New()
	}
	panic("unknown checksum algorithm " + alg)
}

// checksumOf is the base64 checksum S3 reports for data.
func checksumOf(alg string, data []byte) string {
	h := newHash(alg)
	h.Write(data)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// compositeOf is S3's COMPOSITE checksum of data uploaded in parts of partSize: the algorithm
// over the parts' digests, "-<parts>" appended.
func compositeOf(alg string, data []byte, partSize int) string {
	h := newHash(alg)
	n := 0
	for off := 0; off < len(data) || n == 0; off += partSize {
		p := newHash(alg)
		p.Write(data[off:min(off+partSize, len(data))])
		h.Write(p.Sum(nil))
		n++
	}
	return fmt.Sprintf("%s-%d", base64.StdEncoding.EncodeToString(h.Sum(nil)), n)
}

// sameBytes reports a difference between what was read back and what was written.
func sameBytes(what string, got, want []byte) error {
	if bytes.Equal(got, want) {
		return nil
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	return fmt.Errorf("%s: read %d bytes, wrote %d, first difference at byte %d", what, len(got), len(want), i)
}

// expectChecksum compares a stored checksum (and its type, when reported) with the expected.
func expectChecksum(alg, got, gotType, want, wantType string) error {
	if got != want {
		return fmt.Errorf("stored %s %q, want %q", alg, got, want)
	}
	if gotType != "" && gotType != wantType {
		return fmt.Errorf("checksum type %q, want %q", gotType, wantType)
	}
	return nil
}
