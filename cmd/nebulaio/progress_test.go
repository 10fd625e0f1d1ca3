package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestProgress: nothing in the first second, then at most one line a second with the
// percentage, the amounts and the time taken; one line each on a log, rewritten in place on a
// terminal and cleared by done.
func TestProgress(t *testing.T) {
	for _, tty := range []bool{false, true} {
		var out bytes.Buffer
		now := time.Unix(1000, 0)
		p := newProgress(&out, "wal verify", true)
		p.tty, p.now, p.start = tty, func() time.Time { return now }, now
		p.update(1<<20, 8<<20) // at once: quiet
		now = now.Add(1500 * time.Millisecond)
		p.update(2<<20, 8<<20) // printed
		now = now.Add(500 * time.Millisecond)
		p.update(3<<20, 8<<20) // within a second of the last line: quiet
		now = now.Add(time.Second)
		p.update(4<<20, 0) // unknown total
		p.done()
		got := out.String()
		if tty {
			want := "\rwal verify: 25% (2.0 MiB of 8.0 MiB), 2s\x1b[K\rwal verify: 4.0 MiB, 3s\x1b[K\r\x1b[K"
			if got != want {
				t.Errorf("on a terminal: %q, want %q", got, want)
			}
			continue
		}
		want := "wal verify: 25% (2.0 MiB of 8.0 MiB), 2s\nwal verify: 4.0 MiB, 3s\n"
		if got != want {
			t.Errorf("on a log: %q, want %q", got, want)
		}
	}
	// Items rather than bytes; a quick run prints nothing.
	var out bytes.Buffer
	p := newProgress(&out, "blobs", false)
	p.update(5, 10)
	p.done()
	if out.Len() != 0 {
		t.Errorf("a quick run printed %q", out.String())
	}
	p = newProgress(&out, "blobs", false)
	p.start = p.start.Add(-2 * time.Second)
	p.update(12345, 20000)
	if !strings.HasPrefix(out.String(), "blobs: 61% (12,345 of 20,000), 2s") {
		t.Errorf("items: %q", out.String())
	}
}
