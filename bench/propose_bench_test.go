package bench

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	raftwal "github.com/hashicorp/raft-wal"
	"github.com/rs/zerolog"

	"github.com/nebulaio/nebulaio/engine"
	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/transport"
)

// BenchmarkPropose measures the whole engine write path — transport, forwarding from followers,
// raft, the log store with fsync on, the FSM — over real TCP on loopback. Each op is one
// ~300-byte object-put event proposed through a node chosen at random (so on 3 nodes two thirds
// are forwarded to the leader). store chooses raft's LogStore/StableStore; the snapshot store and
// everything else are the same for all. NEBULA_COALESCE=0 turns off the engine's proposal
// coalescing (engine.Config.NoCoalesce) to compare it with the default.
func BenchmarkPropose(b *testing.B) {
	for _, store := range []string{"nebula", "raftwal", "boltdb"} {
		for _, nodes := range []int{1, 3} {
			for _, clients := range []int{1, 64} {
				b.Run(fmt.Sprintf("store=%s/nodes=%d/clients=%d", store, nodes, clients), func(b *testing.B) {
					benchPropose(b, store, nodes, clients)
				})
			}
		}
	}
}

type benchNode struct {
	trans *transport.Transport
	node  *engine.Node
}

func openLogStore(b *testing.B, store, dir string) (raft.LogStore, raft.StableStore, func()) {
	if err := os.MkdirAll(filepath.Join(dir, store), 0o755); err != nil {
		b.Fatal(err)
	}
	switch store {
	case "nebula":
		return nil, nil, func() {} // the engine opens our WAL itself
	case "raftwal":
		w, err := raftwal.Open(filepath.Join(dir, "raftwal"))
		if err != nil {
			b.Fatal(err)
		}
		return w, w, func() { _ = w.Close() }
	case "boltdb":
		s, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "boltdb", "bolt.db")})
		if err != nil {
			b.Fatal(err)
		}
		return s, s, func() { _ = s.Close() }
	}
	b.Fatalf("unknown store %s", store)
	return nil, nil, nil
}

func startBenchCluster(b *testing.B, store string, n int) ([]*benchNode, func()) {
	var nodes []*benchNode
	var closers []func()
	for i := 0; i < n; i++ {
		dir := filepath.Join(b.TempDir(), fmt.Sprintf("n%d", i))
		tr, err := transport.New(transport.Config{BindAddr: "127.0.0.1:0"})
		if err != nil {
			b.Fatal(err)
		}
		ls, ss, closeStore := openLogStore(b, store, dir)
		nd, err := engine.Open(engine.Config{
			NodeID: fmt.Sprintf("n%d", i), Dir: dir, Transport: tr, FSM: fsm.New(fsm.Options{}),
			Results: fsm.ResultCodec{}, Bootstrap: i == 0, LogStore: ls, StableStore: ss,
			ElectionTimeout: time.Second, HeartbeatTimeout: time.Second, MaxLogEntries: 100000,
			Logger: zerolog.Nop(), NoCoalesce: os.Getenv("NEBULA_COALESCE") == "0",
		})
		if err != nil {
			b.Fatal(err)
		}
		nodes = append(nodes, &benchNode{tr, nd})
		closers = append(closers, func() { _ = nd.Kill(); _ = tr.Close(); closeStore() })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, _, err := nodes[0].node.WaitForLeader(ctx); err != nil {
		b.Fatal(err)
	}
	for _, bn := range nodes[1:] {
		if err := nodes[0].node.ChangeMembership(ctx, engine.OpAddVoter, bn.node.ID(), bn.node.Addr()); err != nil {
			b.Fatal(err)
		}
	}
	for _, bn := range nodes {
		if _, _, err := bn.node.WaitForLeader(ctx); err != nil {
			b.Fatal(err)
		}
	}
	return nodes, func() {
		for _, c := range closers {
			c()
		}
	}
}

// objectPut returns an encoded PutObject of about 300 bytes with a unique key.
func objectPut(b *testing.B, i int64) []byte {
	ev := &fsm.PutObject{
		Bucket: "bench", Key: fmt.Sprintf("logs/2026/11/25/host-%03d/file-%09d.json", i%100, i),
		Size: uint64(1000 + i%5000), ETag: "9b2cf535f27731c974343645a3985328",
		Meta:      fsm.ObjectMeta{ContentType: "application/json"},
		Blobs:     []fsm.Blob{{ID: fmt.Sprintf("blob-%016x-%016x", i, i*7919), Size: uint64(1000 + i%5000), Nodes: []string{"node-01", "node-02", "node-03"}}},
		ModTime:   1764000000000000000 + i,
		Checksums: []fsm.Pair{{Key: "CRC32C", Value: "yZRlqg=="}},
	}
	data, err := fsm.Encode(ev)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

func benchPropose(b *testing.B, store string, n, clients int) {
	nodes, stop := startBenchCluster(b, store, n)
	defer stop()
	ctx := context.Background()
	mk, _ := fsm.Encode(&fsm.CreateBucket{Name: "bench", Owner: "root", Created: 1})
	if _, err := nodes[0].node.Propose(ctx, mk); err != nil {
		b.Fatal(err)
	}
	size := len(objectPut(b, 0))
	b.SetBytes(int64(size))
	b.ReportAllocs()
	runProposals(b, nodes, clients, func(i int64) []byte { return objectPut(b, i) })
}

// runProposals has clients propose cmd(1..b.N), each through a random node, and reports
// proposals/s, p99-ms and p50-ms.
func runProposals(b *testing.B, nodes []*benchNode, clients int, cmd func(i int64) []byte) {
	ctx := context.Background()
	var next atomic.Int64
	lat := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			r := rand.New(rand.NewSource(int64(c)))
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				data := cmd(i)
				t0 := time.Now()
				res, err := nodes[r.Intn(len(nodes))].node.Propose(ctx, data)
				if err != nil {
					b.Error(err)
					return
				}
				if rr, ok := res.(*fsm.Result); !ok || rr.Err != nil {
					b.Errorf("put rejected: %+v", res)
					return
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}(c)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	if len(all) == 0 {
		return
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "proposals/s")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
}
