package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"

	"github.com/nebulaio/nebulaio/snapshot"
)

// scanState builds a state with every record kind: two buckets (one versioned, with tags),
// current objects, noncurrent versions, a delete marker, an open upload with parts, a node
// and a setting.
func scanState(t *testing.T) *FSM {
	a := newApplier(t)
	a.must(bkt, &CreateBucket{Name: "ver", Owner: "bob", Created: 2},
		&SetBucketVersioning{Bucket: "ver", Status: VersioningEnabled},
		&PutBucketTagging{Bucket: "ver", Tags: []Pair{{Key: "team", Value: "ops"}}})
	for i := 0; i < 5; i++ {
		a.must(&PutObject{Bucket: "bkt", Key: fmt.Sprintf("k%d", i), Size: 10, ETag: "e", Blobs: []Blob{{ID: fmt.Sprintf("b%d", i), Size: 10, Nodes: []string{"n1"}}}})
	}
	for v := int64(1); v <= 3; v++ { // three versions of one key, the newest current
		a.must(&PutObject{Bucket: "ver", Key: "doc", Size: 7, Blobs: []Blob{{ID: fmt.Sprintf("v%d", v), Size: 7}}, ModTime: v, VersionID: NewVersionID(v, 1)})
	}
	a.must(&DeleteObject{Bucket: "ver", Key: "gone", MarkerVersionID: NewVersionID(9, 9), ModTime: 9}) // a marker, current
	a.must(&CreateMultipartUpload{Bucket: "bkt", Key: "big", UploadID: "u1", Initiated: 1})
	for p := uint32(1); p <= 2; p++ {
		a.must(&PutPart{Bucket: "bkt", Key: "big", UploadID: "u1", PartNumber: p, Size: 5, Blobs: blobs(fmt.Sprintf("p%d", p))})
	}
	a.must(&RegisterNode{Node: NodeInfo{ID: "n1", Role: "hybrid"}}, &SetSetting{Key: "cluster.id", Value: "c-123"})
	return a.f
}

// fullStream persists f as a full stream.
func fullStream(t *testing.T, f *FSM) []byte {
	t.Helper()
	return persist(t, f, "s1", false).Bytes()
}

// TestScanStreamCountsAndDescribesEveryRecord: ScanStream reports every record of a full
// stream in key order, the meta record first, with the fields a backup's manifests need, and
// counts them; what it accepts Restore accepts too.
func TestScanStreamCountsAndDescribesEveryRecord(t *testing.T) {
	f := scanState(t)
	stream := fullStream(t, f)
	var kinds []RecordKind
	var blobIDs []string
	var keys [][]byte
	sum, err := ScanStream(bytes.NewReader(stream), func(r *StreamRecord) error {
		kinds = append(kinds, r.Kind)
		keys = append(keys, slices.Clone(r.Key))
		for _, b := range r.Blobs {
			blobIDs = append(blobIDs, b.ID)
		}
		if r.Kind == RecordSetting && (r.Setting != Pair{Key: "cluster.id", Value: "c-123"}) {
			t.Errorf("setting described as %+v", r.Setting)
		}
		if r.Kind == RecordPart && (r.Bucket != "bkt" || r.ObjectKey != "big" || r.UploadID != "u1" || r.Size != 5) {
			t.Errorf("part described as %+v", r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := StreamSummary{Applied: f.AppliedIndex(), Records: 1 + 2 + 1 + 5 + 3 + 1 + 1 + 2 + 1 + 1,
		Buckets: 2, Objects: 6, Versions: 9, DeleteMarkers: 1, Uploads: 1, Parts: 2, Nodes: 1, Settings: 1,
		Blobs: 5 + 3 + 2, BlobBytes: 50 + 21 + 2}
	if sum != want {
		t.Fatalf("summary\n got %+v\nwant %+v", sum, want)
	}
	if kinds[0] != RecordMeta || !slices.Contains(kinds, RecordBucketTags) || !slices.Contains(kinds, RecordVersion) || !slices.Contains(kinds, RecordNode) {
		t.Fatalf("kinds: %v", kinds)
	}
	if !slices.IsSortedFunc(keys, bytes.Compare) {
		t.Fatal("records not in key order")
	}
	slices.Sort(blobIDs)
	if w := []string{"b0", "b1", "b2", "b3", "b4", "p1", "p2", "v1", "v2", "v3"}; !slices.Equal(blobIDs, w) {
		t.Fatalf("blobs %v, want %v", blobIDs, w)
	}
	g := New(Options{})
	if err := g.Restore(io.NopCloser(bytes.NewReader(stream))); err != nil {
		t.Fatal(err)
	}
	checkSameState(t, g, f)
}

// TestScanStreamRefusesDamage: a truncated stream, a flipped byte, a delta, a stream without
// its meta record and one whose counts disagree with its records are errors, never a short
// summary.
func TestScanStreamRefusesDamage(t *testing.T) {
	stream := fullStream(t, scanState(t))
	// rewrite copies the stream's records through a StreamWriter, leaving out those drop says.
	rewrite := func(h snapshot.StreamHeader, drop func(k []byte) bool) []byte {
		sr, err := snapshot.NewStreamReader(bytes.NewReader(stream))
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		sw, err := snapshot.NewStreamWriter(&out, h)
		if err != nil {
			t.Fatal(err)
		}
		for {
			k, v, _, err := sr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if !drop(k) {
				if err := sw.Put(k, v); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := sw.Close(); err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
	flipped := slices.Clone(stream)
	flipped[len(flipped)/2] ^= 0x40
	for _, tc := range []struct {
		name   string
		stream []byte
		want   error
	}{
		{"truncated", stream[:len(stream)-7], snapshot.ErrTruncated},
		{"flipped byte", flipped, nil},
		{"delta", rewrite(snapshot.StreamHeader{Kind: snapshot.KindDelta, Parent: "p"}, func([]byte) bool { return false }), ErrSnapshotKind},
		{"no meta record", rewrite(snapshot.StreamHeader{Kind: snapshot.KindFull}, func(k []byte) bool { return k[0] == prefixMeta }), ErrCorrupt},
		{"an object missing", rewrite(snapshot.StreamHeader{Kind: snapshot.KindFull}, func(k []byte) bool { return string(k) == objectKey("bkt", "k3") }), ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ScanStream(bytes.NewReader(tc.stream), nil)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("ScanStream: %v, want %v", err, tc.want)
			}
		})
	}
}
