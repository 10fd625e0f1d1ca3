package fsm

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"path/filepath"
	"reflect"
	"testing"
)

var updateGoldenInterop = flag.Bool("update-interop", false, "write testdata/golden-records-interop.snap (a new file only)")

// interopEvent is an event that uses a field added for client interop, and the body version
// it needs.
type interopEvent struct {
	ev  Event
	ver uint8
}

func interopCases() []interopEvent {
	return []interopEvent{
		{&CreateBucket{Name: "photos", Owner: "alice", Created: 1, Region: "eu-central-1"}, 2},
		// Content-Language is ObjectMeta.ContentLanguage, a version 2 field of main's PutObject.
		{&PutObject{Bucket: "photos", Key: "k", Size: 1, ETag: "e", Meta: ObjectMeta{ContentType: "t", ContentLanguage: "de-CH"}}, 2},
		{&CreateMultipartUpload{Bucket: "photos", Key: "big", UploadID: "u1", Initiated: 42,
			Meta: ObjectMeta{ContentLanguage: "en"}, ChecksumAlgorithm: "CRC64NVME", ChecksumType: "FULL_OBJECT"}, 3},
		{&CreateMultipartUpload{Bucket: "photos", Key: "big", UploadID: "u2", ChecksumAlgorithm: "SHA256"}, 3},
		{&CompleteMultipartUpload{Bucket: "photos", Key: "big", UploadID: "u1", Parts: []CompletedPart{{1, "aa"}},
			Checksums: []Pair{{"CRC32C", "AAAAAA==-1"}}}, 3},
		{&CompleteMultipartUpload{Bucket: "photos", Key: "big", UploadID: "u1", Parts: []CompletedPart{{1, "aa"}},
			IfNoneMatch: "*", Checksums: []Pair{{"CRC32", "AAAAAA==-1"}}}, 3},
	}
}

// interopEvents are the events of interopCases.
func interopEvents() []Event {
	var out []Event
	for _, c := range interopCases() {
		out = append(out, c.ev)
	}
	return out
}

// TestInteropEventVersions: an event that uses no new field encodes exactly as before
// (version 1); one that does is written at the lowest version that holds it and round-trips;
// an encoding at a version whose own fields are all empty, and a version past the newest, are
// refused.
func TestInteropEventVersions(t *testing.T) {
	for _, ev := range sampleEvents() {
		b, err := Encode(ev)
		if err != nil || b[1] != 1 {
			t.Fatalf("%s: version %d, err %v; want 1", ev.Type(), b[1], err)
		}
	}
	for _, c := range interopCases() {
		ev := c.ev
		b, err := Encode(ev)
		if err != nil || b[1] != c.ver {
			t.Fatalf("%s: version %d, err %v; want %d", ev.Type(), b[1], err, c.ver)
		}
		got, err := Decode(b)
		if err != nil || !reflect.DeepEqual(normalize(got), normalize(ev)) {
			t.Fatalf("%s: round trip %#v, %v", ev.Type(), got, err)
		}
		if again, _ := Encode(got); !bytes.Equal(again, b) {
			t.Fatalf("%s: re-encoding differs", ev.Type())
		}
		future := append([]byte{b[0], newestVersion(ev) + 1}, b[2:]...)
		if _, err := Decode(future); !errors.Is(err, ErrUnknownVersion) {
			t.Fatalf("%s version %d: %v", ev.Type(), future[1], err)
		}
	}
	// A body at a version whose own fields are empty would re-encode at a lower version.
	checkNoncanonical(t, []noncanonicalEvent{
		{&CreateBucket{Name: "b"}, 2, []byte{0}},                                                      // empty region
		{&CreateMultipartUpload{Bucket: "b", Tags: []Pair{{"t", ""}}}, 3, []byte{0, 0}},               // empty algorithm, type
		{&CompleteMultipartUpload{Bucket: "b", IfMatch: "*"}, 3, []byte{0}},                           // empty checksum list
		{&CreateMultipartUpload{Bucket: "b"}, 3, []byte{0, 0, 0, 0, 0}},                               // empty meta2, tags, algorithm, type
		{&CompleteMultipartUpload{Bucket: "b", Parts: []CompletedPart{{1, "x"}}}, 3, []byte{0, 0, 0}}, // empty conditions, checksums
	})
}

// noncanonicalEvent is ev encoded at version ver with add (the empty fields of that version)
// appended to its body.
type noncanonicalEvent struct {
	ev  Event
	ver uint8
	add []byte
}

// checkNoncanonical: each encoding is refused as ErrCorrupt (it would re-encode at a lower
// version).
func checkNoncanonical(t *testing.T, cases []noncanonicalEvent) {
	t.Helper()
	for _, c := range cases {
		b, err := Encode(c.ev)
		if err != nil {
			t.Fatal(err)
		}
		b = append([]byte{b[0], c.ver}, append(b[2:], c.add...)...)
		if _, err := Decode(b); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: non-canonical version %d decoded: %v", c.ev.Type(), c.ver, err)
		}
	}
}

// TestInteropFieldsApplied: the new fields reach the state and survive a snapshot, and the
// record encodings stay canonical.
func TestInteropFieldsApplied(t *testing.T) {
	a := newApplier(t)
	a.must(interopEvents()[:3]...)
	a.must(&PutPart{Bucket: "photos", Key: "big", UploadID: "u1", PartNumber: 1, Size: 3, ETag: md5hex("abc"), Blobs: blobs("p1")},
		&CompleteMultipartUpload{Bucket: "photos", Key: "big", UploadID: "u1", Parts: []CompletedPart{{1, md5hex("abc")}},
			Checksums: []Pair{{"CRC64NVME", "AAAAAAAAAAA="}}, ModTime: 3})
	a.must(&CreateMultipartUpload{Bucket: "photos", Key: "next", UploadID: "u3", ChecksumAlgorithm: "CRC32", ChecksumType: "COMPOSITE"})
	check := func(f *FSM) {
		t.Helper()
		if b, _ := f.Bucket("photos"); b.Region != "eu-central-1" {
			t.Fatalf("bucket region %q", b.Region)
		}
		if o, _ := f.Object("photos", "k"); o.Meta.ContentLanguage != "de-CH" {
			t.Fatalf("content language %q", o.Meta.ContentLanguage)
		}
		o, err := f.Object("photos", "big")
		if err != nil || o.Meta.ContentLanguage != "en" || !reflect.DeepEqual(o.Checksums, []Pair{{"CRC64NVME", "AAAAAAAAAAA="}}) {
			t.Fatalf("completed object %+v %v", o, err)
		}
		if u, err := f.Upload("photos", "next", "u3"); err != nil || u.ChecksumAlgorithm != "CRC32" || u.ChecksumType != "COMPOSITE" {
			t.Fatalf("upload %+v %v", u, err)
		}
	}
	check(a.f)
	g := New(Options{})
	if err := g.Restore(io.NopCloser(bytes.NewReader(persist(t, a.f, "interop", false).Bytes()))); err != nil {
		t.Fatal(err)
	}
	check(g)
	checkSameState(t, g, a.f)
	for k, v := range stateMap(t, a.f) {
		rec, err := decodeValue(k[0], []byte(v))
		if err != nil {
			t.Fatalf("%q: %v", k, err)
		}
		if again, err := encodeValue(rec); err != nil || string(again) != v {
			t.Fatalf("%q: record re-encodes differently", k)
		}
	}
}

// TestGoldenRecordsInterop pins the version 3 record encodings (a bucket's region with and
// without a versioning state, an upload's checksum declaration with and without version 2
// fields) and an object made by a completion that carries checksums; TestGoldenSnapshot and
// TestGoldenSnapshotVersions pin that records without them keep their bytes.
func TestGoldenRecordsInterop(t *testing.T) {
	a := newApplier(t)
	a.must(interopEvents()[:4]...)
	a.must(&CreateBucket{Name: "vregion", Owner: "bob", Created: 2, Region: "ap-south-1"},
		&SetBucketVersioning{Bucket: "vregion", Status: VersioningEnabled},
		&CreateMultipartUpload{Bucket: "vregion", Key: "m", UploadID: "u9", Initiated: 3, ChecksumAlgorithm: "CRC32C", ChecksumType: "COMPOSITE"},
		&PutPart{Bucket: "vregion", Key: "m", UploadID: "u9", PartNumber: 1, Size: 1, ETag: md5hex("x"), Blobs: blobs("px"),
			Checksums: []Pair{{"CRC32C", "AAAAAA=="}}},
		&CompleteMultipartUpload{Bucket: "vregion", Key: "m", UploadID: "u9", Parts: []CompletedPart{{1, md5hex("x")}},
			ModTime: 4, VersionID: NewVersionID(4, 9), Checksums: []Pair{{"CRC32C", "AAAAAA==-1"}}})
	g := checkGolden(t, filepath.Join("testdata", "golden-records-interop.snap"), a, *updateGoldenInterop, "-update-interop")
	if b, err := g.Bucket("vregion"); err != nil || b.Region != "ap-south-1" || b.Versioning != VersioningEnabled {
		t.Fatalf("bucket %+v %v", b, err)
	}
}

// TestInteropRecordVersions: a record at a version its kind does not have is
// ErrUnknownVersion, and a version 3 record without its version 3 fields is ErrCorrupt;
// version 3 lets a bucket with a region be never versioned, version 2 does not.
func TestInteropRecordVersions(t *testing.T) {
	b, _ := encodeBucket(&BucketInfo{Name: "b", Owner: "o"})
	if b[0] != 1 {
		t.Fatalf("bucket without region: version %d", b[0])
	}
	empty := append([]byte{3}, append(b[1:], 0, 0)...) // versioning 0, empty region
	if _, err := decodeBucket(empty); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("empty region at version 3: %v", err)
	}
	noVersioning := append([]byte{2}, append(b[1:], 0)...)
	if _, err := decodeBucket(noVersioning); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("versioning 0 at version 2: %v", err)
	}
	r, _ := encodeBucket(&BucketInfo{Name: "b", Owner: "o", Region: "us-west-2"})
	if got, err := decodeBucket(r); r[0] != 3 || err != nil || got.Region != "us-west-2" || got.Versioning != "" {
		t.Fatalf("bucket with a region: version %d, %+v %v", r[0], got, err)
	}
	r[0] = 5 // version 4 came with object lock (lock_test.go)
	if _, err := decodeBucket(r); !errors.Is(err, ErrUnknownVersion) {
		t.Fatalf("bucket record version 5: %v", err)
	}
	p, _ := encodePart(&partRec{bucket: "b", key: "k", uploadID: "u"})
	p[0] = 3 // version 2 came with inline blobs (inline_test.go)
	if _, err := decodePart(p); !errors.Is(err, ErrUnknownVersion) {
		t.Fatalf("part record version 3: %v", err)
	}
	u, _ := encodeUpload(&UploadInfo{Bucket: "b", Key: "k", UploadID: "u", ChecksumType: "FULL_OBJECT"})
	if u[0] != 3 {
		t.Fatalf("upload with a checksum type: version %d", u[0])
	}
	u[0] = 6 // version 4 came with object lock (lock_test.go), 5 with encryption (encryption_test.go)
	if _, err := decodeUpload(u); !errors.Is(err, ErrUnknownVersion) {
		t.Fatalf("upload record version 6: %v", err)
	}
	u2, _ := encodeUpload(&UploadInfo{Bucket: "b", Key: "k", UploadID: "u", Tags: []Pair{{"a", "b"}}})
	if u2[0] != 2 {
		t.Fatalf("upload with tags only: version %d", u2[0])
	}
	u3 := append([]byte{3}, append(u2[1:], 0, 0)...)
	if _, err := decodeUpload(u3); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("upload version 3 without a checksum declaration: %v", err)
	}
}
