package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// awsSuite is the checks of one AWS SDK client on its own bucket.
type awsSuite struct {
	ctx    context.Context
	m      *matrix
	t      target
	name   string
	c      *s3.Client
	bucket string
}

func (s *awsSuite) check(op string, f func() error) { s.m.check(s.name, op, f) }

// newAWS builds a client as config.LoadDefaultConfig does, without the user's shared config
// files (so that nothing but the SDK's defaults applies), for endpoint and region.
func newAWS(ctx context.Context, t target, endpoint, region string, hc *http.Client) (*s3.Client, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(t.accessKey, t.secretKey, "")),
		config.WithSharedConfigFiles([]string{}), config.WithSharedCredentialsFiles([]string{}),
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, err
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true // an IP endpoint has no bucket subdomains
		if hc != nil {
			o.HTTPClient = hc // the TLS proxy's certificate (set here: AWS_CA_BUNDLE would clash with a plain *http.Client)
		}
	}), nil
}

// tlsProxy terminates TLS in front of the endpoint (the SDK sends aws-chunked bodies with
// trailing checksums only over TLS) and records the payload modes of the requests it passes.
type tlsProxy struct {
	srv   *httptest.Server
	mu    sync.Mutex
	modes map[string]int // x-amz-content-sha256 values seen (hex digests counted as "hex")
}

func newTLSProxy(endpoint string) (*tlsProxy, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, err
	}
	p := &tlsProxy{modes: map[string]int{}}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(u)
		r.Out.Host = r.In.Host // the signature covers the Host the client used
		mode := r.In.Header.Get("X-Amz-Content-Sha256")
		if len(mode) == 64 {
			mode = "hex"
		}
		p.mu.Lock()
		p.modes[mode]++
		p.mu.Unlock()
	}}
	p.srv = httptest.NewTLSServer(rp)
	return p, nil
}

func (p *tlsProxy) seen(mode string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.modes[mode]
}

func runAWS(ctx context.Context, m *matrix, t target) {
	stamp := time.Now().UnixNano() % 1e9
	plain, err := newAWS(ctx, t, t.endpoint, t.region, nil)
	if err != nil {
		m.check("aws-sdk-go-v2", "client", func() error { return err })
		return
	}
	awsDefaults(&awsSuite{ctx: ctx, m: m, t: t, name: "aws-sdk-go-v2", c: plain, bucket: fmt.Sprintf("aws-0-%d", stamp)})

	proxy, err := newTLSProxy(t.endpoint)
	if err != nil {
		m.check("aws-sdk-go-v2 tls", "proxy", func() error { return err })
		return
	}
	defer proxy.srv.Close()
	tlsc, err := newAWS(ctx, t, proxy.srv.URL, t.region, proxy.srv.Client())
	if err != nil {
		m.check("aws-sdk-go-v2 tls", "client", func() error { return err })
		return
	}
	awsTrailers(&awsSuite{ctx: ctx, m: m, t: t, name: "aws-sdk-go-v2 tls", c: tlsc, bucket: fmt.Sprintf("aws-1-%d", stamp)}, proxy)

	eu, err := newAWS(ctx, t, t.endpoint, "eu-central-1", nil)
	if err != nil {
		m.check("aws-sdk-go-v2 eu-central-1", "client", func() error { return err })
		return
	}
	awsRegion(&awsSuite{ctx: ctx, m: m, t: t, name: "aws-sdk-go-v2 eu-central-1", c: eu, bucket: fmt.Sprintf("aws-2-%d", stamp)}, plain)
}

func (s *awsSuite) createBucket(cfg *types.CreateBucketConfiguration) {
	s.check("create bucket", func() error {
		_, err := s.c.CreateBucket(s.ctx, &s3.CreateBucketInput{Bucket: aws.String(s.bucket), CreateBucketConfiguration: cfg})
		return err
	})
}

// storedChecksum returns the checksum of alg and the checksum type a GET or HEAD reported.
func storedChecksum(alg string, crc32, crc32c, crc64, sha1, sha256 *string) string {
	switch alg {
	case "CRC32":
		return aws.ToString(crc32)
	case "CRC32C":
		return aws.ToString(crc32c)
	case "CRC64NVME":
		return aws.ToString(crc64)
	case "SHA1":
		return aws.ToString(sha1)
	}
	return aws.ToString(sha256)
}

// readBack GETs key with its checksum (the SDK validates a full-object checksum as it reads)
// and compares the bytes; it returns the stored checksum of alg and its type.
func (s *awsSuite) readBack(key string, data []byte, alg string) (sum, typ string, err error) {
	out, err := s.c.GetObject(s.ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		return "", "", fmt.Errorf("GET %s: %w", key, err)
	}
	got, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil {
		return "", "", fmt.Errorf("GET %s: %w", key, err)
	}
	if err := sameBytes("GET "+key, got, data); err != nil {
		return "", "", err
	}
	head, err := s.c.HeadObject(s.ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		return "", "", fmt.Errorf("HEAD %s: %w", key, err)
	}
	if aws.ToInt64(head.ContentLength) != int64(len(data)) {
		return "", "", fmt.Errorf("HEAD %s: length %d, want %d", key, aws.ToInt64(head.ContentLength), len(data))
	}
	sum = storedChecksum(alg, head.ChecksumCRC32, head.ChecksumCRC32C, head.ChecksumCRC64NVME, head.ChecksumSHA1, head.ChecksumSHA256)
	if g := storedChecksum(alg, out.ChecksumCRC32, out.ChecksumCRC32C, out.ChecksumCRC64NVME, out.ChecksumSHA1, out.ChecksumSHA256); g != sum {
		return "", "", fmt.Errorf("GET reported %s %q, HEAD %q", alg, g, sum)
	}
	return sum, string(head.ChecksumType), nil
}

// put uploads data with PutObject; an unseekable body makes the SDK stream it (aws-chunked
// with a trailing checksum over TLS).
func (s *awsSuite) put(key string, data []byte, alg string, seekable bool) error {
	in := &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key), ChecksumAlgorithm: types.ChecksumAlgorithm(alg)}
	if seekable {
		in.Body = bytes.NewReader(data)
	} else {
		in.Body, in.ContentLength = struct{ io.Reader }{bytes.NewReader(data)}, aws.Int64(int64(len(data)))
	}
	_, err := s.c.PutObject(s.ctx, in)
	return err
}

// putRead is put, readBack and a check of the stored checksum (FULL_OBJECT).
func (s *awsSuite) putRead(key string, data []byte, alg string, seekable bool) error {
	if err := s.put(key, data, alg, seekable); err != nil {
		return fmt.Errorf("PUT %s: %w", key, err)
	}
	want := alg
	if want == "" {
		want = "CRC32" // the SDK's default
	}
	sum, typ, err := s.readBack(key, data, want)
	if err != nil {
		return err
	}
	return expectChecksum(want, sum, typ, checksumOf(want, data), "FULL_OBJECT")
}

// upload streams data of unknown size through the SDK's upload manager (multipart above its
// 5 MiB part size) and checks the object and its checksum.
func (s *awsSuite) upload(key string, data []byte) error {
	up := manager.NewUploader(s.c)
	if _, err := up.Upload(s.ctx, &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key),
		Body: struct{ io.Reader }{bytes.NewReader(data)}}); err != nil {
		return fmt.Errorf("upload %s: %w", key, err)
	}
	sum, typ, err := s.readBack(key, data, "CRC32")
	if err != nil {
		return err
	}
	want, wantType := checksumOf("CRC32", data), "FULL_OBJECT"
	if len(data) > int(manager.DefaultUploadPartSize) {
		want, wantType = compositeOf("CRC32", data, int(manager.DefaultUploadPartSize)), "COMPOSITE"
	}
	return expectChecksum("CRC32", sum, typ, want, wantType)
}

// multipart uploads data in 5 MiB parts with CreateMultipartUpload's algorithm and type.
func (s *awsSuite) multipart(key string, data []byte, alg, typ string) error {
	cr, err := s.c.CreateMultipartUpload(s.ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(s.bucket), Key: aws.String(key),
		ChecksumAlgorithm: types.ChecksumAlgorithm(alg), ChecksumType: types.ChecksumType(typ)})
	if err != nil {
		return err
	}
	const part = 5 << 20
	var done []types.CompletedPart
	for i, off := int32(1), 0; off < len(data); i, off = i+1, off+part {
		out, err := s.c.UploadPart(s.ctx, &s3.UploadPartInput{Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: cr.UploadId,
			PartNumber: aws.Int32(i), Body: bytes.NewReader(data[off:min(off+part, len(data))]), ChecksumAlgorithm: types.ChecksumAlgorithm(alg)})
		if err != nil {
			return fmt.Errorf("part %d: %w", i, err)
		}
		done = append(done, types.CompletedPart{PartNumber: aws.Int32(i), ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32,
			ChecksumCRC32C: out.ChecksumCRC32C, ChecksumCRC64NVME: out.ChecksumCRC64NVME, ChecksumSHA1: out.ChecksumSHA1, ChecksumSHA256: out.ChecksumSHA256})
	}
	want := compositeOf(alg, data, part)
	in := &s3.CompleteMultipartUploadInput{Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: cr.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done}}
	if typ == "FULL_OBJECT" {
		want = checksumOf(alg, data)
		in.ChecksumType = types.ChecksumTypeFullObject
		switch alg { // the client states the whole object's value; the server checks it
		case "CRC32":
			in.ChecksumCRC32 = aws.String(want)
		case "CRC32C":
			in.ChecksumCRC32C = aws.String(want)
		case "CRC64NVME":
			in.ChecksumCRC64NVME = aws.String(want)
		}
	}
	comp, err := s.c.CompleteMultipartUpload(s.ctx, in)
	if err != nil {
		return err
	}
	got := storedChecksum(alg, comp.ChecksumCRC32, comp.ChecksumCRC32C, comp.ChecksumCRC64NVME, comp.ChecksumSHA1, comp.ChecksumSHA256)
	if err := expectChecksum(alg, got, string(comp.ChecksumType), want, typ); err != nil {
		return fmt.Errorf("completion: %w", err)
	}
	sum, gotType, err := s.readBack(key, data, alg)
	if err != nil {
		return err
	}
	return expectChecksum(alg, sum, gotType, want, typ)
}

func apiCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

// awsDefaults: the SDK with its default options over plain HTTP (checksums as headers).
func awsDefaults(s *awsSuite) {
	s.createBucket(nil)
	for _, size := range sizes(s.t.maxSize) {
		data := payload(size, knownSeed(size))
		s.check("put+get "+sizeName(size)+" (default CRC32)", func() error { return s.putRead("known-"+sizeName(size), data, "", true) })
	}
	for i, size := range sizes(s.t.maxSize) {
		if size == 1 || size == 5<<20+1 {
			continue
		}
		data := payload(size, uint64(300+i))
		s.check("upload manager "+sizeName(size)+" (unknown size)", func() error { return s.upload("stream-"+sizeName(size), data) })
	}
	small := payload(300_000, 301)
	for _, alg := range algorithms {
		s.check("checksum "+alg+" (header)", func() error { return s.putRead("small-"+alg, small, alg, true) })
	}
	big := payload(11<<20, 302)
	for _, mp := range [][2]string{{"CRC32", "COMPOSITE"}, {"CRC32C", "COMPOSITE"}, {"SHA1", "COMPOSITE"}, {"SHA256", "COMPOSITE"},
		{"CRC32", "FULL_OBJECT"}, {"CRC32C", "FULL_OBJECT"}, {"CRC64NVME", "FULL_OBJECT"}} {
		s.check("multipart "+mp[1]+" "+mp[0], func() error { return s.multipart("mp-"+mp[1]+"-"+mp[0], big, mp[0], mp[1]) })
	}
	data := payload(1<<20, 303)
	s.check("ranges", func() error { return s.ranges(data) })
	s.check("copy", func() error {
		if _, err := s.c.CopyObject(s.ctx, &s3.CopyObjectInput{Bucket: aws.String(s.bucket), Key: aws.String("copied"),
			CopySource: aws.String(s.bucket + "/ranged")}); err != nil {
			return err
		}
		_, _, err := s.readBack("copied", data, "CRC32")
		return err
	})
	if s.t.maxSize >= 17<<20 {
		s.check("multipart copy (UploadPartCopy)", func() error { return s.partCopy(payload(17<<20, knownSeed(17<<20))) })
	}
	s.check("presigned PUT and GET", func() error {
		pc := s3.NewPresignClient(s.c)
		put, err := pc.PresignPutObject(s.ctx, &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String("presigned")}, s3.WithPresignExpires(time.Minute))
		if err != nil {
			return err
		}
		if err := httpPut(s.ctx, put.URL, data); err != nil {
			return err
		}
		get, err := pc.PresignGetObject(s.ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String("presigned")}, s3.WithPresignExpires(time.Minute))
		if err != nil {
			return err
		}
		return httpGet(s.ctx, get.URL, data)
	})
	s.check("multi-object delete (verbose, quiet)", s.deleteObjects)
	s.check("list objects v2 (delimiter)", func() error {
		out, err := s.c.ListObjectsV2(s.ctx, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Delimiter: aws.String("-")})
		if err != nil {
			return err
		}
		var got []string
		for _, p := range out.CommonPrefixes {
			got = append(got, aws.ToString(p.Prefix))
		}
		if strings.Join(got, ",") != "copy-,known-,mp-,small-,stream-" {
			return fmt.Errorf("common prefixes %v", got)
		}
		return nil
	})
	s.check("list multipart uploads (prefix, delimiter)", s.listUploads)
	s.check("Content-Language", func() error {
		if _, err := s.c.PutObject(s.ctx, &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String("lang"), Body: strings.NewReader("bonjour"),
			ContentLanguage: aws.String("fr-CA")}); err != nil {
			return err
		}
		h, err := s.c.HeadObject(s.ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String("lang")})
		if err != nil {
			return err
		}
		if aws.ToString(h.ContentLanguage) != "fr-CA" {
			return fmt.Errorf("Content-Language %q", aws.ToString(h.ContentLanguage))
		}
		return nil
	})
	s.check("storage class GLACIER refused", func() error {
		_, err := s.c.PutObject(s.ctx, &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String("cold"), Body: strings.NewReader("x"),
			StorageClass: types.StorageClassGlacier})
		if apiCode(err) != "InvalidStorageClass" {
			return fmt.Errorf("got %v, want InvalidStorageClass", err)
		}
		return nil
	})
}

func (s *awsSuite) ranges(data []byte) error {
	if err := s.put("ranged", data, "", true); err != nil {
		return err
	}
	n := len(data)
	for spec, want := range map[string][]byte{
		"bytes=0-0": data[:1], "bytes=100-199": data[100:200], "bytes=-50": data[n-50:], "bytes=1000-": data[1000:],
		fmt.Sprintf("bytes=%d-%d", n-10, n+10): data[n-10:],
	} {
		out, err := s.c.GetObject(s.ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String("ranged"), Range: aws.String(spec)})
		if err != nil {
			return fmt.Errorf("%s: %w", spec, err)
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil {
			return err
		}
		if err := sameBytes(spec, got, want); err != nil {
			return err
		}
	}
	_, err := s.c.GetObject(s.ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String("ranged"), Range: aws.String(fmt.Sprintf("bytes=%d-", n+1))})
	if apiCode(err) != "InvalidRange" {
		return fmt.Errorf("range past the end: %v, want InvalidRange", err)
	}
	return nil
}

// partCopy builds an object from two UploadPartCopy ranges of another.
func (s *awsSuite) partCopy(src []byte) error {
	if err := s.put("copy-src", src, "", true); err != nil {
		return err
	}
	cr, err := s.c.CreateMultipartUpload(s.ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(s.bucket), Key: aws.String("copy-dst")})
	if err != nil {
		return err
	}
	var done []types.CompletedPart
	for i, r := range [][2]int{{0, 10<<20 - 1}, {10 << 20, len(src) - 1}} {
		out, err := s.c.UploadPartCopy(s.ctx, &s3.UploadPartCopyInput{Bucket: aws.String(s.bucket), Key: aws.String("copy-dst"), UploadId: cr.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), CopySource: aws.String(s.bucket + "/copy-src"), CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", r[0], r[1]))})
		if err != nil {
			return err
		}
		done = append(done, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.CopyPartResult.ETag})
	}
	if _, err := s.c.CompleteMultipartUpload(s.ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(s.bucket), Key: aws.String("copy-dst"),
		UploadId: cr.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}}); err != nil {
		return err
	}
	out, err := s.c.GetObject(s.ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String("copy-dst")})
	if err != nil {
		return err
	}
	defer out.Body.Close()
	got, err := io.ReadAll(out.Body)
	if err != nil {
		return err
	}
	return sameBytes("multipart copy", got, src)
}

// deleteObjects deletes keys listed with a duplicate and a missing key: each distinct key is
// reported once (a missing one as deleted); quiet mode reports nothing.
func (s *awsSuite) deleteObjects() error {
	var objs []types.ObjectIdentifier
	for i := range 5 {
		k := fmt.Sprintf("del/%d", i)
		if err := s.put(k, []byte("x"), "", true); err != nil {
			return err
		}
		objs = append(objs, types.ObjectIdentifier{Key: aws.String(k)})
	}
	objs = append(objs, types.ObjectIdentifier{Key: aws.String("del/1")}, types.ObjectIdentifier{Key: aws.String("del/missing")})
	out, err := s.c.DeleteObjects(s.ctx, &s3.DeleteObjectsInput{Bucket: aws.String(s.bucket), Delete: &types.Delete{Objects: objs}})
	if err != nil {
		return err
	}
	if len(out.Deleted) != 6 || len(out.Errors) != 0 {
		return fmt.Errorf("verbose: %d deleted, %d errors for 6 distinct keys", len(out.Deleted), len(out.Errors))
	}
	if err := s.put("del/again", []byte("x"), "", true); err != nil {
		return err
	}
	out, err = s.c.DeleteObjects(s.ctx, &s3.DeleteObjectsInput{Bucket: aws.String(s.bucket),
		Delete: &types.Delete{Quiet: aws.Bool(true), Objects: []types.ObjectIdentifier{{Key: aws.String("del/again")}}}})
	if err != nil || len(out.Deleted) != 0 || len(out.Errors) != 0 {
		return fmt.Errorf("quiet: %+v %v", out, err)
	}
	list, err := s.c.ListObjectsV2(s.ctx, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String("del/")})
	if err != nil || len(list.Contents) != 0 {
		return fmt.Errorf("left after delete: %d, %v", len(list.Contents), err)
	}
	return nil
}

func (s *awsSuite) listUploads() error {
	for _, k := range []string{"mpu/a/1", "mpu/a/2", "mpu/b/1", "mpu/top"} {
		cr, err := s.c.CreateMultipartUpload(s.ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(s.bucket), Key: aws.String(k)})
		if err != nil {
			return err
		}
		defer s.c.AbortMultipartUpload(s.ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(s.bucket), Key: aws.String(k), UploadId: cr.UploadId})
	}
	var got []string
	p := s3.NewListMultipartUploadsPaginator(s.c, &s3.ListMultipartUploadsInput{Bucket: aws.String(s.bucket), Prefix: aws.String("mpu/"),
		Delimiter: aws.String("/"), MaxUploads: aws.Int32(1)})
	for p.HasMorePages() {
		out, err := p.NextPage(s.ctx)
		if err != nil {
			return err
		}
		for _, u := range out.Uploads {
			got = append(got, aws.ToString(u.Key))
		}
		for _, cp := range out.CommonPrefixes {
			got = append(got, aws.ToString(cp.Prefix))
		}
	}
	if strings.Join(got, ",") != "mpu/a/,mpu/b/,mpu/top" {
		return fmt.Errorf("listed %v", got)
	}
	return nil
}

// awsTrailers: the same SDK defaults through TLS, where unseekable bodies go as aws-chunked
// with trailing checksums (the proxy checks that they did).
func awsTrailers(s *awsSuite, proxy *tlsProxy) {
	s.createBucket(nil)
	small := payload(300_000, 401)
	for _, alg := range algorithms {
		s.check("checksum "+alg+" (trailer)", func() error { return s.putRead("small-"+alg, small, alg, false) })
	}
	for _, size := range []int64{0, 1 << 20, 17 << 20} {
		if size > s.t.maxSize {
			continue
		}
		data := payload(size, 402)
		s.check("stream put+get "+sizeName(size)+" (default CRC32 trailer)", func() error { return s.putRead("stream-"+sizeName(size), data, "", false) })
	}
	if s.t.maxSize >= 17<<20 {
		data := payload(17<<20, 403)
		s.check("upload manager 17MiB", func() error { return s.upload("managed", data) })
		s.check("multipart FULL_OBJECT CRC64NVME", func() error { return s.multipart("mp-full", payload(11<<20, 404), "CRC64NVME", "FULL_OBJECT") })
	}
	s.check("aws-chunked trailers were sent", func() error {
		if n := proxy.seen("STREAMING-UNSIGNED-PAYLOAD-TRAILER"); n == 0 {
			return fmt.Errorf("no STREAMING-UNSIGNED-PAYLOAD-TRAILER request went through the proxy (modes %v)", proxy.modes)
		}
		return nil
	})
}

// awsRegion: a client configured for another region than the server's.
func awsRegion(s *awsSuite, home *s3.Client) {
	s.createBucket(&types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraintEuCentral1})
	data := payload(1<<20, 501)
	s.check("put+get 1MiB", func() error { return s.putRead("k", data, "", true) })
	s.check("bucket location and region", func() error {
		loc, err := home.GetBucketLocation(s.ctx, &s3.GetBucketLocationInput{Bucket: aws.String(s.bucket)})
		if err != nil {
			return err
		}
		head, err := home.HeadBucket(s.ctx, &s3.HeadBucketInput{Bucket: aws.String(s.bucket)})
		if err != nil {
			return err
		}
		if loc.LocationConstraint != types.BucketLocationConstraintEuCentral1 || aws.ToString(head.BucketRegion) != "eu-central-1" {
			return fmt.Errorf("location %q, region %q", loc.LocationConstraint, aws.ToString(head.BucketRegion))
		}
		return nil
	})
	s.check("LocationConstraint of another region refused", func() error {
		_, err := s.c.CreateBucket(s.ctx, &s3.CreateBucketInput{Bucket: aws.String(s.bucket + "-x"),
			CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraintApSouth1}})
		if apiCode(err) != "IllegalLocationConstraintException" {
			return fmt.Errorf("got %v, want IllegalLocationConstraintException", err)
		}
		return nil
	})
}
