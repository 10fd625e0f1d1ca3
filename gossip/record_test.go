package gossip

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/memberlist"
)

// bareGossip is a Gossip without memberlist, to drive its callbacks directly.
func bareGossip(t testing.TB, buffer int) (*Gossip, *recMetrics) {
	m := newRecMetrics(t)
	return &Gossip{
		cfg:       Config{NodeID: "local"},
		log:       testLogger(),
		metrics:   m,
		members:   map[string]*Member{},
		instances: map[string]uint64{},
		intents:   map[string]uint64{},
		events:    make(chan Event, buffer),
		eventsOK:  true,
	}, m
}

// TestRecordStateMachine drives the member record with callback sequences, in the orders
// memberlist and the network can produce them, and checks the final state and the events.
func TestRecordStateMachine(t *testing.T) {
	node := func(inst uint64, version string) *memberlist.Node {
		meta, err := encodeMeta(NodeMeta{ID: "x", Role: "hybrid", Version: version}, inst)
		if err != nil {
			t.Fatal(err)
		}
		return &memberlist.Node{Name: "x", Addr: []byte{127, 0, 0, 1}, Port: 9004, Meta: meta}
	}
	type step func(g *Gossip)
	join := func(inst uint64, v string) step { return func(g *Gossip) { g.nodeAlive(node(inst, v), true) } }
	update := func(inst uint64, v string) step { return func(g *Gossip) { g.nodeAlive(node(inst, v), false) } }
	gone := func(inst uint64) step { return func(g *Gossip) { g.nodeGone(node(inst, "v")) } }
	intent := func(inst uint64) step { return func(g *Gossip) { g.intentReceived("x", inst) } }
	cases := []struct {
		name   string
		steps  []step
		state  State
		events string // types of the events, in order
	}{
		{"join", []step{join(1, "v")}, StateAlive, "join"},
		{"meta update", []step{join(1, "v"), update(1, "w")}, StateAlive, "join update"},
		{"same meta is no event", []step{join(1, "v"), update(1, "v")}, StateAlive, "join"},
		{"failure", []step{join(1, "v"), gone(1)}, StateDead, "join failed"},
		{"duplicate gone", []step{join(1, "v"), gone(1), gone(1)}, StateDead, "join failed"},
		{"intent then gone", []step{join(1, "v"), intent(1), gone(1)}, StateLeft, "join leave"},
		{"gone then intent", []step{join(1, "v"), gone(1), intent(1)}, StateLeft, "join failed leave"},
		{"intent of another process", []step{join(1, "v"), intent(2), gone(1)}, StateDead, "join failed"},
		{"restart clears old intent", []step{join(1, "v"), intent(1), gone(1), join(2, "v"), gone(2)},
			StateDead, "join leave join failed"},
		{"dead then back", []step{join(1, "v"), gone(1), join(1, "v")}, StateAlive, "join failed join"},
		{"gone never seen", []step{gone(1)}, StateDead, "failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, _ := bareGossip(t, 16)
			for _, s := range tc.steps {
				s(g)
			}
			m, ok := g.Member("x")
			if !ok || m.State != tc.state {
				t.Fatalf("state %v (present %v), want %v", m.State, ok, tc.state)
			}
			if m.Meta.ID != "x" || m.Addr != "127.0.0.1:9004" || m.Since.IsZero() {
				t.Fatalf("record %+v", m)
			}
			var got []string
			for len(g.events) > 0 {
				got = append(got, (<-g.events).Type.String())
			}
			if strings.Join(got, " ") != tc.events {
				t.Fatalf("events %q, want %q", strings.Join(got, " "), tc.events)
			}
		})
	}
}

func TestIntentPassedOnOnce(t *testing.T) {
	g, _ := bareGossip(t, 16)
	meta, _ := encodeMeta(NodeMeta{ID: "x"}, 5)
	g.nodeAlive(&memberlist.Node{Name: "x", Addr: []byte{127, 0, 0, 1}, Port: 1, Meta: meta}, true)
	for i, want := range []bool{true, false, false} {
		if got := g.intentReceived("x", 5); got != want {
			t.Fatalf("receipt %d: pass on = %v, want %v", i, got, want)
		}
	}
	if g.intentReceived("local", 5) || g.intentReceived("unknown", 5) || g.intentReceived("x", 6) {
		t.Fatal("intent about self, an unknown node or another process passed on")
	}
}

func TestLocalLeaveIsLeft(t *testing.T) {
	g, _ := bareGossip(t, 16)
	meta, _ := encodeMeta(NodeMeta{ID: "local"}, 1)
	n := &memberlist.Node{Name: "local", Addr: []byte{127, 0, 0, 1}, Port: 1, Meta: meta}
	g.nodeAlive(n, true)
	g.leaving = true
	g.nodeGone(n)
	if m, _ := g.Member("local"); m.State != StateLeft || !m.Local {
		t.Fatalf("local record %+v", m)
	}
}

func TestBadMetaRecorded(t *testing.T) {
	g, metrics := bareGossip(t, 16)
	for i, meta := range [][]byte{nil, []byte("junk"), mustMeta(t, NodeMeta{ID: "someone-else"})} {
		name := fmt.Sprintf("n%d", i)
		g.nodeAlive(&memberlist.Node{Name: name, Addr: []byte{127, 0, 0, 1}, Port: 1, Meta: meta}, true)
		if m, _ := g.Member(name); m.Meta != (NodeMeta{ID: name}) || m.State != StateAlive {
			t.Fatalf("%s: record %+v", name, m)
		}
	}
	if got := metrics.counter(metricMetaErrors); got != 3 {
		t.Fatalf("%s = %v, want 3", metricMetaErrors, got)
	}
}

func mustMeta(t *testing.T, m NodeMeta) []byte {
	b, err := encodeMeta(m, 1)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
