package node

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nebulaio/nebulaio/dataplane"
	"github.com/nebulaio/nebulaio/dataplane/blob"
	"github.com/nebulaio/nebulaio/engine"
	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/gossip"
	"github.com/nebulaio/nebulaio/httpapi"
	s3api "github.com/nebulaio/nebulaio/httpapi/s3"
	"github.com/nebulaio/nebulaio/internal/metrics"
	"github.com/nebulaio/nebulaio/internal/trust"
	"github.com/nebulaio/nebulaio/lifecycle"
	"github.com/nebulaio/nebulaio/snapshot"
	"github.com/nebulaio/nebulaio/transport"
	"github.com/nebulaio/nebulaio/wal"
)

// MetricDescs lists every metric a node reports: each library's table, in the order the node
// starts them. A library whose table is missing here reports undeclared names, and the
// Prometheus sink panics on the first one.
func MetricDescs() []metrics.Desc {
	var all []metrics.Desc
	for _, descs := range [][]metrics.Desc{
		wal.MetricDescs, snapshot.MetricDescs, fsm.MetricDescs, transport.MetricDescs, gossip.MetricDescs,
		engine.MetricDescs, dataplane.MetricDescs, blob.MetricDescs, lifecycle.MetricDescs, s3api.MetricDescs, trust.MetricDescs,
		httpapi.TLSMetricDescs,
		httpapi.AdminMetricDescs,
	} {
		all = append(all, descs...)
	}
	return all
}

// newMetricsSink returns a Prometheus registry (with the Go runtime and process collectors)
// and the one sink every library of the node reports through, with MetricDescs declared.
func newMetricsSink() (*httpapi.PromSink, *prometheus.Registry, error) {
	reg := httpapi.NewRegistry()
	sink := httpapi.NewPromSink(reg)
	if err := sink.Declare(MetricDescs()...); err != nil {
		return nil, nil, err
	}
	return sink, reg, nil
}
