package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/nebulaio/nebulaio/config"
	"github.com/nebulaio/nebulaio/dataplane"
	"github.com/nebulaio/nebulaio/engine"
	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/gossip"
	"github.com/nebulaio/nebulaio/httpapi"
)

// The operator's decisions about members (remove, re-admit, promote, demote, drain) are
// recorded in replicated state (fsm.MemberChange) before raft or the data plane acts on them,
// so that every node and every later leader follows them (engine/doc.go, "The operator's
// decisions outlive the leader").

// propose replicates ev and returns the FSM's rejection as an error (*fsm.Error).
func (n *Node) propose(ctx context.Context, ev fsm.Event) error {
	e := n.Engine()
	if e == nil {
		return errStarting
	}
	cmd, err := fsm.Encode(ev)
	if err != nil {
		return err
	}
	v, err := e.Propose(ctx, cmd)
	if err != nil {
		return err
	}
	res, ok := v.(*fsm.Result)
	if !ok || res == nil {
		return fmt.Errorf("node: proposal returned %T, not *fsm.Result", v)
	}
	if res.Err != nil {
		return res.Err
	}
	return nil
}

// recordMember proposes one decision about member id, at the time of the call.
func (n *Node) recordMember(ctx context.Context, id string, op fsm.MemberOp) error {
	return n.propose(ctx, &fsm.MemberChange{ID: id, Op: op, At: time.Now().UnixNano()})
}

var errStarting = &httpapi.APIError{Status: http.StatusServiceUnavailable, Code: "starting", Message: "the node is still starting (waiting for cluster.expect_nodes?)"}

// intents adapts the FSM's member records to the reconciler.
func (n *Node) intents() map[string]engine.MemberIntent {
	out := map[string]engine.MemberIntent{}
	for _, m := range n.fsm.Members() {
		in := engine.MemberIntent{Removed: m.Removed()}
		if in.Removed {
			in.RemovedAt = time.Unix(0, m.RemovedAt)
		}
		switch m.Voter {
		case fsm.VoterYes, fsm.VoterNo:
			v := m.Voter == fsm.VoterYes
			in.Voter = &v
		}
		out[m.ID] = in
	}
	return out
}

// --- a removed node learns that it is out ---

const methodRemoved = "node.removed"

// removedNotice is what the leader tells a node it finds alive in gossip although the
// cluster recorded its removal.
type removedNotice struct {
	ID        string    `json:"id"`
	RemovedAt time.Time `json:"removed_at"`
	Leader    string    `json:"leader"`
}

// removal is this node's knowledge of its own removal: the leader's notice (a node stopped
// before its removal never applied it) or its own FSM's record. Guarded by mu.
type removal struct {
	mu     sync.Mutex
	notice *removedNotice
	logged time.Time // the removal time last logged, so that each removal is logged once
}

// tellRemoved is the reconciler's Refused hook (on the leader): it tells member m, over the
// transport, that it was removed.
func (n *Node) tellRemoved(ctx context.Context, m engine.Member, at time.Time) {
	body, _ := json.Marshal(removedNotice{ID: m.ID, RemovedAt: at, Leader: n.cfg.NodeID})
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := n.trans.Call(cctx, m.RaftAddr, methodRemoved, body); err != nil {
		n.log.Debug().Err(err).Str("member", m.ID).Msg("telling a removed member that it is out")
		return
	}
	n.log.Info().Str("member", m.ID).Time("removed_at", at).Msg("a removed member is alive: told it that it stays out until re-admitted")
}

func (n *Node) handleRemoved(_ context.Context, body []byte) ([]byte, error) {
	var rn removedNotice
	if err := json.Unmarshal(body, &rn); err != nil {
		return nil, fmt.Errorf("node: bad removal notice: %w", err)
	}
	if rn.ID != n.cfg.NodeID {
		return nil, fmt.Errorf("node: removal notice for %q reached %q", rn.ID, n.cfg.NodeID)
	}
	n.removal.mu.Lock()
	n.removal.notice = &rn
	n.removal.mu.Unlock()
	n.removedReason() // logs it
	return nil, nil
}

// removedReason says, when this node was removed from the cluster and not re-admitted since,
// when and how to re-admit it ("" otherwise); it logs each removal once. The node's own FSM
// decides when it has the record (applied before it left, or the re-admission since); the
// leader's notice otherwise, until this node hears from a leader again (it is a member then).
func (n *Node) removedReason() string {
	e := n.Engine()
	if e == nil {
		return ""
	}
	var at time.Time
	by := ""
	if m := n.fsm.Member(n.cfg.NodeID); m.Removed() {
		at = time.Unix(0, m.RemovedAt)
	}
	n.removal.mu.Lock()
	defer n.removal.mu.Unlock()
	if rn := n.removal.notice; rn != nil && at.IsZero() {
		if ok, _ := e.Ready(readyMaxLag); ok {
			n.removal.notice = nil // re-admitted: a leader reaches this node again
		} else {
			at, by = rn.RemovedAt, rn.Leader
		}
	}
	if at.IsZero() {
		return ""
	}
	why := fmt.Sprintf("removed from the cluster at %s; it stays out until re-admitted: run `nebulaio cluster readmit %s` (POST /api/v1/admin/cluster/nodes/%s/readmit) against a member, then this node rejoins by itself",
		at.UTC().Format(time.RFC3339), n.cfg.NodeID, n.cfg.NodeID)
	if !n.removal.logged.Equal(at) {
		n.removal.logged = at
		ev := n.log.Warn().Time("removed_at", at)
		if by != "" {
			ev = ev.Str("told_by", by)
		}
		ev.Msg("this node was " + why)
	}
	return why
}

// --- admin API: the membership calls ---

// memberKnown reports whether id is in the raft configuration or alive in gossip.
func (c clusterAdmin) memberKnown(e *engineParts, id string) (engine.Server, bool) {
	for _, s := range e.servers {
		if s.ID == id {
			return s, true
		}
	}
	if m, ok := e.g.Member(id); ok && m.Meta.RaftAddr != "" {
		return engine.Server{ID: id, Addr: m.Meta.RaftAddr}, false
	}
	return engine.Server{}, false
}

// ErrLastCopies is the refusal of a removal that would lose data.
var errLastCopies = errors.New("node: holds the only copy of blobs")

func (c clusterAdmin) remove(ctx context.Context, id string, force bool) error {
	ep, err := c.engineParts()
	if err != nil {
		return err
	}
	s, inRaft := c.memberKnown(ep, id)
	recorded := c.n.fsm.Member(id)
	if !inRaft && !recorded.Removed() {
		return apiError(fmt.Errorf("%w: %s", engine.ErrUnknownServer, id))
	}
	// Refusals raft would make come before the record: a removal that can never be carried
	// out must not leave the node recorded as removed.
	if inRaft && s.Voter && countVoters(ep.servers) <= 1 {
		return apiError(engine.ErrLastVoter)
	}
	if inRaft && !force {
		if err := c.checkLastCopies(ctx, id); err != nil {
			return err
		}
	}
	if err := c.n.recordMember(ctx, id, fsm.MemberRemove); err != nil {
		return apiError(err)
	}
	if lid, _ := ep.e.Leader(); inRaft && lid == id {
		// A leader that removes itself stops its raft (it could not rejoin after a re-admission
		// without a restart): it hands the leadership over first, and the next leader removes it.
		if err := ep.e.TransferLeadership(ctx, ""); err != nil {
			return apiError(err) // recorded: the leader's reconciler hands over and the next one removes it
		}
	}
	if inRaft {
		if err := ep.e.ChangeMembership(ctx, engine.OpRemove, id, ""); err != nil {
			return apiError(err) // recorded: the reconciler of the leader completes it
		}
	}
	ep.g.Forget(id) // a dead member's record goes with it; an alive one is refused by the leader
	return nil
}

func countVoters(servers []engine.Server) int {
	n := 0
	for _, s := range servers {
		if s.Voter {
			n++
		}
	}
	return n
}

// checkLastCopies refuses to remove a storage member that holds the only readable copy of any
// referenced blob (drain it first, or force).
func (c clusterAdmin) checkLastCopies(ctx context.Context, id string) error {
	data := c.n.Data()
	if data == nil {
		return errStarting
	}
	blobs, bytes, examples, err := data.LastCopies(ctx, id, c.n.maintenance())
	if err != nil {
		return apiError(err)
	}
	if blobs == 0 {
		return nil
	}
	return &httpapi.APIError{Status: http.StatusConflict, Code: "last_copies", Message: fmt.Sprintf(
		"%v: %s holds the only readable copy of %d blobs (%d bytes; e.g. %v): drain it first (nebulaio cluster drain %s --wait), or remove it with force=true (nebulaio cluster remove %s --force) to lose them",
		errLastCopies, id, blobs, bytes, examples, id, id)}
}

func (c clusterAdmin) readmit(ctx context.Context, id string) error {
	if _, err := c.engineParts(); err != nil {
		return err
	}
	return apiError(c.n.recordMember(ctx, id, fsm.MemberReadmit))
}

// setVoter records a promote or demote, then changes the suffrage. Refusals that raft would
// make (the last voter, an unknown node) come first, so that nothing is recorded that the
// reconciler could never carry out.
func (c clusterAdmin) setVoter(ctx context.Context, id string, voter bool) error {
	ep, err := c.engineParts()
	if err != nil {
		return err
	}
	s, inRaft := c.memberKnown(ep, id)
	if s.ID == "" {
		return apiError(fmt.Errorf("%w: %s", engine.ErrUnknownServer, id))
	}
	if !voter && !inRaft {
		return apiError(fmt.Errorf("%w: %s is not in the raft configuration", engine.ErrUnknownServer, id))
	}
	if !voter && s.Voter && countVoters(ep.servers) <= 1 {
		return apiError(engine.ErrLastVoter)
	}
	op, change := fsm.MemberVoter, engine.OpAddVoter
	if !voter {
		op, change = fsm.MemberNonvoter, engine.OpDemote
	}
	if err := c.n.recordMember(ctx, id, op); err != nil {
		return apiError(err)
	}
	return apiError(ep.e.ChangeMembership(ctx, change, id, s.Addr))
}

func (c clusterAdmin) Drain(ctx context.Context, id string) (httpapi.DrainView, error) {
	ep, err := c.engineParts()
	if err != nil {
		return httpapi.DrainView{}, err
	}
	if _, inRaft := c.memberKnown(ep, id); !inRaft {
		return httpapi.DrainView{}, apiError(fmt.Errorf("%w: %s", engine.ErrUnknownServer, id))
	}
	if m, ok := ep.g.Member(id); ok && m.Meta.Role == config.RoleManagement {
		return httpapi.DrainView{}, &httpapi.APIError{Status: http.StatusConflict, Code: "no_data",
			Message: id + " is a management node and holds no object data: remove it without a drain"}
	}
	if err := c.n.recordMember(ctx, id, fsm.MemberDrain); err != nil {
		return httpapi.DrainView{}, apiError(err)
	}
	return c.drainView(ctx, id)
}

func (c clusterAdmin) DrainStatus(ctx context.Context, id string) (httpapi.DrainView, error) {
	if _, err := c.engineParts(); err != nil {
		return httpapi.DrainView{}, err
	}
	return c.drainView(ctx, id)
}

func (c clusterAdmin) CancelDrain(ctx context.Context, id string) (httpapi.DrainView, error) {
	if _, err := c.engineParts(); err != nil {
		return httpapi.DrainView{}, err
	}
	if err := c.n.recordMember(ctx, id, fsm.MemberUndrain); err != nil {
		return httpapi.DrainView{}, apiError(err)
	}
	return c.drainView(ctx, id)
}

// drainView is id's recorded drain state after a read barrier (so that a drain just started
// through another node shows), with the leader's progress.
func (c clusterAdmin) drainView(ctx context.Context, id string) (httpapi.DrainView, error) {
	ep, _ := c.engineParts()
	if err := ep.e.Read(ctx, engine.Linearizable); err != nil {
		return httpapi.DrainView{}, apiError(err)
	}
	m := c.n.fsm.Member(id)
	v := httpapi.DrainView{ID: id, State: m.Drain.String()}
	if m.Drain == fsm.DrainNone {
		return v, nil
	}
	since := time.Unix(0, m.DrainAt)
	v.Since = &since
	st, err := c.balanceStats(ctx)
	if err != nil {
		v.ProgressError = err.Error()
		return v, nil
	}
	for _, dp := range st.Drains {
		if dp.Node == id {
			dp := dp
			v.Progress = &dp
		}
	}
	if v.Progress == nil {
		v.ProgressError = "the balancer on the leader has not looked at this drain yet"
	}
	return v, nil
}

// balanceStats are the balancer's progress on the leader.
func (c clusterAdmin) balanceStats(ctx context.Context) (dataplane.BalanceStats, error) {
	data := c.n.Data()
	e := c.n.Engine()
	if data == nil || e == nil {
		return dataplane.BalanceStats{}, errStarting
	}
	if e.IsLeader() {
		return data.BalanceStats(), nil
	}
	id, addr := e.Leader()
	if addr == "" {
		return dataplane.BalanceStats{}, errors.New("no leader: the balancer is not running")
	}
	st, err := data.RemoteBalanceStats(ctx, addr)
	if err != nil {
		return st, fmt.Errorf("leader %s: %w", id, err)
	}
	return st, nil
}

func (c clusterAdmin) TransferLeader(ctx context.Context, id string) (httpapi.LeaderView, error) {
	ep, err := c.engineParts()
	if err != nil {
		return httpapi.LeaderView{}, err
	}
	prev, _ := ep.e.Leader()
	if err := ep.e.TransferLeadership(ctx, id); err != nil {
		return httpapi.LeaderView{}, apiError(err)
	}
	// Wait until a leader other than the previous one is known here (or the named one stays).
	v := httpapi.LeaderView{Previous: prev}
	for {
		lid, addr := ep.e.Leader()
		if addr != "" && (lid != prev || id == prev) {
			v.LeaderID, v.LeaderAddress = lid, addr
			return v, nil
		}
		select {
		case <-ctx.Done():
			return v, apiError(ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// engineParts are the engine, gossip and the raft configuration, read once per call.
type engineParts struct {
	e       *engine.Node
	g       *gossip.Gossip
	servers []engine.Server
}

func (c clusterAdmin) engineParts() (*engineParts, error) {
	e, g, err := c.parts()
	if err != nil {
		return nil, err
	}
	servers, err := e.Servers()
	if err != nil {
		return nil, apiError(err)
	}
	return &engineParts{e: e, g: g, servers: servers}, nil
}

// addRecords adds the operator's recorded decisions to the node views (a removed node that
// left raft and gossip still shows, as removed).
func (c clusterAdmin) addRecords(view func(id string) *httpapi.NodeView) {
	for _, m := range c.n.fsm.Members() {
		v := view(m.ID)
		if m.Removed() {
			at := time.Unix(0, m.RemovedAt)
			v.Removed, v.RemovedAt = true, &at
		}
		switch m.Voter {
		case fsm.VoterYes:
			v.VoterIntent = "voter"
		case fsm.VoterNo:
			v.VoterIntent = "nonvoter"
		}
		if m.Drain != fsm.DrainNone {
			v.Drain = m.Drain.String()
		}
	}
}

// membershipHealth adds the balancer's progress and the warnings to h.
func (c clusterAdmin) membershipHealth(ctx context.Context, h *httpapi.HealthView) {
	if h.Voters > 0 && h.Voters%2 == 0 {
		h.Warnings = append(h.Warnings, fmt.Sprintf("%d voters: an even number tolerates no more failures than %d voters would (quorum %d); add a voter or demote one (nebulaio cluster promote|demote ID)",
			h.Voters, h.Voters-1, h.QuorumSize))
	}
	st, err := c.balanceStats(ctx)
	if err != nil {
		h.RebalanceError = err.Error()
		return
	}
	h.Rebalance = &st
	for _, dp := range st.Drains {
		if dp.Blocked != "" {
			h.Warnings = append(h.Warnings, fmt.Sprintf("drain of %s cannot finish: %s", dp.Node, dp.Blocked))
		}
	}
}
