package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nebulaio/nebulaio/config"
	"github.com/nebulaio/nebulaio/internal/testcluster"
	"github.com/nebulaio/nebulaio/internal/testutil"
)

// TestClusterJoinPromoteDemoteRemove: three nodes form a cluster through join and become voters;
// a storage node joins as a non-voter and stays one; promote, demote and remove work through the
// admin API on any node; a killed node is seen dead within gossip's failure-detection bound and
// the gossip gauge drops; the same node restarted on new ports with its data rejoins without a
// duplicate raft server.
func TestClusterJoinPromoteDemoteRemove(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Nodes: 3})
	admin := c.AdminURL(0)
	testutil.WaitFor(t, 30*time.Second, "three voters", expectSuffrage(t, admin, map[string]string{"n1": "voter", "n2": "voter", "n3": "voter"}))

	n4 := c.Add(func(cfg *config.Config) {
		cfg.Cluster.NodeRole = config.RoleStorage
		cfg.Cluster.JoinAddresses = []string{c.GossipAddr(1)} // through a non-seed
	})
	testutil.WaitFor(t, 20*time.Second, "storage node joins as non-voter", expectSuffrage(t, admin, map[string]string{"n4": "nonvoter"}))
	// It stays a non-voter across several reconciliations (the reconciler runs every 2s).
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		if s := suffrage(nodesOf(t, admin)["n4"]); s != "nonvoter" {
			t.Fatalf("storage node became %s without being promoted", s)
		}
	}
	if got := nodesOf(t, admin)["n4"]; got.Role != "storage" || got.GossipStatus != "alive" {
		t.Fatalf("n4 listed as %+v", got)
	}

	// Promote and demote through a follower's admin API (forwarded to the leader).
	via := c.AdminURL(2)
	if code, body := adminChange(t, via, "POST", "/api/v1/admin/cluster/nodes/n4/promote"); code != 200 {
		t.Fatalf("promote: %d %s", code, body)
	}
	testutil.WaitFor(t, 10*time.Second, "n4 promoted", expectSuffrage(t, admin, map[string]string{"n4": "voter"}))
	if code, body := adminChange(t, via, "POST", "/api/v1/admin/cluster/nodes/n4/demote"); code != 200 {
		t.Fatalf("demote: %d %s", code, body)
	}
	testutil.WaitFor(t, 10*time.Second, "n4 demoted", expectSuffrage(t, admin, map[string]string{"n4": "nonvoter"}))

	// Unknown IDs are refused clearly.
	if code, body := adminChange(t, via, "DELETE", "/api/v1/admin/cluster/nodes/nope"); code != 404 || !strings.Contains(string(body), "unknown_node") {
		t.Fatalf("remove unknown: %d %s", code, body)
	}

	// Kill n4 (no leave): dead in gossip within the detection bound, the gauge drops; then
	// remove it. The bound counts four members: memberlist keeps a dead one for 30 s, and
	// with three alive and one dead it waits for confirmations only one member can give — a
	// fixed 10 s was below that worst case and failed under -race load (n3 below).
	detect := c.MustNode(0).Gossip().FailureDetectionBound(4)
	before := gaugeValue(t, admin, "nebulaio_gossip_nodes")
	c.Kill(n4)
	start := time.Now()
	testutil.WaitFor(t, detect, "n4 dead in gossip", gossipStatus(t, admin, "n4", "dead"))
	t.Logf("n4 declared dead after %s (bound %s)", time.Since(start).Round(100*time.Millisecond), detect)
	testutil.WaitFor(t, 5*time.Second, "gossip gauge drops", func() error {
		if after := gaugeValue(t, admin, "nebulaio_gossip_nodes"); after == before {
			return fmt.Errorf("nebulaio_gossip_nodes still %s", after)
		}
		return nil
	})
	if code, body := adminChange(t, via, "DELETE", "/api/v1/admin/cluster/nodes/n4"); code != 200 {
		t.Fatalf("remove: %d %s", code, body)
	}
	testutil.WaitFor(t, 10*time.Second, "n4 removed", expectSuffrage(t, admin, map[string]string{"n4": "absent"}))

	// Kill a voter and bring it back with the same ID and data on new ports.
	oldAddr := nodesOf(t, admin)["n3"].RaftAddress
	c.Kill(2)
	start = time.Now()
	testutil.WaitFor(t, detect, "n3 dead", gossipStatus(t, admin, "n3", "dead"))
	t.Logf("n3 declared dead after %s (bound %s)", time.Since(start).Round(100*time.Millisecond), detect)
	if s := suffrage(nodesOf(t, admin)["n3"]); s != "voter" {
		t.Fatalf("dead n3 is %s; dead members must stay voters until removed", s)
	}
	c.Restart(2)
	testutil.WaitFor(t, 30*time.Second, "n3 back as the same voter at its new address", func() error {
		got := nodesOf(t, admin)["n3"]
		if got.RaftAddress == oldAddr {
			return fmt.Errorf("raft address not updated")
		}
		if got.GossipStatus != "alive" || got.RaftState != "Follower" && got.RaftState != "Leader" {
			return fmt.Errorf("n3: %+v", got)
		}
		return expectSuffrage(t, admin, map[string]string{"n1": "voter", "n2": "voter", "n3": "voter"})()
	})
	code, body := adminCall(t, admin, "GET", "/api/v1/admin/cluster/health")
	var h struct {
		Healthy          bool `json:"healthy"`
		Voters           int  `json:"voters"`
		QuorumSize       int  `json:"quorum_size"`
		FailureTolerance int  `json:"failure_tolerance"`
	}
	if code != 200 || json.Unmarshal(body, &h) != nil || !h.Healthy || h.Voters != 3 || h.QuorumSize != 2 {
		t.Fatalf("health: %d %s", code, body)
	}
	c.Verify()
}

// gossipStatus checks that the admin API at adminURL shows node id with the gossip status want.
func gossipStatus(t *testing.T, adminURL, id, want string) func() error {
	return func() error {
		if s := nodesOf(t, adminURL)[id].GossipStatus; s != want {
			return fmt.Errorf("gossip status %s", s)
		}
		return nil
	}
}

// TestExpectNodesBootstrapsOnlyWithAllMembers: a bootstrap node with expect_nodes 3 does not
// start raft with two members present, and bootstraps all three as voters once the third joins.
func TestExpectNodesBootstrapsOnlyWithAllMembers(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Nodes: 3, Configure: func(i int, cfg *config.Config) {
		if i == 0 {
			cfg.Cluster.ExpectNodes = 3
		}
	}})
	c.Start(0) // returns once its gossip runs: node.Open waits for expect_nodes voters
	c.Start(1)
	c.WaitOpen(1)
	// With two of three members the seed must not bootstrap: nobody has a leader.
	for end := time.Now().Add(4 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if _, addr := c.MustNode(1).Engine().Leader(); addr != "" {
			t.Fatal("a leader exists with only two of expect_nodes=3 members")
		}
		if c.Opened(0) {
			t.Fatal("the seed finished starting with two members")
		}
	}
	c.Start(2)
	c.WaitOpen(2)
	testutil.WaitUntil(t, 30*time.Second, "the seed bootstrapped after the third member joined", func() bool { return c.Opened(0) })
	c.WaitOpen(0)
	testutil.WaitFor(t, 30*time.Second, "three voters from bootstrap",
		expectSuffrage(t, c.AdminURL(1), map[string]string{"n1": "voter", "n2": "voter", "n3": "voter"}))
	c.Verify()
}

// TestRemoveLastVoterRefused: removing or demoting the only voter is refused with 409.
func TestRemoveLastVoterRefused(t *testing.T) {
	c := solo(t, nil)
	code, body := adminCall(t, c.AdminURL(0), "DELETE", "/api/v1/admin/cluster/nodes/n1")
	if code != 409 || !strings.Contains(string(body), "last_voter") {
		t.Fatalf("removing the last voter: %d %s", code, body)
	}
	code, body = adminCall(t, c.AdminURL(0), "POST", "/api/v1/admin/cluster/nodes/n1/demote")
	if code != 409 {
		t.Fatalf("demoting the last voter: %d %s", code, body)
	}
	// A refused removal records nothing: the node is not taken for removed.
	if code, body := adminCall(t, c.AdminURL(0), "DELETE", "/api/v1/admin/cluster/nodes/n1?force=true"); code != 409 {
		t.Fatalf("force-removing the last voter: %d %s", code, body)
	}
	if code, body := adminCall(t, c.AdminURL(0), "GET", "/api/v1/admin/cluster/nodes"); code != 200 || strings.Contains(string(body), `"removed"`) {
		t.Fatalf("a refused removal shows: %d %s", code, body)
	}
	if resp, err := http.Get(c.AdminURL(0) + "/health/ready"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("ready after a refused removal: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	c.Verify()
}

// TestManagementNodeHoldsNoObjectBytes: a management node (voter) and a storage node (non-voter);
// objects written through the management node land on the storage node, read back through
// either, and the management node's blob directory stays empty.
func TestManagementNodeHoldsNoObjectBytes(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Nodes: 2, Configure: func(i int, cfg *config.Config) {
		cfg.Cluster.NodeRole = []string{config.RoleManagement, config.RoleStorage}[i]
	}})
	const mgmt, stor = 0, 1
	testutil.WaitFor(t, 30*time.Second, "storage node joins as non-voter",
		expectSuffrage(t, c.AdminURL(mgmt), map[string]string{"n1": "voter", "n2": "nonvoter"}))

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := c.S3Client(mgmt).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("planes")}); err != nil {
		t.Fatal(err)
	}
	payload := strings.Repeat("object bytes live on storage nodes. ", 30000) // ~1 MiB
	for i := 0; i < 5; i++ {
		key := fmt.Sprintf("obj-%d", i)
		if err := c.PutObject(mgmt, "planes", key, []byte(payload)); err != nil {
			t.Fatalf("PUT %s through the management node: %v", key, err)
		}
		for _, via := range []int{mgmt, stor} {
			out, err := c.S3Client(via).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("planes"), Key: aws.String(key)})
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
	if n := blobFiles(t, filepath.Join(c.Config(mgmt).DataDir, "blobs")); n != 0 {
		t.Fatalf("the management node holds %d blob files", n)
	}
	if n := blobFiles(t, filepath.Join(c.Config(stor).DataDir, "blobs")); n < 5 {
		t.Fatalf("the storage node holds %d blob files, want at least 5", n)
	}
	c.Verify()
}
