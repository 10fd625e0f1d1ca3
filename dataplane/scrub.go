package dataplane

import (
	"context"
	"errors"
	"time"

	"github.com/nebulaio/nebulaio/dataplane/blob"
)

// ScrubStats reports one scrub pass over this node's blobs.
type ScrubStats struct {
	Verified int   // blobs read whole and checked
	Dropped  int   // corrupt copies deleted (repair re-creates them from intact copies)
	Bytes    int64 // bytes read
}

// ScrubPass verifies every local blob now, reading at most bytesPerSecond (0: unthrottled),
// and deletes the corrupt ones, so that a copy that rots on disk is found even if nobody reads
// it; the leader's repair then makes a good one from another node. RunMaintenance runs it
// every Maintenance.ScrubInterval.
func (d *Plane) ScrubPass(ctx context.Context, bytesPerSecond int64) (ScrubStats, error) {
	var st ScrubStats
	var ids []string
	if err := d.local.List(func(e blob.Entry) error {
		ids = append(ids, e.ID)
		return ctx.Err()
	}); err != nil {
		return st, err
	}
	start := time.Now()
	for _, id := range ids {
		info, err := d.local.Stat(id)
		switch {
		case errors.Is(err, blob.ErrNotFound):
			continue // deleted since the listing
		case err != nil && !errors.Is(err, blob.ErrCorrupt):
			return st, err
		}
		if d.dropIfCorrupt(id) {
			st.Dropped++
		}
		st.Verified++
		st.Bytes += info.Size
		d.m.Counter(MetricScrubVerified, 1)
		if err := throttle(ctx, bytesPerSecond, start, st.Bytes); err != nil {
			return st, err
		}
	}
	return st, nil
}
