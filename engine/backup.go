package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/raft"
)

// ErrNothingToBackup is returned by Backup on a node whose state machine has applied nothing
// yet (raft has nothing to snapshot).
var ErrNothingToBackup = errors.New("engine: nothing applied yet, nothing to back up")

// backupRetry spaces out snapshot attempts that raft refused (it refuses while a configuration
// change is uncommitted, and while the node shuts down).
const backupRetry = 100 * time.Millisecond

// Backup opens a point-in-time snapshot of the state machine that holds every write
// acknowledged before the call: a linearizable read barrier first (on a follower it asks the
// leader for its commit index and waits until it has applied it), then a raft snapshot of the
// local FSM, as raft takes them to compact its log, opened from the node's snapshot store. The
// meta names the snapshot's index, term and raft configuration; the stream is the full state
// (snapshot.Store.Open's KindFull stream), pinned until the caller closes it, so retention
// cannot take it meanwhile. The snapshot stays in the store as the newest one: taking a backup
// costs what a scheduled snapshot costs.
//
// raft refuses a snapshot while a configuration change is uncommitted; Backup retries until
// ctx ends and then returns the last refusal.
func (n *Node) Backup(ctx context.Context) (*raft.SnapshotMeta, io.ReadCloser, error) {
	if err := n.Read(ctx, Linearizable); err != nil {
		return nil, nil, fmt.Errorf("engine: backup: read barrier: %w", err)
	}
	for {
		f := n.raft.Snapshot()
		errc := make(chan error, 1)
		go func() { errc <- f.Error() }()
		var err error
		select {
		case err = <-errc:
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("engine: backup: %w", ctx.Err())
		}
		switch {
		case err == nil:
			meta, rc, err := f.Open()
			if err != nil {
				return nil, nil, fmt.Errorf("engine: backup: open snapshot: %w", err)
			}
			return meta, rc, nil
		case errors.Is(err, raft.ErrNothingNewToSnapshot):
			return nil, nil, ErrNothingToBackup
		case errors.Is(err, raft.ErrRaftShutdown):
			return nil, nil, ErrClosed
		}
		n.log.Debug().Err(err).Msg("backup: raft refused a snapshot; retrying")
		t := time.NewTimer(backupRetry)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, nil, fmt.Errorf("engine: backup: %w (last refusal: %v)", ctx.Err(), err)
		}
	}
}
