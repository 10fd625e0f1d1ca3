package gossip

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/nebulaio/nebulaio/internal/testutil"
)

// TestClusterFormation: three nodes join through one seed and see each other with the right
// metadata; a fourth joins through a non-seed; a metadata update reaches everyone.
func TestClusterFormation(t *testing.T) {
	t.Parallel()
	metrics := newRecMetrics(t)
	seedCfg := fastConfig("n1")
	seedCfg.Metrics = metrics
	seedCfg.Meta.S3Addr = "127.0.0.1:19000"
	seed := start(t, seedCfg)

	var nodes = []*Gossip{seed}
	for _, id := range []string{"n2", "n3"} {
		c := fastConfig(id)
		c.Meta.Role, c.Meta.Voter = "storage", false
		c.Meta.AdminAddr = "127.0.0.1:1" + id[1:] + "001"
		c.JoinAddresses = []string{seed.Addr()}
		nodes = append(nodes, start(t, c))
	}
	for _, g := range nodes {
		testutil.WaitFor(t, 10*time.Second, "3 alive", func() error { return wantMembers(g, allAlive("n1", "n2", "n3")) })
	}
	for _, g := range nodes {
		for _, m := range g.Members() {
			want := NodeMeta{ID: m.ID, Role: "storage", RaftAddr: "127.0.0.1:19003", Version: "test",
				AdminAddr: "127.0.0.1:1" + m.ID[1:] + "001"}
			if m.ID == "n1" {
				want = NodeMeta{ID: "n1", Role: "hybrid", Voter: true, RaftAddr: "127.0.0.1:19003",
					S3Addr: "127.0.0.1:19000", Version: "test"}
			}
			if m.Meta != want {
				t.Errorf("%s sees %s meta %+v, want %+v", g.LocalID(), m.ID, m.Meta, want)
			}
			if m.Local != (m.ID == g.LocalID()) {
				t.Errorf("%s sees %s Local=%v", g.LocalID(), m.ID, m.Local)
			}
			if m.Since.IsZero() || m.Addr == "" {
				t.Errorf("%s sees %s with Since %v Addr %q", g.LocalID(), m.ID, m.Since, m.Addr)
			}
		}
	}
	if m, _ := seed.Member("n2"); m.Addr != nodes[1].Addr() {
		t.Errorf("seed has n2 at %s, n2 advertises %s", m.Addr, nodes[1].Addr())
	}
	testutil.WaitFor(t, 5*time.Second, "nodes gauge 3", func() error {
		if v, _ := metrics.gauge(metricNodes); v != 3 {
			return fmt.Errorf("gauge %v", v)
		}
		return nil
	})

	// A fourth node joins through n3, not the seed.
	c4 := fastConfig("n4")
	c4.JoinAddresses = []string{nodes[2].Addr()}
	nodes = append(nodes, start(t, c4))
	for _, g := range nodes {
		testutil.WaitFor(t, 10*time.Second, "4 alive", func() error { return wantMembers(g, allAlive("n1", "n2", "n3", "n4")) })
	}
	waitEvent(t, seed, EventJoin, "n4", 5*time.Second)

	// n2 asks to become a voter: everyone sees it, and the seed gets an update event.
	newMeta := NodeMeta{Role: "hybrid", Voter: true, RaftAddr: "127.0.0.1:29003", Version: "test-2"}
	if err := nodes[1].UpdateMeta(newMeta); err != nil {
		t.Fatalf("UpdateMeta: %v", err)
	}
	newMeta.ID = "n2"
	ev := waitEvent(t, seed, EventUpdate, "n2", 5*time.Second)
	if ev.Member.Meta != newMeta || ev.Member.State != StateAlive {
		t.Fatalf("update event %+v, want meta %+v", ev.Member, newMeta)
	}
	for _, g := range nodes {
		testutil.WaitFor(t, 5*time.Second, "n2's new meta", func() error {
			if m, _ := g.Member("n2"); m.Meta != newMeta {
				return fmt.Errorf("%s sees %+v", g.LocalID(), m.Meta)
			}
			return nil
		})
	}
	if err := nodes[1].UpdateMeta(NodeMeta{ID: "someone-else"}); !errors.Is(err, ErrConfig) {
		t.Fatalf("UpdateMeta with another ID: %v, want ErrConfig", err)
	}
}

// TestFailureDetectionDefaultTiming keeps the default (~5 s) tuning: a node shut down without
// leaving is declared dead by the others within FailureDetectionBound (13 s for 3 members;
// typically 5-6 s) and the alive gauge drops.
func TestFailureDetectionDefaultTiming(t *testing.T) {
	t.Parallel()
	metrics := newRecMetrics(t)
	cfg := func(id string) Config {
		return Config{NodeID: id, BindAddr: "127.0.0.1:0", Logger: testLogger(), Meta: NodeMeta{Role: "hybrid"}}
	}
	c1 := cfg("d1")
	c1.Metrics = metrics
	g1 := start(t, c1)
	c2, c3 := cfg("d2"), cfg("d3")
	c2.JoinAddresses, c3.JoinAddresses = []string{g1.Addr()}, []string{g1.Addr()}
	g2, g3 := start(t, c2), start(t, c3)
	for _, g := range []*Gossip{g1, g2, g3} {
		testutil.WaitFor(t, 15*time.Second, "3 alive", func() error { return wantMembers(g, allAlive("d1", "d2", "d3")) })
	}
	testutil.WaitFor(t, 5*time.Second, "gauge 3", func() error {
		if v, _ := metrics.gauge(metricNodes); v != 3 {
			return fmt.Errorf("gauge %v", v)
		}
		return nil
	})

	killed := time.Now()
	if err := g3.Shutdown(); err != nil {
		t.Fatal(err)
	}
	want := map[string]State{"d1": StateAlive, "d2": StateAlive, "d3": StateDead}
	bound := c1.FailureDetectionBound(3)
	for _, g := range []*Gossip{g1, g2} {
		testutil.WaitFor(t, bound-time.Since(killed), "d3 dead", func() error { return wantMembers(g, want) })
	}
	t.Logf("d3 declared dead by both after %v", time.Since(killed).Round(10*time.Millisecond))
	ev := waitEvent(t, g1, EventFailed, "d3", time.Second)
	if ev.Member.State != StateDead {
		t.Fatalf("failed event with state %s", ev.Member.State)
	}
	if v, _ := metrics.gauge(metricNodes); v != 2 {
		t.Fatalf("%s = %v, want 2", metricNodes, v)
	}
	if v, _ := metrics.gauge(metricNodesDead); v != 1 {
		t.Fatalf("%s = %v, want 1", metricNodesDead, v)
	}
	// The dead node is still listed until forgotten; alive ones cannot be forgotten.
	if g1.Forget("d2") {
		t.Fatal("Forget removed an alive member")
	}
	if !g1.Forget("d3") {
		t.Fatal("Forget did not remove the dead member")
	}
	if err := wantMembers(g1, allAlive("d1", "d2")); err != nil {
		t.Fatal(err)
	}
}

// TestGracefulLeave: a node that leaves is shown as left (not dead) with a leave event.
func TestGracefulLeave(t *testing.T) {
	t.Parallel()
	g1 := start(t, fastConfig("l1"))
	var gs []*Gossip
	for _, id := range []string{"l2", "l3"} {
		c := fastConfig(id)
		c.JoinAddresses = []string{g1.Addr()}
		gs = append(gs, start(t, c))
	}
	for _, g := range append([]*Gossip{g1}, gs...) {
		testutil.WaitFor(t, 10*time.Second, "3 alive", func() error { return wantMembers(g, allAlive("l1", "l2", "l3")) })
	}
	leaver := gs[1]
	if err := leaver.Leave(3 * time.Second); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	if err := leaver.Leave(time.Second); err != nil {
		t.Fatalf("second Leave: %v", err)
	}
	if _, err := leaver.Join([]string{g1.Addr()}); !errors.Is(err, ErrLeft) {
		t.Fatalf("Join after Leave: %v, want ErrLeft", err)
	}
	if err := leaver.UpdateMeta(NodeMeta{}); !errors.Is(err, ErrLeft) {
		t.Fatalf("UpdateMeta after Leave: %v, want ErrLeft", err)
	}
	if m, _ := leaver.Member("l3"); m.State != StateLeft {
		t.Fatalf("leaver sees itself %s, want left", m.State)
	}
	if err := leaver.Shutdown(); err != nil {
		t.Fatal(err)
	}
	want := map[string]State{"l1": StateAlive, "l2": StateAlive, "l3": StateLeft}
	for _, g := range []*Gossip{g1, gs[0]} {
		testutil.WaitFor(t, 5*time.Second, "l3 left", func() error { return wantMembers(g, want) })
		ev := waitEvent(t, g, EventLeave, "l3", time.Second)
		if ev.Member.State != StateLeft {
			t.Fatalf("leave event state %s", ev.Member.State)
		}
	}
	// Left stays left: it never turns into dead once failure detection notices the silence.
	deadline := time.Now().Add(5 * fastConfig("x").ProbeInterval * time.Duration(fastConfig("x").SuspicionMult))
	for time.Now().Before(deadline) {
		if err := wantMembers(g1, want); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := leaver.Close(); err != nil {
		t.Fatalf("Close after Shutdown: %v", err)
	}
	if _, err := leaver.Join([]string{g1.Addr()}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Join after Shutdown: %v, want ErrClosed", err)
	}
	if _, ok := <-leaver.Events(); ok {
		// drain whatever was buffered; the channel must end closed
		for range leaver.Events() {
		}
	}
}

// TestRestartSameID: a node killed and restarted with the same ID, on the same or a new port,
// before or after the others declared it dead, is alive again and listed once.
func TestRestartSameID(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		samePort bool
		waitDead bool
		newMeta  string
	}{
		{"same port after dead", true, true, "v2"},
		{"same port at once", true, false, "v2"},
		{"new port after dead", false, true, "v2"},
		{"new port at once", false, false, "v2"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := fmt.Sprintf("r%d", i)
			// No periodic push-pull within the test: recovery must come from refutation and
			// the conflict re-join, not from anti-entropy.
			cfg := func(id string) Config {
				c := fastConfig(id)
				c.PushPullInterval = time.Hour
				return c
			}
			seed := start(t, cfg(p+"-1"))
			c2 := cfg(p + "-2")
			c2.JoinAddresses = []string{seed.Addr()}
			other := start(t, c2)
			c3 := cfg(p + "-3")
			c3.JoinAddresses = []string{seed.Addr()}
			victim := start(t, c3)
			all := allAlive(p+"-1", p+"-2", p+"-3")
			for _, g := range []*Gossip{seed, other, victim} {
				testutil.WaitFor(t, 10*time.Second, "3 alive", func() error { return wantMembers(g, all) })
			}
			oldAddr := victim.Addr()
			if err := victim.Shutdown(); err != nil {
				t.Fatal(err)
			}
			if tc.waitDead {
				dead := map[string]State{p + "-1": StateAlive, p + "-2": StateAlive, p + "-3": StateDead}
				for _, g := range []*Gossip{seed, other} {
					testutil.WaitFor(t, 10*time.Second, "victim dead", func() error { return wantMembers(g, dead) })
				}
			}
			c3.Meta.Version = tc.newMeta
			if tc.samePort {
				c3.BindAddr = oldAddr
				victim = newAt(t, c3)
			} else {
				victim = start(t, c3)
				if victim.Addr() == oldAddr {
					t.Fatalf("new port expected, got the old address %s", oldAddr)
				}
			}
			for _, g := range []*Gossip{seed, other, victim} {
				testutil.WaitFor(t, 20*time.Second, "victim alive again", func() error {
					if err := wantMembers(g, all); err != nil {
						return err
					}
					m, _ := g.Member(p + "-3")
					if m.Addr != victim.Addr() || m.Meta.Version != tc.newMeta {
						return fmt.Errorf("%s sees victim at %s with %+v, want %s", g.LocalID(), m.Addr, m.Meta, victim.Addr())
					}
					return nil
				})
			}
		})
	}
}

// TestEncryption: nodes sharing a key form a cluster; a node with another key, or none, cannot join.
func TestEncryption(t *testing.T) {
	t.Parallel()
	key, err := DecodeKey("c2VjcmV0LWtleS0xNi1ieQ==") // "secret-key-16-by"
	if err != nil {
		t.Fatal(err)
	}
	c1 := fastConfig("e1")
	c1.SecretKey = key
	g1 := start(t, c1)
	c2 := fastConfig("e2")
	c2.SecretKey = bytes.Clone(key)
	c2.JoinAddresses = []string{g1.Addr()}
	g2 := start(t, c2)
	for _, g := range []*Gossip{g1, g2} {
		testutil.WaitFor(t, 10*time.Second, "2 alive", func() error { return wantMembers(g, allAlive("e1", "e2")) })
	}
	for _, tc := range []struct {
		name string
		key  []byte
	}{
		{"other key", bytes.Repeat([]byte{7}, 16)},
		{"no key", nil},
	} {
		c := fastConfig("intruder")
		c.SecretKey = tc.key
		g := start(t, c)
		if _, err := g.Join([]string{g1.Addr()}); !errors.Is(err, ErrJoin) {
			t.Fatalf("%s: Join: %v, want ErrJoin", tc.name, err)
		}
		if err := wantMembers(g, allAlive("intruder")); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		_ = g.Shutdown()
	}
	for _, g := range []*Gossip{g1, g2} {
		if err := wantMembers(g, allAlive("e1", "e2")); err != nil {
			t.Fatal(err)
		}
	}
}

// TestJoinRetry: a node whose seed is not up yet keeps retrying and joins once it is.
func TestJoinRetry(t *testing.T) {
	t.Parallel()
	seedAddr := testutil.FreeAddr(t, true)
	metrics := newRecMetrics(t)
	c := fastConfig("j2")
	c.JoinAddresses = []string{seedAddr}
	c.Metrics = metrics
	joiner := start(t, c)
	testutil.WaitFor(t, 5*time.Second, "three failed join attempts", func() error {
		if n := metrics.counter(metricJoinFailures); n < 3 {
			return fmt.Errorf("%v failures", n)
		}
		return nil
	})
	sc := fastConfig("j1")
	sc.BindAddr = seedAddr
	seed := newAt(t, sc)
	for _, g := range []*Gossip{seed, joiner} {
		testutil.WaitFor(t, 10*time.Second, "joined", func() error { return wantMembers(g, allAlive("j1", "j2")) })
	}
	attempts := metrics.counter(metricJoinAttempts)
	if attempts != metrics.counter(metricJoinFailures)+1 {
		t.Fatalf("attempts %v, failures %v: want exactly one success", attempts, metrics.counter(metricJoinFailures))
	}
}

// TestJoinStopsOnShutdown: a joiner with an unreachable seed shuts down promptly (no leak).
func TestJoinStopsOnShutdown(t *testing.T) {
	t.Parallel()
	metrics := newRecMetrics(t)
	c := fastConfig("lonely")
	c.JoinAddresses = []string{testutil.FreeAddr(t, true)}
	c.JoinRetryMin, c.JoinRetryMax = time.Hour, time.Hour
	c.Metrics = metrics
	g := start(t, c)
	testutil.WaitFor(t, 5*time.Second, "first join attempt failed", func() error {
		if metrics.counter(metricJoinFailures) < 1 {
			return errors.New("no failure yet")
		}
		return nil
	})
	done := make(chan error, 1)
	go func() { done <- g.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked by the join loop")
	}
	if m, _ := g.Member("lonely"); m.State != StateLeft {
		t.Fatalf("after Close the node sees itself %s, want left", m.State)
	}
}

// TestEventsLossyButResyncable: with a full channel events are dropped and counted, the next
// delivered event says so, and Members still has the whole truth.
func TestEventsLossyButResyncable(t *testing.T) {
	t.Parallel()
	metrics := newRecMetrics(t)
	c := fastConfig("v1")
	c.EventBuffer = 1
	c.Metrics = metrics
	g := start(t, c) // its own join event fills the buffer
	var peers []*Gossip
	for _, id := range []string{"v2", "v3", "v4"} {
		pc := fastConfig(id)
		pc.JoinAddresses = []string{g.Addr()}
		peers = append(peers, start(t, pc))
	}
	testutil.WaitFor(t, 10*time.Second, "4 alive", func() error { return wantMembers(g, allAlive("v1", "v2", "v3", "v4")) })
	if d := metrics.counter(metricEventsDropped); d < 3 {
		t.Fatalf("dropped %v events, want at least 3", d)
	}
	first := <-g.Events()
	if first.Type != EventJoin || first.Member.ID != "v1" || first.Dropped != 0 {
		t.Fatalf("first event %+v", first)
	}
	if err := peers[0].UpdateMeta(NodeMeta{Role: "storage"}); err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(t, g, EventUpdate, "v2", 5*time.Second)
	if ev.Dropped < 3 {
		t.Fatalf("event after drops reports Dropped=%d", ev.Dropped)
	}
	if got := metrics.counter(metricEvents); got < 5 {
		t.Fatalf("%s = %v", metricEvents, got)
	}
}

// TestUndecodableRemoteMeta: a member whose metadata is not ours is listed with its ID only,
// and the decode error is counted, not fatal.
func TestUndecodableRemoteMeta(t *testing.T) {
	t.Parallel()
	metrics := newRecMetrics(t)
	c := fastConfig("u1")
	c.Metrics = metrics
	g := start(t, c)

	mc := memberlist.DefaultLANConfig()
	mc.Name = "foreign"
	mc.BindAddr, mc.BindPort, mc.AdvertisePort = "127.0.0.1", 0, 0
	mc.Delegate = rawMeta([]byte("not nebulaio metadata"))
	mc.LogOutput = bytes.NewBuffer(nil)
	ml, err := memberlist.Create(mc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ml.Shutdown() })
	if _, err := ml.Join([]string{g.Addr()}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "foreign member", func() error { return wantMembers(g, allAlive("u1", "foreign")) })
	if m, _ := g.Member("foreign"); m.Meta != (NodeMeta{ID: "foreign"}) {
		t.Fatalf("foreign meta %+v", m.Meta)
	}
	if metrics.counter(metricMetaErrors) < 1 {
		t.Fatal("decode error not counted")
	}
}

type rawMeta []byte

func (r rawMeta) NodeMeta(int) []byte           { return r }
func (rawMeta) NotifyMsg([]byte)                {}
func (rawMeta) GetBroadcasts(int, int) [][]byte { return nil }
func (rawMeta) LocalState(bool) []byte          { return nil }
func (rawMeta) MergeRemoteState([]byte, bool)   {}

// TestMetricDescs checks the table itself; TestMain checks that a full run reports every entry.
func TestMetricDescs(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	kinds := map[string]bool{"counter": true, "gauge": true, "histogram": true}
	for _, d := range MetricDescs {
		if seen[d.Name] {
			t.Errorf("duplicate metric %s", d.Name)
		}
		seen[d.Name] = true
		if !kinds[d.Kind] || d.Help == "" {
			t.Errorf("bad desc %+v", d)
		}
		switch d.Kind {
		case "counter":
			if !bytes.HasSuffix([]byte(d.Name), []byte("_total")) {
				t.Errorf("counter %s does not end in _total", d.Name)
			}
		default:
			if bytes.HasSuffix([]byte(d.Name), []byte("_total")) {
				t.Errorf("%s %s ends in _total", d.Kind, d.Name)
			}
		}
		if !bytes.HasPrefix([]byte(d.Name), []byte("nebulaio_gossip_")) {
			t.Errorf("%s lacks the nebulaio_gossip_ prefix", d.Name)
		}
	}
}
