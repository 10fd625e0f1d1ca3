package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Ports every node listens on, on its own namespace's address.
const (
	portS3     = 9000
	portAdmin  = 9001
	portRaft   = 9003
	portGossip = 9004
)

// Metrics the fault checks read from /metrics (their names are in README's table).
const (
	metricBlobCorrupt     = "nebulaio_blob_corrupt_total"
	metricWALTornTails    = "nebulaio_wal_torn_tails_truncated_total"
	metricReserveRefusals = "nebulaio_data_reserve_refusals_total"
	metricRaftState       = "nebulaio_raft_state" // raftStateLeader on the leader
	metricLeaderChanges   = "nebulaio_raft_leader_changes_total"
	metricGoroutines      = "go_goroutines"
	metricOpenFDs         = "process_open_fds"

	raftStateLeader = 2
)

// secrets shared by the nodes of a run.
type secrets struct {
	accessKey, secretKey, adminToken string
	// joinToken names the run's cluster and carries its secret (nbio1.…, from `nebulaio
	// cluster new-token`): node 1 bootstraps the cluster of the token, the others join it, as
	// deploy/docker-compose.yml and scripts/e2e-cluster.sh do (docs/security.md).
	joinToken string
}

// newJoinToken asks bin for a fresh join token.
func newJoinToken(bin string) (string, error) {
	out, err := exec.Command(bin, "cluster", "new-token").Output()
	if err != nil {
		return "", fmt.Errorf("%s cluster new-token: %w", bin, err)
	}
	tok := strings.TrimSpace(string(out))
	if !strings.HasPrefix(tok, "nbio1.") {
		return "", fmt.Errorf("%s cluster new-token printed %q, not a join token", bin, tok)
	}
	return tok, nil
}

// node is one nebulaio process of the cluster, in its namespace.
type node struct {
	idx  int
	id   string // node_id
	ip   string
	dir  string // data_dir
	args []string
	env  []string // extra environment

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	exitErr error
	starts  int // processes started, for the log file names
}

// cluster is the three nodes of a run.
type cluster struct {
	lab   *lab
	bin   string
	dir   string // run directory: data dirs and logs
	sec   secrets
	env   []string // extra environment of every node
	nodes []*node
	http  *http.Client
}

func newCluster(l *lab, bin, dir string, sec secrets, env []string) *cluster {
	c := &cluster{lab: l, bin: bin, dir: dir, sec: sec, env: env, http: &http.Client{Timeout: 5 * time.Second}}
	var joins []string
	for i := range l.nodes {
		joins = append(joins, fmt.Sprintf("%s:%d", l.nodeIP(i), portGossip))
	}
	for i := range l.nodes {
		ip := l.nodeIP(i)
		n := &node{idx: i, id: fmt.Sprintf("n%d", i+1), ip: ip, dir: filepath.Join(dir, fmt.Sprintf("n%d", i+1))}
		n.args = []string{"server",
			"--node_id=" + n.id,
			"--data_dir=" + n.dir,
			fmt.Sprintf("--s3.address=%s:%d", ip, portS3),
			fmt.Sprintf("--admin.address=%s:%d", ip, portAdmin),
			fmt.Sprintf("--console.address=%s:9002", ip),
			fmt.Sprintf("--cluster.raft_address=%s:%d", ip, portRaft),
			fmt.Sprintf("--cluster.gossip_address=%s:%d", ip, portGossip),
			"--cluster.advertise_address=" + ip,
			"--log.format=json",
		}
		if i == 0 {
			n.args = append(n.args, "--cluster.bootstrap=true", fmt.Sprintf("--cluster.expect_nodes=%d", l.nodes))
		} else {
			var others []string
			for j, a := range joins {
				if j != i {
					others = append(others, a)
				}
			}
			n.args = append(n.args, "--cluster.bootstrap=false", "--cluster.join_addresses="+strings.Join(others, ","))
		}
		c.nodes = append(c.nodes, n)
	}
	return c
}

func (c *cluster) s3Addr(i int) string {
	return fmt.Sprintf("%s:%d", c.nodes[i].ip, portS3)
}

// start starts node i's process (again, after a kill); its log goes to <id>.<n>.log.
func (c *cluster) start(i int) error {
	n := c.nodes[i]
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil && !closed(n.done) {
		return fmt.Errorf("%s is running", n.id)
	}
	if err := os.MkdirAll(n.dir, 0o750); err != nil {
		return err
	}
	n.starts++
	logf, err := os.Create(filepath.Join(c.dir, fmt.Sprintf("%s.%d.log", n.id, n.starts)))
	if err != nil {
		return err
	}
	cmd := c.lab.command(i, c.bin, n.args...)
	cmd.Env = append(os.Environ(),
		"NEBULAIO_ACCESS_KEY="+c.sec.accessKey,
		"NEBULAIO_SECRET_KEY="+c.sec.secretKey,
		"NEBULAIO_ADMIN_TOKEN="+c.sec.adminToken,
		"NEBULAIO_JOIN_TOKEN="+c.sec.joinToken)
	cmd.Env = append(cmd.Env, c.env...)
	cmd.Env = append(cmd.Env, n.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", n.id, err)
	}
	n.cmd, n.done, n.exitErr = cmd, make(chan struct{}), nil
	done := n.done
	go func() {
		err := cmd.Wait()
		logf.Close()
		n.mu.Lock()
		n.exitErr = err
		n.mu.Unlock()
		close(done)
	}()
	return nil
}

func closed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// running reports whether node i's process is alive.
func (c *cluster) running(i int) bool {
	n := c.nodes[i]
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil && !closed(n.done)
}

// signal sends sig to node i's process.
func (c *cluster) signal(i int, sig syscall.Signal) error {
	n := c.nodes[i]
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || closed(n.done) {
		return fmt.Errorf("%s is not running", n.id)
	}
	return n.cmd.Process.Signal(sig)
}

// kill9 kills node i with SIGKILL and waits until the process is gone.
func (c *cluster) kill9(i int) error {
	if err := c.signal(i, syscall.SIGKILL); err != nil {
		return err
	}
	return c.waitExit(i, 10*time.Second)
}

func (c *cluster) waitExit(i int, timeout time.Duration) error {
	n := c.nodes[i]
	n.mu.Lock()
	done := n.done
	n.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("%s did not exit within %s", n.id, timeout)
	}
}

// stopAll stops every running node with SIGTERM (SIGCONT first, in case it is stopped) and
// expects each to exit 0 within timeout: a clean stop after the fault is part of the verdict.
func (c *cluster) stopAll(timeout time.Duration) error {
	var errs []error
	for i := range c.nodes {
		if !c.running(i) {
			continue
		}
		_ = c.signal(i, syscall.SIGCONT)
		_ = c.signal(i, syscall.SIGTERM)
	}
	for i, n := range c.nodes {
		if n.cmd == nil {
			continue
		}
		if err := c.waitExit(i, timeout); err != nil {
			errs = append(errs, err)
			_ = c.signal(i, syscall.SIGKILL)
			continue
		}
		n.mu.Lock()
		if n.exitErr != nil {
			errs = append(errs, fmt.Errorf("%s exited with %v after SIGTERM", n.id, n.exitErr))
		}
		n.mu.Unlock()
	}
	return errors.Join(errs...)
}

// killAll kills whatever still runs (on every way out).
func (c *cluster) killAll() {
	for i := range c.nodes {
		if c.running(i) {
			_ = c.signal(i, syscall.SIGKILL)
			_ = c.waitExit(i, 10*time.Second)
		}
	}
}

// adminGet GETs path from node i's admin port into out (JSON).
func (c *cluster) adminGet(ctx context.Context, i int, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s:%d%s", c.nodes[i].ip, portAdmin, path), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.sec.adminToken)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", c.nodes[i].id, path, resp.Status, strings.TrimSpace(string(body)))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(body, out)
}

// nodeView and healthView are the parts of the admin API's answers the checks read.
type nodeView struct {
	ID           string `json:"id"`
	Voter        bool   `json:"voter"`
	InRaft       bool   `json:"in_raft"`
	RaftState    string `json:"raft_state"`
	GossipStatus string `json:"gossip_status"`
	AppliedIndex uint64 `json:"applied_index"`
}

type healthView struct {
	Healthy       bool   `json:"healthy"`
	LeaderID      string `json:"leader_id"`
	ClusterID     string `json:"cluster_id"`
	Voters        int    `json:"voters"`
	HealthyVoters int    `json:"healthy_voters"`
}

// leader returns the index of the node that the nodes among (default: every running node)
// agree leads.
func (c *cluster) leader(ctx context.Context, among ...int) (int, error) {
	if len(among) == 0 {
		for i := range c.nodes {
			if c.running(i) {
				among = append(among, i)
			}
		}
	}
	ids := map[string]bool{}
	for _, i := range among {
		var h healthView
		if err := c.adminGet(ctx, i, "/api/v1/admin/cluster/health", &h); err != nil {
			return -1, err
		}
		ids[h.LeaderID] = true
	}
	if len(ids) != 1 {
		return -1, fmt.Errorf("nodes disagree on the leader: %v", keys(ids))
	}
	for id := range ids {
		for i, n := range c.nodes {
			if n.id == id {
				return i, nil
			}
		}
		return -1, fmt.Errorf("no leader (%q)", id)
	}
	return -1, errors.New("no node runs")
}

// whole returns nil when the cluster is whole as every node sees it: all nodes run and are
// ready; each sees the same leader and cluster ID, every node a raft voter and alive in
// gossip, and all voters healthy. It returns what is missing otherwise.
func (c *cluster) whole(ctx context.Context) error {
	leaders, clusters := map[string]bool{}, map[string]bool{}
	for i, n := range c.nodes {
		if !c.running(i) {
			return fmt.Errorf("%s is not running", n.id)
		}
		if err := c.adminGet(ctx, i, "/health/ready", nil); err != nil {
			return fmt.Errorf("%s not ready: %w", n.id, err)
		}
		var nv struct {
			Nodes []nodeView `json:"nodes"`
		}
		if err := c.adminGet(ctx, i, "/api/v1/admin/cluster/nodes", &nv); err != nil {
			return err
		}
		var h healthView
		if err := c.adminGet(ctx, i, "/api/v1/admin/cluster/health", &h); err != nil {
			return err
		}
		if !h.Healthy || h.Voters != len(c.nodes) || h.HealthyVoters != len(c.nodes) {
			var states []string
			for _, v := range nv.Nodes {
				states = append(states, fmt.Sprintf("%s %s/%s", v.ID, v.RaftState, v.GossipStatus))
			}
			return fmt.Errorf("%s: health %+v; nodes (raft/gossip): %s", n.id, h, strings.Join(states, ", "))
		}
		leaders[h.LeaderID] = true
		clusters[h.ClusterID] = true
		if len(nv.Nodes) != len(c.nodes) {
			return fmt.Errorf("%s lists %d nodes, want %d: %+v", n.id, len(nv.Nodes), len(c.nodes), nv.Nodes)
		}
		for _, v := range nv.Nodes {
			if !v.InRaft || !v.Voter || v.GossipStatus != "alive" {
				return fmt.Errorf("%s sees %s as in_raft=%v voter=%v gossip=%s", n.id, v.ID, v.InRaft, v.Voter, v.GossipStatus)
			}
		}
	}
	if len(leaders) != 1 {
		return fmt.Errorf("nodes disagree on the leader: %v", keys(leaders))
	}
	if len(clusters) != 1 || clusters[""] {
		return fmt.Errorf("nodes disagree on the cluster ID (or report none): %v", keys(clusters))
	}
	return nil
}

// metrics scrapes node i's /metrics for the samples named (first sample of each name, labels
// ignored; a counter with labels is summed).
func (c *cluster) metrics(ctx context.Context, i int, names ...string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s:%d/metrics", c.nodes[i].ip, portAdmin), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, _ := strings.Cut(line, " ")
		base, _, _ := strings.Cut(name, "{")
		if !want[base] {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			continue
		}
		out[base] += v
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
