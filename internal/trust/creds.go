package trust

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nebulaio/nebulaio/transport"
)

// Errors of peer verification. Each refusal returns one of them (or a *ForeignError, which
// matches ErrForeignCluster).
var (
	// ErrNoCertificate is returned when a peer presented no certificate (or the connection
	// is not TLS at all).
	ErrNoCertificate = errors.New("trust: peer presented no certificate")
	// ErrUntrusted is returned when a peer's certificate is not signed by the cluster's CA
	// (or expired, or not for the right use).
	ErrUntrusted = errors.New("trust: peer certificate not trusted")
	// ErrForeignCluster is matched by *ForeignError: the peer belongs to another cluster.
	ErrForeignCluster = errors.New("trust: peer belongs to another cluster")
	// ErrWrongNode is returned when the certificate at an address names another node than
	// the one this node knows there.
	ErrWrongNode = errors.New("trust: peer certificate names another node")
)

// ForeignError says that a peer belongs to another cluster. Verified is false when its
// certificate is not signed by this cluster's CA, so its cluster ID is only its claim.
type ForeignError struct {
	Ours, Theirs string // cluster IDs
	NodeID       string // the peer's node ID, as its certificate names it
	Verified     bool
}

func (e *ForeignError) Error() string {
	s := fmt.Sprintf("trust: node %q belongs to cluster %s, this node to cluster %s", e.NodeID, e.Theirs, e.Ours)
	if !e.Verified {
		s += " (its certificate is not signed by this cluster's CA)"
	}
	return s
}

// Is makes errors.Is(err, ErrForeignCluster) true.
func (e *ForeignError) Is(target error) bool { return target == ErrForeignCluster }

// CredsConfig configures a node's TLS credentials.
type CredsConfig struct {
	// Self is this node's identity: its certificate must name it.
	Self NodeIdentity
	// CA verifies peers; when Cert is nil it also issues this node's certificate (and must
	// hold its key: DeriveCA's does).
	CA *CA
	// Cert is an operator-supplied certificate for this node (it must chain to CA and name
	// Self); nil issues one from CA at start and renews it in memory.
	Cert *tls.Certificate
	// Validity of issued certificates (default DefaultCertValidity).
	Validity time.Duration
	// Now is the clock (default time.Now); tests move it.
	Now func() time.Time
}

// Creds are a node's credentials on the node-to-node port: its certificate and the cluster
// CA it verifies peers against. ServerTLS and ClientTLS are the transport's configurations;
// VerifyPeer is its identity hook. Safe for concurrent use.
type Creds struct {
	cfg   CredsConfig
	roots *x509.CertPool
	cur   atomic.Pointer[tls.Certificate]
	mu    sync.Mutex // serialises renewal
}

// NewCreds checks cfg and issues the first certificate (or checks the operator's).
func NewCreds(cfg CredsConfig) (*Creds, error) {
	if cfg.CA == nil {
		return nil, errors.New("trust: CredsConfig.CA is required")
	}
	if cfg.Validity <= 0 {
		cfg.Validity = DefaultCertValidity
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Creds{cfg: cfg, roots: cfg.CA.Pool()}
	if cfg.Cert == nil {
		cert, err := cfg.CA.Issue(cfg.Self, cfg.Now(), cfg.Validity)
		if err != nil {
			return nil, err
		}
		c.cur.Store(&cert)
		return c, nil
	}
	cert := *cfg.Cert
	if len(cert.Certificate) == 0 {
		return nil, fmt.Errorf("%w: empty certificate", ErrCAFile)
	}
	if cert.Leaf == nil {
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCAFile, err)
		}
		cert.Leaf = leaf
	}
	certs := []*x509.Certificate{cert.Leaf}
	for _, der := range cert.Certificate[1:] {
		ic, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("%w: intermediate: %v", ErrCAFile, err)
		}
		certs = append(certs, ic)
	}
	got, err := c.verify(certs, x509.ExtKeyUsageServerAuth)
	if err == nil {
		_, err = c.verify(certs, x509.ExtKeyUsageClientAuth)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: this node's own certificate: %w", ErrCAFile, err)
	}
	if got.NodeID != cfg.Self.NodeID {
		return nil, fmt.Errorf("%w: this node's certificate names node %q, but node_id is %q", ErrCAFile, got.NodeID, cfg.Self.NodeID)
	}
	c.cur.Store(&cert)
	return c, nil
}

// Self returns this node's identity.
func (c *Creds) Self() NodeIdentity { return c.cfg.Self }

// Certificate returns the certificate this node presents, renewing an issued one once less
// than a third of its validity remains (a failed renewal keeps the current one).
func (c *Creds) Certificate() *tls.Certificate {
	cur := c.cur.Load()
	if c.cfg.Cert != nil || cur.Leaf.NotAfter.Sub(c.cfg.Now()) > c.cfg.Validity/3 {
		return cur
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur = c.cur.Load(); cur.Leaf.NotAfter.Sub(c.cfg.Now()) > c.cfg.Validity/3 {
		return cur
	}
	if cert, err := c.cfg.CA.Issue(c.cfg.Self, c.cfg.Now(), c.cfg.Validity); err == nil {
		c.cur.Store(&cert)
		return &cert
	}
	return cur
}

// ServerTLS is the listener's configuration: TLS 1.3 only, a client certificate required and
// verified by Verify against the cluster CA (so that a foreign cluster's certificate is
// reported as such rather than as a bare "bad certificate").
func (c *Creds) ServerTLS() *tls.Config {
	return &tls.Config{
		MinVersion:             tls.VersionTLS13,
		GetCertificate:         func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.Certificate(), nil },
		ClientAuth:             tls.RequireAnyClientCert,
		SessionTicketsDisabled: true, // every connection verifies a certificate
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := c.verify(cs.PeerCertificates, x509.ExtKeyUsageClientAuth)
			return err
		},
	}
}

// ClientTLS is the dialler's configuration: TLS 1.3 only, this node's certificate, and the
// server's verified by Verify against the cluster CA. Host names play no part (nodes are
// named by their certificates' URI, not by DNS), which is why the standard verification is
// replaced, not skipped: VerifyConnection does it.
func (c *Creds) ClientTLS() *tls.Config {
	return &tls.Config{
		MinVersion:           tls.VersionTLS13,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return c.Certificate(), nil },
		InsecureSkipVerify:   true, // replaced by VerifyConnection below, which verifies the chain
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := c.verify(cs.PeerCertificates, x509.ExtKeyUsageServerAuth)
			return err
		},
	}
}

// verify checks a peer's chain against the cluster CA for one use and returns the identity
// it names: ErrNoCertificate, ErrUntrusted, ErrNoIdentity or a *ForeignError otherwise.
func (c *Creds) verify(certs []*x509.Certificate, usage x509.ExtKeyUsage) (NodeIdentity, error) {
	if len(certs) == 0 {
		return NodeIdentity{}, ErrNoCertificate
	}
	leaf := certs[0]
	inter := x509.NewCertPool()
	for _, ic := range certs[1:] {
		inter.AddCert(ic)
	}
	claimed, idErr := IdentityOf(leaf)
	_, err := leaf.Verify(x509.VerifyOptions{Roots: c.roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{usage}, CurrentTime: c.cfg.Now()})
	switch {
	case err != nil && idErr == nil && claimed.ClusterID != c.cfg.Self.ClusterID:
		return claimed, &ForeignError{Ours: c.cfg.Self.ClusterID, Theirs: claimed.ClusterID, NodeID: claimed.NodeID}
	case err != nil:
		return claimed, fmt.Errorf("%w: %v", ErrUntrusted, err)
	case idErr != nil:
		return claimed, idErr
	case claimed.ClusterID != c.cfg.Self.ClusterID:
		return claimed, &ForeignError{Ours: c.cfg.Self.ClusterID, Theirs: claimed.ClusterID, NodeID: claimed.NodeID, Verified: true}
	}
	return claimed, nil
}

// PeerOf returns the identity of a connection's peer, as verified in its handshake.
func PeerOf(cs *tls.ConnectionState) (NodeIdentity, error) {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return NodeIdentity{}, ErrNoCertificate
	}
	return IdentityOf(cs.PeerCertificates[0])
}

// VerifyPeer returns the transport's identity hook (transport.Config.VerifyPeer). The TLS
// handshake has already verified the chain and the cluster; the hook adds the node: when
// expect knows which node is at the peer's address (the dialled one, or the one an inbound
// peer claims in its preamble), the certificate must name that node (ErrWrongNode).
// Addresses expect does not know (a member not yet in raft or gossip) pass on the strength
// of the certificate alone.
func (c *Creds) VerifyPeer(expect func(addr string) (nodeID string, known bool)) func(transport.PeerInfo) error {
	return func(p transport.PeerInfo) error {
		id, err := PeerOf(p.TLS)
		if err != nil {
			return err
		}
		if id.ClusterID != c.cfg.Self.ClusterID { // the handshake checked it; never trust one path alone
			return &ForeignError{Ours: c.cfg.Self.ClusterID, Theirs: id.ClusterID, NodeID: id.NodeID, Verified: true}
		}
		if expect == nil {
			return nil
		}
		if want, ok := expect(p.Addr); ok && want != id.NodeID {
			return fmt.Errorf("%w: %s is node %q, but the certificate presented there names %q", ErrWrongNode, p.Addr, want, id.NodeID)
		}
		return nil
	}
}
