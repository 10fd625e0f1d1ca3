package wal

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
	{MetricAppendSeconds, "histogram", "Latency of StoreLogs: encode, write and fdatasync of one batch."},
	{MetricFsyncSeconds, "histogram", "Latency of one fdatasync of a segment file."},
	{MetricBytesWrittenTotal, "counter", "Bytes written to segment files by StoreLogs (framing included)."},
	{MetricEntriesWrittenTotal, "counter", "Log entries made durable by StoreLogs."},
	{MetricSegments, "gauge", "Segment files currently holding log entries."},
	{MetricFirstIndex, "gauge", "First index in the log (0 when empty)."},
	{MetricLastIndex, "gauge", "Last index in the log (0 when empty)."},
	{MetricTornTailsTotal, "counter", "Torn tails found and truncated by recovery on Open."},
	{MetricCorruptReadsTotal, "counter", "GetLog calls that found a record failing its CRC."},
}

type nopMetrics struct{}

func (nopMetrics) Counter(string, float64) {}
func (nopMetrics) Gauge(string, float64)   {}
func (nopMetrics) Observe(string, float64) {}
