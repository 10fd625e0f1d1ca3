package blob

import (
	"bytes"
	"context"
	"errors"
	"flag"
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
