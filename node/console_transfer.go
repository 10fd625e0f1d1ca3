package node

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/nebulaio/nebulaio/engine"
)

// methodConsoleTransfer asks the leader to hand leadership over (the console's "Transfer
// leadership"): a minimal stand-in, separate from the admin API, until the membership work
// (issue 16) brings the engine's own leader transfer; then the console uses that instead.
const methodConsoleTransfer = "console.transfer"

type transferReq struct {
	To string `json:"to,omitempty"` // a voter's ID; "" any up-to-date voter
}

type transferResp struct {
	Leader string `json:"leader"`
}

// transferLeadership hands leadership from this node (the leader) to voter to ("" raft's
// choice: the most up-to-date voter) with hashicorp/raft's LeadershipTransfer, then waits
// until a new leader is known and returns its ID.
func (n *Node) transferLeadership(ctx context.Context, e *engine.Node, to string) (string, error) {
	if !e.IsLeader() {
		return "", engine.ErrNotLeader
	}
	self := e.ID()
	var f raft.Future
	if to == "" {
		f = e.Raft().LeadershipTransfer()
	} else {
		if to == self {
			return self, nil
		}
		servers, err := e.Servers()
		if err != nil {
			return "", err
		}
		var target *engine.Server
		for i := range servers {
			if servers[i].ID == to {
				target = &servers[i]
			}
		}
		switch {
		case target == nil:
			return "", fmt.Errorf("%w: %s", engine.ErrUnknownServer, to)
		case !target.Voter:
			return "", fmt.Errorf("%s is a non-voter: only a voter can lead (promote it first)", to)
		}
		f = e.Raft().LeadershipTransferToServer(raft.ServerID(to), raft.ServerAddress(target.Addr))
	}
	if err := f.Error(); err != nil {
		return "", fmt.Errorf("leadership transfer: %w", err)
	}
	for {
		if id, _ := e.Leader(); id != "" && id != self {
			return id, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("leadership transferred, but no new leader known yet: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// askTransfer has the leader transfer leadership: this node itself when it leads, else the
// leader over the console.transfer RPC (the raft port). It returns the new leader's ID.
func (n *Node) askTransfer(ctx context.Context, e *engine.Node, to string) (string, error) {
	if e.IsLeader() {
		return n.transferLeadership(ctx, e, to)
	}
	leader, addr := e.Leader()
	if addr == "" {
		return "", fmt.Errorf("no leader known: %w", engine.ErrNoQuorum)
	}
	body, _ := json.Marshal(transferReq{To: to})
	reply, err := n.trans.Call(ctx, addr, methodConsoleTransfer, body)
	if err != nil {
		return "", fmt.Errorf("leader %s: %w", leader, err)
	}
	var resp transferResp
	if err := json.Unmarshal(reply, &resp); err != nil {
		return "", fmt.Errorf("leader %s: %w", leader, err)
	}
	return resp.Leader, nil
}

func (n *Node) handleConsoleTransfer(ctx context.Context, body []byte) ([]byte, error) {
	var req transferReq
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	e := n.Engine()
	if e == nil {
		return nil, engine.ErrNotLeader
	}
	id, err := n.transferLeadership(ctx, e, req.To)
	if err != nil {
		return nil, err
	}
	return json.Marshal(transferResp{Leader: id})
}
