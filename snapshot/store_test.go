package snapshot

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/nebulaio/nebulaio/internal/testutil"
	"go.uber.org/goleak"
)

// mutate applies n random puts and deletes over a key space of `space` keys.
func mutate(rng *rand.Rand, st state, n, space int) {
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("obj/%04d", rng.IntN(space))
		if rng.IntN(4) == 0 {
			delete(st, k)
			continue
		}
		st[k] = strings.Repeat(string(rune('a'+rng.IntN(26))), rng.IntN(300))
	}
}

// verifyAll opens every listed snapshot and compares it with the model; it also checks the
// Reader's Get and Iterate against the model for the newest one.
func verifyAll(t *testing.T, s *Store, snaps map[string]state, rng *rand.Rand) {
	t.Helper()
	metas, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range metas {
		if i > 0 && m.Index > metas[i-1].Index {
			t.Fatalf("List not newest first: %d after %d", m.Index, metas[i-1].Index)
		}
		want, ok := snaps[m.ID]
		if !ok {
			t.Fatalf("listed snapshot %s was never published", m.ID)
		}
		got, err := openState(t, s, m.ID)
		if err != nil {
			t.Fatalf("Open(%s): %v", m.ID, err)
		}
		if err := equalState(want, got); err != nil {
			t.Fatalf("Open(%s): %v", m.ID, err)
		}
	}
	if len(metas) == 0 {
		return
	}
	id := metas[0].ID
	want := snaps[id]
	r, err := s.Reader(id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i := 0; i < 50; i++ {
		k := fmt.Sprintf("obj/%04d", rng.IntN(2100))
		v, found, err := r.Get([]byte(k))
		wv, wok := want[k]
		if err != nil || found != wok || string(v) != wv {
			t.Fatalf("Get(%s) in %s = %q, %v, %v; want %q, %v", k, id, v, found, err, wv, wok)
		}
	}
	lo := fmt.Sprintf("obj/%04d", rng.IntN(2000))
	hi := fmt.Sprintf("obj/%04d", rng.IntN(2000))
	if lo > hi {
		lo, hi = hi, lo
	}
	var got []string
	if err := r.Iterate([]byte(lo), []byte(hi), func(k, v []byte) bool {
		if want[string(k)] != string(v) {
			t.Errorf("Iterate: %s = %q, want %q", k, v, want[string(k)])
		}
		got = append(got, string(k))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	var exp []string
	for _, k := range want.sortedKeys() {
		if k >= lo && k < hi {
			exp = append(exp, k)
		}
	}
	if strings.Join(got, ",") != strings.Join(exp, ",") {
		t.Fatalf("Iterate[%s,%s) = %d keys, want %d", lo, hi, len(got), len(exp))
	}
	// The pull iterators walk the same range (and the whole state) alike.
	for _, scan := range []bool{false, true} {
		for _, rng := range [][2][]byte{{[]byte(lo), []byte(hi)}, {nil, nil}} {
			it := r.Iter(rng[0], rng[1])
			if scan {
				it = r.Scan(rng[0], rng[1])
			}
			got = got[:0]
			for it.Next() {
				if want[string(it.Key())] != string(it.Value()) {
					t.Errorf("Iter: %s = %q, want %q", it.Key(), it.Value(), want[string(it.Key())])
				}
				got = append(got, string(it.Key()))
			}
			it.Close()
			if err := it.Err(); err != nil {
				t.Fatal(err)
			}
			exp := exp
			if rng[0] == nil {
				exp = want.sortedKeys()
			}
			if strings.Join(got, ",") != strings.Join(exp, ",") {
				t.Fatalf("Iter(scan %v)[%q,%q) = %d keys, want %d", scan, rng[0], rng[1], len(got), len(exp))
			}
		}
	}
}

// TestStoreModel runs random puts and deletes against a map, taking full and delta snapshots
// (deltas of the newest or of an older listed snapshot), compacting and reopening, and
// compares every listed snapshot's Open stream with the model after every step.
func TestStoreModel(t *testing.T) {
	defer goleak.VerifyNone(t)
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 42))
			dir := t.TempDir()
			rm := &recMetrics{}
			opts := Options{ChunkSize: 4096, Retain: 3, CompactMaxDeltas: 3, DisableAutoCompaction: seed%2 == 0, Metrics: rm}
			deltas, reopens := 0, 0
			s, err := NewStore(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { s.Close() }()
			model := state{}
			snaps := map[string]state{}
			index := uint64(0)
			for step := 0; step < 40; step++ {
				mutate(rng, model, 1+rng.IntN(120), 2000)
				metas, _ := s.List()
				switch op := rng.IntN(10); {
				case op < 2 || len(metas) == 0:
					index++
					cur := model.clone()
					id, err := persist(t, s, index, func(w io.Writer) error { return writeFull(w, cur) })
					if err != nil {
						t.Fatalf("step %d full: %v", step, err)
					}
					snaps[id] = cur
				case op < 8:
					parent := metas[0].ID
					if rng.IntN(3) == 0 {
						parent = metas[rng.IntN(len(metas))].ID
					}
					index++
					cur := model.clone()
					id, err := persist(t, s, index, func(w io.Writer) error { return writeDelta(w, parent, snaps[parent], cur) })
					if err != nil {
						t.Fatalf("step %d delta of %s: %v", step, parent, err)
					}
					snaps[id] = cur
					deltas++
				case op == 8:
					if err := s.Compact(); err != nil {
						t.Fatalf("step %d compact: %v", step, err)
					}
				default:
					if err := s.Close(); err != nil {
						t.Fatal(err)
					}
					if s, err = NewStore(dir, opts); err != nil {
						t.Fatalf("step %d reopen: %v", step, err)
					}
					reopens++
				}
				verifyAll(t, s, snaps, rng)
				if metas, _ := s.List(); len(metas) > opts.Retain {
					t.Fatalf("%d snapshots listed, Retain %d", len(metas), opts.Retain)
				}
			}
			// Every run on disk is named by a manifest, and vice versa.
			s.Close()
			compactions := rm.count(MetricCompactionsTotal)
			t.Logf("%d deltas, %v compactions, %d reopens", deltas, compactions, reopens)
			if deltas < 10 || compactions < 1 || reopens < 1 {
				t.Fatalf("the random walk missed a path: %d deltas, %v compactions, %d reopens", deltas, compactions, reopens)
			}
			checkNoOrphans(t, dir)
		})
	}
}

// checkNoOrphans asserts that the run files in dir are exactly those the manifests name.
func checkNoOrphans(t *testing.T, dir string) {
	t.Helper()
	s, err := NewStore(dir, Options{Retain: 100, DisableAutoCompaction: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	used := map[string]bool{}
	for _, m := range s.manifests {
		for _, r := range m.Runs {
			used[r] = true
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "run-*"))
	if len(files) != len(used) {
		t.Fatalf("%d run files, %d referenced: %v", len(files), len(used), files)
	}
	for _, f := range files {
		if !used[filepath.Base(f)] {
			t.Fatalf("orphan run %s", f)
		}
	}
}

func TestDeltaUnknownParent(t *testing.T) {
	dir := t.TempDir()
	s, err := NewStore(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = persist(t, s, 5, func(w io.Writer) error { return writeDelta(w, "1-1-1", state{}, state{"a": "b"}) })
	if !errors.Is(err, ErrUnknownParent) {
		t.Fatalf("Close: %v, want ErrUnknownParent", err)
	}
	if metas, _ := s.List(); len(metas) != 0 {
		t.Fatalf("listed %d snapshots after a failed delta", len(metas))
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("files left behind: %v", entries)
	}
}

// TestSinkRejects feeds bad streams to a sink: each Close fails with the listed error and
// nothing is published or left on disk.
func TestSinkRejects(t *testing.T) {
	good := encodeStream(t, StreamHeader{Kind: KindFull}, []rec{{"a", "1", false}, {"b", "2", false}})
	cases := []struct {
		name  string
		bytes []byte
		want  error
	}{
		{"garbage", []byte("this is not a snapshot stream"), ErrBadHeader},
		{"empty", nil, ErrTruncated},
		{"no trailer", good[:len(good)-13], ErrTruncated},
		{"trailing bytes", append(bytes.Clone(good), 'x'), ErrCorrupt},
		{"bad crc", append(bytes.Clone(good[:len(good)-1]), good[len(good)-1]^1), ErrCorrupt},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := NewStore(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			_, err = persist(t, s, 1, func(w io.Writer) error {
				// Tiny pieces, as a network copy may deliver them; a write may fail early.
				for i := 0; i < len(tc.bytes); i += 3 {
					if _, err := w.Write(tc.bytes[i:min(i+3, len(tc.bytes))]); err != nil {
						return nil // Close reports the cause
					}
				}
				return nil
			})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Close: %v, want %v", err, tc.want)
			}
			if metas, _ := s.List(); len(metas) != 0 {
				t.Fatalf("listed %d snapshots", len(metas))
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Fatalf("files left behind: %v", entries)
			}
		})
	}
}

func TestSinkCancelAndDoubleClose(t *testing.T) {
	dir := t.TempDir()
	s, err := NewStore(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sk, err := s.Create(1, 1, 1, raft.Configuration{}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sk.Write(encodeStream(t, StreamHeader{Kind: KindFull}, []rec{{"a", "1", false}})[:10]); err != nil {
		t.Fatal(err)
	}
	if err := sk.Cancel(); err != nil {
		t.Fatal(err)
	}
	if _, err := sk.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Cancel: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("files left behind: %v", entries)
	}
	// raft closes the sink again after FSMSnapshot.Persist closed it: the second Close
	// returns the first one's result.
	sk, _ = s.Create(1, 2, 1, raft.Configuration{}, 1, nil)
	if err := writeFull(sk, state{"a": "1"}); err != nil {
		t.Fatal(err)
	}
	if err := sk.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sk.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Create(99, 3, 1, raft.Configuration{}, 1, nil); err == nil {
		t.Fatal("Create accepted snapshot version 99")
	}
	if _, _, err := s.Open("9-9-9"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open(unknown): %v", err)
	}
}

// TestCorruptChunk flips a byte inside a chunk: Open's stream and Reader.Get fail with
// ErrCorrupt naming the snapshot, run and chunk, and never return the damaged data.
func TestCorruptChunk(t *testing.T) {
	dir := t.TempDir()
	s, err := NewStore(dir, Options{ChunkSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st := state{}
	for i := 0; i < 3000; i++ {
		st[fmt.Sprintf("k%05d", i)] = strings.Repeat("x", i%50)
	}
	id, err := persist(t, s, 1, func(w io.Writer) error { return writeFull(w, st) })
	if err != nil {
		t.Fatal(err)
	}
	run := s.manifests[id].Runs[0]
	ix := s.indexes[run]
	c := ix.chunks[3]
	f, err := os.OpenFile(filepath.Join(dir, run), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := []byte{0}
	_, _ = f.ReadAt(b, c.off+c.compLen/2)
	b[0] ^= 0x20
	_, _ = f.WriteAt(b, c.off+c.compLen/2)
	f.Close()

	_, rc, err := s.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(rc)
	rc.Close()
	wantText := fmt.Sprintf("snapshot %s: run %s: chunk 3", id, run)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), wantText) {
		t.Fatalf("Open read error %v; want ErrCorrupt naming %q", err, wantText)
	}
	r, err := s.Reader(id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, _, err := r.Get(c.first); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), wantText) {
		t.Fatalf("Get in damaged chunk: %v", err)
	}
	if v, ok, err := r.Get([]byte("k00000")); err != nil || !ok || string(v) != "" {
		t.Fatalf("Get in a good chunk: %q %v %v", v, ok, err)
	}
}

// TestCompactionDoesNotBlockCreate holds a compaction between writing its new base and
// publishing it, persists a delta meanwhile, and checks that the compaction then rewrites the
// new snapshot's manifest too.
func TestCompactionDoesNotBlockCreate(t *testing.T) {
	dir := t.TempDir()
	s, err := NewStore(dir, Options{ChunkSize: 4096, DisableAutoCompaction: true, Retain: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st := state{"a": "1", "b": "2", "c": "3"}
	id1, err := persist(t, s, 1, func(w io.Writer) error { return writeFull(w, st) })
	if err != nil {
		t.Fatal(err)
	}
	st2 := state{"a": "1", "c": "33", "d": "4"}
	id2, err := persist(t, s, 2, func(w io.Writer) error { return writeDelta(w, id1, st, st2) })
	if err != nil {
		t.Fatal(err)
	}
	reached, release := make(chan struct{}), make(chan struct{})
	compactHook = func() { close(reached); <-release }
	defer func() { compactHook = nil }()
	var wg sync.WaitGroup
	var cerr error
	wg.Add(1)
	go func() { defer wg.Done(); cerr = s.Compact() }()
	<-reached
	st3 := state{"a": "111", "c": "33", "d": "4"}
	id3, err := persist(t, s, 3, func(w io.Writer) error { return writeDelta(w, id2, st2, st3) })
	if err != nil {
		t.Fatalf("persist during compaction: %v", err)
	}
	close(release)
	wg.Wait()
	if cerr != nil {
		t.Fatal(cerr)
	}
	if n := len(s.manifests[id2].Runs); n != 1 {
		t.Fatalf("compacted snapshot has %d runs", n)
	}
	if r2, r3 := s.manifests[id2].Runs, s.manifests[id3].Runs; len(r3) != 2 || r3[0] != r2[0] {
		t.Fatalf("snapshot created during compaction has runs %v; compacted base %v", r3, r2)
	}
	for id, want := range map[string]state{id1: st, id2: st2, id3: st3} {
		got, err := openState(t, s, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := equalState(want, got); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
}

// TestBackgroundCompaction checks that enough deltas trigger a compaction on their own.
func TestBackgroundCompaction(t *testing.T) {
	dir := t.TempDir()
	s, err := NewStore(dir, Options{ChunkSize: 4096, CompactMaxDeltas: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(7, 7))
	st := state{}
	mutate(rng, st, 2000, 2000)
	id, err := persist(t, s, 1, func(w io.Writer) error { return writeFull(w, st) })
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(2); i <= 4; i++ {
		cur := st.clone()
		mutate(rng, cur, 20, 2000)
		if id, err = persist(t, s, i, func(w io.Writer) error { return writeDelta(w, id, st, cur) }); err != nil {
			t.Fatal(err)
		}
		st = cur
	}
	testutil.WaitFor(t, 10*time.Second, "the newest snapshot compacted to one run", func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if n := len(s.manifests[id].Runs); n != 1 {
			return fmt.Errorf("%d runs", n)
		}
		return nil
	})
	got, err := openState(t, s, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := equalState(st, got); err != nil {
		t.Fatal(err)
	}
}

// TestReaderPinsRuns keeps a Reader open while retention reaps its snapshot.
func TestReaderPinsRuns(t *testing.T) {
	dir := t.TempDir()
	s, err := NewStore(dir, Options{Retain: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id1, err := persist(t, s, 1, func(w io.Writer) error { return writeFull(w, state{"k": "old"}) })
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Reader(id1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := persist(t, s, 2, func(w io.Writer) error { return writeFull(w, state{"k": "new"}) }); err != nil {
		t.Fatal(err)
	}
	if metas, _ := s.List(); len(metas) != 1 || metas[0].ID == id1 {
		t.Fatalf("old snapshot not reaped: %v", metas)
	}
	if v, ok, err := r.Get([]byte("k")); err != nil || !ok || string(v) != "old" {
		t.Fatalf("pinned Get: %q %v %v", v, ok, err)
	}
	r.Close()
	if _, _, err := r.Get([]byte("k")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	cases := []struct {
		name string
		o    Options
		key  string
	}{
		{"negative retain", Options{Retain: -1}, "Retain"},
		{"tiny chunk", Options{ChunkSize: 100}, "ChunkSize"},
		{"level", Options{ZstdLevel: 9}, "ZstdLevel"},
		{"ratio", Options{CompactRatio: -1}, "CompactRatio"},
		{"deltas", Options{CompactMaxDeltas: -1}, "CompactMaxDeltas"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewStore(t.TempDir(), tc.o)
			if err == nil || !strings.Contains(err.Error(), "Options."+tc.key) {
				t.Fatalf("error %v, want one naming Options.%s", err, tc.key)
			}
		})
	}
	if _, err := NewStore(t.TempDir(), Options{}); err != nil {
		t.Fatalf("zero Options: %v", err)
	}
}

// recMetrics records every name reported.
type recMetrics struct {
	mu     sync.Mutex
	names  map[string]string
	counts map[string]float64
}

func (m *recMetrics) add(name, kind string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.names == nil {
		m.names = map[string]string{}
	}
	m.names[name] = kind
}

func (m *recMetrics) Counter(name string, d float64) {
	m.add(name, "counter")
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.counts == nil {
		m.counts = map[string]float64{}
	}
	m.counts[name] += d
}

func (m *recMetrics) count(name string) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.counts[name]
}

func (m *recMetrics) Gauge(name string, _ float64)   { m.add(name, "gauge") }
func (m *recMetrics) Observe(name string, _ float64) { m.add(name, "histogram") }

// TestMetrics checks that every reported name is in MetricDescs with the right kind and that
// every MetricDescs entry is reported by a scenario touching each code path.
func TestMetrics(t *testing.T) {
	rm := &recMetrics{}
	s, err := NewStore(t.TempDir(), Options{Metrics: rm, DisableAutoCompaction: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id, _ := persist(t, s, 1, func(w io.Writer) error { return writeFull(w, state{"a": "1"}) })
	id, _ = persist(t, s, 2, func(w io.Writer) error { return writeDelta(w, id, state{"a": "1"}, state{"b": "2"}) })
	_, _ = persist(t, s, 3, func(w io.Writer) error { return writeDelta(w, "nope", nil, state{"b": "2"}) })
	if _, err := openState(t, s, id); err != nil {
		t.Fatal(err)
	}
	r, err := s.Reader(id)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ { // a miss, a second miss (the chunk is admitted), then a hit
		if v, ok, err := r.Get([]byte("b")); err != nil || !ok || string(v) != "2" {
			t.Fatalf("Get: %q %v %v", v, ok, err)
		}
	}
	r.Close()
	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	// A compaction error: damage a run the newest snapshot needs.
	id, _ = persist(t, s, 4, func(w io.Writer) error { return writeDelta(w, id, state{"b": "2"}, state{"c": "3"}) })
	run := s.manifests[id].Runs[1]
	if err := os.Truncate(filepath.Join(s.dir, run), runHeaderSize); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(); err == nil {
		t.Fatal("Compact of a damaged run succeeded")
	}
	kinds := map[string]string{}
	for _, d := range MetricDescs {
		if !strings.HasPrefix(d.Name, "nebulaio_snapshot_") {
			t.Errorf("%s: not nebulaio_snapshot_*", d.Name)
		}
		if (d.Kind == "counter") != strings.HasSuffix(d.Name, "_total") || (d.Kind == "histogram") != strings.HasSuffix(d.Name, "_seconds") {
			t.Errorf("%s: kind %s does not match its suffix", d.Name, d.Kind)
		}
		kinds[d.Name] = d.Kind
	}
	var missing []string
	for name, kind := range kinds {
		if got, ok := rm.names[name]; !ok {
			missing = append(missing, name)
		} else if got != kind {
			t.Errorf("%s reported as %s, documented as %s", name, got, kind)
		}
	}
	for name := range rm.names {
		if _, ok := kinds[name]; !ok {
			t.Errorf("%s reported but not in MetricDescs", name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("never reported: %v", missing)
	}
}

// TestOpenCloseEarly reads part of a stream and closes it, for a base-only snapshot (chunks
// decompressed ahead) and one with a delta (merged): no goroutine may outlive Close.
func TestOpenCloseEarly(t *testing.T) {
	defer goleak.VerifyNone(t)
	s, err := NewStore(t.TempDir(), Options{ChunkSize: 4096, DisableAutoCompaction: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st := state{}
	for i := 0; i < 5000; i++ {
		st[fmt.Sprintf("k%05d", i)] = strings.Repeat("v", i%100)
	}
	id1, err := persist(t, s, 1, func(w io.Writer) error { return writeFull(w, st) })
	if err != nil {
		t.Fatal(err)
	}
	cur := st.clone()
	cur["k00001"] = "x"
	id2, err := persist(t, s, 2, func(w io.Writer) error { return writeDelta(w, id1, st, cur) })
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{id1, id2} {
		_, rc, err := s.Open(id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(rc, make([]byte, 10000)); err != nil {
			t.Fatal(err)
		}
		if err := rc.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := rc.Read(make([]byte, 1)); !errors.Is(err, ErrClosed) {
			t.Fatalf("Read after Close: %v", err)
		}
	}
}

func TestChunkCacheBound(t *testing.T) {
	c := newChunkCache(100)
	for i := 0; i < 10; i++ {
		c.add(cacheKey{"r", i}, &cachedChunk{raw: make([]byte, 30)})
	}
	if c.used > 100 || c.ll.Len() != 3 || len(c.m) != 3 {
		t.Fatalf("cache holds %d bytes in %d entries, bound 100", c.used, c.ll.Len())
	}
	if _, ok := c.get(cacheKey{"r", 9}); !ok {
		t.Fatal("newest entry evicted")
	}
	if _, ok := c.get(cacheKey{"r", 0}); ok {
		t.Fatal("oldest entry kept")
	}
	c.add(cacheKey{"r", 99}, &cachedChunk{raw: make([]byte, 101)}) // larger than the cache: not kept
	if _, ok := c.get(cacheKey{"r", 99}); ok {
		t.Fatal("oversized entry kept")
	}
}

// TestConcurrentUse persists deltas (with background compaction and retention) while other
// goroutines list, open and read snapshots; every successful read must match the model, and
// the only error allowed is ErrNotFound for a snapshot reaped between List and Open.
func TestConcurrentUse(t *testing.T) {
	rm := &recMetrics{}
	s, err := NewStore(t.TempDir(), Options{ChunkSize: 4096, CompactMaxDeltas: 2, Retain: 2, Metrics: rm})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	defer func() {
		s.Close() // waits for background compaction
		if rm.count(MetricCompactionsTotal) == 0 {
			t.Error("no background compaction ran during the test")
		}
	}()
	var mu sync.Mutex
	snaps := map[string]state{}
	done := make(chan struct{})
	var wg sync.WaitGroup
	var checks [3]int
	reader := func(n int) {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			metas, _ := s.List()
			if len(metas) == 0 {
				continue
			}
			id := metas[rand.IntN(len(metas))].ID
			mu.Lock()
			want, known := snaps[id]
			mu.Unlock()
			if !known {
				continue // published, but persist has not returned to record it yet
			}
			if n == 2 {
				r, err := s.Reader(id)
				if errors.Is(err, ErrNotFound) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				for k, v := range want {
					got, ok, err := r.Get([]byte(k))
					if err != nil || !ok || string(got) != v {
						t.Errorf("Get(%s) in %s = %q %v %v, want %q", k, id, got, ok, err, v)
						r.Close()
						return
					}
					break // one key per round keeps the loop quick
				}
				r.Close()
			} else {
				got, err := openState(t, s, id)
				if errors.Is(err, ErrNotFound) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				if err := equalState(want, got); err != nil {
					t.Errorf("Open(%s): %v", id, err)
					return
				}
			}
			checks[n]++
		}
	}
	rng := rand.New(rand.NewPCG(3, 3))
	model := state{}
	mutate(rng, model, 3000, 2000)
	id, err := persist(t, s, 1, func(w io.Writer) error { return writeFull(w, model) })
	if err != nil {
		t.Fatal(err)
	}
	snaps[id] = model.clone()
	for n := 0; n < 3; n++ {
		wg.Add(1)
		go reader(n)
	}
	for i := uint64(2); i < 30; i++ {
		prev := model.clone()
		mutate(rng, model, 50, 2000)
		cur := model.clone()
		mu.Lock()
		parent := id
		mu.Unlock()
		nid, err := persist(t, s, i, func(w io.Writer) error { return writeDelta(w, parent, prev, cur) })
		if err != nil {
			t.Fatalf("persist %d: %v", i, err)
		}
		mu.Lock()
		snaps[nid], id = cur, nid
		mu.Unlock()
	}
	close(done)
	wg.Wait()
	if checks[0]+checks[1] == 0 || checks[2] == 0 {
		t.Fatalf("readers made no checks: %v", checks)
	}
	t.Logf("opens %d+%d, reader rounds %d", checks[0], checks[1], checks[2])
}

// TestReaderFilterSkipsAbsentKeys: Get of keys a run does not hold, inside its chunks' key
// ranges, reads almost no chunk (the run's key filter), and every present key is found.
func TestReaderFilterSkipsAbsentKeys(t *testing.T) {
	rm := &recMetrics{}
	s, err := NewStore(t.TempDir(), Options{ChunkSize: 4096, CacheBytes: -1, Metrics: rm, DisableAutoCompaction: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st := state{}
	for i := 0; i < 20000; i += 2 { // the odd keys are absent, between present ones
		st[fmt.Sprintf("k%06d", i)] = strings.Repeat("v", i%40)
	}
	id, err := persist(t, s, 1, func(w io.Writer) error { return writeFull(w, st) })
	if err != nil {
		t.Fatal(err)
	}
	next := st.clone()
	for i := 0; i < 20000; i += 50 {
		delete(next, fmt.Sprintf("k%06d", i))
	}
	if id, err = persist(t, s, 2, func(w io.Writer) error { return writeDelta(w, id, st, next) }); err != nil {
		t.Fatal(err)
	}
	r, err := s.Reader(id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const absent = 5000
	for i := 0; i < absent; i++ {
		if v, ok, err := r.Get([]byte(fmt.Sprintf("k%06d", 2*i+1))); ok || err != nil {
			t.Fatalf("absent key found: %q %v", v, err)
		}
	}
	// Two runs, each with about 1% false positives.
	if misses := rm.count(MetricCacheMissesTotal); misses > 2*absent/50 {
		t.Fatalf("%v chunk reads for %d absent keys", misses, absent)
	}
	for k, v := range next {
		if got, ok, err := r.Get([]byte(k)); !ok || err != nil || string(got) != v {
			t.Fatalf("Get(%s) = %q %v %v", k, got, ok, err)
		}
	}
	for i := 0; i < 20000; i += 50 { // deleted by the delta (its filter holds tombstones)
		if _, ok, err := r.Get([]byte(fmt.Sprintf("k%06d", i))); ok || err != nil {
			t.Fatalf("deleted key k%06d found (%v)", i, err)
		}
	}
}

// TestOpenIsASource: the stream Open returns names its store and snapshot (so an FSM backed by
// the store can open a Reader instead of reading it), and costs no read until it is read.
func TestOpenIsASource(t *testing.T) {
	defer goleak.VerifyNone(t)
	s, err := NewStore(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id, err := persist(t, s, 1, func(w io.Writer) error { return writeFull(w, state{"a": "1"}) })
	if err != nil {
		t.Fatal(err)
	}
	_, rc, err := s.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	src, ok := rc.(Source)
	if !ok || src.Store() != s || src.SnapshotID() != id {
		t.Fatalf("Open's stream is not a Source of %s", id)
	}
	if o := rc.(*streamOut); o.fast != nil || o.merge != nil {
		t.Fatal("Open started reading before the first Read")
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
}
