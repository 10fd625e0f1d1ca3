package gossip

import (
	"errors"
	"fmt"
	"log"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// Faults cuts gossip links, through memberlist's own network transport, so that tests can
// partition members the way a firewall would: packets across a cut are dropped and stream
// dials across it fail. Install one with Config.Faults (nil in production); every member of a
// test cluster shares the same *Faults. Members are named by the gossip address they
// advertise (Gossip.Addr). The zero value cuts nothing. Safe for concurrent use.
type Faults struct {
	mu    sync.Mutex
	group map[string]int // advertised address → partition side (absent: side 0)
	next  int
}

// errPartitioned is what a dial across a cut returns.
var errPartitioned = errors.New("gossip: partitioned (injected)")

// Partition puts addrs on a new side of a partition: from then on no packet and no new
// stream crosses between sides. Addresses never named are on one implicit side.
func (f *Faults) Partition(addrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.group == nil {
		f.group = make(map[string]int)
	}
	f.next++
	for _, a := range addrs {
		f.group[a] = f.next
	}
}

// Heal removes every partition.
func (f *Faults) Heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.group = nil
}

func (f *Faults) blocked(a, b string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.group[a] != f.group[b]
}

// faultTransport wraps memberlist's NetTransport: outbound packets and dials across a cut
// fail, inbound packets from across it are dropped. Inbound streams are not judged (their
// remote port is ephemeral); the dialer's own wrapper refuses them, and members of a test
// share one Faults.
type faultTransport struct {
	nt      *memberlist.NetTransport
	f       *Faults
	self    atomic.Pointer[string] // advertised address, set once memberlist has chosen it
	packets chan *memberlist.Packet
	stop    chan struct{}
	once    sync.Once // closes stop
	done    chan struct{}
}

var _ memberlist.NodeAwareTransport = (*faultTransport)(nil)

// newNetTransport starts memberlist's own network transport, as memberlist would: with port 0
// the TCP and UDP binds may race another process for the port, so it retries.
func newNetTransport(bindHost string, bindPort int, logger *log.Logger) (*memberlist.NetTransport, error) {
	var nt *memberlist.NetTransport
	var err error
	for range 10 {
		nt, err = memberlist.NewNetTransport(&memberlist.NetTransportConfig{
			BindAddrs: []string{bindHost}, BindPort: bindPort, Logger: logger,
		})
		if err == nil || bindPort != 0 || !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return nt, err
}

func newFaultTransport(f *Faults, nt *memberlist.NetTransport) *faultTransport {
	t := &faultTransport{nt: nt, f: f, packets: make(chan *memberlist.Packet),
		stop: make(chan struct{}), done: make(chan struct{})}
	go t.forward()
	return t
}

func (t *faultTransport) blocked(addr string) bool {
	self := t.self.Load()
	return self != nil && t.f.blocked(*self, addr)
}

func (t *faultTransport) forward() {
	defer close(t.done)
	for {
		select {
		case p := <-t.nt.PacketCh():
			if t.blocked(p.From.String()) {
				continue
			}
			select {
			case t.packets <- p:
			case <-t.stop:
				return
			}
		case <-t.stop:
			return
		}
	}
}

func (t *faultTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	return t.nt.FinalAdvertiseAddr(ip, port)
}

func (t *faultTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }
func (t *faultTransport) StreamCh() <-chan net.Conn           { return t.nt.StreamCh() }

func (t *faultTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	if t.blocked(addr) {
		return time.Now(), nil // lost on the way, as UDP may be
	}
	return t.nt.WriteTo(b, addr)
}

func (t *faultTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	return t.WriteTo(b, a.Addr)
}

func (t *faultTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	if t.blocked(addr) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("%w: %s", errPartitioned, addr)}
	}
	return t.nt.DialTimeout(addr, timeout)
}

func (t *faultTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.DialTimeout(a.Addr, timeout)
}

func (t *faultTransport) Shutdown() error {
	err := t.nt.Shutdown()
	t.once.Do(func() { close(t.stop) })
	<-t.done
	return err
}
