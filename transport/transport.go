package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Handler serves one RPC method. ctx ends when the caller's deadline passes, the caller gives up,
// the connection fails or the Transport closes; handlers must return promptly then (Close waits
// for them). The returned bytes are the reply; a non-nil error reaches the caller as a
// *RemoteError (its Code from an RPCCode() string method, when the error has one).
type Handler func(ctx context.Context, req []byte) ([]byte, error)

// StreamHandler serves one upload method: header is what the caller passed, body yields the
// streamed bytes (io.EOF at the end; ErrStreamAborted or ErrConnLost when the sender failed).
// Any unread rest of the body is discarded after it returns; body must not be used after that.
type StreamHandler func(ctx context.Context, header []byte, body io.Reader) ([]byte, error)

// DownloadHandler serves one download method by writing the bytes to w. A nil return ends the
// stream cleanly (the reader sees io.EOF); an error reaches the reader as a *RemoteError. w must
// not be used after h returns.
type DownloadHandler func(ctx context.Context, header []byte, w io.Writer) error

// Transport is one node's endpoint: a TCP listener multiplexed between raft (RaftLayer), RPCs
// (Handle/Call) and streaming transfers (HandleStream/CallStream, HandleDownload/OpenStream), and
// the client side of the same to other nodes. It is safe for concurrent use.
type Transport struct {
	cfg     Config
	ln      net.Listener
	addr    string // advertised address
	metrics Metrics
	faults  *Faults
	raft    *raftLayer

	ctx    context.Context // parent of every handler context; cancelled by Close
	cancel context.CancelFunc
	done   chan struct{} // closed by Close

	hmu       sync.RWMutex
	handlers  map[string]Handler
	uploads   map[string]StreamHandler
	downloads map[string]DownloadHandler

	mu     sync.Mutex
	closed bool                      // guarded by mu; once true no goroutine is started and no conn tracked
	conns  map[*trackedConn]struct{} // guarded by mu; every open raw connection
	peers  map[string]*peer          // guarded by mu; RPC client pools by address
	idle   map[string][]*streamConn  // guarded by mu; idle stream connections by address
	nconns atomic.Int64
	dials  atomic.Int64 // TCP connections dialled (tests)

	wg sync.WaitGroup // every goroutine this package starts
}

// New validates cfg, applies defaults and starts listening on cfg.BindAddr.
func New(cfg Config) (*Transport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	ln, err := net.Listen("tcp", cfg.BindAddr)
	if err != nil {
		return nil, fmt.Errorf("transport: listen %s: %w", cfg.BindAddr, err)
	}
	t := &Transport{
		cfg:       cfg,
		ln:        ln,
		addr:      cfg.AdvertiseAddr,
		metrics:   cfg.Metrics,
		faults:    cfg.Faults,
		done:      make(chan struct{}),
		handlers:  make(map[string]Handler),
		uploads:   make(map[string]StreamHandler),
		downloads: make(map[string]DownloadHandler),
		conns:     make(map[*trackedConn]struct{}),
		peers:     make(map[string]*peer),
		idle:      make(map[string][]*streamConn),
	}
	if t.addr == "" {
		t.addr = ln.Addr().String()
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.raft = newRaftLayer(t)
	t.spawn(t.acceptLoop)
	return t, nil
}

// Addr returns the advertised address: Config.AdvertiseAddr, or the listener's address.
func (t *Transport) Addr() string { return t.addr }

// RaftLayer returns the raft.StreamLayer over this transport's listener, for
// raft.NewNetworkTransportWithConfig. Closing it (raft does so on shutdown) stops handing raft
// connections over; it does not close the Transport.
func (t *Transport) RaftLayer() raft.StreamLayer { return t.raft }

// Close stops the listener, closes every connection, fails pending calls with ErrClosed, cancels
// handler contexts and waits for every goroutine the Transport started (including running
// handlers) to finish. It is idempotent.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		t.wg.Wait()
		return nil
	}
	t.closed = true
	close(t.done)
	conns := make([]*trackedConn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	peers := t.peers
	t.peers = map[string]*peer{}
	t.idle = map[string][]*streamConn{} // their connections are in conns
	t.mu.Unlock()

	err := t.ln.Close()
	for _, p := range peers {
		p.close()
	}
	for _, c := range conns {
		_ = c.Close()
	}
	t.cancel() // after the connections are gone, so no handler's reply can still be sent
	t.raft.Close()
	t.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// spawn runs f in a tracked goroutine, unless the Transport is closed.
func (t *Transport) spawn(f func()) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		f()
	}()
	return true
}

func (t *Transport) isClosed() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

// track wraps a raw connection; it closes raw and fails with ErrClosed after Close.
func (t *Transport) track(raw net.Conn, kind byte, remote string) (*trackedConn, error) {
	setUnackedTimeout(raw)
	c := &trackedConn{Conn: raw, t: t, kind: kind, local: t.addr, remote: remote}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		_ = raw.Close()
		return nil, ErrClosed
	}
	t.conns[c] = struct{}{}
	t.mu.Unlock()
	t.metrics.Gauge(MetricConnections, float64(t.nconns.Add(1)))
	return c, nil
}

func (t *Transport) untrack(c *trackedConn) {
	t.mu.Lock()
	_, ok := t.conns[c]
	delete(t.conns, c)
	t.mu.Unlock()
	if ok {
		t.metrics.Gauge(MetricConnections, float64(t.nconns.Add(-1)))
	}
}

// numConns returns the number of open raw connections (tests).
func (t *Transport) numConns() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns)
}

func (t *Transport) acceptLoop() {
	var delay time.Duration
	for {
		raw, err := t.ln.Accept()
		if err != nil {
			if t.isClosed() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			tm := time.NewTimer(delay)
			select {
			case <-tm.C:
			case <-t.done:
				tm.Stop()
				return
			}
			continue
		}
		delay = 0
		c, err := t.track(raw, 0, "")
		if err != nil {
			return
		}
		if !t.spawn(func() { t.serveConn(c) }) {
			_ = c.Close()
			return
		}
	}
}

// Connection preamble, sent by the dialer in clear right after the TCP handshake, before TLS:
//
//	+----------+-----------+------------------------------+
//	| kind u8  | alen u8   | dialer's advertised address  |
//	+----------+-----------+------------------------------+
//
// The listener answers with the kind byte (inside TLS) once it serves the connection; the
// dialer uses the connection only after that, so a refusal (partition, TLS, identity, unknown
// kind) is a failed dial.

// PeerInfo describes the other end of a connection, for Config.VerifyPeer and Config.Refused.
type PeerInfo struct {
	// Outbound is true when this node dialled.
	Outbound bool
	// Addr is, outbound, the address dialled; inbound, the advertised address the peer claims
	// in its preamble (before the preamble is read, the remote socket address).
	Addr string
	// Kind is "raft", "rpc" or "stream" ("" inbound before the preamble is read).
	Kind string
	// TLS is the connection's state after the handshake; nil without TLS (or when the
	// handshake failed).
	TLS *tls.ConnectionState
}

func kindName(k byte) string {
	switch k {
	case muxRaft:
		return "raft"
	case muxRPC:
		return "rpc"
	case muxStream:
		return "stream"
	}
	return ""
}

// refuse counts a refused connection, tells Config.Refused, and returns err.
func (t *Transport) refuse(p PeerInfo, err error) error {
	t.metrics.Counter(MetricRefused, 1)
	if t.cfg.Refused != nil {
		t.cfg.Refused(p, err)
	}
	return err
}

// serveConn reads the preamble of an inbound connection, does the TLS handshake when
// configured, asks VerifyPeer, and dispatches the connection by kind. A connection refused
// here (preamble, TLS, VerifyPeer) is closed before anything is served or answered.
func (t *Transport) serveConn(tc *trackedConn) {
	peer := PeerInfo{Addr: tc.RemoteAddr().String()}
	_ = tc.SetDeadline(time.Now().Add(t.cfg.HandshakeTimeout))
	var hdr [2]byte
	if _, err := io.ReadFull(tc, hdr[:1]); err != nil || hdr[0] < muxRaft || hdr[0] > muxStream {
		_ = tc.Close() // unknown kind: not one of ours
		if err == nil {
			_ = t.refuse(peer, fmt.Errorf("unknown connection kind %#x", hdr[0]))
		}
		return
	}
	if _, err := io.ReadFull(tc, hdr[1:]); err != nil {
		_ = tc.Close()
		return
	}
	from := make([]byte, hdr[1])
	if _, err := io.ReadFull(tc, from); err != nil {
		_ = tc.Close()
		return
	}
	tc.kind, tc.remote = hdr[0], string(from)
	peer.Addr, peer.Kind = tc.remote, kindName(tc.kind)
	if !t.faults.register(tc) {
		_ = tc.Close()
		return
	}
	var conn net.Conn = tc
	if t.cfg.TLS != nil {
		tlsConn := tls.Server(tc, t.cfg.TLS)
		if err := tlsConn.HandshakeContext(t.ctx); err != nil {
			_ = tc.Close()
			if !t.isClosed() {
				_ = t.refuse(peer, fmt.Errorf("tls handshake: %w", err))
			}
			return
		}
		st := tlsConn.ConnectionState()
		peer.TLS = &st
		conn = tlsConn
	}
	if t.cfg.VerifyPeer != nil {
		if err := t.cfg.VerifyPeer(peer); err != nil {
			_ = conn.Close()
			_ = t.refuse(peer, err)
			return
		}
	}
	// Accept: echo the kind (inside TLS), so the dialer knows the connection is served before
	// using it.
	if _, err := conn.Write(hdr[:1]); err != nil {
		_ = conn.Close()
		return
	}
	_ = tc.SetDeadline(time.Time{})
	switch tc.kind {
	case muxRaft:
		t.raft.handoff(conn)
	case muxRPC:
		t.serveRPC(conn)
	case muxStream:
		t.serveStream(conn)
	}
}

// dial opens a connection of the given kind to addr and sends the preamble. Errors wrap
// ErrClosed, ErrUnreachable or (when ctx's deadline passed) ErrTimeout.
func (t *Transport) dial(ctx context.Context, addr string, kind byte) (net.Conn, *trackedConn, error) {
	if t.isClosed() {
		return nil, nil, ErrClosed
	}
	if t.faults.blocked(t.addr, addr) {
		return nil, nil, fmt.Errorf("%w: %s: partitioned (injected)", ErrUnreachable, addr)
	}
	d := net.Dialer{Timeout: t.cfg.DialTimeout}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, t.dialErr(ctx, addr, err)
	}
	t.dials.Add(1)
	tc, err := t.track(raw, kind, addr)
	if err != nil {
		return nil, nil, err
	}
	if !t.faults.register(tc) {
		_ = tc.Close()
		return nil, nil, fmt.Errorf("%w: %s: partitioned (injected)", ErrUnreachable, addr)
	}
	deadline := time.Now().Add(t.cfg.HandshakeTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = tc.SetDeadline(deadline)
	// A cancelled ctx ends the handshake at once (a caller abandoning a hung peer must not
	// wait for HandshakeTimeout).
	stopCancel := context.AfterFunc(ctx, func() { _ = tc.SetDeadline(time.Unix(1, 0)) })
	defer stopCancel()
	// The preamble goes first, in clear: the listener (and a test's proxy) learns the kind
	// and the dialer's advertised address before the TLS handshake.
	pre := make([]byte, 2+len(t.addr))
	pre[0], pre[1] = kind, byte(len(t.addr))
	copy(pre[2:], t.addr)
	if _, err := tc.Write(pre); err != nil {
		_ = tc.Close()
		return nil, nil, t.dialErr(ctx, addr, err)
	}
	var conn net.Conn = tc
	peer := PeerInfo{Outbound: true, Addr: addr, Kind: kindName(kind)}
	if t.cfg.ClientTLS != nil {
		cfg := t.cfg.ClientTLS
		if cfg.ServerName == "" {
			cfg = cfg.Clone()
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				host = addr
			}
			cfg.ServerName = host
		}
		tlsConn := tls.Client(tc, cfg)
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			_ = tc.Close()
			err = t.dialErr(ctx, addr, fmt.Errorf("tls handshake: %w", err))
			if tlsRefusal(err) {
				_ = t.refuse(peer, err)
			}
			return nil, nil, err
		}
		st := tlsConn.ConnectionState()
		peer.TLS = &st
		conn = tlsConn
	}
	if t.cfg.VerifyPeer != nil {
		if err := t.cfg.VerifyPeer(peer); err != nil {
			_ = conn.Close()
			return nil, nil, t.refuse(peer, fmt.Errorf("%w: %w: %s: %w", ErrUnreachable, ErrPeerRefused, addr, err))
		}
	}
	var ack [1]byte
	if _, err := io.ReadFull(conn, ack[:]); err != nil || ack[0] != kind {
		_ = conn.Close()
		if err == nil {
			err = fmt.Errorf("bad accept byte %#x", ack[0])
		}
		return nil, nil, t.dialErr(ctx, addr, fmt.Errorf("not accepted: %w", err))
	}
	if !stopCancel() { // ctx ended just as the handshake finished: the deadline is spoiled
		_ = conn.Close()
		return nil, nil, t.dialErr(ctx, addr, ctx.Err())
	}
	_ = tc.SetDeadline(time.Time{})
	return conn, tc, nil
}

// Identify dials addr and returns what the connection showed of the peer — its TLS state
// included — once Config.VerifyPeer has accepted it, then closes the connection without
// sending a request. A caller that must know who answers at an address before trusting it
// (the engine, before it adds a member to raft) checks the result. Errors are the dial's.
func (t *Transport) Identify(ctx context.Context, addr string) (PeerInfo, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.cfg.CallTimeout)
		defer cancel()
	}
	conn, _, err := t.dial(ctx, addr, muxRPC)
	if err != nil {
		return PeerInfo{}, err
	}
	defer conn.Close()
	p := PeerInfo{Outbound: true, Addr: addr, Kind: kindName(muxRPC)}
	if tc, ok := conn.(*tls.Conn); ok {
		st := tc.ConnectionState()
		p.TLS = &st
	}
	return p, nil
}

// tlsRefusal reports whether a handshake error is a refusal by TLS (this side sent an alert,
// for example when the peer's certificate did not verify, or the peer sent one) rather than
// a network failure.
func tlsRefusal(err error) bool {
	var alert tls.AlertError
	var op *net.OpError
	return errors.As(err, &alert) || (errors.As(err, &op) && op.Op == "remote error")
}

func (t *Transport) dialErr(ctx context.Context, addr string, err error) error {
	switch {
	case t.isClosed():
		return ErrClosed
	case ctx.Err() != nil:
		return ctxErr(ctx, "dial "+addr)
	default:
		return fmt.Errorf("%w: dial %s: %w", ErrUnreachable, addr, err)
	}
}

// ctxErr maps a finished context to this package's errors: ErrTimeout together with
// context.DeadlineExceeded, or context.Canceled.
func ctxErr(ctx context.Context, what string) error {
	err := ctx.Err()
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %s: %w", ErrTimeout, what, err)
	}
	return fmt.Errorf("transport: %s: %w", what, err)
}
