package node_test

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nebulaio/nebulaio/config"
	"github.com/nebulaio/nebulaio/internal/testcluster"
	"github.com/nebulaio/nebulaio/internal/testutil"
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
