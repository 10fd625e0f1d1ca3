package transport

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestPooledConnectionAfterRealPartition cuts the network under a pooled connection for 7s with
// iptables (root and iptables needed; skipped otherwise), sending a call into the cut, then heals
// it: a call made 0.5s after the heal must succeed within 2s. Without TCP_USER_TIMEOUT the pooled
// connection is still in TCP's retransmission backoff (tries at 0.2, 0.6, 1.4, 3.0, 6.2, then
// 12.6s after the cut), so that call times out on it (issue 22: a healed node stayed "unknown"
// for ~10s after a 16s partition).
func TestPooledConnectionAfterRealPartition(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for iptables")
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skip("needs iptables")
	}
	if testing.Short() {
		t.Skip("takes 8s")
	}
	a := newNode(t, Config{PoolSize: 1}) // one connection, which the call into the cut uses
	b := newNode(t, Config{})
	b.Handle("echo", echo)
	if _, err := a.Call(context.Background(), b.Addr(), "echo", []byte("x")); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(b.Addr())
	rule := []string{"INPUT", "-i", "lo", "-p", "tcp", "--dport", port, "-j", "DROP"}
	iptables := func(op string) error {
		out, err := exec.Command("iptables", append([]string{op}, rule...)...).CombinedOutput()
		if err != nil {
			return &exec.Error{Name: "iptables " + op + ": " + strings.TrimSpace(string(out)), Err: err}
		}
		return nil
	}
	if err := iptables("-I"); err != nil {
		t.Skip(err)
	}
	healed := false
	heal := func() {
		if !healed {
			healed = true
			if err := iptables("-D"); err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(heal)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	if _, err := a.Call(ctx, b.Addr(), "echo", []byte("into the cut")); err == nil {
		t.Fatal("a call through the cut succeeded")
	}
	cancel()
	time.Sleep(6 * time.Second) // the partition's length, not synchronisation
	heal()
	time.Sleep(500 * time.Millisecond) // as the fault suite's checker, which looks after gossip healed
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := a.Call(ctx, b.Addr(), "echo", []byte("after the heal")); err != nil {
		t.Fatalf("call 0.5s after healing a 7s partition: %v after %s", err, time.Since(start))
	}
}
