package sigv4

import (
	"crypto/sha1" //nolint:gosec // SHA-1 is an S3 checksum algorithm, not used for security.
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"strings"
)

// ChecksumAlgorithm names an S3 additional-checksum algorithm as S3 spells it.
type ChecksumAlgorithm string

// The algorithms S3 clients send in x-amz-checksum-* headers and trailers.
const (
	ChecksumCRC32     ChecksumAlgorithm = "CRC32"
	ChecksumCRC32C    ChecksumAlgorithm = "CRC32C"
	ChecksumCRC64NVME ChecksumAlgorithm = "CRC64NVME"
	ChecksumSHA1      ChecksumAlgorithm = "SHA1"
	ChecksumSHA256    ChecksumAlgorithm = "SHA256"
)

// Checksum is a checksum the client declared for the payload.
type Checksum struct {
	Algorithm ChecksumAlgorithm
	Value     string // base64 of the big-endian digest, exactly as sent
	Trailer   bool   // sent as an aws-chunked trailer rather than a request header
}

// crc64NVMEPoly is the reversed (LSB-first) form of the NVMe CRC-64 polynomial
// 0xAD93D23594C93659, as hash/crc64.MakeTable expects.
const crc64NVMEPoly = 0x9a6c9329ac4bc9b5

var (
	crc32cTable    = crc32.MakeTable(crc32.Castagnoli)
	crc64NVMETable = crc64.MakeTable(crc64NVMEPoly)
)

// checksumHeaderPrefix is the header (and trailer) name prefix of additional checksums.
const checksumHeaderPrefix = "x-amz-checksum-"

// algorithmFromHeader maps "x-amz-checksum-crc32c" (any case) to ChecksumCRC32C.
func algorithmFromHeader(name string) (ChecksumAlgorithm, bool) {
	name = strings.ToLower(strings.TrimSpace(name))
	if !strings.HasPrefix(name, checksumHeaderPrefix) {
		return "", false
	}
	a := ChecksumAlgorithm(strings.ToUpper(name[len(checksumHeaderPrefix):]))
	if _, ok := newChecksumHash(a); !ok {
		return "", false
	}
	return a, true
}

// HeaderName is the request header (and trailer) that carries this algorithm's value.
func (a ChecksumAlgorithm) HeaderName() string {
	return checksumHeaderPrefix + strings.ToLower(string(a))
}

func newChecksumHash(a ChecksumAlgorithm) (hash.Hash, bool) {
	switch a {
	case ChecksumCRC32:
		return crc32.NewIEEE(), true
	case ChecksumCRC32C:
		return crc32.New(crc32cTable), true
	case ChecksumCRC64NVME:
		return crc64.New(crc64NVMETable), true
	case ChecksumSHA1:
		return sha1.New(), true //nolint:gosec // see import
	case ChecksumSHA256:
		return sha256.New(), true
	}
	return nil, false
}

// validChecksumValue reports whether v is standard base64 of exactly the algorithm's size.
func validChecksumValue(a ChecksumAlgorithm, v string) bool {
	h, ok := newChecksumHash(a)
	if !ok {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(v)
	return err == nil && len(b) == h.Size()
}

// ChecksumOf computes the base64 S3 checksum of data; a helper for handlers and tests.
func ChecksumOf(a ChecksumAlgorithm, data []byte) (string, bool) {
	h, ok := newChecksumHash(a)
	if !ok {
		return "", false
	}
	h.Write(data)
	return base64.StdEncoding.EncodeToString(h.Sum(nil)), true
}
