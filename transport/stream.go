package transport

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nebulaio/nebulaio/internal/iox"
)

// HandleStream registers h for uploads to method (see CallStream). It panics like Handle.
func (t *Transport) HandleStream(method string, h StreamHandler) {
	checkMethod(method, h == nil)
	t.hmu.Lock()
	defer t.hmu.Unlock()
	if _, dup := t.uploads[method]; dup {
		panic("transport: HandleStream: method registered twice: " + method)
	}
	t.uploads[method] = h
}

// HandleDownload registers h for downloads from method (see OpenStream). It panics like Handle.
func (t *Transport) HandleDownload(method string, h DownloadHandler) {
	checkMethod(method, h == nil)
	t.hmu.Lock()
	defer t.hmu.Unlock()
	if _, dup := t.downloads[method]; dup {
		panic("transport: HandleDownload: method registered twice: " + method)
	}
	t.downloads[method] = h
}

// CallStream sends header, then streams body in frames of up to 64 KiB (never buffering it
// whole) on a connection of its own for the transfer (an idle one is reused), and returns the
// StreamHandler's reply. The first 64 KiB are read before anything is sent: a body that ends
// within them goes out in one write with its open and end frames. ctx bounds the whole
// transfer; each read and write is also bounded by Config.StreamIdleTimeout, and the wait for the
// reply after the last byte by Config.CallTimeout when ctx has no deadline. If the handler
// replies before the body is done, sending stops and its reply (or error) is returned. If
// body.Read fails, the handler's reader sees ErrStreamAborted and CallStream returns the read
// error. A body that is a TrailerReader sends its trailer in the end frame (the handler gets it
// from UploadTrailer); a trailer over MaxTrailerSize fails the call like a failed read, with an
// error wrapping ErrFrameTooLarge. Other errors are those of Call.
func (t *Transport) CallStream(ctx context.Context, addr, method string, header []byte, body io.Reader) ([]byte, error) {
	start := time.Now()
	resp, err := t.callStream(ctx, addr, method, header, body)
	t.metrics.Observe(MetricRPCSeconds, time.Since(start).Seconds())
	if err != nil {
		t.metrics.Counter(MetricRPCErrors, 1)
	}
	return resp, err
}

// TrailerReader is an upload body with a trailer: after Read returned io.EOF, CallStream calls
// Trailer once and sends its bytes in the stream's end frame (at most MaxTrailerSize bytes; a
// longer trailer fails the call with an error before the end frame goes out, and the handler's
// reader sees ErrStreamAborted).
//
// It lets a sender pass what it learnt while sending (digests of the bytes, say) without
// buffering the body or a second round trip. Trailer is not called when Read failed, nor when
// the handler's early reply stopped the sending before the body's end.
type TrailerReader interface {
	io.Reader
	Trailer() []byte
}

// MaxTrailerSize bounds a trailer.
const MaxTrailerSize = 4 << 10

// UploadTrailer returns the trailer the sender put in the end frame of body, the reader a
// StreamHandler was given, once body has returned io.EOF; nil before that, when the end frame was
// empty, or when body is not an upload body. The returned slice is the caller's (a copy).
//
// Like body's Read, it is for the handler's goroutine, before the handler returns. A body
// wrapped in another reader (io.LimitReader, say) is not an upload body: pass the original.
func UploadTrailer(body io.Reader) []byte {
	b, ok := body.(*uploadBody)
	if !ok {
		return nil
	}
	return bytes.Clone(b.trailer) // set only together with b.err = io.EOF
}

// endOfBody returns the frame that ends an upload whose body's Read returned rerr (io.EOF or a
// failure), and the error CallStream then returns: the end frame carrying body's trailer (if it
// is a TrailerReader) and a nil error, or an abort frame with the body's failure or the
// trailer's excess.
func endOfBody(body io.Reader, rerr error) ([]byte, error) {
	if rerr == io.EOF {
		tr, ok := body.(TrailerReader)
		if !ok {
			return sealFrame(newFrame(0), frameEnd, 0), nil
		}
		trailer := tr.Trailer()
		if len(trailer) <= MaxTrailerSize {
			return encodeBytes(frameEnd, 0, trailer), nil
		}
		rerr = fmt.Errorf("%w: upload trailer of %d bytes (max %d)", ErrFrameTooLarge, len(trailer), MaxTrailerSize)
	} else {
		rerr = fmt.Errorf("reading upload body: %w", rerr)
	}
	return encodeBytes(frameAbort, 0, []byte(rerr.Error())), rerr
}

// streamConn is a connection for streaming transfers. After a transfer that ends at a frame
// boundary both sides keep it for the next one: the client in its idle list (with a goroutine
// watching for the server closing it), the server waiting for the next open frame.
type streamConn struct {
	addr string
	conn net.Conn     // TLS or trackedConn
	tc   *trackedConn // the raw connection
	br   *bufio.Reader

	// While idle: since when, and the watcher goroutine's state.
	idleSince time.Time
	watchDone chan struct{} // closed when the watcher returns
	dead      atomic.Bool   // the watcher saw EOF, unexpected bytes or expiry: never reuse
	claimed   atomic.Bool   // take is waking the watcher: its timeout is not an expiry
}

// getStream returns an idle connection to addr that is still good, or dials a new one.
func (t *Transport) getStream(ctx context.Context, addr string) (*streamConn, bool, error) {
	for {
		t.mu.Lock()
		idle := t.idle[addr]
		var sc *streamConn
		if n := len(idle); n > 0 {
			sc = idle[n-1]
			t.idle[addr] = idle[:n-1]
		}
		t.mu.Unlock()
		if sc == nil {
			break
		}
		if sc.take(t.cfg.StreamIdleTimeout / 2) {
			return sc, true, nil
		}
	}
	conn, tc, err := t.dial(ctx, addr, muxStream)
	if err != nil {
		return nil, false, err
	}
	return &streamConn{addr: addr, conn: conn, tc: tc, br: bufio.NewReaderSize(conn, connBufSize)}, false, nil
}

// take stops the idle watcher and reports whether sc can carry another transfer; if not, it is
// closed.
func (sc *streamConn) take(maxIdle time.Duration) bool {
	sc.claimed.Store(true)
	_ = sc.conn.SetReadDeadline(time.Unix(1, 0)) // wakes the watcher with a timeout
	<-sc.watchDone
	_ = sc.conn.SetReadDeadline(time.Time{}) // before idleAlive: a past deadline fails any read
	if sc.dead.Load() || sc.tc.closed.Load() || sc.br.Buffered() > 0 || time.Since(sc.idleSince) > maxIdle || !sc.tc.idleAlive() {
		_ = sc.conn.Close()
		return false
	}
	return true
}

// putIdle keeps sc for reuse, or closes it when the Transport closed or addr already has
// Config.MaxIdleStreams idle connections. An idle connection expires: after half of
// Config.StreamIdleTimeout (before the server's own idle timeout ends it) its watcher closes it
// and takes it off the list, so a burst's connections do not outlive it for long.
func (t *Transport) putIdle(sc *streamConn) {
	_ = sc.conn.SetWriteDeadline(time.Time{})
	sc.idleSince = time.Now()
	sc.watchDone = make(chan struct{})
	sc.claimed.Store(false)
	_ = sc.conn.SetReadDeadline(sc.idleSince.Add(t.cfg.StreamIdleTimeout / 2))
	// The server never writes to an idle connection: a read that returns anything but take's
	// wake-up timeout means it closed (or broke) the connection, or the connection expired.
	if !t.spawn(func() {
		defer close(sc.watchDone)
		_, err := sc.br.Peek(1)
		if isTimeout(err) && sc.claimed.Load() {
			return
		}
		sc.dead.Store(true)
		t.dropIdle(sc)
		_ = sc.conn.Close()
	}) {
		_ = sc.conn.Close()
		return
	}
	t.mu.Lock()
	if t.closed || len(t.idle[sc.addr]) >= t.cfg.MaxIdleStreams {
		t.mu.Unlock()
		_ = sc.conn.Close() // the watcher sees the error and ends
		return
	}
	t.idle[sc.addr] = append(t.idle[sc.addr], sc)
	t.mu.Unlock()
}

// dropIdle takes sc off its address's idle list, if it is there.
func (t *Transport) dropIdle(sc *streamConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	idle := t.idle[sc.addr]
	for i, c := range idle {
		if c == sc {
			idle = append(idle[:i], idle[i+1:]...)
			break
		}
	}
	if len(idle) == 0 {
		delete(t.idle, sc.addr)
	} else {
		t.idle[sc.addr] = idle
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// openStream sends the open frame, followed in the same write by the frames in follow (if
// any), on a pooled or new connection. A reused connection that fails the write is replaced by
// a fresh dial (nothing was delivered on it).
func (t *Transport) openStream(ctx context.Context, addr, method string, typ byte, header, follow []byte) (*streamConn, func() bool, error) {
	if method == "" || len(method) > 255 {
		return nil, nil, fmt.Errorf("transport: method name of %d bytes (want 1 to 255)", len(method))
	}
	if 5+len(method)+len(header) > t.cfg.MaxFrameSize {
		return nil, nil, fmt.Errorf("%w: stream header of %d bytes for %s", ErrFrameTooLarge, len(header), method)
	}
	if t.faults.blocked(t.addr, addr) {
		return nil, nil, fmt.Errorf("%w: %s: partitioned (injected)", ErrUnreachable, addr)
	}
	for {
		sc, reused, err := t.getStream(ctx, addr)
		if err != nil {
			return nil, nil, err
		}
		conn := sc.conn
		stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
		var timeout time.Duration
		if dl, ok := ctx.Deadline(); ok {
			timeout = time.Until(dl)
		}
		_ = conn.SetWriteDeadline(time.Now().Add(t.cfg.StreamIdleTimeout))
		f := encodeRequest(typ, 0, timeout, method, header)
		if len(follow) > 0 {
			f = append(f, follow...)
		}
		if err := writeCorked(conn, f); err != nil {
			stop()
			_ = conn.Close()
			if reused && ctx.Err() == nil && !t.isClosed() {
				continue
			}
			return nil, nil, t.streamErr(ctx, addr, err)
		}
		return sc, stop, nil
	}
}

// streamErr maps a failed read or write of a stream connection.
func (t *Transport) streamErr(ctx context.Context, addr string, err error) error {
	switch {
	case t.isClosed():
		return ErrClosed
	case ctx.Err() != nil:
		return ctxErr(ctx, "stream "+addr)
	case errors.Is(err, io.EOF):
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: stream %s: %w", ErrConnLost, addr, err)
}

func (t *Transport) callStream(ctx context.Context, addr, method string, header []byte, body io.Reader) ([]byte, error) {
	bufp := getChunk()
	defer putChunk(bufp)
	buf := *bufp
	// The first chunk is read before anything is sent, so that a body of one chunk (most
	// objects) goes out in one write, open, data and end frames together, rather than three.
	var bodyErr error
	finished := false // the body ended with an end or abort frame: the server's reader is at a boundary
	n, rerr := iox.Fill(body, buf[frameHeaderSize:])
	var first []byte // the first data frame, and the end or abort frame when the body is done
	if n > 0 {
		first = sealFrame(buf[:frameHeaderSize+n], frameData, 0)
	}
	whole := rerr != nil // first holds the whole body, with its end (or abort) frame
	if whole {
		var end []byte
		end, bodyErr = endOfBody(body, rerr)
		first = append(first, end...)
	}
	follow := first
	if !whole {
		follow = nil // a long body: the open frame goes alone, then the data streams
	}
	sc, stop, err := t.openStream(ctx, addr, method, frameUploadOpen, header, follow)
	if err != nil {
		return nil, err
	}
	finished = whole
	conn := sc.conn
	reusable := false
	defer func() {
		if stop() && reusable {
			t.putIdle(sc)
			return
		}
		_ = conn.Close()
	}()
	replies := make(chan result, 1)
	if !t.spawn(func() {
		typ, _, payload, err := readFrame(sc.br, t.cfg.MaxFrameSize, nil)
		if err == nil && typ != frameResponse && typ != frameError {
			err = fmt.Errorf("%w: unexpected type %d in stream reply", ErrBadFrame, typ)
		}
		replies <- result{typ: typ, payload: payload, err: err}
	}) {
		return nil, ErrClosed
	}

	write := func(f []byte) error { return t.writeStreamFrame(conn, f) }
	var early *result
	sending := !whole
	if sending && write(first) != nil {
		sending = false // the reply (an error, or the connection's failure) says why
	}
send:
	for sending {
		select {
		case r := <-replies:
			// The handler replied before the body ended: stop sending, and say so, so the
			// server's drain ends at a frame boundary.
			early = &r
			finished = write(encodeBytes(frameAbort, 0, []byte("reply received"))) == nil
			break send
		default:
		}
		n, rerr := body.Read(buf[frameHeaderSize:])
		if n > 0 {
			if write(sealFrame(buf[:frameHeaderSize+n], frameData, 0)) != nil {
				break send // the reply (an error, or the connection's failure) says why
			}
		}
		if rerr != nil {
			var end []byte
			end, bodyErr = endOfBody(body, rerr)
			finished = write(end) == nil
			break send
		}
	}

	var r result
	if early != nil {
		r = *early
	} else {
		var timeout <-chan time.Time
		if _, ok := ctx.Deadline(); !ok {
			tm := time.NewTimer(t.cfg.CallTimeout)
			defer tm.Stop()
			timeout = tm.C
		}
		select {
		case r = <-replies:
		case <-ctx.Done():
			return nil, ctxErr(ctx, "stream "+addr+" "+method)
		case <-timeout:
			return nil, fmt.Errorf("%w: stream %s %s: no reply within %v: %w", ErrTimeout, addr, method, t.cfg.CallTimeout, context.DeadlineExceeded)
		}
	}
	reusable = finished && r.err == nil
	switch {
	case bodyErr != nil:
		return nil, fmt.Errorf("transport: upload to %s %s: %w", addr, method, bodyErr)
	case r.err != nil:
		return nil, t.streamErr(ctx, addr, r.err)
	case r.typ == frameError:
		return nil, decodeError(r.payload, method)
	}
	return r.payload, nil
}

// OpenStream asks method on addr for a download and returns its bytes as a stream. It returns
// once the first bytes (or the end, or the handler's error) arrive. ctx bounds the whole
// transfer, including the reading; each read is also bounded by Config.StreamIdleTimeout. The
// reader returns io.EOF after a clean end, a *RemoteError if the handler failed mid-way, or an
// error wrapping ErrConnLost. Close it when done; closing early cancels the handler's context.
func (t *Transport) OpenStream(ctx context.Context, addr, method string, header []byte) (io.ReadCloser, error) {
	sc, stop, err := t.openStream(ctx, addr, method, frameDownloadOpen, header, nil)
	if err != nil {
		return nil, err
	}
	d := &download{t: t, ctx: ctx, addr: addr, method: method, sc: sc, stop: stop, bufp: getChunk()}
	d.buf = (*d.bufp)[:streamChunkSize]
	if err := d.next(); err != nil && err != io.EOF {
		_ = d.Close()
		return nil, err
	}
	return d, nil
}

// download is the reader OpenStream returns.
type download struct {
	t      *Transport
	ctx    context.Context
	addr   string
	method string
	sc     *streamConn
	stop   func() bool
	bufp   *[]byte // pooled; returned by Close
	buf    []byte  // reused for every data frame
	cur    []byte  // unread part of the current data frame (aliases buf)
	err    error   // sticky: io.EOF, a *RemoteError or a connection error
	clean  bool    // the stream ended with an end or error frame: the connection is reusable
	closed bool
}

// next reads frames until data arrives or the stream ends.
func (d *download) next() error {
	for len(d.cur) == 0 && d.err == nil {
		_ = d.sc.conn.SetReadDeadline(time.Now().Add(d.t.cfg.StreamIdleTimeout))
		typ, _, payload, err := readFrame(d.sc.br, d.t.cfg.MaxFrameSize, d.buf)
		switch {
		case err != nil:
			d.err = d.t.streamErr(d.ctx, d.addr, err)
		case typ == frameData:
			d.cur = payload
		case typ == frameEnd:
			d.err, d.clean = io.EOF, true
		case typ == frameError:
			d.err, d.clean = decodeError(payload, d.method), true
		default:
			d.err = d.t.streamErr(d.ctx, d.addr, fmt.Errorf("%w: unexpected type %d in download", ErrBadFrame, typ))
		}
	}
	return d.err
}

func (d *download) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if len(d.cur) == 0 {
		if err := d.next(); len(d.cur) == 0 {
			return 0, err
		}
	}
	n := copy(p, d.cur)
	d.cur = d.cur[n:]
	return n, nil
}

// Close ends the download. A stream read to its end keeps its connection for reuse; one closed
// early closes it, which cancels the handler.
func (d *download) Close() error {
	if d.closed {
		return nil
	}
	d.closed = true
	if d.stop() && d.clean && len(d.cur) == 0 {
		d.t.putIdle(d.sc)
	} else {
		_ = d.sc.conn.Close()
	}
	if d.err == nil {
		d.err = ErrClosed
	}
	d.cur, d.buf = nil, nil
	putChunk(d.bufp)
	return nil
}

// serveStream serves one inbound stream connection: a sequence of uploads and downloads, one at
// a time, for as long as each ends at a frame boundary and the next open frame comes within
// Config.StreamIdleTimeout.
func (t *Transport) serveStream(conn net.Conn) {
	defer conn.Close()
	br := bufio.NewReaderSize(conn, connBufSize)
	for {
		_ = conn.SetReadDeadline(time.Now().Add(t.cfg.StreamIdleTimeout))
		typ, _, payload, err := readFrame(br, t.cfg.MaxFrameSize, nil)
		if err != nil {
			return
		}
		timeout, method, header, err := decodeRequest(payload)
		if err != nil {
			return
		}
		ctx, cancel := context.WithCancel(t.ctx)
		if timeout > 0 {
			ctx, cancel = context.WithTimeout(t.ctx, timeout)
		}
		reusable := false
		switch typ {
		case frameUploadOpen:
			reusable = t.serveUpload(ctx, conn, br, method, header)
		case frameDownloadOpen:
			reusable = t.serveDownload(ctx, cancel, conn, br, method, header)
		}
		cancel()
		if !reusable {
			return
		}
	}
}

func (t *Transport) writeStreamFrame(conn net.Conn, f []byte) error {
	_ = conn.SetWriteDeadline(time.Now().Add(t.cfg.StreamIdleTimeout))
	return writeCorked(conn, f)
}

// writeCorked writes f to conn; over TLS, with the raw connection corked (corkedWrite), so that
// the frame's records leave in one system call.
func writeCorked(conn net.Conn, f []byte) error {
	if tc, ok := conn.(*tls.Conn); ok {
		if raw, ok := tc.NetConn().(*trackedConn); ok {
			return raw.corkedWrite(func() error {
				_, err := conn.Write(f)
				return err
			})
		}
	}
	_, err := conn.Write(f)
	return err
}

// serveUpload runs one upload; it reports whether the connection ended at a frame boundary.
func (t *Transport) serveUpload(ctx context.Context, conn net.Conn, br *bufio.Reader, method string, header []byte) bool {
	t.hmu.RLock()
	h := t.uploads[method]
	t.hmu.RUnlock()
	bufp := getChunk()
	defer putChunk(bufp)
	body := &uploadBody{t: t, conn: conn, br: br, buf: (*bufp)[:streamChunkSize]}
	var f []byte
	if h == nil {
		f = encodeError(0, errKindNoHandler, "", method, t.cfg.MaxFrameSize)
	} else {
		resp, err := h(ctx, header, body)
		switch {
		case err != nil:
			re := toRemote(err)
			f = encodeError(0, errKindHandler, re.Code, re.Message, t.cfg.MaxFrameSize)
		case len(resp) > t.cfg.MaxFrameSize:
			f = encodeError(0, errKindHandler, "transport.reply_too_large",
				fmt.Sprintf("reply of %d bytes exceeds the maximum frame size %d", len(resp), t.cfg.MaxFrameSize), t.cfg.MaxFrameSize)
		default:
			f = encodeBytes(frameResponse, 0, resp)
		}
	}
	if t.writeStreamFrame(conn, f) != nil {
		return false
	}
	// Read what the sender still had in flight until it stops (it sends abort on seeing an early
	// reply), so that the next frame starts a new transfer and closing never resets the
	// connection under a reply not read yet.
	for body.err == nil {
		body.cur = nil
		body.next()
	}
	return body.err == io.EOF || errors.Is(body.err, ErrStreamAborted)
}

// uploadBody is the body reader a StreamHandler gets.
type uploadBody struct {
	t    *Transport
	conn net.Conn
	br   *bufio.Reader
	buf  []byte // reused for every data frame
	cur  []byte // unread part of the current data frame (aliases buf)
	err  error  // sticky: io.EOF, ErrStreamAborted, or a connection error

	trailer []byte // the end frame's payload (a copy; nil if empty), set with err = io.EOF
}

func (b *uploadBody) next() {
	for len(b.cur) == 0 && b.err == nil {
		_ = b.conn.SetReadDeadline(time.Now().Add(b.t.cfg.StreamIdleTimeout))
		typ, _, payload, err := readFrame(b.br, b.t.cfg.MaxFrameSize, b.buf)
		switch {
		case err != nil:
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			b.err = fmt.Errorf("%w: upload body: %w", ErrConnLost, err)
		case typ == frameData:
			b.cur = payload
		case typ == frameEnd && len(payload) > MaxTrailerSize:
			b.err = fmt.Errorf("%w: %w: upload trailer of %d bytes (max %d)", ErrConnLost, ErrBadFrame, len(payload), MaxTrailerSize)
		case typ == frameEnd:
			// payload may alias buf, which goes back to the pool when this upload ends.
			if len(payload) > 0 {
				b.trailer = bytes.Clone(payload)
			}
			b.err = io.EOF
		case typ == frameAbort:
			b.err = fmt.Errorf("%w: %s", ErrStreamAborted, payload)
		default:
			b.err = fmt.Errorf("%w: %w: unexpected type %d in upload", ErrConnLost, ErrBadFrame, typ)
		}
	}
}

func (b *uploadBody) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if len(b.cur) == 0 {
		b.next()
		if len(b.cur) == 0 {
			return 0, b.err
		}
	}
	n := copy(p, b.cur)
	b.cur = b.cur[n:]
	return n, nil
}

// serveDownload runs one download; it reports whether the connection ended at a frame boundary.
func (t *Transport) serveDownload(ctx context.Context, cancel context.CancelFunc, conn net.Conn, br *bufio.Reader, method string, header []byte) bool {
	t.hmu.RLock()
	h := t.downloads[method]
	t.hmu.RUnlock()
	if h == nil {
		return t.writeStreamFrame(conn, encodeError(0, errKindNoHandler, "", method, t.cfg.MaxFrameSize)) == nil
	}
	// The client sends nothing until the download ends: a read that returns means it went away
	// (or the connection was cut), so the handler's context ends. When the handler is done the
	// watcher is woken by a past read deadline, and the connection stays usable.
	_ = conn.SetReadDeadline(time.Time{})
	watchDone := make(chan struct{})
	var gone bool // written by the watcher before watchDone is closed
	if !t.spawn(func() {
		defer close(watchDone)
		if _, err := br.Peek(1); !isTimeout(err) {
			gone = true
			cancel()
		}
	}) {
		return false
	}
	bufp := getChunk()
	defer putChunk(bufp)
	w := &downloadWriter{t: t, conn: conn, buf: *bufp}
	err := h(ctx, header, w)
	_ = conn.SetReadDeadline(time.Unix(1, 0))
	<-watchDone
	if gone {
		return false
	}
	var f []byte
	if err == nil {
		if w.flush() != nil {
			return false
		}
		f = sealFrame(newFrame(0), frameEnd, 0)
	} else {
		if w.err != nil {
			return false
		}
		re := toRemote(err)
		f = encodeError(0, errKindHandler, re.Code, re.Message, t.cfg.MaxFrameSize)
	}
	return t.writeStreamFrame(conn, f) == nil
}

// downloadWriter is the writer a DownloadHandler gets: it cuts what it is given into data frames
// of up to 64 KiB, reusing one buffer.
type downloadWriter struct {
	t    *Transport
	conn net.Conn
	buf  []byte // frame header + up to streamChunkSize bytes
	n    int    // payload bytes buffered
	err  error  // sticky write error
}

func (w *downloadWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if w.err != nil {
			return written, w.err
		}
		c := copy(w.buf[frameHeaderSize+w.n:], p)
		w.n += c
		written += c
		p = p[c:]
		if w.n == streamChunkSize {
			if err := w.flush(); err != nil {
				return written, err
			}
		}
	}
	return written, w.err
}

func (w *downloadWriter) flush() error {
	if w.err != nil || w.n == 0 {
		return w.err
	}
	if err := w.t.writeStreamFrame(w.conn, sealFrame(w.buf[:frameHeaderSize+w.n], frameData, 0)); err != nil {
		w.err = fmt.Errorf("%w: download: %w", ErrConnLost, err)
	}
	w.n = 0
	return w.err
}

// chunkPool holds buffers of one frame header plus one stream chunk, shared by every transfer.
var chunkPool = sync.Pool{New: func() any {
	b := newFrame(streamChunkSize)
	return &b
}}

func getChunk() *[]byte  { return chunkPool.Get().(*[]byte) }
func putChunk(b *[]byte) { chunkPool.Put(b) }
