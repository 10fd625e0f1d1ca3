package node_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/nebulaio/nebulaio/config"
	"github.com/nebulaio/nebulaio/internal/sse"
	"github.com/nebulaio/nebulaio/internal/testcluster"
	"github.com/nebulaio/nebulaio/internal/testutil"
)

// TestSSEAcrossNodes: three nodes with one master key. An SSE-S3 object and an object under
// a bucket's default encryption, written through one node, read back through every node;
// once every blob has its three copies, no file under any node's data directory (blobs,
// WAL, snapshots) holds a byte run of their plaintext. A node given another master key
// answers 500 for them instead of their bytes.
func TestSSEAcrossNodes(t *testing.T) {
	key := sse.GenerateKey()
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Configure: func(i int, cfg *config.Config) {
		cfg.Encryption.MasterKey = key
	}})
	testutil.WaitFor(t, 45*time.Second, "every node sees the replication factor", func() error {
		for _, i := range c.Running() {
			if f := c.MustNode(i).Data().Factor(); f != 3 {
				return fmt.Errorf("%s sees replication factor %d", c.ID(i), f)
			}
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s0 := c.S3Client(0)
	for _, b := range []string{"enc", "def"} {
		if _, err := s0.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s0.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{Bucket: aws.String("def"),
		ServerSideEncryptionConfiguration: &types.ServerSideEncryptionConfiguration{Rules: []types.ServerSideEncryptionRule{
			{ApplyServerSideEncryptionByDefault: &types.ServerSideEncryptionByDefault{SSEAlgorithm: types.ServerSideEncryptionAes256}}}}}); err != nil {
		t.Fatal(err)
	}
	const marker = "NEBULAIO-CLUSTER-PLAINTEXT-"
	data := bytes.Repeat([]byte(marker), 300<<10/len(marker))
	if _, err := s0.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("enc"), Key: aws.String("k"), Body: bytes.NewReader(data),
		ServerSideEncryption: types.ServerSideEncryptionAes256}); err != nil {
		t.Fatal(err)
	}
	// Through another node, once its state holds the bucket's default (a node reads the
	// default from its own state).
	testutil.WaitFor(t, 20*time.Second, "node 1 applies the bucket default", func() error {
		_, err := c.MustNode(1).FSM().BucketEncryption("def")
		return err
	})
	out, err := c.S3Client(1).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("def"), Key: aws.String("k"), Body: bytes.NewReader(data)})
	if err != nil || out.ServerSideEncryption != types.ServerSideEncryptionAes256 {
		t.Fatalf("PUT under the bucket default through node 1: %v", err)
	}
	for _, i := range c.Running() {
		for _, b := range []string{"enc", "def"} {
			out, err := c.S3Client(i).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String("k")})
			if err != nil {
				t.Fatalf("GET %s/k through %s: %v", b, c.ID(i), err)
			}
			got, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err != nil || !bytes.Equal(got, data) || out.ServerSideEncryption != types.ServerSideEncryptionAes256 {
				t.Fatalf("GET %s/k through %s: %d bytes, %v, %q", b, c.ID(i), len(got), err, out.ServerSideEncryption)
			}
		}
	}
	all := []int{0, 1, 2}
	testutil.WaitFor(t, 30*time.Second, "three copies of every blob", func() error {
		return missingCopies(c, blobIDs(t, c, 0), all)
	})
	needle := []byte(marker + marker)
	for _, i := range all {
		dir := c.Config(i).DataDir
		files := 0
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			files++
			if bytes.Contains(b, needle) {
				t.Errorf("%s holds plaintext of an encrypted object", path)
			}
			return nil
		})
		if err != nil || files == 0 {
			t.Fatalf("walk %s: %v (%d files)", dir, err, files)
		}
	}

	// A node with another master key cannot read them: 500, never the bytes.
	victim := followerAmong(t, c, all...)
	c.Stop(victim)
	c.Config(victim).Encryption.MasterKey = sse.GenerateKey()
	c.Start(victim)
	c.WaitOpen(victim)
	_, err = c.S3Client(victim).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("enc"), Key: aws.String("k")})
	var re interface{ HTTPStatusCode() int }
	if err == nil || !errors.As(err, &re) || re.HTTPStatusCode() != 500 {
		t.Fatalf("GET through a node with another master key: %v", err)
	}
}
