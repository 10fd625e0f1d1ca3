package transport

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkCall measures pipelined Call throughput over loopback: clients goroutines share one
// client Transport (its default pool of 2 connections) calling an echo handler with 256 bytes.
func BenchmarkCall(b *testing.B) {
	for _, clients := range []int{1, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			srv := newNode(b, Config{})
			cli := newNode(b, Config{})
			srv.Handle("echo", echo)
			req := bytes.Repeat([]byte{'x'}, 256)
			if _, err := cli.Call(context.Background(), srv.Addr(), "echo", req); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(req)))
			b.ReportAllocs()
			var next atomic.Int64
			var failed atomic.Value
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						resp, err := cli.Call(context.Background(), srv.Addr(), "echo", req)
						if err != nil || len(resp) != len(req) {
							failed.Store(fmt.Errorf("call: %d bytes, %v", len(resp), err))
							return
						}
					}
				}()
			}
			wg.Wait()
			el := time.Since(start)
			b.StopTimer()
			if err, _ := failed.Load().(error); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/el.Seconds(), "calls/s")
		})
	}
}

// BenchmarkStream measures CallStream upload throughput over loopback, small bodies (where the
// reused idle connection matters) and large ones (where framing and copying do).
func BenchmarkStream(b *testing.B) {
	for _, size := range []int64{4 << 10, 8 << 20} {
		b.Run(fmt.Sprintf("size=%dKiB", size>>10), func(b *testing.B) {
			srv := newNode(b, Config{})
			cli := newNode(b, Config{})
			srv.HandleStream("put", func(_ context.Context, _ []byte, body io.Reader) ([]byte, error) {
				n, err := io.Copy(io.Discard, body)
				return []byte(fmt.Sprint(n)), err
			})
			want := fmt.Sprint(size)
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				resp, err := cli.CallStream(context.Background(), srv.Addr(), "put", nil, io.LimitReader(zeroReader{}, size))
				if err != nil || string(resp) != want {
					b.Fatalf("%s %v", resp, err)
				}
			}
		})
	}
}
