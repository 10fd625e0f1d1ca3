package transport

import (
	"net"
	"syscall"
	"time"
)

// unackedTimeout is how long a connection may have sent bytes that the peer's kernel has not
// acknowledged before the kernel aborts it (TCP_USER_TIMEOUT). A live peer's kernel acknowledges
// within a round trip even when its process is stopped or busy; only a cut network (a partition,
// a dead host) leaves data unacknowledged this long.
//
// Without it, a pooled connection whose requests met a partition stays in the pool after the
// heal: its unacknowledged bytes are retransmitted with exponential backoff (0.2s doubling, so
// the next try after a 16s cut comes at about 25s), and every call on it times out meanwhile -
// after a 16s partition one node saw the healed node's raft state as "unknown" for ~10s more
// (issue 22, make faults). Aborted, the connection leaves the pool and the next call dials a
// fresh one as soon as the network is back.
const unackedTimeout = 5 * time.Second

// tcpUserTimeout is TCP_USER_TIMEOUT from linux/tcp.h (the syscall package lacks it; it is ABI).
const tcpUserTimeout = 18

// setUnackedTimeout sets TCP_USER_TIMEOUT on raw if it is a TCP connection.
func setUnackedTimeout(raw net.Conn) {
	tc, ok := raw.(*net.TCPConn)
	if !ok {
		return
	}
	sc, err := tc.SyscallConn()
	if err != nil {
		return
	}
	_ = sc.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpUserTimeout, int(unackedTimeout.Milliseconds()))
	})
}
