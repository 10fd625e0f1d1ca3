package trust

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nebulaio/nebulaio/transport"
)

// cluster is one cluster's secret and CA, issuing credentials for its nodes.
type cluster struct {
	id     string
	secret Secret
	ca     *CA
}

func newCluster(t testing.TB) *cluster {
	t.Helper()
	s := mustSecret(t)
	return withSecret(t, s)
}

// withSecret is a cluster bootstrapped apart with a given secret (its ID is its own).
func withSecret(t testing.TB, s Secret) *cluster {
	t.Helper()
	ca, err := DeriveCA(s)
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{id: mustID(t), secret: s, ca: ca}
}

func (c *cluster) creds(t testing.TB, node string) *Creds {
	t.Helper()
	cr, err := NewCreds(CredsConfig{Self: NodeIdentity{ClusterID: c.id, NodeID: node}, CA: c.ca})
	if err != nil {
		t.Fatal(err)
	}
	return cr
}

// handshake runs one TLS handshake over loopback TCP and returns each side's error and the
// server's view of the connection.
func handshake(t *testing.T, server, client *tls.Config) (serverErr, clientErr error, st tls.ConnectionState) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		err error
		st  tls.ConnectionState
	}
	done := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- res{err: err}
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		tc := tls.Server(c, server)
		err = tc.Handshake()
		if err == nil {
			// In TLS 1.3 the client finishes first: exchange a byte, so that a refusal by
			// either side after its own handshake ended is seen by both.
			if _, err = tc.Read(make([]byte, 1)); err == nil {
				_, err = tc.Write([]byte{1})
			}
		}
		done <- res{err: err, st: tc.ConnectionState()}
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
	tc := tls.Client(raw, client)
	clientErr = tc.Handshake()
	if clientErr == nil {
		_, clientErr = tc.Write([]byte{1})
		if clientErr == nil {
			// The server may refuse our certificate after our handshake ended: its alert
			// arrives instead of the answer.
			_, clientErr = tc.Read(make([]byte, 1))
		}
	}
	_ = tc.Close()
	r := <-done
	return r.err, clientErr, r.st
}

func TestDeriveCADeterministic(t *testing.T) {
	s := mustSecret(t)
	a, err := DeriveCA(s)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := DeriveCA(s)
	if !bytes.Equal(a.Cert.Raw, b.Cert.Raw) {
		t.Fatal("two derivations from one secret give different CA certificates")
	}
	c, _ := DeriveCA(mustSecret(t))
	if bytes.Equal(a.Cert.Raw, c.Cert.Raw) || a.Cert.SerialNumber.Cmp(c.Cert.SerialNumber) == 0 {
		t.Fatal("two secrets give the same CA")
	}
	if !a.Cert.IsCA || a.Cert.NotAfter.Year() != 9999 || a.Cert.SerialNumber.Sign() <= 0 {
		t.Fatalf("CA certificate fields: IsCA=%v NotAfter=%v serial=%v", a.Cert.IsCA, a.Cert.NotAfter, a.Cert.SerialNumber)
	}
	if err := a.Cert.CheckSignatureFrom(a.Cert); err != nil {
		t.Fatalf("CA is not self-signed: %v", err)
	}
}

// TestDeriveCAGolden: the CA derived from a fixed secret is the same certificate, byte for
// byte, as when this test was written. A change here means every cluster's CA changes with
// the build: nodes of two builds could no longer verify each other.
func TestDeriveCAGolden(t *testing.T) {
	var s Secret
	for i := range s {
		s[i] = byte(i)
	}
	ca, err := DeriveCA(s)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(ca.Cert.Raw)
	const want = "2d3f943e371566fb6569813a43a63dfc641589a3701ddfd7099259f1ad37843a"
	if got := hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("derived CA certificate SHA-256 = %s, want %s", got, want)
	}
	// HKDF-SHA256 (RFC 5869) of that secret, no salt, info "nebulaio gossip key v1": checked
	// against an independent implementation (Python's hmac) when written.
	if got := s.GossipKey(); hex.EncodeToString(got) != "35d9d24976ff84242e509b15277a783e7ffdfa26ca9dd5e490bf208d9722d889" {
		t.Fatalf("gossip key = %x", got)
	}
}

func TestIssueAndIdentityOf(t *testing.T) {
	c := newCluster(t)
	for _, node := range []string{"node-1", "storage:7", "ünïcode", "a%2Fb"} {
		cert, err := c.ca.Issue(NodeIdentity{ClusterID: c.id, NodeID: node}, time.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		got, err := IdentityOf(cert.Leaf)
		if err != nil || got.NodeID != node || got.ClusterID != c.id {
			t.Fatalf("IdentityOf(%q) = %+v, %v", node, got, err)
		}
	}
	if _, err := c.ca.Issue(NodeIdentity{ClusterID: c.id, NodeID: "a/b"}, time.Now(), time.Hour); err == nil {
		t.Fatal("a node ID with a slash was put in a certificate")
	}
}

// TestMutualTLSBetweenMembers: two nodes of one cluster authenticate each other and each
// sees the other's node ID.
func TestMutualTLSBetweenMembers(t *testing.T) {
	c := newCluster(t)
	a, b := c.creds(t, "node-1"), c.creds(t, "node-2")
	serr, cerr, st := handshake(t, a.ServerTLS(), b.ClientTLS())
	if serr != nil || cerr != nil {
		t.Fatalf("handshake: server %v, client %v", serr, cerr)
	}
	peer, err := PeerOf(&st)
	if err != nil || peer.NodeID != "node-2" || peer.ClusterID != c.id {
		t.Fatalf("server sees %+v, %v", peer, err)
	}
}

// TestForeignAndRogueRefused: whoever cannot prove membership is refused by the handshake,
// with an error that says why — and names both clusters when the peer names one.
func TestForeignAndRogueRefused(t *testing.T) {
	c := newCluster(t)
	member := c.creds(t, "node-1")
	foreign := newCluster(t)                // bootstrapped apart: its own secret and ID
	sameSecret := withSecret(t, c.secret)   // bootstrapped apart with the same configured secret
	selfMade := selfSignedTLS(t, "node-2")  // a rogue's own certificate
	expired := expiredCreds(t, c, "node-3") // a member's certificate past its validity

	cases := []struct {
		name      string
		client    *tls.Config
		wantSrv   error
		foreignID string
	}{
		{"no certificate", &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}, nil, ""}, // crypto/tls refuses it itself
		{"self-made certificate", selfMade, ErrUntrusted, ""},
		{"another cluster's node", foreign.creds(t, "node-1").ClientTLS(), ErrForeignCluster, foreign.id},
		{"same secret, other cluster ID", sameSecret.creds(t, "node-1").ClientTLS(), ErrForeignCluster, sameSecret.id},
		{"expired certificate", expired.ClientTLS(), ErrUntrusted, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			serr, cerr, _ := handshake(t, member.ServerTLS(), tc.client)
			if cerr == nil {
				t.Fatal("the client's handshake and first exchange succeeded")
			}
			// The foreign cluster's own client verifies the member's certificate first and
			// refuses it itself (the member never sees its certificate); the others are
			// refused by the member.
			if tc.foreignID != "" {
				var fe *ForeignError
				if !errors.As(cerr, &fe) || fe.Theirs != c.id || fe.Ours != tc.foreignID {
					t.Fatalf("client error %v, want a ForeignError naming %s and %s", cerr, c.id, tc.foreignID)
				}
				return
			}
			if serr == nil || (tc.wantSrv != nil && !errors.Is(serr, tc.wantSrv)) {
				t.Fatalf("server error %v, want %v", serr, tc.wantSrv)
			}
		})
	}

	// The member as client, dialling a foreign server: refused with both IDs.
	for _, other := range []*cluster{foreign, sameSecret} {
		_, cerr, _ := handshake(t, other.creds(t, "x").ServerTLS(), member.ClientTLS())
		var fe *ForeignError
		if !errors.As(cerr, &fe) || fe.Ours != c.id || fe.Theirs != other.id || fe.Verified != (other == sameSecret) {
			t.Fatalf("dialling cluster %s: %v", other.id, cerr)
		}
		if !strings.Contains(cerr.Error(), c.id) || !strings.Contains(cerr.Error(), other.id) {
			t.Fatalf("error %q does not name both clusters", cerr)
		}
	}
}

func selfSignedTLS(t *testing.T, node string) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: node},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:        true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

func expiredCreds(t *testing.T, c *cluster, node string) *Creds {
	t.Helper()
	cert, err := c.ca.Issue(NodeIdentity{ClusterID: c.id, NodeID: node}, time.Now().Add(-48*time.Hour), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// Built by hand: NewCreds refuses an expired certificate of its own.
	cr := &Creds{cfg: CredsConfig{Self: NodeIdentity{ClusterID: c.id, NodeID: node}, CA: c.ca, Cert: &cert,
		Now: time.Now, Validity: time.Hour}, roots: c.ca.Pool()}
	cr.cur.Store(&cert)
	return cr
}

// TestVerifyPeerChecksNode: after the handshake the hook compares the certificate's node with
// the node known at the address.
func TestVerifyPeerChecksNode(t *testing.T) {
	c := newCluster(t)
	a, b := c.creds(t, "node-1"), c.creds(t, "node-2")
	_, _, st := handshake(t, a.ServerTLS(), b.ClientTLS())
	known := map[string]string{"10.0.0.2:9003": "node-2", "10.0.0.9:9003": "node-9"}
	verify := a.VerifyPeer(func(addr string) (string, bool) { id, ok := known[addr]; return id, ok })
	if err := verify(transport.PeerInfo{Addr: "10.0.0.2:9003", TLS: &st}); err != nil {
		t.Fatalf("the right node at its address: %v", err)
	}
	if err := verify(transport.PeerInfo{Addr: "10.0.0.7:9003", TLS: &st}); err != nil {
		t.Fatalf("an address nobody knows: %v", err)
	}
	err := verify(transport.PeerInfo{Addr: "10.0.0.9:9003", TLS: &st})
	if !errors.Is(err, ErrWrongNode) || !strings.Contains(err.Error(), "node-9") || !strings.Contains(err.Error(), "node-2") {
		t.Fatalf("node-2's certificate at node-9's address: %v, want ErrWrongNode naming both", err)
	}
	if err := verify(transport.PeerInfo{Addr: "10.0.0.2:9003"}); !errors.Is(err, ErrNoCertificate) {
		t.Fatalf("a connection without TLS: %v", err)
	}
}

// TestRenewal: an issued certificate is replaced once a third of its validity remains, with a
// fresh key; an operator's is not.
func TestRenewal(t *testing.T) {
	c := newCluster(t)
	now := time.Now()
	clock := func() time.Time { return now }
	cr, err := NewCreds(CredsConfig{Self: NodeIdentity{ClusterID: c.id, NodeID: "n"}, CA: c.ca, Validity: 30 * time.Hour, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	first := cr.Certificate()
	now = now.Add(19 * time.Hour)
	if cr.Certificate() != first {
		t.Fatal("renewed with more than a third left")
	}
	now = now.Add(2 * time.Hour)
	second := cr.Certificate()
	if second == first || !second.Leaf.NotAfter.After(first.Leaf.NotAfter) || bytes.Equal(second.Leaf.RawSubjectPublicKeyInfo, first.Leaf.RawSubjectPublicKeyInfo) {
		t.Fatal("not renewed with a fresh key when a third was left")
	}
}

// TestOperatorCertificates: a CA and node certificate an operator made (nebulaio certs) work
// like derived ones; a certificate naming another node, or from another CA, is refused at
// start.
func TestOperatorCertificates(t *testing.T) {
	ca, err := NewCA("ops CA", time.Now(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// Through PEM, as the files on disk.
	keyPEM, _ := KeyPEM(ca.key)
	ca2, err := ParseCA(CertPEM(ca.Cert.Raw), keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	verifyOnly, err := ParseCA(CertPEM(ca.Cert.Raw), nil)
	if err != nil || verifyOnly.CanIssue() {
		t.Fatalf("ParseCA without key: %v", err)
	}
	id := mustID(t)
	issue := func(node string) *tls.Certificate {
		cert, err := ca2.Issue(NodeIdentity{ClusterID: id, NodeID: node}, time.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return &cert
	}
	a, err := NewCreds(CredsConfig{Self: NodeIdentity{ClusterID: id, NodeID: "n1"}, CA: verifyOnly, Cert: issue("n1")})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewCreds(CredsConfig{Self: NodeIdentity{ClusterID: id, NodeID: "n2"}, CA: verifyOnly, Cert: issue("n2")})
	if err != nil {
		t.Fatal(err)
	}
	if serr, cerr, _ := handshake(t, a.ServerTLS(), b.ClientTLS()); serr != nil || cerr != nil {
		t.Fatalf("operator certificates: %v / %v", serr, cerr)
	}
	if _, err := NewCreds(CredsConfig{Self: NodeIdentity{ClusterID: id, NodeID: "n1"}, CA: verifyOnly, Cert: issue("n2")}); err == nil ||
		!strings.Contains(err.Error(), `"n2"`) {
		t.Fatalf("a certificate for another node accepted at start: %v", err)
	}
	other := newCluster(t)
	wrongCA, _ := other.ca.Issue(NodeIdentity{ClusterID: id, NodeID: "n1"}, time.Now(), time.Hour)
	if _, err := NewCreds(CredsConfig{Self: NodeIdentity{ClusterID: id, NodeID: "n1"}, CA: verifyOnly, Cert: &wrongCA}); !errors.Is(err, ErrCAFile) {
		t.Fatalf("a certificate from another CA accepted at start: %v", err)
	}
	if _, err := ParseCA(CertPEM(ca.Cert.Raw), mustPEMKey(t)); !errors.Is(err, ErrCAFile) {
		t.Fatalf("a key of another CA: %v", err)
	}

	// The same through files, as cluster.tls_*_file name them.
	dir := t.TempDir()
	n3 := issue("n3")
	n3key, _ := KeyPEM(n3.PrivateKey)
	files := map[string][]byte{"ca.pem": CertPEM(ca.Cert.Raw), "n3.pem": CertPEM(n3.Certificate[0]), "n3.key": n3key}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fca, fcert, err := LoadFiles(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "n3.pem"), filepath.Join(dir, "n3.key"))
	if err != nil {
		t.Fatal(err)
	}
	c3, err := NewCreds(CredsConfig{Self: NodeIdentity{ClusterID: id, NodeID: "n3"}, CA: fca, Cert: fcert})
	if err != nil {
		t.Fatal(err)
	}
	if serr, cerr, _ := handshake(t, a.ServerTLS(), c3.ClientTLS()); serr != nil || cerr != nil {
		t.Fatalf("certificates from files: %v / %v", serr, cerr)
	}
	if _, _, err := LoadFiles(filepath.Join(dir, "absent.pem"), "", ""); !errors.Is(err, ErrCAFile) || !strings.Contains(err.Error(), "cluster.tls_ca_file") {
		t.Fatalf("a missing CA file: %v", err)
	}
}

func mustPEMKey(t *testing.T) []byte {
	t.Helper()
	other, err := NewCA("x", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b, err := KeyPEM(other.key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
