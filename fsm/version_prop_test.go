package fsm

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/hashicorp/raft"
	"pgregory.net/rapid"

	"github.com/nebulaio/nebulaio/snapshot"
)

// versionRun drives one FSM against vmodel: every operation's result, FreedBlobs and the
// invariants are checked as it happens.
type versionRun struct {
	t     tb
	a     *applier
	m     *vmodel
	blobs int
	clock int64
	// store, when set, is the snapshot store the FSM reads its clean records back from.
	store *snapshot.Store
	cache int
}

var propBuckets = []string{"vb-1", "vb-2"}

func newVersionRun(t tb, store *snapshot.Store, cache int) *versionRun {
	r := &versionRun{t: t, a: newApplier(t), m: newVModel(propBuckets...), store: store, cache: cache}
	if store != nil {
		r.a.f = New(Options{Snapshots: store, CacheSize: cache})
	}
	for _, b := range propBuckets {
		r.a.must(&CreateBucket{Name: b, Owner: "o"})
	}
	return r
}

// candidate returns a candidate version ID: usually later than every earlier one, sometimes
// from a clock behind (so that Apply must raise it).
func (r *versionRun) candidate(behind bool, rnd uint64) (string, vorder) {
	r.clock += 10
	t := r.clock
	if behind {
		t -= 25
	}
	o := vorder{time: uint64(max(t, 0)), rand: rnd}
	return o.id(), o
}

// newBlob names the blob of a new version; one in three is inline (see blobsFor).
func (r *versionRun) newBlob() string {
	r.blobs++
	if r.blobs%3 == 0 {
		return fmt.Sprintf("inline-%d", r.blobs)
	}
	return fmt.Sprintf("vblob-%d", r.blobs)
}

// blobsFor is the event's blobs for a blob newBlob named: an inline one carries its ID as
// its bytes.
func blobsFor(id string) []Blob {
	if isInlineID(id) {
		return []Blob{inl(id, id)}
	}
	return blobs(id)
}

// storeOnly is the store blobs of a list of freed blob IDs: what FreedBlobs lists.
func storeOnly(freed []string) []string {
	return slices.DeleteFunc(slices.Clone(freed), isInlineID)
}

// apply applies ev and checks the generic properties: FreedBlobs against the state change,
// the invariants.
func (r *versionRun) apply(ev Event) *Result {
	r.t.Helper()
	before := stateMap(r.t, r.a.f)
	res := r.a.apply(ev)
	checkFreedEvent(r.t, before, stateMap(r.t, r.a.f), ev, res)
	checkInvariants(r.t, r.a.f)
	return res
}

func (r *versionRun) setVersioning(bucket, status string) {
	r.t.Helper()
	res := r.apply(&SetBucketVersioning{Bucket: bucket, Status: status})
	if res.Err != nil || res.Bucket.Versioning != status {
		r.t.Fatalf("set versioning %s %s: %+v", bucket, status, res)
	}
	r.m.versioning[bucket] = status
}

func (r *versionRun) put(bucket, key string, behind bool, rnd uint64) {
	r.t.Helper()
	cid, cand := r.candidate(behind, rnd)
	blob := r.newBlob()
	etag := md5hex(blob)
	res := r.apply(&PutObject{Bucket: bucket, Key: key, ETag: etag, Size: 1, Blobs: blobsFor(blob), ModTime: r.clock, VersionID: cid})
	want, freed := r.m.write(bucket, key, cand, mver{etag: etag, blob: blob})
	if res.Err != nil || res.Object.VersionID != want.vid || !slices.Equal(res.FreedBlobs, storeOnly(freed)) {
		r.t.Fatalf("put %s/%q: %+v %v freed %v; model %s freed %v", bucket, key, res.Err, res.Object, res.FreedBlobs, want.vid, freed)
	}
}

// putIf is a conditional put: ifNoneMatch ("*") or ifMatch (the current ETag when match,
// another otherwise).
func (r *versionRun) putIf(bucket, key string, noneMatch, match bool) {
	r.t.Helper()
	cid, cand := r.candidate(false, 1)
	blob := r.newBlob()
	ev := &PutObject{Bucket: bucket, Key: key, ETag: md5hex(blob), Blobs: blobsFor(blob), ModTime: r.clock, VersionID: cid}
	cur, ok := r.m.current(bucket, key)
	live := ok && !cur.marker
	wantCode := ""
	if noneMatch {
		ev.IfNoneMatch = "*"
		if live {
			wantCode = CodePreconditionFailed
		}
	} else {
		ev.IfMatch = `"` + md5hex("no such etag") + `"`
		if match && live {
			ev.IfMatch = `"` + cur.etag + `", "x"`
		}
		switch {
		case !live:
			wantCode = CodeNoSuchKey
		case !match:
			wantCode = CodePreconditionFailed
		}
	}
	res := r.apply(ev)
	if code(res.Err) != wantCode {
		r.t.Fatalf("conditional put %+v: %v, want %q", ev, res.Err, wantCode)
	}
	if wantCode == "" {
		r.m.write(bucket, key, cand, mver{etag: ev.ETag, blob: blob})
	}
}

func code(err *Error) string {
	if err == nil {
		return ""
	}
	return err.Code
}

func (r *versionRun) del(bucket, key string, behind bool) {
	r.t.Helper()
	cid, cand := r.candidate(behind, 2)
	res := r.apply(&DeleteObject{Bucket: bucket, Key: key, MarkerVersionID: cid, ModTime: r.clock})
	want, freed, ok := r.m.deleteCurrent(bucket, key, cand, mver{})
	switch {
	case !ok && code(res.Err) != CodeNoSuchKey:
		r.t.Fatalf("delete of missing %s/%q: %v", bucket, key, res.Err)
	case ok && (res.Err != nil || res.Object.VersionID != want.vid || res.Object.DeleteMarker != want.marker ||
		!slices.Equal(res.FreedBlobs, storeOnly(freed))):
		r.t.Fatalf("delete %s/%q: %+v %+v freed %v; model %+v freed %v", bucket, key, res.Err, res.Object, res.FreedBlobs, want, freed)
	}
}

// pickVersion draws a version ID of key: an existing one, "null", or one that names nothing.
func (r *versionRun) pickVersion(rt *rapid.T, bucket, key string) string {
	vs := r.m.keys[bucket][key]
	switch n := rapid.IntRange(0, 5).Draw(rt, "which"); {
	case n < 3 && len(vs) > 0:
		return vs[rapid.IntRange(0, len(vs)-1).Draw(rt, "nth")].vid
	case n == 3:
		return NullVersionID
	default:
		return vorder{time: uint64(rapid.IntRange(0, 500).Draw(rt, "vtime")), rand: 2}.id()
	}
}

func (r *versionRun) delVersion(bucket, key, vid string) {
	r.t.Helper()
	res := r.apply(&DeleteObject{Bucket: bucket, Key: key, VersionID: vid})
	want, freed, ok := r.m.deleteVersion(bucket, key, vid)
	switch {
	case !ok && code(res.Err) != CodeNoSuchVersion:
		r.t.Fatalf("delete of missing version %s of %s/%q: %v", vid, bucket, key, res.Err)
	case ok && (res.Err != nil || res.Object.VersionID != vid || res.Object.DeleteMarker != want.marker || !slices.Equal(res.FreedBlobs, storeOnly(freed))):
		r.t.Fatalf("delete version %s of %s/%q: %+v %+v freed %v; model %+v", vid, bucket, key, res.Err, res.Object, res.FreedBlobs, want)
	}
}

// delMany is a DeleteObjects of keys, with the given version per key ("" none).
func (r *versionRun) delMany(bucket string, keys, vids []string) {
	r.t.Helper()
	cid, cand := r.candidate(false, 3)
	res := r.apply(&DeleteObjects{Bucket: bucket, Keys: keys, VersionIDs: vids, MarkerVersionID: cid, ModTime: r.clock})
	var freed []string
	for i, k := range keys {
		d := res.Deleted[i]
		want, fr, ok := r.m.deleteEntry(bucket, k, vids[i], cand)
		wantMarker := ok && want.marker
		if ok != (d.Err == nil) || d.VersionID != vids[i] || d.DeleteMarker != wantMarker ||
			wantMarker && d.DeleteMarkerVersionID != want.vid {
			r.t.Fatalf("delete objects %q version %q: %+v, model %+v found %v", k, vids[i], d, want, ok)
		}
		freed = append(freed, fr...)
	}
	if !slices.Equal(res.FreedBlobs, storeOnly(freed)) {
		r.t.Fatalf("delete objects freed %v, model %v", res.FreedBlobs, freed)
	}
}

// checkReads compares the reads of key with the model: the current version, a version by ID.
func (r *versionRun) checkReads(bucket, key, vid string) {
	r.t.Helper()
	o, err := r.a.f.Object(bucket, key)
	cur, ok := r.m.current(bucket, key)
	var fe *Error
	switch {
	case !ok:
		if !errors.As(err, &fe) || fe.Code != CodeNoSuchKey || fe.DeleteMarker {
			r.t.Fatalf("get missing %s/%q: %+v %v", bucket, key, o, err)
		}
	case cur.marker:
		if !errors.As(err, &fe) || fe.Code != CodeNoSuchKey || !fe.DeleteMarker || fe.VersionID != cur.vid {
			r.t.Fatalf("get %s/%q under marker %s: %+v %v", bucket, key, cur.vid, o, err)
		}
	case err != nil || o.ETag != cur.etag || o.VersionID != cur.vid:
		r.t.Fatalf("get %s/%q: %+v %v, model %+v", bucket, key, o, err, cur)
	}
	o, err = r.a.f.ObjectVersion(bucket, key, vid)
	v, ok := r.m.version(bucket, key, vid)
	switch {
	case !ok:
		if !errors.As(err, &fe) || fe.Code != CodeNoSuchVersion {
			r.t.Fatalf("get missing version %s of %s/%q: %+v %v", vid, bucket, key, o, err)
		}
	case v.marker:
		if !errors.As(err, &fe) || fe.Code != CodeMethodNotAllowed || !fe.DeleteMarker || fe.VersionID != vid {
			r.t.Fatalf("get marker version %s of %s/%q: %+v %v", vid, bucket, key, o, err)
		}
	case err != nil || o.ETag != v.etag || o.VersionID != vid:
		r.t.Fatalf("get version %s of %s/%q: %+v %v, model %+v", vid, bucket, key, o, err, v)
	}
}

// checkListings compares ListObjects and a paged ListObjectVersions with the model.
func (r *versionRun) checkListings(bucket, prefix, delim string, page int) {
	r.t.Helper()
	got := walkVersions(r.t, r.a.f, bucket, prefix, delim, page)
	if want := r.m.listVersions(bucket, prefix, delim); !reflect.DeepEqual(got, want) {
		r.t.Fatalf("versions of %s (prefix %q delim %q page %d):\n got %+v\nwant %+v", bucket, prefix, delim, page, got, want)
	}
	res, err := r.a.f.ListObjects(bucket, ListParams{})
	if err != nil {
		r.t.Fatal(err)
	}
	var keys []string
	for _, o := range res.Contents {
		keys = append(keys, o.Key)
	}
	if want := r.m.visible(bucket); !slices.Equal(keys, want) {
		r.t.Fatalf("ListObjects %s: %q, model %q", bucket, keys, want)
	}
	if _, objects, _ := r.a.f.Counts(); objects != r.m.heads() {
		r.t.Fatalf("Counts: %d objects, model %d keys", objects, r.m.heads())
	}
}

// restart persists a snapshot into the store, restores a new FSM from it (pointing at its
// runs) and goes on with that one.
func (r *versionRun) restart() {
	r.t.Helper()
	snap, err := r.a.f.Snapshot()
	if err != nil {
		r.t.Fatal(err)
	}
	sink, err := r.store.Create(1, r.a.index, 1, raft.Configuration{}, 0, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := snap.Persist(sink); err != nil {
		r.t.Fatal(err)
	}
	snap.Release()
	_, rc, err := r.store.Open(sink.ID())
	if err != nil {
		r.t.Fatal(err)
	}
	g := New(Options{Snapshots: r.store, CacheSize: r.cache})
	if err := g.Restore(wrapped{rc}); err != nil {
		r.t.Fatal(err)
	}
	checkSameState(r.t, g, r.a.f)
	r.a.f = g
}

var propKeys = []string{"a", "a/b", "a/c", "b", "c/d/e", "\x00", "z"}

// TestVersionsAgainstModel applies random versioning operations — writes with candidate IDs
// from clocks ahead and behind, deletes with and without version IDs, DeleteObjects,
// conditional writes, versioning switched on and suspended — to an FSM that, in half the
// runs, reads its clean records back from snapshot runs through a tiny cache and is
// restarted from its snapshots; each result, FreedBlobs, the reads and the listings are
// compared with vmodel.
func TestVersionsAgainstModel(t *testing.T) {
	base := t.TempDir()
	rapid.Check(t, func(rt *rapid.T) {
		var store *snapshot.Store
		cache := rapid.IntRange(-1, 3).Draw(rt, "cache")
		if cache >= 0 {
			var done func()
			store, done = rapidStore(rt, base, snapshot.Options{ChunkSize: 4096})
			defer done()
		}
		r := newVersionRun(rt, store, cache)
		steps := rapid.IntRange(1, 80).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			bucket := rapid.SampledFrom(propBuckets).Draw(rt, "bucket")
			key := rapid.SampledFrom(propKeys).Draw(rt, "key")
			switch op := rapid.IntRange(0, 13).Draw(rt, "op"); op {
			case 0:
				r.setVersioning(bucket, rapid.SampledFrom([]string{VersioningEnabled, VersioningSuspended}).Draw(rt, "status"))
			case 1, 2, 3:
				r.put(bucket, key, rapid.IntRange(0, 4).Draw(rt, "behind") == 0, rapid.Uint64().Draw(rt, "rand"))
			case 4, 5:
				r.del(bucket, key, rapid.Bool().Draw(rt, "behind"))
			case 6, 7:
				r.delVersion(bucket, key, r.pickVersion(rt, bucket, key))
			case 8:
				k2 := rapid.SampledFrom(propKeys).Draw(rt, "key2")
				r.delMany(bucket, []string{key, k2, key}, []string{"", r.pickVersion(rt, bucket, k2), r.pickVersion(rt, bucket, key)})
			case 9:
				r.putIf(bucket, key, rapid.Bool().Draw(rt, "none-match"), rapid.Bool().Draw(rt, "match"))
			case 10, 11:
				r.checkReads(bucket, key, r.pickVersion(rt, bucket, key))
			case 12:
				r.checkListings(bucket, rapid.SampledFrom([]string{"", "a", "a/", "c/"}).Draw(rt, "prefix"),
					rapid.SampledFrom([]string{"", "/"}).Draw(rt, "delim"), rapid.IntRange(1, 5).Draw(rt, "page"))
			case 13:
				if store != nil {
					r.restart()
				}
			}
		}
		for _, b := range propBuckets {
			r.checkListings(b, "", "", 3)
			for _, k := range propKeys {
				r.checkReads(b, k, NullVersionID)
			}
		}
	})
}
