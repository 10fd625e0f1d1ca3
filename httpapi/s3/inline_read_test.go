package s3

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// TestReadInline: a body ends within the limit or not, whether its reader returns io.EOF with
// its last bytes or on a read of its own, and a reader's error is passed on.
func TestReadInline(t *testing.T) {
	h := &handler{inlineCap: 16}
	const lim = 8
	for _, tc := range []struct {
		size  int
		ended bool
	}{{0, true}, {1, true}, {lim, true}, {lim + 1, false}, {lim + 5, false}} {
		body := bytes.Repeat([]byte{'x'}, tc.size)
		for name, r := range map[string]io.Reader{
			"eof apart":     bytes.NewReader(body),
			"eof with data": iotest.DataErrReader(bytes.NewReader(body)),
			"one byte":      iotest.OneByteReader(bytes.NewReader(body)),
		} {
			bp, n, ended, err := h.readInline(r, lim)
			if err != nil || ended != tc.ended || n != min(tc.size, lim+1) {
				t.Errorf("%d bytes, %s: n=%d ended=%v err=%v; want n=%d ended=%v", tc.size, name, n, ended, err, min(tc.size, lim+1), tc.ended)
			}
			h.putInlineBuf(bp)
		}
	}
	boom := errors.New("boom")
	if _, _, _, err := h.readInline(io.MultiReader(bytes.NewReader([]byte("abc")), iotest.ErrReader(boom)), lim); !errors.Is(err, boom) {
		t.Errorf("a failing body: %v, want boom", err)
	}
}
