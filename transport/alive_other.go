//go:build !unix

package transport

// idleAlive cannot look at the socket here; the idle watcher alone decides.
func (c *trackedConn) idleAlive() bool { return true }
