package engine

import (
	"context"
	"errors"
	"time"

	"github.com/nebulaio/nebulaio/engine/blob"
)

// ScrubStats reports one scrub pass over this node's blobs.
type ScrubStats struct {
	Verified int   // blobs read whole and checked
	Dropped  int   // corrupt copies deleted (repair re-creates them from intact copies)
	Bytes    int64 // bytes read
}

// RunScrub verifies every local blob once per interval, reading at most bytesPerSecond (0:
// unthrottled), so that a copy that rots on disk is found even if nobody reads it. A corrupt
// copy is deleted; the leader's repair then makes a good one from another node. It returns
// when ctx ends.
func (b *Blobs) RunScrub(ctx context.Context, interval time.Duration, bytesPerSecond int64) {
	if !b.cfg.HoldsData || interval <= 0 {
		return
	}
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := b.ScrubPass(ctx, bytesPerSecond)
		if err != nil && ctx.Err() == nil {
			b.log.Warn().Err(err).Msg("scrub pass")
		}
		b.log.Info().Int("verified", st.Verified).Int("dropped", st.Dropped).Int64("bytes", st.Bytes).Msg("scrub pass done")
		t.Reset(interval)
	}
}

// ScrubPass verifies every local blob now (throttled to bytesPerSecond) and deletes the corrupt
// ones.
func (b *Blobs) ScrubPass(ctx context.Context, bytesPerSecond int64) (ScrubStats, error) {
	var st ScrubStats
	var ids []string
	if err := b.local.List(func(e blob.Entry) error {
		ids = append(ids, e.ID)
		return ctx.Err()
	}); err != nil {
		return st, err
	}
	start := time.Now()
	for _, id := range ids {
		info, err := b.local.Stat(id)
		switch {
		case errors.Is(err, blob.ErrNotFound):
			continue // deleted since the listing
		case err != nil && !errors.Is(err, blob.ErrCorrupt):
			return st, err
		}
		if b.dropIfCorrupt(id) {
			st.Dropped++
		}
		st.Verified++
		st.Bytes += info.Size
		b.m.Counter(MetricScrubVerified, 1)
		if err := throttle(ctx, bytesPerSecond, start, st.Bytes); err != nil {
			return st, err
		}
	}
	return st, nil
}
