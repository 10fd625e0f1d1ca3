package bench

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/nebulaio/nebulaio/snapshot"
)

// The synthetic metadata state: 1,000,000 object records keyed like
// bucket-07/logs/2026/11/25/host-042/file-000123.json (10 buckets, shared prefixes), each
// value an object record in a compact binary form (encodeObjectRecord below) until the
// FSM's real encoding lands.
const (
	benchObjects = 1_000_000
	benchSeed    = 20261125
)

var contentTypes = []string{
	"application/json", "application/octet-stream", "text/plain; charset=utf-8", "image/png",
	"image/jpeg", "application/gzip", "text/csv", "application/x-ndjson",
}

type objectRecord struct {
	etag        [16]byte
	size        uint64
	mtimeMillis uint64
	contentType uint8
	nodes       [3]uint8
	userMeta    string
}

// encodeObjectRecord is a stand-in for the FSM's encoding: version, ETag, varint size and
// mtime, content type, placement node ids and user metadata as length-prefixed strings.
func encodeObjectRecord(dst []byte, r *objectRecord) []byte {
	dst = append(dst, 1) // version
	dst = append(dst, r.etag[:]...)
	dst = binary.AppendUvarint(dst, r.size)
	dst = binary.AppendUvarint(dst, r.mtimeMillis)
	ct := contentTypes[r.contentType]
	dst = binary.AppendUvarint(dst, uint64(len(ct)))
	dst = append(dst, ct...)
	dst = append(dst, 3)
	for _, n := range r.nodes {
		id := fmt.Sprintf("node-%02d", n)
		dst = append(dst, byte(len(id)))
		dst = append(dst, id...)
	}
	dst = binary.AppendUvarint(dst, uint64(len(r.userMeta)))
	return append(dst, r.userMeta...)
}

func randomRecord(rng *rand.Rand) objectRecord {
	var r objectRecord
	for i := 0; i < 16; i += 8 {
		binary.LittleEndian.PutUint64(r.etag[i:], rng.Uint64())
	}
	r.size = uint64(1) << rng.IntN(31) // log-uniform-ish sizes up to 1 GiB
	r.size += rng.Uint64N(r.size)
	day := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC).UnixMilli()
	r.mtimeMillis = uint64(day) + rng.Uint64N(24*3600*1000)
	r.contentType = uint8(rng.IntN(len(contentTypes)))
	perm := rng.Perm(12)
	for i := range r.nodes {
		r.nodes[i] = uint8(perm[i])
	}
	if rng.IntN(10) == 0 {
		r.userMeta = fmt.Sprintf("x-amz-meta-owner=team-%03d;x-amz-meta-pipeline=ingest-%05d;x-amz-meta-trace=%016x%016x",
			rng.IntN(200), rng.IntN(50000), rng.Uint64(), rng.Uint64())
	}
	return r
}

// dataset is the sorted state: keys[i] -> vals[i]; deleted[i] hides a key.
type dataset struct {
	keys    [][]byte
	vals    [][]byte
	deleted []bool
	rng     *rand.Rand
}

var (
	baseOnce sync.Once
	baseKeys [][]byte
	baseVals [][]byte
)

func newDataset() *dataset {
	baseOnce.Do(func() {
		rng := rand.New(rand.NewPCG(benchSeed, 1))
		seen := make(map[string]bool, benchObjects)
		keys := make([]string, 0, benchObjects)
		for len(keys) < benchObjects {
			k := fmt.Sprintf("bucket-%02d/logs/2026/11/%02d/host-%03d/file-%06d.json",
				rng.IntN(10), 1+rng.IntN(30), rng.IntN(100), rng.IntN(1_000_000))
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		baseKeys = make([][]byte, len(keys))
		baseVals = make([][]byte, len(keys))
		for i, k := range keys {
			baseKeys[i] = []byte(k)
			r := randomRecord(rng)
			baseVals[i] = encodeObjectRecord(nil, &r)
		}
	})
	return &dataset{
		keys:    baseKeys,
		vals:    slices.Clone(baseVals),
		deleted: make([]bool, len(baseKeys)),
		rng:     rand.New(rand.NewPCG(benchSeed, 2)),
	}
}

// change modifies 1% of the keys at random (9 in 10 get a new record, 1 in 10 is deleted or,
// if already deleted, re-created) and returns the changed positions in key order.
func (d *dataset) change() []int {
	n := len(d.keys) / 100
	set := make(map[int]bool, n)
	for len(set) < n {
		set[d.rng.IntN(len(d.keys))] = true
	}
	idx := make([]int, 0, n)
	for i := range set {
		idx = append(idx, i)
		if d.rng.IntN(10) == 0 && !d.deleted[i] {
			d.deleted[i] = true
			continue
		}
		r := randomRecord(d.rng)
		d.vals[i] = encodeObjectRecord(nil, &r)
		d.deleted[i] = false
	}
	slices.Sort(idx)
	return idx
}

// writeFull writes the FSM's plain full serialization: the logical stream, uncompressed.
func (d *dataset) writeFull(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	sw, err := snapshot.NewStreamWriter(cw, snapshot.StreamHeader{Kind: snapshot.KindFull})
	if err != nil {
		return 0, err
	}
	for i, k := range d.keys {
		if d.deleted[i] {
			continue
		}
		if err := sw.Put(k, d.vals[i]); err != nil {
			return 0, err
		}
	}
	err = sw.Close()
	return cw.n, err
}

func (d *dataset) writeDelta(w io.Writer, parent string, changed []int) error {
	sw, err := snapshot.NewStreamWriter(w, snapshot.StreamHeader{Kind: snapshot.KindDelta, Parent: parent})
	if err != nil {
		return err
	}
	for _, i := range changed {
		if d.deleted[i] {
			err = sw.Delete(d.keys[i])
		} else {
			err = sw.Put(d.keys[i], d.vals[i])
		}
		if err != nil {
			return err
		}
	}
	return sw.Close()
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// dirFiles returns the size of every regular file under dir, by path.
func dirFiles(b *testing.B, dir string) map[string]int64 {
	out := map[string]int64{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			out[p] = info.Size()
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// addedBytes is the bytes of files in after that are not in before (new files only: both
// stores write each snapshot into new files).
func addedBytes(before, after map[string]int64) int64 {
	var n int64
	for p, sz := range after {
		if _, ok := before[p]; !ok && !strings.HasSuffix(p, ".tmp") {
			n += sz
		}
	}
	return n
}

type benchStore interface {
	raft.SnapshotStore
}

func openStore(b *testing.B, kind, dir string) benchStore {
	switch kind {
	case "nebula":
		// Background compaction is off so that it does not run inside other iterations'
		// timings; the delta chain grows for b.N iterations.
		s, err := snapshot.NewStore(dir, snapshot.Options{Retain: 2, DisableAutoCompaction: true})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		return s
	case "file":
		s, err := raft.NewFileSnapshotStore(dir, 2, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	b.Fatalf("unknown store %q", kind)
	return nil
}

func createSink(b *testing.B, s benchStore, index uint64) raft.SnapshotSink {
	sink, err := s.Create(raft.SnapshotVersionMax, index, 1, raft.Configuration{}, 1, nil)
	if err != nil {
		b.Fatal(err)
	}
	return sink
}

// BenchmarkSnapshotPersist persists the 1M-object state: kind=full writes all of it;
// kind=delta1pct first changes 1% of the keys (untimed), then persists the snapshot — a delta
// stream for nebula, the whole state for file (which has no other way). disk-bytes is what the
// snapshot added to disk.
func BenchmarkSnapshotPersist(b *testing.B) {
	for _, store := range []string{"nebula", "file"} {
		for _, kind := range []string{"full", "delta1pct"} {
			b.Run(fmt.Sprintf("store=%s/kind=%s", store, kind), func(b *testing.B) {
				d := newDataset()
				dir := b.TempDir()
				s := openStore(b, store, dir)
				index := uint64(1)
				parent := ""
				if kind == "delta1pct" {
					sink := createSink(b, s, index)
					if _, err := d.writeFull(sink); err != nil {
						b.Fatal(err)
					}
					if err := sink.Close(); err != nil {
						b.Fatal(err)
					}
					parent = sink.ID()
				}
				var disk, streamBytes int64
				var cpu time.Duration
				runtime.GC() // no setup garbage left for the timed loop to collect
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					var changed []int
					b.StopTimer()
					if kind == "delta1pct" {
						changed = d.change()
					}
					before := dirFiles(b, dir)
					index++
					cpu0 := processCPU()
					b.StartTimer()

					sink := createSink(b, s, index)
					var err error
					if kind == "delta1pct" && store == "nebula" {
						cw := &countWriter{w: sink}
						err = d.writeDelta(cw, parent, changed)
						streamBytes += cw.n
					} else {
						var n int64
						n, err = d.writeFull(sink)
						streamBytes += n
					}
					if err != nil {
						b.Fatal(err)
					}
					if err := sink.Close(); err != nil {
						b.Fatal(err)
					}

					b.StopTimer()
					cpu += processCPU() - cpu0
					parent = sink.ID()
					disk += addedBytes(before, dirFiles(b, dir))
					b.StartTimer()
				}
				b.ReportMetric(float64(disk)/float64(b.N), "disk-bytes")
				b.ReportMetric(float64(streamBytes)/float64(b.N), "stream-bytes")
				b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
				b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
			})
		}
	}
}

// BenchmarkSnapshotOpen streams the whole 1M-object state back from a full snapshot
// (decompression and checksum verification included); MB/s is of the uncompressed stream.
func BenchmarkSnapshotOpen(b *testing.B) {
	for _, store := range []string{"nebula", "file"} {
		b.Run("store="+store, func(b *testing.B) {
			d := newDataset()
			s := openStore(b, store, b.TempDir())
			sink := createSink(b, s, 1)
			if _, err := d.writeFull(sink); err != nil {
				b.Fatal(err)
			}
			if err := sink.Close(); err != nil {
				b.Fatal(err)
			}
			runtime.GC()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				meta, rc, err := s.Open(sink.ID())
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, rc)
				if err != nil {
					b.Fatal(err)
				}
				if n != meta.Size {
					b.Fatalf("read %d bytes, meta.Size %d", n, meta.Size)
				}
				_ = rc.Close()
				b.SetBytes(n)
			}
		})
	}
}

// BenchmarkSnapshotOpenMerged streams a snapshot that is a base plus one 1% delta (before
// compaction): the first Open also sizes the merged view, later ones reuse that size.
func BenchmarkSnapshotOpenMerged(b *testing.B) {
	b.Run("store=nebula/deltas=1", func(b *testing.B) {
		d := newDataset()
		s := openStore(b, "nebula", b.TempDir())
		sink := createSink(b, s, 1)
		if _, err := d.writeFull(sink); err != nil {
			b.Fatal(err)
		}
		if err := sink.Close(); err != nil {
			b.Fatal(err)
		}
		changed := d.change()
		delta := createSink(b, s, 2)
		if err := d.writeDelta(delta, sink.ID(), changed); err != nil {
			b.Fatal(err)
		}
		if err := delta.Close(); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			meta, rc, err := s.Open(delta.ID())
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.Copy(io.Discard, rc)
			if err != nil || n != meta.Size {
				b.Fatalf("read %d bytes (%v), meta.Size %d", n, err, meta.Size)
			}
			_ = rc.Close()
			b.SetBytes(n)
		}
	})
}

// processCPU is the user+system CPU time this process has used so far (all threads): with
// ms/op it separates our own cost from waiting for a busy machine.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
