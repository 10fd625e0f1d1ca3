package node_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/nebulaio/nebulaio/backup"
	"github.com/nebulaio/nebulaio/config"
	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/internal/testcluster"
	"github.com/nebulaio/nebulaio/internal/testutil"
	"github.com/nebulaio/nebulaio/node"
)

// inlineBlobs counts the blobs the metadata on node i references that are inline, and those
// that are not.
func inlineBlobs(t *testing.T, c *testcluster.Cluster, i int) (inline, stored int) {
	t.Helper()
	err := c.MustNode(i).FSM().WalkBlobs(context.Background(), func(b fsm.BlobRef) error {
		if b.Inline {
			inline++
		} else {
			stored++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return inline, stored
}

// inlineWriter writes small objects (0 bytes to the inline limit) through the given nodes on
// several goroutines until stopped, recording the acknowledged ones; writes that fail (the
// node killed, an election) are retried under a new key.
type inlineWriter struct {
	c       *testcluster.Cluster
	bucket  string
	mu      sync.Mutex
	acked   []storedObject
	stop    chan struct{}
	wg      sync.WaitGroup
	n       atomic.Int64
	failed  atomic.Int64
	limit   int
	through func() []int
}

func startInlineWriter(c *testcluster.Cluster, bucket string, limit, workers int, through func() []int) *inlineWriter {
	w := &inlineWriter{c: c, bucket: bucket, stop: make(chan struct{}), limit: limit, through: through}
	for g := 0; g < workers; g++ {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			rng := rand.New(rand.NewSource(int64(g)))
			clients := map[int]*s3.Client{}
			for {
				select {
				case <-w.stop:
					return
				default:
				}
				i := w.n.Add(1)
				size := rng.Intn(w.limit + 1)
				if i%7 == 0 {
					size = w.limit // the largest inline object
				}
				data := make([]byte, size)
				rng.Read(data)
				key := fmt.Sprintf("w%d/%06d", g, i)
				via := w.through()
				if len(via) == 0 {
					continue
				}
				node := via[int(i)%len(via)]
				cl, ok := clients[node]
				if !ok {
					if w.c.Node(node) == nil {
						continue
					}
					cl = w.c.S3Client(node)
					clients[node] = cl
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(key), Body: bytes.NewReader(data)})
				cancel()
				if err != nil {
					w.failed.Add(1)
					delete(clients, node)
					continue
				}
				w.mu.Lock()
				w.acked = append(w.acked, storedObject{key: key, sum: sha256.Sum256(data), size: size})
				w.mu.Unlock()
			}
		}()
	}
	return w
}

func (w *inlineWriter) ackedCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

func (w *inlineWriter) finish() []storedObject {
	close(w.stop)
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]storedObject(nil), w.acked...)
}

// waitAcked waits until the writer has had n more writes acknowledged.
func (w *inlineWriter) waitAcked(t *testing.T, n int, what string) {
	t.Helper()
	target := w.ackedCount() + n
	testutil.WaitFor(t, 60*time.Second, what, func() error {
		if got := w.ackedCount(); got < target {
			return fmt.Errorf("%d of %d writes acknowledged", got, target)
		}
		return nil
	})
}

// TestInlineObjectsSurviveKill: three hybrid nodes with the default inline limit. While
// clients write small objects through every node, the leader is killed (kill -9 style), then
// — once it is back — a follower. Every acknowledged object is inline (the nodes hold no blob
// files for them), survives both kills, and reads back byte-exact through every node,
// including the restarted ones (their copies come from their own WAL and the log).
func TestInlineObjectsSurviveKill(t *testing.T) {
	// Fixed raft addresses: a restarted node is reachable where the others knew it at once.
	c := startDataCluster(t, 3, nil, func(cfg *config.Config) { cfg.Cluster.RaftAddress = testutil.FreeAddr(t, false) })
	limit := int(c.Config(0).Performance.InlineObjectSize)
	if limit != config.DefaultInlineObjectSize {
		t.Fatalf("inline limit %d, want the default %d", limit, config.DefaultInlineObjectSize)
	}
	ctx := context.Background()
	if _, err := c.S3Client(0).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("inl")}); err != nil {
		t.Fatal(err)
	}
	w := startInlineWriter(c, "inl", limit, 6, c.Running)
	w.waitAcked(t, 60, "writes before the first kill")

	leader := c.WaitForLeader()
	c.Kill(leader)
	c.WaitForNewLeader(leader)
	w.waitAcked(t, 40, "writes after the leader's kill")
	c.Start(leader)
	c.WaitOpen(leader)
	w.waitAcked(t, 20, "writes with the old leader back")
	// The old leader caught up (it applied a write acknowledged after its restart) before a
	// second node goes: the two left must be a quorum.
	w.mu.Lock()
	latest := w.acked[len(w.acked)-1].key
	w.mu.Unlock()
	testutil.WaitFor(t, 30*time.Second, c.ID(leader)+" caught up", func() error {
		_, err := c.MustNode(leader).FSM().Object("inl", latest)
		return err
	})

	follower := followerAmong(t, c, 0, 1, 2)
	c.Kill(follower)
	w.waitAcked(t, 40, "writes after a follower's kill")
	objs := w.finish()
	t.Logf("%d writes acknowledged, %d failed during the kills", len(objs), w.failed.Load())
	c.WaitForLeader()

	for _, i := range c.Running() {
		checkObjects(t, c.S3Client(i), "inl", objs, c.ID(i))
	}
	c.Start(follower)
	c.WaitOpen(follower)
	c.WaitForLeader()
	for i := range c.Len() {
		checkObjects(t, c.S3Client(i), "inl", objs, c.ID(i))
	}
	for i := range c.Len() {
		testutil.WaitFor(t, 30*time.Second, "every acknowledged object's record on "+c.ID(i), func() error {
			inline, stored := inlineBlobs(t, c, i)
			if stored != 0 || inline < len(objs) {
				return fmt.Errorf("%d inline and %d stored blobs referenced, want at least %d inline and none stored", inline, stored, len(objs))
			}
			return nil
		})
		if n := blobFiles(t, filepath.Join(c.Config(i).DataDir, "blobs")); n != 0 {
			t.Fatalf("%s holds %d blob files; every object is inline", c.ID(i), n)
		}
	}
	// The nodes count the inline writes they took (since their last start).
	var counted float64
	for i := range c.Len() {
		counted += mustFloat(t, gaugeValue(t, c.AdminURL(i), "nebulaio_s3_inline_writes_total"))
	}
	if counted < 1 {
		t.Fatalf("nebulaio_s3_inline_writes_total sums to %v over the nodes", counted)
	}
	c.VerifyFSMs()
}

// TestInlineOffWithAManagementVoter: inline objects are decided per write from the
// membership. On three hybrid nodes a small object is inline; once a management node joins as
// a voter, small objects written through any node go to the data plane (the management voter
// must hold no object bytes of new writes); once it is removed, inline again.
func TestInlineOffWithAManagementVoter(t *testing.T) {
	c := startDataCluster(t, 3, nil)
	ctx := context.Background()
	if _, err := c.S3Client(0).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("gate")}); err != nil {
		t.Fatal(err)
	}
	isInline := func(i int, key string) bool {
		t.Helper()
		var o fsm.ObjectInfo
		testutil.WaitFor(t, 10*time.Second, key+" applied on "+c.ID(i), func() error { // a follower applies a moment later
			var err error
			o, err = c.MustNode(i).FSM().Object("gate", key)
			return err
		})
		if len(o.Blobs) != 1 {
			t.Fatalf("object %s: %+v", key, o)
		}
		return o.Blobs[0].Inline
	}
	if err := c.PutObject(1, "gate", "before", []byte("small")); err != nil {
		t.Fatal(err)
	}
	if !isInline(1, "before") {
		t.Fatal("a small object on three hybrid nodes is not inline")
	}

	m := c.Add(func(cfg *config.Config) { cfg.Cluster.NodeRole = config.RoleManagement })
	testutil.WaitFor(t, 60*time.Second, "the management node a voter", expectSuffrage(t, c.AdminURL(0), map[string]string{c.ID(m): "voter"}))
	// Each node decides from its own view of the membership (raft configuration and gossip):
	// wait until every node writes small objects to the data plane, then check more writes.
	testutil.WaitFor(t, 30*time.Second, "small writes not inline on every node", func() error {
		for _, i := range []int{0, 1, 2, m} {
			key := fmt.Sprintf("probe-%d-%d", i, time.Now().UnixNano())
			if err := c.PutObject(i, "gate", key, []byte("small")); err != nil {
				return err
			}
			if isInline(i, key) {
				return fmt.Errorf("a write through %s is inline", c.ID(i))
			}
		}
		return nil
	})
	for _, i := range []int{0, 1, 2, m} {
		key := fmt.Sprintf("during-%d", i)
		if err := c.PutObject(i, "gate", key, []byte("small while a management voter votes")); err != nil {
			t.Fatal(err)
		}
		if isInline(i, key) {
			t.Fatalf("a small write through %s with a management voter is inline", c.ID(i))
		}
	}

	c.Stop(m)
	if code, body := adminChange(t, c.AdminURL(0), "DELETE", "/api/v1/admin/cluster/nodes/"+c.ID(m)); code != 200 {
		t.Fatalf("remove %s: %d %s", c.ID(m), code, body)
	}
	testutil.WaitFor(t, 30*time.Second, "small writes inline again", func() error {
		for _, i := range []int{0, 1, 2} {
			key := fmt.Sprintf("after-%d-%d", i, time.Now().UnixNano())
			if err := c.PutObject(i, "gate", key, []byte("small")); err != nil {
				return err
			}
			if !isInline(i, key) {
				return fmt.Errorf("a write through %s is not inline", c.ID(i))
			}
		}
		return nil
	})
	c.Verify()
}

// TestBackupRestoreInlineObjects: a backup holds inline objects in its metadata (the blob
// manifest marks them inline), so a restore needs blob files only for the others: with an
// empty blob directory it names exactly the stored blobs as missing; with them it succeeds,
// and every object — inline ones, a multipart object whose last part is inline, and an upload
// in progress with an inline part, completed after the restore — reads back byte-exact.
func TestBackupRestoreInlineObjects(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Nodes: 1, Configure: func(_ int, cfg *config.Config) {
		cfg.Cluster.RaftAddress = testutil.FreeAddr(t, false)
	}})
	c.WaitForLeader()
	ctx := context.Background()
	cl := c.S3Client(0)
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("inl")}); err != nil {
		t.Fatal(err)
	}
	limit := int(c.Config(0).Performance.InlineObjectSize)
	sizes := []int{0, 1, 100, 4 << 10, limit - 1, limit, limit + 1, 300 << 10}
	stored := 0
	for i, size := range sizes {
		data := make([]byte, size)
		rand.New(rand.NewSource(int64(i))).Read(data)
		if err := c.PutObject(0, "inl", fmt.Sprintf("obj-%d", size), data); err != nil {
			t.Fatal(err)
		}
		if size > limit {
			stored++
		}
	}
	// A completed multipart object (a 5 MiB part, then a small last part) and an upload in
	// progress whose only part is small.
	part1 := bytes.Repeat([]byte("1"), 5<<20)
	last := []byte("the last part is small")
	up, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("inl"), Key: aws.String("mp")})
	if err != nil {
		t.Fatal(err)
	}
	var parts []types.CompletedPart
	for i, p := range [][]byte{part1, last} {
		out, err := cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("inl"), Key: aws.String("mp"), UploadId: up.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p)})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag})
	}
	if _, err := cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("inl"), Key: aws.String("mp"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		t.Fatal(err)
	}
	c.Acknowledge("inl", "mp", append(append([]byte(nil), part1...), last...))
	stored++
	pending, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("inl"), Key: aws.String("pending")})
	if err != nil {
		t.Fatal(err)
	}
	pendingPart := []byte("a part uploaded before the backup")
	pp, err := cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("inl"), Key: aws.String("pending"), UploadId: pending.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(pendingPart)})
	if err != nil {
		t.Fatal(err)
	}
	inline, storedRefs := inlineBlobs(t, c, 0)
	if storedRefs != stored || inline != len(sizes)-stored+1+1+1 {
		t.Fatalf("%d inline and %d stored blobs referenced, want %d and %d", inline, storedRefs, len(sizes)-stored+3, stored)
	}
	path, m := takeBackup(t, c, 0)
	a, err := backup.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	marked := 0
	if err := a.Blobs(func(e backup.BlobEntry) error {
		if e.Inline {
			marked++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if marked != inline || m.Counts.Blobs != inline+stored {
		t.Fatalf("blob manifest: %d marked inline, %d blobs; want %d inline of %d", marked, m.Counts.Blobs, inline, inline+stored)
	}

	// The node is lost with its data directory; a copy of its blob files survives.
	c.Kill(0)
	dataDir := c.Config(0).DataDir
	blobCopy := filepath.Join(t.TempDir(), "blobs")
	copyTree(t, filepath.Join(dataDir, "blobs"), blobCopy)
	if err := os.RemoveAll(dataDir); err != nil {
		t.Fatal(err)
	}
	c.Config(0).Cluster.JoinToken = ""
	if err := os.MkdirAll(filepath.Join(dataDir, "blobs", "blobs"), 0o750); err != nil {
		t.Fatal(err)
	}
	res, err := node.Restore(*c.Config(0), path, node.RestoreOptions{})
	if !errors.Is(err, node.ErrBlobsMissing) || res.Blobs == nil || res.Blobs.Missing != stored || res.Blobs.Inline != inline {
		t.Fatalf("restore without blob files: %v, %+v; want %d missing, %d inline", err, res.Blobs, stored, inline)
	}
	if err := os.RemoveAll(filepath.Join(dataDir, "blobs")); err != nil {
		t.Fatal(err)
	}
	copyTree(t, blobCopy, filepath.Join(dataDir, "blobs"))
	res, err = node.Restore(*c.Config(0), path, node.RestoreOptions{DeepBlobCheck: true})
	if err != nil || res.Blobs.Checked != inline+stored || res.Blobs.Missing+res.Blobs.Damaged != 0 {
		t.Fatalf("restore: %v, %+v", err, res.Blobs)
	}
	c.Start(0)
	c.WaitOpen(0)
	c.WaitForLeader()
	cl = c.S3Client(0)
	out, err := cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("inl"), Key: aws.String("pending"), UploadId: pending.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: pp.ETag}}}})
	if err != nil {
		t.Fatalf("completing the upload restored in progress: %v", err)
	}
	if out.ETag == nil {
		t.Fatal("completion without an ETag")
	}
	c.Acknowledge("inl", "pending", pendingPart)
	c.Verify()
}
