package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nebulaio/nebulaio/engine"
	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/gossip"
	"github.com/nebulaio/nebulaio/internal/metrics"
	"github.com/nebulaio/nebulaio/internal/trust"
	"github.com/nebulaio/nebulaio/internal/vfs"
	"github.com/nebulaio/nebulaio/transport"
)

// refusalWindow is how long a refused contact with another cluster stays in the readiness
// probe: long enough to be seen, short enough to clear once the configuration is fixed (the
// background joiner retries every few seconds while it is not).
const refusalWindow = 5 * time.Minute

// clusterTrust is the node's cluster identity and what derives from it (internal/trust).
type clusterTrust struct {
	id       trust.Identity
	created  bool // this start created data_dir/cluster.json
	creds    *trust.Creds
	refusals *trust.Refusals

	mu       sync.Mutex
	mismatch string // set when replicated state names another cluster ID
}

// openTrust establishes the node's cluster identity (data_dir/cluster.json) and its TLS
// credentials, before anything listens: a wrong token, a secret that differs from the stored
// one, or a node that would join without a token stops the start here, naming the key.
func (n *Node) openTrust(sink metrics.Metrics) error {
	cfg := n.cfg
	id, created, err := trust.Establish(vfs.OS, cfg.DataDir, trust.Inputs{
		Secret: cfg.Cluster.Secret, Token: cfg.Cluster.JoinToken, MayCreate: cfg.Cluster.Bootstraps(),
	}, time.Now())
	if err != nil {
		return err
	}
	var ca *trust.CA
	var cert *tls.Certificate
	if cfg.Cluster.TLSCAFile != "" {
		ca, cert, err = trust.LoadFiles(cfg.Cluster.TLSCAFile, cfg.Cluster.TLSCertFile, cfg.Cluster.TLSKeyFile)
	} else {
		ca, err = trust.DeriveCA(id.Secret)
	}
	if err != nil {
		return err
	}
	creds, err := trust.NewCreds(trust.CredsConfig{Self: trust.NodeIdentity{ClusterID: id.ClusterID, NodeID: cfg.NodeID}, CA: ca, Cert: cert})
	if err != nil {
		return fmt.Errorf("cluster.tls_cert_file: %w", err)
	}
	n.trust = &clusterTrust{id: id, created: created, creds: creds, refusals: trust.NewRefusals(id.ClusterID, n.log, sink)}
	ev := n.log.Info().Str("cluster", id.ClusterID).Str("secret_from", id.Source).Str("file", trust.IdentityFile)
	switch {
	case created && id.Source == trust.SourceToken:
		ev.Msg("joining the cluster of the join token: identity stored")
	case created:
		ev.Msg("created a new cluster identity and stored it (mode 0600)")
	default:
		ev.Msg("cluster identity loaded")
	}
	return nil
}

// transportSecurity fills the transport's TLS and identity hooks from the node's credentials.
func (n *Node) transportSecurity(tc *transport.Config) {
	tc.TLS = n.trust.creds.ServerTLS()
	tc.ClientTLS = n.trust.creds.ClientTLS()
	tc.VerifyPeer = n.trust.creds.VerifyPeer(n.nodeAt)
	tc.Refused = n.trust.refusals.TransportRefused
}

// gossipSecurity fills gossip's key, cluster ID and refusal hook: cluster.gossip_key when
// set, else the key derived from the cluster secret.
func (n *Node) gossipSecurity(gc *gossip.Config) error {
	gc.ClusterID = n.trust.id.ClusterID
	gc.SecretKey = n.trust.id.Secret.GossipKey()
	if n.cfg.Cluster.GossipKey != "" {
		key, err := gossip.DecodeKey(n.cfg.Cluster.GossipKey)
		if err != nil {
			return fmt.Errorf("cluster.gossip_key: %w", err)
		}
		gc.SecretKey = key
	}
	r := n.trust.refusals
	gc.OnRefused = func(f gossip.Refusal) {
		r.Record(trust.Refusal{Layer: trust.LayerGossip, Outbound: f.Outbound, Addr: f.Addr, NodeID: f.NodeID, Theirs: f.ClusterID})
	}
	return nil
}

// nodeAt says which node is at a raft address, as far as this node knows: an alive gossip
// member advertising it (the freshest view), else the raft configuration. The transport's
// identity hook checks that the certificate presented there names that node.
func (n *Node) nodeAt(addr string) (string, bool) {
	e, g := n.parts()
	if g != nil {
		for _, m := range g.Members() {
			if m.State == gossip.StateAlive && m.Meta.RaftAddr == addr {
				return m.ID, true
			}
		}
	}
	if e != nil {
		servers, err := e.Servers()
		if err == nil {
			for _, s := range servers {
				if s.Addr == addr {
					return s.ID, true
				}
			}
		}
	}
	return "", false
}

// verifyMember is the reconciler's proof of membership (engine.ReconcileOptions.VerifyMember):
// the process at addr must present a certificate of this cluster naming id.
func (n *Node) verifyMember(ctx context.Context, id, addr string) error {
	p, err := n.trans.Identify(ctx, addr)
	if err != nil {
		return err
	}
	got, err := trust.PeerOf(p.TLS)
	if err != nil {
		return err
	}
	if got.NodeID != id {
		return fmt.Errorf("%w: %s presents the certificate of node %q, gossip says it is %q", trust.ErrWrongNode, addr, got.NodeID, id)
	}
	return nil
}

// ready adds the cluster identity's part to the engine's readiness: a replicated cluster ID
// other than this node's makes it unready; a refused contact with another cluster is the
// reason when the node is not ready anyway, and a warning otherwise.
func (n *Node) ready() (bool, string) {
	e := n.Engine()
	ok, reason := false, "starting: raft is not running yet"
	if e != nil {
		ok, reason = e.Ready(readyMaxLag)
	}
	if n.trust == nil {
		return ok, reason
	}
	n.trust.mu.Lock()
	mismatch := n.trust.mismatch
	n.trust.mu.Unlock()
	if mismatch != "" {
		return false, mismatch
	}
	if r := n.trust.refusals.Reason(refusalWindow); r != "" {
		if ok {
			return true, r
		}
		return false, reason + "; " + r
	}
	return ok, reason
}

// watchClusterID records the cluster ID in replicated state (the leader writes it once: fsm
// setting cluster.id is write-once) and checks that it is this node's. It returns once the
// setting is there: it never changes after.
func (n *Node) watchClusterID(ctx context.Context, e *engine.Node) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if n.checkClusterID(ctx, e) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (n *Node) checkClusterID(ctx context.Context, e *engine.Node) bool {
	ours := n.trust.id.ClusterID
	v, ok := n.fsm.Setting(fsm.SettingClusterID)
	switch {
	case ok && v == ours:
		return true
	case ok:
		msg := fmt.Sprintf("replicated state belongs to cluster %s, but this node's %s names cluster %s: "+
			"the identity file was replaced; restore it, or empty the data directory and join with the token of cluster %s",
			v, trust.IdentityFile, ours, v)
		n.trust.mu.Lock()
		n.trust.mismatch = msg
		n.trust.mu.Unlock()
		n.log.Error().Str("cluster", ours).Str("replicated_cluster", v).Msg(msg)
		return true
	case !e.IsLeader():
		return false
	}
	cmd, err := fsm.Encode(&fsm.SetSetting{Key: fsm.SettingClusterID, Value: ours})
	if err != nil {
		n.log.Error().Err(err).Msg("encode the cluster ID setting")
		return true
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := e.Propose(pctx, cmd)
	if r, isRes := res.(*fsm.Result); err == nil && isRes && r.Err != nil {
		err = r.Err
	}
	var fe *fsm.Error
	if err != nil && !(errors.As(err, &fe) && fe.Code == fsm.CodeSettingImmutable) {
		n.log.Warn().Err(err).Msg("recording the cluster ID in replicated state (will retry)")
	}
	return false // the next round reads what was applied
}

// ClusterID is the ID of the cluster the node belongs to.
func (n *Node) ClusterID() string { return n.trust.id.ClusterID }

// JoinToken is the token another node joins this cluster with (the cluster's ID and secret).
func (n *Node) JoinToken() trust.Token { return n.trust.id.Token() }

// Identity is the node's cluster identity, and whether this start created it (so the banner
// shows a generated secret's token once, on the first start only).
func (n *Node) Identity() (trust.Identity, bool) { return n.trust.id, n.trust.created }
