package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// The quorum fence: a node that has gone noQuorumAfter (one election plus one heartbeat
// timeout) without contact with a leader, and is not one, cannot commit anything. Work that
// would only find out at the end — an upload streaming to peers behind a partition, before its
// proposal — runs under WithQuorum and is cancelled then, instead of waiting for transport
// timeouts (issue 22: a PUT on a partitioned node took the transport's 10 s reply timeout to
// fail). Proposals and reads are not fenced: they have their own bound (Propose), and failing
// them at once while fenced only made clients spin through a leader election (the
// linearizability test's histories grew past what porcupine can check in time).
//
// Contact means: this node is the leader (a leader that loses its quorum steps down within
// LeaderLeaseTimeout), raft's LastContact (the last AppendEntries or heartbeat accepted from a
// leader), or — once those are a heartbeat timeout old — an answer from the leader this node
// knows to a status request that says it still leads (leaderAnswers). A node that just started
// counts from its start.

// fenceWatch re-evaluates the fence every fenceTick until the node closes.
func (n *Node) fenceWatch() {
	defer n.wg.Done()
	t := time.NewTicker(n.fenceTick())
	defer t.Stop()
	for {
		n.updateFence(time.Now())
		select {
		case <-t.C:
		case <-n.done:
			return
		}
	}
}

// fenceTick is how often the fence is re-evaluated: a quarter of a heartbeat timeout.
func (n *Node) fenceTick() time.Duration { return max(n.cfg.HeartbeatTimeout/4, 10*time.Millisecond) }

// updateFence records the newest leader contact and closes or reopens the fence.
func (n *Node) updateFence(now time.Time) {
	contact := n.raft.LastContact()
	if n.IsLeader() {
		contact = now
	}
	n.fenceMu.Lock()
	if contact.After(n.lastLeaderContact) {
		n.lastLeaderContact = contact
	}
	stale := now.Sub(n.lastLeaderContact) > n.cfg.HeartbeatTimeout
	n.fenceMu.Unlock()
	if stale && n.leaderAnswers() {
		now = time.Now()
		n.fenceMu.Lock()
		n.lastLeaderContact = now
		n.fenceMu.Unlock()
	}

	n.fenceMu.Lock()
	defer n.fenceMu.Unlock()
	lost := now.Sub(n.lastLeaderContact) > n.noQuorumAfter()
	select {
	case <-n.fenced:
		if !lost {
			n.fenced = make(chan struct{})
		}
	default:
		if lost {
			close(n.fenced)
		}
	}
}

// leaderAnswers asks the leader this node knows, within half a heartbeat timeout, whether it
// still leads. Raft's LastContact moves only when an AppendEntries succeeds, so a node whose log
// is being repaired (restarted, or far behind) has none for a while, yet it reaches the leader
// and what it forwards commits: it must not be fenced.
func (n *Node) leaderAnswers() bool {
	id, addr := n.Leader()
	if addr == "" || id == n.cfg.NodeID {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.HeartbeatTimeout/2)
	defer cancel()
	st, err := n.RemoteStatus(ctx, addr)
	return err == nil && st.State == raft.Leader.String()
}

// fence returns a channel closed once the node has lost contact with the quorum (and never
// reopened: a later contact makes a new one), and how long ago the last contact was.
func (n *Node) fence() (<-chan struct{}, time.Duration) {
	n.fenceMu.Lock()
	defer n.fenceMu.Unlock()
	return n.fenced, time.Since(n.lastLeaderContact)
}

// WithQuorum returns a context that is cancelled — with a cause wrapping ErrNoQuorum, see
// context.Cause — once this node has gone one election plus one heartbeat timeout without
// contact with a leader, or at once if it already has; and when ctx ends. Run work that
// cannot succeed without a quorum under it, so that a node cut off from the others fails it
// within about that bound instead of waiting for unreachable peers.
func (n *Node) WithQuorum(ctx context.Context) (context.Context, context.CancelFunc) {
	fenced, _ := n.fence()
	select {
	case <-fenced:
		// The fence is re-evaluated only every fenceTick: a node elected leader (or reached by
		// one) since the last tick must not refuse work for up to a tick, so look again now.
		n.updateFence(time.Now())
		fenced, _ = n.fence()
	default:
	}
	qctx, cancel := context.WithCancelCause(ctx)
	select {
	case <-fenced:
		cancel(n.noQuorumErr())
	default:
		go func() {
			select {
			case <-fenced:
				cancel(n.noQuorumErr())
			case <-qctx.Done(): // the caller's ctx ended, or it called the CancelFunc
			}
		}()
	}
	return qctx, func() { cancel(context.Canceled) }
}

// noQuorumErr says how long this node has been without a leader's contact.
func (n *Node) noQuorumErr() error {
	_, since := n.fence()
	return fmt.Errorf("%w: no contact with a leader for %s (fenced after %s)", ErrNoQuorum,
		since.Round(time.Millisecond), n.noQuorumAfter())
}
