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

// fsmBench loads an FSM as the engine runs it: ApplyBatch of 64 entries, a snapshot taken
// whenever the FSM asks and persisted while applying goes on.
type fsmBench struct {
	b       *testing.B
	store   *snapshot.Store
	f       *fsm.FSM
	index   uint64
	pending chan error
	snaps   int
	before  uint64 // live heap before the FSM was made
}

func newFSMBench(b *testing.B, cache int) *fsmBench {
	store, err := snapshot.NewStore(b.TempDir(), snapshot.Options{}) // the engine's options
	if err != nil {
		b.Fatal(err)
	}
	x := &fsmBench{b: b, store: store, before: liveHeap()}
	opts := fsm.Options{MaxDirty: fsmBenchMaxDirty}
	if cache >= 0 {
		opts.Snapshots, opts.CacheSize = store, cache
	}
	x.f = fsm.New(opts)
	return x
}

func (x *fsmBench) close() { _ = x.store.Close() }

func (x *fsmBench) apply(evs ...fsm.Event) {
	logs := make([]*raft.Log, len(evs))
	for i, ev := range evs {
		data, err := fsm.Encode(ev)
		if err != nil {
			x.b.Fatal(err)
		}
		x.index++
		logs[i] = &raft.Log{Index: x.index, Term: 1, Type: raft.LogCommand, Data: data}
	}
	for i, r := range x.f.ApplyBatch(logs) {
		if res := r.(*fsm.Result); res.Err != nil {
			x.b.Fatalf("entry %d: %v", logs[i].Index, res.Err)
		}
	}
}

func (x *fsmBench) wait() {
	if x.pending != nil {
		if err := <-x.pending; err != nil {
			x.b.Fatal(err)
		}
		x.pending = nil
	}
}

func (x *fsmBench) snap() {
	x.wait()
	s, err := x.f.Snapshot()
	if err != nil {
		x.b.Fatal(err)
	}
	sink, err := x.store.Create(raft.SnapshotVersionMax, x.index, 1, raft.Configuration{}, 1, nil)
	if err != nil {
		x.b.Fatal(err)
	}
	x.pending = make(chan error, 1)
	go func(done chan error) {
		defer s.Release()
		done <- s.Persist(sink)
	}(x.pending)
}

// load applies event(0..n-1) in batches, taking the snapshots the FSM asks for, then a last
// one, a compaction and one more (so that the FSM reads one compacted base). It returns the
// time spent applying.
func (x *fsmBench) load(n int, event func(i int) fsm.Event) time.Duration {
	start := time.Now()
	const batch = 64
	evs := make([]fsm.Event, 0, batch)
	for i := 0; i < n; i++ {
		evs = append(evs, event(i))
		if len(evs) < batch && i < n-1 {
			continue
		}
		x.apply(evs...)
		evs = evs[:0]
		select {
		case <-x.f.SnapshotWanted():
			if x.pending != nil {
				select {
				case err := <-x.pending:
					x.pending = nil
					if err != nil {
						x.b.Fatal(err)
					}
				default:
					continue // raft takes one snapshot at a time; the FSM asks again
				}
			}
			x.snap()
			x.snaps++
		default:
		}
	}
	x.snap()
	x.wait()
	took := time.Since(start)
	if err := x.store.Compact(); err != nil {
		x.b.Fatal(err)
	}
	x.snap()
	x.wait()
	return took
}

// heap is the live heap the FSM holds: its records, cache, and the snapshot store's indexes,
// filters and chunk cache.
func (x *fsmBench) heap() uint64 { return liveHeap() - x.before }

// latencies times read(i) for fsmBenchReads random i in [0, n) and returns them sorted.
func latencies(n int, seed uint64, read func(i int)) []time.Duration {
	rng := rand.New(rand.NewPCG(benchSeed, seed))
	lat := make([]time.Duration, fsmBenchReads)
	for i := range lat {
		obj := rng.IntN(n)
		t0 := time.Now()
		read(obj)
		lat[i] = time.Since(t0)
	}
	slices.Sort(lat)
	return lat
}

func reportLatency(b *testing.B, name string, lat []time.Duration) {
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, name+"-p99-us")
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, name+"-p50-us")
}

func fsmMemoryRun(b *testing.B, n, cache int) {
	x := newFSMBench(b, cache)
	defer x.close()
	f := x.f
	order := rand.New(rand.NewPCG(benchSeed, 3)).Perm(n)
	x.apply(&fsm.CreateBucket{Name: fsmBenchBucket, Owner: "bench", Created: 1})
	applyTime := x.load(n, func(i int) fsm.Event { return fsmBenchPut(order[i]) })
	order = nil

	heap := x.heap()
	if _, objects, _ := f.Counts(); objects != n {
		b.Fatalf("%d objects, want %d", objects, n)
	}
	lat := latencies(n, 4, func(obj int) {
		o, err := f.Object(fsmBenchBucket, fsmBenchKey(obj))
		if err != nil || o.Key != fsmBenchKey(obj) {
			b.Fatalf("Object(%s): %v", fsmBenchKey(obj), err)
		}
	})

	t0 := time.Now()
	count := walkObjects(b, f, n)
	walk := time.Since(t0)
	if count != n {
		b.Fatalf("the listing returned %d keys, want %d", count, n)
	}
	st := f.MemoryStats()
	b.ReportMetric(float64(heap), "heap-bytes")
	reportLatency(b, "get", lat)
	b.ReportMetric(walk.Seconds(), "walk-s")
	b.ReportMetric(float64(applyTime.Nanoseconds())/1e3/float64(n), "apply-us")
	b.Logf("%d objects: %d snapshots asked for; memory %+v; live heap %d MiB", n, x.snaps, st, heap>>20)
}

// walkObjects lists the bucket in pages of 1000 and checks that every key of objects 0..n-1
// comes once, in order; it returns the number of keys listed.
func walkObjects(b *testing.B, f *fsm.FSM, n int) int {
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
			return count
		}
		p.ContinuationToken = res.NextMarker
	}
}

// fsmBenchVersions is BenchmarkFSMMemoryVersions' number of versions (FSM_BENCH_VERSIONS
// overrides it); the keys are a tenth of it.
func fsmBenchVersions(b *testing.B) int {
	if v := os.Getenv("FSM_BENCH_VERSIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 10 {
			b.Fatalf("FSM_BENCH_VERSIONS=%q", v)
		}
		return n
	}
	return 1_000_000
}

// BenchmarkFSMMemoryVersions is BenchmarkFSMMemory with versions: a versioning-enabled
// bucket of n/10 keys, each written 10 times (every round puts each key once, in random key
// order; a version's ID is the proposer's clock, the event number), so that n records are
// versions, nine in ten of them noncurrent. Besides heap-bytes and apply-us it reports
// get-* (Object at random keys: the current version), getv-* (ObjectVersion of a random
// version by ID), walk-s (ListObjects of the bucket: every key once) and vwalk-s (a full
// ListObjectVersions walk in pages of 1000, checked for order and completeness). The heap of
// cache=100000 should match BenchmarkFSMMemory's cache=100000 for as many objects as there
// are versions here: a version is a record like any other.
func BenchmarkFSMMemoryVersions(b *testing.B) {
	n := fsmBenchVersions(b)
	for _, cache := range []int{-1, 100000} {
		name := "unbounded"
		if cache >= 0 {
			name = strconv.Itoa(cache)
		}
		b.Run(fmt.Sprintf("cache=%s/versions=%d/keys=%d", name, n, n/10), func(b *testing.B) {
			for b.Loop() {
				fsmVersionsRun(b, n, cache)
			}
		})
	}
}

const fsmBenchRounds = 10

// fsmBenchVersion is event i of the versions workload: round i/keys, the key of perm[i%keys].
func fsmBenchVersion(i, keys int, perm []int) *fsm.PutObject {
	ev := fsmBenchPut(perm[i%keys])
	ev.VersionID = fsm.NewVersionID(int64(i+1), uint64(i))
	ev.Blobs[0].ID = fmt.Sprintf("%s-%d", ev.Blobs[0].ID[:16], i) // a new blob per version
	return ev
}

func fsmVersionsRun(b *testing.B, n, cache int) {
	keys := n / fsmBenchRounds
	x := newFSMBench(b, cache)
	defer x.close()
	f := x.f
	perm := rand.New(rand.NewPCG(benchSeed, 5)).Perm(keys)
	x.apply(&fsm.CreateBucket{Name: fsmBenchBucket, Owner: "bench", Created: 1},
		&fsm.SetBucketVersioning{Bucket: fsmBenchBucket, Status: fsm.VersioningEnabled})
	applyTime := x.load(n, func(i int) fsm.Event { return fsmBenchVersion(i, keys, perm) })

	heap := x.heap()
	if _, objects, _ := f.Counts(); objects != keys {
		b.Fatalf("%d keys, want %d", objects, keys)
	}
	// Key perm[j]'s versions are events j, j+keys, ...: its current one is the last round's.
	where := make([]int, keys) // object number → its position j in perm
	for j, obj := range perm {
		where[obj] = j
	}
	lat := latencies(keys, 4, func(obj int) {
		o, err := f.Object(fsmBenchBucket, fsmBenchKey(obj))
		want := fsm.NewVersionID(int64((fsmBenchRounds-1)*keys+where[obj]+1), uint64((fsmBenchRounds-1)*keys+where[obj]))
		if err != nil || o.VersionID != want {
			b.Fatalf("Object(%s): %s %v, want %s", fsmBenchKey(obj), o.VersionID, err, want)
		}
	})
	vlat := latencies(n, 6, func(i int) {
		key := fsmBenchKey(perm[i%keys])
		vid := fsm.NewVersionID(int64(i+1), uint64(i))
		if o, err := f.ObjectVersion(fsmBenchBucket, key, vid); err != nil || o.VersionID != vid {
			b.Fatalf("ObjectVersion(%s, %s): %v", key, vid, err)
		}
	})
	t0 := time.Now()
	if count := walkObjects(b, f, keys); count != keys {
		b.Fatalf("the listing returned %d keys, want %d", count, keys)
	}
	walk := time.Since(t0)
	t0 = time.Now()
	if count := walkVersions(b, f); count != n {
		b.Fatalf("the version listing returned %d versions, want %d", count, n)
	}
	vwalk := time.Since(t0)
	st := f.MemoryStats()
	b.ReportMetric(float64(heap), "heap-bytes")
	reportLatency(b, "get", lat)
	reportLatency(b, "getv", vlat)
	b.ReportMetric(walk.Seconds(), "walk-s")
	b.ReportMetric(vwalk.Seconds(), "vwalk-s")
	b.ReportMetric(float64(applyTime.Nanoseconds())/1e3/float64(n), "apply-us")
	b.Logf("%d versions of %d keys: %d snapshots asked for; memory %+v; live heap %d MiB", n, keys, x.snaps, st, heap>>20)
}

// walkVersions lists every version of the bucket in pages of 1000 and checks the order: keys
// ascending, each key's versions newest first, the first one current. It returns the count.
func walkVersions(b *testing.B, f *fsm.FSM) int {
	count := 0
	var lastKey, lastVID string
	p := fsm.VersionListParams{}
	for {
		res, err := f.ListObjectVersions(fsmBenchBucket, p)
		if err != nil {
			b.Fatal(err)
		}
		for _, v := range res.Versions {
			newKey := v.Key != lastKey
			if newKey && v.Key < lastKey || !newKey && v.VersionID >= lastVID || newKey != v.IsLatest {
				b.Fatalf("version listing returned %s@%s (latest %v) after %s@%s", v.Key, v.VersionID, v.IsLatest, lastKey, lastVID)
			}
			lastKey, lastVID = v.Key, v.VersionID
			count++
		}
		if !res.IsTruncated {
			return count
		}
		p.KeyMarker, p.VersionIDMarker = res.NextKeyMarker, res.NextVersionIDMarker
	}
}
