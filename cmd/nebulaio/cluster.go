package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/nebulaio/nebulaio/engine"
	"github.com/nebulaio/nebulaio/gossip"
	"github.com/nebulaio/nebulaio/httpapi"
	s3api "github.com/nebulaio/nebulaio/httpapi/s3"
)

// gossipSource adapts gossip membership to the engine's reconciler.
type gossipSource struct {
	g       *gossip.Gossip
	changed chan struct{}
}

// newGossipSource adapts g for the reconciler; onEvent (if not nil) runs after every gossip
// event.
func newGossipSource(ctx context.Context, g *gossip.Gossip, onEvent func()) *gossipSource {
	s := &gossipSource{g: g, changed: make(chan struct{}, 1)}
	go func() {
		for {
			select {
			case _, ok := <-g.Events():
				if !ok {
					return
				}
				if onEvent != nil {
					onEvent()
				}
				select {
				case s.changed <- struct{}{}:
				default: // a signal is already pending; the reconciler re-reads everything
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return s
}

func (s *gossipSource) Changed() <-chan struct{} { return s.changed }

// Revive merges back at once a member gossip holds dead that raft shows alive.
func (s *gossipSource) Revive(id string) error { return s.g.Reach(id) }

var _ engine.MemberReviver = (*gossipSource)(nil)

func (s *gossipSource) Members() []engine.Member {
	var out []engine.Member
	now := time.Now()
	for _, m := range s.g.Members() {
		em := engine.Member{ID: m.ID, RaftAddr: m.Meta.RaftAddr, Voter: m.Meta.Voter, Alive: m.State == gossip.StateAlive}
		if !em.Alive {
			em.DeadFor = now.Sub(m.Since)
		} else {
			em.AliveSince = m.Since
		}
		out = append(out, em)
	}
	return out
}

// waitForVoters blocks until gossip shows want alive members that ask to vote (expect_nodes),
// then returns them as the voters of the new cluster.
func waitForVoters(ctx context.Context, g *gossip.Gossip, want int, log func(have int)) ([]engine.Server, error) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	lastLog := time.Time{}
	for {
		var servers []engine.Server
		for _, m := range g.Members() {
			if m.State == gossip.StateAlive && m.Meta.Voter && m.Meta.RaftAddr != "" {
				servers = append(servers, engine.Server{ID: m.ID, Addr: m.Meta.RaftAddr, Voter: true})
			}
		}
		if len(servers) >= want {
			sort.Slice(servers, func(i, j int) bool { return servers[i].ID < servers[j].ID })
			return servers[:want], nil
		}
		if time.Since(lastLog) > 5*time.Second {
			log(len(servers))
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for cluster.expect_nodes=%d voters: %w", want, ctx.Err())
		case <-t.C:
		}
	}
}

// quorumBackend runs blob writes under the engine's quorum fence: a node cut off from the
// quorum (no contact with a leader for one election plus one heartbeat timeout) stops streaming
// an upload to peers it cannot reach and answers 503 at once, instead of after the transport's
// timeouts (issue 22: 10 s), since the write's metadata could not commit anyway.
type quorumBackend struct {
	s3api.Backend
	e *engine.Node
}

func (q quorumBackend) PutBlob(ctx context.Context, id string, r io.Reader, size int64, wantMD5 []byte) (int64, []byte, []string, error) {
	qctx, cancel := q.e.WithQuorum(ctx)
	defer cancel()
	n, sum, nodes, err := q.Backend.PutBlob(qctx, id, r, size, wantMD5)
	if err != nil && ctx.Err() == nil && qctx.Err() != nil {
		err = context.Cause(qctx) // wraps engine.ErrNoQuorum: 503 with Retry-After
	}
	return n, sum, nodes, err
}

// clusterAdmin implements the admin API over the engine and gossip.
type clusterAdmin struct {
	n *node
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
	var h httpapi.HealthView
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
	c.n.mu.Lock()
	data := c.n.data
	c.n.mu.Unlock()
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

func (c clusterAdmin) Promote(ctx context.Context, id string) error {
	e, g, err := c.parts()
	if err != nil {
		return err
	}
	addr := ""
	if m, ok := g.Member(id); ok {
		addr = m.Meta.RaftAddr
	}
	return apiError(e.ChangeMembership(ctx, engine.OpAddVoter, id, addr))
}

func (c clusterAdmin) Demote(ctx context.Context, id string) error {
	e, _, err := c.parts()
	if err != nil {
		return err
	}
	return apiError(e.ChangeMembership(ctx, engine.OpDemote, id, ""))
}

func (c clusterAdmin) Remove(ctx context.Context, id string) error {
	e, g, err := c.parts()
	if err != nil {
		return err
	}
	if err := e.ChangeMembership(ctx, engine.OpRemove, id, ""); err != nil {
		return apiError(err)
	}
	g.Forget(id) // a dead member's record goes with it; an alive one stays (and would be re-added)
	return nil
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
	case errors.Is(err, engine.ErrNoQuorum), errors.Is(err, engine.ErrLeadershipLost), errors.Is(err, engine.ErrNotLeader), errors.Is(err, engine.ErrClosed):
		return &httpapi.APIError{Status: http.StatusServiceUnavailable, Code: "no_quorum", Message: err.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		return &httpapi.APIError{Status: http.StatusGatewayTimeout, Code: "timeout", Message: err.Error()}
	}
	return &httpapi.APIError{Status: http.StatusBadRequest, Code: "rejected", Message: err.Error()}
}

func joinHostPort(host, listen string) string {
	_, port, _ := net.SplitHostPort(listen)
	return net.JoinHostPort(host, port)
}
