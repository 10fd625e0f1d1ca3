package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Handle registers h for method (1 to 255 bytes). It panics on an invalid method, a nil handler
// or a method already registered, like http.ServeMux. Handlers may be registered at any time.
func (t *Transport) Handle(method string, h Handler) {
	checkMethod(method, h == nil)
	t.hmu.Lock()
	defer t.hmu.Unlock()
	if _, dup := t.handlers[method]; dup {
		panic("transport: Handle: method registered twice: " + method)
	}
	t.handlers[method] = h
}

func checkMethod(method string, nilHandler bool) {
	if method == "" || len(method) > 255 {
		panic(fmt.Sprintf("transport: method name of %d bytes (want 1 to 255)", len(method)))
	}
	if nilHandler {
		panic("transport: nil handler for " + method)
	}
}

// Call sends req to method on the node at addr and returns its reply. It uses one of a few
// long-lived pipelined connections to addr (dialled on first use). The deadline is ctx's, or
// Config.CallTimeout when ctx has none. Errors: *RemoteError (the handler failed), or wrapping
// ErrNoHandler, ErrUnreachable (not sent), ErrConnLost (sent, outcome unknown), ErrTimeout
// (with context.DeadlineExceeded), context.Canceled, ErrFrameTooLarge or ErrClosed.
func (t *Transport) Call(ctx context.Context, addr, method string, req []byte) ([]byte, error) {
	start := time.Now()
	resp, err := t.call(ctx, addr, method, req)
	t.metrics.Observe(MetricRPCSeconds, time.Since(start).Seconds())
	if err != nil {
		t.metrics.Counter(MetricRPCErrors, 1)
	}
	return resp, err
}

// callContext applies Config.CallTimeout when ctx has no deadline.
func (t *Transport) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, t.cfg.CallTimeout)
}

func (t *Transport) call(ctx context.Context, addr, method string, req []byte) ([]byte, error) {
	if method == "" || len(method) > 255 {
		return nil, fmt.Errorf("transport: method name of %d bytes (want 1 to 255)", len(method))
	}
	if 5+len(method)+len(req) > t.cfg.MaxFrameSize {
		return nil, fmt.Errorf("%w: request of %d bytes for %s", ErrFrameTooLarge, len(req), method)
	}
	ctx, cancel := t.callContext(ctx)
	defer cancel()
	what := "call " + addr + " " + method
	if t.faults.blocked(t.addr, addr) {
		// Pooled connections across the cut are being closed; do not race their readers.
		return nil, fmt.Errorf("%w: %s: partitioned (injected)", ErrUnreachable, addr)
	}
	if t.faults.dropNow(t.addr, addr) {
		select { // the request is "lost on the wire": the caller learns only by its deadline
		case <-ctx.Done():
			return nil, ctxErr(ctx, what)
		case <-t.done:
			return nil, ErrClosed
		}
	}
	p, err := t.peer(addr)
	if err != nil {
		return nil, err
	}
	// A connection found dead before the request was queued on it is skipped: the request was
	// certainly not sent, so trying another (or a fresh dial) is safe.
	var (
		cc *clientConn
		id uint64
		c  chan result
	)
	for attempt := 1; ; attempt++ {
		cc, err = p.get(ctx)
		if err != nil {
			return nil, err
		}
		id, c, err = cc.register()
		if err == nil {
			var timeout time.Duration
			if dl, ok := ctx.Deadline(); ok {
				timeout = time.Until(dl)
			}
			frame := encodeRequest(frameRequest, id, timeout, method, req)
			if err = cc.fc.send(ctx, frame); err == nil {
				break
			}
			cc.unregister(id)
			if ctx.Err() != nil {
				return nil, ctxErr(ctx, what)
			}
			err = cc.unsentErr(err)
		}
		if attempt == 3 || errors.Is(err, ErrClosed) {
			return nil, err
		}
	}
	select {
	case r := <-c:
		if r.err != nil {
			return nil, r.err
		}
		if r.typ == frameError {
			if ctx.Err() != nil {
				return nil, ctxErr(ctx, what)
			}
			if dl, _ := ctx.Deadline(); !time.Now().Before(dl) {
				// The handler's context carries our deadline, so it may fail with it an instant
				// before our own timer fires: report what happened, a timeout.
				return nil, fmt.Errorf("%w: %s: %w", ErrTimeout, what, context.DeadlineExceeded)
			}
			return nil, decodeError(r.payload, method)
		}
		return r.payload, nil
	case <-ctx.Done():
		if cc.unregister(id) {
			cc.fc.trySend(sealFrame(newFrame(0), frameCancel, id))
		}
		return nil, ctxErr(ctx, what)
	}
}

// peer returns the client pool for addr, creating it.
func (t *Transport) peer(addr string) (*peer, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, ErrClosed
	}
	p := t.peers[addr]
	if p == nil {
		p = &peer{t: t, addr: addr}
		t.peers[addr] = p
	}
	return p, nil
}

// peer is the pool of RPC connections to one address. Dials are shared: at most one is in flight
// per address, and callers with no live connection wait for it (bounded by their context), so a
// dead peer costs each caller at most its own deadline and never blocks calls to other peers.
type peer struct {
	t    *Transport
	addr string

	mu       sync.Mutex
	conns    []*clientConn // guarded by mu; live connections (a failed one removes itself)
	rr       uint
	dialing  *dialAttempt // guarded by mu; the dial in flight, if any
	failedAt time.Time    // guarded by mu; when the last dial failed
	closed   bool
}

// dialBackoff: after a failed dial, a pool that still has a connection does not try to grow for
// this long (a pool with none dials for every caller that needs it).
const dialBackoff = time.Second

type dialAttempt struct {
	done chan struct{}
	err  error // written before done is closed
}

// get returns a connection to use, dialling when the pool is not full.
func (p *peer) get(ctx context.Context) (*clientConn, error) {
	joinedFailed := false // a dial we joined (started earlier, maybe before a Heal) failed once
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, ErrClosed
		}
		n := len(p.conns)
		owner := false
		if n < p.t.cfg.PoolSize && p.dialing == nil && (n == 0 || time.Since(p.failedAt) > dialBackoff) {
			p.dialing = &dialAttempt{done: make(chan struct{})}
			owner = true
			a := p.dialing
			if !p.t.spawn(func() { p.dial(a) }) {
				p.dialing = nil
				p.mu.Unlock()
				return nil, ErrClosed
			}
		}
		if n > 0 {
			i := p.rr % uint(n)
			c := p.conns[i]
			p.rr++
			if c.tc.closed.Load() {
				// Closed under us (a Faults cut, say) and its reader has not noticed yet: never
				// hand it out, or a request would be "lost" on a connection known to be dead.
				p.conns = append(p.conns[:i], p.conns[i+1:]...)
				p.mu.Unlock()
				continue
			}
			p.mu.Unlock()
			return c, nil
		}
		a := p.dialing
		p.mu.Unlock()
		select {
		case <-a.done:
			if a.err != nil {
				if owner || joinedFailed || errors.Is(a.err, ErrClosed) {
					return nil, a.err
				}
				joinedFailed = true // try once with a dial of our own
			}
		case <-ctx.Done():
			return nil, ctxErr(ctx, "call "+p.addr)
		case <-p.t.done:
			return nil, ErrClosed
		}
	}
}

func (p *peer) dial(a *dialAttempt) {
	ctx, cancel := context.WithTimeout(p.t.ctx, p.t.cfg.DialTimeout)
	defer cancel()
	conn, tc, err := p.t.dial(ctx, p.addr, muxRPC)
	var cc *clientConn
	if err == nil {
		cc = newClientConn(p, conn, tc)
		if !p.t.spawn(cc.fc.writeLoop) {
			err = ErrClosed
		} else if !p.t.spawn(cc.readLoop) {
			err = ErrClosed
			cc.fail(ErrClosed)
		}
		if err != nil {
			_ = conn.Close()
		}
	}
	if errors.Is(err, ErrTimeout) {
		// A dial that ran out of DialTimeout is an unreachable peer, not the caller's timeout
		// (the caller's own deadline is reported by get when it passes).
		err = fmt.Errorf("%w: dial %s: no answer within %v", ErrUnreachable, p.addr, p.t.cfg.DialTimeout)
	}
	p.mu.Lock()
	if err == nil {
		if p.closed {
			err = ErrClosed
		} else {
			p.conns = append(p.conns, cc)
		}
	}
	a.err = err
	if err != nil {
		p.failedAt = time.Now()
	}
	p.dialing = nil
	closed := p.closed
	p.mu.Unlock()
	if err != nil && cc != nil {
		cc.fail(err)
	}
	if closed && cc != nil {
		cc.fail(ErrClosed)
	}
	close(a.done)
}

func (p *peer) remove(cc *clientConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, c := range p.conns {
		if c == cc {
			p.conns = append(p.conns[:i], p.conns[i+1:]...)
			return
		}
	}
}

// close fails every connection with ErrClosed (Transport.Close).
func (p *peer) close() {
	p.mu.Lock()
	p.closed = true
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		c.fail(ErrClosed)
	}
}

// result is what a pending call receives: a reply frame, or the connection's failure.
type result struct {
	typ     byte
	payload []byte
	err     error
}

// clientConn is one pipelined RPC connection: requests carry ids, replies may come back in any
// order and are matched to their waiting call by id.
type clientConn struct {
	p  *peer
	tc *trackedConn // the raw connection under fc (under TLS, if any)
	fc *framedConn

	mu      sync.Mutex
	pending map[uint64]chan result // guarded by mu; waiting calls by request id
	nextID  uint64                 // guarded by mu
	dead    error                  // guarded by mu; non-nil once failed
}

func newClientConn(p *peer, conn net.Conn, tc *trackedConn) *clientConn {
	return &clientConn{p: p, tc: tc, fc: newFramedConn(conn, &p.t.cfg), pending: make(map[uint64]chan result)}
}

// register allocates a request id and the channel its reply will arrive on.
func (cc *clientConn) register() (uint64, chan result, error) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.dead != nil {
		return 0, nil, cc.unsentErr(cc.dead)
	}
	cc.nextID++
	ch := make(chan result, 1)
	cc.pending[cc.nextID] = ch
	return cc.nextID, ch, nil
}

// unregister forgets a call; it reports whether the call was still pending.
func (cc *clientConn) unregister(id uint64) bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	_, ok := cc.pending[id]
	delete(cc.pending, id)
	return ok
}

// unsentErr is the error of a call whose request never left: the connection had already failed.
func (cc *clientConn) unsentErr(cause error) error {
	if errors.Is(cause, ErrClosed) {
		return ErrClosed
	}
	return fmt.Errorf("%w: %s: connection failed before the request was sent: %w", ErrUnreachable, cc.p.addr, cause)
}

// fail closes the connection, removes it from the pool and fails every pending call: with
// ErrClosed when the Transport is closing, else with ErrConnLost wrapping the cause.
func (cc *clientConn) fail(cause error) {
	cc.fc.fail(cause)
	cause = cc.fc.cause() // the first failure (the writer's, say) is the one worth reporting
	if cc.p.t.isClosed() {
		cause = ErrClosed
	}
	cc.p.remove(cc)
	cc.mu.Lock()
	if cc.dead == nil {
		cc.dead = cause
	}
	pending := cc.pending
	cc.pending = map[uint64]chan result{}
	cc.mu.Unlock()
	err := ErrClosed
	if !errors.Is(cause, ErrClosed) {
		err = fmt.Errorf("%w: %s: %w", ErrConnLost, cc.p.addr, cause)
	}
	for _, ch := range pending {
		ch <- result{err: err}
	}
}

func (cc *clientConn) readLoop() {
	for {
		typ, id, payload, err := readFrame(cc.fc.br, cc.fc.maxFrame, nil)
		if err != nil {
			cc.fail(err)
			return
		}
		if typ != frameResponse && typ != frameError {
			cc.fail(fmt.Errorf("%w: unexpected type %d from server", ErrBadFrame, typ))
			return
		}
		cc.mu.Lock()
		ch := cc.pending[id]
		delete(cc.pending, id)
		cc.mu.Unlock()
		if ch != nil { // nil: the caller gave up (timeout or cancel) before the reply came
			ch <- result{typ: typ, payload: payload}
		}
	}
}

// serveRPC reads requests from one inbound RPC connection and runs each in its own goroutine;
// replies are queued on the connection's writer in completion order.
func (t *Transport) serveRPC(conn net.Conn) {
	fc := newFramedConn(conn, &t.cfg)
	if !t.spawn(fc.writeLoop) {
		_ = conn.Close()
		return
	}
	// However the loop ends, the writer goroutine must end with it.
	defer fc.fail(ErrClosed)
	ctx, cancel := context.WithCancel(t.ctx)
	defer cancel()
	var mu sync.Mutex
	inflight := make(map[uint64]context.CancelFunc) // guarded by mu
	for {
		typ, id, payload, err := readFrame(fc.br, fc.maxFrame, nil)
		if err != nil {
			fc.fail(err)
			return
		}
		switch typ {
		case frameRequest:
			timeout, method, body, err := decodeRequest(payload)
			if err != nil {
				fc.fail(err)
				return
			}
			t.hmu.RLock()
			h := t.handlers[method]
			t.hmu.RUnlock()
			if h == nil {
				if fc.send(ctx, encodeError(id, errKindNoHandler, "", method, t.cfg.MaxFrameSize)) != nil {
					return
				}
				continue
			}
			hctx, hcancel := context.WithCancel(ctx)
			if timeout > 0 {
				hctx, hcancel = context.WithTimeout(ctx, timeout)
			}
			mu.Lock()
			inflight[id] = hcancel
			mu.Unlock()
			started := t.spawn(func() {
				resp, err := h(hctx, body)
				mu.Lock()
				delete(inflight, id)
				mu.Unlock()
				hcancel()
				var f []byte
				switch {
				case err != nil:
					re := toRemote(err)
					f = encodeError(id, errKindHandler, re.Code, re.Message, t.cfg.MaxFrameSize)
				case len(resp) > t.cfg.MaxFrameSize:
					f = encodeError(id, errKindHandler, "transport.reply_too_large",
						fmt.Sprintf("reply of %d bytes exceeds the maximum frame size %d", len(resp), t.cfg.MaxFrameSize), t.cfg.MaxFrameSize)
				default:
					f = encodeBytes(frameResponse, id, resp)
				}
				_ = fc.send(t.ctx, f)
			})
			if !started {
				hcancel()
				return
			}
		case frameCancel:
			mu.Lock()
			if c := inflight[id]; c != nil {
				c()
			}
			mu.Unlock()
		default:
			fc.fail(fmt.Errorf("%w: unexpected type %d from client", ErrBadFrame, typ))
			return
		}
	}
}
