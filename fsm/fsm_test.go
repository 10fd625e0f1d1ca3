package fsm

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/nebulaio/nebulaio/snapshot"
)

// recordingMetrics fails the test on a name not in MetricDescs or of the wrong kind.
type recordingMetrics struct {
	t    *testing.T
	mu   sync.Mutex
	seen map[string]float64
}

func (m *recordingMetrics) record(kind, name string, v float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range MetricDescs {
		if d.Name == name {
			if d.Kind != kind {
				m.t.Errorf("%s reported as %s, declared %s", name, kind, d.Kind)
			}
			if kind == "counter" {
				m.seen[name] += v
			} else {
				m.seen[name] = v
			}
			return
		}
	}
	m.t.Errorf("metric %q is not in MetricDescs", name)
}

func (m *recordingMetrics) Counter(name string, d float64) { m.record("counter", name, d) }
func (m *recordingMetrics) Gauge(name string, v float64)   { m.record("gauge", name, v) }
func (m *recordingMetrics) Observe(name string, v float64) { m.record("histogram", name, v) }

func TestMetrics(t *testing.T) {
	for _, d := range MetricDescs {
		if !strings.HasPrefix(d.Name, "nebulaio_fsm_") || d.Help == "" ||
			(d.Kind == "counter") != strings.HasSuffix(d.Name, "_total") ||
			(d.Kind == "histogram") != strings.HasSuffix(d.Name, "_seconds") {
			t.Errorf("badly named or documented metric %+v", d)
		}
	}
	m := &recordingMetrics{t: t, seen: map[string]float64{}}
	a := &applier{t: t, f: New(Options{Metrics: m})}
	a.must(bkt, putA, upload)
	a.apply(bkt) // rejected
	full := persist(t, a.f, "s1", false)
	persist(t, a.f, "s2", false)
	persist(t, a.f, "s3", true)
	if err := a.f.Restore(io.NopCloser(bytes.NewReader(full.Bytes()))); err != nil {
		t.Fatal(err)
	}
	// The same with the records read back from a snapshot store through a one-record
	// cache, and a back-pressure stall.
	bm := &recordingMetrics{t: t, seen: map[string]float64{}}
	boundedMetricsRun(t, bm)
	for _, d := range MetricDescs {
		_, ok := m.seen[d.Name]
		if _, bok := bm.seen[d.Name]; !ok && !bok {
			t.Errorf("metric %s never reported", d.Name)
		}
	}
	if bm.seen[MetricCacheHitsTotal] < 1 || bm.seen[MetricCacheMissesTotal] < 1 || bm.seen[MetricCacheEvictionsTotal] < 1 ||
		bm.seen[MetricCacheEntries] != 1 {
		t.Errorf("cache metrics %v", bm.seen)
	}
	want := map[string]float64{MetricBuckets: 1, MetricObjects: 1, MetricUploads: 1, MetricRejectedTotal: 1,
		MetricAppliedTotal: 3, MetricAppliedIndex: 4, MetricSnapshotFullTotal: 1, MetricSnapshotDelta: 1, MetricSnapshotFailed: 1}
	for name, v := range want {
		if m.seen[name] != v {
			t.Errorf("%s = %v, want %v", name, m.seen[name], v)
		}
	}
}

// boundedMetricsRun drives an FSM backed by a snapshot store (MaxDirty 4, cache of one
// record) through persisted snapshots, cold and cached reads, evictions and one stall.
func boundedMetricsRun(t *testing.T, m *recordingMetrics) {
	store, err := snapshot.NewStore(t.TempDir(), snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	a := &applier{t: t, f: New(Options{Metrics: m, Snapshots: store, CacheSize: 1, MaxDirty: 4})}
	a.must(bkt, putA, &PutObject{Bucket: "bkt", Key: "b"})
	storeSnapshot(t, store, a.f, a.index)
	for _, k := range []string{"a", "b", "a", "a"} { // the cache holds one: misses, evictions, hits
		if _, err := a.f.Object("bkt", k); err != nil {
			t.Fatal(err)
		}
	}
	// A snapshot in flight and 4 changed records: the next Apply waits for the persist.
	snap, err := a.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	a.must(&PutObject{Bucket: "bkt", Key: "c"}, &PutObject{Bucket: "bkt", Key: "d"}, &PutObject{Bucket: "bkt", Key: "e"}, &PutObject{Bucket: "bkt", Key: "f"})
	stalled := make(chan struct{})
	a.f.stallHook = func() { close(stalled) }
	index := a.index
	data, _ := Encode(&PutObject{Bucket: "bkt", Key: "g"})
	done := make(chan *Result)
	go func() {
		done <- a.f.Apply(&raft.Log{Index: index + 1, Type: raft.LogCommand, Data: data}).(*Result)
	}()
	<-stalled // Apply waits: the snapshot in flight must finish first
	persistTo(t, store, snap, index)
	if res := <-done; res.Err != nil {
		t.Fatal(res.Err)
	}
	if st := a.f.MemoryStats(); st.Dirty != 5 || st.Snapshot == "" {
		t.Fatalf("after the stall: %+v", st)
	}
}

// storeSnapshot takes a snapshot of f and persists it into store.
func storeSnapshot(t tb, store *snapshot.Store, f *FSM, index uint64) string {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return persistTo(t, store, snap, index)
}

func persistTo(t tb, store *snapshot.Store, snap raft.FSMSnapshot, index uint64) string {
	t.Helper()
	defer snap.Release()
	sink, err := store.Create(1, index, 1, raft.Configuration{}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	return sink.ID()
}

// TestConcurrentReadsAndSnapshots runs readers and a snapshot writer against Apply; with
// -race it checks the locking, and each persisted snapshot must restore to a state that
// existed (its applied index's state).
func TestConcurrentReadsAndSnapshots(t *testing.T) {
	a := newApplier(t)
	a.must(bkt)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := a.f.ListObjects("bkt", ListParams{Delimiter: "/", MaxKeys: 50})
				if err != nil {
					t.Error(err)
					return
				}
				for _, o := range res.Contents {
					if _, err := a.f.Object("bkt", o.Key); err != nil && !strings.Contains(err.Error(), CodeNoSuchKey) {
						t.Error(err)
						return
					}
				}
				a.f.AppliedIndex()
				a.f.Counts()
			}
		}()
	}
	// Snapshots are taken on the apply goroutine (as raft does) and persisted concurrently.
	type taken struct {
		snap  raft.FSMSnapshot
		index uint64
	}
	snaps := make(chan taken, 4)
	results := make(chan error, 4)
	store, err := snapshot.NewStore(t.TempDir(), snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	go func() {
		for s := range snaps {
			results <- persistAndRestore(store, s.snap, s.index)
		}
		close(results)
	}()
	nsnaps := 0
	for i := 0; i < 2000; i++ {
		a.must(&PutObject{Bucket: "bkt", Key: fmt.Sprintf("d%d/k%d", i%10, i), Blobs: blobs(fmt.Sprint(i))})
		if i%500 == 499 {
			s, err := a.f.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			snaps <- taken{s, a.index}
			nsnaps++
		}
	}
	close(snaps)
	for err := range results {
		if err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
	if nsnaps != 4 {
		t.Fatalf("%d snapshots", nsnaps)
	}
}

// persistAndRestore persists snap into store, then restores it on a fresh FSM and checks
// its applied index and object count.
func persistAndRestore(store *snapshot.Store, snap raft.FSMSnapshot, index uint64) error {
	defer snap.Release()
	sink, err := store.Create(1, index, 1, raft.Configuration{}, 0, nil)
	if err != nil {
		return err
	}
	if err := snap.Persist(sink); err != nil {
		return err
	}
	_, rc, err := store.Open(sink.ID())
	if err != nil {
		return err
	}
	g := New(Options{})
	if err := g.Restore(rc); err != nil {
		return err
	}
	if g.AppliedIndex() != index {
		return fmt.Errorf("restored index %d, snapshot at %d", g.AppliedIndex(), index)
	}
	// Entry 1 created the bucket, every later one a new object.
	if _, objects, _ := g.Counts(); objects != int(index)-1 {
		return fmt.Errorf("restored %d objects at index %d", objects, index)
	}
	return nil
}

// TestSnapshotIsPointInTime: writes after Snapshot() do not reach the persisted stream.
func TestSnapshotIsPointInTime(t *testing.T) {
	a := newApplier(t)
	a.must(bkt, putA)
	want := stateMap(t, a.f)
	wantIndex := a.index
	snap, _ := a.f.Snapshot()
	a.must(&PutObject{Bucket: "bkt", Key: "later"}, &DeleteObject{Bucket: "bkt", Key: "a"})
	var buf memSink
	if err := snap.Persist(&buf); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	g := New(Options{})
	if err := g.Restore(io.NopCloser(bytes.NewReader(buf.Bytes()))); err != nil {
		t.Fatal(err)
	}
	got := stateMap(t, g)
	if fmt.Sprint(got) != fmt.Sprint(want) || g.AppliedIndex() != wantIndex {
		t.Fatalf("snapshot saw later writes")
	}
}

// BenchmarkApply measures Apply/ApplyBatch of ~300-byte object puts with unique keys into
// a growing tree; events are encoded outside the timed region, in chunks.
func BenchmarkApply(b *testing.B) {
	for _, batch := range []int{1, 64} {
		b.Run(fmt.Sprintf("event=put/batch=%d", batch), func(b *testing.B) {
			f := New(Options{})
			cb, _ := Encode(bkt)
			f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: cb})
			idx := uint64(1)
			var pending []*raft.Log
			refill := func() {
				b.StopTimer()
				pending = pending[:0]
				for range 64 * 64 {
					idx++
					ev := &PutObject{Bucket: "bkt", Key: fmt.Sprintf("photos/2026/11/%012d.jpg", idx), Size: 300 << 10,
						ETag: md5hex(fmt.Sprint(idx)), Meta: ObjectMeta{ContentType: "image/jpeg"},
						Blobs:   []Blob{{ID: fmt.Sprintf("blob-%016x", idx), Size: 300 << 10, Nodes: []string{"node-1", "node-2", "node-3"}}},
						ModTime: int64(idx)}
					data, _ := Encode(ev)
					pending = append(pending, &raft.Log{Index: idx, Type: raft.LogCommand, Data: data})
				}
				b.StartTimer()
			}
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				if len(pending) < batch {
					refill()
				}
				logs := pending[:batch]
				pending = pending[batch:]
				var out []interface{}
				if batch == 1 {
					out = []interface{}{f.Apply(logs[0])}
				} else {
					out = f.ApplyBatch(logs)
				}
				for _, r := range out {
					if r.(*Result).Err != nil {
						b.Fatal(r.(*Result).Err)
					}
				}
				n += batch
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

func BenchmarkSnapshotPersist(b *testing.B) {
	const objects = 100000
	a := newApplier(b)
	a.must(bkt)
	for i := 0; i < objects; i++ {
		a.must(&PutObject{Bucket: "bkt", Key: fmt.Sprintf("obj/%08d", i), Size: 300, ETag: md5hex("x"), Blobs: blobs(fmt.Sprint(i))})
	}
	for _, changed := range []int{0, 1000, -1} {
		name := fmt.Sprintf("objects=%d/kind=delta/changed=%d", objects, changed)
		if changed < 0 {
			name = fmt.Sprintf("objects=%d/kind=full", objects)
		}
		b.Run(name, func(b *testing.B) {
			persist(b, a.f, "base", false)
			b.ReportAllocs()
			var bytes int64
			for b.Loop() {
				b.StopTimer()
				for i := 0; i < changed; i++ {
					a.must(&PutObject{Bucket: "bkt", Key: fmt.Sprintf("obj/%08d", (i*97)%objects), Size: 1, Blobs: blobs("c" + fmt.Sprint(a.index))})
				}
				if changed < 0 {
					a.f.snapMu.Lock()
					a.f.chain.parent = ""
					a.f.snapMu.Unlock()
				}
				b.StartTimer()
				s := persist(b, a.f, "base", false)
				bytes += int64(s.Len())
			}
			b.ReportMetric(float64(bytes)/float64(b.N), "stream-bytes/op")
		})
	}
}
