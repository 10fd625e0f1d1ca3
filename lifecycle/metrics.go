package lifecycle

// Metrics receives the runner's measurements (see docs/CONVENTIONS.md). A nil Metrics is
// valid and records nothing.
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
	{MetricPasses, "counter", "lifecycle passes this node ran (as leader)"},
	{MetricExamined, "counter", "object versions, delete markers and multipart uploads lifecycle passes examined"},
	{MetricExpired, "counter", "expirations lifecycle rules carried out: current versions expired, noncurrent versions and lone delete markers removed, uploads aborted"},
	{MetricSkippedLocked, "counter", "versions a lifecycle rule made due that object lock kept"},
	{MetricErrors, "counter", "lifecycle passes that stopped on an error (not counting a lost leadership)"},
	{MetricPassSeconds, "histogram", "duration of a lifecycle pass"},
	{MetricLastPassEnd, "gauge", "Unix time at which the last lifecycle pass on this node ended"},
}

type nopMetrics struct{}

func (nopMetrics) Counter(string, float64) {}
func (nopMetrics) Gauge(string, float64)   {}
func (nopMetrics) Observe(string, float64) {}
