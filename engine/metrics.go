package engine

import (
	"time"

	"github.com/hashicorp/raft"

	"github.com/nebulaio/nebulaio/internal/metrics"
)

// Metrics receives this package's measurements: the shared seam of internal/metrics (see
// docs/CONVENTIONS.md). A nil Metrics is valid and records nothing.
type Metrics = metrics.Metrics

// MetricDesc documents one metric this package reports (internal/metrics.Desc).
type MetricDesc = metrics.Desc

// MetricDescs lists every metric the engine reports (the data plane's are package dataplane's).
// nebulaio_raft_commit_latency keeps the name DESIGN.md gives it (without the usual _seconds
// suffix); its unit is seconds.
var MetricDescs = []MetricDesc{
	{Name: "nebulaio_raft_state", Kind: metrics.KindGauge, Help: "raft state of this node: 1 follower, 2 leader, 3 candidate, 4 shutdown"},
	{Name: "nebulaio_raft_peers", Kind: metrics.KindGauge, Help: "servers in the raft configuration (voters and non-voters)"},
	{Name: "nebulaio_raft_voters", Kind: metrics.KindGauge, Help: "voters in the raft configuration"},
	{Name: "nebulaio_raft_voters_even", Kind: metrics.KindGauge, Help: "1 while the number of voters is even (an odd number tolerates as many failures with one voter fewer), else 0"},
	{Name: "nebulaio_raft_commit_latency", Kind: metrics.KindHistogram, Help: "seconds from Propose to the applied result, on the proposing node"},
	{Name: "nebulaio_raft_applied_index", Kind: metrics.KindGauge, Help: "index of the newest entry applied to the FSM"},
	{Name: "nebulaio_raft_commit_index", Kind: metrics.KindGauge, Help: "raft commit index known to this node"},
	{Name: "nebulaio_raft_last_index", Kind: metrics.KindGauge, Help: "index of the newest entry in the local log"},
	{Name: "nebulaio_raft_leader_changes_total", Kind: metrics.KindCounter, Help: "leadership changes observed by this node"},
	{Name: "nebulaio_raft_proposals_total", Kind: metrics.KindCounter, Help: "proposals this node handed to raft as leader"},
	{Name: "nebulaio_raft_proposal_entries_total", Kind: metrics.KindCounter, Help: "raft entries those proposals became (fewer when concurrent proposals are coalesced)"},
	{Name: metricMembersRefused, Kind: metrics.KindCounter, Help: "gossip members the reconciler did not add or promote because they failed ReconcileOptions.VerifyMember (they could not prove, over the transport, to be the node gossip names)"},
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
			n.cfg.Metrics.Gauge("nebulaio_raft_voters_even", float64(1-voters%2))
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
