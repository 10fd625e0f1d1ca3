package snapshot

import (
	"encoding/binary"
	"fmt"
)

// A run's key filter (run format version 2) answers "is this key certainly not in the run?"
// so that Reader.Get of a key a run does not hold costs no chunk read. It is a plain Bloom
// filter written after the chunk table of the index:
//
//	uvarint probes (1..30) | uvarint len (bytes, a multiple of 8) | bit array
//
// Bit j is bit j&7 of byte j>>3. A key's probes are positions (h1 + i*h2) mod bits for
// i < probes, with h1 the 64-bit FNV-1a hash of the key and h2 a mix of h1 (odd), so one hash
// of the key serves every run. With filterBitsPerKey = 10 and 7 probes about 1% of absent
// keys pass.
const (
	filterBitsPerKey = 10
	filterProbes     = 7
	maxFilterProbes  = 30
)

// keyHash is the 64-bit FNV-1a hash of key: stable across processes, as filters are stored.
func keyHash(key []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range key {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// bloom is a decoded filter; bits aliases the run's index buffer and is never modified.
type bloom struct {
	probes int
	bits   []byte
}

func (f *bloom) positions(h uint64, fn func(bit uint64) bool) {
	n := uint64(len(f.bits)) * 8
	h2 := h ^ h>>33
	h2 *= 0xff51afd7ed558ccd
	h2 ^= h2 >> 33
	h2 |= 1
	for i := 0; i < f.probes; i++ {
		if !fn((h + uint64(i)*h2) % n) {
			return
		}
	}
}

// mayContain reports whether the key with hash h may be in the run. A nil filter (a
// version 1 run) may contain anything.
func (f *bloom) mayContain(h uint64) bool {
	if f == nil || len(f.bits) == 0 {
		return true
	}
	ok := true
	f.positions(h, func(bit uint64) bool {
		if f.bits[bit>>3]&(1<<(bit&7)) == 0 {
			ok = false
		}
		return ok
	})
	return ok
}

// buildFilter makes the filter of a run from the hashes of its keys.
func buildFilter(hashes []uint64) *bloom {
	nbits := uint64(len(hashes)) * filterBitsPerKey
	nbits = max(64, (nbits+63)/64*64)
	f := &bloom{probes: filterProbes, bits: make([]byte, nbits/8)}
	for _, h := range hashes {
		f.positions(h, func(bit uint64) bool {
			f.bits[bit>>3] |= 1 << (bit & 7)
			return true
		})
	}
	return f
}

func appendFilter(b []byte, f *bloom) []byte {
	b = binary.AppendUvarint(b, uint64(f.probes))
	b = binary.AppendUvarint(b, uint64(len(f.bits)))
	return append(b, f.bits...)
}

// decodeFilter reads a filter written by appendFilter, bounding every field.
func decodeFilter(d *decoder) (*bloom, error) {
	probes := d.uvarint(maxFilterProbes, "filter probes")
	bits := d.bytes(uint64(len(d.b)), "filter")
	if d.err != nil {
		return nil, d.err
	}
	if probes < 1 || len(bits) == 0 || len(bits)%8 != 0 {
		return nil, fmt.Errorf("%w: filter of %d bytes with %d probes", ErrCorrupt, len(bits), probes)
	}
	return &bloom{probes: int(probes), bits: bits}, nil
}
