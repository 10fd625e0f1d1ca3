package engine

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rs/zerolog"

	"github.com/nebulaio/nebulaio/fsm"
)

func TestEnvelopeRoundTripAndDamage(t *testing.T) {
	cmds := [][]byte{[]byte("a"), {}, bytes.Repeat([]byte("x"), 300), encodeSet("k", "v")}
	env := encodeEnvelope(cmds)
	got, err := decodeEnvelope(env)
	if err != nil || len(got) != len(cmds) {
		t.Fatalf("decode: %d commands, %v", len(got), err)
	}
	for i := range cmds {
		if !bytes.Equal(got[i], cmds[i]) {
			t.Fatalf("command %d differs", i)
		}
	}
	for cut := len(envelopeMagic); cut < len(env); cut++ {
		if _, err := decodeEnvelope(env[:cut]); err == nil {
			t.Fatalf("envelope cut at %d of %d decoded", cut, len(env))
		}
	}
	if _, err := decodeEnvelope(append(env, 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
}

// TestEnvelopeAppliesEachCommand: an envelope entry is applied as its commands, in order, with
// one result each; a malformed envelope reaches the FSM as one entry it rejects.
func TestEnvelopeAppliesEachCommand(t *testing.T) {
	kv := newKV()
	f := newAppliedFSM(kv)
	logs := []*raft.Log{
		{Index: 1, Type: raft.LogCommand, Data: encodeSet("a", "1")},
		{Index: 2, Type: raft.LogCommand, Data: encodeEnvelope([][]byte{encodeSet("a", "2"), encodeSet("b", "1"), []byte("junk")})},
		{Index: 3, Type: raft.LogCommand, Data: append(append([]byte{}, envelopeMagic...), 0xff)},
	}
	out := f.ApplyBatch(logs)
	if out[0] != "" {
		t.Fatalf("first result %v", out[0])
	}
	rs, ok := out[1].(envelopeResults)
	if !ok || len(rs) != 3 || rs[0] != "1" || rs[1] != "" || rs[2] != errBadCommand {
		t.Fatalf("envelope results %#v", out[1])
	}
	if out[2] != errBadCommand {
		t.Fatalf("malformed envelope: %v", out[2])
	}
	if v, _ := kv.get("a"); v != "2" {
		t.Fatalf("a = %q", v)
	}
	if applied, _ := f.state(); applied != 3 {
		t.Fatalf("applied %d", applied)
	}
	single := f.Apply(&raft.Log{Index: 4, Type: raft.LogCommand, Data: encodeEnvelope([][]byte{encodeSet("c", "1"), encodeSet("c", "2")})})
	if rs, ok := single.(envelopeResults); !ok || len(rs) != 2 || rs[1] != "1" {
		t.Fatalf("Apply of an envelope: %#v", single)
	}
}

// hungFuture is an ApplyFuture that raft does not answer until release is closed.
type hungFuture struct {
	raft.ApplyFuture
	release chan struct{}
}

func (f hungFuture) Error() error {
	<-f.release
	return raft.ErrRaftShutdown
}

// answeredFuture is an ApplyFuture answered with results.
type answeredFuture struct {
	raft.ApplyFuture
	res any
}

func (answeredFuture) Error() error    { return nil }
func (f answeredFuture) Response() any { return f.res }

// TestAwaitRound: a round's results reach every proposal of it before the next round may start,
// and a future raft never answers holds the batcher for at most twice the no-quorum bound.
func TestAwaitRound(t *testing.T) {
	n := &Node{cfg: Config{ElectionTimeout: 40 * time.Millisecond, HeartbeatTimeout: 10 * time.Millisecond}, log: zerolog.Nop()}
	batch := []*pendingProposal{{done: make(chan proposalOutcome, 1)}, {done: make(chan proposalOutcome, 1)}}
	idle := make(chan struct{}, 1)
	n.awaitRound(answeredFuture{res: envelopeResults{"a", "b"}}, batch, idle)
	for i, want := range []string{"a", "b"} {
		if o := <-batch[i].done; o.err != nil || o.res != want {
			t.Fatalf("proposal %d: %+v, want %q", i, o, want)
		}
	}
	if len(idle) != 1 {
		t.Fatal("next round not allowed after the results were handed out")
	}
	<-idle

	start := time.Now()
	hung := hungFuture{release: make(chan struct{})}
	defer close(hung.release)
	n.awaitRound(hung, batch[:1], idle)
	if took := time.Since(start); took < 2*n.noQuorumAfter() || took > 2*n.noQuorumAfter()+time.Second {
		t.Fatalf("released after %v, want about %v", took, 2*n.noQuorumAfter())
	}
	if len(idle) != 1 {
		t.Fatal("a hung round kept the batcher waiting")
	}
}

// TestAwaitRoundEndsAtShutdown: a round raft never answers (raft does not resolve futures
// still queued when it shuts down) does not outlive the node: awaitRound returns when the node
// closes, instead of waiting out its bound and logging through a logger whose test has ended
// (the race detector caught that in TestLeaderFailoverLosesNoAcknowledgedWrite).
func TestAwaitRoundEndsAtShutdown(t *testing.T) {
	n := &Node{cfg: Config{ElectionTimeout: time.Second, HeartbeatTimeout: time.Second}, log: zerolog.Nop(), done: make(chan struct{})}
	hung := hungFuture{release: make(chan struct{})}
	defer close(hung.release)
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		n.awaitRound(hung, []*pendingProposal{{done: make(chan proposalOutcome, 1)}}, make(chan struct{}, 1))
	}()
	close(n.done)
	select {
	case <-returned:
	case <-time.After(n.noQuorumAfter()): // half of awaitRound's own bound
		t.Fatal("awaitRound kept waiting for a round after the node closed")
	}
}

// TestEnvelopeBytesBounded: one proposal of fsm.MaxInlineSize inline bytes, forwarded by a
// follower, commits on three nodes; then concurrent proposals of 300 KiB (small objects inline)
// are packed into envelopes of at most maxEnvelopeBytes, each applied once on every node.
func TestEnvelopeBytesBounded(t *testing.T) {
	c := newCluster(t, 3, clusterOpts{})
	leader := c.waitLeader(10 * time.Second)
	follower := c.followers(leader)[0]
	cmd := func(i, size int) []byte {
		b, err := fsm.Encode(&fsm.PutObject{Bucket: kvBucket, Key: fmt.Sprint("k", i), ETag: fmt.Sprint(i),
			Blobs: []fsm.Blob{{ID: fmt.Sprint("b", i), Size: uint64(size), Inline: true, Data: make([]byte, size)}}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	propose := func(via *Node, b []byte) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := via.Propose(ctx, b)
		return err
	}
	// Forwarded proposals have the no-quorum bound (about 1.5 s here), so the big one goes
	// alone; the burst below goes through the leader.
	if err := propose(follower.node, cmd(0, fsm.MaxInlineSize)); err != nil {
		t.Fatal(err)
	}
	const n, size = 24, 300 << 10
	errs := make(chan error, n)
	for i := 1; i <= n; i++ {
		go func() { errs <- propose(leader.node, cmd(i, size)) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	data := c.waitConverged(30 * time.Second)
	if len(data) != n+1 {
		t.Fatalf("%d keys, want %d", len(data), n+1)
	}
	kv := leader.fsm.(*kvFSM)
	kv.mu.RLock()
	defer kv.mu.RUnlock()
	if kv.applied != n+1 {
		t.Fatalf("%d applied, want %d", kv.applied, n+1)
	}
	for idx, b := range kv.entryBytes {
		if b > maxEnvelopeBytes {
			t.Fatalf("entry %d carries %d bytes of proposals, limit %d", idx, b, maxEnvelopeBytes)
		}
	}
}
