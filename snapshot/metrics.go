package snapshot

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

// Metric names reported by this package.
const (
	MetricCreateSeconds       = "nebulaio_snapshot_create_seconds"
	MetricPersistSeconds      = "nebulaio_snapshot_persist_seconds"
	MetricOpenSeconds         = "nebulaio_snapshot_open_seconds"
	MetricCompactSeconds      = "nebulaio_snapshot_compaction_seconds"
	MetricBytesRawTotal       = "nebulaio_snapshot_bytes_raw_total"
	MetricBytesCompTotal      = "nebulaio_snapshot_bytes_compressed_total"
	MetricSnapshotsTotal      = "nebulaio_snapshot_persisted_total"
	MetricErrorsTotal         = "nebulaio_snapshot_errors_total"
	MetricCompactionsTotal    = "nebulaio_snapshot_compactions_total"
	MetricCompactionErrsTotal = "nebulaio_snapshot_compaction_errors_total"
	MetricRuns                = "nebulaio_snapshot_runs"
	MetricChunks              = "nebulaio_snapshot_chunks"
	MetricSnapshots           = "nebulaio_snapshot_snapshots"
	MetricDiskBytes           = "nebulaio_snapshot_disk_bytes"
	MetricCacheHitsTotal      = "nebulaio_snapshot_cache_hits_total"
	MetricCacheMissesTotal    = "nebulaio_snapshot_cache_misses_total"
)

// MetricDescs lists every metric the package reports; the README table and the Prometheus
// registration are built from it, and a test checks that each one is exported.
var MetricDescs = []MetricDesc{
	{MetricCreateSeconds, "histogram", "Time for Create to return a sink."},
	{MetricPersistSeconds, "histogram", "Time from Create to a published snapshot (stream received, run written, manifest renamed)."},
	{MetricOpenSeconds, "histogram", "Time for Open to return a stream (including sizing a merged view)."},
	{MetricCompactSeconds, "histogram", "Time to merge a snapshot's base and delta runs into a new base."},
	{MetricBytesRawTotal, "counter", "Uncompressed record bytes written into runs (sinks and compactions)."},
	{MetricBytesCompTotal, "counter", "Run file bytes written to disk (compressed chunks, index, footer)."},
	{MetricSnapshotsTotal, "counter", "Snapshots published."},
	{MetricErrorsTotal, "counter", "Sinks that failed (bad stream, unknown parent, I/O) or were canceled."},
	{MetricCompactionsTotal, "counter", "Compactions completed."},
	{MetricCompactionErrsTotal, "counter", "Compactions that failed."},
	{MetricRuns, "gauge", "Run files on disk."},
	{MetricChunks, "gauge", "Chunks in the run files on disk."},
	{MetricSnapshots, "gauge", "Snapshots listed."},
	{MetricDiskBytes, "gauge", "Bytes of run files on disk."},
	{MetricCacheHitsTotal, "counter", "Reader.Get chunk lookups served from the chunk cache."},
	{MetricCacheMissesTotal, "counter", "Reader.Get chunk lookups that read and decompressed a chunk."},
}

type nopMetrics struct{}

func (nopMetrics) Counter(string, float64) {}
func (nopMetrics) Gauge(string, float64)   {}
func (nopMetrics) Observe(string, float64) {}
