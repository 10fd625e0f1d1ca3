package transport

import (
	"math/rand/v2"
	"sync"
	"time"
)

// Faults injects network faults through the production code paths. Install one with
// Config.Faults (nil in production). The same *Faults may be shared by every Transport of an
// in-process cluster, or each Transport may have its own: a link is judged by the two advertised
// addresses at its ends, so either way both directions are affected.
//
// Addresses are compared as strings: use exactly the addresses the transports advertise and dial.
// The zero value is ready to use and injects nothing. All methods are safe for concurrent use.
type Faults struct {
	mu        sync.Mutex
	group     map[string]int // guarded by mu; address → partition side (absent: side 0)
	nextGroup int
	delay     map[string]time.Duration
	drop      map[string]float64
	rng       *rand.Rand
	conns     map[*trackedConn]struct{} // every live connection with a known remote, of every transport using f
}

// Partition puts addrs on a new side of a partition: from now on a link whose two ends are on
// different sides is cut. Addresses never named are all on one implicit side. Existing
// connections across sides are closed at once (raft and RPC alike), new dials across them fail
// with ErrUnreachable and inbound ones are closed after their preamble. Partition(c) isolates c;
// Partition(a, b) in a five-node cluster splits {a,b} from the rest; a later call makes another
// side, taking its addresses out of the side they were on.
func (f *Faults) Partition(addrs ...string) {
	f.mu.Lock()
	if f.group == nil {
		f.group = make(map[string]int)
	}
	f.nextGroup++
	for _, a := range addrs {
		f.group[a] = f.nextGroup
	}
	var cut []*trackedConn
	for c := range f.conns {
		if f.blockedLocked(c.local, c.remote) {
			cut = append(cut, c)
			delete(f.conns, c)
		}
	}
	f.mu.Unlock()
	for _, c := range cut {
		_ = c.Close()
	}
}

// Heal removes every partition (delays and drop rates stay).
func (f *Faults) Heal() {
	f.mu.Lock()
	f.group = nil
	f.mu.Unlock()
}

// Delay adds d before every write on any link with addr at one end (so a request to addr and its
// reply are each delayed by d when both ends share f). d <= 0 removes the delay.
func (f *Faults) Delay(addr string, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d <= 0 {
		delete(f.delay, addr)
		return
	}
	if f.delay == nil {
		f.delay = make(map[string]time.Duration)
	}
	f.delay[addr] = d
}

// DropRate makes traffic on links with addr at one end fail with probability p: an RPC request is
// dropped before it is sent (the call ends in ErrTimeout, as a lost packet would make it), and a
// write on a raft or stream connection cuts that connection (a byte stream cannot lose a frame
// and stay in sync, so a drop looks like a reset). p <= 0 removes it.
func (f *Faults) DropRate(addr string, p float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p <= 0 {
		delete(f.drop, addr)
		return
	}
	if f.drop == nil {
		f.drop = make(map[string]float64)
	}
	f.drop[addr] = p
}

func (f *Faults) blockedLocked(a, b string) bool {
	return f.group[a] != f.group[b]
}

// blocked reports whether the link a–b is partitioned. A nil f blocks nothing.
func (f *Faults) blocked(a, b string) bool {
	if f == nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.blockedLocked(a, b)
}

// register records c (whose local and remote are set) so that Partition can cut it. It reports
// false, without registering, when the link is already partitioned.
func (f *Faults) register(c *trackedConn) bool {
	if f == nil {
		return true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.blockedLocked(c.local, c.remote) {
		return false
	}
	if f.conns == nil {
		f.conns = make(map[*trackedConn]struct{})
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *Faults) unregister(c *trackedConn) {
	if f == nil {
		return
	}
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
}

// linkDelay returns the delay to apply to a write on the link a–b.
func (f *Faults) linkDelay(a, b string) time.Duration {
	if f == nil {
		return 0
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return max(f.delay[a], f.delay[b])
}

// dropNow draws whether this operation on the link a–b is dropped.
func (f *Faults) dropNow(a, b string) bool {
	if f == nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p := max(f.drop[a], f.drop[b])
	if p <= 0 {
		return false
	}
	if f.rng == nil {
		f.rng = rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x6e6562756c61))
	}
	return f.rng.Float64() < p
}
