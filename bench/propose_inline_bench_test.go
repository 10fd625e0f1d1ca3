package bench

import (
	"context"
	"fmt"
	"math/rand"
	"testing"

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
	runProposals(b, nodes, clients, func(i int64) []byte { return inlinePut(b, i, data) })
}
