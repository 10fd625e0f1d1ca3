package snapshot

import "github.com/nebulaio/nebulaio/internal/metrics"

// Metrics receives this package's measurements: the shared seam of internal/metrics (see
// docs/CONVENTIONS.md). A nil Metrics is valid and records nothing.
type Metrics = metrics.Metrics

// MetricDesc documents one metric this package reports (internal/metrics.Desc).
type MetricDesc = metrics.Desc

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
	{Name: MetricCreateSeconds, Kind: metrics.KindHistogram, Help: "Time for Create to return a sink."},
	{Name: MetricPersistSeconds, Kind: metrics.KindHistogram, Help: "Time from Create to a published snapshot (stream received, run written, manifest renamed)."},
	{Name: MetricOpenSeconds, Kind: metrics.KindHistogram, Help: "Time for Open to return a stream (including sizing a merged view)."},
	{Name: MetricCompactSeconds, Kind: metrics.KindHistogram, Help: "Time to merge a snapshot's base and delta runs into a new base."},
	{Name: MetricBytesRawTotal, Kind: metrics.KindCounter, Help: "Uncompressed record bytes written into runs (sinks and compactions)."},
	{Name: MetricBytesCompTotal, Kind: metrics.KindCounter, Help: "Run file bytes written to disk (compressed chunks, index, footer)."},
	{Name: MetricSnapshotsTotal, Kind: metrics.KindCounter, Help: "Snapshots published."},
	{Name: MetricErrorsTotal, Kind: metrics.KindCounter, Help: "Sinks that failed (bad stream, unknown parent, I/O) or were canceled."},
	{Name: MetricCompactionsTotal, Kind: metrics.KindCounter, Help: "Compactions completed."},
	{Name: MetricCompactionErrsTotal, Kind: metrics.KindCounter, Help: "Compactions that failed."},
	{Name: MetricRuns, Kind: metrics.KindGauge, Help: "Run files on disk."},
	{Name: MetricChunks, Kind: metrics.KindGauge, Help: "Chunks in the run files on disk."},
	{Name: MetricSnapshots, Kind: metrics.KindGauge, Help: "Snapshots listed."},
	{Name: MetricDiskBytes, Kind: metrics.KindGauge, Help: "Bytes of run files on disk."},
	{Name: MetricCacheHitsTotal, Kind: metrics.KindCounter, Help: "Reader.Get chunk lookups served from the chunk cache."},
	{Name: MetricCacheMissesTotal, Kind: metrics.KindCounter, Help: "Reader.Get chunk lookups that read and decompressed a chunk."},
}
