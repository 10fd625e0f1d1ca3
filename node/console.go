package node

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/nebulaio/nebulaio/config"
	"github.com/nebulaio/nebulaio/dataplane"
	"github.com/nebulaio/nebulaio/engine"
	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/gossip"
	"github.com/nebulaio/nebulaio/httpapi"
	"github.com/nebulaio/nebulaio/httpapi/console"
	"github.com/nebulaio/nebulaio/internal/metrics"
)

// The console's recorders: commit latency in 10 s intervals over the last 10 minutes, the
// newest 100 membership and leadership events, observed every second.
const (
	consoleLatencyInterval = 10 * time.Second
	consoleLatencySlots    = 60
	consoleEvents          = 100
	consoleWatchEvery      = time.Second
	// consoleBucketScan bounds the objects the buckets page counts per load, and
	// consoleBucketCache how long the counts are reused.
	consoleBucketScan  = 200_000
	consoleBucketCache = 5 * time.Second
	// methodConsoleDisk asks a node for its DiskSpace (the storage page).
	methodConsoleDisk = "console.disk"
)

// startConsole serves the console listener (console.address) beside the admin one: like the
// probes, its public /up page answers while the rest starts; its pages say "starting" until
// the engine runs.
func (n *Node) startConsole() error {
	n.latency = console.NewLatency(consoleLatencyInterval, consoleLatencySlots, nil)
	n.events = console.NewEvents(consoleEvents, nil)
	h, err := console.New(console.Options{
		NodeID:  n.cfg.NodeID,
		Token:   n.creds.AdminToken,
		Source:  &consoleSource{n: n},
		Actions: consoleActions{clusterAdmin{n}},
		// Below the listener's write timeout, so that a slow action still gets its answer.
		ActionTimeout: 20 * time.Second,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", n.cfg.Console.Address)
	if err != nil {
		return fmt.Errorf("console.address: %w", err)
	}
	n.consoleAddr = ln.Addr()
	if n.adminTLS != nil {
		// Logging in sends the admin token: the console is HTTPS whenever the admin port is,
		// with its certificate (reloaded with it).
		ln = n.adminTLS.Listener(ln)
	}
	n.console = httpapi.NewServer(h, httpapi.Timeouts{Read: n.cfg.Admin.ReadTimeout.D(), Write: n.cfg.Admin.WriteTimeout.D(), Idle: n.cfg.Admin.IdleTimeout.D()})
	go n.serve(n.console, ln, "console")
	return nil
}

// ConsoleAddr is the address the console listener is bound to.
func (n *Node) ConsoleAddr() net.Addr { return n.consoleAddr }

// latencyTee passes every measurement on and also feeds the console's commit latency chart.
type latencyTee struct {
	metrics.Metrics
	l *console.Latency
}

func (t latencyTee) Observe(name string, v float64) {
	t.Metrics.Observe(name, v)
	if name == "nebulaio_raft_commit_latency" {
		t.l.Observe(time.Duration(v * float64(time.Second)))
	}
}

// watchMembership feeds the console's event log: once a second it compares the leader, the
// raft configuration and gossip's view with the previous observation.
func (n *Node) watchMembership(ctx context.Context, e *engine.Node, g *gossip.Gossip) {
	t := time.NewTicker(consoleWatchEvery)
	defer t.Stop()
	for {
		if m, ok := observeMembership(e, g); ok {
			n.events.Observe(m)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func observeMembership(e *engine.Node, g *gossip.Gossip) (console.Membership, bool) {
	servers, err := e.Servers()
	if err != nil {
		return console.Membership{}, false
	}
	leader, _ := e.Leader()
	m := console.Membership{LeaderID: leader, Term: e.Raft().CurrentTerm(), Members: map[string]console.MemberState{}}
	for _, s := range servers {
		m.Members[s.ID] = console.MemberState{InRaft: true, Voter: s.Voter}
	}
	for _, gm := range g.Members() {
		st := m.Members[gm.ID]
		st.Gossip = gm.State.String()
		m.Members[gm.ID] = st
	}
	return m, true
}

// handleConsoleDisk answers methodConsoleDisk with this node's DiskSpace.
func (n *Node) handleConsoleDisk(ctx context.Context, _ []byte) ([]byte, error) {
	d := n.Data()
	if d == nil {
		return nil, fmt.Errorf("node %s: data plane not running yet", n.cfg.NodeID)
	}
	sp, err := d.Space()
	if err != nil {
		return nil, err
	}
	return json.Marshal(sp)
}

// consoleSource gives the console's pages their data.
type consoleSource struct {
	n *Node

	mu        sync.Mutex // guards the buckets page's cached counts
	buckets   console.BucketsView
	bucketsAt time.Time
}

var _ console.Source = (*consoleSource)(nil)

// Ready is /health/ready's answer.
func (s *consoleSource) Ready() (bool, string) { return s.n.ready() }

func (s *consoleSource) Cluster(ctx context.Context) (console.ClusterView, error) {
	v := console.ClusterView{ClusterID: s.n.ClusterID(), ThisNode: s.n.cfg.NodeID, Latency: s.n.latency.Points(), Events: s.n.events.Recent()}
	e, _, err := clusterAdmin{s.n}.parts()
	if err != nil {
		return v, err
	}
	st := e.LocalStatus()
	v.LeaderID, v.Term, v.CommitIndex = st.LeaderID, st.Term, st.CommitIndex
	nodes, err := clusterAdmin{s.n}.Nodes(ctx)
	if err != nil {
		return v, err
	}
	for _, nv := range nodes {
		v.Nodes = append(v.Nodes, console.NodeRow{
			ID: nv.ID, Role: nv.Role, Voter: nv.Voter, InRaft: nv.InRaft, RaftState: nv.RaftState, GossipStatus: nv.GossipStatus,
			LastContactMS: nv.LastContactMS, AppliedIndex: nv.AppliedIndex, CommitIndex: nv.CommitIndex, Version: nv.Version, S3Address: nv.S3Address,
			Drain: nv.Drain,
		})
		if nv.ID == v.LeaderID && nv.CommitIndex > 0 {
			v.CommitIndex = nv.CommitIndex // the leader's is the cluster's
		}
	}
	return v, nil
}

func (s *consoleSource) Storage(ctx context.Context) (console.StorageView, error) {
	var v console.StorageView
	e, _, err := clusterAdmin{s.n}.parts()
	if err != nil {
		return v, err
	}
	d := s.n.Data()
	if d != nil {
		v.Factor = d.Factor()
	}
	nodes, err := clusterAdmin{s.n}.Nodes(ctx)
	if err != nil {
		return v, err
	}
	v.Nodes = make([]console.StorageNode, len(nodes))
	var wg sync.WaitGroup
	for i, nv := range nodes {
		v.Nodes[i] = console.StorageNode{ID: nv.ID, Role: nv.Role, HoldsData: nv.Role != config.RoleManagement}
		if nv.RaftAddress == "" || nv.GossipStatus == "dead" || nv.GossipStatus == "left" {
			v.Nodes[i].Error = "node is " + nv.GossipStatus
			continue
		}
		wg.Add(1)
		go func(sn *console.StorageNode, addr string) {
			defer wg.Done()
			sp, err := s.diskOf(ctx, e, addr)
			if err != nil {
				sn.Error = err.Error()
				return
			}
			sn.TotalBytes, sn.FreeBytes, sn.ReserveBytes = sp.Total, sp.Free, sp.Reserve
			sn.UsedBytes = sp.Total - min(sp.Free, sp.Total)
		}(&v.Nodes[i], nv.RaftAddress)
	}
	wg.Wait()
	h, err := clusterAdmin{s.n}.Health(ctx)
	if err != nil {
		return v, err
	}
	v.ReplicationError = h.RepairError
	if r := h.Repair; r != nil && r.Passes > 0 {
		v.Replication = &console.Replication{Checked: r.BlobsChecked, UnderReplicated: r.UnderReplicated, Unavailable: r.Unavailable, Lost: r.Lost,
			PassAt: r.LastPassStart.Add(time.Duration(r.LastPassSeconds * float64(time.Second))), Error: r.LastPassError}
		v.Tasks = append(v.Tasks, repairTask(*r))
	}
	if b := h.Rebalance; b != nil {
		if b.Passes > 0 {
			v.Tasks = append(v.Tasks, rebalanceTask(*b))
		}
		for _, dp := range b.Drains {
			v.Tasks = append(v.Tasks, drainTask(dp))
		}
	}
	return v, nil
}

// rebalanceTask shows the balancer's pass: blobs off their placement brought to it, in bytes.
func rebalanceTask(b dataplane.BalanceStats) console.Task {
	t := console.Task{Name: "rebalance (driven by " + b.Driver + ")", State: "idle", Unit: "bytes moved to placement",
		Total: b.MisplacedBytes, Done: min(b.MovedBytes, b.MisplacedBytes), ETA: etaOf(b.ETASeconds),
		Detail: fmt.Sprintf("%d passes; %d of %d misplaced blobs moved; %d waiting for a target, %d copy errors; %.1f%% of the copies moved since the storage nodes last changed",
			b.Passes, b.Moved, b.Misplaced, b.Waiting, b.CopyErrors, 100*b.ChangeMovedFraction)}
	if b.Running {
		t.State = "running"
	}
	if b.Misplaced == 0 {
		t.ETA = 0
	}
	return t
}

// drainTask shows one member's drain, in bytes (in blobs when they are empty).
func drainTask(d dataplane.DrainProgress) console.Task {
	t := console.Task{Name: "drain " + d.Node, State: d.State, Unit: "bytes", Total: d.BytesTotal, Done: d.BytesDone, ETA: etaOf(d.ETASeconds),
		Detail: fmt.Sprintf("%d of %d blobs done", d.BlobsDone, d.BlobsTotal)}
	if d.BytesTotal == 0 {
		t.Unit, t.Total, t.Done = "blobs", d.BlobsTotal, d.BlobsDone
	}
	if d.Blocked != "" {
		t.State, t.Detail = "blocked", t.Detail+"; "+d.Blocked
	}
	return t
}

// etaOf turns the balancer's seconds (-1 while unknown) into the console's ETA.
func etaOf(sec float64) time.Duration {
	if sec < 0 {
		return -1
	}
	return time.Duration(sec * float64(time.Second))
}

// repairTask shows repair as an operation: a pass has no known total while it runs, so the
// bar shows how many of the blobs the last pass checked had all their copies.
func repairTask(r dataplane.RepairStats) console.Task {
	t := console.Task{Name: "repair (driven by " + r.Driver + ")", State: "idle", ETA: -1, Unit: "blobs fully replicated",
		Detail: fmt.Sprintf("%d passes; copies made %d (%d bytes), copy errors %d since %s started", r.Passes, r.CopiesMade, r.BytesCopied, r.CopyErrors, r.Driver)}
	if r.Running {
		t.State = "running"
	}
	if r.BlobsChecked > 0 {
		t.Total = r.BlobsChecked
		t.Done = r.BlobsChecked - min(r.UnderReplicated, r.BlobsChecked)
		if r.UnderReplicated == 0 {
			t.ETA = 0
		}
	}
	return t
}

func (s *consoleSource) diskOf(ctx context.Context, e *engine.Node, addr string) (dataplane.DiskSpace, error) {
	var sp dataplane.DiskSpace
	if addr == e.Addr() {
		if d := s.n.Data(); d != nil {
			return d.Space()
		}
		return sp, fmt.Errorf("data plane not running yet")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	b, err := s.n.trans.Call(ctx, addr, methodConsoleDisk, nil)
	if err != nil {
		return sp, err
	}
	err = json.Unmarshal(b, &sp)
	return sp, err
}

// Buckets counts each bucket's current versions from the local FSM (the metadata is
// replicated: every node has it) after a linearizable read barrier, so the page shows every
// write acknowledged before it loaded; without a quorum it counts this node's copy and says
// so. A page load counts at most consoleBucketScan objects, and the counts are reused for
// consoleBucketCache.
func (s *consoleSource) Buckets(ctx context.Context) (console.BucketsView, error) {
	e, _, err := clusterAdmin{s.n}.parts()
	if err != nil {
		return console.BucketsView{}, err
	}
	f := s.n.FSM()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.bucketsAt.IsZero() && time.Since(s.bucketsAt) < consoleBucketCache {
		return s.buckets, nil
	}
	stale := e.Read(ctx, engine.Linearizable)
	v, err := countBuckets(ctx, f, consoleBucketScan)
	if err != nil {
		return v, err
	}
	if stale != nil {
		return v, fmt.Errorf("counted from this node's copy of the metadata, which may be behind the leader's: %w", stale)
	}
	s.buckets, s.bucketsAt = v, time.Now()
	return v, nil
}

func countBuckets(ctx context.Context, f *fsm.FSM, budget int) (console.BucketsView, error) {
	v := console.BucketsView{CountedAt: time.Now()}
	for _, b := range f.Buckets() {
		row := console.BucketRow{Name: b.Name, Created: time.Unix(0, b.Created), ObjectLock: b.ObjectLock, Versioning: b.Versioning}
		if row.Versioning == "" {
			row.Versioning = "Unversioned"
		}
		p := fsm.ListParams{MaxKeys: fsm.DefaultMaxKeys}
		for !v.Partial {
			if err := ctx.Err(); err != nil {
				return v, err
			}
			res, err := f.ListObjects(b.Name, p)
			if err != nil {
				break // deleted meanwhile
			}
			for _, o := range res.Contents {
				row.Objects++
				row.Bytes += o.Size
			}
			budget -= len(res.Contents)
			if !res.IsTruncated {
				break
			}
			if budget <= 0 {
				v.Partial = true
			}
			p.ContinuationToken = res.NextMarker
		}
		v.Objects += row.Objects
		v.Bytes += row.Bytes
		v.Buckets = append(v.Buckets, row)
	}
	return v, nil
}

// consoleActions carries out the console's actions through the admin API's implementation,
// so both take the same path and the same checks: a remove is never forced from the console
// (a node holding the last copies of objects is refused until it is drained), a drain starts
// the balancer's drain of the node, and a transfer goes through the engine's leadership
// transfer (to the named voter, or to the most up-to-date one).
type consoleActions struct{ c clusterAdmin }

var _ console.Actions = consoleActions{}

func (a consoleActions) Promote(ctx context.Context, id string) error { return a.c.Promote(ctx, id) }
func (a consoleActions) Demote(ctx context.Context, id string) error  { return a.c.Demote(ctx, id) }
func (a consoleActions) Remove(ctx context.Context, id string) error {
	return a.c.Remove(ctx, id, false)
}

func (a consoleActions) Drain(ctx context.Context, id string) error {
	_, err := a.c.Drain(ctx, id)
	return err
}

func (a consoleActions) TransferLeadership(ctx context.Context, to string) (string, error) {
	v, err := a.c.TransferLeader(ctx, to)
	if err != nil {
		return "", err
	}
	return v.LeaderID, nil
}
