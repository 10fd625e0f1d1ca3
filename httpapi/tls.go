package httpapi

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/nebulaio/nebulaio/internal/metrics"
)

// TLS of the S3 and admin listeners (s3.tls_cert_file / tls_key_file, admin.*): the listener
// is wrapped once with tls.NewListener, and every handshake asks the CertReloader for the
// certificate in force. Reload reads the files again and swaps the certificate atomically:
// connections already open keep their session and their requests run on undisturbed, new
// handshakes get the new certificate, and nothing is rebound — so a reload (SIGHUP) drops no
// connection and refuses no request. A reload whose files do not parse or do not match keeps
// the certificate in force and returns the error (a half-written file during a rotation is
// then harmless; the next SIGHUP picks up the finished one).
//
// Only HTTP/1.1 is offered (ALPN "http/1.1"): the streaming server's per-request progress
// deadlines (NewStreamingServer) are connection deadlines, which HTTP/2 multiplexing would
// share between requests.

// ErrTLSFiles is returned (wrapped, naming the files) when a certificate and key do not load.
var ErrTLSFiles = errors.New("httpapi: TLS certificate and key do not load")

// The TLS metrics (reported by CertReloader once Report is called).
const (
	MetricTLSReloads        = "nebulaio_tls_reloads_total"
	MetricTLSReloadFailures = "nebulaio_tls_reload_failures_total"
	MetricTLSS3Expiry       = "nebulaio_tls_s3_certificate_expiry_timestamp_seconds"
	MetricTLSAdminExpiry    = "nebulaio_tls_admin_certificate_expiry_timestamp_seconds"
)

// TLSMetricDescs lists the metrics of the listeners' TLS.
var TLSMetricDescs = []metrics.Desc{
	{Name: MetricTLSReloads, Kind: metrics.KindCounter, Help: "TLS certificate reloads of the S3 and admin listeners that took effect (SIGHUP)."},
	{Name: MetricTLSReloadFailures, Kind: metrics.KindCounter, Help: "TLS certificate reloads that failed (files missing, unparsable or not a pair); the previous certificate stays in force."},
	{Name: MetricTLSS3Expiry, Kind: metrics.KindGauge, Help: "Expiry (NotAfter, Unix seconds) of the certificate the S3 listener serves; 0 without TLS."},
	{Name: MetricTLSAdminExpiry, Kind: metrics.KindGauge, Help: "Expiry (NotAfter, Unix seconds) of the certificate the admin listener serves; 0 without TLS."},
}

// CertReloader serves one listener's certificate and reloads it from its files.
type CertReloader struct {
	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate] // never nil after NewCertReloader
	// m and expiry are set by Report before the listener serves, and only read after.
	m      metrics.Metrics
	expiry string
}

// NewCertReloader loads certFile and keyFile (PEM; the certificate file may hold the chain).
func NewCertReloader(certFile, keyFile string) (*CertReloader, error) {
	r := &CertReloader{certFile: certFile, keyFile: keyFile}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload reads the files again; on error the certificate in force stays.
func (r *CertReloader) Reload() error {
	err := r.load()
	if r.m != nil {
		if err != nil {
			r.m.Counter(MetricTLSReloadFailures, 1)
		} else {
			r.m.Counter(MetricTLSReloads, 1)
			r.reportExpiry()
		}
	}
	return err
}

func (r *CertReloader) load() error {
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("%w: %s and %s: %w", ErrTLSFiles, r.certFile, r.keyFile, err)
	}
	r.cert.Store(&c)
	return nil
}

// Report makes the reloader count its reloads on m and publish the expiry of the certificate
// in force as the gauge expiry (MetricTLSS3Expiry or MetricTLSAdminExpiry). Call it before the
// listener serves.
func (r *CertReloader) Report(m metrics.Metrics, expiry string) {
	r.m, r.expiry = m, expiry
	r.reportExpiry()
}

func (r *CertReloader) reportExpiry() {
	if leaf := r.leaf(); leaf != nil {
		r.m.Gauge(r.expiry, float64(leaf.NotAfter.Unix()))
	}
}

// leaf is the parsed certificate in force (nil if it does not parse, which LoadX509KeyPair
// already refuses).
func (r *CertReloader) leaf() *x509.Certificate {
	c := r.cert.Load()
	if c.Leaf != nil {
		return c.Leaf
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return nil
	}
	return leaf
}

// Certificate is the certificate in force (its Leaf parsed).
func (r *CertReloader) Certificate() *tls.Certificate { return r.cert.Load() }

// Describe summarises the certificate in force for a log line: subject, DNS names and IPs,
// expiry.
func (r *CertReloader) Describe() string {
	leaf := r.leaf()
	if leaf == nil {
		return "unparsable certificate"
	}
	return fmt.Sprintf("subject %q, names %v %v, expires %s", leaf.Subject.String(), leaf.DNSNames, leaf.IPAddresses,
		leaf.NotAfter.UTC().Format(time.RFC3339))
}

// TLSConfig is the server configuration that serves the certificate in force.
func (r *CertReloader) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return r.cert.Load(), nil
		},
	}
}

// Listener wraps ln so that it serves TLS with the certificate in force.
func (r *CertReloader) Listener(ln net.Listener) net.Listener {
	return tls.NewListener(ln, r.TLSConfig())
}
