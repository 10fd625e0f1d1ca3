package transport

import "github.com/nebulaio/nebulaio/internal/metrics"

// Metrics receives this package's measurements: the shared seam of internal/metrics (see
// docs/CONVENTIONS.md). A nil Metrics is valid and records nothing.
type Metrics = metrics.Metrics

// MetricDesc documents one metric this package reports (internal/metrics.Desc).
type MetricDesc = metrics.Desc

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
	{Name: MetricRPCSeconds, Kind: metrics.KindHistogram, Help: "Duration of outgoing Call and CallStream requests, from the caller's side, successful or not."},
	{Name: MetricRPCErrors, Kind: metrics.KindCounter, Help: "Outgoing Call and CallStream requests that returned an error (transport or remote)."},
	{Name: MetricBytesSent, Kind: metrics.KindCounter, Help: "Bytes written to node-to-node connections (raft, RPC and streams; on the wire, TLS included)."},
	{Name: MetricBytesReceived, Kind: metrics.KindCounter, Help: "Bytes read from node-to-node connections (raft, RPC and streams; on the wire, TLS included)."},
	{Name: MetricConnections, Kind: metrics.KindGauge, Help: "Open node-to-node connections, inbound and outbound, of every kind."},
	{Name: MetricRefused, Kind: metrics.KindCounter, Help: "Node-to-node connections refused, inbound or outbound: failed TLS handshake (no or untrusted certificate), unknown preamble, or a peer whose identity was refused."},
}
