package trust

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"strings"
	"time"
)

// Errors of certificates.
var (
	// ErrNoIdentity is returned for a certificate without exactly one nebulaio:// URI naming
	// a cluster and a node (doc.go, "Node certificates").
	ErrNoIdentity = errors.New("trust: certificate names no NebulaIO node")
	// ErrCAFile is returned for operator-supplied CA, certificate or key files that cannot be
	// used (unreadable, not PEM, no CA certificate, key does not match).
	ErrCAFile = errors.New("trust: unusable certificate files")
)

// The fixed fields of the derived CA certificate: every node derives the same certificate from
// the same secret (the key and serial come from the secret, ed25519 signatures are
// deterministic, and nothing else varies).
var (
	caNotBefore = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	caNotAfter  = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC) // RFC 5280: no expiry
)

// uriScheme is the scheme of the URI SAN that names a node: nebulaio://<cluster ID>/node/<node ID>.
const uriScheme = "nebulaio"

// DefaultCertValidity is how long an issued node certificate is valid; a Creds renews its own
// once a third of that remains (doc.go, "Node certificates").
const DefaultCertValidity = 30 * 24 * time.Hour

// NodeIdentity names a node of a cluster, as carried in its certificate.
type NodeIdentity struct {
	ClusterID string
	NodeID    string
}

// URI returns the URI SAN naming the node: nebulaio://<cluster ID>/node/<node ID, path-escaped>.
func (n NodeIdentity) URI() *url.URL {
	return &url.URL{Scheme: uriScheme, Host: n.ClusterID, Path: "/node/" + n.NodeID, RawPath: "/node/" + url.PathEscape(n.NodeID)}
}

// IdentityOf returns the node identity a certificate carries: its one nebulaio:// URI SAN.
// It does not verify the certificate.
func IdentityOf(cert *x509.Certificate) (NodeIdentity, error) {
	var found []NodeIdentity
	for _, u := range cert.URIs {
		if u.Scheme != uriScheme {
			continue
		}
		id, ok := strings.CutPrefix(u.Path, "/node/")
		if !ok || id == "" || strings.Contains(id, "/") || CheckClusterID(u.Host) != nil {
			return NodeIdentity{}, fmt.Errorf("%w: malformed URI %q", ErrNoIdentity, u.String())
		}
		found = append(found, NodeIdentity{ClusterID: u.Host, NodeID: id})
	}
	if len(found) != 1 {
		return NodeIdentity{}, fmt.Errorf("%w: %d nebulaio:// URIs in the certificate of %q, want 1", ErrNoIdentity, len(found), cert.Subject.CommonName)
	}
	return found[0], nil
}

// CA is a certificate authority: the one derived from a cluster secret, or one an operator
// supplied (which may lack its key: then it only verifies).
type CA struct {
	Cert *x509.Certificate
	key  crypto.Signer // nil when this node cannot issue
}

// DeriveCA returns the cluster's CA: an ed25519 key from HKDF(secret, "nebulaio cluster CA key
// v1") and a self-signed certificate whose every field is fixed or derived from the secret, so
// that every node derives byte-identical certificates.
func DeriveCA(s Secret) (*CA, error) {
	key := ed25519.NewKeyFromSeed(s.derive(infoCAKey, ed25519.SeedSize))
	pub := key.Public().(ed25519.PublicKey)
	serial := s.derive(infoCASerial, 16)
	serial[0] &= 0x7f // positive
	// The subject key ID is set here rather than left to crypto/x509, whose default method
	// has changed between Go releases: nodes built apart must derive the same certificate.
	ski := sha256.Sum256(pub)
	tmpl := &x509.Certificate{
		SerialNumber: new(big.Int).SetBytes(serial),
		Subject: pkix.Name{
			Organization: []string{"NebulaIO"},
			CommonName:   "NebulaIO cluster CA " + hex.EncodeToString(pub[:4]),
		},
		NotBefore:             caNotBefore,
		NotAfter:              caNotAfter,
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		SubjectKeyId:          ski[:20],
	}
	// No randomness may enter: ed25519 signs deterministically, and a reader that fails
	// turns any future use of it by crypto/x509 into an error rather than a different CA.
	der, err := x509.CreateCertificate(noRandom{}, tmpl, tmpl, pub, key)
	if err != nil {
		return nil, fmt.Errorf("trust: derive CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("trust: derive CA: %w", err)
	}
	return &CA{Cert: cert, key: key}, nil
}

type noRandom struct{}

func (noRandom) Read([]byte) (int, error) {
	return 0, errors.New("trust: no randomness in a derived CA")
}

// CanIssue reports whether the CA holds its key.
func (ca *CA) CanIssue() bool { return ca.key != nil }

// Pool returns a pool holding the CA certificate.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Issue creates a node certificate for id with a fresh ed25519 key, valid from an hour before
// now (clock skew between nodes) for validity: the URI SAN names cluster and node, the
// common name is the node ID, and it serves both TLS server and client authentication.
func (ca *CA) Issue(id NodeIdentity, now time.Time, validity time.Duration) (tls.Certificate, error) {
	if ca.key == nil {
		return tls.Certificate{}, fmt.Errorf("%w: the CA key is not available to issue certificates", ErrCAFile)
	}
	if err := CheckClusterID(id.ClusterID); err != nil {
		return tls.Certificate{}, err
	}
	if id.NodeID == "" || strings.ContainsAny(id.NodeID, "/ \t\n") {
		return tls.Certificate{}, fmt.Errorf("trust: node ID %q cannot be put in a certificate", id.NodeID)
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("trust: node key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("trust: serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{"NebulaIO cluster " + id.ClusterID}, CommonName: id.NodeID},
		URIs:         []*url.URL{id.URI()},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("trust: issue certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// PEM encodings, for the files an operator's tools read and write.

// CertPEM encodes a certificate as PEM.
func CertPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// KeyPEM encodes a private key as PKCS#8 PEM.
func KeyPEM(key crypto.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// NewCA creates a random CA (for `nebulaio certs init`: operators who keep their own CA rather
// than deriving it from the cluster secret), valid for validity from now.
func NewCA(name string, now time.Time, validity time.Duration) (*CA, error) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"NebulaIO"}, CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, key: key}, nil
}

// ParseCA reads a CA from PEM: the certificate and, when keyPEM is not nil, its key (which
// must match).
func ParseCA(certPEM, keyPEM []byte) (*CA, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%w: CA certificate: no PEM CERTIFICATE block", ErrCAFile)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: CA certificate: %v", ErrCAFile, err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("%w: CA certificate %q is not a CA (basic constraints)", ErrCAFile, cert.Subject.CommonName)
	}
	ca := &CA{Cert: cert}
	if keyPEM != nil {
		kb, _ := pem.Decode(keyPEM)
		if kb == nil {
			return nil, fmt.Errorf("%w: CA key: no PEM block", ErrCAFile)
		}
		k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: CA key: %v", ErrCAFile, err)
		}
		signer, ok := k.(crypto.Signer)
		if !ok || !publicKeysEqual(signer.Public(), cert.PublicKey) {
			return nil, fmt.Errorf("%w: CA key does not belong to the CA certificate", ErrCAFile)
		}
		ca.key = signer
	}
	return ca, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

// LoadFiles reads operator-supplied files: the CA certificate (no key: nodes only verify with
// it) and this node's certificate and key (cluster.tls_ca_file, tls_cert_file, tls_key_file).
// Errors wrap ErrCAFile and name the file.
func LoadFiles(caFile, certFile, keyFile string) (*CA, *tls.Certificate, error) {
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: cluster.tls_ca_file: %w", ErrCAFile, err)
	}
	ca, err := ParseCA(caPEM, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster.tls_ca_file %s: %w", caFile, err)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: cluster.tls_cert_file/tls_key_file (%s, %s): %v", ErrCAFile, certFile, keyFile, err)
	}
	return ca, &cert, nil
}

// KeyPEM encodes the CA's key as PKCS#8 PEM (`nebulaio certs init` writes it).
func (ca *CA) KeyPEM() ([]byte, error) {
	if ca.key == nil {
		return nil, fmt.Errorf("%w: the CA key is not available", ErrCAFile)
	}
	return KeyPEM(ca.key)
}
