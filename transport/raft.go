package transport

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

var _ raft.StreamLayer = (*raftLayer)(nil)

// raftLayer is the raft.StreamLayer: inbound connections whose preamble says "raft" are queued
// for Accept; Dial opens a raft connection to another node's listener. Both kinds are owned by
// the Transport (closed by Transport.Close, cut by Faults) while raft uses them.
type raftLayer struct {
	t         *Transport
	ch        chan net.Conn
	closeOnce sync.Once
	closed    chan struct{}
}

func newRaftLayer(t *Transport) *raftLayer {
	return &raftLayer{t: t, ch: make(chan net.Conn), closed: make(chan struct{})}
}

// handoff gives an inbound raft connection to Accept, or closes it when nobody will accept it.
func (l *raftLayer) handoff(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.closed:
		_ = c.Close()
	case <-l.t.done:
		_ = c.Close()
	}
}

// Accept implements net.Listener: the next inbound raft connection, or ErrClosed.
func (l *raftLayer) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, ErrClosed
	case <-l.t.done:
		return nil, ErrClosed
	}
}

// Close implements net.Listener. It stops Accept; the Transport and its other traffic go on.
func (l *raftLayer) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}

// Addr implements net.Listener: the advertised address, which raft uses as its own.
func (l *raftLayer) Addr() net.Addr { return advertised(l.t.addr) }

// Dial implements raft.StreamLayer.
func (l *raftLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if timeout <= 0 {
		timeout = l.t.cfg.DialTimeout
	}
	ctx, cancel := context.WithTimeout(l.t.ctx, timeout)
	defer cancel()
	conn, _, err := l.t.dial(ctx, string(address), muxRaft)
	return conn, err
}

// advertised is a net.Addr for an advertised host:port.
type advertised string

func (a advertised) Network() string { return "tcp" }
func (a advertised) String() string  { return string(a) }
