package s3

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestGarbageCollection: the blob of a write whose outcome was unknown (503) is kept by the
// handler and removed by the data plane's CollectGarbage once older than the grace period;
// referenced blobs (objects, parts of open uploads) are never touched.
func TestGarbageCollection(t *testing.T) {
	fb := &faultBackend{}
	n := startNode(t, t.TempDir(), nodeOpts{wrap: func(b Backend) Backend { fb.Backend = b; return fb }})
	c := n.client()
	ctx := ctxT(t)
	mustCreateBucket(t, c, "gcb")
	mustPut(t, c, "gcb", "kept", []byte("kept bytes"))
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("gcb"), Key: aws.String("open")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("gcb"), Key: aws.String("open"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("part"))}); err != nil {
		t.Fatal(err)
	}
	resp, _ := rawRequest(t, n.srv.URL, "PUT", "/gcb/noquorum", []byte("orphan"), nil, time.Time{}, testSK)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("fault: %d", resp.StatusCode)
	}
	if got := n.blobCount(); got != 3 {
		t.Fatalf("%d blobs, want 3 (object, part, orphan)", got)
	}
	st, err := n.data.CollectGarbage(ctx, n.maintenance(time.Hour, 0), time.Now())
	if err != nil || st.Deleted != 0 || st.Scanned != 3 {
		t.Fatalf("young orphan: %+v %v", st, err)
	}
	st, err = n.data.CollectGarbage(ctx, n.maintenance(time.Hour, 0), time.Now().Add(2*time.Hour))
	if err != nil || st.Deleted != 1 || st.Referenced != 2 {
		t.Fatalf("old orphan: %+v %v", st, err)
	}
	if got := mustGet(t, c, "gcb", "kept"); string(got) != "kept bytes" {
		t.Fatalf("object after GC: %q", got)
	}
	if got := n.blobCount(); got != 2 {
		t.Fatalf("%d blobs after GC, want 2", got)
	}
}

func TestAbortStaleUploads(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	c := n.client()
	ctx := ctxT(t)
	mustCreateBucket(t, c, "stale")
	for _, k := range []string{"a", "b/c"} {
		up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("stale"), Key: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		for p := int32(1); p <= 2; p++ {
			if _, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("stale"), Key: aws.String(k), UploadId: up.UploadId,
				PartNumber: aws.Int32(p), Body: bytes.NewReader([]byte("part"))}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got, err := n.data.ExpireUploads(ctx, n.maintenance(0, time.Hour), time.Now()); err != nil || got != 0 {
		t.Fatalf("fresh uploads aborted: %d %v", got, err)
	}
	if got, err := n.data.ExpireUploads(ctx, n.maintenance(0, time.Hour), time.Now().Add(2*time.Hour)); err != nil || got != 2 {
		t.Fatalf("stale uploads: aborted %d, %v", got, err)
	}
	out, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("stale")})
	if err != nil || len(out.Uploads) != 0 {
		t.Fatalf("uploads left: %+v %v", out, err)
	}
	if got := n.blobCount(); got != 0 {
		t.Fatalf("%d part blobs left after expiry", got)
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("stale")}); err != nil {
		t.Fatalf("bucket still busy after expiry: %v", err)
	}
}
