package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nebulaio/nebulaio/config"
	"github.com/nebulaio/nebulaio/dataplane"
	"github.com/nebulaio/nebulaio/fsm"
)

// dataCluster starts nodes ids[0] (bootstrap) and the rest joining it, with the given roles
// (default hybrid), repair every 300ms, and waits until every node sees the expected raft
// membership and every storage-capable member alive.
func startDataCluster(t *testing.T, ids []string, roles map[string]string) map[string]*testNode {
	t.Helper()
	base := t.TempDir()
	nodes := map[string]*testNode{}
	want := map[string]string{}
	storage := 0
	for i, id := range ids {
		tn := &testNode{id: id, dir: filepath.Join(base, id), cfg: newTestConfig(t, id, filepath.Join(base, id))}
		tn.cfg.Cluster.RepairInterval = config.Duration(300 * time.Millisecond)
		tn.cfg.Cluster.RepairDeadAfter = config.Duration(time.Hour)
		tn.cfg.Cluster.RepairMiBPerSec = 0
		if r := roles[id]; r != "" {
			tn.cfg.Cluster.NodeRole = r
		}
		want[id] = "voter"
		if tn.cfg.Cluster.NodeRole == config.RoleStorage {
			want[id] = "nonvoter"
		}
		if tn.cfg.Cluster.NodeRole != config.RoleManagement {
			storage++
		}
		if i > 0 {
			tn.cfg.Cluster.Bootstrap = config.BootstrapFalse
			tn.cfg.Cluster.JoinAddresses = []string{nodes[ids[0]].gossipAddr()}
		}
		startTestNode(t, tn)
		nodes[id] = tn
	}
	t.Cleanup(func() {
		for _, tn := range nodes {
			if tn.n != nil {
				tn.n.kill()
			}
		}
	})
	first := nodes[ids[0]]
	eventually(t, 45*time.Second, "cluster formed", func() string {
		if s := expectSuffrage(want)(nodesOf(t, first)); s != "" {
			return s
		}
		for _, tn := range nodes {
			if f := tn.n.dataPlane().Factor(); f != min(3, storage) {
				return fmt.Sprintf("%s sees replication factor %d", tn.id, f)
			}
		}
		return ""
	})
	return nodes
}

type storedObject struct {
	key  string
	sum  [32]byte
	size int
}

// putObjects writes n objects of mixed sizes named prefix-i, round-robin through clients.
func putObjects(t *testing.T, clients []*s3.Client, bucket, prefix string, n int) []storedObject {
	t.Helper()
	sizes := []int{0, 1, 1500, 64<<10 + 7, 300 << 10, 600<<10 + 3}
	objs := make([]storedObject, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			data := make([]byte, sizes[i%len(sizes)])
			rand.New(rand.NewSource(int64(i))).Read(data)
			key := fmt.Sprintf("%s-%03d", prefix, i)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			_, err := clients[i%len(clients)].PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)})
			if err != nil {
				errs <- fmt.Errorf("PUT %s: %w", key, err)
				return
			}
			objs[i] = storedObject{key: key, sum: sha256.Sum256(data), size: len(data)}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return objs
}

// checkObjects reads every object through c and compares its bytes.
func checkObjects(t *testing.T, c *s3.Client, bucket string, objs []storedObject, via string) {
	t.Helper()
	for _, o := range objs {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(o.key)})
		if err != nil {
			cancel()
			t.Fatalf("GET %s through %s: %v", o.key, via, err)
		}
		data, err := io.ReadAll(out.Body)
		out.Body.Close()
		cancel()
		if err != nil || len(data) != o.size || sha256.Sum256(data) != o.sum {
			t.Fatalf("GET %s through %s: %d bytes (%v), want %d intact bytes", o.key, via, len(data), err, o.size)
		}
	}
}

// blobIDs lists the blobs the metadata on tn references.
func blobIDs(t *testing.T, tn *testNode) []string {
	t.Helper()
	var ids []string
	err := tn.n.fsm.WalkBlobs(context.Background(), func(b fsm.BlobRef) error {
		ids = append(ids, b.ID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(ids)
	return ids
}

// missingCopies reports the blobs of ids that do not have an intact-looking copy (header and
// length) on every node of among.
func missingCopies(ids []string, among []*testNode) string {
	missing := 0
	example := ""
	for _, id := range ids {
		for _, tn := range among {
			if _, err := tn.n.blobs.Stat(id); err != nil {
				missing++
				if example == "" {
					example = fmt.Sprintf("%s on %s: %v", id, tn.id, err)
				}
			}
		}
	}
	if missing > 0 {
		return fmt.Sprintf("%d copies missing, e.g. %s", missing, example)
	}
	return ""
}

type healthJSON struct {
	Repair *dataplane.RepairStats `json:"repair"`
	Error  string                 `json:"repair_error"`
}

func repairStats(t *testing.T, tn *testNode) healthJSON {
	t.Helper()
	code, body := adminCall(t, tn.adminURL(), "GET", "/api/v1/admin/cluster/health")
	var h healthJSON
	if code != 200 || json.Unmarshal(body, &h) != nil {
		t.Fatalf("health: %d %s", code, body)
	}
	return h
}

func leaderOf(nodes map[string]*testNode) *testNode {
	for _, tn := range nodes {
		if tn.n != nil {
			if e, _ := tn.n.parts(); e != nil && e.IsLeader() {
				return tn
			}
		}
	}
	return nil
}

func followerOf(nodes map[string]*testNode, ids []string) *testNode {
	l := leaderOf(nodes)
	for _, id := range ids {
		if tn := nodes[id]; tn != l && tn.n != nil {
			return tn
		}
	}
	return nil
}

// TestObjectsSurviveNodeLossAndRepairRestoresCopies: three hybrid nodes, factor 3. Every
// object's bytes are on all three; with one node stopped every object stays readable
// byte-identical through each remaining node and writes still succeed; when the node comes
// back, repair gives it a copy of everything written while it was away.
func TestObjectsSurviveNodeLossAndRepairRestoresCopies(t *testing.T) {
	ids := []string{"h1", "h2", "h3"}
	nodes := startDataCluster(t, ids, nil)
	clients := []*s3.Client{s3Client(nodes["h1"]), s3Client(nodes["h2"]), s3Client(nodes["h3"])}
	ctx := context.Background()
	if _, err := clients[0].CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("rep")}); err != nil {
		t.Fatal(err)
	}
	objs := putObjects(t, clients, "rep", "obj", 200)
	all := []*testNode{nodes["h1"], nodes["h2"], nodes["h3"]}
	if m := missingCopies(blobIDs(t, nodes["h1"]), all); m != "" {
		t.Fatalf("after the writes: %s", m)
	}

	victim := followerOf(nodes, ids)
	victim.n.kill()
	victim.n = nil
	var rest []*testNode
	for _, id := range ids {
		if nodes[id] != victim {
			rest = append(rest, nodes[id])
		}
	}
	for _, tn := range rest {
		checkObjects(t, s3Client(tn), "rep", objs, tn.id)
	}
	later := putObjects(t, []*s3.Client{s3Client(rest[0]), s3Client(rest[1])}, "rep", "later", 24)
	for _, tn := range rest {
		checkObjects(t, s3Client(tn), "rep", later, tn.id)
	}

	startTestNode(t, victim)
	eventually(t, 60*time.Second, "repair restores three copies of everything", func() string {
		return missingCopies(blobIDs(t, rest[0]), all)
	})
	checkObjects(t, s3Client(victim), "rep", later, victim.id)
	h := repairStats(t, victim) // a follower reports the leader's figures
	if h.Repair == nil || h.Repair.CopiesMade < 1 || h.Repair.Passes == 0 || h.Repair.Factor != 3 {
		t.Fatalf("health repair figures after the repair: %+v (%s)", h.Repair, h.Error)
	}
}

// TestRemovedNodeAndCorruptCopyAreRepaired: four hybrid nodes, factor 3. A node stopped and
// removed through the admin API has its copies re-created on the others; a blob file
// corrupted on disk is still read correctly, and its copy is replaced.
func TestRemovedNodeAndCorruptCopyAreRepaired(t *testing.T) {
	ids := []string{"r1", "r2", "r3", "r4"}
	nodes := startDataCluster(t, ids, nil)
	c1 := s3Client(nodes["r1"])
	ctx := context.Background()
	if _, err := c1.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("removal")}); err != nil {
		t.Fatal(err)
	}
	objs := putObjects(t, []*s3.Client{c1, s3Client(nodes["r2"])}, "removal", "obj", 40)

	victim := followerOf(nodes, []string{"r4", "r3", "r2"})
	var rest []*testNode
	for _, id := range ids {
		if nodes[id] != victim {
			rest = append(rest, nodes[id])
		}
	}
	victim.n.kill()
	victim.n = nil
	if code, body := adminChange(t, rest[0].adminURL(), "DELETE", "/api/v1/admin/cluster/nodes/"+victim.id); code != 200 {
		t.Fatalf("remove %s: %d %s", victim.id, code, body)
	}
	start := time.Now()
	eventually(t, 30*time.Second, "copies of the removed node re-created on the other three", func() string {
		return missingCopies(blobIDs(t, rest[0]), rest)
	})
	t.Logf("repair re-created the removed node's copies in %s", time.Since(start).Round(100*time.Millisecond))
	for _, tn := range rest {
		checkObjects(t, s3Client(tn), "removal", objs, tn.id)
	}

	// Corrupt the copy of a large object's blob on one node, then read it through that node.
	target := rest[1]
	out, err := s3Client(target).HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("removal"), Key: aws.String(objs[5].key)})
	if err != nil || aws.ToInt64(out.ContentLength) < 100<<10 {
		t.Fatalf("head %s: %v", objs[5].key, err)
	}
	o, err := target.n.fsm.Object("removal", objs[5].key)
	if err != nil || len(o.Blobs) != 1 {
		t.Fatalf("object %s: %+v %v", objs[5].key, o, err)
	}
	id := o.Blobs[0].ID
	flipByteInBlob(t, target.n.blobs.Dir(), id)
	if err := target.n.blobs.Verify(id); err == nil {
		t.Fatal("the corruption was not detectable")
	}
	checkObjects(t, s3Client(target), "removal", objs[5:6], target.id)
	eventually(t, 30*time.Second, "the corrupt copy replaced by a good one", func() string {
		if err := target.n.blobs.Verify(id); err != nil {
			return err.Error()
		}
		return ""
	})
	if v := gaugeValue(t, target, "nebulaio_data_corrupt_reads_total"); v == "0" || v == "" {
		t.Fatalf("nebulaio_data_corrupt_reads_total on %s is %q", target.id, v)
	}
}

func flipByteInBlob(t *testing.T, dir, id string) {
	t.Helper()
	var path string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == id {
			path = p
		}
		return nil
	})
	if path == "" {
		t.Fatalf("no file for blob %s under %s", id, dir)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
}

// TestSeparatePlanes: three management and three storage nodes. Objects written through the
// management nodes are readable through all six; their bytes are on the storage nodes, three
// copies each, and the management nodes hold none.
func TestSeparatePlanes(t *testing.T) {
	ids := []string{"m1", "m2", "m3", "s1", "s2", "s3"}
	roles := map[string]string{"m1": config.RoleManagement, "m2": config.RoleManagement, "m3": config.RoleManagement,
		"s1": config.RoleStorage, "s2": config.RoleStorage, "s3": config.RoleStorage}
	nodes := startDataCluster(t, ids, roles)
	mc := []*s3.Client{s3Client(nodes["m1"]), s3Client(nodes["m2"]), s3Client(nodes["m3"])}
	if _, err := mc[1].CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("planes")}); err != nil {
		t.Fatal(err)
	}
	objs := putObjects(t, mc, "planes", "obj", 30)
	for _, id := range ids {
		checkObjects(t, s3Client(nodes[id]), "planes", objs, id)
	}
	for _, id := range []string{"m1", "m2", "m3"} {
		if n := blobFiles(t, filepath.Join(nodes[id].cfg.DataDir, "blobs")); n != 0 {
			t.Fatalf("management node %s holds %d blob files", id, n)
		}
	}
	stores := []*testNode{nodes["s1"], nodes["s2"], nodes["s3"]}
	if m := missingCopies(blobIDs(t, nodes["m1"]), stores); m != "" {
		t.Fatalf("storage nodes: %s", m)
	}

	// Deleting objects through a management node deletes their copies on every storage node.
	var freed []string
	for _, o := range objs[:6] {
		ob, err := nodes["m2"].n.fsm.Object("planes", o.key)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range ob.Blobs {
			freed = append(freed, b.ID)
		}
		if _, err := mc[2].DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String("planes"), Key: aws.String(o.key)}); err != nil {
			t.Fatal(err)
		}
	}
	if len(freed) == 0 {
		t.Fatal("the deleted objects had no blobs")
	}
	eventually(t, 20*time.Second, "copies of deleted objects removed from every storage node", func() string {
		for _, id := range freed {
			for _, tn := range stores {
				if _, err := tn.n.blobs.Stat(id); err == nil {
					return fmt.Sprintf("blob %s still on %s", id, tn.id)
				}
			}
		}
		return ""
	})
	if m := missingCopies(blobIDs(t, nodes["m1"]), stores); m != "" {
		t.Fatalf("after the deletes, the remaining objects: %s", m)
	}
}
