package s3

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/nebulaio/nebulaio/fsm"
)

// discardCounter counts the blobs the handler discards itself.
type discardCounter struct {
	Backend
	n atomic.Int64
}

func (d *discardCounter) DiscardBlob(id string, nodes []string) {
	d.n.Add(1)
	d.Backend.DiscardBlob(id, nodes)
}

// TestConditionalWrites: If-None-Match: * and If-Match on PutObject and
// CompleteMultipartUpload answer 412 (404 for If-Match on a missing key) and change nothing;
// a rejected PUT's blob is freed once, by the data plane (the handler does not discard it too).
func TestConditionalWrites(t *testing.T) {
	var dc *discardCounter
	n := startNode(t, t.TempDir(), nodeOpts{minPartSize: 1, wrap: func(b Backend) Backend { dc = &discardCounter{Backend: b}; return dc }})
	c := n.client()
	ctx := ctxT(t)
	mustCreateBucket(t, c, "cond")
	put := func(key, body string, in func(*s3.PutObjectInput)) (*s3.PutObjectOutput, error) {
		p := &s3.PutObjectInput{Bucket: aws.String("cond"), Key: aws.String(key), Body: strings.NewReader(body)}
		in(p)
		return c.PutObject(ctx, p)
	}
	first, err := put("k", "first", func(p *s3.PutObjectInput) { p.IfNoneMatch = aws.String("*") })
	if err != nil {
		t.Fatalf("If-None-Match * on a new key: %v", err)
	}
	_, err = put("k", "second", func(p *s3.PutObjectInput) { p.IfNoneMatch = aws.String("*") })
	wantCode(t, err, "PreconditionFailed", 412)
	_, err = put("k", "second", func(p *s3.PutObjectInput) { p.IfMatch = aws.String(`"0123"`) })
	wantCode(t, err, "PreconditionFailed", 412)
	_, err = put("missing", "x", func(p *s3.PutObjectInput) { p.IfMatch = aws.String(`"0123"`) })
	wantCode(t, err, "NoSuchKey", 404)
	if got := string(mustGet(t, c, "cond", "k")); got != "first" {
		t.Fatalf("after refused writes: %q", got)
	}
	if got := n.blobCount(); got != 1 {
		t.Fatalf("%d blobs after three refused PUTs, want 1", got)
	}
	if got := dc.n.Load(); got != 0 {
		t.Fatalf("the handler discarded %d blobs of refused PUTs itself; the data plane frees them (FreedBlobs)", got)
	}
	if _, err := put("k", "third", func(p *s3.PutObjectInput) { p.IfMatch = first.ETag }); err != nil {
		t.Fatalf("If-Match with the current ETag: %v", err)
	}

	// CompleteMultipartUpload: If-None-Match * on an existing key fails and keeps the upload.
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("cond"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	part, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("cond"), Key: aws.String("k"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: strings.NewReader("multipart")})
	if err != nil {
		t.Fatal(err)
	}
	complete := func(in func(*s3.CompleteMultipartUploadInput)) error {
		p := &s3.CompleteMultipartUploadInput{Bucket: aws.String("cond"), Key: aws.String("k"), UploadId: up.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}}}
		in(p)
		_, err := c.CompleteMultipartUpload(ctx, p)
		return err
	}
	wantCode(t, complete(func(p *s3.CompleteMultipartUploadInput) { p.IfNoneMatch = aws.String("*") }), "PreconditionFailed", 412)
	wantCode(t, complete(func(p *s3.CompleteMultipartUploadInput) { p.IfMatch = aws.String(`"nope"`) }), "PreconditionFailed", 412)
	h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("cond"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	if err := complete(func(p *s3.CompleteMultipartUploadInput) { p.IfMatch = h.ETag }); err != nil {
		t.Fatalf("complete with If-Match of the current ETag (the upload survived the refusals): %v", err)
	}
	if got := string(mustGet(t, c, "cond", "k")); got != "multipart" {
		t.Fatalf("after completion: %q", got)
	}
}

// TestConditionalPutRace: writers racing with If-None-Match: * on one key: exactly one wins,
// the others get 412, and the object holds the winner's bytes.
func TestConditionalPutRace(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	c := n.client()
	mustCreateBucket(t, c, "race")
	const writers = 8
	for round := range 3 {
		key := fmt.Sprint("k", round)
		var wg sync.WaitGroup
		start := make(chan struct{})
		results := make([]error, writers)
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, results[i] = c.PutObject(ctxT(t), &s3.PutObjectInput{Bucket: aws.String("race"), Key: aws.String(key),
					Body: bytes.NewReader([]byte(fmt.Sprint("writer ", i))), IfNoneMatch: aws.String("*")})
			}()
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range results {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("round %d: writers %d and %d both won", round, winner, i)
			case err == nil:
				winner = i
			case apiCode(err) != "PreconditionFailed" || httpStatus(err) != 412:
				t.Fatalf("round %d: writer %d: %v", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no writer won", round)
		}
		if got := string(mustGet(t, c, "race", key)); got != fmt.Sprint("writer ", winner) {
			t.Fatalf("round %d: object holds %q, winner was %d", round, got, winner)
		}
	}
	if got := n.blobCount(); got != 3 {
		t.Fatalf("%d blobs after 3 rounds, want 3 (the losers' blobs freed)", got)
	}
}

// TestGetObjectAttributes: the attributes asked for, ObjectParts paged with x-amz-max-parts
// and x-amz-part-number-marker, by version.
func TestGetObjectAttributes(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{minPartSize: 1})
	c := n.client()
	ctx := ctxT(t)
	mustCreateBucket(t, c, "attrs")
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("attrs"), Key: aws.String("mp")})
	if err != nil {
		t.Fatal(err)
	}
	var parts []types.CompletedPart
	for i := int32(1); i <= 3; i++ {
		p, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("attrs"), Key: aws.String("mp"), UploadId: up.UploadId,
			PartNumber: aws.Int32(i), Body: bytes.NewReader(bytes.Repeat([]byte("p"), int(i)*10))})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(i), ETag: p.ETag})
	}
	done, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("attrs"), Key: aws.String("mp"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if err != nil {
		t.Fatal(err)
	}
	all := []types.ObjectAttributes{types.ObjectAttributesEtag, types.ObjectAttributesObjectParts, types.ObjectAttributesObjectSize, types.ObjectAttributesStorageClass, types.ObjectAttributesChecksum}
	a, err := c.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: aws.String("attrs"), Key: aws.String("mp"), ObjectAttributes: all, MaxParts: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(a.ETag) != strings.Trim(aws.ToString(done.ETag), `"`) || aws.ToInt64(a.ObjectSize) != 60 || a.StorageClass != types.StorageClassStandard || a.LastModified == nil {
		t.Fatalf("attributes: etag %q size %d class %q", aws.ToString(a.ETag), aws.ToInt64(a.ObjectSize), a.StorageClass)
	}
	op := a.ObjectParts
	if op == nil || aws.ToInt32(op.TotalPartsCount) != 3 || !aws.ToBool(op.IsTruncated) || len(op.Parts) != 2 ||
		aws.ToInt64(op.Parts[1].Size) != 20 || aws.ToString(op.NextPartNumberMarker) != "2" {
		t.Fatalf("ObjectParts page 1: %+v", op)
	}
	a, err = c.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: aws.String("attrs"), Key: aws.String("mp"),
		ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesObjectParts}, MaxParts: aws.Int32(2), PartNumberMarker: aws.String("2")})
	if err != nil || len(a.ObjectParts.Parts) != 1 || aws.ToInt32(a.ObjectParts.Parts[0].PartNumber) != 3 || aws.ToBool(a.ObjectParts.IsTruncated) || a.ETag != nil {
		t.Fatalf("ObjectParts page 2: %+v %v", a.ObjectParts, err)
	}
	// A single-part object with a checksum, by version.
	mustCreateBucket(t, c, "attrs2")
	setVersioning(t, c, "attrs2", types.BucketVersioningStatusEnabled)
	p, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("attrs2"), Key: aws.String("k"), Body: strings.NewReader("abc"),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, c, "attrs2", "k", []byte("longer"))
	a, err = c.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: aws.String("attrs2"), Key: aws.String("k"), VersionId: p.VersionId, ObjectAttributes: all})
	if err != nil || aws.ToInt64(a.ObjectSize) != 3 || a.Checksum == nil || aws.ToString(a.Checksum.ChecksumSHA256) != aws.ToString(p.ChecksumSHA256) ||
		a.ObjectParts != nil || aws.ToString(a.VersionId) != aws.ToString(p.VersionId) {
		t.Fatalf("by version: %+v %v", a, err)
	}
	_, err = c.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: aws.String("attrs2"), Key: aws.String("nope"), ObjectAttributes: all})
	wantCode(t, err, "NoSuchKey", 404)
}

// TestListBucketsPaging: max-buckets pages with a continuation token; prefix filters.
func TestListBucketsPaging(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	c := n.client()
	names := []string{"lb-a", "lb-b", "lb-c", "lb-d", "lb-e", "other"}
	for _, b := range names {
		mustCreateBucket(t, c, b)
	}
	var got []string
	in := &s3.ListBucketsInput{MaxBuckets: aws.Int32(2)}
	for pages := 0; ; pages++ {
		if pages > len(names) {
			t.Fatal("ListBuckets does not end")
		}
		out, err := c.ListBuckets(ctxT(t), in)
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Buckets) > 2 {
			t.Fatalf("page of %d buckets with max-buckets 2", len(out.Buckets))
		}
		for _, b := range out.Buckets {
			got = append(got, aws.ToString(b.Name))
		}
		if out.ContinuationToken == nil {
			break
		}
		in.ContinuationToken = out.ContinuationToken
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Fatalf("paged: %v", got)
	}
	out, err := c.ListBuckets(ctxT(t), &s3.ListBucketsInput{Prefix: aws.String("lb-"), MaxBuckets: aws.Int32(4)})
	if err != nil || len(out.Buckets) != 4 || aws.ToString(out.Prefix) != "lb-" || out.ContinuationToken == nil {
		t.Fatalf("prefix page: %+v %v", out, err)
	}
	out, err = c.ListBuckets(ctxT(t), &s3.ListBucketsInput{Prefix: aws.String("lb-"), ContinuationToken: out.ContinuationToken})
	if err != nil || len(out.Buckets) != 1 || aws.ToString(out.Buckets[0].Name) != "lb-e" || out.ContinuationToken != nil {
		t.Fatalf("prefix, second page: %+v %v", out, err)
	}
}

// bucketDropper deletes the target bucket of a PutObject just before proposing it, so that the
// FSM rejects the write after its blob is stored.
type bucketDropper struct{ *discardCounter }

func (b bucketDropper) Propose(ctx context.Context, ev fsm.Event) (*fsm.Result, error) {
	if p, ok := ev.(*fsm.PutObject); ok {
		if _, err := b.Backend.Propose(ctx, &fsm.DeleteBucket{Name: p.Bucket}); err != nil {
			return nil, err
		}
	}
	return b.Backend.Propose(ctx, ev)
}

// TestRejectedPutFreedOnce: the blob of a PutObject the FSM rejects is in the result's
// FreedBlobs, so the data plane deletes it; the handler must not discard it a second time.
func TestRejectedPutFreedOnce(t *testing.T) {
	var dc *discardCounter
	n := startNode(t, t.TempDir(), nodeOpts{wrap: func(b Backend) Backend {
		dc = &discardCounter{Backend: b}
		return bucketDropper{dc}
	}})
	c := n.client()
	mustCreateBucket(t, c, "gone")
	_, err := c.PutObject(ctxT(t), &s3.PutObjectInput{Bucket: aws.String("gone"), Key: aws.String("k"), Body: strings.NewReader("bytes")})
	wantCode(t, err, "NoSuchBucket", 404)
	if got := n.blobCount(); got != 0 {
		t.Fatalf("%d blobs left by a rejected PUT", got)
	}
	if got := dc.n.Load(); got != 0 {
		t.Fatalf("the handler discarded the rejected PUT's blob itself (%d calls) as well as the data plane", got)
	}
}
