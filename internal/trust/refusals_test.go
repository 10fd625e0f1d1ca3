package trust

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/nebulaio/nebulaio/transport"
)

type countMetrics struct {
	mu sync.Mutex
	m  map[string]float64
}

func (c *countMetrics) Counter(n string, d float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]float64{}
	}
	c.m[n] += d
}
func (c *countMetrics) Gauge(string, float64)   {}
func (c *countMetrics) Observe(string, float64) {}
func (c *countMetrics) get(n string) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[n]
}

func TestRefusals(t *testing.T) {
	var logs bytes.Buffer
	m := &countMetrics{}
	ours, theirs := mustID(t), mustID(t)
	r := NewRefusals(ours, zerolog.New(&logs), m)
	now := t0
	r.now = func() time.Time { return now }

	in := Refusal{Layer: LayerGossip, Addr: "10.0.0.5:9004", Theirs: theirs}
	for range 5 {
		r.Record(in)
	}
	if got := m.get(MetricForeignRefused); got != 5 {
		t.Fatalf("%s = %v, want 5", MetricForeignRefused, got)
	}
	if n := strings.Count(logs.String(), "\n"); n != 1 {
		t.Fatalf("%d log lines for one refusal repeated within a minute, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), ours) || !strings.Contains(logs.String(), theirs) {
		t.Fatalf("the log line does not name both clusters: %s", logs.String())
	}
	now = now.Add(time.Minute)
	r.Record(in)
	if n := strings.Count(logs.String(), "\n"); n != 2 {
		t.Fatalf("%d log lines after a minute, want 2", n)
	}
	// Inbound refusals are logged and counted but are not this node's readiness problem.
	if reason := r.Reason(10 * time.Minute); reason != "" {
		t.Fatalf("Reason after inbound refusals only = %q", reason)
	}

	r.Record(Refusal{Layer: LayerTransport, Outbound: true, Addr: "10.0.0.6:9003", NodeID: "node-1", Theirs: theirs})
	reason := r.Reason(10 * time.Minute)
	for _, want := range []string{ours, theirs, "node-1", "10.0.0.6:9003", "cluster.join_addresses"} {
		if !strings.Contains(reason, want) {
			t.Errorf("Reason %q does not mention %q", reason, want)
		}
	}
	now = now.Add(11 * time.Minute)
	if reason := r.Reason(10 * time.Minute); reason != "" {
		t.Fatalf("Reason after the window = %q", reason)
	}

	// Many distinct peers do not grow the record without bound.
	for i := range 1000 {
		r.Record(Refusal{Layer: LayerGossip, Addr: fmt.Sprintf("10.1.%d.%d:9004", i/250, i%250), Theirs: theirs})
	}
	r.mu.Lock()
	n := len(r.recent)
	r.mu.Unlock()
	if n > 65 {
		t.Fatalf("%d refusals kept", n)
	}
}

func TestTransportRefused(t *testing.T) {
	var logs bytes.Buffer
	m := &countMetrics{}
	r := NewRefusals(mustID(t), zerolog.New(&logs), m)
	theirs := mustID(t)
	r.TransportRefused(transport.PeerInfo{Outbound: true, Addr: "10.0.0.1:9003"},
		fmt.Errorf("wrapped: %w", &ForeignError{Theirs: theirs, NodeID: "n"}))
	if m.get(MetricForeignRefused) != 1 || !strings.Contains(r.Reason(time.Minute), theirs) {
		t.Fatalf("a foreign refusal was not recorded: %v, %q", m.get(MetricForeignRefused), r.Reason(time.Minute))
	}
	for range 3 {
		r.TransportRefused(transport.PeerInfo{Addr: "10.0.0.2:51234"}, errors.New("tls: bad certificate"))
	}
	if m.get(MetricForeignRefused) != 1 {
		t.Fatal("an untrusted connection counted as a foreign cluster")
	}
	if n := strings.Count(logs.String(), "does not prove membership"); n != 1 {
		t.Fatalf("untrusted connections from one host logged %d times, want 1", n)
	}
}
