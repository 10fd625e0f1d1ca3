package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// Timeouts bound the connections of one listener (config keys <listener>.read_timeout,
// .write_timeout, .idle_timeout). Zero fields take the defaults of the constructor.
type Timeouts struct {
	// Read bounds the wait for a request's headers and for its body: see NewServer and
	// NewStreamingServer for how.
	Read time.Duration
	// Write bounds the writing of a response.
	Write time.Duration
	// Idle bounds how long a keep-alive connection may wait for its next request.
	Idle time.Duration
}

// Default timeouts of the two kinds of listener.
const (
	DefaultReadTimeout           = 10 * time.Second
	DefaultWriteTimeout          = 30 * time.Second
	DefaultStreamingReadTimeout  = 30 * time.Second
	DefaultStreamingWriteTimeout = 30 * time.Second
	DefaultIdleTimeout           = 2 * time.Minute
)

// MinBodyProgress is the least a request body must deliver in every Timeouts.Read window of a
// streaming server (unless it ends): slower, the client is trickling and is cut off. At the
// default 30 s that is about 2 KiB/s, far below any working link.
const MinBodyProgress = 64 << 10

// ErrSlowBody is returned (wrapped) by the request body of a streaming server when the client
// sends less than MinBodyProgress in a Timeouts.Read window. It wraps os.ErrDeadlineExceeded,
// so it reads as a network timeout (S3 answers RequestTimeout).
var ErrSlowBody = errors.New("httpapi: request body too slow")

// NewServer wraps h in an http.Server for listeners whose requests and responses are small
// (the admin listener): the whole request, headers and body, must arrive within t.Read, and
// handling plus the whole response must finish within t.Write of the headers' arrival.
// Defaults: DefaultReadTimeout, DefaultWriteTimeout, DefaultIdleTimeout.
func NewServer(h http.Handler, t Timeouts) *http.Server {
	t = t.withDefaults(DefaultReadTimeout, DefaultWriteTimeout)
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.Read,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
	}
}

// NewStreamingServer wraps h in an http.Server for listeners that move large bodies (the S3
// port), where no deadline may cap a transfer as a whole. Instead:
//
//   - the request headers must arrive within t.Read;
//   - from the start of a request, its body is read under a deadline t.Read ahead that every
//     read pushes forward, so a client that stops sending is cut off t.Read after its last
//     byte, also when the handler never reads the body (net/http then drains it after the
//     response — before writing it, for bodies under 256 KiB — and without this deadline a
//     stalled client held that drain, and with it the connection, forever);
//   - a body must also deliver MinBodyProgress bytes in every t.Read window (or end), else
//     its reads fail with ErrSlowBody and the connection is closed: a trickling client is cut
//     off within two windows;
//   - every response write must make progress within t.Write (counted from the read deadline
//     when that is later, since net/http may first drain the body);
//   - idle keep-alive connections close after t.Idle.
//
// Defaults: DefaultStreamingReadTimeout, DefaultStreamingWriteTimeout, DefaultIdleTimeout.
func NewStreamingServer(h http.Handler, t Timeouts) *http.Server {
	t = t.withDefaults(DefaultStreamingReadTimeout, DefaultStreamingWriteTimeout)
	return &http.Server{
		Handler:           progressHandler{h: h, t: t},
		ReadHeaderTimeout: t.Read,
		IdleTimeout:       t.Idle,
	}
}

func (t Timeouts) withDefaults(read, write time.Duration) Timeouts {
	if t.Read <= 0 {
		t.Read = read
	}
	if t.Write <= 0 {
		t.Write = write
	}
	if t.Idle <= 0 {
		t.Idle = DefaultIdleTimeout
	}
	return t
}

// progressHandler applies NewStreamingServer's per-progress deadlines around h.
type progressHandler struct {
	h http.Handler
	t Timeouts
}

func (p progressHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d := &deadlines{rc: http.NewResponseController(w)}
	now := time.Now()
	// net/http resets only the read deadline between requests of a keep-alive connection.
	_ = d.rc.SetWriteDeadline(time.Time{})
	d.setRead(now.Add(p.t.Read))
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &progressBody{body: r.Body, d: d, read: p.t.Read, since: now}
	}
	p.h.ServeHTTP(&progressWriter{ResponseWriter: w, d: d, write: p.t.Write}, r)
}

// deadlines sets one connection's deadlines for a request and remembers the read deadline.
type deadlines struct {
	rc     *http.ResponseController
	readDL atomic.Int64 // unix nanoseconds of the read deadline in force
}

func (d *deadlines) setRead(t time.Time) {
	d.readDL.Store(t.UnixNano())
	_ = d.rc.SetReadDeadline(t)
}

// setWrite gives a write t.Write to make progress, counted from now or — when the read
// deadline is later — from the read deadline: net/http drains an unread body before it writes
// the response headers, and that drain may take until the read deadline.
func (d *deadlines) setWrite(write time.Duration) {
	from := time.Now()
	if rd := time.Unix(0, d.readDL.Load()); rd.After(from) {
		from = rd
	}
	_ = d.rc.SetWriteDeadline(from.Add(write))
}

// progressBody pushes the connection's read deadline ahead before every read and cuts off a
// body that delivers less than MinBodyProgress per read window. It is the innermost reader
// of the body, so its deadline is the one in force whatever the handler sets around it.
type progressBody struct {
	body  io.ReadCloser
	d     *deadlines
	read  time.Duration
	since time.Time // start of the current window
	got   int       // bytes delivered in the current window
	err   error     // sticky once the body was cut off
}

func (b *progressBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	b.d.setRead(time.Now().Add(b.read))
	n, err := b.body.Read(p)
	b.got += n
	if err != nil {
		return n, err // io.EOF ends the body; a deadline or connection error speaks for itself
	}
	if now := time.Now(); now.Sub(b.since) >= b.read {
		if b.got < MinBodyProgress {
			b.err = fmt.Errorf("%w: %d bytes in the last %s, at least %d required: %w",
				ErrSlowBody, b.got, now.Sub(b.since).Round(time.Millisecond), MinBodyProgress, os.ErrDeadlineExceeded)
			// Nothing more is read from this connection: net/http's drain fails at once and
			// the connection closes after the response.
			b.d.setRead(time.Unix(1, 0))
			return n, b.err
		}
		b.since, b.got = now, 0
	}
	return n, nil
}

func (b *progressBody) Close() error { return b.body.Close() }

// progressWriter gives every response write t.Write to make progress.
type progressWriter struct {
	http.ResponseWriter
	d     *deadlines
	write time.Duration
}

func (w *progressWriter) Write(p []byte) (int, error) {
	w.d.setWrite(w.write)
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController (the handler's own deadlines, Flush) reach the
// underlying writer.
func (w *progressWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
