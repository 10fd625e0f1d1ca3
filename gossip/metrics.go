package gossip

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

// Names of the metrics this package reports.
const (
	metricNodes         = "nebulaio_gossip_nodes"
	metricNodesDead     = "nebulaio_gossip_nodes_dead"
	metricEvents        = "nebulaio_gossip_events_total"
	metricEventsDropped = "nebulaio_gossip_events_dropped_total"
	metricJoinAttempts  = "nebulaio_gossip_join_attempts_total"
	metricJoinFailures  = "nebulaio_gossip_join_failures_total"
	metricMetaErrors    = "nebulaio_gossip_meta_decode_errors_total"
	metricRejoins       = "nebulaio_gossip_rejoins_total"
)

// MetricDescs lists every metric the package reports; the README table and the Prometheus
// registration are built from it, and a test checks that each one is exported.
var MetricDescs = []MetricDesc{
	{metricNodes, "gauge", "Gossip members this node currently sees alive, itself included."},
	{metricNodesDead, "gauge", "Gossip members this node remembers as dead (failed, not left), until forgotten."},
	{metricEvents, "counter", "Membership events (join, update, leave, failed) produced, delivered or dropped."},
	{metricEventsDropped, "counter", "Membership events dropped because the Events channel was full; consumers re-sync from Members."},
	{metricJoinAttempts, "counter", "Attempts to join the cluster through the configured or given addresses."},
	{metricJoinFailures, "counter", "Join attempts that reached no member other than this node."},
	{metricRejoins, "counter", "Re-joins of dead members and unreached join addresses (periodic, or asked for by the caller) that reached at least one of them."},
	{metricMetaErrors, "counter", "Remote node metadata that could not be decoded."},
}

type nopMetrics struct{}

func (nopMetrics) Counter(string, float64) {}
func (nopMetrics) Gauge(string, float64)   {}
func (nopMetrics) Observe(string, float64) {}

var _ Metrics = nopMetrics{}
