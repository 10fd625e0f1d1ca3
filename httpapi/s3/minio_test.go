package s3

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/nebulaio/nebulaio/httpapi/sigv4"
)

// minioClient returns a minio-go client of n with options o (SigV4 test credentials unless
// o.Creds is set).
func minioClient(t *testing.T, n *node, o minio.Options) *minio.Client {
	t.Helper()
	if o.Creds == nil {
		o.Creds = credentials.NewStaticV4(testAK, testSK, "")
	}
	c, err := minio.New(strings.TrimPrefix(n.srv.URL, "http://"), &o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// minioRoundTrip reads key back and compares it with data; with wantSum it also asks for the
// stored checksum (x-amz-checksum-mode) and returns the object info.
func minioRoundTrip(t *testing.T, c *minio.Client, bucket, key string, data []byte) minio.ObjectInfo {
	t.Helper()
	ctx := ctxT(t)
	obj, err := c.GetObject(ctx, bucket, key, minio.GetObjectOptions{Checksum: true})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	got, err := io.ReadAll(obj)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("GET %s: %d bytes (want %d), %v", key, len(got), len(data), err)
	}
	info, err := c.StatObject(ctx, bucket, key, minio.StatObjectOptions{Checksum: true})
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// stdChecksum returns the base64 checksum of data (a test's expectation).
func stdChecksum(t *testing.T, alg sigv4.ChecksumAlgorithm, data []byte) string {
	t.Helper()
	v, ok := sigv4.ChecksumOf(alg, data)
	if !ok {
		t.Fatalf("no algorithm %s", alg)
	}
	return v
}

// compositeOf is S3's COMPOSITE checksum of data cut into parts of partSize.
func compositeOf(t *testing.T, alg sigv4.ChecksumAlgorithm, data []byte, partSize int) string {
	t.Helper()
	h, _ := sigv4.NewChecksumHash(alg)
	n := 0
	for off := 0; off < len(data) || n == 0; off += partSize {
		d, _ := base64.StdEncoding.DecodeString(stdChecksum(t, alg, data[off:min(off+partSize, len(data))]))
		h.Write(d)
		n++
	}
	return fmt.Sprintf("%s-%d", base64.StdEncoding.EncodeToString(h.Sum(nil)), n)
}

// TestMinioUnknownSizeUpload is the regression test of issue 23's first report: minio-go
// streams an upload of unknown size as multipart with a CRC32C per part and sends the
// whole-object checksum as an x-amz-checksum-crc32c header of CompleteMultipartUpload, which
// the server verified against the XML body ("CRC32C mismatch"). It is what minio-go v7.0.91
// does with default options (v7.4.1 needs TrailingHeaders for it). The object must come back
// with the composite checksum minio-go computed.
func TestMinioUnknownSizeUpload(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	c := minioClient(t, n, minio.Options{TrailingHeaders: true})
	ctx := ctxT(t)
	if err := c.MakeBucket(ctx, "stream", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		size, partSize int
	}{{0, 0}, {1 << 20, 0}, {12 << 20, 5 << 20}} {
		t.Run(fmt.Sprint(tc.size), func(t *testing.T) {
			data := randBytes(tc.size, uint64(tc.size))
			key := fmt.Sprintf("unknown-%d", tc.size)
			up, err := c.PutObject(ctx, "stream", key, io.NopCloser(bytes.NewReader(data)), -1,
				minio.PutObjectOptions{PartSize: uint64(tc.partSize)})
			if err != nil {
				t.Fatalf("PutObject of unknown size: %v", err)
			}
			info := minioRoundTrip(t, c, "stream", key, data)
			part := tc.partSize
			if part == 0 {
				part = max(tc.size, 1)
			}
			want := compositeOf(t, sigv4.ChecksumCRC32C, data, part)
			if info.ChecksumCRC32C != want || !strings.HasPrefix(want, up.ChecksumCRC32C) {
				t.Fatalf("stored CRC32C %q, minio-go computed %q, want %q", info.ChecksumCRC32C, up.ChecksumCRC32C, want)
			}
		})
	}
}

// TestMinioChecksums: minio-go's PutObject with every checksum algorithm, as a trailer of a
// streamed body (small objects) and as multipart (COMPOSITE, or FULL_OBJECT for the CRCs that
// combine), each read back with its checksum.
func TestMinioChecksums(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	c := minioClient(t, n, minio.Options{TrailingHeaders: true})
	ctx := ctxT(t)
	if err := c.MakeBucket(ctx, "sums", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	algs := map[minio.ChecksumType]sigv4.ChecksumAlgorithm{
		minio.ChecksumCRC32: sigv4.ChecksumCRC32, minio.ChecksumCRC32C: sigv4.ChecksumCRC32C,
		minio.ChecksumSHA1: sigv4.ChecksumSHA1, minio.ChecksumSHA256: sigv4.ChecksumSHA256,
		minio.ChecksumCRC64NVME:       sigv4.ChecksumCRC64NVME,
		minio.ChecksumFullObjectCRC32: sigv4.ChecksumCRC32, minio.ChecksumFullObjectCRC32C: sigv4.ChecksumCRC32C,
	}
	small := randBytes(300_000, 3)
	big := randBytes(11<<20, 4)
	for ct, alg := range algs {
		t.Run(ct.String(), func(t *testing.T) {
			key := "small-" + ct.String()
			if _, err := c.PutObject(ctx, "sums", key, bytes.NewReader(small), int64(len(small)), minio.PutObjectOptions{Checksum: ct}); err != nil {
				t.Fatalf("small: %v", err)
			}
			info := minioRoundTrip(t, c, "sums", key, small)
			if got := info.Headers.Get("x-amz-checksum-" + strings.ToLower(string(alg))); got != stdChecksum(t, alg, small) {
				t.Fatalf("small: stored %s %q", alg, got)
			}
			key = "big-" + ct.String()
			if _, err := c.PutObject(ctx, "sums", key, bytes.NewReader(big), int64(len(big)),
				minio.PutObjectOptions{Checksum: ct, PartSize: 5 << 20}); err != nil {
				t.Fatalf("multipart: %v", err)
			}
			info = minioRoundTrip(t, c, "sums", key, big)
			want, wantType := compositeOf(t, alg, big, 5<<20), checksumComposite
			if ct.FullObjectRequested() || alg == sigv4.ChecksumCRC64NVME {
				want, wantType = stdChecksum(t, alg, big), checksumFullObject
			}
			if got := info.Headers.Get("x-amz-checksum-" + strings.ToLower(string(alg))); got != want || info.Headers.Get("x-amz-checksum-type") != wantType {
				t.Fatalf("multipart: stored %s %q (%s), want %q (%s)", alg, got, info.Headers.Get("x-amz-checksum-type"), want, wantType)
			}
		})
	}
}

// TestMinioSigV2: a client configured for Signature Version 2 works (header auth for every
// call, presigned GET), and a server with SigV2 disabled refuses it as AWS does.
func TestMinioSigV2(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	c := minioClient(t, n, minio.Options{Creds: credentials.NewStaticV2(testAK, testSK, "")})
	ctx := ctxT(t)
	if err := c.MakeBucket(ctx, "vtwo", minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("MakeBucket with SigV2: %v", err)
	}
	for _, size := range []int{0, 100, 17 << 20} {
		data := randBytes(size, 9)
		key := fmt.Sprintf("dir/k %d+", size)
		if _, err := c.PutObject(ctx, "vtwo", key, bytes.NewReader(data), int64(size), minio.PutObjectOptions{ContentType: "text/x"}); err != nil {
			t.Fatalf("PutObject %d with SigV2: %v", size, err)
		}
		minioRoundTrip(t, c, "vtwo", key, data)
		u, err := c.PresignedGetObject(ctx, "vtwo", key, time.Minute, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(u.RawQuery, "AWSAccessKeyId=") {
			t.Fatalf("not a SigV2 presigned URL: %s", u)
		}
		resp, err := http.Get(u.String())
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) {
			t.Fatalf("presigned SigV2 GET: %d, %d bytes", resp.StatusCode, len(got))
		}
	}
	for o := range c.ListObjects(ctx, "vtwo", minio.ListObjectsOptions{Prefix: "dir/"}) {
		if o.Err != nil {
			t.Fatalf("ListObjects with SigV2: %v", o.Err)
		}
	}

	off := startNode(t, t.TempDir(), nodeOpts{noSigV2: true})
	err := minioClient(t, off, minio.Options{Creds: credentials.NewStaticV2(testAK, testSK, "")}).MakeBucket(ctx, "refused", minio.MakeBucketOptions{})
	if resp := minio.ToErrorResponse(err); resp.Code != "InvalidRequest" || !strings.Contains(resp.Message, "AWS4-HMAC-SHA256") {
		t.Fatalf("SigV2 on a server that refuses it: %v", err)
	}
}

// TestMinioRegions: with the default region handling a client configured for another region
// creates its bucket there and the server reports that region; with strict_region a client
// that does not know the region learns it from AuthorizationHeaderMalformed's <Region>.
func TestMinioRegions(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	ctx := ctxT(t)
	eu := minioClient(t, n, minio.Options{Region: "eu-central-1"})
	if err := eu.MakeBucket(ctx, "in-eu", minio.MakeBucketOptions{Region: "eu-central-1"}); err != nil {
		t.Fatalf("MakeBucket in eu-central-1: %v", err)
	}
	plain := minioClient(t, n, minio.Options{})
	if loc, err := plain.GetBucketLocation(ctx, "in-eu"); err != nil || loc != "eu-central-1" {
		t.Fatalf("GetBucketLocation = %q, %v", loc, err)
	}
	if _, err := plain.PutObject(ctx, "in-eu", "k", strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatalf("PutObject through a client that looked the region up: %v", err)
	}
	strict := startNode(t, t.TempDir(), nodeOpts{region: "home-1", strict: true})
	sc := minioClient(t, strict, minio.Options{}) // no region: signs for us-east-1 first
	if err := sc.MakeBucket(ctx, "home", minio.MakeBucketOptions{Region: "home-1"}); err != nil {
		t.Fatalf("MakeBucket in home-1: %v", err)
	}
	if _, err := sc.PutObject(ctx, "home", "k", strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatalf("PutObject after learning the region: %v", err)
	}
	wrong := minioClient(t, strict, minio.Options{Region: "eu-west-1"})
	_, err := wrong.StatObject(ctx, "home", "k", minio.StatObjectOptions{})
	if err == nil {
		t.Fatal("a request signed for eu-west-1 was accepted by a strict home-1 endpoint")
	}
}
