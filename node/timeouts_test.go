package node_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nebulaio/nebulaio/config"
	"github.com/nebulaio/nebulaio/internal/testcluster"
)

// stalledPut opens a connection to the node's S3 port and sends a signed PUT's headers
// announcing size bytes, then only the first bytes of the body.
func stalledPut(t *testing.T, c *testcluster.Cluster, path string, size int, first string) net.Conn {
	t.Helper()
	addr := c.MustNode(0).S3Addr().String()
	req, _ := http.NewRequest(http.MethodPut, "http://"+addr+path, nil)
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	req.Header.Set("Content-Length", fmt.Sprint(size))
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testcluster.AccessKey, SecretAccessKey: testcluster.SecretKey},
		req, "UNSIGNED-PAYLOAD", "s3", testcluster.Region, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var b strings.Builder
	fmt.Fprintf(&b, "PUT %s HTTP/1.1\r\nHost: %s\r\n", path, addr)
	for k, vs := range req.Header {
		fmt.Fprintf(&b, "%s: %s\r\n", k, vs[0])
	}
	b.WriteString("\r\n" + first)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	return conn
}

// s3Answer reads the S3 response on c within limit and returns its status and body.
func s3Answer(t *testing.T, c net.Conn, limit time.Duration) (int, string) {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(limit))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer within %s: %v", limit, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	t.Logf("answered %d after %s", resp.StatusCode, time.Since(start).Round(time.Millisecond))
	return resp.StatusCode, string(b)
}

// TestS3SlowBodiesAreCutOff is issue 22's slow-body bug on the real S3 port: a PUT whose body
// stalls was never answered when the handler refused it without reading the body (here
// NoSuchBucket: net/http drained the body first, with no deadline), and a body trickled a
// byte at a time was never cut off. With s3.read_timeout both end within a few read timeouts.
func TestS3SlowBodiesAreCutOff(t *testing.T) {
	const read = time.Second
	c := solo(t, func(cfg *config.Config) { cfg.S3.ReadTimeout = config.Duration(read) })

	conn := stalledPut(t, c, "/no-such-bucket/k", 100, "0123456789")
	if code, body := s3Answer(t, conn, 10*read); code != http.StatusNotFound || !strings.Contains(body, "NoSuchBucket") {
		t.Fatalf("stalled PUT into a missing bucket: %d %s", code, body)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.S3Client(0).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("slow")}); err != nil {
		t.Fatal(err)
	}
	conn = stalledPut(t, c, "/slow/trickled", 1<<20, "x")
	drip := &dripReader{every: read / 4, stop: make(chan struct{})}
	defer close(drip.stop)
	go func() { _, _ = io.Copy(conn, drip) }()
	if code, body := s3Answer(t, conn, 10*read); code != http.StatusBadRequest || !strings.Contains(body, "RequestTimeout") {
		t.Fatalf("trickled PUT: %d %s", code, body)
	}
}

// dripReader yields one byte every interval until stop is closed.
type dripReader struct {
	every time.Duration
	stop  chan struct{}
}

func (d *dripReader) Read(p []byte) (int, error) {
	select {
	case <-d.stop:
		return 0, io.EOF
	case <-time.After(d.every):
		p[0] = 'x'
		return 1, nil
	}
}
