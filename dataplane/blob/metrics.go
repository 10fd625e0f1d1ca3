package blob

import "github.com/nebulaio/nebulaio/internal/metrics"

// Metrics receives this package's measurements: the shared seam of internal/metrics (see
// docs/CONVENTIONS.md). A nil Metrics is valid and records nothing.
type Metrics = metrics.Metrics

// MetricDesc documents one metric this package reports (internal/metrics.Desc).
type MetricDesc = metrics.Desc

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
	{Name: metricBytesWritten, Kind: metrics.KindCounter, Help: "Payload bytes of blobs successfully stored by Put."},
	{Name: metricBytesRead, Kind: metrics.KindCounter, Help: "Payload bytes returned to readers (Read and ReadAt)."},
	{Name: metricPutSeconds, Kind: metrics.KindHistogram, Help: "Duration of successful Puts, from first byte to the directory fsync."},
	{Name: metricPutErrors, Kind: metrics.KindCounter, Help: "Puts that failed (bad input, digest or size mismatch, I/O error, cancellation)."},
	{Name: metricCorrupt, Kind: metrics.KindCounter, Help: "Checksum failures detected on read or Verify (each detection counts once)."},
	{Name: metricDeletes, Kind: metrics.KindCounter, Help: "Blobs removed by Delete."},
	{Name: metricTempRemoved, Kind: metrics.KindCounter, Help: "Temporary files of interrupted Puts removed at Open."},
}

// nopMetrics stands where the options hold no Metrics.
type nopMetrics = metrics.Nop
