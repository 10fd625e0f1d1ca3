package bench

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nebulaio/nebulaio/fsm"
)

// BenchmarkProposeInline is BenchmarkPropose (store=nebula) with small objects inline in their
// PutObject events (fsm, "Inline blobs"): what the engine's envelope byte bound
// (maxEnvelopeBytes) and raft's entry sizes cost a write of 4 KiB to 256 KiB.
func BenchmarkProposeInline(b *testing.B) {
	for _, nodes := range []int{3} {
		for _, clients := range []int{4, 64} {
			for _, size := range []int{4 << 10, 64 << 10, 256 << 10} {
				b.Run(fmt.Sprintf("nodes=%d/clients=%d/size=%dKiB", nodes, clients, size>>10), func(b *testing.B) {
					benchProposeInline(b, nodes, clients, size)
				})
			}
		}
	}
}

func inlinePut(b *testing.B, i int64, data []byte) []byte {
	ev := &fsm.PutObject{
		Bucket: "bench", Key: fmt.Sprintf("logs/2026/11/25/host-%03d/file-%09d.json", i%100, i),
		Size: uint64(len(data)), ETag: "9b2cf535f27731c974343645a3985328",
		Meta:    fsm.ObjectMeta{ContentType: "application/json"},
		Blobs:   []fsm.Blob{{ID: fmt.Sprintf("blob-%016x-%016x", i, i*7919), Size: uint64(len(data)), Inline: true, Data: data}},
		ModTime: 1764000000000000000 + i,
	}
	out, err := fsm.Encode(ev)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

func benchProposeInline(b *testing.B, n, clients, size int) {
	nodes, stop := startBenchCluster(b, "nebula", n)
	defer stop()
	ctx := context.Background()
	mk, _ := fsm.Encode(&fsm.CreateBucket{Name: "bench", Owner: "root", Created: 1})
	if _, err := nodes[0].node.Propose(ctx, mk); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, size)
	rand.New(rand.NewSource(1)).Read(data)
	b.SetBytes(int64(size))
	var next atomic.Int64
	lat := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			r := rand.New(rand.NewSource(int64(c)))
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				cmd := inlinePut(b, i, data)
				t0 := time.Now()
				res, err := nodes[r.Intn(len(nodes))].node.Propose(ctx, cmd)
				if err != nil {
					b.Error(err)
					return
				}
				if rr, ok := res.(*fsm.Result); !ok || rr.Err != nil {
					b.Errorf("put rejected: %+v", res)
					return
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}(c)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	if len(all) == 0 {
		return
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "proposals/s")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
}
