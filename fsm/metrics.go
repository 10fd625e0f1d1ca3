package fsm

// Metrics receives this package's measurements. A nil Metrics is valid and records nothing.
type Metrics interface {
	Counter(name string, delta float64) // monotonically increasing; names end in _total
	Gauge(name string, value float64)   // set to the current value
	Observe(name string, value float64) // histogram sample; durations in seconds, names end in _seconds
}

// MetricDesc documents one metric this package reports.
type MetricDesc struct {
	Name string // nebulaio_<subsystem>_<name>
	Kind string // "counter", "gauge" or "histogram"
	Help string
}

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
)

// MetricDescs lists every metric the package reports; the README table and the Prometheus
// registration are built from it, and a test checks that each one is exported.
var MetricDescs = []MetricDesc{
	{MetricApplySeconds, "histogram", "Time to apply one committed log entry to the FSM."},
	{MetricAppliedIndex, "gauge", "Raft index of the last log entry applied to the FSM."},
	{MetricAppliedTotal, "counter", "Events applied successfully."},
	{MetricRejectedTotal, "counter", "Events rejected by a precondition or undecodable (state unchanged)."},
	{MetricBuckets, "gauge", "Buckets in the metadata state."},
	{MetricObjects, "gauge", "Objects in the metadata state."},
	{MetricUploads, "gauge", "Open multipart uploads in the metadata state."},
	{MetricSnapshotSeconds, "histogram", "Time to persist one FSM snapshot (stream encoding and writing)."},
	{MetricSnapshotFullTotal, "counter", "Full snapshot streams persisted."},
	{MetricSnapshotDelta, "counter", "Delta snapshot streams persisted."},
	{MetricSnapshotFailed, "counter", "Snapshot persists that failed or were released unpersisted (the next is full)."},
	{MetricSnapshotKeysTotal, "counter", "Keys (puts and tombstones) written to snapshot streams."},
	{MetricRestoreSeconds, "histogram", "Time to restore the FSM from a snapshot (pointing it at the snapshot's runs, or loading a stream)."},
	{MetricDirtyEntries, "gauge", "Metadata records changed since the newest persisted snapshot (held in memory until a snapshot persists them)."},
	{MetricApplyStallSeconds, "histogram", "Time Apply waited for a snapshot in progress because the changed records reached their bound (back-pressure)."},
	{MetricCacheHitsTotal, "counter", "Lookups of clean metadata records served by the metadata cache."},
	{MetricCacheMissesTotal, "counter", "Lookups of clean metadata records the cache did not hold (read from the snapshot runs)."},
	{MetricCacheEvictionsTotal, "counter", "Records evicted from the metadata cache to keep it within metadata_cache_size."},
	{MetricCacheEntries, "gauge", "Clean metadata records held in the metadata cache."},
}

type nopMetrics struct{}

func (nopMetrics) Counter(string, float64) {}
func (nopMetrics) Gauge(string, float64)   {}
func (nopMetrics) Observe(string, float64) {}
