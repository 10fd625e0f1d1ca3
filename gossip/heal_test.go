package gossip

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nebulaio/nebulaio/internal/testutil"
)

// healCluster starts n members sharing one Faults, all joined through the first, with the
// given re-join interval, and waits until every member sees all of them alive.
func healCluster(t *testing.T, f *Faults, rejoin time.Duration, metrics *recMetrics, ids ...string) []*Gossip {
	t.Helper()
	var nodes []*Gossip
	for i, id := range ids {
		c := fastConfig(id)
		c.Faults, c.RejoinInterval = f, rejoin
		if metrics != nil {
			c.Metrics = metrics
		}
		if i > 0 {
			c.JoinAddresses = []string{nodes[0].Addr()}
		}
		nodes = append(nodes, start(t, c))
	}
	for _, g := range nodes {
		testutil.WaitFor(t, 10*time.Second, "all alive", func() error { return wantMembers(g, allAlive(ids...)) })
	}
	return nodes
}

// TestPartitionHeals is issue 22's first bug: after a partition long enough for each side to
// declare the other dead, memberlist alone never merges the sides again — the dead are neither
// probed nor pushed to, and each side's refutation never reaches the other — so a healed node
// stayed dead to the others (and they to it) until restarted. The periodic re-join of dead
// members heals it within about RejoinInterval.
func TestPartitionHeals(t *testing.T) {
	t.Parallel()
	const rejoin = 500 * time.Millisecond
	f := &Faults{}
	metrics := newRecMetrics(t)
	nodes := healCluster(t, f, rejoin, metrics, "h1", "h2", "h3")
	h1, h2, h3 := nodes[0], nodes[1], nodes[2]

	f.Partition(h3.Addr())
	cut := map[string]State{"h1": StateAlive, "h2": StateAlive, "h3": StateDead}
	testutil.WaitFor(t, 10*time.Second, "h3 dead to h1", func() error { return wantMembers(h1, cut) })
	testutil.WaitFor(t, 10*time.Second, "h3 dead to h2", func() error { return wantMembers(h2, cut) })
	testutil.WaitFor(t, 10*time.Second, "h1, h2 dead to h3", func() error {
		return wantMembers(h3, map[string]State{"h1": StateDead, "h2": StateDead, "h3": StateAlive})
	})
	// Stay cut well past the dead declarations, so that nothing of them is still being
	// gossiped when the network heals (the 17 s against memberlist's ~5 s).
	time.Sleep(3 * time.Second)

	f.Heal()
	healed := time.Now()
	for _, g := range nodes {
		testutil.WaitFor(t, 10*rejoin+5*time.Second, "all alive after the heal", func() error { return wantMembers(g, allAlive("h1", "h2", "h3")) })
	}
	t.Logf("healed %s after the partition ended (re-join interval %s)", time.Since(healed).Round(10*time.Millisecond), rejoin)
	// The heal loop counts a re-join after its push-pull returns, and the members may turn
	// alive during that exchange, so the count can trail the states by a moment.
	testutil.WaitFor(t, 5*time.Second, metricRejoins+" counted", func() error {
		if metrics.counter(metricRejoins) == 0 {
			return errors.New("not counted")
		}
		return nil
	})
}

// TestJoinAddressesMergeSeparateGroups: members that formed a group without the seed their
// join addresses name (it was not up yet) merge with it once it comes up, through the periodic
// re-join of join addresses that no alive member has.
func TestJoinAddressesMergeSeparateGroups(t *testing.T) {
	t.Parallel()
	seedAddr := testutil.FreeAddr(t, true)
	g1 := start(t, fastConfig("g1"))
	c := fastConfig("g2")
	c.JoinAddresses = []string{seedAddr, g1.Addr()}
	c.RejoinInterval = 300 * time.Millisecond
	g2 := start(t, c)
	testutil.WaitFor(t, 10*time.Second, "g1 and g2 together", func() error { return wantMembers(g2, allAlive("g1", "g2")) })

	sc := fastConfig("g0") // a seed: no join addresses of its own
	sc.BindAddr = seedAddr
	seed := newAt(t, sc)
	for _, g := range []*Gossip{seed, g1, g2} {
		testutil.WaitFor(t, 10*time.Second, "one group of three", func() error { return wantMembers(g, allAlive("g0", "g1", "g2")) })
	}
}

// TestJoiningOnlyItselfIsNotJoining is issue 22's second bug: a node whose join addresses
// include its own took the push-pull with itself for a successful join and stopped retrying,
// so with the seed down it never joined anyone. Now it keeps retrying with backoff until it
// reaches another member.
func TestJoiningOnlyItselfIsNotJoining(t *testing.T) {
	t.Parallel()
	self := testutil.FreeAddr(t, true)
	seedAddr := testutil.FreeAddr(t, true)
	metrics := newRecMetrics(t)
	c := fastConfig("j2")
	c.BindAddr = self
	c.JoinAddresses = []string{self, seedAddr}
	c.Metrics = metrics
	c.RejoinInterval = time.Hour // only the join loop may bring the seed in
	newAt(t, c)
	testutil.WaitFor(t, 5*time.Second, "three failed join attempts", func() error {
		if n := metrics.counter(metricJoinFailures); n < 3 {
			return fmt.Errorf("%v failures, %v attempts", n, metrics.counter(metricJoinAttempts))
		}
		return nil
	})
	sc := fastConfig("j1")
	sc.BindAddr = seedAddr
	seed := newAt(t, sc)
	testutil.WaitFor(t, 10*time.Second, "joined the seed", func() error { return wantMembers(seed, allAlive("j1", "j2")) })
}

// TestReachRevivesADeadMember: with the periodic re-join off, Reach — what a caller does when
// it knows a member is up (raft hears from it) while gossip holds it dead — makes the member
// alive again at once, on both sides.
func TestReachRevivesADeadMember(t *testing.T) {
	t.Parallel()
	f := &Faults{}
	nodes := healCluster(t, f, time.Hour, nil, "r1", "r2", "r3")
	r1, r3 := nodes[0], nodes[2]
	f.Partition(r3.Addr())
	for _, g := range nodes[:2] {
		testutil.WaitFor(t, 10*time.Second, "r3 dead", func() error {
			return wantMembers(g, map[string]State{"r1": StateAlive, "r2": StateAlive, "r3": StateDead})
		})
	}
	testutil.WaitFor(t, 10*time.Second, "r1, r2 dead to r3", func() error {
		return wantMembers(r3, map[string]State{"r1": StateDead, "r2": StateDead, "r3": StateAlive})
	})
	time.Sleep(3 * time.Second) // a long partition: see TestPartitionHeals
	f.Heal()
	if err := r1.Reach("r3"); err != nil {
		t.Fatalf("Reach: %v", err)
	}
	for _, g := range nodes {
		testutil.WaitFor(t, 5*time.Second, "all alive after Reach", func() error { return wantMembers(g, allAlive("r1", "r2", "r3")) })
	}
	if err := r1.Reach("nobody"); !errors.Is(err, ErrJoin) {
		t.Fatalf("Reach of an unknown member: %v, want ErrJoin", err)
	}
}
