package bench

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/snapshot"
)

// fsmBenchObjects is the size of BenchmarkFSMMemory's bucket; FSM_BENCH_OBJECTS overrides it
// (for a quick try: FSM_BENCH_OBJECTS=200000).
func fsmBenchObjects(b *testing.B) int {
	if v := os.Getenv("FSM_BENCH_OBJECTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("FSM_BENCH_OBJECTS=%q", v)
		}
		return n
	}
	return 2_000_000
}

const (
	fsmBenchBucket   = "bench-logs"
	fsmBenchMaxDirty = 10000 // performance.max_raft_log_entries' default
	fsmBenchReads    = 20000
)

// fsmBenchKey is object i's key, shaped like the snapshot benchmark's
// (logs/2026/11/25/host-042/file-0000123.json); the file number is i, so a key names its
// object.
func fsmBenchKey(i int) string {
	h := uint64(i) * 0x9E3779B97F4A7C15
	return fmt.Sprintf("logs/2026/11/%02d/host-%03d/file-%07d.json", 1+h%30, (h>>8)%100, i)
}

// fsmBenchPut is object i's put event: the fields of the snapshot benchmark's record (ETag,
// size, mtime, content type, three placement nodes, user metadata on one object in ten).
func fsmBenchPut(i int) *fsm.PutObject {
	rng := rand.New(rand.NewPCG(uint64(i), benchSeed))
	r := randomRecord(rng)
	ev := &fsm.PutObject{
		Bucket: fsmBenchBucket, Key: fsmBenchKey(i), Size: r.size,
		ETag:    fmt.Sprintf("%x", r.etag),
		Meta:    fsm.ObjectMeta{ContentType: contentTypes[r.contentType]},
		ModTime: int64(r.mtimeMillis) * int64(time.Millisecond),
		Blobs: []fsm.Blob{{ID: fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64()), Size: r.size, Nodes: []string{
			fmt.Sprintf("node-%02d", r.nodes[0]), fmt.Sprintf("node-%02d", r.nodes[1]), fmt.Sprintf("node-%02d", r.nodes[2])}}},
	}
	if r.userMeta != "" {
		ev.Meta.UserMetadata = []fsm.Pair{{Key: "owner", Value: r.userMeta[:32]}, {Key: "trace", Value: r.userMeta[32:]}}
	}
	return ev
}

// BenchmarkFSMMemory applies a put of every object of one bucket, in random key order, to the
// metadata FSM as the engine runs it — ApplyBatch of 64 entries, a snapshot taken whenever the
// FSM asks (its changed records at half of max_raft_log_entries) and persisted into the
// snapshot store while applying goes on, the store compacting in the background — then
// compacts, takes one more snapshot (so the FSM reads one compacted base), and reports:
//
//	heap-bytes   live heap after GC, less the heap before the FSM was made: the FSM, its
//	             snapshot store's indexes, filters and chunk cache
//	get-p99-us   99th percentile of Object() at uniformly random keys (cold: the cache holds
//	             at most 5% of the bucket), and get-p50-us
//	walk-s       a full ListObjectsV2-style walk (pages of 1000, continuation tokens), which
//	             must return every key once, in order (checked, the benchmark fails otherwise)
//	apply-us     mean time per applied put, snapshots included
//
// cache=unbounded is the FSM without a store to read from (everything in memory, as before
// metadata_cache_size); cache=100000 reads everything else from the snapshot runs. Run it
// with -benchtime=1x: one iteration is the whole procedure.
func BenchmarkFSMMemory(b *testing.B) {
	n := fsmBenchObjects(b)
	for _, cache := range []int{-1, 100000} {
		name := "unbounded"
		if cache >= 0 {
			name = strconv.Itoa(cache)
		}
		b.Run(fmt.Sprintf("cache=%s/objects=%d", name, n), func(b *testing.B) {
			for b.Loop() {
				fsmMemoryRun(b, n, cache)
			}
		})
	}
}

func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func fsmMemoryRun(b *testing.B, n, cache int) {
	store, err := snapshot.NewStore(b.TempDir(), snapshot.Options{}) // the engine's options
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	order := rand.New(rand.NewPCG(benchSeed, 3)).Perm(n)
	before := liveHeap()
	opts := fsm.Options{MaxDirty: fsmBenchMaxDirty}
	if cache >= 0 {
		opts.Snapshots, opts.CacheSize = store, cache
	}
	f := fsm.New(opts)

	index := uint64(0)
	apply := func(evs ...fsm.Event) {
		logs := make([]*raft.Log, len(evs))
		for i, ev := range evs {
			data, err := fsm.Encode(ev)
			if err != nil {
				b.Fatal(err)
			}
			index++
			logs[i] = &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: data}
		}
		for i, r := range f.ApplyBatch(logs) {
			if res := r.(*fsm.Result); res.Err != nil {
				b.Fatalf("entry %d: %v", logs[i].Index, res.Err)
			}
		}
	}
	var pending chan error
	wait := func() {
		if pending != nil {
			if err := <-pending; err != nil {
				b.Fatal(err)
			}
			pending = nil
		}
	}
	snap := func() {
		wait()
		s, err := f.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		sink, err := store.Create(raft.SnapshotVersionMax, index, 1, raft.Configuration{}, 1, nil)
		if err != nil {
			b.Fatal(err)
		}
		pending = make(chan error, 1)
		go func(done chan error) {
			defer s.Release()
			done <- s.Persist(sink)
		}(pending)
	}

	start := time.Now()
	apply(&fsm.CreateBucket{Name: fsmBenchBucket, Owner: "bench", Created: 1})
	const batch = 64
	evs := make([]fsm.Event, 0, batch)
	snaps := 0
	for i, obj := range order {
		evs = append(evs, fsmBenchPut(obj))
		if len(evs) < batch && i < n-1 {
			continue
		}
		apply(evs...)
		evs = evs[:0]
		select {
		case <-f.SnapshotWanted():
			if pending != nil {
				select {
				case err := <-pending:
					pending = nil
					if err != nil {
						b.Fatal(err)
					}
				default:
					continue // raft takes one snapshot at a time; the FSM asks again
				}
			}
			snap()
			snaps++
		default:
		}
	}
	snap()
	wait()
	applyTime := time.Since(start)
	if err := store.Compact(); err != nil {
		b.Fatal(err)
	}
	snap()
	wait()
	order = nil

	heap := liveHeap() - before
	if _, objects, _ := f.Counts(); objects != n {
		b.Fatalf("%d objects, want %d", objects, n)
	}

	rng := rand.New(rand.NewPCG(benchSeed, 4))
	lat := make([]time.Duration, fsmBenchReads)
	for i := range lat {
		obj := rng.IntN(n)
		t0 := time.Now()
		o, err := f.Object(fsmBenchBucket, fsmBenchKey(obj))
		lat[i] = time.Since(t0)
		if err != nil || o.Key != fsmBenchKey(obj) {
			b.Fatalf("Object(%s): %v", fsmBenchKey(obj), err)
		}
	}
	slices.Sort(lat)

	t0 := time.Now()
	seen := make([]uint64, (n+63)/64)
	count, last := 0, ""
	p := fsm.ListParams{}
	for {
		res, err := f.ListObjects(fsmBenchBucket, p)
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range res.Contents {
			var i int
			if _, err := fmt.Sscanf(o.Key[len(o.Key)-len("0000000.json"):], "%07d.json", &i); err != nil ||
				i >= n || fsmBenchKey(i) != o.Key || seen[i/64]&(1<<(i%64)) != 0 || o.Key <= last {
				b.Fatalf("listing returned %q after %q (%d keys in)", o.Key, last, count)
			}
			seen[i/64] |= 1 << (i % 64)
			last = o.Key
			count++
		}
		if !res.IsTruncated {
			break
		}
		p.ContinuationToken = res.NextMarker
	}
	walk := time.Since(t0)
	if count != n {
		b.Fatalf("the listing returned %d keys, want %d", count, n)
	}
	st := f.MemoryStats()
	b.ReportMetric(float64(heap), "heap-bytes")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "get-p99-us")
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "get-p50-us")
	b.ReportMetric(walk.Seconds(), "walk-s")
	b.ReportMetric(float64(applyTime.Nanoseconds())/1e3/float64(n), "apply-us")
	b.Logf("%d objects: %d snapshots asked for; memory %+v; live heap %d MiB", n, snaps, st, heap>>20)
}
