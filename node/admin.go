package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nebulaio/nebulaio/engine"
	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/gossip"
	"github.com/nebulaio/nebulaio/httpapi"
	"github.com/nebulaio/nebulaio/lifecycle"
)

// startAdmin serves the admin listener: probes, /metrics and the admin API. It starts first, so
// that the probes answer (not ready) while the rest starts.
func (n *Node) startAdmin(reg *prometheus.Registry, sink *httpapi.PromSink) error {
	cfg := n.cfg
	ln, err := net.Listen("tcp", cfg.Admin.Address)
	if err != nil {
		return fmt.Errorf("admin.address: %w", err)
	}
	n.adminAddr = ln.Addr()
	if n.adminTLS != nil {
		ln = n.adminTLS.Listener(ln)
	}
	n.admin = httpapi.NewServer(httpapi.NewAdminHandler(httpapi.AdminOptions{
		Registry: reg,
		Ready: func() (bool, string) {
			if why := n.removedReason(); why != "" {
				return false, why
			}
			return n.ready()
		},
		Cluster:    clusterAdmin{n},
		Backup:     backupAdmin{n},
		Lifecycle:  lifecycleStatus{n},
		Token:      n.creds.AdminToken,
		Identities: identityStore{n},
		Keys:       n.keys,
		AuthLimit:  authLimit(cfg),
		Metrics:    sink,
	}), httpapi.Timeouts{Read: cfg.Admin.ReadTimeout.D(), Write: cfg.Admin.WriteTimeout.D(), Idle: cfg.Admin.IdleTimeout.D()})
	go n.serve(n.admin, ln, "admin")
	return nil
}

// clusterAdmin implements the admin API over the engine and gossip.
type clusterAdmin struct {
	n *Node
}

var _ httpapi.Cluster = clusterAdmin{}

func (c clusterAdmin) parts() (*engine.Node, *gossip.Gossip, error) {
	e, g := c.n.parts()
	if e == nil || g == nil {
		return nil, nil, &httpapi.APIError{Status: http.StatusServiceUnavailable, Code: "starting", Message: "the node is still starting (waiting for cluster.expect_nodes?)"}
	}
	return e, g, nil
}

func (c clusterAdmin) Nodes(ctx context.Context) ([]httpapi.NodeView, error) {
	e, g, err := c.parts()
	if err != nil {
		return nil, err
	}
	servers, err := e.Servers()
	if err != nil {
		return nil, apiError(err)
	}
	views := map[string]*httpapi.NodeView{}
	view := func(id string) *httpapi.NodeView {
		if v, ok := views[id]; ok {
			return v
		}
		v := &httpapi.NodeView{ID: id, RaftState: "unknown", GossipStatus: "unknown", LastContactMS: -1}
		views[id] = v
		return v
	}
	for _, s := range servers {
		v := view(s.ID)
		v.InRaft, v.Voter, v.RaftAddress = true, s.Voter, s.Addr
	}
	c.addRecords(view)
	for _, m := range g.Members() {
		v := view(m.ID)
		v.Role, v.WantsVoter, v.GossipAddress, v.GossipStatus = m.Meta.Role, m.Meta.Voter, m.Addr, m.State.String()
		v.S3Address, v.AdminAddress, v.Version = m.Meta.S3Addr, m.Meta.AdminAddr, m.Meta.Version
		if v.RaftAddress == "" {
			v.RaftAddress = m.Meta.RaftAddr
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, v := range views {
		if v.RaftAddress == "" || v.GossipStatus == "dead" || v.GossipStatus == "left" {
			continue
		}
		wg.Add(1)
		go func(v *httpapi.NodeView) {
			defer wg.Done()
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			st, err := e.RemoteStatus(sctx, v.RaftAddress)
			if err != nil {
				return
			}
			mu.Lock()
			v.RaftState, v.AppliedIndex, v.LastContactMS = st.State, st.AppliedIndex, st.LastContactMS
			v.CommitIndex = st.CommitIndex
			mu.Unlock()
		}(v)
	}
	wg.Wait()
	out := make([]httpapi.NodeView, 0, len(views))
	for _, v := range views {
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (c clusterAdmin) Health(ctx context.Context) (httpapi.HealthView, error) {
	nodes, err := c.Nodes(ctx)
	if err != nil {
		return httpapi.HealthView{}, err
	}
	e, _, _ := c.parts()
	h := httpapi.HealthView{ClusterID: c.n.ClusterID()}
	h.LeaderID, h.LeaderAddress = e.Leader()
	for _, v := range nodes {
		if !v.InRaft {
			continue
		}
		if !v.Voter {
			h.Nonvoters++
			continue
		}
		h.Voters++
		if v.RaftState == "Leader" || v.RaftState == "Follower" {
			h.HealthyVoters++
		}
	}
	h.QuorumSize = h.Voters/2 + 1
	h.FailureTolerance = h.HealthyVoters - h.QuorumSize
	h.Healthy = h.LeaderID != "" && h.FailureTolerance >= 0
	c.membershipHealth(ctx, &h)
	data := c.n.Data()
	switch {
	case data == nil:
	case e.IsLeader():
		st := data.Stats()
		h.Repair = &st
	case h.LeaderAddress == "":
		h.RepairError = "no leader: repair is not running"
	default:
		st, err := data.RemoteStats(ctx, h.LeaderAddress)
		if err != nil {
			h.RepairError = fmt.Sprintf("leader %s: %v", h.LeaderID, err)
		} else {
			h.Repair = &st
		}
	}
	return h, nil
}

// Promote, Demote, Remove and Readmit record the operator's decision before raft acts on it
// (membership.go).
func (c clusterAdmin) Promote(ctx context.Context, id string) error { return c.setVoter(ctx, id, true) }
func (c clusterAdmin) Demote(ctx context.Context, id string) error  { return c.setVoter(ctx, id, false) }
func (c clusterAdmin) Remove(ctx context.Context, id string, force bool) error {
	return c.remove(ctx, id, force)
}
func (c clusterAdmin) Readmit(ctx context.Context, id string) error { return c.readmit(ctx, id) }

// JoinToken answers `nebulaio cluster token`: the cluster's join token. It is the cluster
// secret; the admin API serves it only with the bearer token.
func (c clusterAdmin) JoinToken(context.Context) (httpapi.TokenView, error) {
	return httpapi.TokenView{ClusterID: c.n.ClusterID(), Token: c.n.JoinToken().Text()}, nil
}

// apiError maps engine errors to admin API answers.
func apiError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, engine.ErrUnknownServer):
		return &httpapi.APIError{Status: http.StatusNotFound, Code: "unknown_node", Message: err.Error()}
	case errors.Is(err, engine.ErrLastVoter):
		return &httpapi.APIError{Status: http.StatusConflict, Code: "last_voter", Message: err.Error()}
	case errors.Is(err, engine.ErrNotVoter):
		return &httpapi.APIError{Status: http.StatusConflict, Code: "not_voter", Message: err.Error()}
	case errors.Is(err, &fsm.Error{Code: fsm.CodeInvalidMemberState}):
		return &httpapi.APIError{Status: http.StatusConflict, Code: "invalid_member_state", Message: err.Error()}
	case errors.As(err, new(*httpapi.APIError)):
		return err
	case errors.Is(err, engine.ErrNoQuorum), errors.Is(err, engine.ErrLeadershipLost), errors.Is(err, engine.ErrNotLeader), errors.Is(err, engine.ErrClosed):
		return &httpapi.APIError{Status: http.StatusServiceUnavailable, Code: "no_quorum", Message: err.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		return &httpapi.APIError{Status: http.StatusGatewayTimeout, Code: "timeout", Message: err.Error()}
	}
	return &httpapi.APIError{Status: http.StatusBadRequest, Code: "rejected", Message: err.Error()}
}

// lifecycleStatus serves the admin API's lifecycle summary: the admin listener starts before
// the lifecycle runner exists, so it reports no pass until then.
type lifecycleStatus struct{ n *Node }

func (l lifecycleStatus) LastRun() (lifecycle.Summary, bool) {
	l.n.mu.Lock()
	lc := l.n.lifecycle
	l.n.mu.Unlock()
	if lc == nil {
		return lifecycle.Summary{}, false
	}
	return lc.LastRun()
}
