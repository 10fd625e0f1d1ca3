package fsm

import (
	"fmt"
	"testing"

	"github.com/nebulaio/nebulaio/snapshot"
)

// TestCacheScanResistance: records read repeatedly stay cached through a sweep that reads
// every other record once and a full listing of the bucket; the cache never holds more than
// its bound.
func TestCacheScanResistance(t *testing.T) {
	store, err := snapshot.NewStore(t.TempDir(), snapshot.Options{ChunkSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	m := &recordingMetrics{t: t, seen: map[string]float64{}}
	const size, objects, hot = 50, 2000, 20
	a := &applier{t: t, f: New(Options{Metrics: m, Snapshots: store, CacheSize: size})}
	a.must(bkt)
	for i := 0; i < objects; i++ {
		a.must(&PutObject{Bucket: "bkt", Key: fmt.Sprintf("k%05d", i), ETag: fmt.Sprint(i)})
	}
	storeSnapshot(t, store, a.f, a.index)
	a.f.cache.newEpoch(true) // start cold: the persisted writes went into the cache
	get := func(i int) {
		t.Helper()
		if o, err := a.f.Object("bkt", fmt.Sprintf("k%05d", i)); err != nil || o.ETag != fmt.Sprint(i) {
			t.Fatalf("Object k%05d: %+v %v", i, o, err)
		}
	}
	for round := 0; round < 3; round++ {
		for i := 0; i < hot; i++ {
			get(i)
		}
	}
	for i := hot; i < objects; i++ { // a sweep: each once
		get(i)
	}
	p := ListParams{}
	for { // and a full listing
		res, err := a.f.ListObjects("bkt", p)
		if err != nil {
			t.Fatal(err)
		}
		if !res.IsTruncated {
			break
		}
		p.ContinuationToken = res.NextMarker
	}
	if n := a.f.cache.size(); n > size {
		t.Fatalf("the cache holds %d records, bound %d", n, size)
	}
	hits, misses := m.seen[MetricCacheHitsTotal], m.seen[MetricCacheMissesTotal]
	for i := 0; i < hot; i++ {
		get(i)
	}
	if h, ms := m.seen[MetricCacheHitsTotal]-hits, m.seen[MetricCacheMissesTotal]-misses; h != hot || ms != 0 {
		t.Fatalf("hot set after the sweep: %v hits, %v misses; want %d hits", h, ms, hot)
	}
	if m.seen[MetricCacheEvictionsTotal] < objects-hot-size {
		t.Fatalf("%v evictions", m.seen[MetricCacheEvictionsTotal])
	}
}

// TestCacheZeroAndUnbounded: metadata_cache_size 0 keeps no clean record (every read of a
// persisted record goes to the runs); a negative size keeps every record read.
func TestCacheZeroAndUnbounded(t *testing.T) {
	for _, size := range []int{0, -1} {
		t.Run(fmt.Sprintf("size=%d", size), func(t *testing.T) {
			store, err := snapshot.NewStore(t.TempDir(), snapshot.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			a := &applier{t: t, f: New(Options{Snapshots: store, CacheSize: size})}
			a.must(bkt)
			for i := 0; i < 300; i++ {
				a.must(&PutObject{Bucket: "bkt", Key: fmt.Sprintf("k%05d", i)})
			}
			storeSnapshot(t, store, a.f, a.index)
			a.f.cache.newEpoch(true)
			for i := 0; i < 300; i++ {
				if _, err := a.f.Object("bkt", fmt.Sprintf("k%05d", i)); err != nil {
					t.Fatal(err)
				}
			}
			want := 300
			if size == 0 {
				want = 0
			}
			if st := a.f.MemoryStats(); st.Cached != want || st.Dirty != 0 || st.Snapshot == "" {
				t.Fatalf("%+v, want %d cached", st, want)
			}
		})
	}
}

// TestCacheByteBound: the cache holds at most maxBytes as cost counts them, whatever its record
// count allows; an inline blob larger than a quarter of the bound is not cached; the totals
// follow puts that replace a value and removals.
func TestCacheByteBound(t *testing.T) {
	c := newEntryCache(100, 10<<10, nil)
	c.metrics = &recordingMetrics{t: t, seen: map[string]float64{}}
	blob := func(i int) string { return blobDataKey(fmt.Sprint("b", i)) }
	for i := range 20 {
		c.fill(blob(i), make([]byte, 2000), c.currentEpoch())
		if n, b := c.usage(); b > 10<<10 || n > 5 {
			t.Fatalf("after %d fills: %d records, %d bytes", i+1, n, b)
		}
	}
	c.fill(blobDataKey("big"), make([]byte, 3<<10), c.currentEpoch())
	if _, ok := c.get(blobDataKey("big")); ok {
		t.Fatal("an inline blob of more than a quarter of the bound was cached")
	}
	c.newEpoch(true)
	for i := range 50 { // small records: the count binds long before the bytes
		c.put(objectKey("bkt", fmt.Sprint(i)), make([]byte, 10))
	}
	var small int64
	for i := range 50 {
		small += cost(objectKey("bkt", fmt.Sprint(i)), make([]byte, 10))
	}
	if n, b := c.usage(); n != 50 || b != small {
		t.Fatalf("%d records, %d bytes; want 50, %d", n, b, small)
	}
	c.put(objectKey("bkt", "0"), make([]byte, 100)) // a replaced value
	c.remove(objectKey("bkt", "1"))
	var want int64
	for i := range 50 {
		switch i {
		case 0:
			want += cost(objectKey("bkt", "0"), make([]byte, 100))
		case 1:
		default:
			want += cost(objectKey("bkt", fmt.Sprint(i)), make([]byte, 10))
		}
	}
	if n, b := c.usage(); n != 49 || b != want {
		t.Fatalf("after a replace and a removal: %d records, %d bytes; want 49, %d", n, b, want)
	}
}
