package wal

import "github.com/nebulaio/nebulaio/internal/metrics"

// Metrics receives this package's measurements: the shared seam of internal/metrics (see
// docs/CONVENTIONS.md). A nil Metrics is valid and records nothing.
type Metrics = metrics.Metrics

// MetricDesc documents one metric this package reports (internal/metrics.Desc).
type MetricDesc = metrics.Desc

// Metric names reported by the WAL.
const (
	MetricAppendSeconds       = "nebulaio_wal_append_seconds"
	MetricFsyncSeconds        = "nebulaio_wal_fsync_seconds"
	MetricBytesWrittenTotal   = "nebulaio_wal_bytes_written_total"
	MetricEntriesWrittenTotal = "nebulaio_wal_entries_written_total"
	MetricSegments            = "nebulaio_wal_segments"
	MetricFirstIndex          = "nebulaio_wal_first_index"
	MetricLastIndex           = "nebulaio_wal_last_index"
	MetricTornTailsTotal      = "nebulaio_wal_torn_tails_truncated_total"
	MetricCorruptReadsTotal   = "nebulaio_wal_corrupt_reads_total"
)

// MetricDescs lists every metric the package reports; the README table and the Prometheus
// registration are built from it, and a test checks that each one is exported.
var MetricDescs = []MetricDesc{
	{Name: MetricAppendSeconds, Kind: metrics.KindHistogram, Help: "Latency of StoreLogs: encode, write and fdatasync of one batch."},
	{Name: MetricFsyncSeconds, Kind: metrics.KindHistogram, Help: "Latency of one fdatasync of a segment file."},
	{Name: MetricBytesWrittenTotal, Kind: metrics.KindCounter, Help: "Bytes written to segment files by StoreLogs (framing included)."},
	{Name: MetricEntriesWrittenTotal, Kind: metrics.KindCounter, Help: "Log entries made durable by StoreLogs."},
	{Name: MetricSegments, Kind: metrics.KindGauge, Help: "Segment files currently holding log entries."},
	{Name: MetricFirstIndex, Kind: metrics.KindGauge, Help: "First index in the log (0 when empty)."},
	{Name: MetricLastIndex, Kind: metrics.KindGauge, Help: "Last index in the log (0 when empty)."},
	{Name: MetricTornTailsTotal, Kind: metrics.KindCounter, Help: "Torn tails found and truncated by recovery on Open."},
	{Name: MetricCorruptReadsTotal, Kind: metrics.KindCounter, Help: "GetLog calls that found a record failing its CRC."},
}
