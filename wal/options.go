package wal

import (
	"fmt"

	"github.com/rs/zerolog"

	"github.com/nebulaio/nebulaio/internal/metrics"
	"github.com/nebulaio/nebulaio/internal/vfs"
)

// Defaults applied by Open to zero-valued Options fields.
const (
	// DefaultSegmentSize is the size each segment is preallocated to (and rotated at).
	DefaultSegmentSize = 16 << 20
	// DefaultCompressAbove is the body size above which an entry is snappy-compressed.
	DefaultCompressAbove = 32 << 10
	// DefaultCacheEntries is the number of newest entries GetLog serves from memory.
	DefaultCacheEntries = 1024
	// DefaultRecycleSegments is how many compacted segment files are kept for reuse.
	DefaultRecycleSegments = 8
	// DefaultMaxEntrySize bounds one entry's encoded body; the decoder rejects larger lengths
	// before allocating.
	DefaultMaxEntrySize = 64 << 20

	minSegmentSize = 4 << 10
	maxSegmentSize = 1 << 31
)

// Options configures a Log. The zero value gives safe defaults: fsync on, 16 MiB segments,
// compression of entries above 32 KiB, a cache of the 1024 newest entries.
type Options struct {
	// SegmentSize is the size a segment file is preallocated (zero-filled) to; a batch that does
	// not fit in the current segment starts the next one. 0 means DefaultSegmentSize; valid range
	// 4 KiB .. 2 GiB.
	SegmentSize int64

	// NoSync skips fdatasync/fsync. For tests and benchmarks only: a crash loses data.
	NoSync bool

	// FS is the file system every file operation of the log goes through. nil means vfs.OS;
	// tests pass a vfs.Faulty or vfs.Mem to make writes, syncs or renames fail, or to crash.
	FS vfs.FS

	// CompressAbove is the entry size (data plus extensions, in bytes) above which the body is
	// snappy-compressed (kept raw if that does not save at least 1/8). 0 means
	// DefaultCompressAbove; a negative value disables compression.
	CompressAbove int

	// CacheEntries is how many of the newest entries GetLog serves from memory. 0 means
	// DefaultCacheEntries; a negative value disables the cache. Entries above 64 KiB are not cached.
	CacheEntries int

	// MaxEntrySize bounds the encoded body of one entry. 0 means DefaultMaxEntrySize.
	MaxEntrySize int

	// RecycleSegments is how many segment files dropped by front compaction are kept (as
	// *.recycle) to become later segments instead of new files: at most that many segments of
	// disk space beyond the log itself. 0 means DefaultRecycleSegments; a negative value keeps
	// none.
	RecycleSegments int

	// Logger receives recovery and rotation events. nil logs nothing.
	Logger *zerolog.Logger

	// Metrics receives measurements (see MetricDescs). nil records nothing.
	Metrics Metrics
}

// withDefaults returns o with zero fields replaced by defaults.
func (o Options) withDefaults() Options {
	if o.SegmentSize == 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.CompressAbove == 0 {
		o.CompressAbove = DefaultCompressAbove
	}
	if o.CacheEntries == 0 {
		o.CacheEntries = DefaultCacheEntries
	}
	if o.MaxEntrySize == 0 {
		o.MaxEntrySize = DefaultMaxEntrySize
	}
	if o.RecycleSegments == 0 {
		o.RecycleSegments = DefaultRecycleSegments
	}
	if o.FS == nil {
		o.FS = vfs.OS
	}
	if o.Logger == nil {
		nop := zerolog.Nop()
		o.Logger = &nop
	}
	if o.Metrics == nil {
		o.Metrics = metrics.Nop{}
	}
	return o
}

// Validate reports the first invalid field, naming it.
func (o Options) Validate() error {
	if o.SegmentSize != 0 && (o.SegmentSize < minSegmentSize || o.SegmentSize > maxSegmentSize) {
		return fmt.Errorf("wal: Options.SegmentSize %d out of range [%d, %d]", o.SegmentSize, minSegmentSize, maxSegmentSize)
	}
	if o.MaxEntrySize < 0 || o.MaxEntrySize > maxBodyLen {
		return fmt.Errorf("wal: Options.MaxEntrySize %d out of range [0, %d]", o.MaxEntrySize, maxBodyLen)
	}
	return nil
}
