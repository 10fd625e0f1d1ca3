package sigv4

import (
	"crypto/sha1" //nolint:gosec // SHA-1 is an S3 checksum algorithm, not used for security.
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"hash/crc32"
	"strconv"
	"strings"

	"github.com/minio/crc64nvme"
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

// ChecksumAlgorithms lists every supported algorithm.
var ChecksumAlgorithms = []ChecksumAlgorithm{ChecksumCRC32, ChecksumCRC32C, ChecksumCRC64NVME, ChecksumSHA1, ChecksumSHA256}

// Checksum is a checksum the client declared for the payload.
type Checksum struct {
	Algorithm ChecksumAlgorithm
	Value     string // base64 of the big-endian digest, exactly as sent
	Trailer   bool   // sent as an aws-chunked trailer rather than a request header
}

var crc32cTable = crc32.MakeTable(crc32.Castagnoli)

// checksumHeaderPrefix is the header (and trailer) name prefix of additional checksums.
const checksumHeaderPrefix = "x-amz-checksum-"

// ParseChecksumAlgorithm maps an algorithm name as clients write it in
// x-amz-checksum-algorithm or x-amz-sdk-checksum-algorithm ("crc32c", "CRC32C") to the
// algorithm.
func ParseChecksumAlgorithm(s string) (ChecksumAlgorithm, bool) {
	a := ChecksumAlgorithm(strings.ToUpper(strings.TrimSpace(s)))
	if _, ok := NewChecksumHash(a); !ok {
		return "", false
	}
	return a, true
}

// algorithmFromHeader maps "x-amz-checksum-crc32c" (any case) to ChecksumCRC32C.
func algorithmFromHeader(name string) (ChecksumAlgorithm, bool) {
	name = strings.ToLower(strings.TrimSpace(name))
	if !strings.HasPrefix(name, checksumHeaderPrefix) {
		return "", false
	}
	return ParseChecksumAlgorithm(name[len(checksumHeaderPrefix):])
}

// HeaderName is the request header (and trailer) that carries this algorithm's value.
func (a ChecksumAlgorithm) HeaderName() string {
	return checksumHeaderPrefix + strings.ToLower(string(a))
}

// NewChecksumHash returns a hash computing algorithm a; its Sum is the big-endian digest
// whose base64 S3 sends. CRC64NVME is github.com/minio/crc64nvme (the reflected NVMe
// polynomial 0xAD93D23594C93659, init and final XOR all ones; check value of "123456789" =
// 0xae8b14860a799888).
func NewChecksumHash(a ChecksumAlgorithm) (hash.Hash, bool) {
	switch a {
	case ChecksumCRC32:
		return crc32.NewIEEE(), true
	case ChecksumCRC32C:
		return crc32.New(crc32cTable), true
	case ChecksumCRC64NVME:
		return crc64nvme.New(), true
	case ChecksumSHA1:
		return sha1.New(), true //nolint:gosec // see import
	case ChecksumSHA256:
		return sha256.New(), true
	}
	return nil, false
}

// Size is the digest size of a in bytes (0 for an unknown algorithm).
func (a ChecksumAlgorithm) Size() int {
	switch a {
	case ChecksumCRC32, ChecksumCRC32C:
		return 4
	case ChecksumCRC64NVME:
		return 8
	case ChecksumSHA1:
		return 20
	case ChecksumSHA256:
		return 32
	}
	return 0
}

// validChecksumValue reports whether v is standard base64 of exactly the algorithm's size.
func validChecksumValue(a ChecksumAlgorithm, v string) bool {
	_, ok := DecodeChecksum(a, v)
	return ok
}

// DecodeChecksum returns the digest a base64 checksum value holds, or ok=false when v is not
// standard base64 of exactly the algorithm's size.
func DecodeChecksum(a ChecksumAlgorithm, v string) ([]byte, bool) {
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(b) != a.Size() || a.Size() == 0 {
		return nil, false
	}
	return b, true
}

// SplitComposite splits a multipart object's checksum value "<base64>-<parts>" (S3's
// COMPOSITE checksum type). ok is false when v has no valid "-N" suffix.
func SplitComposite(v string) (value string, parts int, ok bool) {
	i := strings.LastIndexByte(v, '-')
	if i < 0 {
		return v, 0, false
	}
	n, err := strconv.Atoi(v[i+1:])
	if err != nil || n < 1 || v[i+1] == '+' || v[i+1] == '0' {
		return v, 0, false
	}
	return v[:i], n, true
}

// ChecksumOf computes the base64 S3 checksum of data; a helper for handlers and tests.
func ChecksumOf(a ChecksumAlgorithm, data []byte) (string, bool) {
	h, ok := NewChecksumHash(a)
	if !ok {
		return "", false
	}
	h.Write(data)
	return base64.StdEncoding.EncodeToString(h.Sum(nil)), true
}

// crcParams describes a reflected CRC with all-ones init and final XOR (CRC-32, CRC-32C and
// CRC-64/NVME all are): its width and its reflected polynomial.
type crcParams struct {
	width int // 32 or 64
	poly  uint64
}

func (a ChecksumAlgorithm) crc() (crcParams, bool) {
	switch a {
	case ChecksumCRC32:
		return crcParams{32, crc32.IEEE}, true
	case ChecksumCRC32C:
		return crcParams{32, crc32.Castagnoli}, true
	case ChecksumCRC64NVME:
		return crcParams{64, 0x9a6c9329ac4bc9b5}, true
	}
	return crcParams{}, false
}

// Combinable reports whether whole-object values of a can be computed from the values of
// consecutive pieces (S3's FULL_OBJECT checksum type of multipart uploads): the CRCs.
func (a ChecksumAlgorithm) Combinable() bool {
	_, ok := a.crc()
	return ok
}

// CombineCRC returns the checksum of the concatenation A||B from crcA (the checksum of A),
// crcB (of B) and the length of B, for the CRC algorithms (Combinable). Digests are the
// big-endian bytes S3 sends (base64-decoded). It is zlib's crc32_combine generalised to a
// width: crc(A||B) = crcA·x^(8·lenB) mod P  XOR  crcB, in the reflected bit order, which
// holds for CRCs whose init and final XOR are both all ones.
func CombineCRC(a ChecksumAlgorithm, crcA, crcB []byte, lenB int64) ([]byte, bool) {
	p, ok := a.crc()
	if !ok || len(crcA) != p.width/8 || len(crcB) != p.width/8 || lenB < 0 {
		return nil, false
	}
	get := func(b []byte) uint64 {
		if p.width == 32 {
			return uint64(binary.BigEndian.Uint32(b))
		}
		return binary.BigEndian.Uint64(b)
	}
	c := p.multModP(p.xPow8N(lenB), get(crcA)) ^ get(crcB)
	out := make([]byte, p.width/8)
	if p.width == 32 {
		binary.BigEndian.PutUint32(out, uint32(c))
	} else {
		binary.BigEndian.PutUint64(out, c)
	}
	return out, true
}

// topBit is x^0 in the reflected representation (the most significant bit of the width).
func (p crcParams) topBit() uint64 { return 1 << (p.width - 1) }

// multModP returns a·b mod P, both polynomials in reflected order.
func (p crcParams) multModP(a, b uint64) uint64 {
	if a == 0 {
		return 0
	}
	m := p.topBit()
	var r uint64
	for {
		if a&m != 0 {
			r ^= b
			if a&(m-1) == 0 {
				break
			}
		}
		m >>= 1
		if b&1 != 0 {
			b = b>>1 ^ p.poly
		} else {
			b >>= 1
		}
	}
	return r
}

// xPow8N returns x^(8n) mod P in reflected order, by squaring.
func (p crcParams) xPow8N(n int64) uint64 {
	r := p.topBit()              // x^0
	sq := p.topBit() >> 8        // x^8: the power for one byte
	for k := n; k > 0; k >>= 1 { // r = Π sq^(2^i) over the set bits of n
		if k&1 != 0 {
			r = p.multModP(sq, r)
		}
		sq = p.multModP(sq, sq)
	}
	return r
}
