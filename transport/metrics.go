package transport

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

// Metric names reported by this package.
const (
	MetricRPCSeconds    = "nebulaio_transport_rpc_seconds"
	MetricRPCErrors     = "nebulaio_transport_rpc_errors_total"
	MetricBytesSent     = "nebulaio_transport_bytes_sent_total"
	MetricBytesReceived = "nebulaio_transport_bytes_received_total"
	MetricConnections   = "nebulaio_transport_connections"
	MetricRefused       = "nebulaio_transport_refused_total"
)

// MetricDescs lists every metric the package reports; the README table and the Prometheus
// registration are built from it, and a test checks that each one is exported.
var MetricDescs = []MetricDesc{
	{Name: MetricRPCSeconds, Kind: "histogram", Help: "Duration of outgoing Call and CallStream requests, from the caller's side, successful or not."},
	{Name: MetricRPCErrors, Kind: "counter", Help: "Outgoing Call and CallStream requests that returned an error (transport or remote)."},
	{Name: MetricBytesSent, Kind: "counter", Help: "Bytes written to node-to-node connections (raft, RPC and streams; on the wire, TLS included)."},
	{Name: MetricBytesReceived, Kind: "counter", Help: "Bytes read from node-to-node connections (raft, RPC and streams; on the wire, TLS included)."},
	{Name: MetricConnections, Kind: "gauge", Help: "Open node-to-node connections, inbound and outbound, of every kind."},
	{Name: MetricRefused, Kind: "counter", Help: "Node-to-node connections refused, inbound or outbound: failed TLS handshake (no or untrusted certificate), unknown preamble, or a peer whose identity was refused."},
}

type nopMetrics struct{}

func (nopMetrics) Counter(string, float64) {}
func (nopMetrics) Gauge(string, float64)   {}
func (nopMetrics) Observe(string, float64) {}
