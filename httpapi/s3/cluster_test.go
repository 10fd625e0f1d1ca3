package s3

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/rs/zerolog"

	"github.com/nebulaio/nebulaio/dataplane"
	"github.com/nebulaio/nebulaio/dataplane/blob"
	"github.com/nebulaio/nebulaio/engine"
	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/transport"
)

// clusterMember is one of three voters, each with its own blob store, data plane and S3
// endpoint.
type clusterMember struct {
	id    string
	trans *transport.Transport
	eng   *engine.Node
	blobs *blob.Store
	data  *dataplane.Plane
	srv   string
}

// TestThreeNodeCluster: writes through a follower are forwarded to the leader and their FSM
// results (rejections included) come back intact; reads on the follower are linearizable;
// bytes held by another node are a 503, not a 500; without quorum a write is a 503 with
// Retry-After in bounded time.
func TestThreeNodeCluster(t *testing.T) {
	dir := t.TempDir()
	var ms []*clusterMember
	for i := 1; i <= 3; i++ {
		m := &clusterMember{id: fmt.Sprintf("n%d", i)}
		var err error
		if m.trans, err = transport.New(transport.Config{BindAddr: "127.0.0.1:0"}); err != nil {
			t.Fatal(err)
		}
		if m.blobs, err = blob.Open(filepath.Join(dir, m.id, "blobs"), blob.Options{}); err != nil {
			t.Fatal(err)
		}
		// Each data plane is a cluster of one (its writes stay on the node that received them),
		// which reads the copies of the others through the raft addresses; n3 knows no other
		// node's address, so a GET there of bytes held elsewhere is a 503.
		var resolve func(string) (string, bool)
		if i != 3 {
			resolve = func(id string) (string, bool) { return m.eng.ServerAddr(id) }
		}
		m.data = dataplane.New(dataplane.Config{Local: m.blobs, Transport: m.trans, Self: m.id, HoldsData: true, Resolve: resolve})
		f := fsm.New(fsm.Options{OnFreed: m.data.Freed})
		m.eng, err = engine.Open(engine.Config{
			NodeID: m.id, Dir: filepath.Join(dir, m.id, "raft"), Transport: m.trans, FSM: f, Results: fsm.ResultCodec{},
			Bootstrap: i == 1, ElectionTimeout: 300 * time.Millisecond, HeartbeatTimeout: 300 * time.Millisecond,
			Logger: zerolog.Nop(),
		})
		if err != nil {
			t.Fatal(err)
		}
		backend := NewBackend(m.eng, f, m.data)
		srv := newTestServer(t, NewHandler(Options{
			Backend: backend, Credentials: []Credentials{{AccessKey: testAK, SecretKey: testSK}},
		}))
		m.srv = srv.URL
		ms = append(ms, m)
	}
	t.Cleanup(func() {
		for _, m := range ms {
			_ = m.eng.Close()
			_ = m.trans.Close()
			m.data.Close()
			_ = m.blobs.Close()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, _, err := ms[0].eng.WaitForLeader(ctx); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[1:] {
		if err := ms[0].eng.ChangeMembership(ctx, engine.OpAddVoter, m.id, m.trans.Addr()); err != nil {
			t.Fatal(err)
		}
	}
	var leader, follower *clusterMember
	for _, m := range ms {
		if m.eng.IsLeader() {
			leader = m
		} else if follower == nil {
			follower = m
		}
	}
	if leader == nil || follower == nil {
		t.Fatal("no leader or follower")
	}
	fc := sdkClient(follower.srv, testSK, &http.Client{})
	lc := sdkClient(leader.srv, testSK, &http.Client{})

	mustCreateBucket(t, fc, "clustered")
	_, err := fc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("clustered")})
	wantCode(t, err, "BucketAlreadyOwnedByYou", http.StatusConflict) // a forwarded rejection
	mustPut(t, fc, "clustered", "k", []byte("on the follower"))
	if got := mustGet(t, fc, "clustered", "k"); string(got) != "on the follower" {
		t.Fatalf("follower read %q", got)
	}
	// Every other node sees the object at once (linearizable); its data plane streams the
	// bytes from the node that holds them, or answers 503 when it cannot reach that node (n3).
	for _, m := range ms {
		if m == follower {
			continue
		}
		c := sdkClient(m.srv, testSK, &http.Client{})
		if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("clustered"), Key: aws.String("k")}); err != nil {
			t.Fatalf("HeadObject on %s: %v", m.id, err)
		}
		if m.id == "n3" {
			_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("clustered"), Key: aws.String("k")})
			wantCode(t, err, "ServiceUnavailable", http.StatusServiceUnavailable)
			continue
		}
		if got := mustGet(t, c, "clustered", "k"); string(got) != "on the follower" {
			t.Fatalf("read through %s of bytes held by %s: %q", m.id, follower.id, got)
		}
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("clustered"), Key: aws.String("k"), Range: aws.String("bytes=3-8")})
		if err != nil {
			t.Fatalf("remote range read through %s: %v", m.id, err)
		}
		b, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if string(b) != "the fo" {
			t.Fatalf("remote range read through %s: %q", m.id, b)
		}
	}
	_ = lc

	// Lose quorum: stop the two other nodes; a write on the survivor fails in bounded time.
	survivor := follower
	for _, m := range ms {
		if m != survivor {
			_ = m.eng.Kill()
		}
	}
	start := time.Now()
	resp, body := rawRequest(t, survivor.srv, "PUT", "/clustered/lost", []byte("x"), nil, time.Time{}, testSK)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("write without quorum: %d %s", resp.StatusCode, body)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("write without quorum took %s", took)
	}
}
