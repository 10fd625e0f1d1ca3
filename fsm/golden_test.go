package fsm

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/golden-full-v2.snap")

// goldenState applies a fixed history touching every record type.
func goldenState(t *testing.T) *applier {
	a := newApplier(t)
	a.must(bkt, &CreateBucket{Name: "media", Owner: "bob", Created: 2},
		&PutObject{Bucket: "bkt", Key: "a", Size: 3, ETag: md5hex("abc"), Blobs: blobs("a1"), ModTime: 5,
			Meta: ObjectMeta{ContentType: "text/plain", UserMetadata: []Pair{{"k", "v"}}}, Checksums: []Pair{{"CRC32C", "x"}}},
		&PutObject{Bucket: "bkt", Key: "dir/\x00nul", Blobs: blobs("n1")},
		upload, part1, part2, part3, complete(CompletedPart{1, e1}, CompletedPart{3, e3}),
		&CreateMultipartUpload{Bucket: "media", Key: "v.mp4", UploadID: "u9", Initiated: 4},
		&PutPart{Bucket: "media", Key: "v.mp4", UploadID: "u9", PartNumber: 2, Size: 7, ETag: e2, Blobs: blobs("v2")},
		&RegisterNode{Node: NodeInfo{ID: "node-1", Role: "hybrid", Addresses: []Pair{{"raft", "127.0.0.1:9003"}}}},
		&SetSetting{Key: "gc.grace", Value: "24h"})
	return a
}

// TestGoldenSnapshot pins the snapshot record format: the committed stream restores to the
// state the history builds, and today's encoder writes the same bytes. Version 2 differs from
// version 1 only in the meta record (it carries the object and upload counts).
func TestGoldenSnapshot(t *testing.T) {
	checkGolden(t, filepath.Join("testdata", "golden-full-v2.snap"), goldenState(t), *updateGolden, "-update")
}

// checkGolden compares a's full snapshot with the golden file at path (written first when
// update is set) and restores the file into a new FSM, which must hold a's state. It returns
// the restored FSM.
func checkGolden(t *testing.T, path string, a *applier, update bool, flagName string) *FSM {
	t.Helper()
	got := persist(t, a.f, "golden", false).Bytes()
	if update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s %s)", err, t.Name(), flagName)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("snapshot encoding changed: bump the record's version and keep reading the old one, or run %s if intended", flagName)
	}
	g := New(Options{})
	if err := g.Restore(io.NopCloser(bytes.NewReader(want))); err != nil {
		t.Fatal(err)
	}
	checkSameState(t, g, a.f)
	checkInvariants(t, g)
	return g
}

// TestGoldenSnapshotV1 restores a stream written by the first encoder (a meta record of
// version 1, without counts): the decoders keep reading every version they wrote.
func TestGoldenSnapshotV1(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("testdata", "golden-full-v1.snap"))
	if err != nil {
		t.Fatal(err)
	}
	a := goldenState(t)
	g := New(Options{})
	if err := g.Restore(io.NopCloser(bytes.NewReader(want))); err != nil {
		t.Fatal(err)
	}
	checkSameState(t, g, a.f)
	checkInvariants(t, g)
}
