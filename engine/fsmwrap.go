package engine

import (
	"io"
	"sync"

	"github.com/hashicorp/raft"
)

// appliedFSM wraps the state machine to learn the index of every applied entry, so that reads
// can wait until the local state has caught up with a read index. It always offers ApplyBatch,
// passing whole batches through when the inner FSM batches too.
type appliedFSM struct {
	inner         raft.FSM
	restoredIndex func() uint64 // index of the snapshot being restored; set before raft starts

	mu      sync.Mutex
	applied uint64
	changed chan struct{} // closed and replaced whenever applied moves
	sizes   entryAverage  // of the entries applied (retention.go)
}

var _ raft.BatchingFSM = (*appliedFSM)(nil)

func newAppliedFSM(inner raft.FSM) *appliedFSM {
	return &appliedFSM{inner: inner, changed: make(chan struct{})}
}

func (f *appliedFSM) Apply(l *raft.Log) any {
	if l.Type == raft.LogCommand && isEnvelope(l.Data) {
		return f.ApplyBatch([]*raft.Log{l})[0]
	}
	r := f.inner.Apply(l)
	f.advance(l.Index, len(l.Data))
	return r
}

func (f *appliedFSM) ApplyBatch(logs []*raft.Log) []any {
	if len(logs) == 0 {
		return nil
	}
	last := logs[len(logs)-1].Index
	f.mu.Lock()
	for _, l := range logs {
		f.sizes.add(len(l.Data))
	}
	f.mu.Unlock()
	flat, spans := expand(logs) // coalesced proposals become their sub-entries again
	var out []any
	if b, ok := f.inner.(raft.BatchingFSM); ok {
		out = b.ApplyBatch(flat)
	} else {
		out = make([]any, len(flat))
		for i, l := range flat {
			if l.Type == raft.LogCommand { // configuration entries are raft's, not the FSM's
				out[i] = f.inner.Apply(l)
			}
		}
	}
	f.advance(last, 0)
	return fold(out, spans)
}

func (f *appliedFSM) Snapshot() (raft.FSMSnapshot, error) { return f.inner.Snapshot() }

// Restore replaces the state. The stream does not say which index it holds, so the index comes
// from restoredIndex (the newest snapshot in the store: the one raft restores at start and the one
// it just installed from a leader).
func (f *appliedFSM) Restore(rc io.ReadCloser) error {
	if err := f.inner.Restore(rc); err != nil {
		return err
	}
	if f.restoredIndex != nil {
		f.mu.Lock()
		f.applied = 0 // a restore may move the state backwards (never in practice: raft only installs newer)
		f.mu.Unlock()
		f.advance(f.restoredIndex(), 0)
	}
	return nil
}

// advance records that entries up to idx are applied; entryBytes > 0 is the size of the one
// entry applied.
func (f *appliedFSM) advance(idx uint64, entryBytes int) {
	f.mu.Lock()
	if entryBytes > 0 {
		f.sizes.add(entryBytes)
	}
	if idx > f.applied {
		f.applied = idx
		close(f.changed)
		f.changed = make(chan struct{})
	}
	f.mu.Unlock()
}

// state returns the applied index and a channel closed when it next moves.
func (f *appliedFSM) state() (uint64, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied, f.changed
}
