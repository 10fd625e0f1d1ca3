package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/rs/zerolog"

	"github.com/nebulaio/nebulaio/config"
)

const testToken = "test-admin-token"

type testNode struct {
	id  string
	dir string
	cfg config.Config
	n   *node
}

func newTestConfig(t *testing.T, id, dir string) config.Config {
	c := config.Default()
	c.NodeID, c.DataDir = id, dir
	c.S3.Address, c.Admin.Address, c.Console.Address = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	c.Cluster.RaftAddress, c.Cluster.GossipAddress = "127.0.0.1:0", "127.0.0.1:0"
	c.Admin.Token, c.S3.AccessKey, c.S3.SecretKey = testToken, "AK", "SK"
	return c
}

func startTestNode(t *testing.T, tn *testNode) {
	t.Helper()
	if _, err := tn.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel).With().Str("node_id", tn.id).Logger()
	n, err := startNode(context.Background(), tn.cfg, log)
	if err != nil {
		t.Fatalf("start %s: %v", tn.id, err)
	}
	tn.n = n
}

// startSolo starts a single node that bootstraps itself (its configuration adjusted by mutate,
// when not nil), waits until it leads, and kills it when the test ends.
func startSolo(t *testing.T, id string, mutate func(*config.Config)) *testNode {
	t.Helper()
	tn := &testNode{id: id, cfg: newTestConfig(t, id, t.TempDir())}
	if mutate != nil {
		mutate(&tn.cfg)
	}
	startTestNode(t, tn)
	t.Cleanup(tn.n.kill)
	eventually(t, 15*time.Second, "leader", func() string {
		if e, _ := tn.n.parts(); e == nil || !e.IsLeader() {
			return "not leader yet"
		}
		return ""
	})
	return tn
}

func (tn *testNode) gossipAddr() string { return tn.n.gossip.Addr() }
func (tn *testNode) adminURL() string   { return "http://" + tn.n.adminAddr.String() }

type nodeJSON struct {
	ID           string `json:"id"`
	Role         string `json:"role"`
	Voter        bool   `json:"voter"`
	InRaft       bool   `json:"in_raft"`
	RaftState    string `json:"raft_state"`
	RaftAddress  string `json:"raft_address"`
	GossipStatus string `json:"gossip_status"`
}

func adminCall(t *testing.T, base, method, path string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, base+path, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// adminChange runs a mutating admin call, retrying while the cluster answers 503 (an election in
// progress) for up to 20 s, as an operator's script would.
func adminChange(t *testing.T, base, method, path string) (int, []byte) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := adminCall(t, base, method, path)
		if code != http.StatusServiceUnavailable || time.Now().After(deadline) {
			return code, body
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func nodesOf(t *testing.T, tn *testNode) map[string]nodeJSON {
	t.Helper()
	code, body := adminCall(t, tn.adminURL(), "GET", "/api/v1/admin/cluster/nodes")
	if code != 200 {
		t.Fatalf("nodes: %d %s", code, body)
	}
	var v struct{ Nodes []nodeJSON }
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	out := map[string]nodeJSON{}
	for _, n := range v.Nodes {
		if _, dup := out[n.ID]; dup {
			t.Fatalf("node %s listed twice", n.ID)
		}
		out[n.ID] = n
	}
	return out
}

// eventually polls cond until it returns "" (success) or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	last := ""
	for time.Now().Before(deadline) {
		if last = cond(); last == "" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s: %s", what, within, last)
}

func suffrage(n nodeJSON) string {
	switch {
	case !n.InRaft:
		return "absent"
	case n.Voter:
		return "voter"
	}
	return "nonvoter"
}

func expectSuffrage(want map[string]string) func(map[string]nodeJSON) string {
	return func(got map[string]nodeJSON) string {
		for id, w := range want {
			if s := suffrage(got[id]); s != w {
				return fmt.Sprintf("%s is %s, want %s", id, s, w)
			}
		}
		return ""
	}
}

func gaugeValue(t *testing.T, tn *testNode, name string) string {
	code, body := adminCall(t, tn.adminURL(), "GET", "/metrics")
	if code != 200 {
		t.Fatalf("metrics: %d", code)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// TestClusterJoinPromoteDemoteRemove: three nodes form a cluster through join and become voters;
// a storage node joins as a non-voter and stays one; promote, demote and remove work through the
// admin API on any node; a killed node is seen dead within gossip's failure-detection bound and
// the gossip gauge drops; the same node restarted on new ports with its data rejoins without a
// duplicate raft server.
func TestClusterJoinPromoteDemoteRemove(t *testing.T) {
	base := t.TempDir()
	nodes := map[string]*testNode{}
	for _, id := range []string{"n1", "n2", "n3", "n4"} {
		nodes[id] = &testNode{id: id, dir: filepath.Join(base, id), cfg: newTestConfig(t, id, filepath.Join(base, id))}
	}
	defer func() {
		for _, tn := range nodes {
			if tn.n != nil {
				tn.n.kill()
			}
		}
	}()
	startTestNode(t, nodes["n1"])
	for _, id := range []string{"n2", "n3"} {
		tn := nodes[id]
		tn.cfg.Cluster.Bootstrap = config.BootstrapFalse
		tn.cfg.Cluster.JoinAddresses = []string{nodes["n1"].gossipAddr()}
		startTestNode(t, tn)
	}
	n1 := nodes["n1"]
	eventually(t, 30*time.Second, "three voters", func() string {
		return expectSuffrage(map[string]string{"n1": "voter", "n2": "voter", "n3": "voter"})(nodesOf(t, n1))
	})

	n4 := nodes["n4"]
	n4.cfg.Cluster.Bootstrap = config.BootstrapFalse
	n4.cfg.Cluster.NodeRole = config.RoleStorage
	n4.cfg.Cluster.JoinAddresses = []string{nodes["n2"].gossipAddr()} // through a non-seed
	startTestNode(t, n4)
	eventually(t, 20*time.Second, "storage node joins as non-voter", func() string {
		return expectSuffrage(map[string]string{"n4": "nonvoter"})(nodesOf(t, n1))
	})
	// It stays a non-voter across several reconciliations (the reconciler runs every 2s).
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		if s := suffrage(nodesOf(t, n1)["n4"]); s != "nonvoter" {
			t.Fatalf("storage node became %s without being promoted", s)
		}
	}
	if got := nodesOf(t, n1)["n4"]; got.Role != "storage" || got.GossipStatus != "alive" {
		t.Fatalf("n4 listed as %+v", got)
	}

	// Promote and demote through a follower's admin API (forwarded to the leader).
	via := nodes["n3"]
	if code, body := adminChange(t, via.adminURL(), "POST", "/api/v1/admin/cluster/nodes/n4/promote"); code != 200 {
		t.Fatalf("promote: %d %s", code, body)
	}
	eventually(t, 10*time.Second, "n4 promoted", func() string { return expectSuffrage(map[string]string{"n4": "voter"})(nodesOf(t, n1)) })
	if code, body := adminChange(t, via.adminURL(), "POST", "/api/v1/admin/cluster/nodes/n4/demote"); code != 200 {
		t.Fatalf("demote: %d %s", code, body)
	}
	eventually(t, 10*time.Second, "n4 demoted", func() string { return expectSuffrage(map[string]string{"n4": "nonvoter"})(nodesOf(t, n1)) })

	// Unknown IDs are refused clearly.
	if code, body := adminChange(t, via.adminURL(), "DELETE", "/api/v1/admin/cluster/nodes/nope"); code != 404 || !strings.Contains(string(body), "unknown_node") {
		t.Fatalf("remove unknown: %d %s", code, body)
	}

	// Kill n4 (no leave): dead in gossip within the detection bound, the gauge drops; then
	// remove it. The bound counts four members: memberlist keeps a dead one for 30 s, and
	// with three alive and one dead it waits for confirmations only one member can give — a
	// fixed 10 s was below that worst case and failed under -race load (n3 below).
	detect := n1.n.gossip.FailureDetectionBound(4)
	before := gaugeValue(t, n1, "nebulaio_gossip_nodes")
	n4.n.kill()
	n4.n = nil
	start := time.Now()
	eventually(t, detect, "n4 dead in gossip", func() string {
		if s := nodesOf(t, n1)["n4"].GossipStatus; s != "dead" {
			return "gossip status " + s
		}
		return ""
	})
	t.Logf("n4 declared dead after %s (bound %s)", time.Since(start).Round(100*time.Millisecond), detect)
	eventually(t, 5*time.Second, "gossip gauge drops", func() string {
		if after := gaugeValue(t, n1, "nebulaio_gossip_nodes"); after == before {
			return "nebulaio_gossip_nodes still " + after
		}
		return ""
	})
	if code, body := adminChange(t, via.adminURL(), "DELETE", "/api/v1/admin/cluster/nodes/n4"); code != 200 {
		t.Fatalf("remove: %d %s", code, body)
	}
	eventually(t, 10*time.Second, "n4 removed", func() string { return expectSuffrage(map[string]string{"n4": "absent"})(nodesOf(t, n1)) })

	// Kill a voter and bring it back with the same ID and data on new ports.
	n3 := nodes["n3"]
	oldAddr := nodesOf(t, n1)["n3"].RaftAddress
	n3.n.kill()
	n3.n = nil
	start = time.Now()
	eventually(t, detect, "n3 dead", func() string {
		if s := nodesOf(t, n1)["n3"].GossipStatus; s != "dead" {
			return "gossip status " + s
		}
		return ""
	})
	t.Logf("n3 declared dead after %s (bound %s)", time.Since(start).Round(100*time.Millisecond), detect)
	if s := suffrage(nodesOf(t, n1)["n3"]); s != "voter" {
		t.Fatalf("dead n3 is %s; dead members must stay voters until removed", s)
	}
	startTestNode(t, n3)
	eventually(t, 30*time.Second, "n3 back as the same voter at its new address", func() string {
		got := nodesOf(t, n1)["n3"]
		if got.RaftAddress == oldAddr {
			return "raft address not updated"
		}
		if got.GossipStatus != "alive" || got.RaftState != "Follower" && got.RaftState != "Leader" {
			return fmt.Sprintf("n3: %+v", got)
		}
		return expectSuffrage(map[string]string{"n1": "voter", "n2": "voter", "n3": "voter"})(nodesOf(t, n1))
	})
	code, body := adminCall(t, n1.adminURL(), "GET", "/api/v1/admin/cluster/health")
	var h struct {
		Healthy          bool `json:"healthy"`
		Voters           int  `json:"voters"`
		QuorumSize       int  `json:"quorum_size"`
		FailureTolerance int  `json:"failure_tolerance"`
	}
	if code != 200 || json.Unmarshal(body, &h) != nil || !h.Healthy || h.Voters != 3 || h.QuorumSize != 2 {
		t.Fatalf("health: %d %s", code, body)
	}
}

// TestExpectNodesBootstrapsOnlyWithAllMembers: a bootstrap node with expect_nodes 3 does not
// start raft with two members present, and bootstraps all three as voters once the third joins.
func TestExpectNodesBootstrapsOnlyWithAllMembers(t *testing.T) {
	base := t.TempDir()
	var started []*testNode
	defer func() {
		for _, tn := range started {
			if tn.n != nil {
				tn.n.kill()
			}
		}
	}()
	seed := &testNode{id: "s1", cfg: newTestConfig(t, "s1", filepath.Join(base, "s1"))}
	seed.cfg.Cluster.ExpectNodes = 3
	// The seed blocks in startNode until expect_nodes voters are present, so start it aside.
	type result struct {
		n   *node
		err error
	}
	done := make(chan result, 1)
	gossipAddr := make(chan string, 1)
	go func() {
		log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
		n, err := startNodeWith(context.Background(), seed.cfg, log, startHooks{gossipUp: func(n *node) { gossipAddr <- n.gossip.Addr() }})
		done <- result{n, err}
	}()
	var seedGossip string
	select {
	case seedGossip = <-gossipAddr:
	case <-time.After(20 * time.Second):
		t.Fatal("seed gossip did not start")
	}
	joiner := func(id string) *testNode {
		tn := &testNode{id: id, cfg: newTestConfig(t, id, filepath.Join(base, id))}
		tn.cfg.Cluster.Bootstrap = config.BootstrapFalse
		tn.cfg.Cluster.JoinAddresses = []string{seedGossip}
		startTestNode(t, tn)
		started = append(started, tn)
		return tn
	}
	j2 := joiner("s2")
	// With two of three members the seed must not bootstrap: nobody has a leader.
	for end := time.Now().Add(4 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if e, _ := j2.n.parts(); e != nil {
			if _, addr := e.Leader(); addr != "" {
				t.Fatal("a leader exists with only two of expect_nodes=3 members")
			}
		}
		select {
		case r := <-done:
			t.Fatalf("seed finished starting with two members: %v", r.err)
		default:
		}
	}
	joiner("s3")
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("seed did not bootstrap after the third member joined")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	seed.n = r.n
	started = append(started, seed)
	eventually(t, 30*time.Second, "three voters from bootstrap", func() string {
		return expectSuffrage(map[string]string{"s1": "voter", "s2": "voter", "s3": "voter"})(nodesOf(t, j2))
	})
}

func TestRemoveLastVoterRefused(t *testing.T) {
	tn := startSolo(t, "solo", nil)
	// The CLI, against the same node.
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"nodes"}, 0, "solo"},
		{[]string{"health"}, 0, `"quorum_size": 1`},
		{[]string{"--json", "nodes"}, 0, `"raft_state": "Leader"`},
		{[]string{"remove", "solo"}, 1, "last_voter"},
		{[]string{"promote", "ghost"}, 1, "unknown_node"},
		{[]string{"frobnicate"}, 2, "usage"},
	} {
		var out, errOut strings.Builder
		args := append([]string{"--admin", tn.adminURL(), "--token", testToken}, tc.args...)
		code := runCluster(args, &out, &errOut)
		if code != tc.code || !strings.Contains(out.String()+errOut.String(), tc.want) {
			t.Errorf("nebulaio cluster %v: exit %d, output %q %q; want exit %d containing %q", tc.args, code, out.String(), errOut.String(), tc.code, tc.want)
		}
	}
	var out, errOut strings.Builder
	if code := runCluster([]string{"--admin", tn.adminURL(), "--token", "wrong", "nodes"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "unauthorized") {
		t.Errorf("CLI with a wrong token: exit %d, %q", code, errOut.String())
	}

	code, body := adminCall(t, tn.adminURL(), "DELETE", "/api/v1/admin/cluster/nodes/solo")
	if code != 409 || !strings.Contains(string(body), "last_voter") {
		t.Fatalf("removing the last voter: %d %s", code, body)
	}
	code, body = adminCall(t, tn.adminURL(), "POST", "/api/v1/admin/cluster/nodes/solo/demote")
	if code != 409 {
		t.Fatalf("demoting the last voter: %d %s", code, body)
	}
}

// TestManagementNodeHoldsNoObjectBytes: a management node (voter) and a storage node (non-voter);
// objects written through the management node land on the storage node, read back through
// either, and the management node's blob directory stays empty.
func TestManagementNodeHoldsNoObjectBytes(t *testing.T) {
	base := t.TempDir()
	mgmt := &testNode{id: "mgmt", cfg: newTestConfig(t, "mgmt", filepath.Join(base, "mgmt"))}
	mgmt.cfg.Cluster.NodeRole = config.RoleManagement
	startTestNode(t, mgmt)
	defer mgmt.n.kill()
	stor := &testNode{id: "stor", cfg: newTestConfig(t, "stor", filepath.Join(base, "stor"))}
	stor.cfg.Cluster.NodeRole = config.RoleStorage
	stor.cfg.Cluster.Bootstrap = config.BootstrapFalse
	stor.cfg.Cluster.JoinAddresses = []string{mgmt.gossipAddr()}
	startTestNode(t, stor)
	defer stor.n.kill()
	eventually(t, 30*time.Second, "storage node joins as non-voter", func() string {
		return expectSuffrage(map[string]string{"mgmt": "voter", "stor": "nonvoter"})(nodesOf(t, mgmt))
	})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	mc, sc := s3Client(mgmt), s3Client(stor)
	if _, err := mc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("planes")}); err != nil {
		t.Fatal(err)
	}
	payload := strings.Repeat("object bytes live on storage nodes. ", 30000) // ~1 MiB
	for i := 0; i < 5; i++ {
		key := fmt.Sprintf("obj-%d", i)
		if _, err := mc.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("planes"), Key: aws.String(key), Body: strings.NewReader(payload)}); err != nil {
			t.Fatalf("PUT %s through the management node: %v", key, err)
		}
		for _, c := range []*s3.Client{mc, sc} {
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("planes"), Key: aws.String(key)})
			if err != nil {
				t.Fatalf("GET %s: %v", key, err)
			}
			b, _ := io.ReadAll(out.Body)
			out.Body.Close()
			if string(b) != payload {
				t.Fatalf("GET %s returned %d bytes, want %d", key, len(b), len(payload))
			}
		}
	}
	if n := blobFiles(t, filepath.Join(mgmt.cfg.DataDir, "blobs")); n != 0 {
		t.Fatalf("the management node holds %d blob files", n)
	}
	if n := blobFiles(t, filepath.Join(stor.cfg.DataDir, "blobs")); n < 5 {
		t.Fatalf("the storage node holds %d blob files, want at least 5", n)
	}
}

func s3Client(tn *testNode) *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String("http://" + tn.n.s3Addr.String()), Region: "us-east-1", UsePathStyle: true,
		Credentials: awscreds.NewStaticCredentialsProvider(tn.cfg.S3.AccessKey, tn.cfg.S3.SecretKey, ""),
	})
}

// blobFiles counts the regular files under dir that are not the store's lock file.
func blobFiles(t *testing.T, dir string) int {
	n := 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && d.Name() != "LOCK" {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
