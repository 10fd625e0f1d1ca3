package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/nebulaio/nebulaio/internal/trust"
)

// runCerts is `nebulaio certs init|node`: a certificate authority of the operator's own and
// node certificates signed by it, for cluster.tls_ca_file, tls_cert_file and tls_key_file
// (docs/security.md, "Certificates"). Without them nodes issue their own certificates from the
// cluster secret; these commands are for operators who keep the CA key off the nodes.
func runCerts(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("nebulaio certs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", ".", "directory of ca.pem and ca.key, and of the files written")
	days := fs.Int("days", 0, "validity in days (default: 3650 for the CA, 365 for a node)")
	nodeID := fs.String("node_id", "", "node: the node's node_id")
	clusterID := fs.String("cluster_id", "", "node: the cluster's ID (nebulaio cluster health shows it; the second part of the join token)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: nebulaio certs [flags] <init|node>

commands:
  init   create a CA: <dir>/ca.pem and <dir>/ca.key (mode 0600; keep it off the nodes)
  node   create <dir>/<node_id>.pem and <dir>/<node_id>.key signed by <dir>/ca.*, naming
         nebulaio://<cluster_id>/node/<node_id>; needs --node_id and --cluster_id

Give every node ca.pem as cluster.tls_ca_file and its own pair as tls_cert_file/tls_key_file.
Existing files are never overwritten.

flags:
`)
		fs.PrintDefaults()
	}
	if len(args) == 0 {
		fs.Usage()
		return 2
	}
	cmd := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return 2
	}
	var err error
	switch cmd {
	case "init":
		err = certsInit(*dir, *days, stdout)
	case "node":
		if *nodeID == "" || *clusterID == "" {
			fmt.Fprintln(stderr, "nebulaio: certs node needs --node_id and --cluster_id")
			return 2
		}
		err = certsNode(*dir, *days, trust.NodeIdentity{ClusterID: *clusterID, NodeID: *nodeID}, stdout)
	case "-h", "--help", "help":
		fs.Usage()
		return 0
	default:
		fs.Usage()
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "nebulaio: certs %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

func certsInit(dir string, days int, stdout io.Writer) error {
	if days <= 0 {
		days = 3650
	}
	ca, err := trust.NewCA("NebulaIO operator CA", time.Now(), time.Duration(days)*24*time.Hour)
	if err != nil {
		return err
	}
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		return err
	}
	if err := writeNew(filepath.Join(dir, "ca.key"), keyPEM); err != nil {
		return err
	}
	if err := writeNew(filepath.Join(dir, "ca.pem"), trust.CertPEM(ca.Cert.Raw)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s and %s (valid until %s)\n", filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key"), ca.Cert.NotAfter.Format(time.DateOnly))
	return nil
}

func certsNode(dir string, days int, id trust.NodeIdentity, stdout io.Writer) error {
	if days <= 0 {
		days = 365
	}
	if err := trust.CheckClusterID(id.ClusterID); err != nil {
		return fmt.Errorf("--cluster_id: %w", err)
	}
	certPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return err
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, "ca.key"))
	if err != nil {
		return err
	}
	ca, err := trust.ParseCA(certPEM, keyPEM)
	if err != nil {
		return err
	}
	cert, err := ca.Issue(id, time.Now(), time.Duration(days)*24*time.Hour)
	if err != nil {
		return err
	}
	nodeKey, err := trust.KeyPEM(cert.PrivateKey)
	if err != nil {
		return err
	}
	base := filepath.Join(dir, id.NodeID)
	if err := writeNew(base+".key", nodeKey); err != nil {
		return err
	}
	if err := writeNew(base+".pem", trust.CertPEM(cert.Certificate[0])); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s.pem and %s.key for node %s of cluster %s (valid until %s)\n", base, base, id.NodeID, id.ClusterID,
		cert.Leaf.NotAfter.Format(time.DateOnly))
	return nil
}

// writeNew writes a new file with mode 0600; an existing file is an error, never replaced.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists: not overwritten", path)
	}
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
