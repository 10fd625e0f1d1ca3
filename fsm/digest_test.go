package fsm

import (
	"context"
	"fmt"
	"testing"

	"github.com/nebulaio/nebulaio/snapshot"
)

// TestDigestComparesStatesAcrossTiers: two FSMs that applied the same events have the same
// digest although one keeps everything in memory and the other reads most records back from
// a snapshot's runs; one more event on either makes them differ.
func TestDigestComparesStatesAcrossTiers(t *testing.T) {
	store, err := snapshot.NewStore(t.TempDir(), snapshot.Options{ChunkSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	mem := newApplier(t)
	tiered := &applier{t: t, f: New(Options{Snapshots: store, CacheSize: 5})}
	for _, a := range []*applier{mem, tiered} {
		a.must(bkt)
		for i := range 300 {
			a.must(&PutObject{Bucket: "bkt", Key: fmt.Sprintf("k%03d", i), ETag: fmt.Sprint(i), Size: uint64(i)})
		}
	}
	storeSnapshot(t, store, tiered.f, tiered.index)
	if st := tiered.f.MemoryStats(); st.Snapshot == "" || st.Cached > 5 {
		t.Fatalf("the tiered FSM does not read from its snapshot: %+v", st)
	}
	digest := func(a *applier) Digest {
		t.Helper()
		d, err := a.f.Digest(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	dm, dt := digest(mem), digest(tiered)
	if dm != dt {
		t.Fatalf("same events, different digests:\n%+v\n%+v", dm, dt)
	}
	if dm.Applied != mem.index || dm.Records != len(stateMap(t, mem.f)) || dm.Records < 301 {
		t.Fatalf("digest %+v: want applied %d and %d records", dm, mem.index, len(stateMap(t, mem.f)))
	}
	mem.must(&PutObject{Bucket: "bkt", Key: "k000", ETag: "changed"})
	tiered.must(&PutObject{Bucket: "bkt", Key: "k000", ETag: "other"})
	if dm, dt := digest(mem), digest(tiered); dm.Sum == dt.Sum || dm.Applied != dt.Applied {
		t.Fatalf("different states at one index, digests %+v and %+v", dm, dt)
	}
}
