package httpapi

import (
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/nebulaio/nebulaio/internal/metrics"
)

// NewRegistry returns a Prometheus registry with the Go runtime and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// PromSink adapts the libraries' metrics seam (internal/metrics: Counter, Gauge, Observe) to
// Prometheus. Every name must have been declared with Declare; an undeclared name is a
// programming error and panics, so a test that exercises the code finds it.
type PromSink struct {
	reg        prometheus.Registerer
	mu         sync.RWMutex
	counters   map[string]prometheus.Counter
	gauges     map[string]prometheus.Gauge
	histograms map[string]prometheus.Histogram
}

var _ metrics.Metrics = (*PromSink)(nil)

// NewPromSink returns a sink that registers the metrics it declares on reg.
func NewPromSink(reg prometheus.Registerer) *PromSink {
	return &PromSink{
		reg:        reg,
		counters:   map[string]prometheus.Counter{},
		gauges:     map[string]prometheus.Gauge{},
		histograms: map[string]prometheus.Histogram{},
	}
}

// Declare registers the described metrics. Declaring a name twice with the same kind is a no-op.
func (s *PromSink) Declare(descs ...metrics.Desc) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range descs {
		if _, ok := s.counters[d.Name]; ok {
			continue
		}
		if _, ok := s.gauges[d.Name]; ok {
			continue
		}
		if _, ok := s.histograms[d.Name]; ok {
			continue
		}
		var c prometheus.Collector
		switch d.Kind {
		case metrics.KindCounter:
			m := prometheus.NewCounter(prometheus.CounterOpts{Name: d.Name, Help: d.Help})
			s.counters[d.Name], c = m, m
		case metrics.KindGauge:
			m := prometheus.NewGauge(prometheus.GaugeOpts{Name: d.Name, Help: d.Help})
			s.gauges[d.Name], c = m, m
		case metrics.KindHistogram:
			m := prometheus.NewHistogram(prometheus.HistogramOpts{Name: d.Name, Help: d.Help,
				Buckets: prometheus.ExponentialBuckets(50e-6, 2, 18)}) // 50µs .. ~6.5s
			s.histograms[d.Name], c = m, m
		default:
			return fmt.Errorf("httpapi: metric %s has unknown kind %q", d.Name, d.Kind)
		}
		if err := s.reg.Register(c); err != nil {
			return fmt.Errorf("httpapi: register %s: %w", d.Name, err)
		}
	}
	return nil
}

// Counter adds delta to the counter name.
func (s *PromSink) Counter(name string, delta float64) {
	s.mu.RLock()
	m, ok := s.counters[name]
	s.mu.RUnlock()
	if !ok {
		panic("httpapi: undeclared counter " + name)
	}
	m.Add(delta)
}

// Gauge sets the gauge name.
func (s *PromSink) Gauge(name string, value float64) {
	s.mu.RLock()
	m, ok := s.gauges[name]
	s.mu.RUnlock()
	if !ok {
		panic("httpapi: undeclared gauge " + name)
	}
	m.Set(value)
}

// Observe records a sample in the histogram name.
func (s *PromSink) Observe(name string, value float64) {
	s.mu.RLock()
	m, ok := s.histograms[name]
	s.mu.RUnlock()
	if !ok {
		panic("httpapi: undeclared histogram " + name)
	}
	m.Observe(value)
}
