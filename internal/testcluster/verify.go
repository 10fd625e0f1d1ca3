package testcluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/hashicorp/raft"

	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/internal/testutil"
)

type objectKey struct{ bucket, key string }

type objectSum struct {
	size int
	sum  [32]byte
}

// PutObject writes an object through node i's S3 endpoint and, when the write is
// acknowledged, records it for VerifyAcknowledged.
func (c *Cluster) PutObject(i int, bucket, key string, body []byte) error {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err := c.S3Client(i).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	if err == nil {
		c.Acknowledge(bucket, key, body)
	}
	return err
}

// Acknowledge records that a write of body to bucket/key was acknowledged to the client, for
// VerifyAcknowledged; a later acknowledgement of the same key replaces it.
func (c *Cluster) Acknowledge(bucket, key string, body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.acked[objectKey{bucket, key}] = objectSum{size: len(body), sum: sha256.Sum256(body)}
}

// Forget drops bucket/key from the acknowledged writes (the test deleted it).
func (c *Cluster) Forget(bucket, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.acked, objectKey{bucket, key})
}

// Verify runs the checks every cluster test ends with: VerifyFSMs, VerifyAcknowledged and
// VerifyLeadership.
func (c *Cluster) Verify() {
	c.t.Helper()
	c.VerifyFSMs()
	c.VerifyAcknowledged()
	c.VerifyLeadership()
}

// VerifyFSMs waits until every running node's FSM has the same digest (the same applied
// index and the same records), and fails the test if they do not converge.
func (c *Cluster) VerifyFSMs() {
	c.t.Helper()
	testutil.WaitFor(c.t, verifyTimeout, "identical FSM contents on every running node", func() error {
		running := c.Running()
		if len(running) == 0 {
			return fmt.Errorf("no node runs")
		}
		var first fsm.Digest
		for k, i := range running {
			d, err := c.Node(i).FSM().Digest(context.Background())
			if err != nil {
				return fmt.Errorf("%s: %w", c.ID(i), err)
			}
			if k == 0 {
				first = d
			} else if d != first {
				return fmt.Errorf("%s: applied %d, %d records, %x; %s: applied %d, %d records, %x", c.ID(running[0]),
					first.Applied, first.Records, first.Sum[:6], c.ID(i), d.Applied, d.Records, d.Sum[:6])
			}
		}
		return nil
	})
}

// VerifyAcknowledged checks that every acknowledged write is in every running node's FSM with
// its size, and that its bytes read back intact through S3 (each object through one running
// node, in turn). Run it after VerifyFSMs, so that every node has applied every write.
func (c *Cluster) VerifyAcknowledged() {
	c.t.Helper()
	c.mu.Lock()
	keys := make([]objectKey, 0, len(c.acked))
	for k := range c.acked {
		keys = append(keys, k)
	}
	acked := make(map[objectKey]objectSum, len(c.acked))
	for k, v := range c.acked {
		acked[k] = v
	}
	c.mu.Unlock()
	sort.Slice(keys, func(a, b int) bool {
		return keys[a].bucket < keys[b].bucket || keys[a].bucket == keys[b].bucket && keys[a].key < keys[b].key
	})
	running := c.Running()
	if len(running) == 0 {
		c.t.Fatalf("testcluster: VerifyAcknowledged: no node runs")
	}
	// One client per node: a client per read would hold a connection per object until the
	// garbage collector closes it, and a test of many objects runs out of file descriptors.
	clients := map[int]*s3.Client{}
	for _, i := range running {
		clients[i] = c.S3Client(i)
	}
	var bad []string
	for k, key := range keys {
		want := acked[key]
		for _, i := range running {
			o, err := c.Node(i).FSM().Object(key.bucket, key.key)
			if err != nil || o.Size != uint64(want.size) {
				bad = append(bad, fmt.Sprintf("%s/%s on %s: %+v %v", key.bucket, key.key, c.ID(i), o, err))
			}
		}
		i := running[k%len(running)]
		if err := readBack(clients[i], key, want); err != nil {
			bad = append(bad, fmt.Sprintf("%s/%s through %s: %v", key.bucket, key.key, c.ID(i), err))
		}
		if len(bad) >= 5 {
			break
		}
	}
	if len(bad) > 0 {
		c.t.Fatalf("testcluster: acknowledged writes missing or damaged:\n%s", strings.Join(bad, "\n"))
	}
}

func readBack(client *s3.Client, key objectKey, want objectSum) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(key.bucket), Key: aws.String(key.key)})
	if err != nil {
		return err
	}
	defer out.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, out.Body)
	if err != nil {
		return err
	}
	if int(n) != want.size || !bytes.Equal(h.Sum(nil), want.sum[:]) {
		return fmt.Errorf("read %d bytes that differ from the %d acknowledged", n, want.size)
	}
	return nil
}

// VerifyLeadership fails the test if two nodes were seen leading in the same term.
func (c *Cluster) VerifyLeadership() {
	c.t.Helper()
	if v := c.leads.violations(); len(v) > 0 {
		c.t.Fatalf("testcluster: two leaders in one term:\n%s", strings.Join(v, "\n"))
	}
}

// leaderObserver samples every running node's raft state and term and remembers who led
// each term. A sample counts only when the term read before and after the state is the same,
// so it never reports a leader for a term it did not lead in.
type leaderObserver struct {
	c    *Cluster
	done chan struct{}
	wg   sync.WaitGroup

	mu     sync.Mutex
	leader map[uint64]string // term → the first node seen leading it
	bad    map[uint64]string // term → the violation seen in it
}

const observeEvery = 5 * time.Millisecond

func startLeaderObserver(c *Cluster) *leaderObserver {
	o := &leaderObserver{c: c, done: make(chan struct{}), leader: map[uint64]string{}, bad: map[uint64]string{}}
	o.wg.Add(1)
	go o.run()
	return o
}

func (o *leaderObserver) run() {
	defer o.wg.Done()
	t := time.NewTicker(observeEvery)
	defer t.Stop()
	for {
		select {
		case <-o.done:
			return
		case <-t.C:
		}
		for _, n := range o.rafts() {
			before := n.r.CurrentTerm()
			leads := n.r.State() == raft.Leader
			if leads && n.r.CurrentTerm() == before {
				o.saw(before, n.id)
			}
		}
	}
}

type observed struct {
	id string
	r  *raft.Raft
}

// rafts are the raft instances of the running nodes.
func (o *leaderObserver) rafts() []observed {
	o.c.mu.Lock()
	defer o.c.mu.Unlock()
	var out []observed
	for _, m := range o.c.members {
		if m.node == nil {
			continue
		}
		if e := m.node.Engine(); e != nil {
			out = append(out, observed{m.cfg.NodeID, e.Raft()})
		}
	}
	return out
}

func (o *leaderObserver) saw(term uint64, id string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	first, ok := o.leader[term]
	switch {
	case !ok:
		o.leader[term] = id
	case first != id && o.bad[term] == "":
		o.bad[term] = fmt.Sprintf("term %d: %s and %s", term, first, id)
	}
}

func (o *leaderObserver) violations() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]string, 0, len(o.bad))
	for _, v := range o.bad {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

func (o *leaderObserver) stop() {
	select {
	case <-o.done:
	default:
		close(o.done)
	}
	o.wg.Wait()
}
