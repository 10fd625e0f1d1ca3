package transport

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newNode starts a Transport on 127.0.0.1:0 and closes it at the end of the test.
func newNode(t testing.TB, cfg Config) *Transport {
	t.Helper()
	if cfg.BindAddr == "" {
		cfg.BindAddr = "127.0.0.1:0"
	}
	tr, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// waitFor polls cond until it holds or the deadline passes.
func echo(_ context.Context, req []byte) ([]byte, error) { return req, nil }

// testPKI is a CA and one leaf certificate (for 127.0.0.1, server and client use) per node.
type testPKI struct {
	pool *x509.CertPool
	ca   *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "nebulaio test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &testPKI{pool: pool, ca: ca, key: key}
}

var serial struct {
	sync.Mutex
	n int64
}

func (p *testPKI) leaf(t testing.TB, name string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial.Lock()
	serial.n++
	sn := serial.n + 1
	serial.Unlock()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(sn),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// mutualTLS returns server and client configs for one node, requiring client certificates.
func (p *testPKI) mutualTLS(t testing.TB, name string) (server, client *tls.Config) {
	cert := p.leaf(t, name)
	server = &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    p.pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}
	client = &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      p.pool,
		MinVersion:   tls.VersionTLS13,
	}
	return server, client
}

// recMetrics records what the transport reports and rejects names not in MetricDescs.
type recMetrics struct {
	t    testing.TB
	mu   sync.Mutex
	seen map[string]float64
}

func newRecMetrics(t testing.TB) *recMetrics {
	return &recMetrics{t: t, seen: make(map[string]float64)}
}

func (m *recMetrics) check(name string) {
	for _, d := range MetricDescs {
		if d.Name == name {
			return
		}
	}
	m.t.Errorf("metric %q reported but not in MetricDescs", name)
}

func (m *recMetrics) Counter(name string, d float64) {
	m.check(name)
	m.mu.Lock()
	m.seen[name] += d
	m.mu.Unlock()
}

func (m *recMetrics) Gauge(name string, v float64) {
	m.check(name)
	m.mu.Lock()
	m.seen[name] = v
	m.mu.Unlock()
}

func (m *recMetrics) Observe(name string, v float64) {
	m.check(name)
	m.mu.Lock()
	m.seen[name]++
	m.mu.Unlock()
}

func (m *recMetrics) get(name string) (float64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.seen[name]
	return v, ok
}

func raftAddr(s string) raft.ServerAddress { return raft.ServerAddress(s) }
