package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/internal/testutil"
)

// TestInlineObjectsSurviveSnapshotAndCrash: small objects whose bytes travel in their events
// (fsm, "Inline blobs") make the metadata FSM ask for a snapshot by their bytes, long before
// its changed records reach their count (40 objects are 80 records of 400; their 4 MiB are
// past half of the 3.2 MiB derived from it); after a crash the node restores that snapshot's
// runs and replays the log after it, and every object's bytes read back, the overwritten and
// deleted ones' are gone.
func TestInlineObjectsSurviveSnapshotAndCrash(t *testing.T) {
	c := newCluster(t, 1, clusterOpts{metaCache: 10, metaMaxDirty: 400, snapInterval: time.Hour})
	tn := c.nodes[0]
	const n, size = 40, 100 << 10
	data := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, size) }
	put := func(key, id string, b []byte) {
		t.Helper()
		ev, err := fsm.Encode(&fsm.PutObject{Bucket: kvBucket, Key: key, ETag: id, Size: uint64(len(b)),
			Blobs: []fsm.Blob{{ID: id, Size: uint64(len(b)), Inline: true, Data: b}}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := tn.node.Propose(ctx, ev)
		if r, ok := res.(*fsm.Result); err != nil || !ok || r.Err != nil {
			t.Fatalf("put %s: %v %+v", key, err, res)
		}
	}
	for i := range n {
		put(fmt.Sprint("k", i), fmt.Sprint("b", i), data(i))
	}
	testutil.WaitFor(t, 10*time.Second, "a snapshot asked for by inline bytes", func() error {
		metas, err := tn.node.snaps.List()
		if err != nil {
			return err
		}
		if st := tn.fsm.(*metaFSM).MemoryStats(); len(metas) == 0 || st.Snapshot == "" || st.Dirty >= 200 {
			return fmt.Errorf("%d snapshots, %+v", len(metas), st)
		}
		return nil
	})
	// After the snapshot: an overwrite and a delete that only the log holds.
	put("k0", "b0-new", data(100))
	del, _ := fsm.Encode(&fsm.DeleteObject{Bucket: kvBucket, Key: "k1"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if res, err := tn.node.Propose(ctx, del); err != nil || res.(*fsm.Result).Err != nil {
		t.Fatalf("delete: %v %+v", err, res)
	}
	c.kill(tn)
	c.start(tn, false)
	c.waitLeader(10 * time.Second)
	m := tn.fsm.(*metaFSM)
	testutil.WaitFor(t, 10*time.Second, "the log replayed", func() error {
		if _, err := m.BlobData("b0-new"); err != nil {
			return err
		}
		return nil
	})
	for i := 2; i < n; i++ {
		if got, err := m.BlobData(fmt.Sprint("b", i)); err != nil || !bytes.Equal(got, data(i)) {
			t.Fatalf("b%d after the restart: %d bytes, %v", i, len(got), err)
		}
	}
	if got, err := m.BlobData("b0-new"); err != nil || !bytes.Equal(got, data(100)) {
		t.Fatalf("the overwrite after the restart: %d bytes, %v", len(got), err)
	}
	for _, id := range []string{"b0", "b1"} {
		if _, err := m.BlobData(id); !errors.Is(err, fsm.ErrNoSuchBlob) {
			t.Fatalf("freed %s after the restart: %v", id, err)
		}
	}
	if st := m.MemoryStats(); st.Snapshot == "" {
		t.Fatalf("the restarted node holds everything in memory: %+v", st)
	}
}

// TestLogRetentionByBytes: entries of 100 KiB (small objects inline) lower the entries raft keeps
// behind a snapshot so that they hold about MaxLogBytes (1 MiB here: the minimum of 32 entries),
// instead of MaxLogEntries/2 (5,000) whatever their size.
func TestLogRetentionByBytes(t *testing.T) {
	c := newCluster(t, 1, clusterOpts{metaCache: 10, metaMaxDirty: 400, snapInterval: 50 * time.Millisecond, maxLogBytes: 1 << 20})
	tn := c.nodes[0]
	put := func(i int) {
		t.Helper()
		b := make([]byte, 100<<10)
		ev, err := fsm.Encode(&fsm.PutObject{Bucket: kvBucket, Key: fmt.Sprint("k", i), ETag: "e", Size: uint64(len(b)),
			Blobs: []fsm.Blob{{ID: fmt.Sprint("b", i), Size: uint64(len(b)), Inline: true, Data: b}}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if res, err := tn.node.Propose(ctx, ev); err != nil || res.(*fsm.Result).Err != nil {
			t.Fatalf("put %d: %v %+v", i, err, res)
		}
	}
	for i := range 40 {
		put(i)
	}
	testutil.WaitFor(t, 10*time.Second, "trailing logs lowered", func() error {
		if got := tn.node.raft.ReloadableConfig().TrailingLogs; got != minTrailingLogs {
			return fmt.Errorf("TrailingLogs %d", got)
		}
		return nil
	})
	i := 40
	testutil.WaitFor(t, 20*time.Second, "the log truncated to the byte bound", func() error {
		put(i) // more entries and snapshots (the FSM asks for them by inline bytes)
		i++
		first, err := tn.node.logs.FirstIndex()
		if err != nil {
			return err
		}
		last, err := tn.node.logs.LastIndex()
		if err != nil {
			return err
		}
		if last-first+1 > 80 {
			return fmt.Errorf("the log holds %d entries (%d..%d)", last-first+1, first, last)
		}
		return nil
	})
}

func TestTrailingFor(t *testing.T) {
	for _, c := range []struct {
		avg  float64
		want uint64
	}{
		{0, 5000},                  // nothing applied yet: raft's own setting
		{9 << 10, 5000},            // metadata entries: 1 GiB holds far more than 5,000
		{1 << 20, 1024},            // 1 MiB envelopes: 1 GiB is 1,024 of them
		{4 << 20, 256},             //
		{1 << 40, minTrailingLogs}, // never fewer than the minimum
	} {
		if got := trailingFor(c.avg, DefaultMaxLogBytes, 5000); got != c.want {
			t.Errorf("trailingFor(%v) = %d, want %d", c.avg, got, c.want)
		}
	}
}
