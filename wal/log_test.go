package wal

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/nebulaio/nebulaio/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

func TestStoreLogsErrors(t *testing.T) {
	cases := []struct {
		name  string
		setup []*raft.Log // stored first
		batch []*raft.Log
		want  error
	}{
		{"index zero", nil, []*raft.Log{{Index: 0}}, ErrOutOfOrder},
		{"gap after last", fixedBatch(1, 3, 10), fixedBatch(5, 1, 10), ErrOutOfOrder},
		{"overwrite last", fixedBatch(1, 3, 10), fixedBatch(3, 1, 10), ErrOutOfOrder},
		{"gap inside batch", nil, []*raft.Log{{Index: 1}, {Index: 3}}, ErrOutOfOrder},
		{"descending batch", nil, []*raft.Log{{Index: 2}, {Index: 1}}, ErrOutOfOrder},
		{"entry too large", nil, []*raft.Log{{Index: 1, Data: make([]byte, 5000)}}, ErrEntryTooLarge},
		{"empty batch is a no-op", nil, nil, nil},
		{"any start on an empty log", nil, fixedBatch(1000, 2, 10), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOpts()
			opts.MaxEntrySize = 4096
			l := openT(t, t.TempDir(), opts)
			defer l.Close()
			if tc.setup != nil {
				mustStore(t, l, tc.setup)
			}
			before, _ := l.LastIndex()
			err := l.StoreLogs(tc.batch)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("StoreLogs = %v, want %v", err, tc.want)
			}
			if after, _ := l.LastIndex(); tc.want != nil && after != before {
				t.Fatalf("a rejected batch moved LastIndex from %d to %d", before, after)
			}
		})
	}
}

func TestDeleteRange(t *testing.T) {
	cases := []struct {
		name            string
		min, max        uint64
		want            error
		first, last     uint64 // range after, on a log holding [10, 60]
		wantFirstOnOpen uint64
	}{
		{"prefix", 10, 29, nil, 30, 60, 30},
		{"prefix from below first", 1, 29, nil, 30, 60, 30},
		{"prefix leaving one", 10, 59, nil, 60, 60, 60},
		{"suffix", 31, 60, nil, 10, 30, 10},
		{"suffix beyond last", 31, 99, nil, 10, 30, 10},
		{"suffix leaving one", 11, 60, nil, 10, 10, 10},
		{"everything", 10, 60, nil, 0, 0, 0},
		{"everything and more", 1, 100, nil, 0, 0, 0},
		{"middle", 20, 30, ErrInvalidRange, 10, 60, 10},
		{"inverted", 30, 20, ErrInvalidRange, 10, 60, 10},
		{"before the log", 1, 9, nil, 10, 60, 10},
		{"after the log", 61, 70, nil, 10, 60, 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := testOpts()
			opts.SegmentSize = 4 << 10
			l := openT(t, dir, opts)
			for i := uint64(10); i <= 60; i += 3 {
				mustStore(t, l, fixedBatch(i, int(min(3, 61-i)), 300))
			}
			err := l.DeleteRange(tc.min, tc.max)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("DeleteRange(%d, %d) = %v, want %v", tc.min, tc.max, err, tc.want)
			}
			checkFixed(t, l, tc.first, tc.last, 300)
			checkInvariants(t, l)
			l.Close()
			l = openT(t, dir, opts)
			defer l.Close()
			checkFixed(t, l, tc.wantFirstOnOpen, tc.last, 300)
			checkInvariants(t, l)
			// the log continues after a delete: at last+1, or anywhere when empty
			next := tc.last + 1
			if tc.last == 0 {
				next = 500
			}
			mustStore(t, l, fixedBatch(next, 5, 300))
			if tc.last == 0 {
				checkFixed(t, l, 500, 504, 300)
			} else {
				checkFixed(t, l, tc.wantFirstOnOpen, next+4, 300)
			}
		})
	}
}

// TestConcurrentReads runs readers against a writer that appends and compacts; run with -race.
func TestConcurrentReads(t *testing.T) {
	opts := testOpts()
	opts.CacheEntries = 32
	opts.NoSync = true // this test is about memory safety, not durability
	l := openT(t, t.TempDir(), opts)
	defer l.Close()
	const total = 3000
	var done atomic.Bool
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 0))
			for !done.Load() {
				first, _ := l.FirstIndex()
				last, _ := l.LastIndex()
				if last == 0 {
					continue
				}
				i := first + rng.Uint64N(last-first+1)
				var got raft.Log
				err := l.GetLog(i, &got)
				if errors.Is(err, raft.ErrLogNotFound) {
					continue // compacted between FirstIndex and GetLog
				}
				if err != nil {
					errc <- err
					return
				}
				if d := diffLog(genLog(3, i, 600), &got); d != "" {
					errc <- errors.New(d)
					return
				}
			}
		}(uint64(r))
	}
	for i := uint64(1); i <= total; i += 10 {
		mustStore(t, l, genBatch(3, i, 10, 600))
		if i%500 == 1 && i > 1000 {
			if err := l.DeleteRange(1, i-800); err != nil {
				t.Fatal(err)
			}
		}
	}
	done.Store(true)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
}

func TestLargeBatchAndCompression(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 8 << 10, CompressAbove: 1000}
	l := openT(t, dir, opts)
	compressible := &raft.Log{Index: 1, Term: 1, Data: bytes.Repeat([]byte("nebula "), 2000)}
	random := &raft.Log{Index: 2, Term: 1, Data: make([]byte, 3000)}
	for i := range random.Data {
		random.Data[i] = byte(rand.Uint32())
	}
	mustStore(t, l, []*raft.Log{compressible, random})
	// a batch far larger than a segment goes into one (grown) segment
	big := genBatch(9, 3, 40, 2000)
	mustStore(t, l, big)
	l.mu.RLock()
	seg := l.segs[0]
	raw := make([]byte, recHeaderSize)
	seg.f.ReadAt(raw, int64(seg.offsets[0]))
	h0, _ := decodeHeader(raw, DefaultMaxEntrySize)
	seg.f.ReadAt(raw, int64(seg.offsets[1]))
	h1, _ := decodeHeader(raw, DefaultMaxEntrySize)
	l.mu.RUnlock()
	if h0.flags&flagSnappy == 0 || h0.bodyLen > 1000 {
		t.Fatalf("compressible entry stored raw (flags %x, %d bytes)", h0.flags, h0.bodyLen)
	}
	if h1.flags&flagSnappy != 0 {
		t.Fatalf("incompressible entry stored compressed")
	}
	l.Close()
	l = openT(t, dir, opts)
	defer l.Close()
	for _, want := range append([]*raft.Log{compressible, random}, big...) {
		var got raft.Log
		if err := l.GetLog(want.Index, &got); err != nil {
			t.Fatal(err)
		}
		if d := diffLog(want, &got); d != "" {
			t.Fatal(d)
		}
	}
}

func TestStableStore(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{})
	if _, err := l.Get([]byte("missing")); !errors.Is(err, ErrKeyNotFound) || err.Error() != "not found" {
		t.Fatalf("Get(missing) = %v, want ErrKeyNotFound with text \"not found\" (raft compares it)", err)
	}
	if v, err := l.GetUint64([]byte("missing")); v != 0 || err != nil {
		t.Fatalf("GetUint64(missing) = %d, %v; want 0, nil", v, err)
	}
	if err := l.SetUint64([]byte("CurrentTerm"), 7); err != nil {
		t.Fatal(err)
	}
	if err := l.Set([]byte("LastVoteCand"), []byte("node-2")); err != nil {
		t.Fatal(err)
	}
	if err := l.Set([]byte("empty"), []byte{}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := l.Get([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close = %v, want ErrClosed", err)
	}
	l = openT(t, dir, Options{})
	defer l.Close()
	if v, _ := l.GetUint64([]byte("CurrentTerm")); v != 7 {
		t.Fatalf("CurrentTerm = %d after reopen", v)
	}
	if v, _ := l.Get([]byte("LastVoteCand")); string(v) != "node-2" {
		t.Fatalf("LastVoteCand = %q after reopen", v)
	}
	if v, err := l.Get([]byte("empty")); err != nil || v == nil || len(v) != 0 {
		t.Fatalf("empty value = %q, %v", v, err)
	}
}

// TestStableDecodeDamage cuts and flips a valid stable-state file at every byte: the decoder
// never panics and reports ErrCorrupt (a flip may also hit the version: ErrNewerFormat).
func TestStableDecodeDamage(t *testing.T) {
	valid := encodeStable(map[string][]byte{"LastVoteCand": []byte("n1")}, map[string]uint64{"CurrentTerm": 9})
	if _, _, err := decodeStable("stable", valid); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(valid); i++ {
		if _, _, err := decodeStable("stable", valid[:i]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("cut at %d: %v", i, err)
		}
		b := bytes.Clone(valid)
		b[i] ^= 0x41
		if _, _, err := decodeStable("stable", b); !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNewerFormat) {
			t.Fatalf("flip at %d: %v", i, err)
		}
	}
}

func TestLockedAndClosed(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{})
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	mustStore(t, l, fixedBatch(1, 1, 10))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	var got raft.Log
	for name, err := range map[string]error{
		"StoreLogs":   l.StoreLogs(fixedBatch(2, 1, 10)),
		"GetLog":      l.GetLog(1, &got),
		"DeleteRange": l.DeleteRange(1, 1),
		"SetUint64":   l.SetUint64([]byte("k"), 1),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
	if _, err := l.FirstIndex(); !errors.Is(err, ErrClosed) {
		t.Fatalf("FirstIndex after Close = %v", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	cases := []struct {
		opts Options
		key  string // "" = valid
	}{
		{Options{}, ""},
		{Options{SegmentSize: 1 << 20, CompressAbove: -1, CacheEntries: -1, NoSync: true}, ""},
		{Options{SegmentSize: 100}, "SegmentSize"},
		{Options{SegmentSize: 1 << 40}, "SegmentSize"},
		{Options{MaxEntrySize: -1}, "MaxEntrySize"},
	}
	for _, tc := range cases {
		err := tc.opts.Validate()
		if (err == nil) != (tc.key == "") || (err != nil && !strings.Contains(err.Error(), tc.key)) {
			t.Errorf("Validate(%+v) = %v, want mention of %q", tc.opts, err, tc.key)
		}
	}
	if _, err := Open(t.TempDir(), Options{SegmentSize: 1}); err == nil {
		t.Fatal("Open accepted an invalid SegmentSize")
	}
}

// recMetrics records what the WAL reports.
type recMetrics struct {
	mu   sync.Mutex
	seen map[string]string // name -> kind
}

func (m *recMetrics) note(name, kind string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen == nil {
		m.seen = map[string]string{}
	}
	m.seen[name] = kind
}
func (m *recMetrics) Counter(name string, _ float64) { m.note(name, "counter") }
func (m *recMetrics) Gauge(name string, _ float64)   { m.note(name, "gauge") }
func (m *recMetrics) Observe(name string, _ float64) { m.note(name, "histogram") }

// TestMetrics checks that every metric in MetricDescs is reported with its declared kind, that
// nothing else is reported, and that names follow the conventions.
func TestMetrics(t *testing.T) {
	m := &recMetrics{}
	dir := t.TempDir()
	opts := testOpts()
	opts.SegmentSize = 4 << 10
	opts.Metrics = m
	l := openT(t, dir, opts)
	for i := uint64(1); i <= 40; i += 4 {
		mustStore(t, l, fixedBatch(i, 4, 300))
	}
	l.mu.RLock()
	sealed := l.segs[0]
	last := l.segs[len(l.segs)-1]
	sealedOff := int64(sealed.offsets[1])
	tornOff := int64(last.offsets[len(last.offsets)-1])
	l.mu.RUnlock()
	l.Close()
	// damage a sealed record (read error later) and tear the last record (recovery)
	for _, d := range []struct {
		path string
		off  int64
	}{{sealed.path, sealedOff + recHeaderSize + 1}, {last.path, tornOff + recHeaderSize + 1}} {
		b, _ := os.ReadFile(d.path)
		b[d.off] ^= 1
		os.WriteFile(d.path, b, 0o644)
	}
	l = openT(t, dir, opts)
	var got raft.Log
	if err := l.GetLog(2, &got); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("GetLog of a damaged record = %v", err)
	}
	l.Close()

	names := map[string]bool{}
	for _, d := range MetricDescs {
		names[d.Name] = true
		if !strings.HasPrefix(d.Name, "nebulaio_wal_") || d.Help == "" {
			t.Errorf("%s: bad name or missing help", d.Name)
		}
		if (d.Kind == "counter") != strings.HasSuffix(d.Name, "_total") {
			t.Errorf("%s: counters and only counters end in _total", d.Name)
		}
		if d.Kind == "histogram" && !strings.HasSuffix(d.Name, "_seconds") {
			t.Errorf("%s: histograms of durations end in _seconds", d.Name)
		}
		if kind, ok := m.seen[d.Name]; !ok || kind != d.Kind {
			t.Errorf("%s: reported as %q, declared %q", d.Name, kind, d.Kind)
		}
	}
	for name := range m.seen {
		if !names[name] {
			t.Errorf("%s reported but not in MetricDescs", name)
		}
	}
}

// TestGoldenSegment pins the on-disk format: a fixed set of entries must encode to the bytes in
// testdata/segment-v1.golden, and that file must decode to the same entries. Regenerate with
// go test ./wal -run TestGoldenSegment -update (only for a deliberate format change).
func TestGoldenSegment(t *testing.T) {
	golden := filepath.Join("testdata", "segment-v1.golden")
	entries := []*raft.Log{
		{Index: 1, Term: 1, Type: raft.LogConfiguration, Data: []byte("config")},
		{Index: 2, Term: 1, Type: raft.LogNoop},
		{Index: 3, Term: 2, Type: raft.LogCommand, Data: []byte("put bucket/key"), Extensions: []byte("ext")},
		{Index: 4, Term: 2, Type: raft.LogCommand, Data: bytes.Repeat([]byte("compress me "), 20)},
	}
	dir := t.TempDir()
	opts := Options{SegmentSize: 4 << 10, CompressAbove: 100, NoSync: true}
	l := openT(t, dir, opts)
	mustStore(t, l, entries[:2])
	mustStore(t, l, entries[2:])
	l.mu.RLock()
	end := l.segs[0].end
	path := l.segs[0].path
	l.mu.RUnlock()
	l.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b = b[:end]
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(golden, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("encoding changed: %d bytes, golden %d bytes; a format change needs a new version", len(b), len(want))
	}
	// decode the golden bytes as a directory written by an earlier build
	dir2 := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir2, segName(1)), want, 0o644); err != nil {
		t.Fatal(err)
	}
	l = openT(t, dir2, opts)
	defer l.Close()
	for _, e := range entries {
		var got raft.Log
		if err := l.GetLog(e.Index, &got); err != nil {
			t.Fatal(err)
		}
		if d := diffLog(e, &got); d != "" {
			t.Fatal(d)
		}
	}
}

// TestLargeBatchesFallocate drives the average batch above largeBatch, so that later segments
// are fallocated rather than zero-filled, and checks the log across rotations and a reopen.
func TestLargeBatchesFallocate(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 256 << 10, CompressAbove: -1}
	l := openT(t, dir, opts)
	for i := uint64(1); i <= 1200; i += 40 {
		mustStore(t, l, fixedBatch(i, 40, 2000)) // 80 KiB batches, 3 per segment
	}
	if l.avgBatch < largeBatch {
		t.Fatalf("average batch %d, want >= %d", l.avgBatch, largeBatch)
	}
	checkFixed(t, l, 1, 1200, 2000)
	l.Close()
	l = openT(t, dir, opts)
	defer l.Close()
	checkFixed(t, l, 1, 1200, 2000)
	mustStore(t, l, fixedBatch(1201, 3, 2000))
	checkFixed(t, l, 1, 1203, 2000)
}

// bigLog returns the deterministic entry for index i of TestLargeEntries: sizes around
// vecMinData and up to 70 KB, random (incompressible) or repetitive data, with or without
// extensions.
func bigLog(i uint64) *raft.Log {
	r := rand.New(rand.NewPCG(42, i))
	sizes := []int{0, 100, vecMinData - 1, vecMinData, vecMinData + 1, 20_000, 40_000, 70_000}
	data := make([]byte, sizes[r.IntN(len(sizes))])
	if r.IntN(2) == 0 {
		for j := range data {
			data[j] = byte(r.Uint32())
		}
	} else {
		for j := range data {
			data[j] = byte(j / 100)
		}
	}
	var ext []byte
	if r.IntN(2) == 0 {
		ext = []byte(fmt.Sprintf("ext-%d", i))
	}
	return &raft.Log{Index: i, Term: 3, Type: raft.LogCommand, Data: data, Extensions: ext}
}

// TestLargeEntries stores entries whose Data is written from the caller's slice (pwritev)
// next to small and compressed ones, across rotations, and reads every one back from disk
// (no cache) before and after a reopen.
func TestLargeEntries(t *testing.T) {
	for _, compress := range []int{-1, 0} {
		t.Run(fmt.Sprintf("compressAbove=%d", compress), func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{SegmentSize: 512 << 10, CompressAbove: compress, CacheEntries: -1}
			l := openT(t, dir, opts)
			const n = 300
			for i := uint64(1); i <= n; {
				k := min(uint64(1+i%7), n-i+1)
				batch := make([]*raft.Log, k)
				for j := range batch {
					batch[j] = bigLog(i + uint64(j))
				}
				mustStore(t, l, batch)
				i += k
			}
			check := func() {
				t.Helper()
				checkInvariants(t, l)
				for i := uint64(1); i <= n; i++ {
					var got raft.Log
					if err := l.GetLog(i, &got); err != nil {
						t.Fatalf("GetLog(%d): %v", i, err)
					}
					if d := diffLog(bigLog(i), &got); d != "" {
						t.Fatal(d)
					}
				}
			}
			check()
			if len(l.segs) < 3 {
				t.Fatalf("%d segments, want a few rotations", len(l.segs))
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = openT(t, dir, opts)
			defer l.Close()
			check()
		})
	}
}

// TestSparePreparation checks when the next segment is prepared: an empty log has it ready
// when Open returns, a reopened log writes nothing until its active segment is half full, and
// Close removes an unused spare.
func TestSparePreparation(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 64 << 10, CompressAbove: -1}
	spare := filepath.Join(dir, spareName)
	exists := func() bool {
		_, err := os.Stat(spare)
		return err == nil
	}
	waitSpare := func() {
		t.Helper()
		testutil.WaitUntil(t, 10*time.Second, "the next segment prepared", exists)
	}
	l := openT(t, dir, opts)
	if !exists() || l.spare == nil {
		t.Fatal("Open of an empty log returned without the first segment prepared")
	}
	mustStore(t, l, fixedBatch(1, 10, 1000)) // ~10 KiB: takes the spare, less than half full
	if exists() || l.spareWaiting {
		t.Fatal("next segment prepared before the active one is half full")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l = openT(t, dir, opts)
	if exists() || l.spareWaiting {
		t.Fatal("reopening a log prepared a segment")
	}
	mustStore(t, l, fixedBatch(11, 30, 1000)) // ~41 KiB: past half of 64 KiB
	if !l.spareWaiting {
		t.Fatal("next segment not requested past half of the active one")
	}
	waitSpare()
	mustStore(t, l, fixedBatch(41, 30, 1000)) // does not fit: rotates onto the spare
	checkFixed(t, l, 1, 70, 1000)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if exists() {
		t.Fatal("Close left next.spare behind")
	}
	l = openT(t, dir, opts)
	defer l.Close()
	checkFixed(t, l, 1, 70, 1000)
}

// TestZeroFilledSegments writes small batches with sync on through segments large enough that
// their zero fill is synced in steps (fillStep), across rotations and a reopen.
func TestZeroFilledSegments(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 3 * fillStep, CompressAbove: -1}
	l := openT(t, dir, opts)
	const per, size = 40, 1000 // 41 KiB batches: zero-filled segments
	last := uint64(0)
	for last < 9000 {
		mustStore(t, l, fixedBatch(last+1, per, size))
		last += per
	}
	if l.avgBatch >= largeBatch {
		t.Fatalf("average batch %d, want < %d", l.avgBatch, largeBatch)
	}
	if n := len(l.segs); n < 3 {
		t.Fatalf("%d segments, want at least 3", n)
	}
	checkInvariants(t, l)
	checkFixed(t, l, 1, last, size)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openT(t, dir, opts)
	defer l.Close()
	checkFixed(t, l, 1, last, size)
}
