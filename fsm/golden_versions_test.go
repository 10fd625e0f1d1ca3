package fsm

import (
	"flag"
	"path/filepath"
	"testing"
)

var updateGoldenVersions = flag.Bool("update-versions", false, "write testdata/golden-full-versions.snap (a new file only)")

// goldenVersionsState applies a fixed history touching every record kind and encoding added
// with versions: version 2 bucket, object, upload and noncurrent-version records, a delete
// marker, a suspended bucket's null version and the pointer to it, object and bucket tags,
// the version 2 metadata fields.
func goldenVersionsState(t *testing.T) *applier {
	a := newApplier(t)
	meta := ObjectMeta{ContentType: "text/plain", ContentEncoding: "deflate, gzip", ContentLanguage: "en",
		Expires: "Thu, 01 Dec 1994 16:00:00 GMT", UserMetadata: []Pair{{"color", "blue"}}}
	a.must(&CreateBucket{Name: "ver", Owner: "alice", Created: 1},
		&PutObject{Bucket: "ver", Key: "k", ETag: md5hex("0"), Blobs: blobs("b0"), ModTime: 1}, // null, before versioning
		&SetBucketVersioning{Bucket: "ver", Status: VersioningEnabled},
		&PutObject{Bucket: "ver", Key: "k", ETag: md5hex("1"), Blobs: blobs("b1"), ModTime: 2, VersionID: NewVersionID(2, 0xabc),
			Meta: meta, Tags: []Pair{{"t", "1"}}},
		&DeleteObject{Bucket: "ver", Key: "k", MarkerVersionID: NewVersionID(3, 0xdef), ModTime: 3},
		&PutObject{Bucket: "ver", Key: "m\x00x", ETag: md5hex("m"), Blobs: blobs("bm"), ModTime: 4, VersionID: NewVersionID(4, 1)},
		&CreateMultipartUpload{Bucket: "ver", Key: "up", UploadID: "u1", Initiated: 5, Meta: meta, Tags: []Pair{{"a", "b"}}},
		&PutBucketTagging{Bucket: "ver", Tags: []Pair{{"env", "prod"}}},
		&CreateBucket{Name: "sus", Owner: "bob", Created: 6},
		&SetBucketVersioning{Bucket: "sus", Status: VersioningEnabled},
		&PutObject{Bucket: "sus", Key: "s", ETag: md5hex("s1"), Blobs: blobs("s1"), ModTime: 7, VersionID: NewVersionID(7, 2)},
		&SetBucketVersioning{Bucket: "sus", Status: VersioningSuspended},
		&PutObject{Bucket: "sus", Key: "s", ETag: md5hex("s2"), Blobs: blobs("s2"), ModTime: 8},
		&SetBucketVersioning{Bucket: "sus", Status: VersioningEnabled},
		&PutObject{Bucket: "sus", Key: "s", ETag: md5hex("s3"), Blobs: blobs("s3"), ModTime: 9, VersionID: NewVersionID(9, 3)})
	return a
}

// TestGoldenSnapshotVersions pins the encodings added with versions as TestGoldenSnapshot pins
// the first ones: the committed stream restores to the state the history builds, and today's
// encoder writes the same bytes.
func TestGoldenSnapshotVersions(t *testing.T) {
	g := checkGolden(t, filepath.Join("testdata", "golden-full-versions.snap"), goldenVersionsState(t), *updateGoldenVersions, "-update-versions")
	for _, kind := range []byte{prefixVersion, prefixBucketTags} {
		if countKind(t, g, kind) == 0 {
			t.Fatalf("the golden state has no record of kind %#x", kind)
		}
	}
	if _, err := g.ObjectVersion("sus", "s", NullVersionID); err != nil {
		t.Fatalf("the noncurrent null version: %v", err)
	}
}
