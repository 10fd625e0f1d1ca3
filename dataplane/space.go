package dataplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nebulaio/nebulaio/dataplane/blob"
	"github.com/nebulaio/nebulaio/internal/vfs"
)

// The free-space reserve. A node's blob store shares its file system with the node's WAL and
// snapshots (all under data_dir). Blob writes are what fill a disk, and a WAL that runs out of
// space fails for good until it is reopened (after a failed write or fsync its pages cannot be
// trusted), so the data plane stops writing blobs while the file system has less free space
// than a reserve: the metadata keeps its room, deletes still commit and free space, and blob
// writes resume by themselves once there is room again. See DESIGN.md.
const (
	// autoReservePercent, autoReserveMin and autoReserveMax define the automatic reserve
	// (Config.MinFreeBytes 0): 1% of the file system, at least 64 MiB (a few WAL segments of
	// 16 MiB and a snapshot of a small metadata set) and at most 1 GiB (enough for either on
	// any disk; more would waste space on large ones).
	autoReservePercent = 1
	autoReserveMin     = 64 << 20
	autoReserveMax     = 1 << 30
	// spaceRefresh is how often the free-space gauges are refreshed when no write checks them.
	spaceRefresh = 30 * time.Second
)

// ErrNoSpace is wrapped by a blob write that a node refused or failed for lack of space: its
// file system had less free space than the reserve (Config.MinFreeBytes) plus the blob, or
// the write ran out of space (ENOSPC). The message names the node. It wraps vfs.ErrNoSpace
// (syscall.ENOSPC), so errors.Is(err, vfs.ErrNoSpace) holds as well. S3 answers 507
// InsufficientStorage.
var ErrNoSpace = fmt.Errorf("dataplane: insufficient storage: %w", vfs.ErrNoSpace)

// reserve returns the free space blob writes must leave on a file system of total bytes.
func (d *Plane) reserve(total uint64) uint64 {
	switch v := d.cfg.MinFreeBytes; {
	case v > 0:
		return uint64(v)
	case v < 0:
		return 0
	}
	return min(max(total/100*autoReservePercent, autoReserveMin), autoReserveMax)
}

// checkSpace refuses a local blob write of size bytes (AnySize: unknown, counted as 0) that
// would leave less free space than the reserve, and refreshes the space gauges. A file system
// that cannot report its space is not checked: a full one still fails the write with ENOSPC.
func (d *Plane) checkSpace(size int64) error {
	sp, ok := d.refreshSpace()
	if !ok {
		return nil
	}
	res := d.reserve(sp.Total)
	need := res + uint64(max(size, 0))
	if sp.Free >= need {
		return nil
	}
	d.m.Counter(MetricReserveRefusals, 1)
	return fmt.Errorf("%w: node %s has %d bytes free on its data file system, below the %d-byte reserve plus the %d-byte blob (storage.min_free_bytes)",
		ErrNoSpace, d.self, sp.Free, res, max(size, 0))
}

// refreshSpace reads the free space of the blob store's file system and sets the gauges; false
// when the file system cannot report it.
func (d *Plane) refreshSpace() (vfs.Space, bool) {
	sp, err := d.local.Space()
	if err != nil {
		return sp, false
	}
	d.m.Gauge(MetricDiskFree, float64(sp.Free))
	d.m.Gauge(MetricDiskReserve, float64(d.reserve(sp.Total)))
	return sp, true
}

// putLocal stores a blob in this node's store: every blob write on this node (a replica of a
// write, a repair copy) comes here. It refuses the write when the reserve would not hold, and
// names this node in the error.
func (d *Plane) putLocal(ctx context.Context, id string, r io.Reader, expect blob.Expect) (blob.Info, error) {
	if err := d.checkSpace(expect.Size); err != nil {
		return blob.Info{}, err
	}
	info, err := d.local.Put(ctx, id, r, expect)
	switch {
	case err == nil:
		d.refreshSpace() // the gauge shows the space after the write, not before it
		return info, nil
	case errors.Is(err, vfs.ErrNoSpace):
		d.m.Counter(MetricNoSpaceErrors, 1)
		d.refreshSpace()
		return blob.Info{}, fmt.Errorf("%w: node %s: %w", ErrNoSpace, d.self, err)
	}
	return blob.Info{}, fmt.Errorf("dataplane: node %s: %w", d.self, err)
}

// watchSpace refreshes the free-space gauges every spaceRefresh until Close.
func (d *Plane) watchSpace() {
	t := time.NewTicker(spaceRefresh)
	defer t.Stop()
	for {
		d.refreshSpace()
		select {
		case <-d.stop:
			return
		case <-t.C:
		}
	}
}

// DiskSpace is the space of the file system holding a node's blob store, and the reserve
// blob writes leave on it (Config.MinFreeBytes, resolved).
type DiskSpace struct {
	Total   uint64 `json:"total_bytes"`
	Free    uint64 `json:"free_bytes"`
	Reserve uint64 `json:"reserve_bytes"`
}

// Space returns this node's DiskSpace (the console's storage page); an error wrapping
// errors.ErrUnsupported when the file system cannot tell.
func (d *Plane) Space() (DiskSpace, error) {
	sp, err := d.local.Space()
	if err != nil {
		return DiskSpace{}, err
	}
	return DiskSpace{Total: sp.Total, Free: sp.Free, Reserve: d.reserve(sp.Total)}, nil
}
