package gossip

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/nebulaio/nebulaio/internal/testutil"
)

// TestMain checks, after a successful run, that no goroutine outlives the tests (memberlist's
// last probe may run for up to ProbeInterval × its awareness multiplier after Shutdown, hence
// the polling) and, on a full run, that every metric in MetricDescs was reported by some test.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := testutil.Poll(20*time.Second, func() error { return goleak.Find() }); err != nil {
			fmt.Fprintf(os.Stderr, "goroutine leak: %v\n", err)
			code = 1
		}
	}
	if f := flag.Lookup("test.run"); code == 0 && f != nil && f.Value.String() == "" {
		for _, d := range MetricDescs {
			if _, ok := reported.Load(d.Name); !ok {
				fmt.Fprintf(os.Stderr, "metric %s is declared but no test saw it reported\n", d.Name)
				code = 1
			}
		}
	}
	os.Exit(code)
}

// reported holds every metric name any recMetrics received.
var reported sync.Map

// testLogger is silent unless NEBULAIO_TEST_LOG is set (memberlist goroutines may log after a
// test returns, which testing.T would reject).
func testLogger() zerolog.Logger {
	if os.Getenv("NEBULAIO_TEST_LOG") == "" {
		return zerolog.Nop()
	}
	return zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).With().Timestamp().Logger()
}

// recMetrics records what a Gossip reports and flags names missing from MetricDescs.
type recMetrics struct {
	t        testing.TB
	mu       sync.Mutex
	counters map[string]float64
	gauges   map[string]float64
}

func newRecMetrics(t testing.TB) *recMetrics {
	return &recMetrics{t: t, counters: map[string]float64{}, gauges: map[string]float64{}}
}

func (r *recMetrics) check(name, kind string) {
	reported.Store(name, true)
	for _, d := range MetricDescs {
		if d.Name == name {
			if d.Kind != kind {
				r.t.Errorf("metric %s reported as %s, declared %s", name, kind, d.Kind)
			}
			return
		}
	}
	r.t.Errorf("metric %s is not in MetricDescs", name)
}

func (r *recMetrics) Counter(name string, delta float64) {
	r.check(name, "counter")
	r.mu.Lock()
	r.counters[name] += delta
	r.mu.Unlock()
}

func (r *recMetrics) Gauge(name string, value float64) {
	r.check(name, "gauge")
	r.mu.Lock()
	r.gauges[name] = value
	r.mu.Unlock()
}

func (r *recMetrics) Observe(name string, value float64) { r.check(name, "histogram") }

func (r *recMetrics) counter(name string) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counters[name]
}

func (r *recMetrics) gauge(name string) (float64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.gauges[name]
	return v, ok
}

func (r *recMetrics) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for n := range r.counters {
		out = append(out, n)
	}
	for n := range r.gauges {
		out = append(out, n)
	}
	return out
}

// fastConfig is a Config with short timings (a dead node is declared in about one second).
func fastConfig(id string) Config {
	return Config{
		NodeID:           id,
		BindAddr:         "127.0.0.1:0",
		Meta:             NodeMeta{Role: "hybrid", Voter: true, RaftAddr: "127.0.0.1:19003", Version: "test"},
		Logger:           testLogger(),
		ProbeInterval:    200 * time.Millisecond,
		ProbeTimeout:     100 * time.Millisecond,
		SuspicionMult:    3,
		GossipInterval:   50 * time.Millisecond,
		PushPullInterval: 2 * time.Second,
		TCPTimeout:       2 * time.Second,
		JoinRetryMin:     50 * time.Millisecond,
		JoinRetryMax:     400 * time.Millisecond,
		BroadcastTimeout: 3 * time.Second,
	}
}

// start creates a Gossip and shuts it down at the end of the test.
func start(t *testing.T, cfg Config) *Gossip {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", cfg.NodeID, err)
	}
	t.Cleanup(func() { _ = g.Shutdown() })
	return g
}

// waitFor polls cond until it returns nil or the deadline passes.
// wantMembers checks that g sees exactly the given states (by ID), nothing else.
func wantMembers(g *Gossip, want map[string]State) error {
	got := map[string]State{}
	for _, m := range g.Members() {
		if _, dup := got[m.ID]; dup {
			return fmt.Errorf("%s: duplicate member %s", g.LocalID(), m.ID)
		}
		got[m.ID] = m.State
	}
	if len(got) != len(want) {
		return fmt.Errorf("%s sees %v, want %v", g.LocalID(), got, want)
	}
	for id, s := range want {
		if got[id] != s {
			return fmt.Errorf("%s sees %v, want %v", g.LocalID(), got, want)
		}
	}
	return nil
}

func allAlive(ids ...string) map[string]State {
	m := map[string]State{}
	for _, id := range ids {
		m[id] = StateAlive
	}
	return m
}

// waitEvent reads events until one of type typ about id arrives.
func waitEvent(t *testing.T, g *Gossip, typ EventType, id string, timeout time.Duration) Event {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var seen []string
	for {
		select {
		case ev, ok := <-g.Events():
			if !ok {
				t.Fatalf("%s: events closed while waiting for %s %s", g.LocalID(), typ, id)
			}
			if ev.Type == typ && ev.Member.ID == id {
				return ev
			}
			seen = append(seen, ev.Type.String()+":"+ev.Member.ID)
		case <-timer.C:
			t.Fatalf("%s: no %s event for %s within %v (saw %v)", g.LocalID(), typ, id, timeout, seen)
		}
	}
}

// newAt retries New on a fixed port that another process may have grabbed in between.
func newAt(t *testing.T, cfg Config) *Gossip {
	t.Helper()
	var err error
	for range 20 {
		var g *Gossip
		if g, err = New(cfg); err == nil {
			t.Cleanup(func() { _ = g.Shutdown() })
			return g
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("New(%s) on %s: %v", cfg.NodeID, cfg.BindAddr, err)
	return nil
}

func ids(ms []Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return slices.Sorted(slices.Values(out))
}
