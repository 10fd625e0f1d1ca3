package blob

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// On-disk layout of one blob file (see doc.go for the full description):
//
//	+------------------------------+ 0
//	| header (96 bytes)            |
//	+------------------------------+ 96
//	| block 0 data (BlockSize)     |
//	| crc32c(le64(0) ‖ data) u32LE |
//	+------------------------------+
//	| block 1 data ...             |
//	| ...                          |
//	| block n-1 data (≤ BlockSize) |
//	| crc32c(le64(n-1) ‖ data)     |
//	+------------------------------+ 96 + size + 4·n
//
// Header fields (little endian):
//
//	off len field
//	  0   4 magic "NBLB"
//	  4   2 version (1)
//	  6   2 flags: bit 0 = CRC-only (MD5 and SHA-256 fields zero); other bits zero
//	  8   4 block size in bytes
//	 12   4 reserved, zero
//	 16   8 data size in bytes
//	 24  16 MD5 of the data (zero if CRC-only)
//	 40  32 SHA-256 of the data (zero if CRC-only)
//	 72   4 CRC32C of the data
//	 76  16 reserved, zero
//	 92   4 CRC32C of header bytes 0..91
//
// Verify checks every block CRC and the whole-data CRC32C, and also MD5 and SHA-256 unless
// the blob is CRC-only.
const (
	headerSize    = 96
	formatVersion = 1
	blockCRCSize  = 4
	magic         = "NBLB"

	// maxBlockSize bounds the block size a header may claim, so a corrupt header cannot make a
	// reader allocate a huge buffer.
	maxBlockSize = 16 << 20
	minBlockSize = 4 << 10

	// flagCRCOnly (header flags bit 0): the blob was stored without MD5 and SHA-256
	// (Digests.CRCOnly); those header fields are zero and Verify checks the CRC32C instead.
	flagCRCOnly = 1 << 0
	// knownFlags are the flag bits this version understands; any other bit is ErrCorrupt.
	knownFlags = flagCRCOnly
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// header is the decoded fixed header.
type header struct {
	blockSize uint32
	size      int64
	md5       [16]byte
	sha256    [32]byte
	crc32c    uint32
	crcOnly   bool // flagCRCOnly: md5 and sha256 are zero
}

func (h *header) encode() []byte {
	b := make([]byte, headerSize)
	copy(b[0:4], magic)
	binary.LittleEndian.PutUint16(b[4:6], formatVersion)
	if h.crcOnly {
		binary.LittleEndian.PutUint16(b[6:8], flagCRCOnly)
	}
	binary.LittleEndian.PutUint32(b[8:12], h.blockSize)
	binary.LittleEndian.PutUint64(b[16:24], uint64(h.size))
	copy(b[24:40], h.md5[:])
	copy(b[40:72], h.sha256[:])
	binary.LittleEndian.PutUint32(b[72:76], h.crc32c)
	binary.LittleEndian.PutUint32(b[92:96], crc32.Checksum(b[:92], castagnoli))
	return b
}

// decodeHeader validates and decodes b. Any defect is ErrCorrupt: a visible blob file always
// has a complete header (it is written and synced before the rename that publishes it).
func decodeHeader(b []byte) (header, error) {
	var h header
	if len(b) != headerSize {
		return h, fmt.Errorf("%w: short header", ErrCorrupt)
	}
	if string(b[0:4]) != magic {
		return h, fmt.Errorf("%w: bad magic", ErrCorrupt)
	}
	if got, want := crc32.Checksum(b[:92], castagnoli), binary.LittleEndian.Uint32(b[92:96]); got != want {
		return h, fmt.Errorf("%w: header checksum", ErrCorrupt)
	}
	if v := binary.LittleEndian.Uint16(b[4:6]); v != formatVersion {
		return h, fmt.Errorf("%w: unknown format version %d", ErrCorrupt, v)
	}
	flags := binary.LittleEndian.Uint16(b[6:8])
	if flags&^knownFlags != 0 {
		return h, fmt.Errorf("%w: unknown header flags %#04x", ErrCorrupt, flags)
	}
	h.crcOnly = flags&flagCRCOnly != 0
	h.blockSize = binary.LittleEndian.Uint32(b[8:12])
	if h.blockSize < minBlockSize || h.blockSize > maxBlockSize {
		return h, fmt.Errorf("%w: block size %d out of range", ErrCorrupt, h.blockSize)
	}
	size := binary.LittleEndian.Uint64(b[16:24])
	if size > 1<<50 {
		return h, fmt.Errorf("%w: size %d out of range", ErrCorrupt, size)
	}
	h.size = int64(size)
	copy(h.md5[:], b[24:40])
	copy(h.sha256[:], b[40:72])
	h.crc32c = binary.LittleEndian.Uint32(b[72:76])
	if h.crcOnly && (h.md5 != [16]byte{} || h.sha256 != [32]byte{}) {
		return h, fmt.Errorf("%w: CRC-only header with a non-zero MD5 or SHA-256", ErrCorrupt)
	}
	return h, nil
}

// numBlocks is the number of blocks holding size bytes.
func numBlocks(size int64, bs uint32) int64 { return (size + int64(bs) - 1) / int64(bs) }

// fileSize is the exact length of a blob file holding size bytes.
func fileSize(size int64, bs uint32) int64 {
	return headerSize + size + blockCRCSize*numBlocks(size, bs)
}

// blockCRC is the CRC32C of block index i: the index (8 bytes LE) then the data, so a block
// copied to the wrong place does not verify.
func blockCRC(i int64, data []byte) uint32 {
	var idx [8]byte
	binary.LittleEndian.PutUint64(idx[:], uint64(i))
	return crc32.Update(crc32.Update(0, castagnoli, idx[:]), castagnoli, data)
}
