package fsm

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

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
