package engine

import (
	"context"
	"sync"
	"time"
)

// MemberIntent is what the operator decided about a member, as the cluster recorded it in
// replicated state (package fsm's member records; the caller adapts them). It outlives any
// leader, so the reconciler of every future leader follows the same decisions.
type MemberIntent struct {
	// Removed: the member was removed and stays out until re-admitted (an operator's call
	// that clears the record).
	Removed   bool
	RemovedAt time.Time
	// Voter is the operator's promote (true) or demote (false); nil leaves the choice to
	// what the member's own configuration asks.
	Voter *bool
}

// refusedEvery spaces out the calls of ReconcileOptions.Refused for one member.
const refusedEvery = 10 * time.Second

// followIntents applies the operator's recorded decisions (opts.Intents) before a
// reconciliation: members recorded as removed are dropped from what gossip shows (so they are
// never added back) and told so through opts.Refused; a recorded voter decision replaces what
// the member asks; and the raft configuration is brought in line where it disagrees — a
// removed member still in raft is removed, a voter recorded as a non-voter is demoted. A
// leader that should not vote itself hands leadership over first (the next leader demotes or
// removes it). Without opts.Intents it returns members unchanged.
func (n *Node) followIntents(ctx context.Context, members []Member, opts ReconcileOptions) []Member {
	if opts.Intents == nil {
		return members
	}
	intents := opts.Intents()
	out := make([]Member, 0, len(members))
	for _, m := range members {
		in, ok := intents[m.ID]
		switch {
		case !ok:
		case in.Removed:
			if m.Alive && opts.Refused != nil && n.refused.due(m.ID, time.Now()) {
				opts.Refused(ctx, m, in.RemovedAt)
			}
			continue
		case in.Voter != nil:
			m.Voter = *in.Voter
		}
		if !in.Removed {
			n.removed.forget(m.ID) // re-admitted: the leader's own memory of the removal goes too
		}
		out = append(out, m)
	}
	servers, _, err := n.serversByID()
	if err != nil {
		return out
	}
	for _, s := range servers {
		in, ok := intents[s.ID]
		if !ok {
			continue
		}
		demote := s.Voter && in.Voter != nil && !*in.Voter
		if !in.Removed && !demote {
			continue
		}
		if s.ID == n.cfg.NodeID {
			n.handOver(ctx, "the operator's recorded decision takes this node's vote")
			continue
		}
		if in.Removed {
			n.reconcileChange(OpRemove, s.ID, "", "removed by the operator (recorded)")
		} else {
			n.reconcileChange(OpDemote, s.ID, "", "demoted by the operator (recorded)")
		}
	}
	return out
}

// handOver transfers leadership to another voter, if there is one (bounded by an election
// timeout's worth of raft's own limit).
func (n *Node) handOver(ctx context.Context, why string) {
	if !n.IsLeader() || n.otherVoters() == 0 {
		return
	}
	err := n.awaitLeaderFuture(ctx, n.raft.LeadershipTransfer(), "leadership transfer")
	ev := n.log.Info()
	if err != nil {
		ev = n.log.Warn().Err(err)
	}
	ev.Str("why", why).Msg("leadership handed over")
}

// refusedLog rate-limits ReconcileOptions.Refused per member.
type refusedLog struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// due reports whether id may be told again now (and records that it is).
func (r *refusedLog) due(id string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil {
		r.last = map[string]time.Time{}
	}
	if t, ok := r.last[id]; ok && now.Sub(t) < refusedEvery {
		return false
	}
	r.last[id] = now
	return true
}

func (t *tombstones) forget(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.at, id)
}
