package httpapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nebulaio/nebulaio/internal/testutil"
)

// tlsServer serves h over TLS from a CertReloader of a fresh certificate in dir.
func tlsServer(t *testing.T, h http.Handler) (*CertReloader, *testutil.TestCA, string, string, string) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca := testutil.NewTestCA(t)
	ca.Issue(t, "first", certFile, keyFile)
	r, err := NewCertReloader(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewStreamingServer(h, Timeouts{})
	go func() { _ = srv.Serve(r.Listener(ln)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return r, ca, certFile, keyFile, "https://" + ln.Addr().String()
}

func clientOf(ca *testutil.TestCA, keepAlive bool) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, DisableKeepAlives: !keepAlive, ForceAttemptHTTP2: true,
	}}
}

// TestCertReloadUnderLoad: clients on kept-alive connections and on new ones run requests in
// a loop while the certificate is replaced and reloaded twenty times; not one request fails,
// the kept-alive connections stay open throughout (each client opened one), a slow response
// that spans the reloads completes, and new handshakes get the new certificate.
func TestCertReloadUnderLoad(t *testing.T) {
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			_, _ = io.WriteString(w, "first half;")
			http.NewResponseController(w).Flush()
			<-release
		}
		_, _ = io.WriteString(w, "ok")
	})
	r, ca, certFile, keyFile, base := tlsServer(t, h)

	// The slow request holds its connection open across every reload.
	slow := make(chan error, 1)
	go func() {
		resp, err := clientOf(ca, true).Get(base + "/slow")
		if err != nil {
			slow <- err
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && string(b) != "first half;ok" {
			err = fmt.Errorf("slow body %q", b)
		}
		slow <- err
	}()

	var stop atomic.Bool
	var requests, failures atomic.Int64
	var kaConns atomic.Int64 // connections opened by the keep-alive clients
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func(keepAlive bool) {
			defer wg.Done()
			c := clientOf(ca, keepAlive)
			trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
				if keepAlive && !i.Reused {
					kaConns.Add(1)
				}
			}}
			for !stop.Load() {
				req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", base+"/", nil)
				resp, err := c.Do(req)
				if err == nil {
					var b []byte
					b, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && (resp.StatusCode != 200 || string(b) != "ok") {
						err = fmt.Errorf("%d %q", resp.StatusCode, b)
					}
				}
				requests.Add(1)
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}(i%2 == 0)
	}
	var last *big.Int
	for i := range 20 {
		before := requests.Load()
		last = ca.Issue(t, fmt.Sprintf("cert-%d", i), certFile, keyFile)
		if err := r.Reload(); err != nil {
			t.Fatal(err)
		}
		// Let requests run under the new certificate before the next reload.
		testutil.WaitFor(t, 10*time.Second, "requests after a reload", func() error {
			if n := requests.Load() - before; n < 20 {
				return fmt.Errorf("%d requests", n)
			}
			return nil
		})
	}
	stop.Store(true)
	wg.Wait()
	close(release)
	if err := <-slow; err != nil {
		t.Fatalf("the slow request across the reloads: %v", err)
	}
	if failures.Load() > 0 {
		t.Fatalf("%d of %d requests failed during reloads; first: %v", failures.Load(), requests.Load(), firstErr.Load())
	}
	if kaConns.Load() != 2 {
		t.Fatalf("the two keep-alive clients opened %d connections: reloads dropped connections", kaConns.Load())
	}
	resp, err := clientOf(ca, false).Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.TLS.PeerCertificates[0].SerialNumber; got.Cmp(last) != 0 {
		t.Fatalf("a new connection got certificate %s, want the last one reloaded, %s", got, last)
	}
	if resp.TLS.NegotiatedProtocol == "h2" || resp.ProtoMajor != 1 {
		t.Fatalf("protocol %s / ALPN %q, want HTTP/1.1", resp.Proto, resp.TLS.NegotiatedProtocol)
	}
	t.Logf("%d requests, 20 reloads, 0 failures", requests.Load())
}

// TestCertReloadKeepsCertificateOnError: a reload of files that are missing, not PEM, or a
// key that does not match keeps the certificate in force and says which files failed.
func TestCertReloadKeepsCertificateOnError(t *testing.T) {
	r, ca, certFile, keyFile, base := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	m := &tlsMetrics{v: map[string]float64{}}
	r.Report(m, MetricTLSS3Expiry)
	if got, want := m.get(MetricTLSS3Expiry), float64(r.Certificate().Leaf.NotAfter.Unix()); got != want {
		t.Fatalf("expiry gauge %v, want %v", got, want)
	}
	good := r.Certificate()
	otherKey := filepath.Join(t.TempDir(), "other.key")
	ca.Issue(t, "other", filepath.Join(filepath.Dir(otherKey), "other.crt"), otherKey)
	otherPEM, err := os.ReadFile(otherKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		damage func()
	}{
		{"certificate missing", func() { _ = os.Remove(certFile) }},
		{"certificate not PEM", func() { _ = os.WriteFile(certFile, []byte("half written"), 0o600) }},
		{"key of another certificate", func() { _ = os.WriteFile(keyFile, otherPEM, 0o600) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca.Issue(t, "fine", certFile, keyFile)
			if err := r.Reload(); err != nil {
				t.Fatal(err)
			}
			good = r.Certificate()
			tc.damage()
			err := r.Reload()
			if !errors.Is(err, ErrTLSFiles) {
				t.Fatalf("Reload = %v, want ErrTLSFiles", err)
			}
			if r.Certificate() != good {
				t.Fatal("a failed reload replaced the certificate")
			}
			resp, err := clientOf(ca, false).Get(base + "/")
			if err != nil {
				t.Fatalf("after a failed reload: %v", err)
			}
			resp.Body.Close()
		})
	}
	if m.get(MetricTLSReloads) != 3 || m.get(MetricTLSReloadFailures) != 3 {
		t.Fatalf("reloads counted %v, failures %v; want 3 and 3", m.get(MetricTLSReloads), m.get(MetricTLSReloadFailures))
	}
	if _, err := NewCertReloader(filepath.Join(t.TempDir(), "none.crt"), keyFile); !errors.Is(err, ErrTLSFiles) {
		t.Fatalf("NewCertReloader of a missing file = %v", err)
	}
}

// tlsMetrics records what a CertReloader reports.
type tlsMetrics struct {
	mu sync.Mutex
	v  map[string]float64
}

func (m *tlsMetrics) Counter(name string, d float64) { m.mu.Lock(); m.v[name] += d; m.mu.Unlock() }
func (m *tlsMetrics) Gauge(name string, v float64)   { m.mu.Lock(); m.v[name] = v; m.mu.Unlock() }
func (m *tlsMetrics) Observe(string, float64)        {}
func (m *tlsMetrics) get(name string) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.v[name]
}
