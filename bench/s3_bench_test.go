package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/rs/zerolog"

	"github.com/nebulaio/nebulaio/config"
	"github.com/nebulaio/nebulaio/dataplane"
	"github.com/nebulaio/nebulaio/dataplane/blob"
	"github.com/nebulaio/nebulaio/engine"
	"github.com/nebulaio/nebulaio/fsm"
	s3api "github.com/nebulaio/nebulaio/httpapi/s3"
	"github.com/nebulaio/nebulaio/transport"
)

const (
	benchAK = "BENCHACCESSKEY"
	benchSK = "bench-secret-key"
)

// s3Bench is one single-voter node wired as the server wires it (engine with our WAL and
// snapshots, fsync on; the data plane as a cluster of one over the blob store, fsync on) behind
// the S3 handler on a loopback listener, and an AWS SDK v2 client.
type s3Bench struct {
	srv    *httptest.Server
	client *s3.Client
	close  func()
}

func newS3Bench(b *testing.B) *s3Bench {
	dir := b.TempDir()
	trans, err := transport.New(transport.Config{BindAddr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	blobs, err := blob.Open(filepath.Join(dir, "blobs"), blob.Options{})
	if err != nil {
		b.Fatal(err)
	}
	data := dataplane.New(dataplane.Config{Local: blobs, Transport: trans, Self: "bench", HoldsData: true, Logger: zerolog.Nop()})
	f := fsm.New(fsm.Options{OnFreed: data.Freed})
	node, err := engine.Open(engine.Config{
		NodeID: "bench", Dir: filepath.Join(dir, "raft"), Transport: trans, FSM: f, Results: fsm.ResultCodec{},
		Bootstrap: true, ElectionTimeout: 300 * time.Millisecond, HeartbeatTimeout: 300 * time.Millisecond,
		Logger: zerolog.Nop(),
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := node.WaitForLeader(ctx); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(s3api.NewHandler(s3api.Options{
		Backend:          s3api.NewBackend(node, f, data),
		Credentials:      []s3api.Credentials{{AccessKey: benchAK, SecretKey: benchSK}},
		InlineObjectSize: config.DefaultInlineObjectSize, // as the server's default configuration
		Logger:           zerolog.Nop(),
	}))
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 128
	client := s3.NewFromConfig(aws.Config{
		Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(benchAK, benchSK, ""),
		HTTPClient: &http.Client{Transport: tr}, BaseEndpoint: aws.String(srv.URL),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
	}, func(o *s3.Options) { o.UsePathStyle = true; o.Retryer = aws.NopRetryer{} })
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bench")}); err != nil {
		b.Fatal(err)
	}
	return &s3Bench{srv: srv, client: client, close: func() {
		srv.Close()
		tr.CloseIdleConnections()
		_ = node.Close()
		_ = trans.Close()
		data.Close()
		_ = blobs.Close()
	}}
}

// parallel runs op(i) for i in [0, b.N) on clients goroutines and reports ops/s.
func parallel(b *testing.B, clients int, op func(i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	b.ResetTimer()
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				if err := op(i); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err, _ := firstErr.Load().(error); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
}

var s3Sizes = []struct {
	name string
	n    int
}{{"4KiB", 4 << 10}, {"1MiB", 1 << 20}}

// BenchmarkS3Put: PutObject of unique keys through the AWS SDK (SigV4, payload SHA-256 and
// a CRC32 checksum header, as the SDK sends over http), each durable on return: blob written
// and fsynced, metadata committed through raft with the WAL's fsync.
func BenchmarkS3Put(b *testing.B) {
	for _, sz := range s3Sizes {
		for _, clients := range []int{1, 32} {
			b.Run(fmt.Sprintf("size=%s/clients=%d", sz.name, clients), func(b *testing.B) {
				env := newS3Bench(b)
				defer env.close()
				payload := bytes.Repeat([]byte("nebulaio"), sz.n/8)
				b.SetBytes(int64(sz.n))
				b.ReportAllocs()
				parallel(b, clients, func(i int) error {
					_, err := env.client.PutObject(context.Background(), &s3.PutObjectInput{
						Bucket: aws.String("bench"), Key: aws.String(fmt.Sprintf("put/%s/%d/%09d", sz.name, clients, i)),
						Body: bytes.NewReader(payload),
					})
					return err
				})
			})
		}
	}
}

// BenchmarkS3Get: GetObject of one of 64 stored objects (linearizable read barrier, then
// streaming a checksum-verified blob), read to the end, on 8 clients.
func BenchmarkS3Get(b *testing.B) {
	for _, sz := range s3Sizes {
		b.Run("size="+sz.name, func(b *testing.B) {
			env := newS3Bench(b)
			defer env.close()
			payload := bytes.Repeat([]byte("nebulaio"), sz.n/8)
			const objects = 64
			for i := 0; i < objects; i++ {
				if _, err := env.client.PutObject(context.Background(), &s3.PutObjectInput{
					Bucket: aws.String("bench"), Key: aws.String(fmt.Sprintf("get/%d", i)), Body: bytes.NewReader(payload),
				}); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			parallel(b, 8, func(i int) error {
				out, err := env.client.GetObject(context.Background(), &s3.GetObjectInput{
					Bucket: aws.String("bench"), Key: aws.String(fmt.Sprintf("get/%d", i%objects)),
				})
				if err != nil {
					return err
				}
				n, err := io.Copy(io.Discard, out.Body)
				out.Body.Close()
				if err == nil && n != int64(sz.n) {
					err = fmt.Errorf("read %d bytes, want %d", n, sz.n)
				}
				return err
			})
		})
	}
}
