package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nebulaio/nebulaio/internal/testutil"
)

func TestMutualTLS(t *testing.T) {
	pki := newTestPKI(t)
	sTLS, sClient := pki.mutualTLS(t, "server")
	cTLS, cClient := pki.mutualTLS(t, "client")
	srv := newNode(t, Config{TLS: sTLS, ClientTLS: sClient})
	cli := newNode(t, Config{TLS: cTLS, ClientTLS: cClient})
	srv.Handle("echo", echo)
	srv.HandleDownload("get", func(_ context.Context, h []byte, w io.Writer) error {
		_, err := w.Write(bytes.Repeat(h, 100000))
		return err
	})
	if resp, err := cli.Call(context.Background(), srv.Addr(), "echo", []byte("secret")); err != nil || string(resp) != "secret" {
		t.Fatalf("Call over mutual TLS: %q %v", resp, err)
	}
	rc, err := cli.OpenStream(context.Background(), srv.Addr(), "get", []byte("ab"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	_ = rc.Close()
	if err != nil || len(b) != 200000 {
		t.Fatalf("download over TLS: %d bytes, %v", len(b), err)
	}

	other := newTestPKI(t)
	_, foreign := other.mutualTLS(t, "intruder")
	noCert := &tls.Config{RootCAs: pki.pool, MinVersion: tls.VersionTLS13}
	tests := []struct {
		name   string
		client *tls.Config
	}{
		{name: "no client certificate", client: noCert},
		{name: "certificate from another CA", client: foreign},
		{name: "plain TCP to a TLS listener", client: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bad := newNode(t, Config{ClientTLS: tc.client, HandshakeTimeout: 2e9, CallTimeout: 3e9})
			_, err := bad.Call(context.Background(), srv.Addr(), "echo", []byte("x"))
			if err == nil {
				t.Fatal("call without a valid client certificate succeeded")
			}
			if !errors.Is(err, ErrUnreachable) {
				t.Fatalf("err = %v, want ErrUnreachable (the dial is refused)", err)
			}
		})
	}
	if _, err := cli.Call(context.Background(), srv.Addr(), "echo", []byte("still")); err != nil {
		t.Fatalf("server stopped serving after rejected clients: %v", err)
	}
}

func TestMetricsReported(t *testing.T) {
	m := newRecMetrics(t)
	srv := newNode(t, Config{Metrics: m})
	cli := newNode(t, Config{Metrics: m})
	srv.Handle("echo", echo)
	if _, err := cli.Call(context.Background(), srv.Addr(), "echo", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Call(context.Background(), srv.Addr(), "missing", nil); err == nil {
		t.Fatal("call to a missing method succeeded")
	}
	// A connection that is not one of ours is refused and counted.
	raw, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = raw.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	_, _ = io.ReadAll(raw) // the listener closes it
	_ = raw.Close()
	testutil.WaitUntil(t, 5*time.Second, "the refused connection counted", func() bool { v, _ := m.get(MetricRefused); return v >= 1 })
	for _, d := range MetricDescs {
		if _, ok := m.get(d.Name); !ok {
			t.Errorf("metric %s (%s) never reported", d.Name, d.Kind)
		}
	}
	if v, _ := m.get(MetricRPCErrors); v != 1 {
		t.Errorf("%s = %v, want 1", MetricRPCErrors, v)
	}
	// Both transports report their own count into m, so only a lower bound is certain.
	if v, _ := m.get(MetricConnections); v < 1 {
		t.Errorf("%s = %v, want >= 1", MetricConnections, v)
	}
}

// peerLog records what VerifyPeer and Refused were told.
type peerLog struct {
	mu      sync.Mutex
	seen    []PeerInfo
	refused []error
}

func (l *peerLog) verify(refuse func(PeerInfo) error) func(PeerInfo) error {
	return func(p PeerInfo) error {
		l.mu.Lock()
		l.seen = append(l.seen, p)
		l.mu.Unlock()
		return refuse(p)
	}
}

func (l *peerLog) refusedFn(_ PeerInfo, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refused = append(l.refused, err)
}

func (l *peerLog) numRefused() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.refused)
}

// commonName is what the tests' "identity check" looks at: the peer certificate's CN.
func commonName(p PeerInfo) string {
	if p.TLS == nil || len(p.TLS.PeerCertificates) == 0 {
		return ""
	}
	return p.TLS.PeerCertificates[0].Subject.CommonName
}

// acceptCN is a VerifyPeer that accepts only the certificate common name *want names (read
// under mu, so that a test can change its mind).
func acceptCN(l *peerLog, mu *sync.Mutex, want *string) func(PeerInfo) error {
	return l.verify(func(p PeerInfo) error {
		mu.Lock()
		defer mu.Unlock()
		if cn := commonName(p); cn != *want {
			return fmt.Errorf("certificate names %q, want %q", cn, *want)
		}
		return nil
	})
}

// TestVerifyPeer: the hook sees every connection after the handshake, both ways, with the
// peer's certificate and the address it claims (inbound) or was dialled at (outbound); an
// error refuses the connection before any request is served, and the dialler is told.
func TestVerifyPeer(t *testing.T) {
	pki := newTestPKI(t)
	sTLS, sClient := pki.mutualTLS(t, "server")
	cTLS, cClient := pki.mutualTLS(t, "client")
	var srvLog, cliLog peerLog
	var mu sync.Mutex
	wantClient, wantServer := "client", "server" // the CNs each side accepts
	srv := newNode(t, Config{TLS: sTLS, ClientTLS: sClient, Refused: srvLog.refusedFn, VerifyPeer: acceptCN(&srvLog, &mu, &wantClient)})
	cli := newNode(t, Config{TLS: cTLS, ClientTLS: cClient, Refused: cliLog.refusedFn, VerifyPeer: acceptCN(&cliLog, &mu, &wantServer)})
	ran := make(chan struct{}, 10)
	srv.Handle("echo", func(ctx context.Context, b []byte) ([]byte, error) { ran <- struct{}{}; return b, nil })

	if _, err := cli.Call(context.Background(), srv.Addr(), "echo", []byte("a")); err != nil {
		t.Fatalf("accepted peer: %v", err)
	}
	<-ran
	srvLog.mu.Lock()
	in := srvLog.seen[0]
	srvLog.mu.Unlock()
	if in.Outbound || in.Addr != cli.Addr() || in.Kind != "rpc" || in.TLS == nil {
		t.Fatalf("inbound PeerInfo = %+v, want the client's advertised address %s, kind rpc, TLS state", in, cli.Addr())
	}
	cliLog.mu.Lock()
	out := cliLog.seen[0]
	cliLog.mu.Unlock()
	if !out.Outbound || out.Addr != srv.Addr() || out.TLS == nil {
		t.Fatalf("outbound PeerInfo = %+v, want the dialled address %s and TLS state", out, srv.Addr())
	}
	p, err := cli.Identify(context.Background(), srv.Addr())
	if err != nil || commonName(p) != "server" {
		t.Fatalf("Identify = %q, %v; want the server's certificate", commonName(p), err)
	}

	// The server refuses the client (as if its certificate named another node): the call
	// is never served and the dialler sees an unreachable peer.
	mu.Lock()
	wantClient = "node-9"
	mu.Unlock()
	fresh := newNode(t, Config{TLS: cTLS, ClientTLS: cClient})
	_, err = fresh.Call(context.Background(), srv.Addr(), "echo", []byte("b"))
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("call refused by the listener: err = %v, want ErrUnreachable", err)
	}
	testutil.WaitUntil(t, 5*time.Second, "the listener's Refused hook told", func() bool { return srvLog.numRefused() > 0 })

	// The client refuses the server: ErrPeerRefused, nothing sent.
	mu.Lock()
	wantClient, wantServer = "client", "someone-else"
	mu.Unlock()
	cli2 := newNode(t, Config{TLS: cTLS, ClientTLS: cClient, Refused: cliLog.refusedFn, VerifyPeer: acceptCN(&cliLog, &mu, &wantServer)})
	_, err = cli2.Call(context.Background(), srv.Addr(), "echo", []byte("c"))
	if !errors.Is(err, ErrPeerRefused) || !errors.Is(err, ErrUnreachable) {
		t.Fatalf("call to a refused server: err = %v, want ErrPeerRefused and ErrUnreachable", err)
	}
	select {
	case <-ran:
		t.Fatal("a refused connection was served")
	default:
	}
}

// TestForeignProcessIsRefused: a process that speaks our preamble but has no certificate of
// the cluster's CA — plain TCP, or TLS with a certificate it made itself — gets no byte of an
// answer and runs no handler, whatever it sends.
func TestForeignProcessIsRefused(t *testing.T) {
	pki := newTestPKI(t)
	sTLS, sClient := pki.mutualTLS(t, "server")
	var log peerLog
	srv := newNode(t, Config{TLS: sTLS, ClientTLS: sClient, Refused: log.refusedFn})
	ran := make(chan string, 10)
	srv.Handle("blob.get", func(ctx context.Context, b []byte) ([]byte, error) {
		ran <- "blob.get"
		return []byte("secret bytes"), nil
	})
	srv.HandleDownload("blob.get", func(ctx context.Context, h []byte, w io.Writer) error {
		ran <- "download"
		_, err := w.Write([]byte("secret bytes"))
		return err
	})

	// What a foreign process sends: a valid preamble, then a request (RPC) or a download
	// open (stream) of an object's bytes.
	payloads := map[string][]byte{}
	for name, kind := range map[string]byte{"rpc": muxRPC, "stream": muxStream} {
		typ := frameRequest
		if kind == muxStream {
			typ = frameDownloadOpen
		}
		b := append([]byte{kind, 9}, "127.0.0.1"...)
		payloads[name] = append(b, encodeRequest(typ, 1, 5*time.Second, "blob.get", []byte("object"))...)
	}

	self := newTestPKI(t) // a CA of its own
	selfCert := self.leaf(t, "intruder")
	attempts := []struct {
		name string
		dial func() (net.Conn, error)
	}{
		{"plain TCP", func() (net.Conn, error) { return net.Dial("tcp", srv.Addr()) }},
		{"TLS without a client certificate", func() (net.Conn, error) {
			return tls.Dial("tcp", srv.Addr(), &tls.Config{InsecureSkipVerify: true})
		}},
		{"TLS with a self-made certificate", func() (net.Conn, error) {
			return tls.Dial("tcp", srv.Addr(), &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{selfCert}})
		}},
	}
	refusals := 0
	for _, a := range attempts {
		for kind, wire := range payloads {
			t.Run(a.name+"/"+kind, func(t *testing.T) {
				refusals++
				c, err := a.dial()
				if err == nil {
					defer c.Close()
					_ = c.SetDeadline(time.Now().Add(5 * time.Second))
					_, _ = c.Write(wire)
					if got, _ := io.ReadAll(c); len(got) != 0 {
						t.Fatalf("the listener answered %d bytes (%q)", len(got), got)
					}
				} // else refused during the handshake: nothing could be sent
				testutil.WaitUntil(t, 5*time.Second, "the refusal reported", func() bool { return log.numRefused() >= refusals })
			})
		}
	}
	select {
	case m := <-ran:
		t.Fatalf("handler %s ran for a foreign process", m)
	default:
	}
}
