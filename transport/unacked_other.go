//go:build !linux

package transport

import "net"

// setUnackedTimeout: TCP_USER_TIMEOUT is Linux's (unacked_linux.go); elsewhere a connection
// cut by a partition waits for TCP's own retransmission backoff.
func setUnackedTimeout(net.Conn) {}
