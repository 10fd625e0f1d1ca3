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
		b, err := c.EncodeResult(r)
		if err != nil {
			t.Fatal(err)
		}
		if b[0] != resultMagicV2 {
			t.Fatalf("%+v encoded with magic %#x", r, b[0])
		}
		got, err := c.DecodeResult(b)
		if err != nil || !reflect.DeepEqual(got, r) {
			t.Fatalf("round trip: %+v %v, want %+v", got, err, r)
		}
		checkResultDamage(t, b)
	}
	for _, r := range sampleResults() {
		if b, _ := c.EncodeResult(r); len(b) > 0 && b[0] != resultMagic {
			t.Fatalf("%+v needs no version 2 but got magic %#x", r, b[0])
		}
	}
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
