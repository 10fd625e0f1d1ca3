package fsm

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/nebulaio/nebulaio/snapshot"
)

// TestWalkBlobsReadsEveryTier: the records of a state spread over the snapshot runs (beyond a
// cache of 4), a frozen tree and the dirty tree, with overwrites and deletions over persisted
// records, are walked exactly: every blob an object or an open upload's part references, once,
// with its record's time, and nothing else; WalkUploads gives every open upload. The walk does
// not fill the cache, and what commits during it does not change what it reports.
func TestWalkBlobsReadsEveryTier(t *testing.T) {
	store, err := snapshot.NewStore(t.TempDir(), snapshot.Options{ChunkSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	a := &applier{t: t, f: New(Options{Snapshots: store, CacheSize: 4})}
	put := func(bucket, key string, mtime int64, ids ...string) {
		a.must(&PutObject{Bucket: bucket, Key: key, Blobs: blobs(ids...), ModTime: mtime})
	}
	a.must(bkt, &CreateBucket{Name: "other", Owner: "bob", Created: 1})
	for i := 0; i < 40; i++ {
		put("bkt", fmt.Sprintf("k%03d", i), int64(100+i), fmt.Sprintf("b%03d", i), fmt.Sprintf("b%03dx", i))
		put("other", fmt.Sprintf("k%03d", i), int64(200+i), fmt.Sprintf("o%03d", i))
	}
	for u := 0; u < 3; u++ {
		id := fmt.Sprintf("u%d", u)
		a.must(&CreateMultipartUpload{Bucket: "bkt", Key: "big", UploadID: id, Initiated: int64(u)})
		for p := uint32(1); p <= 4; p++ {
			a.must(&PutPart{Bucket: "bkt", Key: "big", UploadID: id, PartNumber: p, Blobs: blobs(fmt.Sprintf("%s-p%d", id, p)), ModTime: int64(300 + p)})
		}
	}
	storeSnapshot(t, store, a.f, a.index) // all of the above now lives in the runs
	put("bkt", "k005", 500, "new005")     // overwrites over the runs, frozen next
	a.must(&DeleteObject{Bucket: "bkt", Key: "k006"}, &AbortMultipartUpload{Bucket: "bkt", Key: "big", UploadID: "u1"})
	frozen, err := a.f.Snapshot() // frozen, not persisted
	if err != nil {
		t.Fatal(err)
	}
	defer frozen.Release()
	put("other", "k010", 501, "new010") // dirty
	a.must(&DeleteObject{Bucket: "other", Key: "k011"}, &PutPart{Bucket: "bkt", Key: "big", UploadID: "u2", PartNumber: 2, Blobs: blobs("u2-p2-again"), ModTime: 502})
	put("bkt", "a-new", 503, "fresh")
	if st := a.f.MemoryStats(); st.Snapshot == "" || st.Dirty == 0 {
		t.Fatalf("the state is not spread over the tiers: %+v", st)
	}

	cached := a.f.cache.size()
	want := blobsOf(t, stateMap(t, a.f))
	seen, mtime := map[string]int{}, map[string]int64{}
	if err := a.f.WalkBlobs(context.Background(), func(r BlobRef) error {
		if len(seen) == 0 { // changes committed during the walk are not in it
			put("bkt", "k000", 600, "during")
			a.must(&DeleteObject{Bucket: "other", Key: "k039"})
		}
		seen[r.ID]++
		mtime[r.ID] = r.ModTime
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(seen)); !slices.Equal(got, slices.Sorted(maps.Keys(want))) {
		t.Fatalf("walked %v\nwant   %v", got, slices.Sorted(maps.Keys(want)))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("blob %s reported %d times", id, n)
		}
	}
	for id, m := range map[string]int64{"b000": 100, "b039x": 139, "o020": 220, "new005": 500, "new010": 501, "u2-p2-again": 502, "u0-p4": 304, "fresh": 503} {
		if mtime[id] != m {
			t.Fatalf("blob %s reported with time %d, want %d", id, mtime[id], m)
		}
	}
	for _, gone := range []string{"b005", "b006", "o010", "o011", "u1-p1", "u2-p2"} {
		if seen[gone] != 0 {
			t.Fatalf("blob %s of a replaced or removed record was reported", gone)
		}
	}
	if n := a.f.cache.size(); n != cached {
		t.Fatalf("the walk changed the cache from %d to %d records", cached, n)
	}

	var ups []string
	if err := a.f.WalkUploads(context.Background(), func(u UploadInfo) error {
		ups = append(ups, fmt.Sprintf("%s/%s/%s@%d", u.Bucket, u.Key, u.UploadID, u.Initiated))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"bkt/big/u0@0", "bkt/big/u2@2"}; !slices.Equal(ups, want) {
		t.Fatalf("WalkUploads: %v, want %v", ups, want)
	}
}

// TestWalkBlobsAcrossCompletion: a CompleteMultipartUpload that commits while a walk is under
// way moves part blobs into an object (from one key range to another); the walk, one point in
// time, still reports every blob once, wherever the completion falls.
func TestWalkBlobsAcrossCompletion(t *testing.T) {
	for _, trigger := range []string{"p1", "z1"} { // during the parts; during the objects, after "big"'s key
		t.Run("at="+trigger, func(t *testing.T) {
			a := newApplier(t)
			a.must(bkt, &PutObject{Bucket: "bkt", Key: "a", Blobs: blobs("a1")}, &PutObject{Bucket: "bkt", Key: "z", Blobs: blobs("z1")},
				upload, part1, part2, part3)
			seen := map[string]int{}
			err := a.f.WalkBlobs(context.Background(), func(r BlobRef) error {
				if r.ID == trigger {
					a.must(complete(CompletedPart{1, e1}, CompletedPart{2, e2}, CompletedPart{3, e3}))
				}
				seen[r.ID]++
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{"a1", "z1", "p1", "p2", "p3"} {
				if seen[id] != 1 {
					t.Fatalf("blob %s, referenced throughout, was reported %d times (seen %v)", id, seen[id], seen)
				}
			}
			if o, err := a.f.Object("bkt", "big"); err != nil || len(o.Blobs) != 3 {
				t.Fatalf("the completion did not happen: %+v %v", o, err)
			}
		})
	}
}

func TestWalkStopsOnErrorAndCancel(t *testing.T) {
	a := newApplier(t)
	a.must(bkt)
	for i := 0; i < 10; i++ {
		a.must(&PutObject{Bucket: "bkt", Key: fmt.Sprint(i), Blobs: blobs(fmt.Sprint("b", i))})
	}
	stop := errors.New("stop")
	n := 0
	if err := a.f.WalkBlobs(context.Background(), func(BlobRef) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Fatalf("fn's error: %v after %d calls", err, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n = 0
	err := a.f.WalkBlobs(ctx, func(BlobRef) error { n++; cancel(); return nil })
	if !errors.Is(err, context.Canceled) || n != 1 {
		t.Fatalf("cancelled walk: %v after %d calls", err, n)
	}
}

// TestOnFreedReceivesFreedBlobs: Options.OnFreed gets the Result.FreedBlobs of every applied
// entry, through Apply and ApplyBatch alike, in log order, and is not called when nothing was
// freed.
func TestOnFreedReceivesFreedBlobs(t *testing.T) {
	var calls [][]string
	a := &applier{t: t, f: New(Options{OnFreed: func(ids []string) { calls = append(calls, slices.Clone(ids)) }})}
	a.must(bkt, putA, upload, part1, part2)
	if len(calls) != 0 {
		t.Fatalf("OnFreed called without anything freed: %v", calls)
	}
	a.must(&PutObject{Bucket: "bkt", Key: "a", Blobs: blobs("a3")})
	if res := a.apply(&DeleteObject{Bucket: "bkt", Key: "missing"}); res.Err == nil {
		t.Fatal("the delete of a missing key was not rejected")
	}
	if want := [][]string{{"a1", "a2"}}; !slices.EqualFunc(calls, want, slices.Equal) {
		t.Fatalf("after one overwrite and one rejection: %v, want %v", calls, want)
	}

	var logs []*raft.Log
	for _, ev := range []Event{&DeleteObject{Bucket: "bkt", Key: "a"}, &CreateBucket{Name: "x", Created: 1}, &AbortMultipartUpload{Bucket: "bkt", Key: "big", UploadID: "u1"}} {
		data, err := Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		a.index++
		logs = append(logs, &raft.Log{Index: a.index, Type: raft.LogCommand, Data: data})
	}
	out := a.f.ApplyBatch(logs)
	var want []string
	for _, r := range out {
		want = append(want, r.(*Result).FreedBlobs...)
	}
	if len(calls) != 2 || !slices.Equal(calls[1], want) || !slices.Equal(want, []string{"a3", "p1", "p2"}) {
		t.Fatalf("after a batch: %v, want a second call with %v", calls, want)
	}
}

// TestWalkBlobsIncludesNoncurrentVersions: in a versioned bucket an overwrite keeps the old
// version's blobs alive, so the walk (garbage collection's set of live blobs) must report the
// blobs of noncurrent versions too, and stop reporting them once the version is deleted.
func TestWalkBlobsIncludesNoncurrentVersions(t *testing.T) {
	a := newApplier(t)
	a.must(verBkt, enable(VersioningEnabled), vput("k", "v1", 100), vput("k", "v2", 200), vdel("k", 300))
	walked := func() []string {
		var ids []string
		if err := a.f.WalkBlobs(context.Background(), func(r BlobRef) error { ids = append(ids, r.ID); return nil }); err != nil {
			t.Fatal(err)
		}
		slices.Sort(ids)
		return ids
	}
	if got := walked(); !slices.Equal(got, []string{"v1", "v2"}) {
		t.Fatalf("walked %v, want both noncurrent versions' blobs [v1 v2]", got)
	}
	a.must(&DeleteObject{Bucket: "ver", Key: "k", VersionID: NewVersionID(100, 7)})
	if got := walked(); !slices.Equal(got, []string{"v2"}) {
		t.Fatalf("after deleting version 1: walked %v, want [v2]", got)
	}
}
