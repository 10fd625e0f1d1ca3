package blob

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden-v1.blob")

const goldenPath = "testdata/golden-v1.blob"

// goldenData is 5000 bytes: one full 4 KiB block and a short one.
func goldenData() []byte {
	b := make([]byte, 5000)
	for i := range b {
		b[i] = byte(i*31 + 7)
	}
	return b
}

// TestGolden pins format version 1: a Put of goldenData produces exactly the committed file,
// and the committed file reads back as goldenData. Regenerate with -update only when the
// format version changes.
func TestGolden(t *testing.T) {
	s := openTest(t, Options{BlockSize: 4096})
	data := goldenData()
	if _, err := s.Put(context.Background(), "golden", bytes.NewReader(data), expectOf(data)); err != nil {
		t.Fatal(err)
	}
	produced, err := os.ReadFile(s.path("golden"))
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(goldenPath, produced, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(produced, golden) {
		t.Fatalf("Put output differs from %s (format changed without a version bump?)", goldenPath)
	}
	if int64(len(golden)) != fileSize(5000, 4096) {
		t.Fatalf("golden is %d bytes, want %d", len(golden), fileSize(5000, 4096))
	}
	// The committed file, planted in a fresh store, reads back.
	s2 := openTest(t, Options{})
	p := s2.path("planted")
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, golden, 0o640); err != nil {
		t.Fatal(err)
	}
	r, info, err := s2.Open("planted")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, data) || info.Size != 5000 {
		t.Fatalf("golden read: %d bytes, %v", len(got), err)
	}
	if err := s2.Verify("planted"); err != nil {
		t.Fatal(err)
	}
}

// TestHeaderDamage flips every header byte and cuts the file at every structural boundary:
// each must be ErrCorrupt at Open, never a panic or a wrong read.
func TestHeaderDamage(t *testing.T) {
	golden, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	s := openTest(t, Options{})
	p := s.path("d")
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		t.Fatal(err)
	}
	try := func(name string, b []byte) {
		t.Helper()
		if err := os.WriteFile(p, b, 0o640); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Open("d"); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Open = %v, want ErrCorrupt", name, err)
		}
	}
	for i := range headerSize {
		b := bytes.Clone(golden)
		b[i] ^= 0x01
		try("flip header byte "+strconv.Itoa(i), b)
	}
	for _, cut := range []int{0, 1, 4, 91, 95, 96, 97, 96 + 4096, 96 + 4100, len(golden) - 4, len(golden) - 1} {
		try("cut at "+strconv.Itoa(cut), golden[:cut])
	}
	try("zeroed (preallocated) header", append(make([]byte, headerSize), golden[headerSize:]...))
}

// TestGoldenCRCOnly pins the CRC-only variant of format version 1: a CRC-only Put of
// goldenData differs from the committed golden file only in the flags (bit 0), the zeroed MD5
// and SHA-256 fields and the header CRC.
func TestGoldenCRCOnly(t *testing.T) {
	golden, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	s := openTest(t, Options{BlockSize: 4096})
	data := goldenData()
	sent := func() (Digests, error) { return digestsOf(data, true), nil }
	if _, err := s.Put(context.Background(), "golden", bytes.NewReader(data), Expect{Size: 5000, Sent: sent}); err != nil {
		t.Fatal(err)
	}
	produced, err := os.ReadFile(s.path("golden"))
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(golden)
	want[6], want[7] = 1, 0
	clear(want[24:72])
	binary.LittleEndian.PutUint32(want[92:96], crc32.Checksum(want[:92], castagnoli))
	if !bytes.Equal(produced, want) {
		t.Fatalf("CRC-only header %x, want %x", produced[:headerSize], want[:headerSize])
	}
}

// TestDecodeHeaderFlags: flag bit 0 decodes as CRC-only; any other bit, and a CRC-only header
// whose MD5 or SHA-256 is not zero, is ErrCorrupt (with a valid header CRC, so that it is the
// flags check that rejects them).
func TestDecodeHeaderFlags(t *testing.T) {
	base := header{blockSize: 4096, size: 10, crc32c: 7}
	resum := func(b []byte) []byte {
		binary.LittleEndian.PutUint32(b[92:96], crc32.Checksum(b[:92], castagnoli))
		return b
	}
	crcOnly := base
	crcOnly.crcOnly = true
	h, err := decodeHeader(crcOnly.encode())
	if err != nil || h != crcOnly {
		t.Fatalf("CRC-only header decodes as %+v, %v", h, err)
	}
	if b := crcOnly.encode(); binary.LittleEndian.Uint16(b[6:8]) != 1 {
		t.Fatalf("CRC-only flags = %#x, want 1", b[6:8])
	}
	if h, err := decodeHeader(base.encode()); err != nil || h.crcOnly {
		t.Fatalf("hashed header decodes as %+v, %v", h, err)
	}
	for _, c := range []struct {
		name string
		edit func(b []byte)
	}{
		{"flag bit 1", func(b []byte) { b[6] = 2 }},
		{"flag bit 15", func(b []byte) { b[7] = 0x80 }},
		{"CRC-only and bit 3", func(b []byte) { b[6] = 1 | 8 }},
		{"CRC-only with an MD5", func(b []byte) { b[6] = 1; b[24+15] = 1 }},
		{"CRC-only with a SHA-256", func(b []byte) { b[6] = 1; b[40] = 0x10 }},
	} {
		b := base.encode()
		c.edit(b)
		if _, err := decodeHeader(resum(b)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: decodeHeader = %v, want ErrCorrupt", c.name, err)
		}
	}
}
