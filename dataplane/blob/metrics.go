package blob

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

// Metric names.
const (
	metricBytesWritten = "nebulaio_blob_bytes_written_total"
	metricBytesRead    = "nebulaio_blob_bytes_read_total"
	metricPutSeconds   = "nebulaio_blob_put_seconds"
	metricPutErrors    = "nebulaio_blob_put_errors_total"
	metricCorrupt      = "nebulaio_blob_corrupt_total"
	metricDeletes      = "nebulaio_blob_deletes_total"
	metricTempRemoved  = "nebulaio_blob_temp_removed_total"
)

// MetricDescs lists every metric the package reports; the README table and the Prometheus
// registration are built from it, and a test checks that each one is exported.
var MetricDescs = []MetricDesc{
	{metricBytesWritten, "counter", "Payload bytes of blobs successfully stored by Put."},
	{metricBytesRead, "counter", "Payload bytes returned to readers (Read and ReadAt)."},
	{metricPutSeconds, "histogram", "Duration of successful Puts, from first byte to the directory fsync."},
	{metricPutErrors, "counter", "Puts that failed (bad input, digest or size mismatch, I/O error, cancellation)."},
	{metricCorrupt, "counter", "Checksum failures detected on read or Verify (each detection counts once)."},
	{metricDeletes, "counter", "Blobs removed by Delete."},
	{metricTempRemoved, "counter", "Temporary files of interrupted Puts removed at Open."},
}

type nopMetrics struct{}

func (nopMetrics) Counter(string, float64) {}
func (nopMetrics) Gauge(string, float64)   {}
func (nopMetrics) Observe(string, float64) {}
