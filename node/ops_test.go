package node_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/rs/zerolog"

	"github.com/nebulaio/nebulaio/backup"
	"github.com/nebulaio/nebulaio/config"
	"github.com/nebulaio/nebulaio/engine"
	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/httpapi"
	"github.com/nebulaio/nebulaio/internal/sse"
	"github.com/nebulaio/nebulaio/internal/testcluster"
	"github.com/nebulaio/nebulaio/internal/testutil"
	"github.com/nebulaio/nebulaio/internal/trust"
	"github.com/nebulaio/nebulaio/internal/vfs"
	"github.com/nebulaio/nebulaio/node"
	"github.com/nebulaio/nebulaio/snapshot"
	"github.com/nebulaio/nebulaio/wal"
)

// takeBackup fetches a backup from node i's admin API into a file and verifies it.
func takeBackup(t *testing.T, c *testcluster.Cluster, i int) (string, backup.Manifest) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.AdminURL(i)+"/api/v1/admin/backup", nil)
	req.Header.Set("Authorization", "Bearer "+testcluster.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("backup: %d %s", resp.StatusCode, b)
	}
	path := filepath.Join(t.TempDir(), "backup.tar.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(f, resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil || n != resp.ContentLength || resp.Header.Get(httpapi.BackupSHA256Header) == "" {
		t.Fatalf("backup body: %d of %d bytes, %v", n, resp.ContentLength, err)
	}
	m, err := backup.VerifyFile(path, backup.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return path, m
}

// TestBackupWipeRestoreTenThousandObjects: 10,000 objects written through S3 (32 at a time)
// on a single node, a backup through the admin API, the node wiped after its blob directory
// was copied aside, the backup restored into its empty data directory with the blobs copied
// back (as docs/guides/backup-and-recovery.md says), and the node started again: every object reads
// back with its bytes, and the restored state is the backed-up one.
func TestBackupWipeRestoreTenThousandObjects(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 10,000 objects")
	}
	c := testcluster.Start(t, testcluster.Options{Nodes: 1, Configure: func(_ int, cfg *config.Config) {
		cfg.Cluster.RaftAddress = testutil.FreeAddr(t, false) // the restore records the configured address
		// Blob files and their manifest are what this test restores: the small objects are
		// not inline here (TestBackupRestoreInlineObjects restores inline ones).
		cfg.Performance.InlineObjectSize = 0
	}})
	c.WaitForLeader()
	ctx := context.Background()
	if _, err := c.S3Client(0).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("many")}); err != nil {
		t.Fatal(err)
	}
	const objects = 10000
	client := c.S3Client(0) // one client: one connection pool for every writer
	var wg sync.WaitGroup
	errs := make(chan error, objects)
	sem := make(chan struct{}, 32)
	for i := range objects {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			key := fmt.Sprintf("obj/%05d", i)
			body := []byte(fmt.Sprintf("object %d: %x", i, i*7919))
			pctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			if _, err := client.PutObject(pctx, &s3.PutObjectInput{Bucket: aws.String("many"), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
				errs <- fmt.Errorf("PUT %s: %w", key, err)
				return
			}
			c.Acknowledge("many", key, body)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	oldID := c.MustNode(0).ClusterID()
	waitClusterSetting(t, c, 0, oldID)
	before, err := c.MustNode(0).FSM().Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	path, m := takeBackup(t, c, 0)
	took := time.Since(start)
	if st, err := os.Stat(path); err == nil {
		t.Logf("backup of %d objects (%d records): %d bytes, taken, fetched and verified in %v", objects, m.Counts.Records, st.Size(), took.Round(time.Millisecond))
	}
	if m.Counts.Objects != objects || m.Counts.Buckets != 1 || m.Counts.Blobs != objects || m.ClusterID != oldID {
		t.Fatalf("manifest: cluster %q (want %s), counts %+v", m.ClusterID, oldID, m.Counts)
	}

	// The disaster: the node is gone with its data directory; a copy of its blobs survives.
	c.Kill(0)
	dataDir := c.Config(0).DataDir
	blobCopy := filepath.Join(t.TempDir(), "blobs")
	copyTree(t, filepath.Join(dataDir, "blobs"), blobCopy)
	if err := os.RemoveAll(dataDir); err != nil {
		t.Fatal(err)
	}

	// The node's configuration names the old cluster's join token: a restore refuses it.
	if _, err := node.Restore(*c.Config(0), path, node.RestoreOptions{}); !errors.Is(err, node.ErrRestoreToken) {
		t.Fatalf("restore with the old cluster's join token: %v", err)
	}
	c.Config(0).Cluster.JoinToken = ""

	// A restore with no blobs yet is refused, naming what is missing; with them it succeeds.
	if err := os.MkdirAll(filepath.Join(dataDir, "blobs", "blobs"), 0o750); err != nil {
		t.Fatal(err)
	}
	res, err := node.Restore(*c.Config(0), path, node.RestoreOptions{})
	if !errors.Is(err, node.ErrBlobsMissing) || res.Blobs == nil || res.Blobs.Missing != objects {
		t.Fatalf("restore without the blobs: %v, %+v", err, res.Blobs)
	}
	if err := os.RemoveAll(filepath.Join(dataDir, "blobs")); err != nil {
		t.Fatal(err)
	}
	copyTree(t, blobCopy, filepath.Join(dataDir, "blobs"))
	// The old cluster's token keeps its secret (users' keys are sealed under it); a token of
	// another cluster is refused.
	other := trust.Token{ClusterID: "0123456789abcdef", Secret: c.Token().Secret}
	if _, err := node.Restore(*c.Config(0), path, node.RestoreOptions{OldToken: other.Text()}); !errors.Is(err, node.ErrRestoreToken) {
		t.Fatalf("restore with the token of another cluster: %v", err)
	}
	start = time.Now()
	res, err = node.Restore(*c.Config(0), path, node.RestoreOptions{DeepBlobCheck: true, OldToken: c.Token().Text()})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("restore (verify, deep check of %d blobs, seed): %v", objects, time.Since(start).Round(time.Millisecond))
	if res.Blobs == nil || res.Blobs.Checked != objects || res.Blobs.Missing+res.Blobs.Damaged != 0 || res.Server.Addr != c.Config(0).Cluster.RaftAddress {
		t.Fatalf("restore: %+v, blobs %+v", res, res.Blobs)
	}
	newID := res.Identity.ClusterID
	if stored, ok, err := trust.LoadIdentity(vfs.OS, dataDir); err != nil || !ok || stored.ClusterID != newID || newID == oldID || newID == "" ||
		!stored.Secret.Equal(c.Token().Secret) {
		t.Fatalf("restored identity: %q stored as %+v (%v, %v); the backup's cluster was %s", newID, stored.ClusterID, ok, err, oldID)
	}
	// A second restore into the now seeded directory is refused.
	if _, err := node.Restore(*c.Config(0), path, node.RestoreOptions{}); !errors.Is(err, node.ErrNotEmpty) {
		t.Fatalf("restore over a restored node: %v", err)
	}

	c.Start(0)
	c.WaitOpen(0)
	c.WaitForLeader()
	// The restored node is a new cluster: it records its new ID in place of the old one.
	if got := c.MustNode(0).ClusterID(); got != newID {
		t.Fatalf("restored node runs in cluster %s, want %s", got, newID)
	}
	waitClusterSetting(t, c, 0, newID)
	after, err := c.MustNode(0).FSM().Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.Records != before.Records {
		t.Fatalf("restored state differs: %d records, backed up %d records", after.Records, before.Records)
	}
	// Every object reads back with its bytes (Verify reads each acknowledged write), and the
	// restored node takes writes.
	if err := c.PutObject(0, "many", "after-restore", []byte("new")); err != nil {
		t.Fatal(err)
	}
	c.Verify()
}

// waitClusterSetting waits until node i's FSM records cluster ID want.
func waitClusterSetting(t *testing.T, c *testcluster.Cluster, i int, want string) {
	t.Helper()
	testutil.WaitFor(t, 30*time.Second, "cluster ID "+want+" in replicated state", func() error {
		if v, _ := c.MustNode(i).FSM().Setting(fsm.SettingClusterID); v != want {
			return fmt.Errorf("cluster.id is %q", v)
		}
		return nil
	})
}

// copyTree copies the regular files under src to dst (cp -a, as an operator would).
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp -a %s %s: %v %s", src, dst, err, out)
	}
}

// TestBackupOnFollowerHoldsAcknowledgedWrites: a backup taken through a follower's admin API
// right after writes acknowledged by another node holds every one of them (the backup's read
// barrier goes through the leader), and records the raft configuration of three voters.
func TestBackupOnFollowerHoldsAcknowledgedWrites(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Nodes: 3})
	l := c.WaitForLeader()
	f := followerAmong(t, c, 0, 1, 2)
	if _, err := c.S3Client(l).CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("acked")}); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if err := c.PutObject(l, "acked", fmt.Sprintf("k%02d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	_, m := takeBackup(t, c, f)
	if m.Counts.Objects != 50 || m.NodeID != c.ID(f) || len(m.Servers) != 3 {
		t.Fatalf("backup on %s: counts %+v, node %s, servers %v", c.ID(f), m.Counts, m.NodeID, m.Servers)
	}
	c.Verify()
}

// TestForceNewClusterAfterLosingTwoOfThree: a three-node cluster (snapshots every few entries,
// a tiny metadata cache, so that state lives in snapshot runs) loses two nodes for good.
// The survivor, stopped, is recovered with node.ForceNewCluster (after a wrong node ID is
// refused), started again through node.Open, leads alone, holds every acknowledged write and
// takes new ones.
func TestForceNewClusterAfterLosingTwoOfThree(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Configure: func(_ int, cfg *config.Config) {
		cfg.Cluster.RepairInterval = config.Duration(300 * time.Millisecond)
		cfg.Cluster.RepairMiBPerSec = 0
		// Snapshots every few entries, so that the recovery restores a snapshot (with its
		// delta runs) and replays the log after it.
		cfg.Performance.MaxRaftLogEntries = 16
		cfg.Performance.MetadataCacheSize = 8
	}})
	if _, err := c.S3Client(0).CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("disaster")}); err != nil {
		t.Fatal(err)
	}
	objs := putObjects(t, c, []int{0, 1, 2}, "disaster", "obj", 60)
	// The survivor holds a copy of every blob (factor 3; repair fills what a write's quorum
	// left out).
	ids := blobIDs(t, c, 2)
	testutil.WaitFor(t, 60*time.Second, "every blob on the survivor", func() error { return missingCopies(c, ids, []int{2}) })

	clusterID := c.MustNode(2).ClusterID()
	waitClusterSetting(t, c, 2, clusterID)
	objs = append(objs, writeLogTail(t, c, 2, "disaster", 16)...)
	c.Kill(0)
	c.Kill(1)
	c.Kill(2)
	cfg := *c.Config(2)
	// The survivor's state is a snapshot and a log after it (what the recovery must combine).
	snaps, err := snapshot.Inspect(filepath.Join(cfg.DataDir, "raft", "snapshots"), snapshot.InspectOptions{})
	if err != nil || len(snaps.Snapshots) == 0 {
		t.Fatalf("no snapshot on the survivor: %v %+v", err, snaps)
	}
	log, err := wal.Inspect(filepath.Join(cfg.DataDir, "raft", "wal"), wal.InspectOptions{})
	if err != nil || log.LastIndex <= snaps.Snapshots[0].Index || log.Corrupt() {
		t.Fatalf("no log after the newest snapshot (%d) on the survivor: %v %+v", snaps.Snapshots[0].Index, err, log)
	}
	wrong := cfg
	wrong.NodeID = "n9"
	if _, err := node.ForceNewCluster(wrong, zerolog.Nop()); !errors.Is(err, engine.ErrNotMember) {
		t.Fatalf("ForceNewCluster with a node ID not in the configuration: %v", err)
	}
	res, err := node.ForceNewCluster(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Old) != 3 || res.Server.ID != "n3" || res.Index != log.LastIndex {
		t.Fatalf("recovery: %+v", res)
	}
	// The lost nodes stay down; n3 starts alone, through node.Open.
	c.Start(2)
	c.WaitOpen(2)
	if l := c.WaitForLeader(); l != 2 {
		t.Fatalf("leader %d after recovery", l)
	}
	servers, err := c.MustNode(2).Engine().Servers()
	if err != nil || len(servers) != 1 || servers[0].ID != "n3" || !servers[0].Voter {
		t.Fatalf("raft configuration after recovery: %v %v", servers, err)
	}
	// The same cluster, with one member: its identity and the replicated cluster ID are kept.
	if got := c.MustNode(2).ClusterID(); got != clusterID {
		t.Fatalf("recovered node runs in cluster %s, was %s", got, clusterID)
	}
	waitClusterSetting(t, c, 2, clusterID)
	checkObjects(t, c.S3Client(2), "disaster", objs, "n3")
	if err := c.PutObject(2, "disaster", "after", []byte("written by the recovered cluster")); err != nil {
		t.Fatal(err)
	}
	c.Verify()
}

// TestRestoreFromTheBlobCopiesOfEveryNode: on three storage nodes with one copy of each blob,
// the blobs are spread over the nodes, and the backup's blob manifest says which node held
// each. After the cluster is lost, the blob directories of the three nodes, merged into the
// data directory of a new node (cp -a, as docs/guides/backup-and-recovery.md says), hold every
// blob the backup references: the restore accepts them, and every object reads back from the
// restored node alone. A node with an empty data directory then joins the restored cluster
// with its new join token.
func TestRestoreFromTheBlobCopiesOfEveryNode(t *testing.T) {
	raft := testutil.FreeAddr(t, false)
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Configure: func(i int, cfg *config.Config) {
		cfg.Cluster.ReplicationFactor = 1
		if i == 0 {
			cfg.Cluster.RaftAddress = raft
		}
	}})
	c.WaitForLeader()
	c.WaitFormed()
	if _, err := c.S3Client(0).CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("spread")}); err != nil {
		t.Fatal(err)
	}
	objs := putObjects(t, c, []int{0, 1, 2}, "spread", "obj", 60)
	c.VerifyFSMs()
	path, m := takeBackup(t, c, 1)
	a, err := backup.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	held := map[string]int{}
	inline := 0 // the small objects: their bytes are in the metadata
	if err := a.Blobs(func(e backup.BlobEntry) error {
		if e.Inline {
			if len(e.Nodes) != 0 || e.Size > uint64(c.Config(0).Performance.InlineObjectSize) {
				return fmt.Errorf("inline blob %s of %s: %d bytes on %v", e.ID, e.Key, e.Size, e.Nodes)
			}
			inline++
			return nil
		}
		if len(e.Nodes) != 1 {
			return fmt.Errorf("blob %s of %s held by %v, want one node", e.ID, e.Key, e.Nodes)
		}
		held[e.Nodes[0]]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(held) < 2 || m.Counts.Blobs != len(objs) || inline == 0 || inline == len(objs) {
		t.Fatalf("blobs by node %v, %d inline (%d blobs): not spread over the nodes", held, inline, m.Counts.Blobs)
	}

	// The cluster is lost; the blob directories of its three nodes survive.
	copies, dataDir := loseClusterKeepBlobs(t, c)
	// One copy alone lacks blobs; the three merged hold them all.
	mergeBlobs(t, copies, dataDir, "n1")
	c.Config(0).Cluster.JoinToken = ""
	res, err := node.Restore(*c.Config(0), path, node.RestoreOptions{})
	if !errors.Is(err, node.ErrBlobsMissing) || res.Blobs.Missing != len(objs)-inline-held["n1"] || res.Blobs.Inline != inline {
		t.Fatalf("restore with n1's blobs only: %v, %+v (n1 held %d)", err, res.Blobs, held["n1"])
	}
	mergeBlobs(t, copies, dataDir, "n2", "n3")
	if res, err = node.Restore(*c.Config(0), path, node.RestoreOptions{DeepBlobCheck: true}); err != nil || res.Blobs.Checked != len(objs) {
		t.Fatalf("restore with the merged blobs: %v, %+v", err, res.Blobs)
	}
	startRestored(t, c)
	checkObjects(t, c.S3Client(0), "spread", objs, "n1")

	// A node with an empty data directory joins the restored cluster with its new token.
	c.Config(1).Cluster.JoinToken = res.Identity.Token().Text()
	c.Start(1)
	c.WaitOpen(1)
	testutil.WaitFor(t, 60*time.Second, "n2 a voter of the restored cluster", func() error {
		servers, err := c.MustNode(0).Engine().Servers()
		if err != nil {
			return err
		}
		if len(servers) != 2 || !servers[0].Voter || !servers[1].Voter {
			return fmt.Errorf("raft configuration %v", servers)
		}
		return nil
	})
	if got := c.MustNode(1).ClusterID(); got != res.Identity.ClusterID {
		t.Fatalf("n2 joined cluster %s, the restored one is %s", got, res.Identity.ClusterID)
	}
}

// TestBackupRestoreEncryptedObjects: objects encrypted at rest (SSE-S3, a single PUT and a
// multipart upload) are backed up and restored like the others: the blob check accepts their
// ciphertext blobs (deep), and with the same master key the restored node serves their
// plaintext.
func TestBackupRestoreEncryptedObjects(t *testing.T) {
	key := sse.GenerateKey()
	c := testcluster.Start(t, testcluster.Options{Nodes: 1, Configure: func(_ int, cfg *config.Config) {
		cfg.Cluster.RaftAddress = testutil.FreeAddr(t, false)
		cfg.Encryption.MasterKey = key
	}})
	c.WaitForLeader()
	ctx := context.Background()
	cl := c.S3Client(0)
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("vault")}); err != nil {
		t.Fatal(err)
	}
	small := bytes.Repeat([]byte("secret "), 1000)
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("vault"), Key: aws.String("small"), Body: bytes.NewReader(small),
		ServerSideEncryption: types.ServerSideEncryptionAes256}); err != nil {
		t.Fatal(err)
	}
	up, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("vault"), Key: aws.String("big"),
		ServerSideEncryption: types.ServerSideEncryptionAes256})
	if err != nil {
		t.Fatal(err)
	}
	part := bytes.Repeat([]byte("p"), 5<<20)
	pr, err := cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("vault"), Key: aws.String("big"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(part)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("vault"), Key: aws.String("big"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: pr.ETag}}}}); err != nil {
		t.Fatal(err)
	}
	path, _ := takeBackup(t, c, 0)

	c.Kill(0)
	dataDir := c.Config(0).DataDir
	blobCopy := filepath.Join(t.TempDir(), "blobs")
	copyTree(t, filepath.Join(dataDir, "blobs"), blobCopy)
	if err := os.RemoveAll(dataDir); err != nil {
		t.Fatal(err)
	}
	copyTree(t, blobCopy, filepath.Join(dataDir, "blobs"))
	c.Config(0).Cluster.JoinToken = ""
	res, err := node.Restore(*c.Config(0), path, node.RestoreOptions{DeepBlobCheck: true})
	if err != nil || res.Blobs.Checked != 2 {
		t.Fatalf("restore: %v, %+v", err, res.Blobs)
	}
	c.Start(0)
	c.WaitOpen(0)
	c.WaitForLeader()
	for k, want := range map[string][]byte{"small": small, "big": part} {
		out, err := c.S3Client(0).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("vault"), Key: aws.String(k)})
		if err != nil {
			t.Fatalf("GET %s after the restore: %v", k, err)
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil || !bytes.Equal(got, want) || out.ServerSideEncryption != types.ServerSideEncryptionAes256 {
			t.Fatalf("GET %s after the restore: %d bytes (want %d), %v, %q", k, len(got), len(want), err, out.ServerSideEncryption)
		}
	}
}

// writeLogTail writes small objects through node i until its log goes past its newest snapshot
// by less than either snapshot trigger (raft's SnapshotThreshold, maxLogEntries/2 entries; the
// FSM's, maxLogEntries/2 changed records), so that no snapshot takes the tail in before the
// caller kills the node. When snapshots happen depends on how the engine packed earlier writes
// into entries and on raft's periodic check (every 5 s or so): two fixed tail writes were
// sometimes taken into a snapshot under load.
func writeLogTail(t *testing.T, c *testcluster.Cluster, i int, bucket string, maxLogEntries int) []storedObject {
	t.Helper()
	n := c.MustNode(i)
	var written []storedObject
	for w := 1; w <= 100; w++ {
		k := fmt.Sprintf("tail-%d", w)
		if err := c.PutObject(i, bucket, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
		written = append(written, storedObject{key: k, sum: sha256.Sum256([]byte(k)), size: len(k)})
		s := n.Engine().Raft().Stats()
		last, _ := strconv.ParseUint(s["last_log_index"], 10, 64)
		snap, _ := strconv.ParseUint(s["last_snapshot_index"], 10, 64)
		dirty := n.FSM().MemoryStats().Dirty
		if w >= 2 && last > snap && last-snap < uint64(maxLogEntries/2) && dirty < maxLogEntries/2 {
			return written
		}
	}
	t.Fatalf("node %d: could not leave a log tail past its newest snapshot: %v", i, n.Engine().Raft().Stats())
	return nil
}
