package testutil

import (
	"net"
)

// FreeAddr returns a loopback address ("127.0.0.1:port") whose port was free a moment ago, for
// a listener that must be configured before it starts (another process may take the port in
// between; prefer ":0" where the address can be read back). With udp the port was free for
// UDP too, as gossip needs.
func FreeAddr(t TB, udp bool) string {
	t.Helper()
	for range 20 {
		tl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("testutil: free port: %v", err)
		}
		addr := tl.Addr().String()
		if !udp {
			tl.Close()
			return addr
		}
		ul, err := net.ListenPacket("udp", addr)
		tl.Close()
		if err != nil {
			continue
		}
		ul.Close()
		return addr
	}
	t.Fatalf("testutil: no port free for both TCP and UDP")
	return ""
}
