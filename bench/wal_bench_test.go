package bench

import (
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	raftwal "github.com/hashicorp/raft-wal"

	"github.com/nebulaio/nebulaio/wal"
)

// The log-store benchmarks run NebulaIO's WAL next to hashicorp/raft-wal and
// hashicorp/raft-boltdb/v2 in the same run, on the same disk, every store with fsync on and its
// default options. Payloads are random (incompressible) bytes.

var logStores = []string{"nebula", "raftwal", "boltdb"}

// peerLog is what the benchmarks need of a store.
type peerLog interface {
	raft.LogStore
	raft.StableStore
	Close() error
}

// openPeerLog opens store kind in dir with fsync on.
func openPeerLog(b testing.TB, kind, dir string) peerLog {
	b.Helper()
	var (
		s   peerLog
		err error
	)
	switch kind {
	case "nebula":
		s, err = wal.Open(dir, wal.Options{})
	case "raftwal":
		s, err = raftwal.Open(dir)
	case "boltdb":
		if err = os.MkdirAll(dir, 0o755); err == nil {
			s, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db")})
		}
	default:
		err = fmt.Errorf("unknown store %q", kind)
	}
	if err != nil {
		b.Fatalf("open %s: %v", kind, err)
	}
	return s
}

// payload returns n random bytes, the same for every store.
func payload(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 99))
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

// BenchmarkStoreLogs: one op is one StoreLogs call of batch entries of size bytes.
func BenchmarkStoreLogs(b *testing.B) {
	for _, batch := range []int{1, 16, 128} {
		for _, size := range []int{128, 1024, 16384} {
			for _, store := range logStores {
				b.Run(fmt.Sprintf("store=%s/batch=%d/size=%d", store, batch, size), func(b *testing.B) {
					s := openPeerLog(b, store, b.TempDir())
					defer s.Close()
					logs := make([]*raft.Log, batch)
					for i := range logs {
						logs[i] = &raft.Log{Term: 1, Type: raft.LogCommand, Data: payload(size, uint64(i)), AppendedAt: time.Now()}
					}
					b.SetBytes(int64(batch * size))
					b.ReportAllocs()
					next := uint64(1)
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						for _, l := range logs {
							l.Index = next
							next++
						}
						if err := s.StoreLogs(logs); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

// BenchmarkStoreLogsCompacted is BenchmarkStoreLogs in a raft log's steady state: the store is
// compacted as raft does with its default settings (after every SnapshotThreshold = 8192 new
// entries, everything but the newest TrailingLogs = 10240 is deleted from the front), and two
// such cycles run before the timer starts. A growing log (BenchmarkStoreLogs) always writes new
// files; a compacted one can write over old ones.
func BenchmarkStoreLogsCompacted(b *testing.B) {
	const threshold, trailing = 8192, 10240
	for _, size := range []int{1024, 16384} {
		for _, store := range logStores {
			b.Run(fmt.Sprintf("store=%s/batch=128/size=%d", store, size), func(b *testing.B) {
				const batch = 128
				s := openPeerLog(b, store, b.TempDir())
				defer s.Close()
				logs := make([]*raft.Log, batch)
				for i := range logs {
					logs[i] = &raft.Log{Term: 1, Type: raft.LogCommand, Data: payload(size, uint64(i)), AppendedAt: time.Now()}
				}
				next, first, compacted := uint64(1), uint64(1), uint64(0)
				step := func() {
					for _, l := range logs {
						l.Index = next
						next++
					}
					if err := s.StoreLogs(logs); err != nil {
						b.Fatal(err)
					}
					if last := next - 1; last-compacted >= threshold && last > trailing {
						if err := s.DeleteRange(first, last-trailing); err != nil {
							b.Fatal(err)
						}
						first, compacted = last-trailing+1, last
					}
				}
				for next <= 2*threshold+trailing {
					step()
				}
				b.SetBytes(int64(batch * size))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					step()
				}
			})
		}
	}
}

// fillStore appends n entries of size bytes in batches of 1000 and returns the payload bytes.
func fillStore(b testing.TB, s peerLog, n, size int) int64 {
	b.Helper()
	data := payload(size*16, 7)
	batch := make([]*raft.Log, 0, 1000)
	for i := 1; i <= n; i++ {
		off := (i % 15) * size
		batch = append(batch, &raft.Log{Index: uint64(i), Term: 1, Type: raft.LogCommand, Data: data[off : off+size]})
		if len(batch) == cap(batch) || i == n {
			if err := s.StoreLogs(batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	return int64(n) * int64(size)
}

// BenchmarkGetLog: random reads over 100k stored 1 KiB entries; reports p50 and p99 latency.
// Each store is filled once, before its sub-benchmark.
func BenchmarkGetLog(b *testing.B) {
	const n, size = 100_000, 1024
	for _, store := range logStores {
		dir, err := os.MkdirTemp("", "bench-getlog-*")
		if err != nil {
			b.Fatal(err)
		}
		s := openPeerLog(b, store, dir)
		fillStore(b, s, n, size)
		b.Run("store="+store, func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			lat := make([]time.Duration, 0, b.N)
			var l raft.Log
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				idx := 1 + r.Uint64N(n)
				t0 := time.Now()
				if err := s.GetLog(idx, &l); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
				if l.Index != idx || len(l.Data) != size {
					b.Fatalf("GetLog(%d) returned index %d, %d bytes", idx, l.Index, len(l.Data))
				}
			}
			b.StopTimer()
			reportPercentiles(b, lat)
		})
		s.Close()
		os.RemoveAll(dir)
	}
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*50/100].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkRecovery: one op opens (and closes) a log of 200k 1 KiB entries, built once per store.
// It also reports the bytes the store occupies on disk per payload byte.
func BenchmarkRecovery(b *testing.B) {
	const n, size = 200_000, 1024
	for _, store := range logStores {
		dir, err := os.MkdirTemp("", "bench-recovery-*")
		if err != nil {
			b.Fatal(err)
		}
		s := openPeerLog(b, store, dir)
		stored := fillStore(b, s, n, size)
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		onDisk := diskUsage(b, dir)
		b.Run("store="+store, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				s := openPeerLog(b, store, dir)
				if last, err := s.LastIndex(); err != nil || last != n {
					b.Fatalf("LastIndex = %d, %v after reopen", last, err)
				}
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(onDisk)/float64(stored), "disk/payload")
		})
		os.RemoveAll(dir)
	}
}

// diskUsage sums the allocated blocks of every file under dir.
func diskUsage(b testing.TB, dir string) int64 {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return total
}

// BenchmarkDeleteRangeFront: each op appends 50k 1 KiB entries (in batches of 5000) and then
// deletes the oldest 50k (compaction after a snapshot). ns/op covers both; delete-ns/op is the
// DeleteRange alone, the figure that matters. (Timing only the delete with StopTimer would make
// the framework run thousands of untimed refills.)
func BenchmarkDeleteRangeFront(b *testing.B) {
	const keep, drop, size = 10_000, 50_000, 1024
	for _, store := range logStores {
		b.Run("store="+store, func(b *testing.B) {
			s := openPeerLog(b, store, b.TempDir())
			defer s.Close()
			data := payload(size, 3)
			next := uint64(1)
			appendN := func(n int) {
				batch := make([]*raft.Log, 0, 5000)
				for k := 0; k < n; k++ {
					batch = append(batch, &raft.Log{Index: next, Term: 1, Data: data})
					next++
					if len(batch) == cap(batch) {
						if err := s.StoreLogs(batch); err != nil {
							b.Fatal(err)
						}
						batch = batch[:0]
					}
				}
			}
			appendN(keep)
			var deleting time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				appendN(drop)
				first, _ := s.FirstIndex()
				t0 := time.Now()
				if err := s.DeleteRange(first, first+drop-1); err != nil {
					b.Fatal(err)
				}
				deleting += time.Since(t0)
			}
			b.ReportMetric(float64(deleting.Nanoseconds())/float64(b.N), "delete-ns/op")
		})
	}
}
