package fsm

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/nebulaio/nebulaio/snapshot"
)

var updateGoldenInline = flag.Bool("update-inline", false, "write testdata/golden-records-inline.snap (a new file only)")

// inl is an inline blob carrying data, as an event holds it.
func inl(id, data string) Blob {
	return Blob{ID: id, Size: uint64(len(data)), Inline: true, Data: []byte(data)}
}

// inlineRef is the blob as a record holds it: inline, no data.
func inlineRef(id string, size int) Blob { return Blob{ID: id, Size: uint64(size), Inline: true} }

// wantData checks that BlobData(id) is data, or ErrNoSuchBlob when data is "-".
func wantData(t tb, f *FSM, id, data string) {
	t.Helper()
	got, err := f.BlobData(id)
	if data == "-" {
		if !errors.Is(err, ErrNoSuchBlob) {
			t.Fatalf("BlobData(%s) = %q, %v; want ErrNoSuchBlob", id, got, err)
		}
		return
	}
	if err != nil || string(got) != data || got == nil {
		t.Fatalf("BlobData(%s) = %q, %v; want %q", id, got, err, data)
	}
}

// TestInlineEventVersions: an inline PutObject is version 5 and an inline PutPart version 2,
// whatever their other fields; they round trip with their bytes; other events keep their
// versions; malformed inline blobs do not encode and do not decode.
func TestInlineEventVersions(t *testing.T) {
	for _, c := range []struct {
		ev   Event
		want uint8
	}{
		{&PutObject{Bucket: "b", Key: "k", Size: 5, Blobs: []Blob{inl("i1", "hello")}}, 5},
		{&PutObject{Bucket: "b", Key: "k", Blobs: []Blob{blobs("s")[0], inl("i1", ""), inl("i2", "x")}, Encryption: sseS3, Tags: []Pair{{"t", "v"}}}, 5},
		{&PutPart{Bucket: "b", Key: "k", UploadID: "u", PartNumber: 1, Blobs: []Blob{inl("p", "part")}}, 2},
		{&PutPart{Bucket: "b", Key: "k", UploadID: "u", PartNumber: 1, Blobs: blobs("p")}, 1},
		{&PutObject{Bucket: "b", Key: "k", Blobs: blobs("s"), Encryption: sseS3}, 4},
	} {
		b, err := Encode(c.ev)
		if err != nil || b[1] != c.want {
			t.Fatalf("%s: version %d (%v), want %d", c.ev.Type(), b[1], err, c.want)
		}
		got, err := Decode(b)
		if err != nil || !reflect.DeepEqual(got, c.ev) {
			t.Fatalf("round trip %+v %v, want %+v", got, err, c.ev)
		}
		for n := 2; n < len(b); n++ {
			if _, err := Decode(b[:n]); !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s cut to %d bytes: %v", c.ev.Type(), n, err)
			}
		}
	}
	big := make([]byte, MaxInlineSize)
	for _, bad := range [][]Blob{
		{{ID: "x", Inline: true}},                             // no data
		{{ID: "x", Data: []byte("a"), Size: 1}},               // data, not marked inline
		{{ID: "x", Inline: true, Data: []byte("a"), Size: 2}}, // size differs
		{{ID: "x", Inline: true, Data: []byte("a"), Size: 1, Nodes: []string{"n1"}}},
		{{ID: "x", Inline: true, Data: big, Size: MaxInlineSize}, inl("y", "1")}, // over the event's limit
	} {
		for _, ev := range []Event{&PutObject{Bucket: "bkt", Key: "k", Blobs: bad}, &PutPart{Bucket: "bkt", Key: "k", UploadID: "u", PartNumber: 1, Blobs: bad}} {
			if _, err := Encode(ev); !errors.Is(err, ErrInvalidEvent) {
				t.Fatalf("%s with %+v encoded: %v", ev.Type(), bad[0], err)
			}
			a := newApplier(t)
			a.must(&CreateBucket{Name: "bkt", Owner: "o"}, &CreateMultipartUpload{Bucket: "bkt", Key: "k", UploadID: "u"})
			if res := a.f.applyEvent(ev); !errors.Is(res.Err, &Error{Code: CodeInvalidArgument}) {
				t.Fatalf("%s with %+v applied: %v", ev.Type(), bad[0], res.Err)
			}
		}
	}
	// Not canonical: a version 5 PutObject whose inline list is empty, an index out of range
	// or repeated, an inline blob with nodes.
	plain, _ := Encode(&PutObject{Bucket: "b", Key: "k", Blobs: blobs("s"), Encryption: sseS3})
	for _, tail := range [][]byte{{0}, {1, 1, 0}, {2, 0, 0, 0, 0}} {
		b := append(append([]byte(nil), plain...), tail...)
		b[1] = 5
		if _, err := Decode(b); !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTruncated) {
			t.Fatalf("PutObject version 5 with inline list % x: %v", tail, err)
		}
	}
	// A version 5 body with its encryption empty must have inline blobs; a version 4 body
	// with its encryption empty is refused as before.
	noEnc, _ := Encode(&PutObject{Bucket: "b", Key: "k", LegalHold: LegalHoldOn})
	b := append(append([]byte(nil), noEnc...), 0, 0, 0)
	b[1] = 4
	if _, err := Decode(b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("PutObject version 4 without encryption: %v", err)
	}
}

// TestInlineApply: the data record exists exactly while a record references the blob — put,
// read, overwrite, delete, versions, multipart (parts moved into the object, parts left out,
// replaced parts, abort), lifecycle expiry — and inline blobs are never in FreedBlobs.
func TestInlineApply(t *testing.T) {
	a := newApplier(t)
	a.must(&CreateBucket{Name: "bkt", Owner: "o", Created: 1})
	res := a.apply(&PutObject{Bucket: "bkt", Key: "k", Size: 5, ETag: md5hex("hello"), Blobs: []Blob{inl("i1", "hello")}, ModTime: 1})
	if res.Err != nil || !reflect.DeepEqual(res.Object.Blobs, []Blob{inlineRef("i1", 5)}) {
		t.Fatalf("put: %v %+v", res.Err, res.Object)
	}
	wantData(t, a.f, "i1", "hello")
	if o, err := a.f.Object("bkt", "k"); err != nil || !reflect.DeepEqual(o.Blobs, []Blob{inlineRef("i1", 5)}) {
		t.Fatalf("object %+v %v", o.Blobs, err)
	}
	var walked []BlobRef
	if err := a.f.WalkBlobs(context.Background(), func(r BlobRef) error { walked = append(walked, r); return nil }); err != nil ||
		!reflect.DeepEqual(walked, []BlobRef{{Blob: inlineRef("i1", 5), ModTime: 1}}) {
		t.Fatalf("walk %+v %v", walked, err)
	}
	// Overwrite with a stored blob: the inline bytes go in the same apply, and only store
	// blobs are freed.
	res = a.apply(&PutObject{Bucket: "bkt", Key: "k", Blobs: blobs("s1")})
	if res.Err != nil || len(res.FreedBlobs) != 0 {
		t.Fatalf("overwrite: %v freed %v", res.Err, res.FreedBlobs)
	}
	wantData(t, a.f, "i1", "-")
	res = a.apply(&PutObject{Bucket: "bkt", Key: "k", Blobs: []Blob{inl("i2", "two")}})
	if !slices.Equal(res.FreedBlobs, []string{"s1"}) {
		t.Fatalf("overwrite of a stored blob freed %v", res.FreedBlobs)
	}
	wantData(t, a.f, "i2", "two")
	// A rejected put stores nothing and frees only its store blobs.
	res = a.apply(&PutObject{Bucket: "bkt", Key: "k", Blobs: []Blob{inl("i3", "x"), blobs("s3")[0]}, IfNoneMatch: "*"})
	if res.Err == nil || !slices.Equal(res.FreedBlobs, []string{"s3"}) {
		t.Fatalf("rejected put: %v freed %v", res.Err, res.FreedBlobs)
	}
	wantData(t, a.f, "i3", "-")
	// Delete.
	if res = a.apply(&DeleteObject{Bucket: "bkt", Key: "k"}); res.Err != nil || len(res.FreedBlobs) != 0 {
		t.Fatalf("delete: %v freed %v", res.Err, res.FreedBlobs)
	}
	wantData(t, a.f, "i2", "-")

	// Versions: an enabled overwrite keeps the old version's bytes; a delete marker keeps
	// everything; deleting a version removes its bytes; deleting the head promotes the next.
	a.must(&SetBucketVersioning{Bucket: "bkt", Status: VersioningEnabled})
	v1, v2 := NewVersionID(10, 1), NewVersionID(11, 1)
	a.must(&PutObject{Bucket: "bkt", Key: "v", Blobs: []Blob{inl("v1", "one")}, VersionID: v1, ModTime: 10},
		&PutObject{Bucket: "bkt", Key: "v", Blobs: []Blob{inl("v2", "two")}, VersionID: v2, ModTime: 11},
		&DeleteObject{Bucket: "bkt", Key: "v", MarkerVersionID: NewVersionID(12, 1), ModTime: 12})
	wantData(t, a.f, "v1", "one")
	wantData(t, a.f, "v2", "two")
	if o, err := a.f.ObjectVersion("bkt", "v", v1); err != nil || !o.Blobs[0].Inline || o.Blobs[0].Data != nil {
		t.Fatalf("version v1 %+v %v", o.Blobs, err)
	}
	a.must(&DeleteObject{Bucket: "bkt", Key: "v", VersionID: v1, ModTime: 13})
	wantData(t, a.f, "v1", "-")
	wantData(t, a.f, "v2", "two")
	// Removing the marker (the head) promotes v2: its bytes stay and read as the object's.
	a.must(&DeleteObject{Bucket: "bkt", Key: "v", VersionID: NewVersionID(12, 1), ModTime: 13})
	if o, err := a.f.Object("bkt", "v"); err != nil || o.VersionID != v2 || !reflect.DeepEqual(o.Blobs, []Blob{inlineRef("v2", 3)}) {
		t.Fatalf("promoted head %+v %v", o, err)
	}
	wantData(t, a.f, "v2", "two")
	// Suspended: a null version replaced frees its bytes.
	a.must(&SetBucketVersioning{Bucket: "bkt", Status: VersioningSuspended},
		&PutObject{Bucket: "bkt", Key: "n", Blobs: []Blob{inl("n1", "null")}, ModTime: 14},
		&PutObject{Bucket: "bkt", Key: "n", Blobs: []Blob{inl("n2", "null2")}, ModTime: 15})
	wantData(t, a.f, "n1", "-")
	wantData(t, a.f, "n2", "null2")

	// Multipart: parts 1 and 3 inline, part 2 replaced once; the completion takes parts 1
	// and 2, so part 3's bytes go and part 1's stay (now the object's).
	big := func(c byte) string { return string(bytes.Repeat([]byte{c}, 10)) }
	a.must(&CreateMultipartUpload{Bucket: "bkt", Key: "m", UploadID: "u", Initiated: 1},
		&PutPart{Bucket: "bkt", Key: "m", UploadID: "u", PartNumber: 1, Size: 10, ETag: md5hex("1"), Blobs: []Blob{inl("p1", big('a'))}},
		&PutPart{Bucket: "bkt", Key: "m", UploadID: "u", PartNumber: 2, Size: 3, ETag: md5hex("x"), Blobs: []Blob{inl("p2x", "old")}},
		&PutPart{Bucket: "bkt", Key: "m", UploadID: "u", PartNumber: 3, Size: 1, ETag: md5hex("3"), Blobs: []Blob{inl("p3", "3")}})
	res = a.apply(&PutPart{Bucket: "bkt", Key: "m", UploadID: "u", PartNumber: 2, Size: 1, ETag: md5hex("2"), Blobs: blobs("p2")})
	if res.Err != nil || len(res.FreedBlobs) != 0 {
		t.Fatalf("part replaced: %v freed %v", res.Err, res.FreedBlobs)
	}
	wantData(t, a.f, "p2x", "-")
	if u, err := a.f.ListParts("bkt", "m", "u", PartListParams{}); err != nil || !u.Parts[0].Blobs[0].Inline || u.Parts[0].Blobs[0].Data != nil || u.Parts[1].Blobs[0].Inline {
		t.Fatalf("parts %+v %v", u, err)
	}
	res = a.apply(&CompleteMultipartUpload{Bucket: "bkt", Key: "m", UploadID: "u", MinPartSize: 5,
		Parts: []CompletedPart{{1, md5hex("1")}, {2, md5hex("2")}}, ModTime: 20})
	if res.Err != nil || len(res.FreedBlobs) != 0 || !reflect.DeepEqual(res.Object.Blobs, []Blob{inlineRef("p1", 10), blobs("p2")[0]}) {
		t.Fatalf("completion: %v freed %v object %+v", res.Err, res.FreedBlobs, res.Object)
	}
	wantData(t, a.f, "p1", big('a'))
	wantData(t, a.f, "p3", "-")
	// Abort frees the parts' bytes.
	a.must(&CreateMultipartUpload{Bucket: "bkt", Key: "m2", UploadID: "u2", Initiated: 1},
		&PutPart{Bucket: "bkt", Key: "m2", UploadID: "u2", PartNumber: 1, Blobs: []Blob{inl("q1", "q")}, Size: 1},
		&AbortMultipartUpload{Bucket: "bkt", Key: "m2", UploadID: "u2"})
	wantData(t, a.f, "q1", "-")
	checkInvariants(t, a.f)
}

// TestInlineLifecycleExpiry: a lifecycle expiry of an inline version deletes its bytes.
func TestInlineLifecycleExpiry(t *testing.T) {
	a := newApplier(t)
	day := int64(86400e9)
	a.must(&CreateBucket{Name: "bkt", Owner: "o", Created: 1},
		&PutBucketLifecycle{Bucket: "bkt", Rules: []LifecycleRule{{ID: "r", Enabled: true, ExpirationDays: 1}}},
		&PutObject{Bucket: "bkt", Key: "old", Blobs: []Blob{inl("e1", "expire me")}, Size: 9, ModTime: 1})
	res := a.apply(&LifecycleExpire{Bucket: "bkt", Now: 3 * day, Day: day, Targets: []ExpireTarget{{Action: ExpireCurrent, Key: "old", VersionID: NullVersionID, RuleID: "r"}}})
	if res.Err != nil || len(res.FreedBlobs) != 0 {
		t.Fatalf("expire: %v %+v", res.Err, res)
	}
	if _, err := a.f.Object("bkt", "old"); !errors.Is(err, &Error{Code: CodeNoSuchKey}) {
		t.Fatalf("expired object still there: %v", err)
	}
	wantData(t, a.f, "e1", "-")
	checkInvariants(t, a.f)
}

// TestInlineTiers: inline bytes are read back through every tier — dirty, frozen, the cache
// and the runs of delta snapshots, after compaction and after a restore from the store — and
// freed bytes stay gone across all of them.
func TestInlineTiers(t *testing.T) {
	store, err := snapshot.NewStore(t.TempDir(), snapshot.Options{DisableAutoCompaction: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	a := &applier{t: t, f: New(Options{Snapshots: store, CacheSize: 2})}
	data := func(i int) string { return string(bytes.Repeat([]byte{byte('a' + i%26)}, 1000+i)) }
	a.must(&CreateBucket{Name: "bkt", Owner: "o", Created: 1})
	for i := range 10 {
		a.must(&PutObject{Bucket: "bkt", Key: fmt.Sprint(i), Blobs: []Blob{inl(fmt.Sprint("b", i), data(i))}, Size: uint64(len(data(i)))})
	}
	// The largest inline blob, incompressible: one snapshot value of MaxInlineSize.
	maxData := make([]byte, MaxInlineSize)
	for i := range maxData {
		maxData[i] = byte(i*7919 + i>>8)
	}
	a.must(&PutObject{Bucket: "bkt", Key: "max", Blobs: []Blob{inl("max", string(maxData))}, Size: MaxInlineSize})
	storeSnapshot(t, store, a.f, a.index) // full
	for i := range 5 {                    // overwrite half: their old bytes go
		a.must(&PutObject{Bucket: "bkt", Key: fmt.Sprint(i), Blobs: []Blob{inl(fmt.Sprint("c", i), data(i+1))}, Size: uint64(len(data(i + 1)))})
	}
	frozen, err := a.f.Snapshot() // the frozen tier
	if err != nil {
		t.Fatal(err)
	}
	deleted9 := false
	check := func(f *FSM) {
		t.Helper()
		for range 2 { // twice: from the runs, then (for some) from the cache
			for i := range 10 {
				switch {
				case i == 9 && deleted9:
					wantData(t, f, "b9", "-")
				case i < 5:
					wantData(t, f, fmt.Sprint("b", i), "-")
					wantData(t, f, fmt.Sprint("c", i), data(i+1))
				default:
					wantData(t, f, fmt.Sprint("b", i), data(i))
				}
			}
		}
		wantData(t, f, "max", string(maxData))
		checkInvariants(t, f)
	}
	check(a.f)
	persistTo(t, store, frozen, a.index) // a delta
	a.must(&DeleteObject{Bucket: "bkt", Key: "9"})
	deleted9 = true
	check(a.f)
	id := storeSnapshot(t, store, a.f, a.index) // another delta, with the tombstone
	if st := a.f.MemoryStats(); st.Dirty != 0 || st.DirtyBytes != 0 || st.Cached > 2 {
		t.Fatalf("memory after the switch: %+v", st)
	}
	if err := store.Compact(); err != nil {
		t.Fatal(err)
	}
	check(a.f)
	// Restore from the store into a fresh FSM (raft at start): it reads the runs.
	g := New(Options{Snapshots: store, CacheSize: 2})
	rc, err := openSnapshot(store, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Restore(rc); err != nil {
		t.Fatal(err)
	}
	check(g)
	checkSameState(t, g, a.f)
}

// openSnapshot opens a stored snapshot as raft does for a restore.
func openSnapshot(store *snapshot.Store, id string) (io.ReadCloser, error) {
	_, rc, err := store.Open(id)
	return rc, err
}

// TestInlineMemoryBounds: the inline bytes of the changed records ask for a snapshot at half
// of MaxDirtyBytes even when few records changed, and the cache keeps within its byte bound.
func TestInlineMemoryBounds(t *testing.T) {
	store, err := snapshot.NewStore(t.TempDir(), snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	a := &applier{t: t, f: New(Options{Snapshots: store, CacheSize: 1000, CacheBytes: 64 << 10, MaxDirty: 1000, MaxDirtyBytes: 100 << 10})}
	a.must(&CreateBucket{Name: "bkt", Owner: "o", Created: 1})
	chunk := string(make([]byte, 16<<10))
	for i := range 3 {
		a.must(&PutObject{Bucket: "bkt", Key: fmt.Sprint(i), Blobs: []Blob{inl(fmt.Sprint("b", i), chunk)}, Size: 16 << 10})
	}
	select {
	case <-a.f.SnapshotWanted():
		t.Fatal("a snapshot asked for at 48 KiB of 100 KiB")
	default:
	}
	if st := a.f.MemoryStats(); st.DirtyBytes != 48<<10 {
		t.Fatalf("dirty bytes %d", st.DirtyBytes)
	}
	a.must(&PutObject{Bucket: "bkt", Key: "3", Blobs: []Blob{inl("b3", chunk)}, Size: 16 << 10})
	select {
	case <-a.f.SnapshotWanted():
	default:
		t.Fatalf("no snapshot asked for at %d inline bytes", a.f.MemoryStats().DirtyBytes)
	}
	// Overwriting a dirty blob's record and deleting it keep the count exact.
	a.must(&DeleteObject{Bucket: "bkt", Key: "3"})
	if st := a.f.MemoryStats(); st.DirtyBytes != 48<<10 {
		t.Fatalf("dirty bytes after a delete %d", st.DirtyBytes)
	}
	for i := 4; i < 20; i++ {
		a.must(&PutObject{Bucket: "bkt", Key: fmt.Sprint(i), Blobs: []Blob{inl(fmt.Sprint("b", i), chunk)}, Size: 16 << 10})
	}
	storeSnapshot(t, store, a.f, a.index)
	for i := 4; i < 20; i++ {
		wantData(t, a.f, fmt.Sprint("b", i), chunk)
	}
	if st := a.f.MemoryStats(); st.DirtyBytes != 0 || st.CachedBytes > 64<<10 || st.Cached == 0 {
		t.Fatalf("after reads: %+v", st)
	}
}

// TestResultCodecInline: results with inline blobs round trip in layout 0xB6 (the Inline flags
// of objects and parts survive); others keep their layouts.
func TestResultCodecInline(t *testing.T) {
	for _, r := range []*Result{
		{Object: &ObjectInfo{Bucket: "b", Key: "k", VersionID: NullVersionID, Blobs: []Blob{inlineRef("i", 3)}, Size: 3}},
		{Object: &ObjectInfo{Bucket: "b", Key: "k", VersionID: NewVersionID(5, 5), Blobs: []Blob{blobs("s")[0], inlineRef("i", 3)}, Encryption: sseC}, FreedBlobs: []string{"x"}},
		{Part: &PartInfo{PartNumber: 2, Blobs: []Blob{inlineRef("p", 9)}}},
	} {
		checkResultLayout(t, r, resultMagicV6)
	}
	checkResultLayout(t, &Result{Object: &ObjectInfo{Bucket: "b", Key: "k", VersionID: NullVersionID, Blobs: blobs("s"), Encryption: sseC}}, resultMagicV5)
}

// goldenInlineState applies a history touching every record encoding added with inline blobs:
// object records version 5 (plain, encrypted, a noncurrent version), part records version 2,
// data records (an empty one too).
func goldenInlineState(t *testing.T) *applier {
	a := newApplier(t)
	a.must(&CreateBucket{Name: "inl", Owner: "alice", Created: 1},
		&PutObject{Bucket: "inl", Key: "small", Size: 5, ETag: md5hex("hello"), Blobs: []Blob{inl("i-hello", "hello")}, ModTime: 2},
		&PutObject{Bucket: "inl", Key: "empty", ETag: md5hex(""), Blobs: []Blob{inl("i-empty", "")}, ModTime: 3},
		&PutObject{Bucket: "inl", Key: "enc", Size: 2, ETag: md5hex("e"), Blobs: []Blob{inl("i-enc", "\x00\xff\x01")}, ModTime: 4, Encryption: sseS3},
		&CreateMultipartUpload{Bucket: "inl", Key: "m", UploadID: "u1", Initiated: 5},
		&PutPart{Bucket: "inl", Key: "m", UploadID: "u1", PartNumber: 1, Size: 4, ETag: md5hex("part"), Blobs: []Blob{inl("i-part", "part")}, ModTime: 6},
		&PutPart{Bucket: "inl", Key: "m", UploadID: "u1", PartNumber: 2, Size: 4, ETag: md5hex("st"), Blobs: blobs("s-part"), ModTime: 7},
		&CreateBucket{Name: "ver", Owner: "bob", Created: 8},
		&SetBucketVersioning{Bucket: "ver", Status: VersioningEnabled},
		&PutObject{Bucket: "ver", Key: "k", Size: 3, ETag: md5hex("old"), Blobs: []Blob{inl("i-old", "old")}, ModTime: 9, VersionID: NewVersionID(9, 1)},
		&PutObject{Bucket: "ver", Key: "k", Size: 3, ETag: md5hex("new"), Blobs: blobs("s-new"), ModTime: 10, VersionID: NewVersionID(10, 1)})
	return a
}

// TestGoldenSnapshotInline pins the records of inline blobs as the other golden files pin
// theirs.
func TestGoldenSnapshotInline(t *testing.T) {
	g := checkGolden(t, filepath.Join("testdata", "golden-records-inline.snap"), goldenInlineState(t), *updateGoldenInline, "-update-inline")
	if n := countKind(t, g, prefixBlobData); n != 5 {
		t.Fatalf("%d data records, want 5", n)
	}
	wantData(t, g, "i-hello", "hello")
	wantData(t, g, "i-empty", "")
	wantData(t, g, "i-old", "old")
	if o, err := g.ObjectVersion("ver", "k", NewVersionID(9, 1)); err != nil || !reflect.DeepEqual(o.Blobs, []Blob{inlineRef("i-old", 3)}) {
		t.Fatalf("noncurrent inline version %+v %v", o.Blobs, err)
	}
}

// TestInlineStallByBytes: with only the byte bound (no count bound), an Apply that finds the
// changed records' inline bytes at MaxDirtyBytes while a snapshot is being persisted waits for
// that persist and then applies (no deadlock: the persist needs nothing from Apply); a
// snapshot released without being persisted lets it go too.
func TestInlineStallByBytes(t *testing.T) {
	store, err := snapshot.NewStore(t.TempDir(), snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	a := &applier{t: t, f: New(Options{Snapshots: store, CacheSize: 10, MaxDirtyBytes: 32 << 10})}
	a.must(&CreateBucket{Name: "bkt", Owner: "o", Created: 1})
	chunk := string(make([]byte, 16<<10))
	key := 0
	put := func() *PutObject {
		key++
		return &PutObject{Bucket: "bkt", Key: fmt.Sprint(key), Blobs: []Blob{inl(fmt.Sprint("b", key), chunk)}, Size: 16 << 10}
	}
	stallOnce := func(finish func(raft.FSMSnapshot, uint64)) {
		t.Helper()
		snap, err := a.f.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		a.must(put(), put()) // 32 KiB changed: at the bound
		stalled := make(chan struct{})
		a.f.stallHook = func() { close(stalled) }
		defer func() { a.f.stallHook = nil }()
		index := a.index
		data, err := Encode(put())
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan *Result)
		go func() {
			done <- a.f.Apply(&raft.Log{Index: index + 1, Type: raft.LogCommand, Data: data}).(*Result)
		}()
		<-stalled
		finish(snap, index)
		if res := <-done; res.Err != nil {
			t.Fatal(res.Err)
		}
		a.index++
		checkInvariants(t, a.f)
	}
	stallOnce(func(s raft.FSMSnapshot, index uint64) { persistTo(t, store, s, index) })
	if st := a.f.MemoryStats(); st.DirtyBytes != 3*16<<10 {
		t.Fatalf("after the persist: %+v", st)
	}
	storeSnapshot(t, store, a.f, a.index)
	stallOnce(func(s raft.FSMSnapshot, _ uint64) { s.Release() })
	for i := 1; i <= key; i++ {
		wantData(t, a.f, fmt.Sprint("b", i), chunk)
	}
}

// TestInlineReplicasAgree: one random log of inline and stored writes — puts over versions
// (enabled and suspended), deletes by key and by version, DeleteObjects batches, multipart
// uploads with inline parts replaced, completed with some left out, or aborted — applied to
// an in-memory replica and to one whose records live in snapshot runs (a tiny cache, a byte
// bound that asks for snapshots often, snapshots persisted, released unpersisted, and now
// and then a restart from the newest snapshot and the log after it, as a follower's install
// does). Every result agrees, and so do the states (data records included), their
// invariants (no data record without a reference, none missing) and every inline blob's
// bytes.
func TestInlineReplicasAgree(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { inlineReplicas(t, seed, 600) })
	}
}

func inlineReplicas(t *testing.T, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, 7))
	store, err := snapshot.NewStore(t.TempDir(), snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	mem := newApplier(t)
	opts := Options{Snapshots: store, CacheSize: 3, MaxDirty: 50, MaxDirtyBytes: 8 << 10}
	cold := &applier{t: t, f: New(opts)}
	lastSnap, lastIndex := "", uint64(0)
	var vids []string
	parts := map[string]map[uint32]string{} // upload id → part number → ETag
	upKey := map[string]string{}            // upload id → key
	var uploads []string
	var inlineIDs []string
	n := 0
	blob := func() (Blob, string) {
		n++
		data := fmt.Sprintf("data-%d-%s", n, strings.Repeat("x", rng.IntN(2000)))
		if rng.IntN(3) == 0 {
			return Blob{ID: fmt.Sprint("s", n), Size: uint64(len(data)), Nodes: []string{"n1"}}, data
		}
		inlineIDs = append(inlineIDs, fmt.Sprint("i", n))
		return inl(fmt.Sprint("i", n), data), data
	}
	key := func() string { return fmt.Sprint("k", rng.IntN(5)) }
	step := func(i int) Event {
		now := int64(100 + i)
		switch r := rng.IntN(20); {
		case r < 6:
			b, data := blob()
			vid := NewVersionID(now, 1)
			vids = append(vids, vid)
			return &PutObject{Bucket: "bkt", Key: key(), Size: b.Size, ETag: md5hex(data), Blobs: []Blob{b}, ModTime: now, VersionID: vid}
		case r < 7:
			return &SetBucketVersioning{Bucket: "bkt", Status: []string{VersioningEnabled, VersioningSuspended}[rng.IntN(2)]}
		case r < 9:
			return &DeleteObject{Bucket: "bkt", Key: key(), MarkerVersionID: NewVersionID(now, 2), ModTime: now}
		case r < 11 && len(vids) > 0:
			return &DeleteObject{Bucket: "bkt", Key: key(), VersionID: vids[rng.IntN(len(vids))], ModTime: now}
		case r < 12:
			ks := []string{key(), key(), key()}
			ks[1] += "-" // distinct keys
			ks[2] += "--"
			return &DeleteObjects{Bucket: "bkt", Keys: ks, MarkerVersionID: NewVersionID(now, 3), ModTime: now}
		case r < 13:
			id := fmt.Sprint("u", i)
			uploads = append(uploads, id)
			parts[id], upKey[id] = map[uint32]string{}, key()
			return &CreateMultipartUpload{Bucket: "bkt", Key: upKey[id], UploadID: id, Initiated: now}
		case r < 17 && len(uploads) > 0:
			id := uploads[rng.IntN(len(uploads))]
			b, data := blob()
			pn := uint32(1 + rng.IntN(3))
			parts[id][pn] = md5hex(data)
			return &PutPart{Bucket: "bkt", Key: upKey[id], UploadID: id, PartNumber: pn, Size: b.Size, ETag: md5hex(data), Blobs: []Blob{b}, ModTime: now}
		case r < 19 && len(uploads) > 0:
			id := uploads[rng.IntN(len(uploads))]
			var cps []CompletedPart
			for pn := uint32(1); pn <= 3; pn++ {
				if etag, ok := parts[id][pn]; ok && rng.IntN(4) != 0 {
					cps = append(cps, CompletedPart{PartNumber: pn, ETag: etag})
				}
			}
			if len(cps) == 0 {
				return &AbortMultipartUpload{Bucket: "bkt", Key: upKey[id], UploadID: id}
			}
			vid := NewVersionID(now, 4)
			vids = append(vids, vid)
			return &CompleteMultipartUpload{Bucket: "bkt", Key: upKey[id], UploadID: id, Parts: cps, MinPartSize: 1, ModTime: now, VersionID: vid}
		default:
			b, data := blob()
			return &PutObject{Bucket: "bkt", Key: key(), Size: b.Size, ETag: md5hex(data), Blobs: []Blob{b}, ModTime: now, VersionID: NewVersionID(now, 5)}
		}
	}
	stats := map[string]int{}
	both := func(ev Event) {
		t.Helper()
		rm, rc := mem.apply(ev), cold.apply(ev)
		if rm.Err == nil {
			stats[ev.Type().String()]++
		}
		if (rm.Err == nil) != (rc.Err == nil) || rm.Err != nil && rm.Err.Code != rc.Err.Code || !slices.Equal(rm.FreedBlobs, rc.FreedBlobs) {
			t.Fatalf("%s: in memory %v freed %v; cold %v freed %v", ev.Type(), rm.Err, rm.FreedBlobs, rc.Err, rc.FreedBlobs)
		}
	}
	both(&CreateBucket{Name: "bkt", Owner: "o", Created: 1})
	// Snapshots are persisted (or released) on a goroutine of their own, as raft does, while
	// Apply goes on (and may wait for them at the bounds).
	type persisted struct {
		id    string
		index uint64
		err   error
	}
	var running chan persisted
	join := func() {
		if running != nil {
			p := <-running
			if p.err != nil {
				t.Fatal(p.err)
			}
			if p.id != "" {
				lastSnap, lastIndex = p.id, p.index
				stats["persisted"]++
			}
			running = nil
		}
	}
	for i := range steps {
		both(step(i))
		switch r := rng.IntN(40); {
		case r < 2:
			join()
			snap, err := cold.f.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			index, release := cold.index, rng.IntN(4) == 0
			running = make(chan persisted, 1)
			go func(done chan<- persisted) {
				if release {
					snap.Release()
					done <- persisted{}
					return
				}
				defer snap.Release()
				sink, err := store.Create(1, index, 1, raft.Configuration{}, 0, nil)
				if err == nil {
					err = snap.Persist(sink)
				}
				if err != nil {
					done <- persisted{err: err}
					return
				}
				done <- persisted{id: sink.ID(), index: index}
			}(running)
		case r == 2:
			join()
			if lastSnap == "" {
				break
			}
			// A restart: the newest persisted snapshot, then the log after it.
			g := New(opts)
			rc, err := openSnapshot(store, lastSnap)
			if err != nil {
				t.Fatal(err)
			}
			if err := g.Restore(rc); err != nil {
				t.Fatal(err)
			}
			for idx := lastIndex + 1; idx <= cold.index; idx++ {
				g.Apply(&raft.Log{Index: idx, Term: 1, Type: raft.LogCommand, Data: cold.log[idx-1]})
			}
			cold.f = g
			checkInvariants(t, cold.f)
			stats["restart"]++
		}
	}
	join()
	checkInvariants(t, mem.f)
	checkInvariants(t, cold.f)
	checkSameState(t, cold.f, mem.f)
	live := 0
	for _, id := range inlineIDs {
		a, errA := mem.f.BlobData(id)
		b, errB := cold.f.BlobData(id)
		if !bytes.Equal(a, b) || (errA == nil) != (errB == nil) {
			t.Fatalf("BlobData(%s): %d bytes %v, cold %d bytes %v", id, len(a), errA, len(b), errB)
		}
		if errA == nil {
			live++
		}
	}
	t.Logf("applied %v", stats)
	for _, what := range []string{"persisted", "restart", "CompleteMultipartUpload", "AbortMultipartUpload", "DeleteObjects"} {
		if stats[what] == 0 {
			t.Errorf("the run never did %s", what)
		}
	}
	if live == 0 || live == len(inlineIDs) {
		t.Fatalf("%d of %d inline blobs live: the run frees none or all", live, len(inlineIDs))
	}
}

// TestInlineSnapshotAskedByBytesWritten: overwriting (or deleting) inline objects keeps few
// inline bytes among the changed records, yet every byte written is in the log until a
// snapshot lets raft drop it; so a snapshot is asked for once the inline bytes applied since
// the newest snapshot reach half of MaxDirtyBytes, as docs/guides/storage.md promises ("one
// every 40 MiB of inline bytes"), whatever is left of them.
func TestInlineSnapshotAskedByBytesWritten(t *testing.T) {
	store, err := snapshot.NewStore(t.TempDir(), snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	a := &applier{t: t, f: New(Options{Snapshots: store, MaxDirty: 1000, MaxDirtyBytes: 100 << 10})}
	a.must(&CreateBucket{Name: "bkt", Owner: "o", Created: 1})
	chunk := string(make([]byte, 16<<10))
	wanted := func() bool {
		select {
		case <-a.f.SnapshotWanted():
			return true
		default:
			return false
		}
	}
	for round := range 2 {
		for i := range 3 { // 48 KiB written: under half the bound
			a.must(&PutObject{Bucket: "bkt", Key: "k", Blobs: []Blob{inl(fmt.Sprint(round, "-", i), chunk)}, Size: 16 << 10})
		}
		if wanted() {
			t.Fatalf("round %d: a snapshot asked for after 48 KiB written", round)
		}
		a.must(&PutObject{Bucket: "bkt", Key: "k", Blobs: []Blob{inl(fmt.Sprint(round, "-", 3), chunk)}, Size: 16 << 10})
		if st := a.f.MemoryStats(); st.DirtyBytes != 16<<10 {
			t.Fatalf("round %d: %d inline bytes among the changed records, want one object's", round, st.DirtyBytes)
		}
		if !wanted() {
			t.Fatalf("round %d: no snapshot asked for after 64 KiB of inline bytes written", round)
		}
		storeSnapshot(t, store, a.f, a.index) // the count starts again
	}
}

// TestInlineLockedVersionKeepsItsBytes: a delete refused by object lock (retention, legal
// hold; one key of a DeleteObjects batch) frees nothing, and a lifecycle expiry of a locked
// noncurrent version leaves its bytes; once the retention is over, the same delete frees them.
func TestInlineLockedVersionKeepsItsBytes(t *testing.T) {
	a := newApplier(t)
	day := int64(86400e9)
	v1, v2 := NewVersionID(10, 1), NewVersionID(11, 1)
	a.must(&CreateBucket{Name: "bkt", Owner: "o", Created: 1, ObjectLock: true},
		&PutObject{Bucket: "bkt", Key: "k", Blobs: []Blob{inl("l1", "locked")}, Size: 6, VersionID: v1, ModTime: 10,
			Retention: Retention{Mode: LockCompliance, RetainUntil: 5 * day}},
		&PutObject{Bucket: "bkt", Key: "k", Blobs: []Blob{inl("l2", "held")}, Size: 4, VersionID: v2, ModTime: 11, LegalHold: LegalHoldOn},
		&PutBucketLifecycle{Bucket: "bkt", Rules: []LifecycleRule{{ID: "r", Enabled: true, NoncurrentDays: 1}}})
	if res := a.apply(&DeleteObject{Bucket: "bkt", Key: "k", VersionID: v1, ModTime: 12}); res.Err == nil {
		t.Fatal("delete of a version under retention applied")
	}
	res := a.apply(&DeleteObjects{Bucket: "bkt", Keys: []string{"k", "k"}, VersionIDs: []string{v1, v2}, ModTime: 12})
	if res.Err != nil || len(res.Deleted) != 2 || res.Deleted[0].Err == nil || res.Deleted[1].Err == nil {
		t.Fatalf("DeleteObjects of locked versions: %+v", res)
	}
	res = a.apply(&LifecycleExpire{Bucket: "bkt", Now: 3 * day, Day: day, Targets: []ExpireTarget{{Action: ExpireNoncurrent, Key: "k", VersionID: v1, RuleID: "r"}}})
	if res.Err != nil || len(res.Deleted) != 1 || res.Deleted[0].Err == nil {
		t.Fatalf("expiry of a locked noncurrent version: %+v", res)
	}
	wantData(t, a.f, "l1", "locked")
	wantData(t, a.f, "l2", "held")
	checkInvariants(t, a.f)
	a.must(&DeleteObject{Bucket: "bkt", Key: "k", VersionID: v1, ModTime: 6 * day})
	wantData(t, a.f, "l1", "-")
	wantData(t, a.f, "l2", "held")
	checkInvariants(t, a.f)
}
