package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// errInjectedDrop is the cause of a connection cut by Faults.DropRate.
var errInjectedDrop = errors.New("transport: connection cut by injected drop")

// trackedConn is the raw TCP connection (below TLS) of every connection the Transport owns. It
// counts bytes, applies Faults, and unregisters itself when closed, so that Transport.Close can
// close whatever is still open and Faults.Partition can cut what crosses a partition.
type trackedConn struct {
	net.Conn
	t *Transport
	// kind, local and remote are written before the connection is shared with another goroutine
	// (dial side: before Dial returns; accept side: while reading the preamble) and only read
	// afterwards. remote is the peer's advertised address ("" until the preamble is read).
	kind      byte
	local     string
	remote    string
	closeOnce sync.Once
	closed    atomic.Bool // set by Close, whoever calls it (a Faults cut, Transport.Close, ...)

	// While corked (corkedWrite), Write collects what TLS writes in pending instead of making a
	// system call per record; wmu guards both (TLS may write from a reading goroutine too).
	wmu     sync.Mutex
	corked  bool
	pending []byte
}

// maxPending bounds the buffer a connection keeps between corked writes.
const maxPending = 128 << 10

// corkedWrite runs write — a Write of the TLS connection over c — with c corked, then writes
// what it produced in one system call. TLS cuts a Write into records of at most 16 KiB and
// writes each on its own, so a stream frame of 64 KiB took five system calls; corked it takes
// one. Measured under erasure-coded GETs, the CPU of those writes hardly changed (it goes to
// copying the bytes through loopback TCP, not to the calls), so this saves system calls, not
// a share of the CPU worth naming (docs/DECISIONS.md).
func (c *trackedConn) corkedWrite(write func() error) error {
	c.wmu.Lock()
	c.corked = true
	c.wmu.Unlock()
	err := write()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.corked = false
	if len(c.pending) > 0 {
		if _, werr := c.write(c.pending); err == nil {
			err = werr
		}
	}
	if cap(c.pending) > maxPending {
		c.pending = nil
	} else {
		c.pending = c.pending[:0]
	}
	return err
}

func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.t.metrics.Counter(MetricBytesReceived, float64(n))
	}
	return n, err
}

func (c *trackedConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	if c.corked {
		c.pending = append(c.pending, p...)
		c.wmu.Unlock()
		return len(p), nil
	}
	c.wmu.Unlock()
	return c.write(p)
}

func (c *trackedConn) write(p []byte) (int, error) {
	if f := c.t.faults; f != nil && c.remote != "" {
		if d := f.linkDelay(c.local, c.remote); d > 0 {
			tm := time.NewTimer(d)
			select {
			case <-tm.C:
			case <-c.t.done:
				tm.Stop()
				return 0, ErrClosed
			}
		}
		if c.kind != muxRPC && f.dropNow(c.local, c.remote) {
			_ = c.Close()
			return 0, errInjectedDrop
		}
	}
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.t.metrics.Counter(MetricBytesSent, float64(n))
	}
	return n, err
}

func (c *trackedConn) Close() error {
	c.closed.Store(true)
	err := c.Conn.Close()
	c.closeOnce.Do(func() {
		c.t.untrack(c)
		c.t.faults.unregister(c)
	})
	return err
}

// framedConn carries frames over one connection: a single writer goroutine drains out, batching
// whatever is queued into one flush; readers call readFrame on br from their own goroutine.
type framedConn struct {
	conn         net.Conn // TLS or trackedConn
	br           *bufio.Reader
	bw           *bufio.Writer
	out          chan []byte
	writeTimeout time.Duration
	maxFrame     int

	once sync.Once
	done chan struct{} // closed by fail
	err  error         // the failure cause; written once before done is closed
}

const (
	outQueue      = 256
	maxFlushBatch = 128
	connBufSize   = 64 << 10
)

func newFramedConn(conn net.Conn, cfg *Config) *framedConn {
	return &framedConn{
		conn:         conn,
		br:           bufio.NewReaderSize(conn, connBufSize),
		bw:           bufio.NewWriterSize(conn, connBufSize),
		out:          make(chan []byte, outQueue),
		writeTimeout: cfg.WriteTimeout,
		maxFrame:     cfg.MaxFrameSize,
		done:         make(chan struct{}),
	}
}

// fail records the first cause, wakes everyone waiting on done and closes the connection.
func (fc *framedConn) fail(err error) {
	fc.once.Do(func() {
		fc.err = err
		close(fc.done)
		_ = fc.conn.Close()
	})
}

// cause returns the failure cause; only valid once done is closed.
func (fc *framedConn) cause() error {
	<-fc.done
	return fc.err
}

// send queues one sealed frame. It fails when the connection has failed or ctx ends first.
func (fc *framedConn) send(ctx context.Context, f []byte) error {
	select {
	case <-fc.done:
		return fc.err
	default:
	}
	select {
	case fc.out <- f:
		return nil
	case <-fc.done:
		return fc.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// trySend queues f if there is room, else drops it (used for best-effort cancel frames).
func (fc *framedConn) trySend(f []byte) {
	select {
	case fc.out <- f:
	default:
	}
}

func (fc *framedConn) writeLoop() {
	for {
		var f []byte
		select {
		case f = <-fc.out:
		case <-fc.done:
			return
		}
		_ = fc.conn.SetWriteDeadline(time.Now().Add(fc.writeTimeout))
		if _, err := fc.bw.Write(f); err != nil {
			fc.fail(fmt.Errorf("write: %w", err))
			return
		}
		yielded := false
	batch:
		for i := 1; i < maxFlushBatch; i++ {
			select {
			case f = <-fc.out:
				if _, err := fc.bw.Write(f); err != nil {
					fc.fail(fmt.Errorf("write: %w", err))
					return
				}
			default:
				if yielded {
					break batch
				}
				// Let goroutines that are about to queue a frame do so, so that one flush (one
				// syscall) carries many frames under load; costs little when idle.
				yielded = true
				runtime.Gosched()
			}
		}
		if err := fc.bw.Flush(); err != nil {
			fc.fail(fmt.Errorf("write: %w", err))
			return
		}
	}
}
