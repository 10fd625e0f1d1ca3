package dataplane

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/nebulaio/nebulaio/dataplane/blob"
	"github.com/nebulaio/nebulaio/transport"
)

func flush(t *testing.T, d *Plane) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.FlushFrees(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestFreedDeletesOnlyLocalCopies: the apply hook of one node deletes that node's copies and
// nobody else's (each node applies the same events and deletes its own).
func TestFreedDeletesOnlyLocalCopies(t *testing.T) {
	c := newDataCluster(t, 3, 3)
	ctx := context.Background()
	for _, id := range []string{"f1", "f2", "kept"} {
		data := randomBytes(20, 1000)
		if _, _, err := c.nodes["d1"].d.Put(ctx, id, bytes.NewReader(data), Expect{Size: 1000}); err != nil {
			t.Fatal(err)
		}
	}
	c.nodes["d2"].d.Freed([]string{"f1", "f2", "never-written"})
	flush(t, c.nodes["d2"].d)
	for id, want := range map[string][]string{"f1": {"d1", "d3"}, "f2": {"d1", "d3"}, "kept": {"d1", "d2", "d3"}} {
		if h := c.holders(id); !slices.Equal(h, want) {
			t.Fatalf("after d2 freed f1 and f2: %s is on %v, want %v", id, h, want)
		}
	}
	for _, n := range []string{"d1", "d3"} {
		c.nodes[n].d.Freed([]string{"f1", "f2"})
	}
	c.nodes["d1"].d.Close() // Close deletes what is queued
	flush(t, c.nodes["d3"].d)
	if h := append(c.holders("f1"), c.holders("f2")...); len(h) != 0 {
		t.Fatalf("freed blobs still on %v", h)
	}
	if err := c.nodes["d1"].d.FlushFrees(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("FlushFrees after Close: %v", err)
	}
}

// TestFreedOnNodeWithoutData: a management node's data plane ignores freed blobs (it holds
// none, and must not touch a store it does not own).
func TestFreedOnNodeWithoutData(t *testing.T) {
	tr, err := transport.New(transport.Config{BindAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	st, err := blob.Open(filepath.Join(t.TempDir(), "b"), blob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Put(context.Background(), "x", bytes.NewReader([]byte("x")), blob.Expect{Size: 1}); err != nil {
		t.Fatal(err)
	}
	d := New(Config{Local: st, Transport: tr, Self: "m", HoldsData: false, Logger: zerolog.Nop()})
	d.Freed([]string{"x"})
	flush(t, d)
	d.Close()
	if _, err := st.Stat("x"); err != nil {
		t.Fatalf("a node without data deleted a blob: %v", err)
	}
}

// TestDiscardRemovesEveryCopy: the writer of a rejected blob deletes its own copy before
// Discard returns and the other copies in the background.
func TestDiscardRemovesEveryCopy(t *testing.T) {
	c := newDataCluster(t, 3, 3)
	data := randomBytes(21, 5000)
	_, nodes, err := c.nodes["d2"].d.Put(context.Background(), "rejected", bytes.NewReader(data), Expect{Size: 5000})
	if err != nil || len(nodes) != 3 {
		t.Fatalf("put: %v %v", nodes, err)
	}
	c.nodes["d2"].d.Discard("rejected", nodes)
	if h := c.holders("rejected"); slices.Contains(h, "d2") {
		t.Fatalf("the writer's own copy is still there after Discard: %v", h)
	}
	c.nodes["d2"].d.Close() // waits for the remote deletions
	if h := c.holders("rejected"); len(h) != 0 {
		t.Fatalf("discarded blob still on %v", h)
	}
}
