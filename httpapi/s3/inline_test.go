package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/rs/zerolog"

	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/httpapi/sigv4"
	"github.com/nebulaio/nebulaio/internal/sse"
	"github.com/nebulaio/nebulaio/internal/testutil"
	"github.com/nebulaio/nebulaio/lifecycle"
)

const testInline = 8 << 10 // the inline limit of these tests

// inlineOf returns whether each blob of object bucket/key (current version) is inline, and
// checks that a record read back carries no bytes.
func (n *node) inlineOf(t *testing.T, bucket, key, vid string) []bool {
	t.Helper()
	o, err := n.fsm.ObjectVersion(bucket, key, vid)
	if err != nil {
		t.Fatalf("object %s/%s: %v", bucket, key, err)
	}
	out := make([]bool, len(o.Blobs))
	for i, b := range o.Blobs {
		if b.Data != nil {
			t.Fatalf("object %s/%s: blob %s read back with %d bytes of data", bucket, key, b.ID, len(b.Data))
		}
		if b.Inline && len(b.Nodes) > 0 {
			t.Fatalf("object %s/%s: inline blob %s on nodes %v", bucket, key, b.ID, b.Nodes)
		}
		out[i] = b.Inline
	}
	return out
}

func getRange(t *testing.T, c *s3.Client, bucket, key, rng string, opt ...func(*s3.GetObjectInput)) []byte {
	t.Helper()
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Range: aws.String(rng)}
	for _, o := range opt {
		o(in)
	}
	out, err := c.GetObject(ctxT(t), in)
	if err != nil {
		t.Fatalf("GET %s %s: %v", key, rng, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestInlineObjects: objects up to the limit are stored inside their event (no blob file, the
// record marks the blob inline and carries no bytes), larger ones as blobs; both read back
// whole, by ranges and conditionally, after a restart too (the bytes come back from the log),
// and the inline writes are counted.
func TestInlineObjects(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{inline: testInline})
	c := n.client()
	mustCreateBucket(t, c, "inl")
	sizes := []int{0, 1, 1000, 4096, testInline, testInline + 1, 100 << 10}
	data := map[string][]byte{}
	var inlineCount, inlineBytes int
	for i, size := range sizes {
		key := fmt.Sprintf("obj-%d", size)
		data[key] = randBytes(size, uint64(i))
		out := mustPut(t, c, "inl", key, data[key])
		sum := md5.Sum(data[key])
		if got := strings.Trim(aws.ToString(out.ETag), `"`); got != hex.EncodeToString(sum[:]) {
			t.Fatalf("%s: ETag %s, want the MD5 %x", key, got, sum)
		}
		want := size <= testInline
		if got := n.inlineOf(t, "inl", key, ""); len(got) != 1 || got[0] != want {
			t.Fatalf("%s (%d bytes): inline %v, want [%v]", key, size, got, want)
		}
		if want {
			inlineCount++
			inlineBytes += size
		}
	}
	if got := n.blobCount(); got != 2 {
		t.Fatalf("%d blob files, want 2 (the objects over the inline limit)", got)
	}
	if w, b := n.metrics.get(MetricInlineWritesTotal), n.metrics.get(MetricInlineBytesTotal); w != float64(inlineCount) || b != float64(inlineBytes) {
		t.Fatalf("inline metrics: %v writes, %v bytes; want %d, %d", w, b, inlineCount, inlineBytes)
	}
	check := func(when string) {
		t.Helper()
		for key, want := range data {
			if got := mustGet(t, c, "inl", key); !bytes.Equal(got, want) {
				t.Fatalf("%s: GET %s: %d bytes, want %d", when, key, len(got), len(want))
			}
			if len(want) >= 100 {
				if got := getRange(t, c, "inl", key, "bytes=10-49"); !bytes.Equal(got, want[10:50]) {
					t.Fatalf("%s: GET %s bytes=10-49: %q", when, key, got)
				}
				if got := getRange(t, c, "inl", key, "bytes=-7"); !bytes.Equal(got, want[len(want)-7:]) {
					t.Fatalf("%s: GET %s bytes=-7: %q", when, key, got)
				}
			}
			head, err := c.HeadObject(ctxT(t), &s3.HeadObjectInput{Bucket: aws.String("inl"), Key: aws.String(key)})
			if err != nil || aws.ToInt64(head.ContentLength) != int64(len(want)) {
				t.Fatalf("%s: HEAD %s: %v, %d bytes", when, key, err, aws.ToInt64(head.ContentLength))
			}
			_, err = c.GetObject(ctxT(t), &s3.GetObjectInput{Bucket: aws.String("inl"), Key: aws.String(key), IfNoneMatch: head.ETag})
			if httpStatus(err) != http.StatusNotModified {
				t.Fatalf("%s: GET %s If-None-Match its ETag: %v", when, key, err)
			}
			_, err = c.GetObject(ctxT(t), &s3.GetObjectInput{Bucket: aws.String("inl"), Key: aws.String(key), IfMatch: aws.String(`"0123"`)})
			wantCode(t, err, "PreconditionFailed", http.StatusPreconditionFailed)
		}
	}
	check("after the writes")
	n.restart()
	c = n.client()
	check("after a restart")
}

// TestInlineBodyVerified: an inline body goes through every check a stored one does — a
// wrong Content-MD5, a wrong x-amz-checksum, a streaming chunk with a bad signature and a
// body shorter than declared are refused and leave nothing; a good streaming upload (chunk
// signatures, CRC32C trailer) is stored inline.
func TestInlineBodyVerified(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{inline: testInline})
	c := n.client()
	mustCreateBucket(t, c, "ver")
	data := randBytes(3000, 1)
	wrongMD5 := md5.Sum([]byte("other"))
	_, err := c.PutObject(ctxT(t), &s3.PutObjectInput{Bucket: aws.String("ver"), Key: aws.String("md5"), Body: bytes.NewReader(data),
		ContentMD5: aws.String(base64.StdEncoding.EncodeToString(wrongMD5[:]))})
	wantCode(t, err, "BadDigest", http.StatusBadRequest)
	_, err = c.PutObject(ctxT(t), &s3.PutObjectInput{Bucket: aws.String("ver"), Key: aws.String("crc"), Body: bytes.NewReader(data),
		ChecksumCRC32: aws.String("AAAAAA==")})
	if err == nil {
		t.Fatal("PUT with a wrong x-amz-checksum-crc32 accepted")
	}
	// 3000 bytes in 1 KiB chunks: chunk 3 is the final, empty one, checked only at the end.
	resp := signedChunkedPut(t, n.srv.URL, "/ver/stream-bad", data, 1024, "", 3)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("streaming PUT with a bad final chunk signature: %d", resp.StatusCode)
	}
	resp = signedChunkedPut(t, n.srv.URL, "/ver/stream-crc", data, 1024, "AAAAAA==", -1)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("streaming PUT with a wrong trailer checksum: %d", resp.StatusCode)
	}
	// A body that ends before its Content-Length: the server sees a cut body.
	req := signedRequest(t, n.srv.URL, http.MethodPut, "/ver/short", data, map[string]string{"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"})
	req.Body = io.NopCloser(io.MultiReader(bytes.NewReader(data[:1000]), errReader{errors.New("client gone")}))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a cut body was answered %d", resp.StatusCode)
	}
	for _, key := range []string{"md5", "crc", "stream-bad", "stream-crc", "short"} {
		if _, err := n.fsm.Object("ver", key); err == nil {
			t.Fatalf("%s: refused write left an object", key)
		}
	}
	if w := n.metrics.get(MetricInlineWritesTotal); w != 0 {
		t.Fatalf("%v inline writes counted for refused writes", w)
	}

	sum, _ := sigv4.ChecksumOf(sigv4.ChecksumCRC32C, data)
	resp = signedChunkedPut(t, n.srv.URL, "/ver/stream", data, 1024, sum, -1)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("streaming PUT: %d %s", resp.StatusCode, body)
	}
	if got := n.inlineOf(t, "ver", "stream", ""); len(got) != 1 || !got[0] {
		t.Fatalf("streaming PUT of %d bytes: inline %v", len(data), got)
	}
	if got := mustGet(t, c, "ver", "stream"); !bytes.Equal(got, data) {
		t.Fatal("streaming PUT reads back different bytes")
	}
	if n.blobCount() != 0 {
		t.Fatal("blob files left behind")
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// TestInlineVersionsAndDeletes: in a versioned bucket every version keeps its own inline
// bytes; deleting a version frees its bytes (BlobData says so) and not the others'; an
// overwrite in an unversioned bucket frees the old bytes; a GET that races an overwrite of
// an inline object answers the old or the new object whole, never an error.
func TestInlineVersionsAndDeletes(t *testing.T) {
	var hook atomic.Pointer[func()]
	n := startNode(t, t.TempDir(), nodeOpts{inline: testInline, wrap: func(b Backend) Backend { return &blobDataHook{Backend: b, before: &hook} }})
	c := n.client()
	mustCreateBucket(t, c, "ver")
	if _, err := c.PutBucketVersioning(ctxT(t), &s3.PutBucketVersioningInput{Bucket: aws.String("ver"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	var vids []string
	var ids []string
	bodies := [][]byte{randBytes(100, 1), randBytes(testInline, 2), randBytes(testInline+10, 3), randBytes(5, 4)}
	for _, b := range bodies {
		out := mustPut(t, c, "ver", "k", b)
		vids = append(vids, aws.ToString(out.VersionId))
		o, err := n.fsm.ObjectVersion("ver", "k", aws.ToString(out.VersionId))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, o.Blobs[0].ID)
	}
	for i, vid := range vids {
		out, err := c.GetObject(ctxT(t), &s3.GetObjectInput{Bucket: aws.String("ver"), Key: aws.String("k"), VersionId: aws.String(vid)})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if !bytes.Equal(got, bodies[i]) {
			t.Fatalf("version %d reads back %d bytes, want %d", i, len(got), len(bodies[i]))
		}
		if inl := n.inlineOf(t, "ver", "k", vid); inl[0] != (len(bodies[i]) <= testInline) {
			t.Fatalf("version %d: inline %v", i, inl)
		}
	}
	if _, err := c.DeleteObject(ctxT(t), &s3.DeleteObjectInput{Bucket: aws.String("ver"), Key: aws.String("k"), VersionId: aws.String(vids[0])}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.fsm.BlobData(ids[0]); !errors.Is(err, fsm.ErrNoSuchBlob) {
		t.Fatalf("BlobData of a deleted version's blob: %v", err)
	}
	if d, err := n.fsm.BlobData(ids[1]); err != nil || !bytes.Equal(d, bodies[1]) {
		t.Fatalf("BlobData of a kept version's blob: %d bytes, %v", len(d), err)
	}
	// A delete marker keeps the versions' bytes.
	if _, err := c.DeleteObject(ctxT(t), &s3.DeleteObjectInput{Bucket: aws.String("ver"), Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	if d, err := n.fsm.BlobData(ids[3]); err != nil || !bytes.Equal(d, bodies[3]) {
		t.Fatalf("BlobData under a delete marker: %v", err)
	}

	// Unversioned: an overwrite frees the old bytes; a GET racing it sees one whole object.
	mustCreateBucket(t, c, "plain")
	old, next := randBytes(2000, 5), randBytes(3000, 6)
	mustPut(t, c, "plain", "k", old)
	o, _ := n.fsm.Object("plain", "k")
	oldID := o.Blobs[0].ID
	var raced atomic.Bool
	f := func() {
		if raced.CompareAndSwap(false, true) {
			mustPut(t, n.client(), "plain", "k", next) // commits between the metadata read and the bytes
		}
	}
	hook.Store(&f)
	if got := mustGet(t, c, "plain", "k"); !bytes.Equal(got, next) {
		t.Fatalf("GET racing an overwrite: %d bytes, want the new object's %d", len(got), len(next))
	}
	hook.Store(nil)
	if !raced.Load() {
		t.Fatal("the overwrite did not race the GET")
	}
	if _, err := n.fsm.BlobData(oldID); !errors.Is(err, fsm.ErrNoSuchBlob) {
		t.Fatalf("BlobData of an overwritten object's blob: %v", err)
	}
	// A copy racing an overwrite of its source copies the new source; one racing its delete
	// answers NoSuchKey.
	raced.Store(false)
	newer := randBytes(1500, 7)
	f = func() {
		if raced.CompareAndSwap(false, true) {
			mustPut(t, n.client(), "plain", "k", newer)
		}
	}
	hook.Store(&f)
	if _, err := c.CopyObject(ctxT(t), &s3.CopyObjectInput{Bucket: aws.String("plain"), Key: aws.String("copy"), CopySource: aws.String("plain/k")}); err != nil {
		t.Fatalf("copy racing an overwrite of its source: %v", err)
	}
	hook.Store(nil)
	if got := mustGet(t, c, "plain", "copy"); !raced.Load() || !bytes.Equal(got, newer) {
		t.Fatalf("copy racing an overwrite (raced %v): %d bytes, want the new source's %d", raced.Load(), len(got), len(newer))
	}
	raced.Store(false)
	f = func() {
		if raced.CompareAndSwap(false, true) {
			if _, err := n.client().DeleteObject(ctxT(t), &s3.DeleteObjectInput{Bucket: aws.String("plain"), Key: aws.String("copy")}); err != nil {
				t.Error(err)
			}
		}
	}
	hook.Store(&f)
	_, err := c.CopyObject(ctxT(t), &s3.CopyObjectInput{Bucket: aws.String("plain"), Key: aws.String("copy2"), CopySource: aws.String("plain/copy")})
	hook.Store(nil)
	wantCode(t, err, "NoSuchKey", http.StatusNotFound)
	if _, err := c.DeleteObject(ctxT(t), &s3.DeleteObjectInput{Bucket: aws.String("plain"), Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	if o2, err := n.fsm.Object("plain", "k"); err == nil {
		t.Fatalf("deleted object still there: %+v", o2)
	}
}

// blobDataHook runs *before (when set) ahead of every BlobData.
type blobDataHook struct {
	Backend
	before *atomic.Pointer[func()]
}

func (h *blobDataHook) BlobData(id string) ([]byte, error) {
	if f := h.before.Load(); f != nil {
		(*f)()
	}
	return h.Backend.BlobData(id)
}

// TestInlineSSE: SSE-S3 and SSE-C objects under the limit are stored inline as ciphertext
// (the plaintext is not in the metadata's bytes), read back whole and by ranges, and copy
// into new inline objects under another encryption; SSE-C ETags are not the content's MD5.
func TestInlineSSE(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{inline: testInline, keyring: testKeyring(t, sse.GenerateKey())})
	c := n.tlsClient()
	mustCreateBucket(t, c, "enc")
	data := marked(testInline) // the ciphertext is larger than the limit: the plaintext's size counts
	k := newSSECKey(3)
	withC := func(in *s3.GetObjectInput) {
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(k.key), aws.String(k.md5)
	}
	if _, err := c.PutObject(ctxT(t), &s3.PutObjectInput{Bucket: aws.String("enc"), Key: aws.String("s3"), Body: bytes.NewReader(data),
		ServerSideEncryption: types.ServerSideEncryptionAes256}); err != nil {
		t.Fatal(err)
	}
	outC, err := c.PutObject(ctxT(t), &s3.PutObjectInput{Bucket: aws.String("enc"), Key: aws.String("c"), Body: bytes.NewReader(data),
		SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(k.key), SSECustomerKeyMD5: aws.String(k.md5)})
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(data)
	if strings.Trim(aws.ToString(outC.ETag), `"`) == hex.EncodeToString(sum[:]) {
		t.Fatal("an SSE-C object's ETag is its plaintext's MD5")
	}
	for _, key := range []string{"s3", "c"} {
		if inl := n.inlineOf(t, "enc", key, ""); !inl[0] {
			t.Fatalf("%s: not inline", key)
		}
		o, _ := n.fsm.Object("enc", key)
		stored, err := n.fsm.BlobData(o.Blobs[0].ID)
		if err != nil || int64(len(stored)) != sse.CiphertextSize(int64(len(data))) || bytes.Contains(stored, []byte("PLAINTEXT-MARKER")) {
			t.Fatalf("%s: stored inline bytes: %d (%v), plaintext visible: %v", key, len(stored), err, bytes.Contains(stored, []byte("PLAINTEXT-MARKER")))
		}
		var opt []func(*s3.GetObjectInput)
		if key == "c" {
			opt = append(opt, withC)
		}
		if got := getRange(t, c, "enc", key, "bytes=0-", opt...); !bytes.Equal(got, data) {
			t.Fatalf("%s: GET: %d bytes", key, len(got))
		}
		if got := getRange(t, c, "enc", key, "bytes=100-4199", opt...); !bytes.Equal(got, data[100:4200]) {
			t.Fatalf("%s: GET range: %d bytes", key, len(got))
		}
	}
	if _, err := c.GetObject(ctxT(t), &s3.GetObjectInput{Bucket: aws.String("enc"), Key: aws.String("c")}); httpStatus(err) != http.StatusBadRequest {
		t.Fatalf("GET of an inline SSE-C object without the key: %v", err)
	}
	// SSE-C source copied to an SSE-S3 destination: a new inline blob with a new ID.
	if _, err := c.CopyObject(ctxT(t), &s3.CopyObjectInput{Bucket: aws.String("enc"), Key: aws.String("copy"), CopySource: aws.String("enc/c"),
		CopySourceSSECustomerAlgorithm: aws.String("AES256"), CopySourceSSECustomerKey: aws.String(k.key), CopySourceSSECustomerKeyMD5: aws.String(k.md5),
		ServerSideEncryption: types.ServerSideEncryptionAes256}); err != nil {
		t.Fatal(err)
	}
	src, _ := n.fsm.Object("enc", "c")
	dst, _ := n.fsm.Object("enc", "copy")
	if !dst.Blobs[0].Inline || dst.Blobs[0].ID == src.Blobs[0].ID || dst.Encryption.Algorithm != fsm.EncryptionSSES3 {
		t.Fatalf("copy: %+v from %+v", dst.Blobs, src.Blobs)
	}
	if got := mustGet(t, c, "enc", "copy"); !bytes.Equal(got, data) {
		t.Fatal("copy reads back different bytes")
	}
	if n.blobCount() != 0 {
		t.Fatal("blob files written for inline objects")
	}
}

// TestInlineMultipartAndCopy: parts under the limit are stored inline, larger ones as blobs;
// the completed object mixes them and reads whole, by part number and by ranges across
// parts; UploadPartCopy and CopyObject of inline sources make new inline blobs (new IDs) that
// outlive their source; a copy over the limit becomes a stored blob; an aborted upload frees
// its inline parts; GetObjectAttributes lists the parts; a browser POST is stored inline.
func TestInlineMultipartAndCopy(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{inline: testInline, minPartSize: 1})
	c := n.client()
	mustCreateBucket(t, c, "mpu")
	small := randBytes(testInline/2, 1)
	mustPut(t, c, "mpu", "small", small)
	big := randBytes(3*testInline, 2)
	mustPut(t, c, "mpu", "big", big)

	cu, err := c.CreateMultipartUpload(ctxT(t), &s3.CreateMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String("obj")})
	if err != nil {
		t.Fatal(err)
	}
	uid := cu.UploadId
	p1 := randBytes(testInline, 3)   // inline
	p2 := randBytes(2*testInline, 4) // stored
	var parts []types.CompletedPart
	for i, p := range [][]byte{p1, p2} {
		out, err := c.UploadPart(ctxT(t), &s3.UploadPartInput{Bucket: aws.String("mpu"), Key: aws.String("obj"), UploadId: uid,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p)})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag})
	}
	// Part 3: a range of the inline object "small"; part 4: the whole of "big" (over the limit).
	for i, cp := range []struct{ src, rng string }{{"mpu/small", "bytes=10-1033"}, {"mpu/big", ""}} {
		in := &s3.UploadPartCopyInput{Bucket: aws.String("mpu"), Key: aws.String("obj"), UploadId: uid, PartNumber: aws.Int32(int32(i + 3)), CopySource: aws.String(cp.src)}
		if cp.rng != "" {
			in.CopySourceRange = aws.String(cp.rng)
		}
		out, err := c.UploadPartCopy(ctxT(t), in)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 3)), ETag: out.CopyPartResult.ETag})
	}
	if _, err := c.CompleteMultipartUpload(ctxT(t), &s3.CompleteMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String("obj"), UploadId: uid,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		t.Fatal(err)
	}
	whole := bytes.Join([][]byte{p1, p2, small[10:1034], big}, nil)
	if inl := n.inlineOf(t, "mpu", "obj", ""); fmt.Sprint(inl) != "[true false true false]" {
		t.Fatalf("parts inline: %v", inl)
	}
	if got := mustGet(t, c, "mpu", "obj"); !bytes.Equal(got, whole) {
		t.Fatalf("GET of the completed object: %d bytes, want %d", len(got), len(whole))
	}
	for _, rng := range []struct{ a, b int }{{len(p1) - 5, len(p1) + 5}, {len(p1) + len(p2) - 1, len(p1) + len(p2) + 1030}, {0, len(whole) - 1}} {
		if got := getRange(t, c, "mpu", "obj", fmt.Sprintf("bytes=%d-%d", rng.a, rng.b)); !bytes.Equal(got, whole[rng.a:rng.b+1]) {
			t.Fatalf("range %v: %d bytes", rng, len(got))
		}
	}
	pn, err := c.GetObject(ctxT(t), &s3.GetObjectInput{Bucket: aws.String("mpu"), Key: aws.String("obj"), PartNumber: aws.Int32(3)})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(pn.Body)
	pn.Body.Close()
	if !bytes.Equal(got, small[10:1034]) {
		t.Fatalf("partNumber=3: %d bytes", len(got))
	}
	attrs, err := c.GetObjectAttributes(ctxT(t), &s3.GetObjectAttributesInput{Bucket: aws.String("mpu"), Key: aws.String("obj"),
		ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesObjectParts, types.ObjectAttributesObjectSize}})
	if err != nil || aws.ToInt64(attrs.ObjectSize) != int64(len(whole)) || attrs.ObjectParts == nil || aws.ToInt32(attrs.ObjectParts.TotalPartsCount) != 4 {
		t.Fatalf("GetObjectAttributes: %+v, %v", attrs, err)
	}

	// CopyObject of an inline object: a new inline blob that outlives its deleted source.
	if _, err := c.CopyObject(ctxT(t), &s3.CopyObjectInput{Bucket: aws.String("mpu"), Key: aws.String("small-copy"), CopySource: aws.String("mpu/small")}); err != nil {
		t.Fatal(err)
	}
	src, _ := n.fsm.Object("mpu", "small")
	dst, _ := n.fsm.Object("mpu", "small-copy")
	if !dst.Blobs[0].Inline || dst.Blobs[0].ID == src.Blobs[0].ID {
		t.Fatalf("copy of an inline object: %+v (source %+v)", dst.Blobs, src.Blobs)
	}
	if _, err := c.DeleteObject(ctxT(t), &s3.DeleteObjectInput{Bucket: aws.String("mpu"), Key: aws.String("small")}); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, c, "mpu", "small-copy"); !bytes.Equal(got, small) {
		t.Fatal("the copy changed with its deleted source")
	}
	// A multipart object made of inline parts only is over the limit as a whole: a copy of it
	// is one stored blob.
	if _, err := c.CopyObject(ctxT(t), &s3.CopyObjectInput{Bucket: aws.String("mpu"), Key: aws.String("obj-copy"), CopySource: aws.String("mpu/obj")}); err != nil {
		t.Fatal(err)
	}
	if inl := n.inlineOf(t, "mpu", "obj-copy", ""); fmt.Sprint(inl) != "[false]" {
		t.Fatalf("copy of a %d-byte object: inline %v", len(whole), inl)
	}
	if got := mustGet(t, c, "mpu", "obj-copy"); !bytes.Equal(got, whole) {
		t.Fatal("the copy of the multipart object differs")
	}

	// An aborted upload frees its inline part.
	cu2, err := c.CreateMultipartUpload(ctxT(t), &s3.CreateMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String("gone")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.UploadPart(ctxT(t), &s3.UploadPartInput{Bucket: aws.String("mpu"), Key: aws.String("gone"), UploadId: cu2.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(p1)}); err != nil {
		t.Fatal(err)
	}
	u, err := n.fsm.Upload("mpu", "gone", aws.ToString(cu2.UploadId))
	if err != nil {
		t.Fatal(err)
	}
	lp, err := n.fsm.ListParts("mpu", "gone", aws.ToString(cu2.UploadId), fsm.PartListParams{})
	if err != nil || len(lp.Parts) != 1 || !lp.Parts[0].Blobs[0].Inline {
		t.Fatalf("parts of %s: %+v %v", u.UploadID, lp.Parts, err)
	}
	partID := lp.Parts[0].Blobs[0].ID
	if _, err := c.AbortMultipartUpload(ctxT(t), &s3.AbortMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String("gone"), UploadId: cu2.UploadId}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.fsm.BlobData(partID); !errors.Is(err, fsm.ErrNoSuchBlob) {
		t.Fatalf("BlobData of an aborted upload's part: %v", err)
	}

	// A browser POST of a small file is stored inline.
	mustCreateBucket(t, c, "forms")
	target, fields := signedForm(t, n, uploadsPolicy(t, time.Now().Add(time.Hour)))
	fields = withField(fields, "Content-Type", "text/plain")
	resp, body := sendForm(t, target, fields, "hello.txt", strings.NewReader("hello, inline"))
	if resp.StatusCode != 201 {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	if inl := n.inlineOf(t, "forms", "uploads/hello.txt", ""); fmt.Sprint(inl) != "[true]" {
		t.Fatalf("POST upload: inline %v", inl)
	}
	if got := mustGet(t, c, "forms", "uploads/hello.txt"); string(got) != "hello, inline" {
		t.Fatalf("POST upload reads back %q", got)
	}
	// A POST file over the limit (its length unknown until read) goes on to the data plane.
	large := strings.Repeat("x", testInline+100)
	if resp, body := sendForm(t, target, fields, "large.txt", strings.NewReader(large)); resp.StatusCode != 201 {
		t.Fatalf("POST of a larger file: %d %s", resp.StatusCode, body)
	}
	if inl := n.inlineOf(t, "forms", "uploads/large.txt", ""); fmt.Sprint(inl) != "[false]" {
		t.Fatalf("larger POST upload: inline %v", inl)
	}
	if got := mustGet(t, c, "forms", "uploads/large.txt"); string(got) != large {
		t.Fatalf("larger POST upload reads back %d bytes", len(got))
	}
}

// TestInlineGate: while Options.InlineAllowed says no (a node does so while a voter holds no
// object bytes), a small object is written to the data plane; once it says yes, inline again.
func TestInlineGate(t *testing.T) {
	var allowed atomic.Bool
	n := startNode(t, t.TempDir(), nodeOpts{inline: testInline, inlineGate: allowed.Load})
	c := n.client()
	mustCreateBucket(t, c, "gate")
	mustPut(t, c, "gate", "off", []byte("not inline"))
	allowed.Store(true)
	mustPut(t, c, "gate", "on", []byte("inline"))
	if a, b := n.inlineOf(t, "gate", "off", ""), n.inlineOf(t, "gate", "on", ""); a[0] || !b[0] {
		t.Fatalf("inline with the gate closed %v, open %v", a, b)
	}
	if n.blobCount() != 1 {
		t.Fatal("the write with the gate closed made no blob file")
	}
	for key, want := range map[string]string{"off": "not inline", "on": "inline"} {
		if got := mustGet(t, c, "gate", key); string(got) != want {
			t.Fatalf("%s: %q", key, got)
		}
	}
}

// TestInlineLimitFitsTheFSM: the largest inline body, encrypted, fits the FSM's bound on an
// event's inline bytes.
func TestInlineLimitFitsTheFSM(t *testing.T) {
	if got := sse.CiphertextSize(MaxInlineObjectSize); got > fsm.MaxInlineSize {
		t.Fatalf("an encrypted %d-byte body is %d bytes; the FSM takes %d", MaxInlineObjectSize, got, fsm.MaxInlineSize)
	}
}

// TestInlineLifecycleExpiry: lifecycle expiry of inline objects, noncurrent inline versions and
// an abandoned upload with an inline part frees their bytes (BlobData says so) and leaves the
// objects outside the rule with theirs.
func TestInlineLifecycleExpiry(t *testing.T) {
	const lday = time.Second
	n := startNode(t, t.TempDir(), nodeOpts{inline: testInline, lifecycleDay: lday, minPartSize: 1})
	c := n.client()
	mustCreateBucket(t, c, "life")
	if _, err := c.PutBucketVersioning(ctxT(t), &s3.PutBucketVersioningInput{Bucket: aws.String("life"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	if err := putLifecycle(t, c, "life", types.LifecycleRule{ID: aws.String("tmp"), Status: types.ExpirationStatusEnabled,
		Filter:                         &types.LifecycleRuleFilter{Prefix: aws.String("tmp/")},
		Expiration:                     &types.LifecycleExpiration{Days: aws.Int32(1)},
		NoncurrentVersionExpiration:    &types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(1)},
		AbortIncompleteMultipartUpload: &types.AbortIncompleteMultipartUpload{DaysAfterInitiation: aws.Int32(1)}}); err != nil {
		t.Fatal(err)
	}
	blobID := func(key, vid string) string {
		o, err := n.fsm.ObjectVersion("life", key, vid)
		if err != nil || len(o.Blobs) != 1 || !o.Blobs[0].Inline {
			t.Fatalf("%s: %+v %v", key, o.Blobs, err)
		}
		return o.Blobs[0].ID
	}
	v1 := mustPut(t, c, "life", "tmp/a", []byte("first version"))
	v2 := mustPut(t, c, "life", "tmp/a", []byte("second version"))
	mustPut(t, c, "life", "keep/b", []byte("kept"))
	freed := []string{blobID("tmp/a", aws.ToString(v1.VersionId)), blobID("tmp/a", aws.ToString(v2.VersionId))}
	kept := blobID("keep/b", "")
	up, err := c.CreateMultipartUpload(ctxT(t), &s3.CreateMultipartUploadInput{Bucket: aws.String("life"), Key: aws.String("tmp/up")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.UploadPart(ctxT(t), &s3.UploadPartInput{Bucket: aws.String("life"), Key: aws.String("tmp/up"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("abandoned part"))}); err != nil {
		t.Fatal(err)
	}
	parts, err := n.fsm.ListParts("life", "tmp/up", aws.ToString(up.UploadId), fsm.PartListParams{})
	if err != nil || len(parts.Parts) != 1 || !parts.Parts[0].Blobs[0].Inline {
		t.Fatalf("parts: %+v %v", parts.Parts, err)
	}
	freed = append(freed, parts.Parts[0].Blobs[0].ID)

	r := lifecycle.New(lifecycle.Config{Meta: n.fsm, Proposer: n.backend, Barrier: n.backend.Sync, IsLeader: n.eng.IsLeader,
		Day: lday, Interval: 100 * time.Millisecond, Logger: zerolog.Nop()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	testutil.WaitFor(t, 30*time.Second, "the expired inline bytes freed", func() error {
		for _, id := range freed {
			if _, err := n.fsm.BlobData(id); !errors.Is(err, fsm.ErrNoSuchBlob) {
				return fmt.Errorf("inline blob %s: %v", id, err)
			}
		}
		return nil
	})
	if d, err := n.fsm.BlobData(kept); err != nil || string(d) != "kept" {
		t.Fatalf("the object outside the rule: %q %v", d, err)
	}
	if got := mustGet(t, c, "life", "keep/b"); string(got) != "kept" {
		t.Fatalf("GET keep/b: %q", got)
	}
}

// TestInlineSSEMultipart: the small parts of an SSE-S3 upload are inline ciphertext (each
// sealed under its own blob ID), and the completed object reads back whole and across the
// part boundary.
func TestInlineSSEMultipart(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{inline: testInline, minPartSize: 1, keyring: testKeyring(t, sse.GenerateKey())})
	c := n.client()
	mustCreateBucket(t, c, "encmp")
	up, err := c.CreateMultipartUpload(ctxT(t), &s3.CreateMultipartUploadInput{Bucket: aws.String("encmp"), Key: aws.String("obj"),
		ServerSideEncryption: types.ServerSideEncryptionAes256})
	if err != nil {
		t.Fatal(err)
	}
	p1, p2 := marked(3000), marked(testInline)
	var parts []types.CompletedPart
	for i, p := range [][]byte{p1, p2} {
		out, err := c.UploadPart(ctxT(t), &s3.UploadPartInput{Bucket: aws.String("encmp"), Key: aws.String("obj"), UploadId: up.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p)})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag})
	}
	if _, err := c.CompleteMultipartUpload(ctxT(t), &s3.CompleteMultipartUploadInput{Bucket: aws.String("encmp"), Key: aws.String("obj"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		t.Fatal(err)
	}
	if inl := n.inlineOf(t, "encmp", "obj", ""); fmt.Sprint(inl) != "[true true]" {
		t.Fatalf("parts inline: %v", inl)
	}
	o, _ := n.fsm.Object("encmp", "obj")
	for _, b := range o.Blobs {
		d, err := n.fsm.BlobData(b.ID)
		if err != nil || bytes.Contains(d, []byte("PLAINTEXT-MARKER")) {
			t.Fatalf("part blob %s: %v, plaintext visible: %v", b.ID, err, bytes.Contains(d, []byte("PLAINTEXT-MARKER")))
		}
	}
	whole := append(append([]byte(nil), p1...), p2...)
	if got := mustGet(t, c, "encmp", "obj"); !bytes.Equal(got, whole) {
		t.Fatalf("GET: %d bytes, want %d", len(got), len(whole))
	}
	if got := getRange(t, c, "encmp", "obj", "bytes=2990-3009"); !bytes.Equal(got, whole[2990:3010]) {
		t.Fatalf("range across the parts: %q", got)
	}
}

// TestInlineEdges: conditional PUTs (If-None-Match: *) racing on one key leave exactly one
// winner, whose bytes read back, and the losers' inline bytes are not kept; a DeleteObjects
// batch frees every key's own inline bytes; a range past the end is InvalidRange and HEAD
// with partNumber 1 answers the whole object; a node whose inline limit is 0 (as another
// node's may differ) still reads inline objects and applies an inline write committed by
// another node.
func TestInlineEdges(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{inline: testInline})
	c := n.client()
	mustCreateBucket(t, c, "edge")

	const racers = 6
	type outcome struct {
		data []byte
		err  error
	}
	outs := make(chan outcome, racers)
	for i := range racers {
		go func() {
			data := randBytes(100+i, uint64(i))
			_, err := c.PutObject(ctxT(t), &s3.PutObjectInput{Bucket: aws.String("edge"), Key: aws.String("once"),
				Body: bytes.NewReader(data), IfNoneMatch: aws.String("*")})
			outs <- outcome{data, err}
		}()
	}
	var won []byte
	for range racers {
		o := <-outs
		switch st := httpStatus(o.err); {
		case o.err == nil && won == nil:
			won = o.data
		case o.err == nil:
			t.Fatal("two conditional PUTs of one key both succeeded")
		case st != http.StatusPreconditionFailed && st != http.StatusConflict:
			t.Fatalf("a losing conditional PUT: %v", o.err)
		}
	}
	if won == nil {
		t.Fatal("no conditional PUT succeeded")
	}
	if got := mustGet(t, c, "edge", "once"); !bytes.Equal(got, won) {
		t.Fatal("the object is not the winner's")
	}

	// DeleteObjects: each key's bytes go.
	var ids []string
	var objs []types.ObjectIdentifier
	for i := range 4 {
		key := fmt.Sprint("batch-", i)
		mustPut(t, c, "edge", key, randBytes(50+i, uint64(10+i)))
		o, err := n.fsm.Object("edge", key)
		if err != nil || len(o.Blobs) != 1 || !o.Blobs[0].Inline {
			t.Fatalf("%s: %+v %v", key, o, err)
		}
		ids = append(ids, o.Blobs[0].ID)
		objs = append(objs, types.ObjectIdentifier{Key: aws.String(key)})
	}
	if out, err := c.DeleteObjects(ctxT(t), &s3.DeleteObjectsInput{Bucket: aws.String("edge"), Delete: &types.Delete{Objects: objs}}); err != nil || len(out.Deleted) != 4 {
		t.Fatalf("DeleteObjects: %+v %v", out, err)
	}
	for _, id := range ids {
		if _, err := n.fsm.BlobData(id); !errors.Is(err, fsm.ErrNoSuchBlob) {
			t.Fatalf("inline blob %s after DeleteObjects: %v", id, err)
		}
	}

	// Ranges and partNumber on a single inline object.
	small := randBytes(300, 99)
	mustPut(t, c, "edge", "small", small)
	_, err := c.GetObject(ctxT(t), &s3.GetObjectInput{Bucket: aws.String("edge"), Key: aws.String("small"), Range: aws.String("bytes=300-")})
	wantCode(t, err, "InvalidRange", http.StatusRequestedRangeNotSatisfiable)
	if got := getRange(t, c, "edge", "small", "bytes=250-999"); !bytes.Equal(got, small[250:]) {
		t.Fatalf("range over the end: %d bytes", len(got))
	}
	head, err := c.HeadObject(ctxT(t), &s3.HeadObjectInput{Bucket: aws.String("edge"), Key: aws.String("small"), PartNumber: aws.Int32(1)})
	if err != nil || aws.ToInt64(head.ContentLength) != 300 {
		t.Fatalf("HEAD partNumber=1: %+v %v", head, err)
	}

	// Inline off on this node (another node's limit may differ): what is inline reads back,
	// and an inline write proposed elsewhere is applied.
	n.opts.inline = 0
	n.restart()
	c = n.client()
	if got := mustGet(t, c, "edge", "small"); !bytes.Equal(got, small) {
		t.Fatal("an inline object read by a node with inline writes off")
	}
	text := []byte("written inline by another node")
	sum := md5.Sum(text)
	if _, err := n.backend.Propose(ctxT(t), &fsm.PutObject{Bucket: "edge", Key: "elsewhere", Size: uint64(len(text)), ETag: hex.EncodeToString(sum[:]),
		Blobs: []fsm.Blob{{ID: "inline-from-elsewhere", Size: uint64(len(text)), Inline: true, Data: text}}, ModTime: time.Now().UnixNano()}); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, c, "edge", "elsewhere"); !bytes.Equal(got, text) {
		t.Fatalf("GET of an inline write from another node: %q", got)
	}
	mustPut(t, c, "edge", "here", []byte("not inline"))
	if got := n.inlineOf(t, "edge", "here", ""); got[0] {
		t.Fatal("a node with inline writes off wrote inline")
	}
}
