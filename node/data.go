package node

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/nebulaio/nebulaio/config"
	"github.com/nebulaio/nebulaio/dataplane"
	"github.com/nebulaio/nebulaio/dataplane/blob"
	"github.com/nebulaio/nebulaio/gossip"
	"github.com/nebulaio/nebulaio/httpapi"
)

// startData opens the blob store and the data plane. A management node holds no object
// bytes: its uploads go to hybrid and storage nodes. Membership and addresses come from the
// engine (once it runs) and gossip.
func (n *Node) startData(sink *httpapi.PromSink) error {
	cfg := n.cfg
	store, err := blob.Open(filepath.Join(cfg.DataDir, "blobs"), blob.Options{Metrics: sink})
	if err != nil {
		return fmt.Errorf("data_dir: blobs: %w", err)
	}
	n.blobs = store
	ecData, ecParity, _ := config.ParseErasure(cfg.Cluster.Erasure) // validated with the config
	d := dataplane.New(dataplane.Config{
		Local: store, Transport: n.trans, Self: cfg.NodeID,
		HoldsData: cfg.Cluster.NodeRole != config.RoleManagement,
		Resolve: func(id string) (string, bool) {
			if e := n.Engine(); e != nil {
				return e.ServerAddr(id)
			}
			return "", false
		},
		Members: func() []dataplane.Member { return n.dataMembers() },
		Factor:  cfg.Cluster.ReplicationFactor,
		Logger:  n.log.With().Str("component", "data").Logger(),
		Metrics: sink,

		MinFreeBytes: cfg.Storage.MinFreeBytes,

		ErasureData: ecData, ErasureParity: ecParity, ErasureMinSize: cfg.Cluster.ErasureMinSize,
	})
	n.mu.Lock()
	n.data = d
	n.mu.Unlock()
	return nil
}

// dataMembers describes the raft members to the data plane: their role and liveness come from
// gossip, their drain from the replicated member records. A member gossip has not seen (since
// this node started) counts as neither alive nor storage-capable until it shows up. Before the
// engine runs there are none.
func (n *Node) dataMembers() []dataplane.Member {
	e, g := n.parts()
	if e == nil || g == nil {
		return nil
	}
	servers, err := e.Servers()
	if err != nil {
		return nil
	}
	now := time.Now()
	out := make([]dataplane.Member, 0, len(servers))
	for _, s := range servers {
		dm := dataplane.Member{ID: s.ID, Drain: n.fsm.Member(s.ID).Drain}
		if m, ok := g.Member(s.ID); ok {
			dm.Storage = m.Meta.Role == config.RoleHybrid || m.Meta.Role == config.RoleStorage
			dm.Alive = m.State == gossip.StateAlive || m.Local
			if !dm.Alive {
				dm.DownFor = now.Sub(m.Since)
			}
		}
		out = append(out, dm)
	}
	return out
}
