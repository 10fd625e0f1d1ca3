package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/nebulaio/nebulaio/httpapi/sigv4"
)

// sdkChecksum returns the checksum of alg from an SDK output's fields.
func sdkChecksum(alg sigv4.ChecksumAlgorithm, crc32, crc32c, crc64, sha1, sha256 *string) string {
	switch alg {
	case sigv4.ChecksumCRC32:
		return aws.ToString(crc32)
	case sigv4.ChecksumCRC32C:
		return aws.ToString(crc32c)
	case sigv4.ChecksumCRC64NVME:
		return aws.ToString(crc64)
	case sigv4.ChecksumSHA1:
		return aws.ToString(sha1)
	}
	return aws.ToString(sha256)
}

// sdkCompleted returns the SDK's CompletedPart of an UploadPart output.
func sdkCompleted(n int32, o *s3.UploadPartOutput) types.CompletedPart {
	return types.CompletedPart{PartNumber: aws.Int32(n), ETag: o.ETag, ChecksumCRC32: o.ChecksumCRC32,
		ChecksumCRC32C: o.ChecksumCRC32C, ChecksumCRC64NVME: o.ChecksumCRC64NVME, ChecksumSHA1: o.ChecksumSHA1, ChecksumSHA256: o.ChecksumSHA256}
}

var whenRequired = func(o *s3.Options) { o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired }

// TestSDKPutChecksums: the AWS SDK's PutObject with every algorithm, as a header (plain HTTP)
// and as a trailer (TLS), stored and returned by GET and HEAD with x-amz-checksum-mode.
func TestSDKPutChecksums(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	ctx := ctxT(t)
	mustCreateBucket(t, n.client(), "sums")
	data := randBytes(150_000, 11)
	for _, alg := range sigv4.ChecksumAlgorithms {
		for name, c := range map[string]*s3.Client{"header": n.client(), "trailer": n.tlsClient()} {
			t.Run(string(alg)+"/"+name, func(t *testing.T) {
				key := "k-" + string(alg) + "-" + name
				want := stdChecksum(t, alg, data)
				put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("sums"), Key: aws.String(key),
					Body: bytes.NewReader(data), ChecksumAlgorithm: types.ChecksumAlgorithm(alg)})
				if err != nil {
					t.Fatal(err)
				}
				if got := sdkChecksum(alg, put.ChecksumCRC32, put.ChecksumCRC32C, put.ChecksumCRC64NVME, put.ChecksumSHA1, put.ChecksumSHA256); got != want || put.ChecksumType != types.ChecksumTypeFullObject {
					t.Fatalf("PutObject answered %q %q, want %q", got, put.ChecksumType, want)
				}
				get, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("sums"), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
				if err != nil {
					t.Fatal(err)
				}
				body, err := io.ReadAll(get.Body) // the SDK validates the checksum as it reads
				get.Body.Close()
				if err != nil || !bytes.Equal(body, data) {
					t.Fatalf("GET: %v", err)
				}
				if got := sdkChecksum(alg, get.ChecksumCRC32, get.ChecksumCRC32C, get.ChecksumCRC64NVME, get.ChecksumSHA1, get.ChecksumSHA256); got != want || get.ChecksumType != types.ChecksumTypeFullObject {
					t.Fatalf("GET answered %q %q", got, get.ChecksumType)
				}
				head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("sums"), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
				if err != nil || sdkChecksum(alg, head.ChecksumCRC32, head.ChecksumCRC32C, head.ChecksumCRC64NVME, head.ChecksumSHA1, head.ChecksumSHA256) != want {
					t.Fatalf("HEAD: %+v %v", head, err)
				}
			})
		}
	}
	// A PUT that names an algorithm without sending a value gets the checksum computed.
	resp, _ := rawRequest(t, n.srv.URL, "PUT", "/sums/computed", data, map[string]string{"X-Amz-Checksum-Algorithm": "CRC64NVME"}, time.Time{}, testSK)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Amz-Checksum-Crc64nvme") != stdChecksum(t, sigv4.ChecksumCRC64NVME, data) {
		t.Fatalf("x-amz-checksum-algorithm alone: %d %v", resp.StatusCode, resp.Header)
	}
	// A PUT that names one algorithm and sends another is refused.
	crc := stdChecksum(t, sigv4.ChecksumCRC32, data)
	resp, body := rawRequest(t, n.srv.URL, "PUT", "/sums/conflict", data, map[string]string{"X-Amz-Checksum-Algorithm": "SHA256", "X-Amz-Checksum-Crc32": crc}, time.Time{}, testSK)
	if resp.StatusCode != http.StatusBadRequest || errorCode(t, body) != "InvalidRequest" {
		t.Fatalf("conflicting algorithm: %d %s", resp.StatusCode, body)
	}
}

// TestSDKMultipartChecksums: multipart uploads with every algorithm and checksum type S3
// allows, completed with the part checksums, stored with the composite or full-object value.
func TestSDKMultipartChecksums(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{minPartSize: 1024})
	c := n.client()
	ctx := ctxT(t)
	mustCreateBucket(t, c, "mpu")
	parts := [][]byte{randBytes(70_000, 1), randBytes(70_000, 2), randBytes(1234, 3)}
	whole := bytes.Join(parts, nil)
	for _, tc := range []struct {
		alg sigv4.ChecksumAlgorithm
		typ types.ChecksumType // "" lets S3 default it
	}{
		{sigv4.ChecksumCRC32, ""}, {sigv4.ChecksumCRC32, types.ChecksumTypeFullObject}, {sigv4.ChecksumCRC32C, types.ChecksumTypeComposite},
		{sigv4.ChecksumCRC32C, types.ChecksumTypeFullObject}, {sigv4.ChecksumCRC64NVME, ""}, {sigv4.ChecksumSHA1, ""}, {sigv4.ChecksumSHA256, types.ChecksumTypeComposite},
	} {
		t.Run(fmt.Sprintf("%s/%s", tc.alg, tc.typ), func(t *testing.T) {
			key := fmt.Sprintf("obj-%s-%s", tc.alg, tc.typ)
			cr, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String(key),
				ChecksumAlgorithm: types.ChecksumAlgorithm(tc.alg), ChecksumType: tc.typ})
			if err != nil {
				t.Fatal(err)
			}
			wantType := tc.typ
			if wantType == "" {
				wantType = types.ChecksumTypeComposite
				if tc.alg == sigv4.ChecksumCRC64NVME {
					wantType = types.ChecksumTypeFullObject
				}
			}
			if cr.ChecksumType != wantType || string(cr.ChecksumAlgorithm) != string(tc.alg) {
				t.Fatalf("CreateMultipartUpload answered %q %q", cr.ChecksumAlgorithm, cr.ChecksumType)
			}
			var done []types.CompletedPart
			for i, p := range parts {
				up, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("mpu"), Key: aws.String(key), UploadId: cr.UploadId,
					PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p), ChecksumAlgorithm: types.ChecksumAlgorithm(tc.alg)})
				if err != nil {
					t.Fatal(err)
				}
				done = append(done, sdkCompleted(int32(i+1), up))
			}
			lp, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("mpu"), Key: aws.String(key), UploadId: cr.UploadId})
			if err != nil || len(lp.Parts) != 3 || lp.ChecksumType != wantType || string(lp.ChecksumAlgorithm) != string(tc.alg) {
				t.Fatalf("ListParts: %+v %v", lp, err)
			}
			for i, p := range lp.Parts {
				if got := sdkChecksum(tc.alg, p.ChecksumCRC32, p.ChecksumCRC32C, p.ChecksumCRC64NVME, p.ChecksumSHA1, p.ChecksumSHA256); got != stdChecksum(t, tc.alg, parts[i]) {
					t.Fatalf("ListParts part %d checksum %q", i+1, got)
				}
			}
			want := compositeOf(t, tc.alg, whole, 70_000)
			if wantType == types.ChecksumTypeFullObject {
				want = stdChecksum(t, tc.alg, whole)
			}
			comp, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String(key),
				UploadId: cr.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
			if err != nil {
				t.Fatal(err)
			}
			if got := sdkChecksum(tc.alg, comp.ChecksumCRC32, comp.ChecksumCRC32C, comp.ChecksumCRC64NVME, comp.ChecksumSHA1, comp.ChecksumSHA256); got != want || comp.ChecksumType != wantType {
				t.Fatalf("CompleteMultipartUpload answered %q %q, want %q", got, comp.ChecksumType, want)
			}
			head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("mpu"), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
			if err != nil || head.ChecksumType != wantType ||
				sdkChecksum(tc.alg, head.ChecksumCRC32, head.ChecksumCRC32C, head.ChecksumCRC64NVME, head.ChecksumSHA1, head.ChecksumSHA256) != want {
				t.Fatalf("HEAD: %+v %v", head, err)
			}
			if got := mustGet(t, c, "mpu", key); !bytes.Equal(got, whole) {
				t.Fatal("object differs")
			}
		})
	}
}

// TestSDKMultipartChecksumErrors: the refusals S3 gives around multipart checksums.
func TestSDKMultipartChecksumErrors(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{minPartSize: 1024})
	c := n.client()
	ctx := ctxT(t)
	mustCreateBucket(t, c, "bad")
	create := func(alg types.ChecksumAlgorithm, typ types.ChecksumType) (*s3.CreateMultipartUploadOutput, error) {
		return c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("bad"), Key: aws.String("k"), ChecksumAlgorithm: alg, ChecksumType: typ})
	}
	for _, bad := range []struct {
		alg types.ChecksumAlgorithm
		typ types.ChecksumType
	}{{types.ChecksumAlgorithmSha256, types.ChecksumTypeFullObject}, {types.ChecksumAlgorithmSha1, types.ChecksumTypeFullObject},
		{types.ChecksumAlgorithmCrc64nvme, types.ChecksumTypeComposite}, {"", types.ChecksumTypeFullObject}, {"MD5", ""}} {
		_, err := create(bad.alg, bad.typ)
		wantCode(t, err, "InvalidRequest", http.StatusBadRequest)
	}
	part := randBytes(5000, 5)
	upload := func(id *string, n int32, alg types.ChecksumAlgorithm, opts ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
		return c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("bad"), Key: aws.String("k"), UploadId: id,
			PartNumber: aws.Int32(n), Body: bytes.NewReader(part), ChecksumAlgorithm: alg}, opts...)
	}
	complete := func(id *string, hdr func(*s3.CompleteMultipartUploadInput), ps ...types.CompletedPart) error {
		in := &s3.CompleteMultipartUploadInput{Bucket: aws.String("bad"), Key: aws.String("k"), UploadId: id,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: ps}}
		if hdr != nil {
			hdr(in)
		}
		_, err := c.CompleteMultipartUpload(ctx, in)
		return err
	}

	comp, err := create(types.ChecksumAlgorithmCrc32, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = upload(comp.UploadId, 1, types.ChecksumAlgorithmCrc32c)
	wantCode(t, err, "InvalidRequest", http.StatusBadRequest) // another algorithm than the upload's
	_, err = upload(comp.UploadId, 1, "", whenRequired)
	wantCode(t, err, "InvalidRequest", http.StatusBadRequest) // COMPOSITE parts need their checksum
	p1, err := upload(comp.UploadId, 1, types.ChecksumAlgorithmCrc32)
	if err != nil {
		t.Fatal(err)
	}
	withoutSum := types.CompletedPart{PartNumber: aws.Int32(1), ETag: p1.ETag}
	wantCode(t, complete(comp.UploadId, nil, withoutSum), "InvalidRequest", http.StatusBadRequest)
	wrongSum := sdkCompleted(1, p1)
	wrongSum.ChecksumCRC32 = aws.String(stdChecksum(t, sigv4.ChecksumCRC32, []byte("other")))
	wantCode(t, complete(comp.UploadId, nil, wrongSum), "InvalidPart", http.StatusBadRequest)
	wantCode(t, complete(comp.UploadId, func(in *s3.CompleteMultipartUploadInput) { in.ChecksumType = types.ChecksumTypeFullObject }, sdkCompleted(1, p1)),
		"InvalidRequest", http.StatusBadRequest) // not the upload's type
	wantCode(t, complete(comp.UploadId, func(in *s3.CompleteMultipartUploadInput) { in.ChecksumCRC32 = aws.String("AAAAAA==-1") }, sdkCompleted(1, p1)),
		"BadDigest", http.StatusBadRequest)
	if err := complete(comp.UploadId, func(in *s3.CompleteMultipartUploadInput) {
		in.ChecksumCRC32 = aws.String(compositeOf(t, sigv4.ChecksumCRC32, part, len(part)))
	}, sdkCompleted(1, p1)); err != nil {
		t.Fatalf("completion with the right composite checksum: %v", err)
	}

	// FULL_OBJECT parts may come without a checksum: the server computes them.
	full, err := create(types.ChecksumAlgorithmCrc32c, types.ChecksumTypeFullObject)
	if err != nil {
		t.Fatal(err)
	}
	var done []types.CompletedPart
	for i := int32(1); i <= 2; i++ {
		up, err := upload(full.UploadId, i, "", whenRequired)
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(up.ChecksumCRC32C) != stdChecksum(t, sigv4.ChecksumCRC32C, part) {
			t.Fatalf("computed part checksum %q", aws.ToString(up.ChecksumCRC32C))
		}
		done = append(done, types.CompletedPart{PartNumber: aws.Int32(i), ETag: up.ETag})
	}
	wholeSum := stdChecksum(t, sigv4.ChecksumCRC32C, append(append([]byte(nil), part...), part...))
	wantCode(t, complete(full.UploadId, func(in *s3.CompleteMultipartUploadInput) { in.ChecksumCRC32C = aws.String("AAAAAA==") }, done...), "BadDigest", http.StatusBadRequest)
	if err := complete(full.UploadId, func(in *s3.CompleteMultipartUploadInput) { in.ChecksumCRC32C = aws.String(wholeSum) }, done...); err != nil {
		t.Fatalf("completion with the right full-object checksum: %v", err)
	}
}

// TestCopyChecksums: a copy keeps a full-object checksum, turns a composite one into the
// full-object checksum of the same algorithm (the copy is one piece), and computes the one
// x-amz-checksum-algorithm asks for.
func TestCopyChecksums(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{minPartSize: 1024})
	c := n.client()
	ctx := ctxT(t)
	mustCreateBucket(t, c, "cpy")
	data := randBytes(9000, 8)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("cpy"), Key: aws.String("full"), Body: bytes.NewReader(data), ChecksumAlgorithm: types.ChecksumAlgorithmSha1}); err != nil {
		t.Fatal(err)
	}
	cr, _ := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("cpy"), Key: aws.String("multi"), ChecksumAlgorithm: types.ChecksumAlgorithmSha256})
	up, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("cpy"), Key: aws.String("multi"), UploadId: cr.UploadId, PartNumber: aws.Int32(1),
		Body: bytes.NewReader(data), ChecksumAlgorithm: types.ChecksumAlgorithmSha256})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("cpy"), Key: aws.String("multi"), UploadId: cr.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{sdkCompleted(1, up)}}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		src  string
		ask  types.ChecksumAlgorithm
		alg  sigv4.ChecksumAlgorithm
		want string
	}{
		{"full", "", sigv4.ChecksumSHA1, stdChecksum(t, sigv4.ChecksumSHA1, data)},
		{"multi", "", sigv4.ChecksumSHA256, stdChecksum(t, sigv4.ChecksumSHA256, data)},
		{"full", types.ChecksumAlgorithmCrc64nvme, sigv4.ChecksumCRC64NVME, stdChecksum(t, sigv4.ChecksumCRC64NVME, data)},
	} {
		out, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("cpy"), Key: aws.String("copy-" + tc.src), CopySource: aws.String("cpy/" + tc.src), ChecksumAlgorithm: tc.ask})
		if err != nil {
			t.Fatal(err)
		}
		r := out.CopyObjectResult
		if got := sdkChecksum(tc.alg, r.ChecksumCRC32, r.ChecksumCRC32C, r.ChecksumCRC64NVME, r.ChecksumSHA1, r.ChecksumSHA256); got != tc.want || r.ChecksumType != types.ChecksumTypeFullObject {
			t.Fatalf("copy of %s asking %q: %q %q, want %q", tc.src, tc.ask, got, r.ChecksumType, tc.want)
		}
	}
}

// TestListMultipartUploadsOrder: the uploads of one key are listed in the order they were
// initiated, as S3 lists them, and paging with the markers walks them all once. With random
// upload IDs they came back in an arbitrary order.
func TestListMultipartUploadsOrder(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	c := n.client()
	ctx := ctxT(t)
	mustCreateBucket(t, c, "ups")
	var ids []string
	for range 8 {
		cr, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("ups"), Key: aws.String("dir/same")})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, aws.ToString(cr.UploadId))
	}
	for _, k := range []string{"dir/sub/a", "dir/sub/b", "dir/zz", "other"} {
		if _, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("ups"), Key: aws.String(k)}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	p := s3.NewListMultipartUploadsPaginator(c, &s3.ListMultipartUploadsInput{Bucket: aws.String("ups"), Prefix: aws.String("dir/"),
		Delimiter: aws.String("/"), MaxUploads: aws.Int32(3)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range out.Uploads {
			got = append(got, aws.ToString(u.Key)+" "+aws.ToString(u.UploadId))
		}
		for _, cp := range out.CommonPrefixes {
			got = append(got, aws.ToString(cp.Prefix))
		}
	}
	var want []string
	for _, id := range ids {
		want = append(want, "dir/same "+id)
	}
	want = append(want, "dir/sub/")
	if strings.Join(got, "\n") != strings.Join(want[:8], "\n")+"\n"+"dir/sub/"+"\n"+got[len(got)-1] || !strings.HasPrefix(got[len(got)-1], "dir/zz ") {
		t.Fatalf("listed\n%s\nwant the uploads of dir/same in initiation order, dir/sub/, then dir/zz:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestDeleteObjectsResults: S3's answers to multi-object delete — each (key, version) once
// however often it is listed, a missing key reported deleted, quiet mode reporting errors
// only, and an integrity header required and checked.
func TestDeleteObjectsResults(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	c := n.client()
	ctx := ctxT(t)
	mustCreateBucket(t, c, "del")
	for _, k := range []string{"a", "b"} {
		mustPut(t, c, "del", k, []byte(k))
	}
	objs := func(keys ...string) []types.ObjectIdentifier {
		var out []types.ObjectIdentifier
		for _, k := range keys {
			out = append(out, types.ObjectIdentifier{Key: aws.String(k)})
		}
		return out
	}
	out, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("del"),
		Delete: &types.Delete{Objects: objs("a", "a", "missing", "b", "a", "bad/../key", "bad/../key")}})
	if err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, d := range out.Deleted {
		deleted = append(deleted, aws.ToString(d.Key))
	}
	if strings.Join(deleted, ",") != "a,missing,b" || len(out.Errors) != 1 || aws.ToString(out.Errors[0].Code) != "InvalidObjectName" {
		t.Fatalf("verbose: deleted %v, errors %+v", deleted, out.Errors)
	}
	mustPut(t, c, "del", "a", []byte("a"))
	out, err = c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("del"), Delete: &types.Delete{Quiet: aws.Bool(true), Objects: objs("a", "a", "missing")}})
	if err != nil || len(out.Deleted) != 0 || len(out.Errors) != 0 {
		t.Fatalf("quiet: %+v %v", out, err)
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("del"), Key: aws.String("a")}); httpStatus(err) != http.StatusNotFound {
		t.Fatalf("a after a quiet delete: %v", err)
	}
	body := []byte("<Delete><Object><Key>b</Key></Object></Delete>")
	resp, rb := rawRequest(t, n.srv.URL, "POST", "/del?delete", body, nil, time.Time{}, testSK)
	if resp.StatusCode != http.StatusBadRequest || errorCode(t, rb) != "InvalidRequest" {
		t.Fatalf("without Content-MD5: %d %s", resp.StatusCode, rb)
	}
	sum := md5.Sum([]byte("something else"))
	resp, rb = rawRequest(t, n.srv.URL, "POST", "/del?delete", body, map[string]string{"Content-Md5": base64.StdEncoding.EncodeToString(sum[:])}, time.Time{}, testSK)
	if resp.StatusCode != http.StatusBadRequest || errorCode(t, rb) != "BadDigest" {
		t.Fatalf("wrong Content-MD5: %d %s", resp.StatusCode, rb)
	}
	sum = md5.Sum(body)
	resp, rb = rawRequest(t, n.srv.URL, "POST", "/del?delete", body, map[string]string{"Content-Md5": base64.StdEncoding.EncodeToString(sum[:])}, time.Time{}, testSK)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(rb, []byte("<Deleted><Key>b</Key></Deleted>")) {
		t.Fatalf("with Content-MD5: %d %s", resp.StatusCode, rb)
	}
}

// TestStorageClassAndContentLanguage: STANDARD is the one storage class (others are
// InvalidStorageClass on every write that takes one), and Content-Language is stored and
// returned like the other standard headers.
func TestStorageClassAndContentLanguage(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{minPartSize: 1024})
	c := n.client()
	ctx := ctxT(t)
	mustCreateBucket(t, c, "meta")
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("meta"), Key: aws.String("std"), Body: strings.NewReader("x"),
		StorageClass: types.StorageClassStandard, ContentLanguage: aws.String("de-CH")}); err != nil {
		t.Fatal(err)
	}
	for _, sc := range []types.StorageClass{types.StorageClassReducedRedundancy, types.StorageClassGlacier, types.StorageClassStandardIa, "FOO"} {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("meta"), Key: aws.String("x"), Body: strings.NewReader("x"), StorageClass: sc})
		wantCode(t, err, "InvalidStorageClass", http.StatusBadRequest)
		_, err = c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("meta"), Key: aws.String("x"), StorageClass: sc})
		wantCode(t, err, "InvalidStorageClass", http.StatusBadRequest)
		_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("meta"), Key: aws.String("x"), CopySource: aws.String("meta/std"), StorageClass: sc})
		wantCode(t, err, "InvalidStorageClass", http.StatusBadRequest)
	}
	lang := func(key string) string {
		t.Helper()
		h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("meta"), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("meta"), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		g.Body.Close()
		if aws.ToString(g.ContentLanguage) != aws.ToString(h.ContentLanguage) {
			t.Fatalf("GET and HEAD disagree: %q %q", aws.ToString(g.ContentLanguage), aws.ToString(h.ContentLanguage))
		}
		return aws.ToString(h.ContentLanguage)
	}
	if got := lang("std"); got != "de-CH" {
		t.Fatalf("Content-Language %q", got)
	}
	if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("meta"), Key: aws.String("copied"), CopySource: aws.String("meta/std")}); err != nil || lang("copied") != "de-CH" {
		t.Fatalf("COPY directive: %v %q", err, lang("copied"))
	}
	if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("meta"), Key: aws.String("replaced"), CopySource: aws.String("meta/std"),
		MetadataDirective: types.MetadataDirectiveReplace, ContentLanguage: aws.String("fr")}); err != nil || lang("replaced") != "fr" {
		t.Fatalf("REPLACE directive: %v", err)
	}
	cr, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("meta"), Key: aws.String("multi"), ContentLanguage: aws.String("ja")})
	if err != nil {
		t.Fatal(err)
	}
	up, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("meta"), Key: aws.String("multi"), UploadId: cr.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("part")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("meta"), Key: aws.String("multi"), UploadId: cr.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{sdkCompleted(1, up)}}}); err != nil {
		t.Fatal(err)
	}
	if got := lang("multi"); got != "ja" {
		t.Fatalf("multipart Content-Language %q", got)
	}
}

// regionClient is an SDK client of n configured for region.
func regionClient(n *node, region string) *s3.Client {
	c := n.client()
	return s3.New(c.Options(), func(o *s3.Options) { o.Region = region })
}

// TestRegionsSDK: CreateBucket's LocationConstraint answered as S3 does, GetBucketLocation and
// HeadBucket consistent with it, and strict_region's error naming the region to sign for.
func TestRegionsSDK(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	ctx := ctxT(t)
	eu := regionClient(n, "eu-central-1")
	cfg := func(r types.BucketLocationConstraint) *types.CreateBucketConfiguration {
		return &types.CreateBucketConfiguration{LocationConstraint: r}
	}
	if _, err := eu.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("eu-bucket"), CreateBucketConfiguration: cfg("eu-central-1")}); err != nil {
		t.Fatal(err)
	}
	_, err := eu.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("other"), CreateBucketConfiguration: cfg("ap-south-1")})
	wantCode(t, err, "IllegalLocationConstraintException", http.StatusBadRequest)
	_, err = n.client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("other"), CreateBucketConfiguration: cfg("ap-south-1")})
	wantCode(t, err, "InvalidLocationConstraint", http.StatusBadRequest)
	mustCreateBucket(t, n.client(), "home-bucket")
	for bucket, want := range map[string]string{"eu-bucket": "eu-central-1", "home-bucket": ""} {
		loc, err := n.client().GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String(bucket)})
		if err != nil || string(loc.LocationConstraint) != want {
			t.Fatalf("GetBucketLocation %s = %q, %v", bucket, loc.LocationConstraint, err)
		}
		head, err := eu.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)})
		if want == "" {
			want = testRegion
		}
		if err != nil || aws.ToString(head.BucketRegion) != want {
			t.Fatalf("HeadBucket %s region %q, %v", bucket, aws.ToString(head.BucketRegion), err)
		}
	}

	strict := startNode(t, t.TempDir(), nodeOpts{strict: true})
	_, err = regionClient(strict, "eu-central-1").ListBuckets(ctx, &s3.ListBucketsInput{})
	wantCode(t, err, "AuthorizationHeaderMalformed", http.StatusBadRequest)
	req, _ := http.NewRequest(http.MethodGet, strict.srv.URL+"/", nil)
	req.Header.Set("X-Amz-Content-Sha256", sigv4.UnsignedPayload)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testAK, SecretAccessKey: testSK}, req,
		sigv4.UnsignedPayload, "s3", "eu-central-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !bytes.Contains(body, []byte("<Region>"+testRegion+"</Region>")) {
		t.Fatalf("strict region error: %d %s", resp.StatusCode, body)
	}
	_, err = regionClient(strict, testRegion).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("x"), CreateBucketConfiguration: cfg("eu-central-1")})
	wantCode(t, err, "InvalidLocationConstraint", http.StatusBadRequest)
}
