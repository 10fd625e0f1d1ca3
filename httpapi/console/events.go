package console

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// Event is one membership or leadership change as this node saw it.
type Event struct {
	At   time.Time
	Kind string // leader, membership, gossip
	Text string
}

// Membership is what Events compares between two observations: the leader, the term and
// each member's raft suffrage and gossip status.
type Membership struct {
	LeaderID string
	Term     uint64
	Members  map[string]MemberState
}

// MemberState is one member in a Membership observation.
type MemberState struct {
	InRaft bool
	Voter  bool
	Gossip string // alive, suspect, dead, left ("" not in gossip)
}

// Events turns successive Membership observations into a bounded list of changes: who led
// and when that changed, who joined, left, was promoted, demoted or removed, whose gossip
// status changed. The first observation is the baseline and records one line describing it.
// Events are this node's view since it started (they are not replicated), newest first.
// Safe for concurrent use.
type Events struct {
	max int
	now func() time.Time

	mu     sync.Mutex
	last   *Membership
	events []Event // oldest first; at most max
}

// NewEvents keeps the newest max events; now is the clock (nil: time.Now).
func NewEvents(max int, now func() time.Time) *Events {
	if now == nil {
		now = time.Now
	}
	return &Events{max: max, now: now}
}

// Observe compares m with the previous observation and records the differences.
func (e *Events) Observe(m Membership) {
	at := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	prev := e.last
	e.last = &m
	if prev == nil {
		leader := m.LeaderID
		if leader == "" {
			leader = "none"
		}
		e.add(Event{At: at, Kind: "membership", Text: fmt.Sprintf("console started: %d members, leader %s (term %d)", len(m.Members), leader, m.Term)})
		return
	}
	if m.LeaderID != prev.LeaderID {
		switch {
		case m.LeaderID == "":
			e.add(Event{At: at, Kind: "leader", Text: fmt.Sprintf("leader %s lost; no leader known (term %d)", prev.LeaderID, m.Term)})
		case prev.LeaderID == "":
			e.add(Event{At: at, Kind: "leader", Text: fmt.Sprintf("%s elected leader (term %d)", m.LeaderID, m.Term)})
		default:
			e.add(Event{At: at, Kind: "leader", Text: fmt.Sprintf("leadership moved from %s to %s (term %d)", prev.LeaderID, m.LeaderID, m.Term)})
		}
	}
	ids := make([]string, 0, len(m.Members)+len(prev.Members))
	for id := range m.Members {
		ids = append(ids, id)
	}
	for id := range prev.Members {
		if _, ok := m.Members[id]; !ok {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		was, had := prev.Members[id]
		now, has := m.Members[id]
		for _, text := range memberChanges(id, was, had, now, has) {
			kind := "membership"
			if text.gossip {
				kind = "gossip"
			}
			e.add(Event{At: at, Kind: kind, Text: text.s})
		}
	}
}

type change struct {
	s      string
	gossip bool
}

func suffrage(voter bool) string {
	if voter {
		return "voter"
	}
	return "non-voter"
}

func memberChanges(id string, was MemberState, had bool, now MemberState, has bool) []change {
	var out []change
	switch {
	case !was.InRaft && now.InRaft:
		out = append(out, change{s: fmt.Sprintf("%s added to raft as a %s", id, suffrage(now.Voter))})
	case was.InRaft && !now.InRaft:
		out = append(out, change{s: fmt.Sprintf("%s removed from raft", id)})
	case was.InRaft && now.InRaft && !was.Voter && now.Voter:
		out = append(out, change{s: fmt.Sprintf("%s promoted to voter", id)})
	case was.InRaft && now.InRaft && was.Voter && !now.Voter:
		out = append(out, change{s: fmt.Sprintf("%s demoted to non-voter", id)})
	}
	if !had {
		was.Gossip = ""
	}
	if !has {
		now.Gossip = ""
	}
	if was.Gossip != now.Gossip {
		switch {
		case was.Gossip == "":
			out = append(out, change{s: fmt.Sprintf("%s seen in gossip (%s)", id, now.Gossip), gossip: true})
		case now.Gossip == "":
			out = append(out, change{s: fmt.Sprintf("%s gone from gossip (was %s)", id, was.Gossip), gossip: true})
		default:
			out = append(out, change{s: fmt.Sprintf("%s is %s in gossip (was %s)", id, now.Gossip, was.Gossip), gossip: true})
		}
	}
	return out
}

func (e *Events) add(ev Event) {
	e.events = append(e.events, ev)
	if len(e.events) > e.max {
		e.events = append(e.events[:0], e.events[len(e.events)-e.max:]...)
	}
}

// Recent returns the events, newest first.
func (e *Events) Recent() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Event, len(e.events))
	for i, ev := range e.events {
		out[len(out)-1-i] = ev
	}
	return out
}
