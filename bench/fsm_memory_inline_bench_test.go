package bench

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/nebulaio/nebulaio/fsm"
)

// fsmBenchInlineObjects is BenchmarkFSMMemoryInline's number of objects
// (FSM_BENCH_INLINE_OBJECTS overrides it).
func fsmBenchInlineObjects(b *testing.B) int {
	if v := os.Getenv("FSM_BENCH_INLINE_OBJECTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("FSM_BENCH_INLINE_OBJECTS=%q", v)
		}
		return n
	}
	return 200_000
}

const fsmBenchInlineSize = 16 << 10

// fsmBenchInlineData is object i's bytes: random (incompressible, like most stored data),
// starting with i so that a read can tell whose bytes it got.
func fsmBenchInlineData(i int) []byte {
	b := make([]byte, fsmBenchInlineSize)
	rng := rand.New(rand.NewPCG(uint64(i), benchSeed^0x1111))
	for j := 8; j+8 <= len(b); j += 8 {
		binary.LittleEndian.PutUint64(b[j:], rng.Uint64())
	}
	binary.LittleEndian.PutUint64(b, uint64(i))
	return b
}

// fsmBenchInlinePut is fsmBenchPut with the object's bytes inline (fsm, "Inline blobs").
func fsmBenchInlinePut(i int) *fsm.PutObject {
	ev := fsmBenchPut(i)
	ev.Size = fsmBenchInlineSize
	ev.Blobs = []fsm.Blob{{ID: ev.Blobs[0].ID, Size: fsmBenchInlineSize, Inline: true, Data: fsmBenchInlineData(i)}}
	return ev
}

// BenchmarkFSMMemoryInline is BenchmarkFSMMemory with every object's 16 KiB inline: n objects
// (3.2 GB at the default 200,000) into a bounded FSM (metadata_cache_size 100000 and
// max_raft_log_entries 10000, with the byte bounds derived from them: 50 MiB of cache, 80 MiB
// of changed records' inline bytes). It reports heap-bytes (which must stay bounded: the bytes
// live in the snapshot runs, not in RAM), get-* (Object then BlobData of a random object, its
// bytes checked), apply-us and the snapshots the FSM asked for.
func BenchmarkFSMMemoryInline(b *testing.B) {
	n := fsmBenchInlineObjects(b)
	b.Run(fmt.Sprintf("cache=100000/objects=%d/size=16KiB", n), func(b *testing.B) {
		for b.Loop() {
			fsmInlineRun(b, n)
		}
	})
}

func fsmInlineRun(b *testing.B, n int) {
	x := newFSMBench(b, 100000)
	defer x.close()
	f := x.f
	order := rand.New(rand.NewPCG(benchSeed, 7)).Perm(n)
	x.apply(&fsm.CreateBucket{Name: fsmBenchBucket, Owner: "bench", Created: 1})
	applyTime := x.load(n, func(i int) fsm.Event { return fsmBenchInlinePut(order[i]) })
	order = nil

	heap := x.heap()
	if _, objects, _ := f.Counts(); objects != n {
		b.Fatalf("%d objects, want %d", objects, n)
	}
	lat := latencies(n, 4, func(obj int) {
		o, err := f.Object(fsmBenchBucket, fsmBenchKey(obj))
		if err != nil || len(o.Blobs) != 1 || !o.Blobs[0].Inline {
			b.Fatalf("Object(%s): %+v %v", fsmBenchKey(obj), o.Blobs, err)
		}
		data, err := f.BlobData(o.Blobs[0].ID)
		if err != nil || len(data) != fsmBenchInlineSize || binary.LittleEndian.Uint64(data) != uint64(obj) {
			b.Fatalf("BlobData of %s: %d bytes, %v", fsmBenchKey(obj), len(data), err)
		}
	})
	heapAfterReads := x.heap()
	st := f.MemoryStats()
	b.ReportMetric(float64(heap), "heap-bytes")
	b.ReportMetric(float64(heapAfterReads), "heap-after-reads-bytes")
	reportLatency(b, "get", lat)
	b.ReportMetric(float64(applyTime.Nanoseconds())/1e3/float64(n), "apply-us")
	b.ReportMetric(float64(x.snaps), "snapshots")
	b.Logf("%d inline objects of %d bytes: %d snapshots asked for; memory %+v; live heap %d MiB, %d MiB after reads",
		n, fsmBenchInlineSize, x.snaps, st, heap>>20, heapAfterReads>>20)
}
