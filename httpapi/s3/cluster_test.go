package s3_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/nebulaio/nebulaio/config"
	"github.com/nebulaio/nebulaio/internal/testcluster"
)

// TestThreeNodeCluster runs the S3 API on three real nodes (package node, through the test
// cluster harness): writes through a follower are forwarded to the leader and their FSM
// results (rejections included) come back intact; reads on the follower are linearizable;
// every node serves bytes another node holds, ranges included; bytes held only by a node that
// cannot be reached are a 503, not a 500; without quorum a write is a 503 with Retry-After in
// bounded time.
func TestThreeNodeCluster(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Configure: func(_ int, cfg *config.Config) {
		cfg.Cluster.ReplicationFactor = 1    // each object's bytes on one node
		cfg.Performance.InlineObjectSize = 0 // in blob files: an inline object's bytes are on every node
	}})
	c.WaitForLeader()
	follower := c.Followers()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fc := c.S3Client(follower)

	if _, err := fc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("clustered")}); err != nil {
		t.Fatal(err)
	}
	_, err := fc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("clustered")})
	wantError(t, err, "BucketAlreadyOwnedByYou", http.StatusConflict) // a forwarded rejection
	if err := c.PutObject(follower, "clustered", "k", []byte("on the follower")); err != nil {
		t.Fatal(err)
	}
	if got := get(t, c.S3Client(follower), "clustered", "k", ""); got != "on the follower" {
		t.Fatalf("follower read %q", got)
	}
	// Every node sees the object at once (linearizable) and serves its bytes, wherever they are.
	for i := range c.Len() {
		if got := get(t, c.S3Client(i), "clustered", "k", ""); got != "on the follower" {
			t.Fatalf("read through %s: %q", c.ID(i), got)
		}
		if got := get(t, c.S3Client(i), "clustered", "k", "bytes=3-8"); got != "the fo" {
			t.Fatalf("range read through %s: %q", c.ID(i), got)
		}
	}

	// Cut off the node that holds the bytes: the others still have a quorum and the metadata,
	// but not the bytes.
	o, err := c.MustNode(follower).FSM().Object("clustered", "k")
	if err != nil || len(o.Blobs) != 1 || len(o.Blobs[0].Nodes) != 1 {
		t.Fatalf("object k: %+v %v", o, err)
	}
	holder := -1
	for i := range c.Len() {
		if c.ID(i) == o.Blobs[0].Nodes[0] {
			holder = i
		}
	}
	c.Partition(holder)
	reader := c.WaitForNewLeader(holder)
	_, err = c.S3Client(reader).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("clustered"), Key: aws.String("k")},
		func(o *s3.Options) { o.RetryMaxAttempts = 1 })
	wantError(t, err, "ServiceUnavailable", http.StatusServiceUnavailable)
	c.Heal()
	c.Verify()

	// Lose quorum: stop the two other nodes; a write on the survivor fails in bounded time.
	survivor := follower
	for i := range c.Len() {
		if i != survivor {
			c.Kill(i)
		}
	}
	start := time.Now()
	_, err = c.S3Client(survivor).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("clustered"), Key: aws.String("lost"),
		Body: strings.NewReader("x")}, func(o *s3.Options) { o.RetryMaxAttempts = 1 })
	wantError(t, err, "ServiceUnavailable", http.StatusServiceUnavailable)
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.Response.Header.Get("Retry-After") == "" {
		t.Fatalf("write without quorum: no Retry-After (%v)", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("write without quorum took %s", took)
	}
}

// wantError checks that err is the S3 error code with the HTTP status.
func wantError(t *testing.T, err error, code string, status int) {
	t.Helper()
	var ae smithy.APIError
	var re *awshttp.ResponseError
	if !errors.As(err, &ae) || ae.ErrorCode() != code || !errors.As(err, &re) || re.HTTPStatusCode() != status {
		t.Fatalf("got %v, want %s (%d)", err, code, status)
	}
}

// get reads bucket/key (the byte range rng, if not "") and fails the test on an error.
func get(t *testing.T, c *s3.Client, bucket, key, rng string) string {
	t.Helper()
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if rng != "" {
		in.Range = aws.String(rng)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := c.GetObject(ctx, in)
	if err != nil {
		t.Fatalf("GET %s/%s %s: %v", bucket, key, rng, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("GET %s/%s %s: %v", bucket, key, rng, err)
	}
	return string(b)
}
