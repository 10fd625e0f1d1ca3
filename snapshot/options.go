package snapshot

import (
	"fmt"

	"github.com/klauspost/compress/zstd"
	"github.com/rs/zerolog"

	"github.com/nebulaio/nebulaio/internal/metrics"
	"github.com/nebulaio/nebulaio/internal/vfs"
)

// Options configures a Store. The zero value is valid: every zero field takes the default
// documented beside it.
type Options struct {
	// Retain is how many snapshots List keeps (newest first); older ones are reaped after each
	// new snapshot is published. Default 2, minimum 1.
	Retain int
	// ChunkSize is the raw (uncompressed) size at which a run's chunk is cut. Larger chunks
	// compress better; smaller ones make point reads cheaper (a cold Reader.Get reads,
	// checks and decompresses one chunk). Default 16 KiB; 4 KiB to 16 MiB.
	ChunkSize int
	// ZstdLevel is the zstd speed/ratio level: 1 fastest, 2 default, 3 better, 4 best.
	// Default 1 (SpeedFastest), which keeps a full persist close to raw disk speed.
	ZstdLevel int
	// CompactRatio triggers a background compaction of the newest snapshot when the compressed
	// bytes of its delta runs exceed this share of its base run. Default 0.5.
	CompactRatio float64
	// CompactMaxDeltas triggers a background compaction when the newest snapshot has more than
	// this many delta runs. Default 8.
	CompactMaxDeltas int
	// DisableAutoCompaction turns the background trigger off; Compact still works.
	DisableAutoCompaction bool
	// CacheBytes bounds the decompressed chunks kept for Reader.Get (shared by all Readers of
	// the store). Default 8 MiB; negative disables the cache.
	CacheBytes int64
	// Logger receives warnings (a corrupt manifest set aside, a failed background compaction).
	// Default: a disabled logger.
	Logger *zerolog.Logger
	// Metrics receives the measurements listed in MetricDescs. Nil records nothing.
	Metrics Metrics
	// FS is the file system every file operation of the store goes through. Default vfs.OS;
	// tests pass a vfs.Faulty or vfs.Mem to make writes, syncs or renames fail, or to crash.
	FS vfs.FS
}

const (
	defaultRetain           = 2
	defaultChunkSize        = 16 << 10
	defaultZstdLevel        = 1
	defaultCompactRatio     = 0.5
	defaultCompactMaxDeltas = 8
	defaultCacheBytes       = 8 << 20
)

// withDefaults returns o with zero fields replaced by their defaults, or an error naming the
// first invalid field.
func (o Options) withDefaults() (Options, error) {
	if o.Retain == 0 {
		o.Retain = defaultRetain
	}
	if o.ChunkSize == 0 {
		o.ChunkSize = defaultChunkSize
	}
	if o.ZstdLevel == 0 {
		o.ZstdLevel = defaultZstdLevel
	}
	if o.CompactRatio == 0 {
		o.CompactRatio = defaultCompactRatio
	}
	if o.CompactMaxDeltas == 0 {
		o.CompactMaxDeltas = defaultCompactMaxDeltas
	}
	if o.CacheBytes == 0 {
		o.CacheBytes = defaultCacheBytes
	}
	if o.Logger == nil {
		l := zerolog.Nop()
		o.Logger = &l
	}
	if o.Metrics == nil {
		o.Metrics = metrics.Nop{}
	}
	if o.FS == nil {
		o.FS = vfs.OS
	}
	switch {
	case o.Retain < 1:
		return o, fmt.Errorf("snapshot: Options.Retain %d: must be at least 1", o.Retain)
	case o.ChunkSize < 4<<10 || o.ChunkSize > 16<<20:
		return o, fmt.Errorf("snapshot: Options.ChunkSize %d: must be between 4 KiB and 16 MiB", o.ChunkSize)
	case o.ZstdLevel < 1 || o.ZstdLevel > 4:
		return o, fmt.Errorf("snapshot: Options.ZstdLevel %d: must be 1 to 4", o.ZstdLevel)
	case o.CompactRatio < 0:
		return o, fmt.Errorf("snapshot: Options.CompactRatio %v: must not be negative", o.CompactRatio)
	case o.CompactMaxDeltas < 1:
		return o, fmt.Errorf("snapshot: Options.CompactMaxDeltas %d: must be at least 1", o.CompactMaxDeltas)
	}
	return o, nil
}

func (o Options) zstdLevel() zstd.EncoderLevel {
	return zstd.EncoderLevel(o.ZstdLevel) // 1..4 map to SpeedFastest..SpeedBestCompression
}
