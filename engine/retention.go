package engine

import (
	"math"
	"time"
)

// Log retention by bytes. Raft keeps TrailingLogs entries behind each snapshot (MaxLogEntries/2)
// whatever their size. An entry used to be a few KiB; with small objects inline in their events
// (package fsm, "Inline blobs") an envelope holds up to maxEnvelopeBytes, and 5,000 of them would
// be 20 GiB of WAL. So the node measures the entries it applies (an average over recent ones)
// and lowers TrailingLogs (raft.ReloadConfig; it takes effect at the next snapshot's truncation)
// so that the trailing entries hold about Config.MaxLogBytes, never fewer than minTrailingLogs
// and never more than MaxLogEntries/2.

// DefaultMaxLogBytes is Config.MaxLogBytes' default: the WAL bytes kept behind a snapshot.
const DefaultMaxLogBytes = 1 << 30

// minTrailingLogs is the fewest entries kept behind a snapshot, for followers briefly behind.
const minTrailingLogs = 32

// entryAverage keeps an exponentially weighted average of applied entry sizes; it belongs to the
// apply goroutine (appliedFSM) and is read by retain under appliedFSM.mu.
type entryAverage struct{ avg float64 }

func (a *entryAverage) add(n int) {
	if a.avg == 0 {
		a.avg = float64(n)
		return
	}
	a.avg += (float64(n) - a.avg) / 64
}

// trailingFor is the TrailingLogs that keeps about maxBytes of entries of avg bytes.
func trailingFor(avg float64, maxBytes int64, maxEntries uint64) uint64 {
	if avg <= 0 {
		return maxEntries
	}
	n := uint64(math.Max(float64(maxBytes)/avg, 0))
	return min(max(n, minTrailingLogs), maxEntries)
}

// retain adjusts raft's TrailingLogs to the entry sizes seen, every SnapshotInterval until the
// node closes.
func (n *Node) retain() {
	defer n.wg.Done()
	maxEntries := uint64(max(n.cfg.MaxLogEntries/2, 1))
	t := time.NewTicker(n.cfg.SnapshotInterval)
	defer t.Stop()
	for {
		select {
		case <-n.done:
			return
		case <-t.C:
		}
		n.fsm.mu.Lock()
		avg := n.fsm.sizes.avg
		n.fsm.mu.Unlock()
		want := trailingFor(avg, n.cfg.MaxLogBytes, maxEntries)
		rc := n.raft.ReloadableConfig()
		if rc.TrailingLogs == want {
			continue
		}
		rc.TrailingLogs = want
		if err := n.raft.ReloadConfig(rc); err != nil {
			n.log.Warn().Err(err).Msg("adjusting the raft log kept behind snapshots")
		}
	}
}
