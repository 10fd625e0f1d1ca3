package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Status is one node's own view of its raft state, served to any node that asks (the admin API
// lists every node's status).
type Status struct {
	ID            string `json:"id"`
	Addr          string `json:"raft_address"`
	State         string `json:"raft_state"` // Follower, Leader, Candidate, Shutdown
	Term          uint64 `json:"term"`
	LeaderID      string `json:"leader_id"`
	AppliedIndex  uint64 `json:"applied_index"`
	CommitIndex   uint64 `json:"commit_index"`
	LastIndex     uint64 `json:"last_index"`
	LastContactMS int64  `json:"last_contact_ms"` // since the last contact with the leader; 0 on the leader, -1 never
}

const methodStatus = "engine.status"

// LocalStatus returns this node's status.
func (n *Node) LocalStatus() Status {
	leaderID, _ := n.Leader()
	st := Status{
		ID: n.cfg.NodeID, Addr: n.Addr(), State: n.raft.State().String(), Term: n.raft.CurrentTerm(),
		LeaderID: leaderID, AppliedIndex: n.AppliedIndex(), CommitIndex: n.raft.CommitIndex(),
		LastIndex: n.raft.LastIndex(), LastContactMS: -1,
	}
	if n.IsLeader() {
		st.LastContactMS = 0
	} else if lc := n.raft.LastContact(); !lc.IsZero() {
		st.LastContactMS = time.Since(lc).Milliseconds()
	}
	return st
}

func (n *Node) handleStatus(ctx context.Context, _ []byte) ([]byte, error) {
	return json.Marshal(n.LocalStatus())
}

// RemoteStatus asks the node at raft address addr for its status.
func (n *Node) RemoteStatus(ctx context.Context, addr string) (Status, error) {
	if addr == n.Addr() {
		return n.LocalStatus(), nil
	}
	b, err := n.cfg.Transport.Call(ctx, addr, methodStatus, nil)
	if err != nil {
		return Status{}, err
	}
	var st Status
	if err := json.Unmarshal(b, &st); err != nil {
		return Status{}, fmt.Errorf("engine: status from %s: %w", addr, err)
	}
	return st, nil
}

// Server is one member of the raft configuration.
type Server struct {
	ID    string `json:"id"`
	Addr  string `json:"raft_address"`
	Voter bool   `json:"voter"`
}

// Servers returns the current raft configuration, sorted by ID.
func (n *Node) Servers() ([]Server, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("engine: configuration: %w", err)
	}
	var out []Server
	for _, s := range f.Configuration().Servers {
		out = append(out, Server{ID: string(s.ID), Addr: string(s.Address), Voter: s.Suffrage == raft.Voter})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Member is what the reconciler needs to know of a gossip member.
type Member struct {
	ID       string
	RaftAddr string
	Voter    bool // the member asks to be a voter
	Alive    bool
	DeadFor  time.Duration // how long it has been dead or gone; 0 when alive
	// AliveSince is when the member last became alive (zero if unknown). A member removed
	// while gossip still showed it alive is not added back until it becomes alive again after
	// the removal (it restarted, or came back from dead).
	AliveSince time.Time
}

// tombstones remembers the members this node removed while it was the leader, so that the
// reconciler does not add back a removed node that gossip has not yet seen die (or that an
// operator is decommissioning while it still runs). They live in the leader's memory only: a
// new leader does not know them, which is the one case where such a node can come back.
type tombstones struct {
	mu sync.Mutex
	at map[string]time.Time
}

func (t *tombstones) add(id string, when time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.at == nil {
		t.at = map[string]time.Time{}
	}
	t.at[id] = when
}

// blocks reports whether m was removed and has not become alive since.
func (t *tombstones) blocks(m Member) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	at, ok := t.at[m.ID]
	if !ok {
		return false
	}
	if !m.AliveSince.IsZero() && m.AliveSince.After(at) {
		delete(t.at, m.ID)
		return false
	}
	return true
}

// MemberSource lists the gossip members (package gossip, adapted by the caller) and signals
// changes. Changed may be lossy: the reconciler re-reads Members on every signal and on a timer.
type MemberSource interface {
	Members() []Member
	Changed() <-chan struct{}
}

// MemberReviver is a MemberSource that can be told that a member it shows dead is alive in
// raft (it answers raft RPCs, or it is the leader this node hears from), so that it merges the
// member back at once (gossip's Reach) rather than at its next periodic re-join. Gossip and raft
// run on separate ports and detect failures separately; after a partition heals raft notices
// within a heartbeat, and this lets gossip follow.
type MemberReviver interface {
	Revive(id string) error
}

// ReconcileOptions tunes membership reconciliation.
type ReconcileOptions struct {
	// Interval between full reconciliations (default 2s); changes also trigger one.
	Interval time.Duration
	// PromoteMaxLag: a non-voter that asked to vote is promoted once its applied index is within
	// this many entries of the leader's commit index (default 100).
	PromoteMaxLag uint64
	// DeadReapAfter removes a member that has been dead this long; 0 never removes (default).
	DeadReapAfter time.Duration
	// Intents, when set, returns the operator's recorded decisions by member ID (replicated
	// state, so every leader follows the same ones; intent.go): a member recorded as removed
	// is never added back (and is removed again if it is still in raft), a recorded voter
	// decision replaces what the member asks. Nil: members ask for themselves, and a removal
	// is remembered only by the leader that made it.
	Intents func() map[string]MemberIntent
	// Refused, when set with Intents, is called for a member recorded as removed that gossip
	// shows alive (at most every 10 s per member), so that the caller can tell the node it is
	// out: the leader is the one that knows, and the node may never have applied its removal.
	Refused func(ctx context.Context, m Member, removedAt time.Time)
	// VerifyMember, when set, must accept a gossip member before the reconciler adds it to
	// raft (also at a new address) or promotes it: it proves that the process answering at
	// addr is node id of this cluster (the server dials it and checks the certificate, see
	// internal/trust). A member it refuses stays out, counted in
	// nebulaio_raft_members_refused_total and logged once per member and reason. Nil accepts
	// every member gossip shows (tests; gossip then is the only gate).
	VerifyMember func(ctx context.Context, id, addr string) error
}

// RunReconciler keeps the raft configuration in step with gossip while this node leads, until
// ctx ends: alive members unknown to raft are added as non-voters; members that ask to vote are
// promoted once caught up; a member whose raft address changed is re-added under the same ID
// (never twice); dead members stay unless DeadReapAfter is set. It does nothing on followers and
// starts over cleanly on every leadership change.
//
// When src is also a MemberReviver, every node (leader or not) checks every Interval which of
// the raft members that gossip shows dead are alive in raft, and revives them (reviveOnce).
func (n *Node) RunReconciler(ctx context.Context, src MemberSource, opts ReconcileOptions) {
	if opts.Interval <= 0 {
		opts.Interval = 2 * time.Second
	}
	if opts.PromoteMaxLag == 0 {
		opts.PromoteMaxLag = 100
	}
	if r, ok := src.(MemberReviver); ok {
		var wg sync.WaitGroup
		defer wg.Wait()
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.reviveLoop(ctx, src, r, opts.Interval)
		}()
	}
	t := time.NewTicker(opts.Interval)
	defer t.Stop()
	for {
		if n.IsLeader() {
			n.reconcileOnce(ctx, src.Members(), opts)
		}
		select {
		case <-ctx.Done():
			return
		case <-n.done:
			return
		case <-t.C:
		case <-src.Changed():
		case <-n.leaderChanged():
		}
	}
}

func (n *Node) reviveLoop(ctx context.Context, src MemberSource, r MemberReviver, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for n.tick(ctx, t.C) {
		n.reviveOnce(ctx, src.Members(), r)
	}
}

// tick waits for c and reports true, or false once ctx ends or the node closes.
func (n *Node) tick(ctx context.Context, c <-chan time.Time) bool {
	select {
	case <-c:
		return true
	case <-ctx.Done():
	case <-n.done:
	}
	return false
}

// reviveOnce revives every raft member that gossip shows dead but raft shows alive: the leader
// this node has heard from within the no-quorum bound, or a member that answers a status
// request within reviveProbeTimeout.
func (n *Node) reviveOnce(ctx context.Context, members []Member, r MemberReviver) {
	servers, byID, err := n.serversByID()
	if err != nil || len(servers) == 0 {
		return
	}
	leaderID, _ := n.Leader()
	for _, m := range members {
		s, inRaft := byID[m.ID]
		if m.Alive || !inRaft || m.ID == n.cfg.NodeID {
			continue
		}
		why := "it answers raft"
		if m.ID == leaderID && !n.IsLeader() && time.Since(n.raft.LastContact()) < n.noQuorumAfter() {
			why = "it leads raft and this node hears from it"
		} else {
			pctx, cancel := context.WithTimeout(ctx, reviveProbeTimeout)
			_, err := n.RemoteStatus(pctx, s.Addr)
			cancel()
			if err != nil {
				continue
			}
		}
		err := r.Revive(m.ID)
		ev := n.log.Info()
		if err != nil {
			ev = n.log.Warn().Err(err)
		}
		ev.Str("member", m.ID).Str("why", why).Msg("member dead in gossip but alive in raft: revived")
	}
}

// reviveProbeTimeout bounds the status request that tells a member dead in gossip is alive.
const reviveProbeTimeout = time.Second

// serversByID returns the raft configuration, also keyed by server ID.
func (n *Node) serversByID() ([]Server, map[string]Server, error) {
	servers, err := n.Servers()
	if err != nil {
		return nil, nil, err
	}
	byID := make(map[string]Server, len(servers))
	for _, s := range servers {
		byID[s.ID] = s
	}
	return servers, byID, nil
}

func (n *Node) reconcileOnce(ctx context.Context, members []Member, opts ReconcileOptions) {
	members = n.followIntents(ctx, members, opts)
	servers, byID, err := n.serversByID()
	if err != nil {
		return
	}
	voters := 0
	for _, s := range servers {
		if s.Voter {
			voters++
		}
	}
	for _, m := range members {
		if m.ID == n.cfg.NodeID || m.RaftAddr == "" {
			continue
		}
		s, known := byID[m.ID]
		switch {
		case m.Alive && !known:
			if n.removed.blocks(m) || !n.memberProven(ctx, m, opts) {
				continue
			}
			n.reconcileChange(OpAddNonvoter, m.ID, m.RaftAddr, "new member")
		case m.Alive && s.Addr != m.RaftAddr:
			if !n.memberProven(ctx, m, opts) {
				continue
			}
			op := OpAddNonvoter
			if s.Voter {
				op = OpAddVoter
			}
			n.reconcileChange(op, m.ID, m.RaftAddr, "address changed from "+s.Addr)
		case m.Alive && !s.Voter && m.Voter:
			if !n.memberProven(ctx, m, opts) {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			st, err := n.RemoteStatus(cctx, m.RaftAddr)
			cancel()
			commit := n.raft.CommitIndex()
			if err == nil && st.AppliedIndex+opts.PromoteMaxLag >= commit {
				n.reconcileChange(OpAddVoter, m.ID, m.RaftAddr, "caught up, asks to vote")
			}
		case !m.Alive && known && opts.DeadReapAfter > 0 && m.DeadFor >= opts.DeadReapAfter:
			if s.Voter && voters <= 1 {
				continue
			}
			n.reconcileChange(OpRemove, m.ID, "", fmt.Sprintf("dead for %s", m.DeadFor.Round(time.Second)))
		}
	}
}

// memberProven asks opts.VerifyMember about m (bounded by a second); a refusal is counted,
// and logged once per member and reason.
func (n *Node) memberProven(ctx context.Context, m Member, opts ReconcileOptions) bool {
	if opts.VerifyMember == nil {
		return true
	}
	vctx, cancel := context.WithTimeout(ctx, time.Second)
	err := opts.VerifyMember(vctx, m.ID, m.RaftAddr)
	cancel()
	if err == nil {
		n.unproven.forget(m.ID)
		return true
	}
	if n.cfg.Metrics != nil {
		n.cfg.Metrics.Counter(metricMembersRefused, 1)
	}
	if n.unproven.first(m.ID, err.Error()) {
		n.log.Warn().Err(err).Str("member", m.ID).Str("addr", m.RaftAddr).
			Msg("gossip member not added to raft: it did not prove to be that node of this cluster")
	}
	return false
}

// unprovenLog remembers the last refusal reason logged per member, so that the reconciler
// (every couple of seconds) logs a member that keeps failing once per reason.
type unprovenLog struct {
	mu     sync.Mutex
	reason map[string]string
}

func (u *unprovenLog) first(id, reason string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.reason == nil {
		u.reason = map[string]string{}
	}
	if u.reason[id] == reason {
		return false
	}
	u.reason[id] = reason
	return true
}

func (u *unprovenLog) forget(id string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.reason, id)
}

func (n *Node) reconcileChange(op MembershipOp, id, addr, why string) {
	err := n.applyMembership(membershipReq{Op: op, ID: id, Addr: addr})
	ev := n.log.Info()
	if err != nil {
		ev = n.log.Warn().Err(err)
	}
	ev.Str("op", string(op)).Str("member", id).Str("addr", addr).Str("why", why).Msg("reconcile membership")
}

// ErrLastVoter is returned when a change would leave the cluster without a voter.
var ErrLastVoter = errors.New("engine: refusing to remove or demote the last voter")

// ErrUnknownServer is returned for a membership change naming a server not in the configuration.
var ErrUnknownServer = errors.New("engine: no such server in the raft configuration")

// checkChange refuses changes an operator would regret: removing or demoting the last voter,
// or a server that does not exist. (An add without an address must name an existing server;
// applyMembership checks that when it looks the address up.)
func checkChange(servers []Server, op MembershipOp, id string) error {
	var found *Server
	voters := 0
	for i := range servers {
		if servers[i].Voter {
			voters++
		}
		if servers[i].ID == id {
			found = &servers[i]
		}
	}
	switch op {
	case OpDemote, OpRemove:
		if found == nil {
			return fmt.Errorf("%w: %s", ErrUnknownServer, id)
		}
		if found.Voter && voters <= 1 {
			return ErrLastVoter
		}
	}
	return nil
}

// ServerAddr returns the raft (and RPC) address of server id from the raft configuration.
func (n *Node) ServerAddr(id string) (string, bool) {
	servers, err := n.Servers()
	if err != nil {
		return "", false
	}
	for _, s := range servers {
		if s.ID == id {
			return s.Addr, true
		}
	}
	return "", false
}
