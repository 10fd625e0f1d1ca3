package lifecycle

import "github.com/nebulaio/nebulaio/internal/metrics"

// Metrics receives the runner's measurements: the shared seam of internal/metrics (see
// docs/CONVENTIONS.md). A nil Metrics is valid and records nothing.
type Metrics = metrics.Metrics

// MetricDesc documents one metric this package reports (internal/metrics.Desc).
type MetricDesc = metrics.Desc

// Metric names.
const (
	MetricPasses        = "nebulaio_lifecycle_passes_total"
	MetricExamined      = "nebulaio_lifecycle_examined_total"
	MetricExpired       = "nebulaio_lifecycle_expired_total"
	MetricSkippedLocked = "nebulaio_lifecycle_skipped_locked_total"
	MetricErrors        = "nebulaio_lifecycle_errors_total"
	MetricPassSeconds   = "nebulaio_lifecycle_pass_seconds"
	MetricLastPassEnd   = "nebulaio_lifecycle_last_pass_end_seconds"
)

// MetricDescs lists every metric the package reports; the README table and the Prometheus
// registration are built from it, and a test checks that each one is exported.
var MetricDescs = []MetricDesc{
	{Name: MetricPasses, Kind: metrics.KindCounter, Help: "lifecycle passes this node ran (as leader)"},
	{Name: MetricExamined, Kind: metrics.KindCounter, Help: "object versions, delete markers and multipart uploads lifecycle passes examined"},
	{Name: MetricExpired, Kind: metrics.KindCounter, Help: "expirations lifecycle rules carried out: current versions expired, noncurrent versions and lone delete markers removed, uploads aborted"},
	{Name: MetricSkippedLocked, Kind: metrics.KindCounter, Help: "versions a lifecycle rule made due that object lock kept"},
	{Name: MetricErrors, Kind: metrics.KindCounter, Help: "lifecycle passes that stopped on an error (not counting a lost leadership)"},
	{Name: MetricPassSeconds, Kind: metrics.KindHistogram, Help: "duration of a lifecycle pass"},
	{Name: MetricLastPassEnd, Kind: metrics.KindGauge, Help: "Unix time at which the last lifecycle pass on this node ended"},
}

// nopMetrics stands where the options hold no Metrics.
type nopMetrics = metrics.Nop
