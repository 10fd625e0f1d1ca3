package fsm

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// v2Events are events that use a field added in version 2 of their body.
func v2Events() []Event {
	return []Event{
		&CreateBucket{Name: "photos", Owner: "alice", Created: 1, Region: "eu-central-1"},
		&PutObject{Bucket: "photos", Key: "k", Size: 1, ETag: "e", Meta: ObjectMeta{ContentType: "t", ContentLanguage: "de-CH"}},
		&CreateMultipartUpload{Bucket: "photos", Key: "big", UploadID: "u1", Initiated: 42,
			Meta: ObjectMeta{ContentLanguage: "en"}, ChecksumAlgorithm: "CRC64NVME", ChecksumType: "FULL_OBJECT"},
		&CreateMultipartUpload{Bucket: "photos", Key: "big", UploadID: "u2", ChecksumAlgorithm: "SHA256"},
		&CompleteMultipartUpload{Bucket: "photos", Key: "big", UploadID: "u1", Parts: []CompletedPart{{1, "aa"}},
			Checksums: []Pair{{"CRC32C", "AAAAAA==-1"}}},
	}
}

// TestEventVersions: an event that uses no version 2 field encodes exactly as before (version
// 1); one that does is version 2 and round-trips; a version 2 body without its new fields,
// and a version past the newest, are refused.
func TestEventVersions(t *testing.T) {
	for _, ev := range sampleEvents() {
		b, err := Encode(ev)
		if err != nil || b[1] != 1 {
			t.Fatalf("%s: version %d, err %v; want 1", ev.Type(), b[1], err)
		}
	}
	for _, ev := range v2Events() {
		b, err := Encode(ev)
		if err != nil || b[1] != 2 {
			t.Fatalf("%s: version %d, err %v; want 2", ev.Type(), b[1], err)
		}
		got, err := Decode(b)
		if err != nil || !reflect.DeepEqual(normalize(got), normalize(ev)) {
			t.Fatalf("%s: round trip %#v, %v", ev.Type(), got, err)
		}
		if again, _ := Encode(got); !bytes.Equal(again, b) {
			t.Fatalf("%s: re-encoding differs", ev.Type())
		}
		future := append([]byte{b[0], 3}, b[2:]...)
		if _, err := Decode(future); !errors.Is(err, ErrUnknownVersion) {
			t.Fatalf("%s version 3: %v", ev.Type(), err)
		}
	}
	// A version 2 body whose new fields are empty would re-encode as version 1.
	for _, ev := range []Event{&CreateBucket{Name: "b"}, &PutObject{Bucket: "b"}, &CreateMultipartUpload{Bucket: "b"}, &CompleteMultipartUpload{Bucket: "b"}} {
		b, _ := Encode(ev)
		b[1] = 2
		switch ev.(type) {
		case *CompleteMultipartUpload:
			b = append(b, 0) // an empty checksum list
		case *CreateMultipartUpload:
			b = append(b, 0, 0, 0) // three empty strings
		default:
			b = append(b, 0) // an empty string
		}
		if _, err := Decode(b); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: non-canonical version 2 decoded: %v", ev.Type(), err)
		}
	}
}

// TestV2FieldsApplied: the new fields reach the state and survive a snapshot, and the record
// encodings stay canonical.
func TestV2FieldsApplied(t *testing.T) {
	a := newApplier(t)
	a.must(v2Events()[:3]...)
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
	if err := g.Restore(io.NopCloser(bytes.NewReader(persist(t, a.f, "v2", false).Bytes()))); err != nil {
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

// TestGoldenRecordsV2 pins the version 2 record encodings (bucket region, content language,
// upload checksum declaration); TestGoldenSnapshot pins that records without them are still
// written as version 1.
func TestGoldenRecordsV2(t *testing.T) {
	path := filepath.Join("testdata", "golden-records-v2.snap")
	a := newApplier(t)
	a.must(v2Events()[:4]...)
	got := persist(t, a.f, "golden", false).Bytes()
	if *updateGolden {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestGoldenRecordsV2 -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("record encoding changed: bump the record's version and keep reading the old one, or run -update if intended")
	}
	g := New(Options{})
	if err := g.Restore(io.NopCloser(bytes.NewReader(want))); err != nil {
		t.Fatal(err)
	}
	checkSameState(t, g, a.f)
}

// TestRecordVersions: a record at a version its kind does not have is ErrUnknownVersion, and a
// version 2 record without its new fields is ErrCorrupt.
func TestRecordVersions(t *testing.T) {
	b, _ := encodeBucket(&BucketInfo{Name: "b", Owner: "o"})
	if b[0] != 1 {
		t.Fatalf("bucket without region: version %d", b[0])
	}
	b2 := append([]byte{2}, append(b[1:], 0)...)
	if _, err := decodeBucket(b2); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("empty region at version 2: %v", err)
	}
	p, _ := encodePart(&partRec{bucket: "b", key: "k", uploadID: "u"})
	p[0] = 2
	if _, err := decodePart(p); !errors.Is(err, ErrUnknownVersion) {
		t.Fatalf("part record version 2: %v", err)
	}
	u, _ := encodeUpload(&UploadInfo{Bucket: "b", Key: "k", UploadID: "u", ChecksumType: "FULL_OBJECT"})
	u[0] = 3
	if _, err := decodeUpload(u); !errors.Is(err, ErrUnknownVersion) {
		t.Fatalf("upload record version 3: %v", err)
	}
}
