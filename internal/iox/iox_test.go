package iox

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestFill(t *testing.T) {
	p := make([]byte, 4)
	if n, err := Fill(iotest.OneByteReader(strings.NewReader("abcdef")), p); n != 4 || err != nil || string(p) != "abcd" {
		t.Fatalf("full: %d %v %q", n, err, p)
	}
	if n, err := Fill(strings.NewReader("ab"), p); n != 2 || err != io.EOF {
		t.Fatalf("short source: %d %v, want 2 io.EOF", n, err)
	}
	cut := io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(io.ErrUnexpectedEOF))
	if n, err := Fill(cut, p); n != 3 || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("cut source: %d %v, want 3 io.ErrUnexpectedEOF passed on", n, err)
	}
}
