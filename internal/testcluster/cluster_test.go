package testcluster

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// recordingT is a *testing.T whose Fatalf can be switched to recording, to check that the
// verifiers fail when they should.
type recordingT struct {
	*testing.T
	record bool
	failed []string
}

func (r *recordingT) Fatalf(format string, args ...any) {
	r.T.Helper()
	if r.record {
		r.failed = append(r.failed, fmt.Sprintf(format, args...))
		return
	}
	r.T.Fatalf(format, args...)
}

// TestHarness drives a three-node cluster through the harness's operations — a write, a
// killed leader, a partitioned follower, a restart — and checks that Verify passes after
// them and fails for a write that was never made.
func TestHarness(t *testing.T) {
	rt := &recordingT{T: t}
	c := Start(rt, Options{Nodes: 3})
	l := c.WaitForLeader()
	if got := c.Followers(); len(got) != 2 || got[0] == l || got[1] == l {
		t.Fatalf("followers %v with leader %d", got, l)
	}
	ctx := context.Background()
	if _, err := c.S3Client(l).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("harness")}); err != nil {
		t.Fatal(err)
	}
	if err := c.PutObject(c.Followers()[0], "harness", "one", []byte("first")); err != nil {
		t.Fatal(err)
	}

	c.Kill(l)
	nl := c.WaitForNewLeader(l)
	if err := c.PutObject(nl, "harness", "two", []byte("while a node is down")); err != nil {
		t.Fatal(err)
	}
	var f int
	for _, i := range c.Followers() {
		f = i
	}
	c.Partition(f)
	if err := c.PutObject(nl, "harness", "three", []byte("without a quorum")); err == nil {
		t.Fatal("a write succeeded with one of three voters reachable")
	}
	c.Heal()
	c.Restart(l)
	if c.Node(l) == nil || len(c.Running()) != 3 {
		t.Fatalf("after the restart: running %v", c.Running())
	}
	c.Verify()

	c.Acknowledge("harness", "never-written", []byte("x"))
	rt.record = true
	c.VerifyAcknowledged()
	rt.record = false
	if len(rt.failed) != 1 || !strings.Contains(rt.failed[0], "harness/never-written") {
		t.Fatalf("VerifyAcknowledged with a write that was never made: %q", rt.failed)
	}
}

// TestLeaderObserverFlagsTwoLeadersInOneTerm: the observer's bookkeeping.
func TestLeaderObserverFlagsTwoLeadersInOneTerm(t *testing.T) {
	o := &leaderObserver{leader: map[uint64]string{}, bad: map[uint64]string{}}
	o.saw(3, "n1")
	o.saw(3, "n1")
	o.saw(4, "n2")
	if v := o.violations(); len(v) != 0 {
		t.Fatalf("one leader per term reported as %v", v)
	}
	o.saw(4, "n3")
	o.saw(4, "n3")
	if v := o.violations(); len(v) != 1 || v[0] != "term 4: n2 and n3" {
		t.Fatalf("violations %q", v)
	}
}
