package node_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nebulaio/nebulaio/config"
	"github.com/nebulaio/nebulaio/internal/testcluster"
	"github.com/nebulaio/nebulaio/internal/testutil"
	"github.com/nebulaio/nebulaio/node"
)

// ecShards lists the shard IDs of an erasure-coded 2+1 blob.
func ecShards(id string) []string {
	return []string{id + ".s0", id + ".s1", id + ".s2"}
}

// shardSpread checks that every erasure-coded blob of ids has its three shards on three
// distinct nodes of among (one each), and returns how many such blobs there are.
func shardSpread(c *testcluster.Cluster, ids []string, among []int) (int, error) {
	n := 0
	for _, id := range ids {
		if !strings.Contains(id, ".e2p1") {
			continue
		}
		n++
		for s, sid := range ecShards(id) {
			var on []string
			for _, i := range among {
				if _, err := c.MustNode(i).Blobs().Stat(sid); err == nil {
					on = append(on, c.ID(i))
				}
			}
			if len(on) != 1 {
				return n, fmt.Errorf("blob %s shard %d on %v, want one node", id, s, on)
			}
		}
	}
	return n, nil
}

// TestErasureCodedObjectsSurviveLeaderKill: three hybrid nodes with cluster.erasure 2+1 for
// objects of 100 KiB and more. Large objects are stored as three shards, one per node, and
// small ones replicated; with the leader killed (node.Kill, as kill -9) every acknowledged
// object reads back byte-identical through the other two (reconstructed where a data shard
// was on the dead node); a large PUT then falls back to replication; after the restart, a
// shard deleted on one node is rebuilt there by the leader's repair.
func TestErasureCodedObjectsSurviveLeaderKill(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Configure: func(i int, cfg *config.Config) {
		cfg.Cluster.RepairInterval = config.Duration(300 * time.Millisecond)
		cfg.Cluster.RepairDeadAfter = config.Duration(time.Hour)
		cfg.Cluster.RepairMiBPerSec = 0
		cfg.Cluster.Erasure = "2+1"
		cfg.Cluster.ErasureMinSize = 100 << 10
	}})
	all := []int{0, 1, 2}
	testutil.WaitFor(t, 45*time.Second, "every node sees three storage nodes", func() error {
		for _, i := range all {
			if f := c.MustNode(i).Data().Factor(); f != 3 {
				return fmt.Errorf("%s sees replication factor %d", c.ID(i), f)
			}
		}
		return nil
	})
	ctx := context.Background()
	if _, err := c.S3Client(0).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("ecbucket")}); err != nil {
		t.Fatal(err)
	}
	objs := putObjects(t, c, all, "ecbucket", "obj", 36)
	ids := blobIDs(t, c, 0)
	n, err := shardSpread(c, ids, all)
	if err != nil {
		t.Fatal(err)
	}
	if n != 12 { // sizes 300 KiB and 600 KiB+3 of every six
		t.Fatalf("%d erasure-coded blobs of %d, want 12", n, len(ids))
	}

	leader := c.WaitForLeader()
	c.Kill(leader)
	c.WaitForNewLeader(leader)
	rest := others(c, leader)
	for _, i := range rest {
		checkObjects(t, c.S3Client(i), "ecbucket", objs, c.ID(i))
	}
	// Once the survivors see the leader gone, a large PUT is replicated (2+1 cannot write
	// its three shards); until then it may answer 503.
	big := make([]byte, 400<<10)
	rand.New(rand.NewSource(7)).Read(big)
	testutil.WaitFor(t, 30*time.Second, "a large PUT succeeds with one node down", func() error {
		return c.PutObject(rest[0], "ecbucket", "while-down", big)
	})
	testutil.WaitFor(t, 10*time.Second, "the object written with a node down is one replicated blob", func() error {
		o, err := c.MustNode(rest[0]).FSM().Object("ecbucket", "while-down") // applied here soon after the commit
		if err != nil || len(o.Blobs) != 1 || strings.Contains(o.Blobs[0].ID, ".e") {
			return fmt.Errorf("%+v %v", o.Blobs, err)
		}
		return nil
	})

	c.Restart(leader)
	testutil.WaitFor(t, 30*time.Second, "the restarted node serves its shards", func() error {
		_, err := shardSpread(c, ids, all)
		return err
	})
	checkObjects(t, c.S3Client(leader), "ecbucket", objs, c.ID(leader))

	// A shard lost on one node is rebuilt there by repair.
	var victim string
	for _, id := range ids {
		if strings.Contains(id, ".e2p1") {
			victim = id
			break
		}
	}
	holder := -1
	for _, i := range all {
		if _, err := c.MustNode(i).Blobs().Stat(victim + ".s1"); err == nil {
			holder = i
		}
	}
	if err := c.MustNode(holder).Blobs().Delete(victim + ".s1"); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 30*time.Second, "repair rebuilds the deleted shard", func() error {
		return c.MustNode(holder).Blobs().Verify(victim + ".s1")
	})
	for _, i := range all {
		checkObjects(t, c.S3Client(i), "ecbucket", objs, c.ID(i))
	}
	c.Verify()
}

// TestRestoreErasureCodedFromMergedCopies: a three-node 2+1 cluster is backed up and lost.
// One node's blob copies hold one shard of each erasure-coded blob: the restore refuses,
// counting those blobs missing; merged with a second node's copies (two shards of three) the
// restore accepts them (deep check), and the restored node serves every object, reconstructing
// where a data shard is the one left behind.
func TestRestoreErasureCodedFromMergedCopies(t *testing.T) {
	raft := testutil.FreeAddr(t, false)
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Configure: func(i int, cfg *config.Config) {
		cfg.Cluster.Erasure = "2+1"
		cfg.Cluster.ErasureMinSize = 100 << 10
		if i == 0 {
			cfg.Cluster.RaftAddress = raft
		}
	}})
	c.WaitForLeader()
	c.WaitFormed()
	testutil.WaitFor(t, 45*time.Second, "every node sees three storage nodes", func() error {
		for _, i := range []int{0, 1, 2} {
			if f := c.MustNode(i).Data().Factor(); f != 3 {
				return fmt.Errorf("%s sees replication factor %d", c.ID(i), f)
			}
		}
		return nil
	})
	if _, err := c.S3Client(0).CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("ecrestore")}); err != nil {
		t.Fatal(err)
	}
	objs := putObjects(t, c, []int{0, 1, 2}, "ecrestore", "obj", 24)
	c.VerifyFSMs()
	path, _ := takeBackup(t, c, 1)
	ec := 0
	for _, id := range blobIDs(t, c, 0) {
		if strings.Contains(id, ".e2p1") {
			ec++
		}
	}
	if ec != 8 {
		t.Fatalf("%d erasure-coded blobs, want 8", ec)
	}

	copies, dataDir := loseClusterKeepBlobs(t, c)
	mergeBlobs(t, copies, dataDir, "n1")
	c.Config(0).Cluster.JoinToken = ""
	res, err := node.Restore(*c.Config(0), path, node.RestoreOptions{})
	if !errors.Is(err, node.ErrBlobsMissing) || res.Blobs.Damaged != ec || res.Blobs.Missing != 0 {
		t.Fatalf("restore with one shard of each erasure-coded blob: %v, %+v; want %d too few shards", err, res.Blobs, ec)
	}
	mergeBlobs(t, copies, dataDir, "n2")
	if res, err = node.Restore(*c.Config(0), path, node.RestoreOptions{DeepBlobCheck: true}); err != nil {
		t.Fatalf("restore with two shards of three: %v, %+v", err, res.Blobs)
	}
	startRestored(t, c)
	checkObjects(t, c.S3Client(0), "ecrestore", objs, "n1")
}

// loseClusterKeepBlobs kills every node of c, copies each one's blob directory into a
// directory of its own under copies (named by node ID), and removes their data directories.
// It returns copies and node 0's data directory.
func loseClusterKeepBlobs(t *testing.T, c *testcluster.Cluster) (copies, dataDir string) {
	t.Helper()
	copies = t.TempDir()
	for i := range c.Len() {
		c.Kill(i)
		copyTree(t, filepath.Join(c.Config(i).DataDir, "blobs"), filepath.Join(copies, c.ID(i)))
	}
	for i := range c.Len() {
		if err := os.RemoveAll(c.Config(i).DataDir); err != nil {
			t.Fatal(err)
		}
	}
	return copies, c.Config(0).DataDir
}

// mergeBlobs merges the blob copies of the named nodes (under copies) into dataDir/blobs, as
// the backup guide does with cp -a.
func mergeBlobs(t *testing.T, copies, dataDir string, ids ...string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dataDir, "blobs"), 0o750); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if out, err := exec.Command("cp", "-a", filepath.Join(copies, id)+"/.", filepath.Join(dataDir, "blobs")).CombinedOutput(); err != nil {
			t.Fatalf("merge %s's blobs: %v %s", id, err, out)
		}
	}
}

// startRestored starts node 0 of c after a restore and waits until it leads.
func startRestored(t *testing.T, c *testcluster.Cluster) {
	t.Helper()
	c.Start(0)
	c.WaitOpen(0)
	if l := c.WaitForLeader(); l != 0 {
		t.Fatalf("leader %d", l)
	}
}
