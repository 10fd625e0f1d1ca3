package gossip

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/nebulaio/nebulaio/internal/testutil"
)

// refusalLog collects what OnRefused was told.
type refusalLog struct {
	mu   sync.Mutex
	list []Refusal
}

func (l *refusalLog) add(r Refusal) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list = append(l.list, r)
}

// find returns the first refusal matching outbound and cluster.
func (l *refusalLog) find(outbound bool, cluster string) (Refusal, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.list {
		if r.Outbound == outbound && r.ClusterID == cluster {
			return r, true
		}
	}
	return Refusal{}, false
}

func clusterConfig(id, cluster string, key []byte, log *refusalLog) Config {
	c := fastConfig(id)
	c.ClusterID = cluster
	c.SecretKey = key
	c.OnRefused = log.add
	return c
}

// TestForeignClusterNeverMerges is issue 16's split brain at the gossip layer: a node of a
// cluster bootstrapped apart is pointed at a member of another. Whether the two clusters hold
// different keys or (configured by copy and paste) the same one, the join is refused — both
// sides say which cluster the other belongs to — and neither lists the other's members, also
// after the re-joins of the healer.
func TestForeignClusterNeverMerges(t *testing.T) {
	t.Parallel()
	keyA := bytes.Repeat([]byte{1}, 32)
	for _, tc := range []struct {
		name string
		keyB []byte
	}{
		{"other key", bytes.Repeat([]byte{2}, 32)},
		{"same key", keyA},
		{"no key", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var logA, logB refusalLog
			a1 := start(t, clusterConfig("a1", "aaaaaaaaaaaaaaaa", keyA, &logA))
			ca2 := clusterConfig("a2", "aaaaaaaaaaaaaaaa", keyA, &logA)
			ca2.JoinAddresses = []string{a1.Addr()}
			a2 := start(t, ca2)
			testutil.WaitFor(t, 10*time.Second, "cluster A formed", func() error { return wantMembers(a1, allAlive("a1", "a2")) })

			cb := clusterConfig("b1", "bbbbbbbbbbbbbbbb", tc.keyB, &logB)
			cb.JoinAddresses = []string{a1.Addr()} // keeps retrying in the background meanwhile
			b1 := start(t, cb)
			_, err := b1.Join([]string{a1.Addr()})
			if !errors.Is(err, ErrJoin) || !errors.Is(err, ErrForeignCluster) {
				t.Fatalf("Join into another cluster: %v, want ErrJoin and ErrForeignCluster", err)
			}
			// The refused node knows whom it reached; the member knows who knocked.
			if r, ok := logB.find(true, "aaaaaaaaaaaaaaaa"); !ok || r.Addr != a1.Addr() {
				t.Fatalf("b1 was not told that %s belongs to cluster aaaa…: %+v", a1.Addr(), logB.list)
			}
			if _, ok := logA.find(false, "bbbbbbbbbbbbbbbb"); !ok {
				t.Fatalf("a1 did not report the member of cluster bbbb… it refused: %+v", logA.list)
			}
			// Give b1's background join (retrying every 400 ms at most) and A's gossip time
			// to do harm.
			time.Sleep(time.Second)
			for _, g := range []*Gossip{a1, a2} {
				if err := wantMembers(g, allAlive("a1", "a2")); err != nil {
					t.Fatal(err)
				}
			}
			if err := wantMembers(b1, allAlive("b1")); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestRogueWithoutClusterIDNeverJoins: a member of no cluster (an unlabelled memberlist, as a
// rogue process or an older build would run) cannot join a labelled cluster, with or without
// its key.
func TestRogueWithoutClusterIDNeverJoins(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{1}, 32)
	var log refusalLog
	a := start(t, clusterConfig("a1", "aaaaaaaaaaaaaaaa", key, &log))
	for _, k := range [][]byte{key, nil} {
		c := fastConfig("rogue")
		c.SecretKey = k
		rogue := start(t, c)
		if _, err := rogue.Join([]string{a.Addr()}); err == nil {
			t.Fatal("an unlabelled member joined")
		}
		if err := wantMembers(a, allAlive("a1")); err != nil {
			t.Fatal(err)
		}
		_ = rogue.Shutdown()
	}
	if _, ok := log.find(false, ""); !ok {
		t.Fatalf("the refusal of an unlabelled stream was not reported: %+v", log.list)
	}
}

// TestMetadataVeto: memberlist's alive and merge hooks refuse a node whose metadata names
// another cluster, or none, or does not decode — the second gate, behind the label.
func TestMetadataVeto(t *testing.T) {
	var log refusalLog
	g := &Gossip{cfg: Config{NodeID: "a1", ClusterID: "aaaaaaaaaaaaaaaa", OnRefused: log.add}}
	d := &delegate{g: g}
	node := func(name string, m NodeMeta) *memberlist.Node {
		enc, err := encodeMeta(m, 1)
		if err != nil {
			t.Fatal(err)
		}
		return &memberlist.Node{Name: name, Addr: net.IPv4(10, 0, 0, 1), Port: 9004, Meta: enc}
	}
	ours := node("a2", NodeMeta{ID: "a2", ClusterID: "aaaaaaaaaaaaaaaa"})
	foreign := node("b1", NodeMeta{ID: "b1", ClusterID: "bbbbbbbbbbbbbbbb"})
	none := node("x", NodeMeta{ID: "x"})
	garbled := &memberlist.Node{Name: "y", Addr: net.IPv4(10, 0, 0, 2), Port: 9004, Meta: []byte{9, 9}}

	if err := d.NotifyAlive(ours); err != nil {
		t.Fatalf("a member of this cluster vetoed: %v", err)
	}
	if err := d.NotifyMerge([]*memberlist.Node{ours}); err != nil {
		t.Fatalf("a merge with this cluster vetoed: %v", err)
	}
	for _, n := range []*memberlist.Node{foreign, none, garbled} {
		if err := d.NotifyAlive(n); !errors.Is(err, ErrForeignCluster) {
			t.Errorf("alive of %s: %v, want ErrForeignCluster", n.Name, err)
		}
		if err := d.NotifyMerge([]*memberlist.Node{ours, n}); !errors.Is(err, ErrForeignCluster) {
			t.Errorf("merge with %s: %v, want ErrForeignCluster", n.Name, err)
		}
	}
	r, ok := log.find(false, "bbbbbbbbbbbbbbbb")
	if !ok || r.NodeID != "b1" || r.Why != "metadata" || r.Addr != "10.0.0.1:9004" {
		t.Fatalf("refusal %+v", r)
	}
}

// TestClusterIDConfig: the metadata carries the cluster ID; it cannot be set apart from it.
func TestClusterIDConfig(t *testing.T) {
	var log refusalLog
	g := start(t, clusterConfig("a1", "aaaaaaaaaaaaaaaa", nil, &log))
	if m, _ := g.Member("a1"); m.Meta.ClusterID != "aaaaaaaaaaaaaaaa" {
		t.Fatalf("own metadata %+v", m.Meta)
	}
	if err := g.UpdateMeta(NodeMeta{Role: "storage", ClusterID: "bbbbbbbbbbbbbbbb"}); !errors.Is(err, ErrConfig) {
		t.Fatalf("UpdateMeta with another cluster: %v", err)
	}
	if err := g.UpdateMeta(NodeMeta{Role: "storage"}); err != nil {
		t.Fatal(err)
	}
	if m, _ := g.Member("a1"); m.Meta.ClusterID != "aaaaaaaaaaaaaaaa" || m.Meta.Role != "storage" {
		t.Fatalf("metadata after UpdateMeta %+v", m.Meta)
	}
	c := fastConfig("x")
	c.ClusterID = "aaaaaaaaaaaaaaaa"
	c.Meta.ClusterID = "bbbbbbbbbbbbbbbb"
	if err := c.Validate(); !errors.Is(err, ErrConfig) {
		t.Fatalf("Validate with Meta.ClusterID != ClusterID: %v", err)
	}
}
