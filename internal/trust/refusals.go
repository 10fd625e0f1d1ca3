package trust

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/nebulaio/nebulaio/internal/metrics"
	"github.com/nebulaio/nebulaio/transport"
)

// Metrics receives this package's measurements: the shared seam of internal/metrics. A nil
// Metrics is valid and records nothing.
type Metrics = metrics.Metrics

// MetricDesc documents one metric this package reports (internal/metrics.Desc).
type MetricDesc = metrics.Desc

// MetricForeignRefused counts refusals of nodes of another cluster.
const MetricForeignRefused = "nebulaio_cluster_foreign_refused_total"

// MetricDescs lists every metric the package reports.
var MetricDescs = []MetricDesc{
	{Name: MetricForeignRefused, Kind: metrics.KindCounter, Help: "Contacts with nodes of another cluster refused: gossip streams, packets and members whose cluster ID differs, transport connections whose certificate names another cluster. Each names both cluster IDs in the log."},
}

// Layers a refusal happens at.
const (
	LayerGossip    = "gossip"
	LayerTransport = "transport"
)

// Refusal is one contact with a node of another cluster that was refused.
type Refusal struct {
	At    time.Time
	Layer string // LayerGossip or LayerTransport
	// Outbound is true when this node made the contact (a join, a dial): then it is this
	// node that is being kept out, and its readiness says so.
	Outbound bool
	Addr     string // the peer's address
	NodeID   string // the peer's node ID, when known
	Theirs   string // the peer's cluster ID; "" when it named none
}

// Refusals records refusals of foreign nodes: it counts them (MetricForeignRefused), logs each
// distinct one at most once a minute naming both cluster IDs, and keeps the recent ones for
// the readiness probe. Safe for concurrent use; its methods never block on I/O beyond the log.
type Refusals struct {
	ours    string
	log     zerolog.Logger
	metrics Metrics
	now     func() time.Time

	mu     sync.Mutex
	recent map[string]Refusal   // by layer|direction|addr|theirs: the newest of each
	logged map[string]time.Time // when each key was last logged
}

// logEvery bounds how often one distinct refusal is logged.
const logEvery = time.Minute

// NewRefusals returns a recorder for a node of cluster ours.
func NewRefusals(ours string, log zerolog.Logger, m Metrics) *Refusals {
	return &Refusals{ours: ours, log: log, metrics: metrics.OrNop(m), now: time.Now,
		recent: map[string]Refusal{}, logged: map[string]time.Time{}}
}

// Record counts, logs and remembers a refusal.
func (r *Refusals) Record(f Refusal) {
	if f.At.IsZero() {
		f.At = r.now()
	}
	r.metrics.Counter(MetricForeignRefused, 1)
	key := fmt.Sprintf("%s|%t|%s|%s", f.Layer, f.Outbound, f.Addr, f.Theirs)
	r.mu.Lock()
	r.recent[key] = f
	if len(r.recent) > 64 { // a flood of distinct peers: keep the newest
		r.pruneLocked(f.At.Add(-time.Hour), 32)
	}
	last, seen := r.logged[key]
	doLog := !seen || f.At.Sub(last) >= logEvery
	if doLog {
		r.logged[key] = f.At
	}
	r.mu.Unlock()
	if !doLog {
		return
	}
	theirs := f.Theirs
	if theirs == "" {
		theirs = "(none given)"
	}
	msg := "refused a node of another cluster"
	if f.Outbound {
		msg = "refused by, or refusing, a node of another cluster this node contacted: check cluster.join_addresses and cluster.join_token"
	}
	r.log.Warn().Str("layer", f.Layer).Str("peer_addr", f.Addr).Str("peer_node", f.NodeID).
		Str("cluster", r.ours).Str("peer_cluster", theirs).Msg(msg)
}

// pruneLocked drops refusals older than before, then the oldest until at most keep remain.
func (r *Refusals) pruneLocked(before time.Time, keep int) {
	type kv struct {
		k string
		v Refusal
	}
	var all []kv
	for k, v := range r.recent {
		if v.At.Before(before) {
			delete(r.recent, k)
			delete(r.logged, k)
			continue
		}
		all = append(all, kv{k, v})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v.At.After(all[j].v.At) })
	for _, e := range all[min(keep, len(all)):] {
		delete(r.recent, e.k)
		delete(r.logged, e.k)
	}
}

// Recent returns the refusals of the last within, newest first.
func (r *Refusals) Recent(within time.Duration) []Refusal {
	since := r.now().Add(-within)
	r.mu.Lock()
	var out []Refusal
	for _, f := range r.recent {
		if !f.At.Before(since) {
			out = append(out, f)
		}
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].At.After(out[j].At) })
	return out
}

// Reason describes, for the readiness probe, the outbound refusals of the last within: the
// contacts this node made with another cluster (its join addresses or token point at the
// wrong cluster). Empty when there were none.
func (r *Refusals) Reason(within time.Duration) string {
	var parts []string
	for _, f := range r.Recent(within) {
		if !f.Outbound || len(parts) == 3 {
			continue
		}
		theirs := f.Theirs
		if theirs == "" {
			theirs = "unknown"
		}
		parts = append(parts, fmt.Sprintf("%s at %s belongs to cluster %s (%s, %s ago)", nodeOrPeer(f.NodeID), f.Addr,
			theirs, f.Layer, r.now().Sub(f.At).Round(time.Second)))
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf("refused contact with another cluster: this node is in cluster %s, but %s; check cluster.join_addresses and cluster.join_token",
		r.ours, strings.Join(parts, "; "))
}

func nodeOrPeer(id string) string {
	if id == "" {
		return "the peer"
	}
	return "node " + id
}

// TransportRefused is the transport's refusal hook (transport.Config.Refused): refusals whose
// cause is a *ForeignError are recorded; others (no certificate, an untrusted one, the wrong
// node) are counted by the transport (nebulaio_transport_refused_total) and logged here, each
// peer host at most once a minute.
func (r *Refusals) TransportRefused(p transport.PeerInfo, err error) {
	var fe *ForeignError
	if errors.As(err, &fe) {
		r.Record(Refusal{Layer: LayerTransport, Outbound: p.Outbound, Addr: p.Addr, NodeID: fe.NodeID, Theirs: fe.Theirs})
		return
	}
	host := p.Addr
	if h, _, splitErr := net.SplitHostPort(p.Addr); splitErr == nil {
		host = h // inbound peers before the preamble are known by an ephemeral port
	}
	key := "refused|" + host
	now := r.now()
	r.mu.Lock()
	last, seen := r.logged[key]
	doLog := !seen || now.Sub(last) >= logEvery
	if doLog {
		if len(r.logged) > 256 {
			clear(r.logged) // a scan from many hosts: forget when each was logged rather than grow
		}
		r.logged[key] = now
	}
	r.mu.Unlock()
	if doLog {
		r.log.Warn().Err(err).Str("peer_addr", p.Addr).Bool("outbound", p.Outbound).
			Msg("refused a node-to-node connection that does not prove membership of this cluster (logged once a minute per host)")
	}
}
