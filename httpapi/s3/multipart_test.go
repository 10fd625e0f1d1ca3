package s3

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestMultipartUpload64MiBOutOfOrder(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	c := n.client()
	ctx := ctxT(t)
	mustCreateBucket(t, c, "mpu")
	const partSize = 5 << 20
	const total = 64 << 20
	data := randBytes(total, 42)
	var parts [][]byte
	for off := 0; off < total; off += partSize {
		parts = append(parts, data[off:min(off+partSize, total)])
	}
	if len(parts) != 13 || len(parts[12]) != 4<<20 {
		t.Fatalf("%d parts, last %d bytes", len(parts), len(parts[len(parts)-1]))
	}
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String("mpu"), Key: aws.String("big/object.bin"), ContentType: aws.String("application/x-big"),
		Metadata: map[string]string{"origin": "multipart-test"},
	})
	if err != nil {
		t.Fatal(err)
	}
	uid := up.UploadId
	// Part 7 is first uploaded with the wrong bytes, then replaced: the first blob is freed.
	if _, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("mpu"), Key: aws.String("big/object.bin"), UploadId: uid,
		PartNumber: aws.Int32(7), Body: bytes.NewReader(parts[0])}); err != nil {
		t.Fatal(err)
	}
	order := rand.New(rand.NewPCG(1, 2)).Perm(len(parts))
	etags := make([]string, len(parts))
	var wg sync.WaitGroup
	work := make(chan int)
	errs := make(chan error, len(parts))
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("mpu"), Key: aws.String("big/object.bin"),
					UploadId: uid, PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(parts[i])})
				if err != nil {
					errs <- fmt.Errorf("part %d: %w", i+1, err)
					continue
				}
				etags[i] = aws.ToString(out.ETag)
			}
		}()
	}
	for _, i := range order {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := n.blobCount(); got != len(parts) {
		t.Fatalf("%d blobs after replacing part 7, want %d", got, len(parts))
	}

	// ListParts, paginated.
	var listed []int32
	lp := s3.NewListPartsPaginator(c, &s3.ListPartsInput{Bucket: aws.String("mpu"), Key: aws.String("big/object.bin"), UploadId: uid, MaxParts: aws.Int32(5)})
	for lp.HasMorePages() {
		out, err := lp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range out.Parts {
			listed = append(listed, aws.ToInt32(p.PartNumber))
			if want := etags[aws.ToInt32(p.PartNumber)-1]; aws.ToString(p.ETag) != want {
				t.Fatalf("ListParts part %d ETag %s, want %s", aws.ToInt32(p.PartNumber), aws.ToString(p.ETag), want)
			}
		}
	}
	if len(listed) != len(parts) || listed[0] != 1 || listed[12] != 13 {
		t.Fatalf("ListParts = %v", listed)
	}
	lu, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("mpu")})
	if err != nil || len(lu.Uploads) != 1 || aws.ToString(lu.Uploads[0].UploadId) != aws.ToString(uid) {
		t.Fatalf("ListMultipartUploads = %+v, %v", lu, err)
	}

	var completed []types.CompletedPart
	digest := md5.New()
	for i := range parts {
		completed = append(completed, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: aws.String(etags[i])})
		s := md5.Sum(parts[i])
		digest.Write(s[:])
	}
	// Out-of-order completion lists are refused.
	swapped := append([]types.CompletedPart(nil), completed...)
	swapped[0], swapped[1] = swapped[1], swapped[0]
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String("big/object.bin"),
		UploadId: uid, MultipartUpload: &types.CompletedMultipartUpload{Parts: swapped}})
	wantCode(t, err, "InvalidPartOrder", http.StatusBadRequest)

	done, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String("big/object.bin"),
		UploadId: uid, MultipartUpload: &types.CompletedMultipartUpload{Parts: completed}})
	if err != nil {
		t.Fatal(err)
	}
	wantETag := fmt.Sprintf(`"%s-13"`, hex.EncodeToString(digest.Sum(nil)))
	if aws.ToString(done.ETag) != wantETag {
		t.Fatalf("completed ETag %s, want %s", aws.ToString(done.ETag), wantETag)
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("mpu"), Key: aws.String("big/object.bin")})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes (err %v), equal %v", len(got), err, bytes.Equal(got, data))
	}
	if aws.ToString(out.ContentType) != "application/x-big" || out.Metadata["origin"] != "multipart-test" || aws.ToString(out.ETag) != wantETag {
		t.Fatalf("object headers: type %q meta %v etag %s", aws.ToString(out.ContentType), out.Metadata, aws.ToString(out.ETag))
	}
	// A range across a part boundary.
	rng, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("mpu"), Key: aws.String("big/object.bin"),
		Range: aws.String(fmt.Sprintf("bytes=%d-%d", partSize-100, 2*partSize+99))})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(rng.Body)
	rng.Body.Close()
	if !bytes.Equal(got, data[partSize-100:2*partSize+100]) {
		t.Fatalf("cross-part range: %d bytes, mismatch", len(got))
	}
	_, err = c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("mpu"), Key: aws.String("big/object.bin"), UploadId: uid,
		PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("late"))})
	wantCode(t, err, "NoSuchUpload", http.StatusNotFound)
	if got := n.blobCount(); got != len(parts) {
		t.Fatalf("%d blobs after completion, want %d", got, len(parts))
	}
}

func TestMultipartRules(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	c := n.client()
	ctx := ctxT(t)
	mustCreateBucket(t, c, "rules")
	src := randBytes(300_000, 9)
	mustPut(t, c, "rules", "source", src)
	newUpload := func(key string) *string {
		up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("rules"), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		return up.UploadId
	}
	put := func(key string, uid *string, num int32, body []byte) string {
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("rules"), Key: aws.String(key), UploadId: uid,
			PartNumber: aws.Int32(num), Body: bytes.NewReader(body)})
		if err != nil {
			t.Fatalf("UploadPart %d: %v", num, err)
		}
		return aws.ToString(out.ETag)
	}
	complete := func(key string, uid *string, parts ...types.CompletedPart) (*s3.CompleteMultipartUploadOutput, error) {
		return c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("rules"), Key: aws.String(key),
			UploadId: uid, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	}
	cp := func(num int32, etag string) types.CompletedPart {
		return types.CompletedPart{PartNumber: aws.Int32(num), ETag: aws.String(etag)}
	}

	t.Run("EntityTooSmall", func(t *testing.T) {
		uid := newUpload("small")
		e1, e2 := put("small", uid, 1, []byte("tiny")), put("small", uid, 2, []byte("also tiny"))
		_, err := complete("small", uid, cp(1, e1), cp(2, e2))
		wantCode(t, err, "EntityTooSmall", http.StatusBadRequest)
		// A single small part is fine (the last part has no minimum).
		if _, err := complete("small", uid, cp(2, e2)); err != nil {
			t.Fatal(err)
		}
		if got := mustGet(t, c, "rules", "small"); string(got) != "also tiny" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("InvalidPart", func(t *testing.T) {
		uid := newUpload("inv")
		e1 := put("inv", uid, 1, []byte("x"))
		_, err := complete("inv", uid, cp(1, `"00000000000000000000000000000000"`))
		wantCode(t, err, "InvalidPart", http.StatusBadRequest)
		_, err = complete("inv", uid, cp(3, e1))
		wantCode(t, err, "InvalidPart", http.StatusBadRequest)
		_, err = c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("rules"), Key: aws.String("inv"), UploadId: uid,
			PartNumber: aws.Int32(10001), Body: bytes.NewReader([]byte("x"))})
		wantCode(t, err, "InvalidArgument", http.StatusBadRequest)
	})
	t.Run("abort frees parts", func(t *testing.T) {
		before := n.blobCount()
		uid := newUpload("aborted")
		put("aborted", uid, 1, []byte("one"))
		put("aborted", uid, 2, []byte("two"))
		if got := n.blobCount(); got != before+2 {
			t.Fatalf("%d blobs, want %d", got, before+2)
		}
		if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("rules"), Key: aws.String("aborted"), UploadId: uid}); err != nil {
			t.Fatal(err)
		}
		if got := n.blobCount(); got != before {
			t.Fatalf("%d blobs after abort, want %d", got, before)
		}
		_, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("rules"), Key: aws.String("aborted"), UploadId: uid})
		wantCode(t, err, "NoSuchUpload", http.StatusNotFound)
		_, err = c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("rules"), Key: aws.String("aborted"), UploadId: uid})
		wantCode(t, err, "NoSuchUpload", http.StatusNotFound)
	})
	t.Run("UploadPartCopy", func(t *testing.T) {
		uid := newUpload("copied")
		o1, err := c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("rules"), Key: aws.String("copied"), UploadId: uid,
			PartNumber: aws.Int32(1), CopySource: aws.String("rules/source"), CopySourceRange: aws.String("bytes=1000-199999")})
		if err != nil {
			t.Fatal(err)
		}
		e2 := put("copied", uid, 2, []byte("tail"))
		_, err = c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("rules"), Key: aws.String("copied"), UploadId: uid,
			PartNumber: aws.Int32(3), CopySource: aws.String("rules/source"), CopySourceRange: aws.String("bytes=0-300000")})
		wantCode(t, err, "InvalidRange", http.StatusRequestedRangeNotSatisfiable)
		_, err = c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("rules"), Key: aws.String("copied"), UploadId: uid,
			PartNumber: aws.Int32(3), CopySource: aws.String("rules/missing")})
		wantCode(t, err, "NoSuchKey", http.StatusNotFound)
		nc := sdkClientMin(n, 100_000)
		if _, err := nc.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("rules"), Key: aws.String("copied"), UploadId: uid,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{cp(1, aws.ToString(o1.CopyPartResult.ETag)), cp(2, e2)}}}); err != nil {
			t.Fatal(err)
		}
		want := append(append([]byte(nil), src[1000:200000]...), "tail"...)
		if got := mustGet(t, c, "rules", "copied"); !bytes.Equal(got, want) {
			t.Fatalf("copied object: %d bytes, want %d", len(got), len(want))
		}
		// GET by part number.
		for num, wantPart := range map[int32][]byte{1: src[1000:200000], 2: []byte("tail")} {
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("rules"), Key: aws.String("copied"), PartNumber: aws.Int32(num)})
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(out.Body)
			out.Body.Close()
			if !bytes.Equal(got, wantPart) || aws.ToInt32(out.PartsCount) != 2 {
				t.Fatalf("part %d: %d bytes, parts count %d", num, len(got), aws.ToInt32(out.PartsCount))
			}
		}
		_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("rules"), Key: aws.String("copied"), PartNumber: aws.Int32(3)})
		wantCode(t, err, "InvalidPartNumber", http.StatusRequestedRangeNotSatisfiable)
	})
	t.Run("ListMultipartUploads with delimiter", func(t *testing.T) {
		for _, k := range []string{"dir/a", "dir/b", "dir/sub/c", "top"} {
			newUpload(k)
		}
		out, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("rules"), Prefix: aws.String("dir/"), Delimiter: aws.String("/")})
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, u := range out.Uploads {
			keys = append(keys, aws.ToString(u.Key))
		}
		if len(keys) != 2 || keys[0] != "dir/a" || keys[1] != "dir/b" || len(out.CommonPrefixes) != 1 || aws.ToString(out.CommonPrefixes[0].Prefix) != "dir/sub/" {
			t.Fatalf("uploads %v prefixes %+v", keys, out.CommonPrefixes)
		}
	})
}

// sdkClientMin returns a client of a second handler on the same backend whose minimum part
// size is lowered (the fsm carries it in the completion event).
func sdkClientMin(n *node, min uint64) *s3.Client {
	h := NewHandler(Options{Backend: n.backend, Credentials: []Credentials{{AccessKey: testAK, SecretKey: testSK}}, MinPartSize: min})
	srv := newTestServer(n.t, h)
	return sdkClient(srv.URL, testSK, &http.Client{})
}
