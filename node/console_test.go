package node_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nebulaio/nebulaio/config"
	"github.com/nebulaio/nebulaio/internal/testcluster"
	"github.com/nebulaio/nebulaio/internal/testutil"
)

// consoleClient is a browser session on one node's console.
type consoleClient struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
}

func newConsoleClient(t *testing.T, c *testcluster.Cluster, i int) *consoleClient {
	jar, _ := cookiejar.New(nil)
	return &consoleClient{t: t, base: "http://" + c.MustNode(i).ConsoleAddr().String(),
		c: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

func (cc *consoleClient) get(path string) (int, string) {
	cc.t.Helper()
	resp, err := cc.c.Get(cc.base + path)
	if err != nil {
		cc.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(b); m != nil {
		cc.csrf = string(m[1])
	}
	return resp.StatusCode, string(b)
}

func (cc *consoleClient) post(path string, form url.Values) (int, string) {
	cc.t.Helper()
	resp, err := cc.c.PostForm(cc.base+path, form)
	if err != nil {
		cc.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// act confirms an action the way the page's forms do and returns the result message.
func (cc *consoleClient) act(action, node string) string {
	cc.t.Helper()
	if code, body := cc.get("/confirm?action=" + action + "&node=" + node); code != 200 {
		cc.t.Fatalf("confirm %s %s: %d %s", action, node, code, body)
	}
	code, body := cc.post("/action", url.Values{"csrf": {cc.csrf}, "action": {action}, "node": {node}, "confirm": {"yes"}})
	m := regexp.MustCompile(`id="flash" class="flash (ok|bad)">([^<]*)<`).FindStringSubmatch(body)
	if code != 200 || m == nil {
		cc.t.Fatalf("%s %s: %d, no result message:\n%s", action, node, code, body)
	}
	return m[1] + ": " + m[2]
}

// TestConsoleOnCluster: every node serves the console; on a follower's, after logging in with
// its admin token, the cluster page lists the three nodes and marks the leader, the storage
// page shows every node's disk, the buckets page counts what S3 wrote, the latency chart
// shows the writes proposed through that node, and a demote and promote through the console
// change the raft configuration, leadership moves (to any voter, then to a named one), and a
// drain starts.
func TestConsoleOnCluster(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Nodes: 3})
	leader := c.WaitForLeader()
	f := c.Followers()[0]
	for _, i := range c.Running() {
		resp, err := http.Get("http://" + c.MustNode(i).ConsoleAddr().String() + "/up")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("node %d /up: %d", i, resp.StatusCode)
		}
	}

	ctx := context.Background()
	s3c := c.S3Client(f)
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("console")}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("console"), Key: aws.String(fmt.Sprint("k", i)), Body: strings.NewReader("hello")}); err != nil {
			t.Fatal(err)
		}
	}

	cc := newConsoleClient(t, c, f)
	if code, _ := cc.post("/login", url.Values{"token": {"wrong"}}); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", code)
	}
	if code, body := cc.post("/login", url.Values{"token": {c.MustNode(f).Credentials().AdminToken}}); code != 200 || !strings.Contains(body, `id="nodes"`) {
		t.Fatalf("login: %d\n%s", code, body)
	}
	testutil.WaitFor(t, 20*time.Second, "the cluster page shows three nodes, their indexes and the leader", func() error {
		_, body := cc.get("/cluster")
		for _, want := range []string{`id="cluster-id">` + c.MustNode(f).ClusterID() + `<`, `id="node-n1"`, `id="node-n2"`, `id="node-n3"`, `id="leader">` + c.ID(leader) + `<`,
			`id="node-` + c.ID(leader) + `" data-node="` + c.ID(leader) + `" class="leader"`, `<svg id="latency-chart"`} {
			if !strings.Contains(body, want) {
				return fmt.Errorf("no %q", want)
			}
		}
		if strings.Contains(body, ">unknown<") {
			return fmt.Errorf("a node's state is unknown")
		}
		return nil
	})
	_, body := cc.get("/storage")
	for _, id := range []string{"n1", "n2", "n3"} {
		row := regexp.MustCompile(`(?s)id="disk-` + id + `">(.*?)</tr>`).FindStringSubmatch(body)
		if row == nil || strings.Contains(row[1], "unknown:") || !strings.Contains(row[1], "<progress") {
			t.Fatalf("storage page, %s's disk: %q", id, row)
		}
	}
	_, body = cc.get("/buckets")
	if !strings.Contains(body, `id="bucket-count">1<`) || !strings.Contains(body, `id="object-count">5<`) || !strings.Contains(body, "25 B") {
		t.Fatalf("buckets page:\n%s", body)
	}

	// Promote and demote a storage node through the console (forwarded to the leader). A
	// storage node asks to be a non-voter, so the reconciler leaves the operator's change be.
	c.Add(func(cfg *config.Config) {
		cfg.Cluster.NodeRole = config.RoleStorage
		cfg.Cluster.JoinAddresses = []string{c.GossipAddr(0)}
	})
	target := "n4"
	waitEvent := func(text string) {
		t.Helper()
		testutil.WaitFor(t, 20*time.Second, "event "+text, func() error {
			if _, body := cc.get("/cluster"); !strings.Contains(body, text) {
				return fmt.Errorf("not on the cluster page")
			}
			return nil
		})
	}
	waitEvent("n4 added to raft as a non-voter")
	if got := cc.act("promote", target); got != "ok: "+target+" promoted to voter" {
		t.Fatalf("promote: %s", got)
	}
	if !voter(t, c, leader, target) {
		t.Fatalf("%s is not a voter after the console promoted it", target)
	}
	waitEvent("n4 promoted to voter")
	if got := cc.act("demote", target); got != "ok: "+target+" demoted to non-voter" {
		t.Fatalf("demote: %s", got)
	}
	if voter(t, c, leader, target) {
		t.Fatalf("%s is still a voter after the console demoted it", target)
	}
	waitEvent("n4 demoted to non-voter")
	if got := cc.act("demote", "nope"); !strings.HasPrefix(got, "bad: Demote failed: unknown_node") {
		t.Fatalf("demote of an unknown node: %s", got)
	}
	if got := cc.act("transfer", target); !strings.Contains(got, "bad: Transfer leadership failed: ") || !strings.Contains(got, "n4 is a non-voter") {
		t.Fatalf("transfer to a non-voter: %s", got)
	}
	if got := cc.act("drain", target); got != "ok: drain of "+target+" started" {
		t.Fatalf("drain: %s", got)
	}
	// The drain shows on the cluster page (the node's badge) and as a task on the storage page.
	testutil.WaitUntil(t, 20*time.Second, "the drain on the console's pages", func() bool {
		_, cl := cc.get("/cluster")
		_, st := cc.get("/storage")
		return strings.Contains(cl, `<span class="badge warn">drain`) && strings.Contains(st, "drain "+target)
	})

	// Transfer leadership from a follower's console: the leader hands over to another voter.
	old := c.WaitForLeader()
	got := cc.act("transfer", "")
	now := c.WaitForNewLeader(old)
	if want := "ok: leadership transferred: the leader is now " + c.ID(now); got != want {
		t.Fatalf("transfer: %q, want %q", got, want)
	}
	seeLeader(t, cc, c.ID(old), c.ID(now), c.MustNode(now).Engine().LocalStatus().Term) // the leader's term
	// To a named voter, from the (new) leader's own console.
	lc := newConsoleClient(t, c, now)
	lc.post("/login", url.Values{"token": {c.MustNode(now).Credentials().AdminToken}})
	to := c.ID(old)
	if got := lc.act("transfer", to); got != "ok: leadership transferred: the leader is now "+to {
		t.Fatalf("transfer to %s: %q", to, got)
	}
	testutil.WaitFor(t, 10*time.Second, to+" leads", func() error {
		if l := c.Leader(); l != old {
			return fmt.Errorf("leader is node %d", l)
		}
		return nil
	})
	seeLeader(t, cc, c.ID(now), to, c.MustNode(old).Engine().LocalStatus().Term)
}

// seeLeader waits until the console's events show that leadership went from one node to
// another in term: as a move, or as a loss then an election, depending on when its
// once-a-second look fell.
func seeLeader(t *testing.T, cc *consoleClient, from, to string, term uint64) {
	t.Helper()
	at := fmt.Sprintf("(term %d)", term)
	testutil.WaitFor(t, 20*time.Second, "leadership to "+to+" in the events", func() error {
		_, body := cc.get("/cluster")
		if strings.Contains(body, "leadership moved from "+from+" to "+to+" "+at) || strings.Contains(body, to+" elected leader "+at) {
			return nil
		}
		ev := regexp.MustCompile(`(?s)<ul id="events".*?</ul>`).FindString(body)
		return fmt.Errorf("no leadership event for %s %s in %s", to, at, ev)
	})
}

func voter(t *testing.T, c *testcluster.Cluster, i int, id string) bool {
	t.Helper()
	servers, err := c.MustNode(i).Engine().Servers()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range servers {
		if s.ID == id {
			return s.Voter
		}
	}
	t.Fatalf("%s is not in the raft configuration", id)
	return false
}
