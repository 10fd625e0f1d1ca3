package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/dustin/go-humanize"
)

// progress reports a long operation on stderr: nothing during its first second (a quick run
// prints only its summary), then a line at most once a second — rewritten in place on a
// terminal, one line each otherwise (a log). done ends it.
type progress struct {
	w     io.Writer
	what  string
	bytes bool // done and total count bytes (else items)
	tty   bool
	now   func() time.Time

	mu      sync.Mutex
	start   time.Time
	last    time.Time // of the last line printed; zero before the first
	printed bool
}

// progressDelay is how long an operation runs before its progress is shown, and the interval
// between two lines.
const progressDelay = time.Second

func newProgress(w io.Writer, what string, bytes bool) *progress {
	return &progress{w: w, what: what, bytes: bytes, tty: isTerminal(w), now: time.Now, start: time.Now()}
}

// update reports that done of total are done (total 0: unknown).
func (p *progress) update(done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if now.Sub(p.start) < progressDelay || (!p.last.IsZero() && now.Sub(p.last) < progressDelay) {
		return
	}
	p.last = now
	line := fmt.Sprintf("%s: %s", p.what, p.amount(done))
	if total > 0 {
		line = fmt.Sprintf("%s: %d%% (%s of %s)", p.what, done*100/total, p.amount(done), p.amount(total))
	}
	line += fmt.Sprintf(", %s", now.Sub(p.start).Round(time.Second))
	if p.tty {
		fmt.Fprintf(p.w, "\r%s\x1b[K", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
	p.printed = true
}

// done ends the progress line (on a terminal) before the summary is printed.
func (p *progress) done() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.printed && p.tty {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
	return p.now().Sub(p.start)
}

func (p *progress) amount(n int64) string {
	if p.bytes {
		return humanize.IBytes(uint64(max(n, 0)))
	}
	return humanize.Comma(n)
}

// elapsed formats a duration for summary lines.
func elapsed(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}
