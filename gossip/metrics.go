package gossip

import "github.com/nebulaio/nebulaio/internal/metrics"

// Metrics receives this package's measurements: the shared seam of internal/metrics (see
// docs/CONVENTIONS.md). A nil Metrics is valid and records nothing.
type Metrics = metrics.Metrics

// MetricDesc documents one metric this package reports (internal/metrics.Desc).
type MetricDesc = metrics.Desc

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
	{Name: metricNodes, Kind: metrics.KindGauge, Help: "Gossip members this node currently sees alive, itself included."},
	{Name: metricNodesDead, Kind: metrics.KindGauge, Help: "Gossip members this node remembers as dead (failed, not left), until forgotten."},
	{Name: metricEvents, Kind: metrics.KindCounter, Help: "Membership events (join, update, leave, failed) produced, delivered or dropped."},
	{Name: metricEventsDropped, Kind: metrics.KindCounter, Help: "Membership events dropped because the Events channel was full; consumers re-sync from Members."},
	{Name: metricJoinAttempts, Kind: metrics.KindCounter, Help: "Attempts to join the cluster through the configured or given addresses."},
	{Name: metricJoinFailures, Kind: metrics.KindCounter, Help: "Join attempts that reached no member other than this node."},
	{Name: metricRejoins, Kind: metrics.KindCounter, Help: "Re-joins of dead members and unreached join addresses (periodic, or asked for by the caller) that reached at least one of them."},
	{Name: metricMetaErrors, Kind: metrics.KindCounter, Help: "Remote node metadata that could not be decoded."},
}
