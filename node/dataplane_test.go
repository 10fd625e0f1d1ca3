package node_test

import (
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
	"github.com/nebulaio/nebulaio/internal/testcluster"
	"github.com/nebulaio/nebulaio/internal/testutil"
)

// startDataCluster starts n nodes (node 0 bootstraps, the others join it) with the given
// roles by index (default hybrid) and repair every 300ms, then configure (if any), and waits
// until the cluster formed and every node's data plane sees the replication factor the
// storage-capable members allow.
func startDataCluster(t *testing.T, n int, roles map[int]string, configure ...func(*config.Config)) *testcluster.Cluster {
	t.Helper()
	storage := 0
	for i := 0; i < n; i++ {
		if roles[i] != config.RoleManagement {
			storage++
		}
	}
	c := testcluster.Start(t, testcluster.Options{Nodes: n, Configure: func(i int, cfg *config.Config) {
		cfg.Cluster.RepairInterval = config.Duration(300 * time.Millisecond)
		cfg.Cluster.RepairDeadAfter = config.Duration(time.Hour)
		cfg.Cluster.RepairMiBPerSec = 0
		if r := roles[i]; r != "" {
			cfg.Cluster.NodeRole = r
		}
		for _, f := range configure {
			f(cfg)
		}
	}})
	testutil.WaitFor(t, 45*time.Second, "every node sees the replication factor", func() error {
		for _, i := range c.Running() {
			if f := c.MustNode(i).Data().Factor(); f != min(3, storage) {
				return fmt.Errorf("%s sees replication factor %d", c.ID(i), f)
			}
		}
		return nil
	})
	return c
}

// noInline turns inline objects off, for tests of where blob files go: their small objects
// must be blob files.
func noInline(cfg *config.Config) { cfg.Performance.InlineObjectSize = 0 }

type storedObject struct {
	key  string
	sum  [32]byte
	size int
}

// putObjects writes n objects of mixed sizes named prefix-i, round-robin through the nodes
// via, and records them as acknowledged.
func putObjects(t *testing.T, c *testcluster.Cluster, via []int, bucket, prefix string, n int) []storedObject {
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
			if err := c.PutObject(via[i%len(via)], bucket, key, data); err != nil {
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

// blobIDs lists the stored blobs the metadata on node i references (not the inline ones,
// whose bytes are in the metadata: the data plane has no copies of them).
func blobIDs(t *testing.T, c *testcluster.Cluster, i int) []string {
	t.Helper()
	var ids []string
	err := c.MustNode(i).FSM().WalkBlobs(context.Background(), func(b fsm.BlobRef) error {
		if !b.Inline {
			ids = append(ids, b.ID)
		}
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
func missingCopies(c *testcluster.Cluster, ids []string, among []int) error {
	missing := 0
	example := ""
	for _, id := range ids {
		for _, i := range among {
			if _, err := c.MustNode(i).Blobs().Stat(id); err != nil {
				missing++
				if example == "" {
					example = fmt.Sprintf("%s on %s: %v", id, c.ID(i), err)
				}
			}
		}
	}
	if missing > 0 {
		return fmt.Errorf("%d copies missing, e.g. %s", missing, example)
	}
	return nil
}

type healthJSON struct {
	Repair *dataplane.RepairStats `json:"repair"`
	Error  string                 `json:"repair_error"`
}

func repairStats(t *testing.T, adminURL string) healthJSON {
	t.Helper()
	code, body := adminCall(t, adminURL, "GET", "/api/v1/admin/cluster/health")
	var h healthJSON
	if code != 200 || json.Unmarshal(body, &h) != nil {
		t.Fatalf("health: %d %s", code, body)
	}
	return h
}

// followerAmong returns the first of order that runs and does not lead.
func followerAmong(t *testing.T, c *testcluster.Cluster, order ...int) int {
	t.Helper()
	l := c.WaitForLeader()
	for _, i := range order {
		if i != l && c.Node(i) != nil {
			return i
		}
	}
	t.Fatalf("no follower among %v", order)
	return -1
}

// others lists the nodes of c but skip.
func others(c *testcluster.Cluster, skip int) []int {
	var out []int
	for i := range c.Len() {
		if i != skip {
			out = append(out, i)
		}
	}
	return out
}

// TestObjectsSurviveNodeLossAndRepairRestoresCopies: three hybrid nodes, factor 3. Every
// object's bytes are on all three; with one node stopped every object stays readable
// byte-identical through each remaining node and writes still succeed; when the node comes
// back, repair gives it a copy of everything written while it was away.
func TestObjectsSurviveNodeLossAndRepairRestoresCopies(t *testing.T) {
	c := startDataCluster(t, 3, nil)
	all := []int{0, 1, 2}
	if _, err := c.S3Client(0).CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("rep")}); err != nil {
		t.Fatal(err)
	}
	objs := putObjects(t, c, all, "rep", "obj", 200)
	if err := missingCopies(c, blobIDs(t, c, 0), all); err != nil {
		t.Fatalf("after the writes: %v", err)
	}

	victim := followerAmong(t, c, all...)
	c.Kill(victim)
	rest := others(c, victim)
	for _, i := range rest {
		checkObjects(t, c.S3Client(i), "rep", objs, c.ID(i))
	}
	later := putObjects(t, c, rest, "rep", "later", 24)
	for _, i := range rest {
		checkObjects(t, c.S3Client(i), "rep", later, c.ID(i))
	}

	c.Restart(victim)
	testutil.WaitFor(t, 60*time.Second, "repair restores three copies of everything", func() error {
		return missingCopies(c, blobIDs(t, c, rest[0]), all)
	})
	checkObjects(t, c.S3Client(victim), "rep", later, c.ID(victim))
	h := repairStats(t, c.AdminURL(victim)) // a follower reports the leader's figures
	if h.Repair == nil || h.Repair.CopiesMade < 1 || h.Repair.Passes == 0 || h.Repair.Factor != 3 {
		t.Fatalf("health repair figures after the repair: %+v (%s)", h.Repair, h.Error)
	}
	c.Verify()
}

// TestRemovedNodeAndCorruptCopyAreRepaired: four hybrid nodes, factor 3. A node stopped and
// removed through the admin API has its copies re-created on the others; a blob file
// corrupted on disk is still read correctly, and its copy is replaced.
func TestRemovedNodeAndCorruptCopyAreRepaired(t *testing.T) {
	c := startDataCluster(t, 4, nil)
	ctx := context.Background()
	if _, err := c.S3Client(0).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("removal")}); err != nil {
		t.Fatal(err)
	}
	objs := putObjects(t, c, []int{0, 1}, "removal", "obj", 40)

	victim := followerAmong(t, c, 3, 2, 1)
	rest := others(c, victim)
	c.Kill(victim)
	if code, body := adminChange(t, c.AdminURL(rest[0]), "DELETE", "/api/v1/admin/cluster/nodes/"+c.ID(victim)); code != 200 {
		t.Fatalf("remove %s: %d %s", c.ID(victim), code, body)
	}
	start := time.Now()
	testutil.WaitFor(t, 30*time.Second, "copies of the removed node re-created on the other three", func() error {
		return missingCopies(c, blobIDs(t, c, rest[0]), rest)
	})
	t.Logf("repair re-created the removed node's copies in %s", time.Since(start).Round(100*time.Millisecond))
	for _, i := range rest {
		checkObjects(t, c.S3Client(i), "removal", objs, c.ID(i))
	}

	// Corrupt the copy of a large object's blob on one node, then read it through that node.
	target := rest[1]
	tn := c.MustNode(target)
	out, err := c.S3Client(target).HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("removal"), Key: aws.String(objs[5].key)})
	if err != nil || aws.ToInt64(out.ContentLength) < 100<<10 {
		t.Fatalf("head %s: %v", objs[5].key, err)
	}
	o, err := tn.FSM().Object("removal", objs[5].key)
	if err != nil || len(o.Blobs) != 1 {
		t.Fatalf("object %s: %+v %v", objs[5].key, o, err)
	}
	id := o.Blobs[0].ID
	flipByteInBlob(t, tn.Blobs().Dir(), id)
	if err := tn.Blobs().Verify(id); err == nil {
		t.Fatal("the corruption was not detectable")
	}
	checkObjects(t, c.S3Client(target), "removal", objs[5:6], c.ID(target))
	testutil.WaitFor(t, 30*time.Second, "the corrupt copy replaced by a good one", func() error { return tn.Blobs().Verify(id) })
	if v := gaugeValue(t, c.AdminURL(target), "nebulaio_data_corrupt_reads_total"); v == "0" || v == "" {
		t.Fatalf("nebulaio_data_corrupt_reads_total on %s is %q", c.ID(target), v)
	}
	c.Verify()
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
	mgmt, stores := []int{0, 1, 2}, []int{3, 4, 5}
	roles := map[int]string{0: config.RoleManagement, 1: config.RoleManagement, 2: config.RoleManagement,
		3: config.RoleStorage, 4: config.RoleStorage, 5: config.RoleStorage}
	c := startDataCluster(t, 6, roles)
	if _, err := c.S3Client(1).CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("planes")}); err != nil {
		t.Fatal(err)
	}
	objs := putObjects(t, c, mgmt, "planes", "obj", 30)
	for i := range c.Len() {
		checkObjects(t, c.S3Client(i), "planes", objs, c.ID(i))
	}
	for _, i := range mgmt {
		if n := blobFiles(t, filepath.Join(c.Config(i).DataDir, "blobs")); n != 0 {
			t.Fatalf("management node %s holds %d blob files", c.ID(i), n)
		}
	}
	// Inline objects are off while a voter is a management node: even the smallest objects'
	// bytes are on the storage nodes, none in the metadata the management nodes hold.
	for _, i := range mgmt {
		if inline, stored := inlineBlobs(t, c, i); inline != 0 || stored != len(objs) {
			t.Fatalf("metadata on %s references %d inline and %d stored blobs, want 0 and %d", c.ID(i), inline, stored, len(objs))
		}
	}
	if err := missingCopies(c, blobIDs(t, c, 0), stores); err != nil {
		t.Fatalf("storage nodes: %v", err)
	}

	// Deleting objects through a management node deletes their copies on every storage node.
	var freed []string
	for _, o := range objs[:6] {
		ob, err := c.MustNode(1).FSM().Object("planes", o.key)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range ob.Blobs {
			freed = append(freed, b.ID)
		}
		if _, err := c.S3Client(2).DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String("planes"), Key: aws.String(o.key)}); err != nil {
			t.Fatal(err)
		}
		c.Forget("planes", o.key)
	}
	if len(freed) == 0 {
		t.Fatal("the deleted objects had no blobs")
	}
	testutil.WaitFor(t, 20*time.Second, "copies of deleted objects removed from every storage node", func() error {
		for _, id := range freed {
			for _, i := range stores {
				if _, err := c.MustNode(i).Blobs().Stat(id); err == nil {
					return fmt.Errorf("blob %s still on %s", id, c.ID(i))
				}
			}
		}
		return nil
	})
	if err := missingCopies(c, blobIDs(t, c, 0), stores); err != nil {
		t.Fatalf("after the deletes, the remaining objects: %v", err)
	}
	c.Verify()
}
