package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nebulaio/nebulaio/internal/testcluster"
)

// TestBackupCLIRefusals: the backup and recover commands refuse bad usage (exit 2) and bad
// input (exit 1) with a message naming what is wrong, and leave no partial file behind.
func TestBackupCLIRefusals(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Nodes: 1})
	c.WaitForLeader()
	if _, err := c.S3Client(0).CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("bkt")}); err != nil {
		t.Fatal(err)
	}
	// Over the inline limit: its bytes are a blob file, which a restore must find.
	if err := c.PutObject(0, "bkt", "k", []byte(strings.Repeat("v", 100<<10))); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.tar.gz")
	try := func(code int, want string, args ...string) string {
		t.Helper()
		var out, errOut strings.Builder
		got := run(args, &out, &errOut)
		all := out.String() + errOut.String()
		if got != code || !strings.Contains(all, want) {
			t.Fatalf("nebulaio %v: exit %d, want %d with %q:\n%s", args, got, code, want, all)
		}
		return all
	}
	try(0, "1 buckets, 1 objects", "backup", "create", "--admin", c.AdminURL(0), "--token", testcluster.AdminToken, "--to", good)
	try(1, "unauthorized", "backup", "create", "--admin", c.AdminURL(0), "--token", "wrong", "--to", filepath.Join(dir, "x"))
	if _, err := os.Stat(filepath.Join(dir, "x.partial")); !os.IsNotExist(err) {
		t.Fatalf("a refused backup left a partial file (%v)", err)
	}
	try(2, "--to FILE is required", "backup", "create", "--admin", c.AdminURL(0))
	try(2, "unknown command", "backup", "frobnicate")
	try(2, "usage: nebulaio backup verify FILE", "backup", "verify")

	// A flipped byte anywhere is found (gzip's CRC, the SHA-256s or a record).
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x01
	bad := filepath.Join(dir, "bad.tar.gz")
	if err := os.WriteFile(bad, b, 0o600); err != nil {
		t.Fatal(err)
	}
	try(1, "backup: ", "backup", "verify", bad)
	try(1, "not a gzip file", "backup", "verify", filepath.Join("..", "..", "README.md"))

	// restore refuses the data directory of a node, and a backup whose blobs are missing.
	try(1, "holds cluster.json, the identity of a cluster", "backup", "restore", good, "--data_dir", c.Config(0).DataDir)
	fresh := filepath.Join(dir, "fresh")
	if err := os.MkdirAll(filepath.Join(fresh, "blobs", "blobs"), 0o750); err != nil {
		t.Fatal(err)
	}
	try(1, "1 missing", "backup", "restore", good, "--data_dir", fresh)
	try(1, "cluster.join_token is set", "backup", "restore", good, "--data_dir", fresh, "--cluster.join_token", c.Token().Text())
	try(0, "note: the cluster has a new secret", "backup", "restore", good, "--data_dir", fresh, "--allow-missing-blobs", "--cluster.raft_address=127.0.0.1:9999")
	// Raft state without an identity is refused too.
	if err := os.Remove(filepath.Join(fresh, "cluster.json")); err != nil {
		t.Fatal(err)
	}
	try(1, "holds raft state", "backup", "restore", good, "--data_dir", fresh, "--allow-missing-blobs")

	// recover needs --force-new-cluster, a node ID the configuration holds, a stopped node.
	try(2, "usage: nebulaio recover --force-new-cluster", "recover", "--data_dir", c.Config(0).DataDir)
	try(1, "locked", "recover", "--force-new-cluster", "--yes", "--node_id", "n1", "--data_dir", c.Config(0).DataDir)
	c.Stop(0)
	try(1, "not in the raft configuration", "recover", "--force-new-cluster", "--yes", "--node_id", "n9", "--data_dir", c.Config(0).DataDir)
	try(1, "no raft state", "recover", "--force-new-cluster", "--yes", "--data_dir", filepath.Join(dir, "empty"))

	// The inspect tools name a directory that holds none of their files.
	try(1, "no WAL files in "+dir, "wal", "inspect", dir)
	try(1, "no snapshot files in "+dir, "snapshot", "inspect", dir)
	try(1, "not a blob store directory", "blob", "verify", dir)
	try(2, "usage: nebulaio wal inspect|verify DIR", "wal", "check", dir)
}
