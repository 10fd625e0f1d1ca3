package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// BenchmarkStoreLogsShared is the log store's share of one replication round of
// BenchmarkPropose at nodes=3/clients=64: there a round is one raft entry of about 30 coalesced
// 300-byte puts (~9 KiB) that the leader stores, and then each follower, with fsync on, while
// three nodes share one disk. One op is one StoreLogs of one 9 KiB entry; `writers` stores on the
// same disk append at once (1: the leader's write; 3: every node of the cluster), so ns/op is what
// one write waits. Next to it, from the block device's counters (when the kernel exposes them
// under /sys/dev/block; anything else on the machine counts too): device flushes and KiB written
// per op. A durable append cannot be cheaper than one flush, and a round of the cluster costs at
// least two in sequence (the leader's, then a follower's), so this table bounds how far a faster
// log store can move the end-to-end benchmark (see engine/DESIGN.md).
func BenchmarkStoreLogsShared(b *testing.B) {
	for _, writers := range []int{1, 3} {
		for _, store := range logStores {
			b.Run(fmt.Sprintf("store=%s/writers=%d", store, writers), func(b *testing.B) {
				benchStoreLogsShared(b, store, writers)
			})
		}
	}
}

func benchStoreLogsShared(b *testing.B, store string, writers int) {
	const size = 9 << 10
	dir := b.TempDir()
	stores := make([]peerLog, writers)
	for i := range stores {
		sub := filepath.Join(dir, strconv.Itoa(i))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			b.Fatal(err)
		}
		stores[i] = openPeerLog(b, store, sub)
		defer stores[i].Close()
	}
	data := payload(size, 9)
	stat := deviceStatPath(dir)
	before := readDeviceStat(stat)
	b.SetBytes(size)
	b.ResetTimer()
	var wg sync.WaitGroup
	for _, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range b.N {
				l := &raft.Log{Index: uint64(i) + 1, Term: 1, Type: raft.LogCommand, Data: data, AppendedAt: time.Now()}
				if err := s.StoreLogs([]*raft.Log{l}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	after := readDeviceStat(stat)
	if before != nil && after != nil {
		ops := float64(b.N * writers)
		b.ReportMetric(float64(after.flushes-before.flushes)/ops, "flushes/op")
		b.ReportMetric(float64(after.sectors-before.sectors)/2/ops, "dev-KiB/op")
	}
}

// deviceStat holds the counters of a block device's stat file (Documentation/block/stat.rst)
// that BenchmarkStoreLogsShared reports.
type deviceStat struct {
	sectors int64 // field 7: 512-byte sectors written
	flushes int64 // field 16: flush requests completed
}

// deviceStatPath returns the stat file of the whole disk that holds dir, or "" when the kernel
// does not say (not Linux, a filesystem without a block device, no flush accounting).
func deviceStatPath(dir string) string {
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return ""
	}
	major, minor := (st.Dev>>8)&0xfff|(st.Dev>>32)&^0xfff, st.Dev&0xff|(st.Dev>>12)&^0xff
	sys := fmt.Sprintf("/sys/dev/block/%d:%d", major, minor)
	if _, err := os.Stat(filepath.Join(sys, "partition")); err == nil {
		sys = filepath.Join(sys, "..") // partitions do not count flushes; their disk does
	}
	path := filepath.Join(sys, "stat")
	if readDeviceStat(path) == nil {
		return ""
	}
	return path
}

func readDeviceStat(path string) *deviceStat {
	if path == "" {
		return nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	f := strings.Fields(string(raw))
	if len(f) < 17 {
		return nil
	}
	sectors, err1 := strconv.ParseInt(f[6], 10, 64)
	flushes, err2 := strconv.ParseInt(f[15], 10, 64)
	if err1 != nil || err2 != nil {
		return nil
	}
	return &deviceStat{sectors: sectors, flushes: flushes}
}
