package s3

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestBucketsAndSmallObjects(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	c := n.client()
	ctx := ctxT(t)

	mustCreateBucket(t, c, "alpha")
	mustCreateBucket(t, c, "beta.two")
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("alpha")})
	wantCode(t, err, "BucketAlreadyOwnedByYou", http.StatusConflict)
	other := sdkClient(n.srv.URL, testSK2, &http.Client{})
	_, err = other.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("alpha")})
	wantCode(t, err, "BucketAlreadyExists", http.StatusConflict)
	_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("Bad_Name")})
	wantCode(t, err, "InvalidBucketName", http.StatusBadRequest)

	lb, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range lb.Buckets {
		names = append(names, aws.ToString(b.Name))
		if b.CreationDate == nil || time.Since(*b.CreationDate) > time.Minute {
			t.Fatalf("bucket %s creation date %v", aws.ToString(b.Name), b.CreationDate)
		}
	}
	if strings.Join(names, ",") != "alpha,beta.two" {
		t.Fatalf("ListBuckets = %v", names)
	}
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("alpha")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("nope-nope")})
	wantCode(t, err, "", http.StatusNotFound)
	loc, err := c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String("alpha")})
	if err != nil || loc.LocationConstraint != "" {
		t.Fatalf("GetBucketLocation = %v, %v", loc, err)
	}

	data := []byte("hello, nebula")
	out := mustPut(t, c, "alpha", "dir/hello.txt", data)
	sum := md5.Sum(data)
	if got, want := aws.ToString(out.ETag), `"`+hex.EncodeToString(sum[:])+`"`; got != want {
		t.Fatalf("ETag %s, want %s", got, want)
	}
	if got := mustGet(t, c, "alpha", "dir/hello.txt"); !bytes.Equal(got, data) {
		t.Fatalf("GetObject = %q", got)
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("alpha"), Key: aws.String("dir/hello.txt")})
	if err != nil || aws.ToInt64(head.ContentLength) != int64(len(data)) || aws.ToString(head.ETag) != aws.ToString(out.ETag) {
		t.Fatalf("HeadObject = %+v, %v", head, err)
	}
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("alpha"), Key: aws.String("missing")})
	wantCode(t, err, "NotFound", http.StatusNotFound)
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("alpha"), Key: aws.String("missing")})
	wantCode(t, err, "NoSuchKey", http.StatusNotFound)
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("nobucket"), Key: aws.String("k")})
	wantCode(t, err, "NoSuchBucket", http.StatusNotFound)
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("nobucket"), Key: aws.String("k"), Body: strings.NewReader("x")})
	wantCode(t, err, "NoSuchBucket", http.StatusNotFound)

	// Overwrite frees the old blob; empty objects work.
	mustPut(t, c, "alpha", "dir/hello.txt", []byte("v2"))
	mustPut(t, c, "alpha", "empty", nil)
	if got := mustGet(t, c, "alpha", "empty"); len(got) != 0 {
		t.Fatalf("empty object read %d bytes", len(got))
	}
	if got := mustGet(t, c, "alpha", "dir/hello.txt"); string(got) != "v2" {
		t.Fatalf("after overwrite: %q", got)
	}
	if got := n.blobCount(); got != 2 {
		t.Fatalf("%d blobs stored, want 2 (the overwritten one deleted)", got)
	}

	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("alpha")})
	wantCode(t, err, "BucketNotEmpty", http.StatusConflict)
	for _, k := range []string{"dir/hello.txt", "empty", "never-existed"} {
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("alpha"), Key: aws.String(k)}); err != nil {
			t.Fatalf("DeleteObject %s: %v", k, err)
		}
	}
	if got := n.blobCount(); got != 0 {
		t.Fatalf("%d blobs left after deleting every object", got)
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("alpha")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("alpha")})
	wantCode(t, err, "NoSuchBucket", http.StatusNotFound)
}

// TestPayloadModes puts through every way the SDK and plain HTTP clients send bodies.
func TestPayloadModes(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	c := n.client()
	mustCreateBucket(t, c, "modes")
	data := randBytes(1<<20+4321, 1)
	cases := []struct {
		name string
		put  func(key string) error
	}{
		{"sdk seekable (signed sha256 over http)", func(key string) error {
			_, err := c.PutObject(ctxT(t), &s3.PutObjectInput{Bucket: aws.String("modes"), Key: aws.String(key), Body: bytes.NewReader(data)})
			return err
		}},
		{"sdk stream over TLS (aws-chunked, CRC32C trailer)", func(key string) error {
			_, err := n.tlsClient().PutObject(ctxT(t), &s3.PutObjectInput{
				Bucket: aws.String("modes"), Key: aws.String(key), Body: onlyReader{bytes.NewReader(data)},
				ContentLength: aws.Int64(int64(len(data))), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
			})
			return err
		}},
		{"sdk default over TLS (aws-chunked, CRC32 trailer)", func(key string) error {
			_, err := n.tlsClient().PutObject(ctxT(t), &s3.PutObjectInput{Bucket: aws.String("modes"), Key: aws.String(key), Body: bytes.NewReader(data)})
			return err
		}},
		{"sdk unsigned payload", func(key string) error {
			_, err := c.PutObject(ctxT(t), &s3.PutObjectInput{Bucket: aws.String("modes"), Key: aws.String(key), Body: bytes.NewReader(data)},
				s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
			return err
		}},
		{"sdk sha256 checksum", func(key string) error {
			_, err := c.PutObject(ctxT(t), &s3.PutObjectInput{
				Bucket: aws.String("modes"), Key: aws.String(key), Body: bytes.NewReader(data), ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
			})
			return err
		}},
		{"presigned PUT", func(key string) error {
			pc := s3.NewPresignClient(c)
			req, err := pc.PresignPutObject(ctxT(t), &s3.PutObjectInput{Bucket: aws.String("modes"), Key: aws.String(key)})
			if err != nil {
				return err
			}
			hr, _ := http.NewRequest(http.MethodPut, req.URL, bytes.NewReader(data))
			resp, err := http.DefaultClient.Do(hr)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("presigned PUT: %s", resp.Status)
			}
			return nil
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := "obj-" + string(rune('a'+i))
			if err := tc.put(key); err != nil {
				t.Fatalf("put: %v", err)
			}
			if got := mustGet(t, c, "modes", key); !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes differing from the %d put", len(got), len(data))
			}
		})
	}
	t.Run("presigned GET", func(t *testing.T) {
		pc := s3.NewPresignClient(c)
		req, err := pc.PresignGetObject(ctxT(t), &s3.GetObjectInput{Bucket: aws.String("modes"), Key: aws.String("obj-a")}, s3.WithPresignExpires(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(req.URL)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) || resp.Header.Get("x-amz-request-id") == "" {
			t.Fatalf("presigned GET: %s, %d bytes", resp.Status, len(got))
		}
		// A tampered signature is refused.
		i := strings.Index(req.URL, "X-Amz-Signature=") + len("X-Amz-Signature=")
		flipped := "0"
		if req.URL[i] == '0' {
			flipped = "1"
		}
		resp, err = http.Get(req.URL[:i] + flipped + req.URL[i+1:])
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("tampered presigned GET: %s", resp.Status)
		}
		// An expired URL is refused.
		hr, _ := http.NewRequest(http.MethodGet, n.srv.URL+"/modes/obj-a?X-Amz-Expires=60", nil)
		signed, _, err := v4.NewSigner().PresignHTTP(ctxT(t), aws.Credentials{AccessKeyID: testAK, SecretAccessKey: testSK}, hr,
			"UNSIGNED-PAYLOAD", "s3", testRegion, time.Now().Add(-10*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		resp, err = http.Get(signed)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "<Code>AccessDenied</Code>") || !strings.Contains(string(body), "expired") {
			t.Fatalf("expired presigned GET: %s %s", resp.Status, body)
		}
	})
	t.Run("checksum returned", func(t *testing.T) {
		out, err := c.GetObject(ctxT(t), &s3.GetObjectInput{Bucket: aws.String("modes"), Key: aws.String("obj-b"), ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, out.Body)
		out.Body.Close()
		if aws.ToString(out.ChecksumCRC32C) == "" {
			t.Fatalf("no CRC32C returned for an object put with one")
		}
	})
	if got := n.blobCount(); got != len(cases) {
		t.Fatalf("%d blobs, want %d", got, len(cases))
	}
}

type onlyReader struct{ io.Reader }

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
