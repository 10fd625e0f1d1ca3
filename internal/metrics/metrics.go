// Package metrics is the one home of the metrics seam that NebulaIO's libraries report
// through. Libraries (wal, snapshot, fsm, transport, gossip, engine, dataplane, dataplane/blob,
// httpapi/s3) never import Prometheus: each takes a Metrics in its options and lists what it
// reports in its own table of Desc (its MetricDescs); only httpapi adapts the seam to
// Prometheus (httpapi.PromSink), and package node declares every library's table on that one
// sink. See docs/CONVENTIONS.md.
//
// The seam has no labels: a family of values is a family of names (see httpapi/s3's
// per-operation counters). Names are nebulaio_<subsystem>_<name>; counters end in _total,
// histograms of durations in _seconds (nebulaio_raft_commit_latency is the one documented
// exception).
package metrics

// Metrics receives measurements. Every name must be in the reporting package's table; the
// Prometheus adapter panics on a name that was not declared, so a test that exercises the code
// finds it. Implementations are safe for concurrent use.
type Metrics interface {
	Counter(name string, delta float64) // monotonically increasing; names end in _total
	Gauge(name string, value float64)   // set to the current value
	Observe(name string, value float64) // histogram sample; durations in seconds, names end in _seconds
}

// The kinds a Desc may have.
const (
	KindCounter   = "counter"
	KindGauge     = "gauge"
	KindHistogram = "histogram"
)

// Desc documents one metric a package reports. The README table and the Prometheus
// registration are built from the packages' tables, and a test checks that every documented
// name is exported.
type Desc struct {
	Name string // nebulaio_<subsystem>_<name>
	Kind string // KindCounter, KindGauge or KindHistogram
	Help string
}

// Nop records nothing. Libraries use it where their options hold a nil Metrics.
type Nop struct{}

var _ Metrics = Nop{}

func (Nop) Counter(string, float64) {}
func (Nop) Gauge(string, float64)   {}
func (Nop) Observe(string, float64) {}

// OrNop returns m, or Nop when m is nil.
func OrNop(m Metrics) Metrics {
	if m == nil {
		return Nop{}
	}
	return m
}
