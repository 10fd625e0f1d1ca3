package bench

import (
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

type nopFSM struct{ applied atomic.Uint64 }

func (f *nopFSM) Apply(*raft.Log) any                 { f.applied.Add(1); return nil }
func (f *nopFSM) Snapshot() (raft.FSMSnapshot, error) { return nopSnap{}, nil }
func (f *nopFSM) Restore(rc io.ReadCloser) error      { return rc.Close() }

type nopSnap struct{}

func (nopSnap) Persist(s raft.SnapshotSink) error { return s.Close() }
func (nopSnap) Release()                          {}

// BenchmarkRaftApply: a single-node hashicorp/raft with a trivial FSM on each log store (fsync
// on); 64 goroutines apply 1 KiB commands. One op is one committed and applied command; reports
// applies/s and the p50/p99 latency of Apply.
func BenchmarkRaftApply(b *testing.B) {
	const clients, size = 64, 1024
	for _, store := range logStores {
		b.Run("store="+store, func(b *testing.B) {
			s := openPeerLog(b, store, b.TempDir())
			defer s.Close()
			conf := raft.DefaultConfig()
			conf.LocalID = "bench"
			conf.HeartbeatTimeout = 100 * time.Millisecond
			conf.ElectionTimeout = 100 * time.Millisecond
			conf.LeaderLeaseTimeout = 100 * time.Millisecond
			conf.Logger = hclog.New(&hclog.LoggerOptions{Output: io.Discard, Level: hclog.Off})
			_, trans := raft.NewInmemTransport("bench")
			fsm := &nopFSM{}
			r, err := raft.NewRaft(conf, fsm, s, s, raft.NewDiscardSnapshotStore(), trans)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Shutdown()
			if err := r.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{ID: "bench", Address: trans.LocalAddr()}}}).Error(); err != nil {
				b.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for r.State() != raft.Leader {
				if time.Now().After(deadline) {
					b.Fatal("no leader")
				}
				time.Sleep(time.Millisecond)
			}
			cmd := payload(size, 11)
			var next atomic.Int64
			lats := make([][]time.Duration, clients)
			var wg sync.WaitGroup
			b.SetBytes(size)
			b.ResetTimer()
			start := time.Now()
			for c := 0; c < clients; c++ {
				wg.Add(1)
				go func(c int) {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						t0 := time.Now()
						if err := r.Apply(cmd, 10*time.Second).Error(); err != nil {
							b.Error(err)
							return
						}
						lats[c] = append(lats[c], time.Since(t0))
					}
				}(c)
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "applies/s")
			var all []time.Duration
			for _, l := range lats {
				all = append(all, l...)
			}
			reportPercentiles(b, all)
			if err := r.Shutdown().Error(); err != nil {
				b.Fatal(err)
			}
		})
	}
}
