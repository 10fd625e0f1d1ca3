//go:build unix

package transport

import (
	"errors"
	"syscall"
)

// idleAlive reports whether an idle connection is still open: nothing to read (EAGAIN) means
// alive; end of stream, an error or any unexpected byte means the peer closed or broke it. It
// asks the socket directly (MSG_PEEK|MSG_DONTWAIT), which the runtime poller cannot do with a
// deadline: a past deadline fails a read without looking at the socket.
func (c *trackedConn) idleAlive() bool {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	var buf [1]byte
	err = raw.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		_ = n
		alive = errors.Is(rerr, syscall.EAGAIN) || errors.Is(rerr, syscall.EWOULDBLOCK)
		return true // never wait
	})
	return err == nil && alive
}
