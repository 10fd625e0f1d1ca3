package testcluster

import (
	"io"
	"net"
	"sync"
)

// dropNet is a set of TCP proxies, one in front of each node's raft port, that partitions
// nodes the way a firewall that drops packets does: nothing crosses a cut connection either
// way (the proxy stops reading, so the sender's writes fill the socket buffers and then
// block), and a new connection across the cut is accepted but never answered. The
// transport's own Faults fail dials and close connections at once instead. The transport's
// preamble names the dialer's advertised address (its proxy), so a proxy knows both ends of
// every connection.
type dropNet struct {
	mu      sync.Mutex
	side    map[string]int // advertised (proxy) address → partition side (absent: side 0)
	next    int
	changed chan struct{} // closed and replaced whenever side changes
	closed  bool
	conns   []io.Closer
}

func newDropNet() *dropNet {
	return &dropNet{side: map[string]int{}, changed: make(chan struct{})}
}

// proxy listens on a loopback port and forwards to target; it returns its address.
func (d *dropNet) proxy(target string) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	d.track(ln)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go d.forward(c, ln.Addr().String(), target)
		}
	}()
	return ln.Addr().String(), nil
}

// forward reads the dialer's preamble (kind, address length, address), then copies both ways
// while the two ends are on one side.
func (d *dropNet) forward(in net.Conn, self, target string) {
	d.track(in)
	var head [2]byte
	if _, err := io.ReadFull(in, head[:]); err != nil {
		in.Close()
		return
	}
	from := make([]byte, head[1])
	if _, err := io.ReadFull(in, from); err != nil {
		in.Close()
		return
	}
	ends := [2]string{self, string(from)}
	d.waitJoined(ends)
	out, err := net.Dial("tcp", target)
	if err != nil {
		in.Close()
		return
	}
	d.track(out)
	if _, err := out.Write(append(head[:], from...)); err != nil {
		in.Close()
		out.Close()
		return
	}
	go d.copy(out, in, ends)
	d.copy(in, out, ends)
}

func (d *dropNet) copy(dst, src net.Conn, ends [2]string) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		d.waitJoined(ends)
		n, err := src.Read(buf)
		if n > 0 {
			d.waitJoined(ends)
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// waitJoined blocks while the two ends are on different sides (until close).
func (d *dropNet) waitJoined(ends [2]string) {
	for {
		d.mu.Lock()
		cut := d.side[ends[0]] != d.side[ends[1]] && !d.closed
		ch := d.changed
		d.mu.Unlock()
		if !cut {
			return
		}
		<-ch
	}
}

// partition puts addrs on a new side.
func (d *dropNet) partition(addrs ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.next++
	for _, a := range addrs {
		d.side[a] = d.next
	}
	d.changedLocked()
}

// heal puts every address back on one side.
func (d *dropNet) heal() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.side = map[string]int{}
	d.changedLocked()
}

func (d *dropNet) changedLocked() {
	close(d.changed)
	d.changed = make(chan struct{})
}

func (d *dropNet) track(c io.Closer) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.conns = append(d.conns, c)
}

// close stops every proxy and connection and releases every waiter.
func (d *dropNet) close() {
	d.mu.Lock()
	d.closed = true
	d.changedLocked()
	conns := d.conns
	d.conns = nil
	d.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}
