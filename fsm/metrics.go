package fsm

import "github.com/nebulaio/nebulaio/internal/metrics"

// Metrics receives this package's measurements: the shared seam of internal/metrics (see
// docs/CONVENTIONS.md). A nil Metrics is valid and records nothing.
type Metrics = metrics.Metrics

// MetricDesc documents one metric this package reports (internal/metrics.Desc).
type MetricDesc = metrics.Desc

// Metric names reported by the FSM.
const (
	MetricApplySeconds        = "nebulaio_fsm_apply_seconds"
	MetricAppliedIndex        = "nebulaio_fsm_applied_index"
	MetricAppliedTotal        = "nebulaio_fsm_applied_total"
	MetricRejectedTotal       = "nebulaio_fsm_rejected_total"
	MetricBuckets             = "nebulaio_fsm_buckets"
	MetricObjects             = "nebulaio_fsm_objects"
	MetricUploads             = "nebulaio_fsm_uploads"
	MetricSnapshotSeconds     = "nebulaio_fsm_snapshot_persist_seconds"
	MetricSnapshotFullTotal   = "nebulaio_fsm_snapshot_full_total"
	MetricSnapshotDelta       = "nebulaio_fsm_snapshot_delta_total"
	MetricSnapshotFailed      = "nebulaio_fsm_snapshot_failed_total"
	MetricSnapshotKeysTotal   = "nebulaio_fsm_snapshot_keys_total"
	MetricRestoreSeconds      = "nebulaio_fsm_restore_seconds"
	MetricDirtyEntries        = "nebulaio_fsm_dirty_entries"
	MetricApplyStallSeconds   = "nebulaio_fsm_apply_stall_seconds"
	MetricCacheHitsTotal      = "nebulaio_fsm_cache_hits_total"
	MetricCacheMissesTotal    = "nebulaio_fsm_cache_misses_total"
	MetricCacheEvictionsTotal = "nebulaio_fsm_cache_evictions_total"
	MetricCacheEntries        = "nebulaio_fsm_cache_entries"
	MetricDirtyBytes          = "nebulaio_fsm_dirty_inline_bytes"
	MetricCacheBytes          = "nebulaio_fsm_cache_bytes"
)

// MetricDescs lists every metric the package reports; the README table and the Prometheus
// registration are built from it, and a test checks that each one is exported.
var MetricDescs = []MetricDesc{
	{Name: MetricApplySeconds, Kind: metrics.KindHistogram, Help: "Time to apply one committed log entry to the FSM."},
	{Name: MetricAppliedIndex, Kind: metrics.KindGauge, Help: "Raft index of the last log entry applied to the FSM."},
	{Name: MetricAppliedTotal, Kind: metrics.KindCounter, Help: "Events applied successfully."},
	{Name: MetricRejectedTotal, Kind: metrics.KindCounter, Help: "Events rejected by a precondition or undecodable (state unchanged)."},
	{Name: MetricBuckets, Kind: metrics.KindGauge, Help: "Buckets in the metadata state."},
	{Name: MetricObjects, Kind: metrics.KindGauge, Help: "Objects in the metadata state."},
	{Name: MetricUploads, Kind: metrics.KindGauge, Help: "Open multipart uploads in the metadata state."},
	{Name: MetricSnapshotSeconds, Kind: metrics.KindHistogram, Help: "Time to persist one FSM snapshot (stream encoding and writing)."},
	{Name: MetricSnapshotFullTotal, Kind: metrics.KindCounter, Help: "Full snapshot streams persisted."},
	{Name: MetricSnapshotDelta, Kind: metrics.KindCounter, Help: "Delta snapshot streams persisted."},
	{Name: MetricSnapshotFailed, Kind: metrics.KindCounter, Help: "Snapshot persists that failed or were released unpersisted (the next is full)."},
	{Name: MetricSnapshotKeysTotal, Kind: metrics.KindCounter, Help: "Keys (puts and tombstones) written to snapshot streams."},
	{Name: MetricRestoreSeconds, Kind: metrics.KindHistogram, Help: "Time to restore the FSM from a snapshot (pointing it at the snapshot's runs, or loading a stream)."},
	{Name: MetricDirtyEntries, Kind: metrics.KindGauge, Help: "Metadata records changed since the newest persisted snapshot (held in memory until a snapshot persists them)."},
	{Name: MetricApplyStallSeconds, Kind: metrics.KindHistogram, Help: "Time Apply waited for a snapshot in progress because the changed records reached their bound (back-pressure)."},
	{Name: MetricCacheHitsTotal, Kind: metrics.KindCounter, Help: "Lookups of clean metadata records served by the metadata cache."},
	{Name: MetricCacheMissesTotal, Kind: metrics.KindCounter, Help: "Lookups of clean metadata records the cache did not hold (read from the snapshot runs)."},
	{Name: MetricCacheEvictionsTotal, Kind: metrics.KindCounter, Help: "Records evicted from the metadata cache to keep it within metadata_cache_size."},
	{Name: MetricCacheEntries, Kind: metrics.KindGauge, Help: "Clean metadata records held in the metadata cache."},
	{Name: MetricDirtyBytes, Kind: metrics.KindGauge, Help: "Bytes of inline objects among the records changed since the newest persisted snapshot."},
	{Name: MetricCacheBytes, Kind: metrics.KindGauge, Help: "Bytes the metadata cache holds (keys, encodings, inline object bytes and a per-entry overhead)."},
}
