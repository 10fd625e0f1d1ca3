package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// ErrNotVoter is returned by TransferLeadership for a target that is a non-voter: only a
// voter can lead.
var ErrNotVoter = errors.New("engine: leadership can only move to a voter")

// codeNotVoter carries ErrNotVoter across the forwarding RPC.
const codeNotVoter = "not_voter"

// OpTransferLeader is the leadership transfer on the membership RPC (TransferLeadership): it
// changes no configuration, but it is a leader-only operation forwarded the same way.
const OpTransferLeader MembershipOp = "transfer_leader"

// TransferLeadership moves leadership to voter id, or to the most up-to-date other voter when
// id is empty (raft's LeadershipTransferToServer / LeadershipTransfer: the leader brings the
// target's log up to date, tells it to start an election at once, and steps down). It runs on
// the leader, forwarded from any node, and returns once the old leader has stepped down (the
// new one may take an election round-trip to be known everywhere). Naming the current leader
// is a no-op. Errors: ErrUnknownServer, ErrNotVoter, ErrNoQuorum (no leader, or the transfer
// did not complete within raft's bound of one election timeout), ctx's.
func (n *Node) TransferLeadership(ctx context.Context, id string) error {
	return n.ChangeMembership(ctx, OpTransferLeader, id, "")
}

// transferLeader is OpTransferLeader on the leader.
func (n *Node) transferLeader(servers []Server, id string) error {
	var f raft.Future
	switch {
	case id == "":
		if n.otherVoters() == 0 {
			return fmt.Errorf("%w: no other voter to take over", ErrNotVoter)
		}
		f = n.raft.LeadershipTransfer()
	case id == n.cfg.NodeID:
		return nil
	default:
		var target *Server
		for i := range servers {
			if servers[i].ID == id {
				target = &servers[i]
			}
		}
		if target == nil {
			return fmt.Errorf("%w: %s", ErrUnknownServer, id)
		}
		if !target.Voter {
			return fmt.Errorf("%w: %s is a non-voter (promote it first)", ErrNotVoter, id)
		}
		f = n.raft.LeadershipTransferToServer(raft.ServerID(id), raft.ServerAddress(target.Addr))
	}
	// raft bounds a transfer by one election timeout; allow for the round-trips around it.
	ctx, cancel := context.WithTimeout(context.Background(), 2*n.cfg.ElectionTimeout+n.cfg.HeartbeatTimeout)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- f.Error() }()
	select {
	case err := <-errc:
		if err != nil {
			return fmt.Errorf("%w: leadership transfer to %q: %v", ErrNoQuorum, id, err)
		}
		n.log.Info().Str("to", id).Msg("leadership transferred on request")
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: leadership transfer to %q did not finish within %s", ErrNoQuorum, id,
			(2*n.cfg.ElectionTimeout + n.cfg.HeartbeatTimeout).Round(time.Millisecond))
	}
}
