package engine

import (
	"time"

	"github.com/hashicorp/raft"
)

// Metrics receives the engine's measurements (see docs/CONVENTIONS.md). A nil Metrics is valid.
type Metrics interface {
	Counter(name string, delta float64)
	Gauge(name string, value float64)
	Observe(name string, value float64)
}

// MetricDesc documents one metric this package reports.
type MetricDesc struct {
	Name string
	Kind string
	Help string
}

// MetricDescs lists every metric the engine reports (the data plane's are package dataplane's).
// nebulaio_raft_commit_latency keeps the name DESIGN.md gives it (without the usual _seconds
// suffix); its unit is seconds.
var MetricDescs = []MetricDesc{
	{"nebulaio_raft_state", "gauge", "raft state of this node: 1 follower, 2 leader, 3 candidate, 4 shutdown"},
	{"nebulaio_raft_peers", "gauge", "servers in the raft configuration (voters and non-voters)"},
	{"nebulaio_raft_voters", "gauge", "voters in the raft configuration"},
	{"nebulaio_raft_commit_latency", "histogram", "seconds from Propose to the applied result, on the proposing node"},
	{"nebulaio_raft_applied_index", "gauge", "index of the newest entry applied to the FSM"},
	{"nebulaio_raft_commit_index", "gauge", "raft commit index known to this node"},
	{"nebulaio_raft_last_index", "gauge", "index of the newest entry in the local log"},
	{"nebulaio_raft_leader_changes_total", "counter", "leadership changes observed by this node"},
	{"nebulaio_raft_proposals_total", "counter", "proposals this node handed to raft as leader"},
	{"nebulaio_raft_proposal_entries_total", "counter", "raft entries those proposals became (fewer when concurrent proposals are coalesced)"},
	{metricMembersRefused, "counter", "gossip members the reconciler did not add or promote because they failed ReconcileOptions.VerifyMember (they could not prove, over the transport, to be the node gossip names)"},
}

const metricMembersRefused = "nebulaio_raft_members_refused_total"

// raftStateValue maps raft states to the documented gauge values.
func raftStateValue(s raft.RaftState) float64 {
	switch s {
	case raft.Follower:
		return 1
	case raft.Leader:
		return 2
	case raft.Candidate:
		return 3
	}
	return 4
}

func (n *Node) reportMetrics() {
	defer n.wg.Done()
	if n.cfg.Metrics == nil {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		n.cfg.Metrics.Gauge("nebulaio_raft_state", raftStateValue(n.raft.State()))
		if f := n.raft.GetConfiguration(); f.Error() == nil {
			servers := f.Configuration().Servers
			voters := 0
			for _, s := range servers {
				if s.Suffrage == raft.Voter {
					voters++
				}
			}
			n.cfg.Metrics.Gauge("nebulaio_raft_peers", float64(len(servers)))
			n.cfg.Metrics.Gauge("nebulaio_raft_voters", float64(voters))
		}
		n.cfg.Metrics.Gauge("nebulaio_raft_applied_index", float64(n.AppliedIndex()))
		n.cfg.Metrics.Gauge("nebulaio_raft_commit_index", float64(n.raft.CommitIndex()))
		n.cfg.Metrics.Gauge("nebulaio_raft_last_index", float64(n.raft.LastIndex()))
		select {
		case <-t.C:
		case <-n.done:
			return
		}
	}
}

func (n *Node) count(name string, d float64) {
	if n.cfg.Metrics != nil {
		n.cfg.Metrics.Counter(name, d)
	}
}

func (n *Node) observe(name string, v float64) {
	if n.cfg.Metrics != nil {
		n.cfg.Metrics.Observe(name, v)
	}
}
