package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmw "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/nebulaio/nebulaio/config"
	"github.com/nebulaio/nebulaio/dataplane"
	"github.com/nebulaio/nebulaio/dataplane/blob"
	"github.com/nebulaio/nebulaio/internal/testcluster"
	"github.com/nebulaio/nebulaio/internal/testutil"
	"github.com/nebulaio/nebulaio/node"
)

// The tests of issue 16 (safe membership): a removal lasts until re-admitted, a demotion
// outlives the reconciler and leader changes, leadership moves to a named voter, drain and
// rebalance move blobs without losing a read, and a minority serves degraded reads only when
// asked to. Reconciliation runs every 200 ms here, so that a few seconds of polling watch
// dozens of reconciliations (the default is 2 s).

const fastReconcile = 200 * time.Millisecond

// holdFor fails the test if cond fails at any check during d (checks every 100 ms): a
// property that must stay true across many reconciliations.
func holdFor(t *testing.T, d time.Duration, what string, cond func() error) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if err := cond(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
}

// adminJSON runs an admin call with a JSON body (nil: none) and returns the status and body.
func adminJSON(t *testing.T, base, method, path string, in any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, base+path, rd)
	req.Header.Set("Authorization", "Bearer "+testcluster.AdminToken)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// ready reads node i's readiness probe.
func ready(t *testing.T, c *testcluster.Cluster, i int) (int, string) {
	t.Helper()
	resp, err := http.Get(c.AdminURL(i) + "/health/ready")
	if err != nil {
		t.Fatalf("ready %s: %v", c.ID(i), err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// raftServers checks that the leader's raft configuration names every server once (by ID and
// by address) and returns it by ID ("voter" or "nonvoter").
func raftServers(c *testcluster.Cluster) (map[string]string, error) {
	l := c.Leader()
	if l < 0 {
		return nil, errors.New("no leader")
	}
	servers, err := c.Node(l).Engine().Servers()
	if err != nil {
		return nil, err
	}
	out, addrs := map[string]string{}, map[string]bool{}
	for _, s := range servers {
		if _, dup := out[s.ID]; dup || addrs[s.Addr] {
			return nil, fmt.Errorf("duplicate raft server %s at %s: %v", s.ID, s.Addr, servers)
		}
		addrs[s.Addr] = true
		out[s.ID] = "nonvoter"
		if s.Voter {
			out[s.ID] = "voter"
		}
	}
	return out, nil
}

// TestRemovedNodeStaysOutUntilReadmitted: a voter is killed and removed; started again with
// its data it is not added back (over many reconciliations), its readiness probe says it was
// removed and how to re-admit it, and the node list shows the record; after `readmit` through
// another node it rejoins as the voter its configuration asks for, once in the raft
// configuration, and catches up.
func TestRemovedNodeStaysOutUntilReadmitted(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, ReconcileInterval: fastReconcile})
	ctx := context.Background()
	if _, err := c.S3Client(0).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("tomb")}); err != nil {
		t.Fatal(err)
	}
	if err := c.PutObject(0, "tomb", "before", []byte("written before the removal")); err != nil {
		t.Fatal(err)
	}
	const gone = 2
	c.Kill(gone)
	admin := c.AdminURL(0)
	if code, body := adminChange(t, admin, "DELETE", "/api/v1/admin/cluster/nodes/n3"); code != 200 {
		t.Fatalf("remove n3: %d %s", code, body)
	}
	testutil.WaitFor(t, 10*time.Second, "n3 out of raft", expectSuffrage(t, admin, map[string]string{"n3": "absent"}))
	if err := c.PutObject(1, "tomb", "while-out", []byte("written while n3 was out")); err != nil {
		t.Fatal(err)
	}

	// Back with its data: refused, and it says so.
	c.Start(gone)
	c.WaitOpen(gone)
	testutil.WaitFor(t, 20*time.Second, "n3's ready probe says it was removed", func() error {
		code, body := ready(t, c, gone)
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "removed from the cluster") || !strings.Contains(body, "nebulaio cluster readmit n3") {
			return fmt.Errorf("%d %s", code, body)
		}
		return nil
	})
	holdFor(t, 3*time.Second, "a removed node stays out of raft", func() error {
		s, err := raftServers(c)
		if err == nil && s["n3"] != "" {
			err = fmt.Errorf("n3 is back in raft as %s", s["n3"])
		}
		return err
	})
	code, body := adminCall(t, admin, "GET", "/api/v1/admin/cluster/nodes")
	if code != 200 || !strings.Contains(string(body), `"removed":true`) {
		t.Fatalf("node list does not show n3 removed: %d %s", code, body)
	}

	// Re-admitted through a follower: it rejoins once, as a voter, and catches up.
	via := followerAmong(t, c, 0, 1)
	if code, body := adminChange(t, c.AdminURL(via), "POST", "/api/v1/admin/cluster/nodes/n3/readmit"); code != 200 {
		t.Fatalf("readmit n3: %d %s", code, body)
	}
	testutil.WaitFor(t, 30*time.Second, "n3 rejoins as a voter", func() error {
		s, err := raftServers(c)
		if err != nil {
			return err
		}
		if s["n3"] != "voter" || len(s) != 3 {
			return fmt.Errorf("raft configuration %v", s)
		}
		if code, body := ready(t, c, gone); code != 200 {
			return fmt.Errorf("n3 not ready: %d %s", code, body)
		}
		return nil
	})
	holdFor(t, time.Second, "n3 is in raft once", func() error { _, err := raftServers(c); return err })
	if err := c.PutObject(gone, "tomb", "after", []byte("written through n3 after its return")); err != nil {
		t.Fatal(err)
	}
	c.Verify()
}

// TestDemoteLastsAndLeadershipMoves: a hybrid voter (whose configuration asks to vote) is
// demoted; it stays a non-voter over many reconciliations, after leadership moves to a named
// voter, after it restarts and after a second, unnamed transfer; leadership cannot move to
// it; the even number of voters is warned about in health and in a metric.
func TestDemoteLastsAndLeadershipMoves(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, ReconcileInterval: fastReconcile})
	l := c.WaitForLeader()
	var fol []int
	for i := range 3 {
		if i != l {
			fol = append(fol, i)
		}
	}
	demoted, other := fol[0], fol[1]
	did := c.ID(demoted)
	if code, body := adminChange(t, c.AdminURL(other), "POST", "/api/v1/admin/cluster/nodes/"+did+"/demote"); code != 200 {
		t.Fatalf("demote %s: %d %s", did, code, body)
	}
	stays := func() error {
		s, err := raftServers(c)
		if err == nil && s[did] != "nonvoter" {
			err = fmt.Errorf("%s is %q in %v", did, s[did], s)
		}
		return err
	}
	testutil.WaitFor(t, 10*time.Second, did+" demoted", stays)
	holdFor(t, 4*time.Second, did+" stays demoted (20 reconciliations)", stays)

	// Health warns about two voters, and names the cluster.
	code, body := adminCall(t, c.AdminURL(l), "GET", "/api/v1/admin/cluster/health")
	if code != 200 || !strings.Contains(string(body), "2 voters: an even number") {
		t.Fatalf("health does not warn about 2 voters: %d %s", code, body)
	}
	if id := c.MustNode(l).ClusterID(); id == "" || !strings.Contains(string(body), `"cluster_id":"`+id+`"`) {
		t.Fatalf("health does not show the cluster ID %q: %s", id, body)
	}
	if v := gaugeValue(t, c.AdminURL(l), "nebulaio_raft_voters_even"); v != "1" {
		t.Fatalf("nebulaio_raft_voters_even = %q, want 1", v)
	}

	// Leadership cannot go to a non-voter; it goes to the named voter, asked through the
	// demoted node.
	if code, body := adminJSON(t, c.AdminURL(other), "POST", "/api/v1/admin/cluster/leader/transfer", map[string]string{"id": did}); code != 409 || !strings.Contains(string(body), "not_voter") {
		t.Fatalf("transfer to the non-voter %s: %d %s", did, code, body)
	}
	start := time.Now()
	code, body = adminJSON(t, c.AdminURL(demoted), "POST", "/api/v1/admin/cluster/leader/transfer", map[string]string{"id": c.ID(other)})
	var lv struct {
		Previous string `json:"previous_leader_id"`
		Leader   string `json:"leader_id"`
	}
	if code != 200 || json.Unmarshal(body, &lv) != nil || lv.Leader != c.ID(other) || lv.Previous != c.ID(l) {
		t.Fatalf("transfer to %s: %d %s", c.ID(other), code, body)
	}
	testutil.WaitUntil(t, 10*time.Second, c.ID(other)+" leads", func() bool { return c.Leader() == other })
	t.Logf("leadership moved %s -> %s in %s", c.ID(l), c.ID(other), time.Since(start).Round(time.Millisecond))
	holdFor(t, 4*time.Second, did+" stays demoted under the new leader", stays)

	// Its configuration still asks to vote: a restart does not make it a voter again.
	c.Restart(demoted)
	testutil.WaitFor(t, 30*time.Second, did+" back", func() error {
		if code, body := ready(t, c, demoted); code != 200 {
			return fmt.Errorf("%d %s", code, body)
		}
		return nil
	})
	holdFor(t, 3*time.Second, did+" stays demoted after its restart", stays)

	// An unnamed transfer goes to the only other voter.
	if code, body := adminJSON(t, c.AdminURL(other), "POST", "/api/v1/admin/cluster/leader/transfer", nil); code != 200 || !strings.Contains(string(body), `"leader_id":"`+c.ID(l)+`"`) {
		t.Fatalf("unnamed transfer: %d %s", code, body)
	}
	holdFor(t, 3*time.Second, did+" stays demoted after a second leader change", stays)

	// A promote is a recorded decision too.
	if code, body := adminChange(t, c.AdminURL(l), "POST", "/api/v1/admin/cluster/nodes/"+did+"/promote"); code != 200 {
		t.Fatalf("promote %s: %d %s", did, code, body)
	}
	testutil.WaitFor(t, 10*time.Second, did+" promoted", func() error {
		s, err := raftServers(c)
		if err == nil && s[did] != "voter" {
			err = fmt.Errorf("%s is %q", did, s[did])
		}
		return err
	})
	c.Verify()
}

// s3Status is the HTTP status and headers of an S3 call's response (success or error).
func s3Status(out any, err error) (int, http.Header) {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode(), re.Response.Header
	}
	if err != nil {
		return 0, nil
	}
	var md middleware.Metadata
	switch o := out.(type) {
	case *s3.GetObjectOutput:
		md = o.ResultMetadata
	case *s3.HeadObjectOutput:
		md = o.ResultMetadata
	case *s3.ListObjectsV2Output:
		md = o.ResultMetadata
	}
	if r, ok := awsmw.GetRawResponse(md).(*smithyhttp.Response); ok {
		return r.StatusCode, r.Header
	}
	return 0, nil
}

// TestDegradedReads: n3 enables cluster.degraded_reads, n2 does not. Cut off alone (a
// minority without a leader), n3 serves GET, HEAD and listings from its local metadata,
// marked stale, and refuses writes with 503 and Retry-After; n2 cut off alone answers reads
// with 503 and Retry-After. The majority keeps serving ordinary reads throughout.
func TestDegradedReads(t *testing.T) {
	const plain, degraded = 1, 2
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Configure: func(i int, cfg *config.Config) {
		cfg.Cluster.DegradedReads = i == degraded
	}})
	ctx := context.Background()
	if _, err := c.S3Client(0).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("minority")}); err != nil {
		t.Fatal(err)
	}
	if err := c.PutObject(0, "minority", "k", []byte("readable on a minority")); err != nil {
		t.Fatal(err)
	}
	c.VerifyFSMs()
	once := func(o *s3.Options) { o.RetryMaxAttempts = 1 }
	get := func(i int) (int, http.Header, string) {
		out, err := c.S3Client(i).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("minority"), Key: aws.String("k")}, once)
		code, h := s3Status(out, err)
		body := ""
		if err == nil {
			b, _ := io.ReadAll(out.Body)
			out.Body.Close()
			body = string(b)
		}
		return code, h, body
	}
	// Connected, n3 serves an ordinary read: no stale mark.
	if code, h, body := get(degraded); code != 200 || h.Get(node.StaleHeader) != "" || body != "readable on a minority" {
		t.Fatalf("connected GET on n3: %d %v %q", code, h, body)
	}
	noLeader := func(i int) func() error {
		return func() error {
			if id, addr := c.MustNode(i).Engine().Leader(); addr != "" {
				return fmt.Errorf("%s still follows %s", c.ID(i), id)
			}
			return nil
		}
	}

	c.Partition(degraded)
	testutil.WaitFor(t, 20*time.Second, "n3 knows no leader", noLeader(degraded))
	code, h, body := get(degraded)
	if code != 200 || h.Get(node.StaleHeader) != "true" || body != "readable on a minority" {
		t.Fatalf("degraded GET on n3: %d %v %q", code, h, body)
	}
	hout, err := c.S3Client(degraded).HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("minority"), Key: aws.String("k")}, once)
	if code, h := s3Status(hout, err); code != 200 || h.Get(node.StaleHeader) != "true" {
		t.Fatalf("degraded HEAD on n3: %d %v %v", code, h, err)
	}
	lout, err := c.S3Client(degraded).ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("minority")}, once)
	if code, h := s3Status(lout, err); code != 200 || h.Get(node.StaleHeader) != "true" || len(lout.Contents) != 1 {
		t.Fatalf("degraded listing on n3: %d %v %v", code, h, err)
	}
	_, err = c.S3Client(degraded).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("minority"), Key: aws.String("w"), Body: strings.NewReader("x")}, once)
	if code, h := s3Status(nil, err); code != 503 || h.Get("Retry-After") == "" {
		t.Fatalf("write on a minority with degraded reads: %d %v %v", code, h, err)
	}
	// The majority is unaffected.
	if code, h, _ := get(0); code != 200 || h.Get(node.StaleHeader) != "" {
		t.Fatalf("GET on the majority: %d %v", code, h)
	}

	c.Heal()
	testutil.WaitFor(t, 30*time.Second, "n3 follows a leader again", func() error {
		if _, addr := c.MustNode(degraded).Engine().Leader(); addr == "" {
			return errors.New("no leader known")
		}
		if code, h, _ := get(degraded); code != 200 || h.Get(node.StaleHeader) != "" {
			return fmt.Errorf("GET on n3: %d stale=%q", code, h.Get(node.StaleHeader))
		}
		return nil
	})

	c.Partition(plain)
	testutil.WaitFor(t, 20*time.Second, "n2 knows no leader", noLeader(plain))
	if code, h, _ := get(plain); code != 503 || h.Get("Retry-After") == "" || h.Get(node.StaleHeader) != "" {
		t.Fatalf("GET on a minority without degraded reads: %d %v", code, h)
	}
	c.Heal()
	c.Verify()
}

// TestDrainUnderWriteLoad: four storage-capable nodes (three hybrid voters and a storage
// node), factor 3. The storage node is drained while two writers keep putting objects; the
// drain's progress reaches 100 % and the node is marked drained; removing it then needs no
// force. Every acknowledged object has its three copies on the remaining nodes and reads back
// intact.
func TestDrainUnderWriteLoad(t *testing.T) {
	c := startDataCluster(t, 4, map[int]string{3: config.RoleStorage})
	const drained = 3
	ctx := context.Background()
	if _, err := c.S3Client(0).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("drain")}); err != nil {
		t.Fatal(err)
	}
	putObjects(t, c, []int{0, 1, 3}, "drain", "pre", 60)
	if n := len(blobIDsOn(t, c, drained)); n == 0 {
		t.Fatal("the storage node holds no blob before the drain")
	}

	// Write load: two writers through n1 and n2 until the drain is done.
	var stop atomic.Bool
	var wrote, failed atomic.Int64
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(w)))
			for k := 0; !stop.Load(); k++ {
				data := make([]byte, 1+rng.Intn(48<<10))
				rng.Read(data)
				if err := c.PutObject(w, "drain", fmt.Sprintf("load-%d-%04d", w, k), data); err != nil {
					failed.Add(1)
					t.Logf("write during the drain failed: %v", err)
					continue
				}
				wrote.Add(1)
			}
		}()
	}
	defer func() { stop.Store(true); wg.Wait() }()
	testutil.WaitUntil(t, 30*time.Second, "writes under way", func() bool { return wrote.Load() >= 10 })

	start := time.Now()
	if code, body := adminChange(t, c.AdminURL(1), "POST", "/api/v1/admin/cluster/nodes/n4/drain"); code != 200 || !strings.Contains(string(body), `"state":"draining"`) {
		t.Fatalf("drain n4: %d %s", code, body)
	}
	var last []float64
	testutil.WaitFor(t, 120*time.Second, "n4 drained with 100 % progress", func() error {
		code, body := adminCall(t, c.AdminURL(2), "GET", "/api/v1/admin/cluster/nodes/n4/drain")
		var v struct {
			State    string                   `json:"state"`
			Progress *dataplane.DrainProgress `json:"progress"`
		}
		if code != 200 || json.Unmarshal(body, &v) != nil {
			return fmt.Errorf("drain status: %d %s", code, body)
		}
		if v.Progress != nil && (len(last) == 0 || last[len(last)-1] != v.Progress.Percent) {
			last = append(last, v.Progress.Percent)
		}
		if v.State != "drained" || v.Progress == nil || v.Progress.Percent != 100 || v.Progress.BlobsDone != v.Progress.BlobsTotal {
			return fmt.Errorf("%s", body)
		}
		return nil
	})
	stop.Store(true)
	wg.Wait()
	t.Logf("drained in %s under %d writes (%d failed); progress seen: %v", time.Since(start).Round(100*time.Millisecond), wrote.Load(), failed.Load(), last)

	if code, body := adminChange(t, c.AdminURL(0), "DELETE", "/api/v1/admin/cluster/nodes/n4"); code != 200 {
		t.Fatalf("remove the drained n4: %d %s", code, body)
	}
	c.Kill(drained)
	ids := blobIDs(t, c, 0)
	if err := missingCopies(c, ids, []int{0, 1, 2}); err != nil {
		t.Fatalf("after the drain of n4: %v", err)
	}
	t.Logf("%d blobs, each with 3 copies on n1..n3", len(ids))
	c.Verify()
}

// blobIDsOn lists the blobs node i's blob store holds.
func blobIDsOn(t *testing.T, c *testcluster.Cluster, i int) []string {
	t.Helper()
	var ids []string
	err := c.MustNode(i).Blobs().List(func(e blob.Entry) error {
		ids = append(ids, e.ID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestRebalanceOnFourthStorageNode: three hybrid nodes (factor 3) hold 1,000 objects; a
// storage node joins; the balancer puts every blob on its placement over the four nodes while
// readers read objects through the three old nodes, none of which fails; the leader reports the
// share of copies moved, about 1/(N+1) = 1/4, and the copies on the new node agree with it.
func TestRebalanceOnFourthStorageNode(t *testing.T) {
	const objects = 1000
	c := startDataCluster(t, 3, nil, noInline) // the balancer moves blob files
	ctx := context.Background()
	if _, err := c.S3Client(0).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("rebal")}); err != nil {
		t.Fatal(err)
	}
	bodies := make([][]byte, objects)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	errs := make(chan error, objects)
	for k := range objects {
		bodies[k] = make([]byte, 256+k%7*300)
		rand.New(rand.NewSource(int64(k))).Read(bodies[k])
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := c.PutObject(k%3, "rebal", fmt.Sprintf("obj-%04d", k), bodies[k]); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// Readers: every GET during the move must succeed with the right bytes.
	var stop atomic.Bool
	var reads, readFails atomic.Int64
	var firstFail atomic.Value
	for r := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := c.S3Client(r)
			rng := rand.New(rand.NewSource(int64(r)))
			for !stop.Load() {
				k := rng.Intn(objects)
				rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				out, err := cl.GetObject(rctx, &s3.GetObjectInput{Bucket: aws.String("rebal"), Key: aws.String(fmt.Sprintf("obj-%04d", k))})
				var got []byte
				if err == nil {
					got, err = io.ReadAll(out.Body)
					out.Body.Close()
				}
				cancel()
				if err == nil && !bytes.Equal(got, bodies[k]) {
					err = fmt.Errorf("obj-%04d: %d bytes, want %d", k, len(got), len(bodies[k]))
				}
				if err != nil {
					readFails.Add(1)
					firstFail.CompareAndSwap(nil, err.Error())
					continue
				}
				reads.Add(1)
			}
		}()
	}
	defer func() { stop.Store(true); wg.Wait() }()

	start := time.Now()
	n4 := c.Add(func(cfg *config.Config) {
		cfg.Cluster.NodeRole = config.RoleStorage
		cfg.Cluster.RepairInterval = config.Duration(300 * time.Millisecond)
		cfg.Cluster.RepairDeadAfter = config.Duration(time.Hour)
		cfg.Cluster.RepairMiBPerSec = 0
	})
	ids := blobIDs(t, c, 0)
	if len(ids) != objects {
		t.Fatalf("%d blobs for %d objects", len(ids), objects)
	}
	all := []int{0, 1, 2, n4}
	testutil.WaitFor(t, 180*time.Second, "every blob at its placement over four nodes", func() error {
		l := c.Leader()
		if l < 0 {
			return errors.New("no leader")
		}
		data := c.MustNode(l).Data()
		off, toNew, example := 0, 0, ""
		for _, id := range ids {
			want := data.Targets(id)
			if slices.Contains(want, "n4") {
				toNew++
			}
			var have []string
			for _, i := range all {
				if _, err := c.MustNode(i).Blobs().Stat(id); err == nil {
					have = append(have, c.ID(i))
				}
			}
			slices.Sort(want)
			if !slices.Equal(have, want) {
				off++
				if example == "" {
					example = fmt.Sprintf("%s on %v, placement %v", id, have, want)
				}
			}
		}
		if toNew == 0 {
			s, _ := raftServers(c)
			return fmt.Errorf("the leader's placement does not include n4 yet (raft: %v)", s)
		}
		if off > 0 {
			return fmt.Errorf("%d blobs off their placement, e.g. %s", off, example)
		}
		return nil
	})
	elapsed := time.Since(start)
	stop.Store(true)
	wg.Wait()

	onNew := len(blobIDsOn(t, c, n4))
	measured := float64(onNew) / float64(3*objects)
	var h struct {
		Rebalance *dataplane.BalanceStats `json:"rebalance"`
	}
	code, body := adminCall(t, c.AdminURL(0), "GET", "/api/v1/admin/cluster/health")
	if code != 200 || json.Unmarshal(body, &h) != nil || h.Rebalance == nil {
		t.Fatalf("health: %d %s", code, body)
	}
	st := h.Rebalance
	t.Logf("3 -> 4 storage nodes, factor 3, %d objects: rebalanced in %s; reported moved fraction %.3f (%d copies made of %d); %d of %d copies on n4 (%.3f); 1/(N+1) = 0.25; %d GETs during the move, %d failed",
		objects, elapsed.Round(100*time.Millisecond), st.ChangeMovedFraction, st.ChangeCopiesMade, st.ChangeCopies, onNew, 3*objects, measured, reads.Load(), readFails.Load())
	if n := readFails.Load(); n > 0 {
		t.Fatalf("%d GETs failed during the rebalance, e.g. %v", n, firstFail.Load())
	}
	if reads.Load() == 0 {
		t.Fatal("no GET ran during the rebalance")
	}
	if math.Abs(st.ChangeMovedFraction-0.25) > 0.05 || math.Abs(measured-0.25) > 0.05 {
		t.Fatalf("moved fraction reported %.3f, measured %.3f; want about 1/4", st.ChangeMovedFraction, measured)
	}
	c.Verify()
}

// TestRemovedRunningNodeRejoinsWhenReadmitted: a running follower is removed; it learns that it
// is out (its ready probe says so) and is not added back while it keeps running; re-admitted,
// it rejoins without a restart, once, and catches up. The same for the leader, which hands
// its leadership over before it is removed.
func TestRemovedRunningNodeRejoinsWhenReadmitted(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, ReconcileInterval: fastReconcile})
	ctx := context.Background()
	if _, err := c.S3Client(0).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("alive")}); err != nil {
		t.Fatal(err)
	}
	out := followerAmong(t, c, 2, 1)
	id := c.ID(out)
	via := 0
	if via == out || c.Leader() == out {
		via = 1
	}
	if code, body := adminChange(t, c.AdminURL(via), "DELETE", "/api/v1/admin/cluster/nodes/"+id); code != 200 {
		t.Fatalf("remove %s: %d %s", id, code, body)
	}
	testutil.WaitFor(t, 20*time.Second, id+"'s ready probe says it was removed", func() error {
		code, body := ready(t, c, out)
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "removed from the cluster") {
			return fmt.Errorf("%d %s", code, body)
		}
		return nil
	})
	holdFor(t, 2*time.Second, "a removed running node stays out of raft", func() error {
		s, err := raftServers(c)
		if err == nil && s[id] != "" {
			err = fmt.Errorf("%s is back in raft as %s", id, s[id])
		}
		return err
	})
	if err := c.PutObject(via, "alive", "while-out", []byte("written while the node was out")); err != nil {
		t.Fatal(err)
	}
	if code, body := adminChange(t, c.AdminURL(via), "POST", "/api/v1/admin/cluster/nodes/"+id+"/readmit"); code != 200 {
		t.Fatalf("readmit %s: %d %s", id, code, body)
	}
	testutil.WaitFor(t, 30*time.Second, id+" rejoins as a voter without a restart", func() error {
		s, err := raftServers(c)
		if err != nil {
			return err
		}
		if s[id] != "voter" || len(s) != 3 {
			return fmt.Errorf("raft configuration %v", s)
		}
		if code, body := ready(t, c, out); code != 200 {
			return fmt.Errorf("%s not ready: %d %s", id, code, body)
		}
		return nil
	})

	// The leader itself: it hands the leadership over before it is removed, so that it too
	// rejoins without a restart.
	l := c.WaitForLeader()
	lid := c.ID(l)
	if code, body := adminChange(t, c.AdminURL(l), "DELETE", "/api/v1/admin/cluster/nodes/"+lid); code != 200 {
		t.Fatalf("remove the leader %s: %d %s", lid, code, body)
	}
	testutil.WaitFor(t, 20*time.Second, "the old leader out of raft", func() error {
		s, err := raftServers(c)
		if err == nil && (s[lid] != "" || len(s) != 2) {
			err = fmt.Errorf("raft configuration %v", s)
		}
		return err
	})
	via = (l + 1) % 3
	if code, body := adminChange(t, c.AdminURL(via), "POST", "/api/v1/admin/cluster/nodes/"+lid+"/readmit"); code != 200 {
		t.Fatalf("readmit %s: %d %s", lid, code, body)
	}
	testutil.WaitFor(t, 30*time.Second, "the old leader "+lid+" rejoins as a voter without a restart", func() error {
		s, err := raftServers(c)
		if err != nil {
			return err
		}
		if s[lid] != "voter" || len(s) != 3 {
			return fmt.Errorf("raft configuration %v", s)
		}
		if code, body := ready(t, c, l); code != 200 {
			return fmt.Errorf("%s not ready: %d %s", lid, code, body)
		}
		return nil
	})
	if err := c.PutObject(l, "alive", "after-leader-readmit", []byte("written through the re-admitted old leader")); err != nil {
		t.Fatal(err)
	}
	c.Verify()
}

// TestRemoveRefusedWhileHoldingLastCopies: with replication factor 1, a storage node holds the
// only copy of its objects: removing it is refused (409 last_copies, naming the count) until it
// is drained; after the drain every object reads back through the other nodes and the removal
// goes through without force.
func TestRemoveRefusedWhileHoldingLastCopies(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Configure: func(i int, cfg *config.Config) {
		cfg.Cluster.ReplicationFactor = 1
		cfg.Cluster.RepairInterval = config.Duration(300 * time.Millisecond)
		cfg.Cluster.RepairDeadAfter = config.Duration(time.Hour)
		if i == 2 {
			cfg.Cluster.NodeRole = config.RoleStorage
		}
	}})
	const only = 2
	ctx := context.Background()
	if _, err := c.S3Client(0).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("single")}); err != nil {
		t.Fatal(err)
	}
	objs := putObjects(t, c, []int{0, 1}, "single", "one-copy", 30)
	if len(blobIDsOn(t, c, only)) == 0 {
		t.Fatal("the storage node holds no blob")
	}
	code, body := adminCall(t, c.AdminURL(0), "DELETE", "/api/v1/admin/cluster/nodes/n3")
	if code != 409 || !strings.Contains(string(body), "last_copies") || !strings.Contains(string(body), "drain it first") {
		t.Fatalf("removing the holder of the only copies: %d %s", code, body)
	}
	if s, err := raftServers(c); err != nil || s["n3"] != "nonvoter" {
		t.Fatalf("n3 after the refused removal: %v %v", s, err)
	}
	if code, body := adminChange(t, c.AdminURL(1), "POST", "/api/v1/admin/cluster/nodes/n3/drain"); code != 200 {
		t.Fatalf("drain n3: %d %s", code, body)
	}
	testutil.WaitFor(t, 60*time.Second, "n3 drained", func() error {
		code, body := adminCall(t, c.AdminURL(0), "GET", "/api/v1/admin/cluster/nodes/n3/drain")
		if code != 200 || !strings.Contains(string(body), `"state":"drained"`) {
			return fmt.Errorf("%d %s", code, body)
		}
		return nil
	})
	if code, body := adminChange(t, c.AdminURL(0), "DELETE", "/api/v1/admin/cluster/nodes/n3"); code != 200 {
		t.Fatalf("remove the drained n3: %d %s", code, body)
	}
	c.Kill(only)
	checkObjects(t, c.S3Client(1), "single", objs, "n2")
	c.Verify()
}
