package fsm

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func sampleResults() []*Result {
	meta := ObjectMeta{ContentType: "text/plain", ContentEncoding: "gzip", ContentDisposition: "inline",
		CacheControl: "no-cache", UserMetadata: []Pair{{"a", "1"}, {"b", "2"}}}
	return []*Result{
		{},
		{Err: &Error{Code: CodeNoSuchBucket, Message: "no bucket b"}},
		{Bucket: &BucketInfo{Name: "b", Owner: "root", Created: 7}},
		{Object: &ObjectInfo{Bucket: "b", Key: "k", Size: 3, ETag: "x", Meta: meta,
			Checksums: []Pair{{"CRC32C", "yZRlqg=="}}, Blobs: []Blob{{ID: "id", Size: 3, Nodes: []string{"n1", "n2"}}},
			ModTime: -5, VersionID: NullVersionID, PartsCount: 2}, FreedBlobs: []string{"old", "older"}},
		{Upload: &UploadInfo{Bucket: "b", Key: "k", UploadID: "u", Initiated: 9, Meta: meta}},
		{Part: &PartInfo{PartNumber: 10000, Size: 5 << 20, ETag: "e", Blobs: []Blob{{ID: "p", Size: 5 << 20}}, ModTime: 1}},
		{Deleted: []DeleteResult{{Key: "a"}, {Key: "b", Err: &Error{Code: "NoSuchKey"}}}},
	}
}

// TestResultCodecReadsV1 decodes 0xB1 encodings written out by hand, as a leader of a release
// before versions and interop sends them (records without version bytes, all at version 1).
func TestResultCodecReadsV1(t *testing.T) {
	var c ResultCodec
	cases := []struct {
		b    []byte
		want *Result
	}{
		{[]byte("\xb1\x02\x01b\x04root\x00\x00\x00\x00\x00\x00\x00\x07\x00\x00"),
			&Result{Bucket: &BucketInfo{Name: "b", Owner: "root", Created: 7}}},
		{[]byte("\xb1\x00\x02\x01a\x00\x01b\x01\x09NoSuchKey\x00\x01\x01x"),
			&Result{Deleted: []DeleteResult{{Key: "a"}, {Key: "b", Err: &Error{Code: "NoSuchKey"}}}, FreedBlobs: []string{"x"}}},
	}
	for _, tc := range cases {
		got, err := c.DecodeResult(tc.b)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Fatalf("0xB1 % x: got %+v, %v; want %+v", tc.b, got, err, tc.want)
		}
		if again, _ := c.EncodeResult(tc.want); !reflect.DeepEqual(again, tc.b) {
			t.Fatalf("%+v encodes as % x, not the 0xB1 bytes % x", tc.want, again, tc.b)
		}
	}
	for _, r := range sampleResults() { // the results whose records are all version 1
		if b, _ := c.EncodeResult(r); len(b) > 0 && b[0] != resultMagic {
			t.Fatalf("%+v: magic %#x, want 0xB1", r, b[0])
		}
	}
}

// TestResultCodecVersion3: results that embed a version 3 record (a bucket's region, an
// upload's checksum declaration) round trip in the version 3 encoding; version 2 refuses such
// a record; results with version 2 records only keep the version 2 encoding.
func TestResultCodecVersion3(t *testing.T) {
	var c ResultCodec
	v3 := []*Result{
		{Bucket: &BucketInfo{Name: "b", Owner: "root", Created: 7, Region: "eu-west-3"}},
		{Bucket: &BucketInfo{Name: "b", Owner: "root", Created: 7, Region: "eu-west-3", Versioning: VersioningEnabled}},
		{Object: &ObjectInfo{Bucket: "b", Key: "k", Meta: ObjectMeta{ContentLanguage: "fr"}, VersionID: NullVersionID,
			Checksums: []Pair{{"CRC32", "AAAAAA==-2"}}, PartsCount: 2},
			Upload: &UploadInfo{Bucket: "b", Key: "k", UploadID: "u", ChecksumAlgorithm: "CRC32", ChecksumType: "COMPOSITE"}},
		{Upload: &UploadInfo{Bucket: "b", Key: "k", UploadID: "u", Tags: []Pair{{"t", ""}}, ChecksumType: "FULL_OBJECT"},
			Err: &Error{Code: CodeNoSuchUpload, VersionID: NewVersionID(1, 2)}},
	}
	for _, r := range v3 {
		b := checkResultLayout(t, r, resultMagicV3)
		b[0] = resultMagicV2
		if _, err := c.DecodeResult(b); !errors.Is(err, ErrUnknownVersion) {
			t.Fatalf("a version 3 record under 0xB2: %v", err)
		}
	}
	r := &Result{Object: &ObjectInfo{Bucket: "b", Key: "k", VersionID: NullVersionID, Meta: ObjectMeta{ContentLanguage: "fr"}}}
	if b, _ := c.EncodeResult(r); b[0] != resultMagicV2 {
		t.Fatalf("Content-Language alone needs 0xB2, got %#x", b[0])
	}
}

func TestResultCodecRoundTrip(t *testing.T) {
	var c ResultCodec
	for _, r := range sampleResults() {
		b, err := c.EncodeResult(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.DecodeResult(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Fatalf("round trip: got %+v, want %+v", got, r)
		}
	}
	b, err := c.EncodeResult(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.DecodeResult(b); err != nil || got != nil {
		t.Fatalf("nil result: %v, %v", got, err)
	}
	if _, err := c.EncodeResult(42); err == nil {
		t.Fatal("encoding an int succeeded")
	}
}

// A follower that is upgraded before its leader receives the JSON results of earlier versions.
func TestResultCodecReadsJSON(t *testing.T) {
	var c ResultCodec
	for _, r := range sampleResults()[1:] {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.DecodeResult(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Fatalf("JSON: got %+v, want %+v", got, r)
		}
	}
	if got, err := c.DecodeResult([]byte("null")); err != nil || got != nil {
		t.Fatalf("JSON null: %v, %v", got, err)
	}
}

// Every truncation and every flipped byte of an encoded result decodes to an error or to some
// result, never a panic; truncations are always ErrTruncated.
func TestResultCodecDamage(t *testing.T) {
	var c ResultCodec
	for _, r := range sampleResults() {
		b, err := c.EncodeResult(r)
		if err != nil {
			t.Fatal(err)
		}
		checkResultDamage(t, b)
	}
	if _, err := c.DecodeResult([]byte{resultMagic, 0x80, 0, 0}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("unknown field bit: %v", err)
	}
}

// TestResultCodecVersion2: results with versions, delete markers and tags round trip in the
// version 2 encoding; results without them keep the version 1 encoding that older followers
// read.
func TestResultCodecVersion2(t *testing.T) {
	var c ResultCodec
	vid := NewVersionID(77, 5)
	v2 := []*Result{
		{Bucket: &BucketInfo{Name: "b", Owner: "o", Created: 1, Versioning: VersioningSuspended}},
		{Object: &ObjectInfo{Bucket: "b", Key: "k", VersionID: vid, ETag: "e", Blobs: []Blob{{ID: "x", Size: 1}}, ModTime: 77}},
		{Object: &ObjectInfo{Bucket: "b", Key: "k", VersionID: NullVersionID, DeleteMarker: true, ModTime: 3}, FreedBlobs: []string{"old"}},
		{Object: &ObjectInfo{Bucket: "b", Key: "k", VersionID: NullVersionID, Tags: []Pair{{"a", "1"}},
			Meta: ObjectMeta{ContentLanguage: "en", Expires: "never"}}},
		{Upload: &UploadInfo{Bucket: "b", Key: "k", UploadID: "u", Tags: []Pair{{"t", ""}}}},
		{Err: &Error{Code: CodeMethodNotAllowed, Message: "m", DeleteMarker: true, VersionID: vid, LastModified: -9}},
		{Deleted: []DeleteResult{{Key: "a", VersionID: vid}, {Key: "b", DeleteMarker: true, DeleteMarkerVersionID: vid},
			{Key: "c", VersionID: vid, Err: &Error{Code: CodeNoSuchVersion, Message: "x"}}}},
	}
	for _, r := range v2 {
		checkResultLayout(t, r, resultMagicV2)
	}
	for _, r := range sampleResults() {
		if b, _ := c.EncodeResult(r); len(b) > 0 && b[0] != resultMagic {
			t.Fatalf("%+v needs no version 2 but got magic %#x", r, b[0])
		}
	}
}

// checkResultLayout: r is encoded in the layout magic, round trips, and survives damage
// (checkResultDamage). It returns the encoding.
func checkResultLayout(t *testing.T, r *Result, magic byte) []byte {
	t.Helper()
	var c ResultCodec
	b, err := c.EncodeResult(r)
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != magic {
		t.Fatalf("%+v encoded with magic %#x, want %#x", r, b[0], magic)
	}
	got, err := c.DecodeResult(b)
	if err != nil || !reflect.DeepEqual(got, r) {
		t.Fatalf("round trip: %+v %v, want %+v", got, err, r)
	}
	checkResultDamage(t, b)
	return b
}

// checkResultDamage: every truncation of the encoded result b is ErrTruncated, and every flipped
// byte decodes to an error or some result, never a panic.
func checkResultDamage(t *testing.T, b []byte) {
	t.Helper()
	var c ResultCodec
	for n := 1; n < len(b); n++ {
		if _, err := c.DecodeResult(b[:n]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("% x cut to %d of %d bytes: err %v, want ErrTruncated", b, n, len(b), err)
		}
	}
	for i := 1; i < len(b); i++ {
		d := append([]byte(nil), b...)
		d[i] ^= 0xff
		_, _ = c.DecodeResult(d)
	}
}
