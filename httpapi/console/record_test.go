package console

import (
	"strings"
	"testing"
	"time"
)

func TestLatencyPercentiles(t *testing.T) {
	now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	l := NewLatency(10*time.Second, 6, func() time.Time { return now })
	// Interval 1: 98 fast commits and 2 slow ones.
	for range 98 {
		l.Observe(2 * time.Millisecond)
	}
	l.Observe(80 * time.Millisecond)
	l.Observe(90 * time.Millisecond)
	now = now.Add(30 * time.Second) // two empty intervals, then one commit
	l.Observe(5 * time.Millisecond)
	pts := l.Points()
	if len(pts) != 6 {
		t.Fatalf("%d points, want 6", len(pts))
	}
	first, last := pts[2], pts[5]
	if first.Count != 100 || last.Count != 1 || pts[3].Count != 0 || pts[4].Count != 0 || pts[0].Count != 0 {
		t.Fatalf("counts %+v", pts)
	}
	within := func(what string, got, want time.Duration) {
		t.Helper()
		if got < want || float64(got) > float64(want)*1.2 {
			t.Fatalf("%s = %v, want %v (at most one bin, +19%%, above)", what, got, want)
		}
	}
	within("p50", first.P50, 2*time.Millisecond)
	within("p99", first.P99, 80*time.Millisecond)
	within("single p99", last.P99, 5*time.Millisecond)
	// An interval is reused once it falls out of the window.
	now = now.Add(60 * time.Second)
	for _, p := range l.Points() {
		if p.Count != 0 {
			t.Fatalf("an interval older than the window is still shown: %+v", p)
		}
	}
	// Extremes land in the first and last bins.
	l.Observe(0)
	l.Observe(time.Hour)
	if p := l.Points()[5]; p.Count != 2 || p.P50 != latencyMin || p.P99 < 100*time.Second {
		t.Fatalf("extremes: %+v", p)
	}
}

func TestEventsDiff(t *testing.T) {
	at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	e := NewEvents(5, func() time.Time { at = at.Add(time.Second); return at })
	m := func(leader string, term uint64, members map[string]MemberState) Membership {
		return Membership{LeaderID: leader, Term: term, Members: members}
	}
	v, nv := MemberState{InRaft: true, Voter: true, Gossip: "alive"}, MemberState{InRaft: true, Gossip: "alive"}
	e.Observe(m("n1", 2, map[string]MemberState{"n1": v, "n2": v}))
	e.Observe(m("n1", 2, map[string]MemberState{"n1": v, "n2": v})) // no change
	e.Observe(m("n1", 2, map[string]MemberState{"n1": v, "n2": v, "n3": nv}))
	e.Observe(m("", 3, map[string]MemberState{"n1": {InRaft: true, Voter: true, Gossip: "dead"}, "n2": v, "n3": v}))
	e.Observe(m("n2", 3, map[string]MemberState{"n2": v, "n3": {InRaft: true, Gossip: "alive"}}))
	var got []string
	for _, ev := range e.Recent() {
		got = append(got, ev.Kind+": "+ev.Text)
	}
	want := []string{ // newest first, at most 5; within one observation: leader, then members by ID
		"membership: n3 demoted to non-voter",
		"gossip: n1 gone from gossip (was dead)",
		"membership: n1 removed from raft",
		"leader: n2 elected leader (term 3)",
		"membership: n3 promoted to voter",
	}
	joined := strings.Join(got, "\n")
	if joined != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s\nwant:\n%s", joined, strings.Join(want, "\n"))
	}
	// The leader loss and n1's death were recorded before them.
	e2 := NewEvents(10, nil)
	e2.Observe(m("n1", 2, map[string]MemberState{"n1": v}))
	e2.Observe(m("", 3, map[string]MemberState{"n1": {InRaft: true, Voter: true, Gossip: "dead"}}))
	if r := e2.Recent(); len(r) != 3 || r[0].Text != "n1 is dead in gossip (was alive)" || r[1].Text != "leader n1 lost; no leader known (term 3)" {
		t.Fatalf("leader loss: %+v", r)
	}
	// Older ones were dropped: the baseline and n3's arrival.
	if strings.Contains(joined, "console started") || strings.Contains(joined, "n3 added") {
		t.Fatalf("the oldest events were kept:\n%s", joined)
	}
}
