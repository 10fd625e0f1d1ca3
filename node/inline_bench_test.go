package node_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nebulaio/nebulaio/config"
	"github.com/nebulaio/nebulaio/internal/testcluster"
)

// BenchmarkInlinePut measures PutObject on an in-process three-node cluster (real TCP on
// loopback, fsync on) with objects inline (performance.inline_object_size 128KiB) and as
// blobs (0), at the sizes performance.inline_object_size's default was chosen among: ops/s,
// MiB/s and the latency percentiles of each. Writes go through every node in turn (a
// follower forwards its proposal). Run with -benchtime=Nx for a fixed count per case.
func BenchmarkInlinePut(b *testing.B) {
	for _, mode := range []struct {
		name   string
		inline config.ByteSize
	}{{"blob", 0}, {"inline", 128 << 10}} {
		b.Run("mode="+mode.name, func(b *testing.B) {
			c := testcluster.Start(b, testcluster.Options{Nodes: 3, Configure: func(_ int, cfg *config.Config) {
				cfg.Performance.InlineObjectSize = mode.inline
			}})
			c.WaitForLeader()
			c.WaitFormed()
			clients := make([]*s3.Client, 3)
			for i := range clients {
				clients[i] = benchClient(c.S3Endpoint(i))
			}
			if _, err := clients[0].CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("bench")}); err != nil {
				b.Fatal(err)
			}
			for _, size := range []int{16 << 10, 32 << 10, 64 << 10, 128 << 10} {
				for _, workers := range []int{4, 32} {
					b.Run(fmt.Sprintf("size=%dKiB/workers=%d", size>>10, workers), func(b *testing.B) {
						payload := bytes.Repeat([]byte("nebulaio"), size/8)
						b.SetBytes(int64(size))
						runPuts(b, clients, workers, func(i int) string {
							return fmt.Sprintf("%s/%d/%d/%09d", mode.name, size, workers, i)
						}, payload)
					})
				}
			}
		})
	}
}

func benchClient(endpoint string) *s3.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 128
	return s3.NewFromConfig(aws.Config{
		Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(testcluster.AccessKey, testcluster.SecretKey, ""),
		HTTPClient: &http.Client{Transport: tr}, BaseEndpoint: aws.String(endpoint),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
	}, func(o *s3.Options) { o.UsePathStyle = true; o.Retryer = aws.NopRetryer{} })
}

// runPuts runs b.N PUTs on workers goroutines, round-robin over the clients, and reports
// ops/s and the p50 and p99 latencies in milliseconds.
func runPuts(b *testing.B, clients []*s3.Client, workers int, key func(int) string, payload []byte) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	lat := make([]time.Duration, b.N)
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				t0 := time.Now()
				_, err := clients[i%len(clients)].PutObject(context.Background(), &s3.PutObjectInput{
					Bucket: aws.String("bench"), Key: aws.String(key(i)), Body: bytes.NewReader(payload)})
				lat[i] = time.Since(t0)
				if err != nil {
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
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
	b.ReportMetric(float64(lat[b.N/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[min(b.N-1, b.N*99/100)].Microseconds())/1000, "p99-ms")
}
