package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// minioChecksums maps S3 algorithm names to minio-go's checksum options (COMPOSITE for the
// multipart form, except CRC64NVME which only has FULL_OBJECT).
var minioChecksums = map[string]minio.ChecksumType{
	"CRC32": minio.ChecksumCRC32, "CRC32C": minio.ChecksumCRC32C, "CRC64NVME": minio.ChecksumCRC64NVME,
	"SHA1": minio.ChecksumSHA1, "SHA256": minio.ChecksumSHA256,
}

func newMinio(t target, o minio.Options) (*minio.Client, error) {
	u, err := url.Parse(t.endpoint)
	if err != nil {
		return nil, err
	}
	if o.Creds == nil {
		o.Creds = credentials.NewStaticV4(t.accessKey, t.secretKey, "")
	}
	o.Secure = u.Scheme == "https"
	return minio.New(u.Host, &o)
}

// minioSuite is the checks of one minio-go client on its own bucket.
type minioSuite struct {
	ctx    context.Context
	m      *matrix
	t      target
	name   string
	c      *minio.Client
	bucket string
}

func (s *minioSuite) check(op string, f func() error) { s.m.check(s.name, op, f) }

// readBack GETs key (asking for its checksum) and compares it with data.
func (s *minioSuite) readBack(key string, data []byte) (minio.ObjectInfo, error) {
	obj, err := s.c.GetObject(s.ctx, s.bucket, key, minio.GetObjectOptions{Checksum: true})
	if err != nil {
		return minio.ObjectInfo{}, err
	}
	defer obj.Close()
	got, err := io.ReadAll(obj)
	if err != nil {
		return minio.ObjectInfo{}, fmt.Errorf("GET %s: %w", key, err)
	}
	if err := sameBytes("GET "+key, got, data); err != nil {
		return minio.ObjectInfo{}, err
	}
	info, err := s.c.StatObject(s.ctx, s.bucket, key, minio.StatObjectOptions{Checksum: true})
	if err != nil {
		return info, err
	}
	if info.Size != int64(len(data)) {
		return info, fmt.Errorf("HEAD %s: size %d, want %d", key, info.Size, len(data))
	}
	return info, nil
}

func (s *minioSuite) putRead(key string, data []byte, size int64, o minio.PutObjectOptions) (minio.ObjectInfo, error) {
	var r io.Reader = bytes.NewReader(data)
	if size < 0 {
		r = io.NopCloser(r) // not a Seeker or ReaderAt: streamed, size unknown
	}
	if _, err := s.c.PutObject(s.ctx, s.bucket, key, r, size, o); err != nil {
		return minio.ObjectInfo{}, fmt.Errorf("PUT %s: %w", key, err)
	}
	return s.readBack(key, data)
}

func (s *minioSuite) makeBucket(region string) {
	s.check("make bucket", func() error {
		return s.c.MakeBucket(s.ctx, s.bucket, minio.MakeBucketOptions{Region: region})
	})
}

func runMinio(ctx context.Context, m *matrix, t target) {
	stamp := time.Now().UnixNano() % 1e9
	clients := []struct {
		name string
		opts minio.Options
		run  func(*minioSuite)
	}{
		{"minio-go", minio.Options{}, minioDefaults},
		{"minio-go trailers", minio.Options{TrailingHeaders: true}, minioTrailers},
		{"minio-go sigv2", minio.Options{Creds: credentials.NewStaticV2(t.accessKey, t.secretKey, "")}, minioSigV2},
		{"minio-go eu-central-1", minio.Options{Region: "eu-central-1"}, minioRegion},
	}
	for i, cl := range clients {
		c, err := newMinio(t, cl.opts)
		if err != nil {
			m.check(cl.name, "client", func() error { return err })
			continue
		}
		cl.run(&minioSuite{ctx: ctx, m: m, t: t, name: cl.name, c: c, bucket: fmt.Sprintf("minio-%d-%d", i, stamp)})
	}
}

// minioDefaults: minio-go with its default options.
func minioDefaults(s *minioSuite) {
	s.makeBucket("")
	for _, size := range sizes(s.t.maxSize) {
		data := payload(size, knownSeed(size))
		s.check("put+get "+sizeName(size), func() error {
			_, err := s.putRead("known-"+sizeName(size), data, size, minio.PutObjectOptions{})
			return err
		})
	}
	for i, size := range sizes(s.t.maxSize) {
		if size == 1 || size == 5<<20+1 {
			continue
		}
		data := payload(size, uint64(100+i))
		s.check("stream put+get "+sizeName(size)+" (unknown size)", func() error {
			_, err := s.putRead("unknown-"+sizeName(size), data, -1, minio.PutObjectOptions{})
			return err
		})
	}
	data := payload(1<<20, 7)
	s.check("ranges", func() error {
		if _, err := s.c.PutObject(s.ctx, s.bucket, "ranged", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
			return err
		}
		for _, r := range [][2]int64{{0, 0}, {100, 199}, {len64(data) - 1, len64(data) - 1}, {1000, len64(data) - 1}} {
			o := minio.GetObjectOptions{}
			if err := o.SetRange(r[0], r[1]); err != nil {
				return err
			}
			if err := s.getRange("ranged", o, data[r[0]:r[1]+1]); err != nil {
				return fmt.Errorf("range %d-%d: %w", r[0], r[1], err)
			}
		}
		o := minio.GetObjectOptions{}
		_ = o.SetRange(0, -50) // the last 50 bytes
		if err := s.getRange("ranged", o, data[len(data)-50:]); err != nil {
			return fmt.Errorf("suffix range: %w", err)
		}
		o = minio.GetObjectOptions{}
		_ = o.SetRange(len64(data)+10, len64(data)+20)
		_, err := s.c.GetObject(s.ctx, s.bucket, "ranged", o)
		if err == nil {
			obj, _ := s.c.GetObject(s.ctx, s.bucket, "ranged", o)
			_, err = io.ReadAll(obj)
		}
		if code := minio.ToErrorResponse(err).Code; code != "InvalidRange" {
			return fmt.Errorf("range past the end: %v, want InvalidRange", err)
		}
		return nil
	})
	s.check("copy", func() error {
		src := minio.CopySrcOptions{Bucket: s.bucket, Object: "ranged"}
		if _, err := s.c.CopyObject(s.ctx, minio.CopyDestOptions{Bucket: s.bucket, Object: "copied"}, src); err != nil {
			return err
		}
		_, err := s.readBack("copied", data)
		return err
	})
	if s.t.maxSize >= 17<<20 {
		big := payload(17<<20, knownSeed(17<<20)) // "known-17MiB"
		s.check("multipart copy (ComposeObject, UploadPartCopy)", func() error {
			srcs := []minio.CopySrcOptions{
				{Bucket: s.bucket, Object: "known-17MiB", MatchRange: true, Start: 0, End: 10<<20 - 1},
				{Bucket: s.bucket, Object: "known-17MiB", MatchRange: true, Start: 10 << 20, End: 17<<20 - 1},
			}
			if _, err := s.c.ComposeObject(s.ctx, minio.CopyDestOptions{Bucket: s.bucket, Object: "composed"}, srcs...); err != nil {
				return err
			}
			_, err := s.readBack("composed", big)
			return err
		})
	}
	s.check("presigned PUT and GET", func() error {
		put, err := s.c.PresignedPutObject(s.ctx, s.bucket, "presigned", time.Minute)
		if err != nil {
			return err
		}
		if err := httpPut(s.ctx, put.String(), data); err != nil {
			return err
		}
		get, err := s.c.PresignedGetObject(s.ctx, s.bucket, "presigned", time.Minute, nil)
		if err != nil {
			return err
		}
		return httpGet(s.ctx, get.String(), data)
	})
	s.check("multi-object delete", func() error { return s.removeObjects() })
	s.check("list objects", func() error {
		var keys []string
		for o := range s.c.ListObjects(s.ctx, s.bucket, minio.ListObjectsOptions{Prefix: "known-"}) {
			if o.Err != nil {
				return o.Err
			}
			keys = append(keys, o.Key)
		}
		if len(keys) != len(sizes(s.t.maxSize)) {
			return fmt.Errorf("listed %v", keys)
		}
		return nil
	})
	s.check("list incomplete uploads (prefix, delimiter)", func() error { return s.listUploads() })
	s.check("Content-Language", func() error {
		if _, err := s.c.PutObject(s.ctx, s.bucket, "lang", strings.NewReader("hallo"), 5, minio.PutObjectOptions{ContentLanguage: "de-CH"}); err != nil {
			return err
		}
		info, err := s.c.StatObject(s.ctx, s.bucket, "lang", minio.StatObjectOptions{})
		if err != nil {
			return err
		}
		if got := info.Metadata.Get("Content-Language"); got != "de-CH" {
			return fmt.Errorf("Content-Language %q", got)
		}
		return nil
	})
	s.check("storage class GLACIER refused", func() error {
		_, err := s.c.PutObject(s.ctx, s.bucket, "cold", strings.NewReader("x"), 1, minio.PutObjectOptions{StorageClass: "GLACIER"})
		if code := minio.ToErrorResponse(err).Code; code != "InvalidStorageClass" {
			return fmt.Errorf("got %v, want InvalidStorageClass", err)
		}
		return nil
	})
}

func len64(b []byte) int64 { return int64(len(b)) }

func (s *minioSuite) getRange(key string, o minio.GetObjectOptions, want []byte) error {
	obj, err := s.c.GetObject(s.ctx, s.bucket, key, o)
	if err != nil {
		return err
	}
	defer obj.Close()
	got, err := io.ReadAll(obj)
	if err != nil {
		return err
	}
	return sameBytes("range", got, want)
}

// removeObjects deletes five objects listed with a duplicate and a missing key: S3 answers
// each distinct key once and the objects are gone.
func (s *minioSuite) removeObjects() error {
	ch := make(chan minio.ObjectInfo, 10)
	for i := range 5 {
		k := fmt.Sprintf("del/%d", i)
		if _, err := s.c.PutObject(s.ctx, s.bucket, k, strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
			return err
		}
		ch <- minio.ObjectInfo{Key: k}
	}
	ch <- minio.ObjectInfo{Key: "del/1"}
	ch <- minio.ObjectInfo{Key: "del/missing"}
	close(ch)
	n := 0
	for r := range s.c.RemoveObjectsWithResult(s.ctx, s.bucket, ch, minio.RemoveObjectsOptions{}) {
		if r.Err != nil {
			return fmt.Errorf("%s: %w", r.ObjectName, r.Err)
		}
		n++
	}
	if n != 6 {
		return fmt.Errorf("%d results for 6 distinct keys", n)
	}
	for o := range s.c.ListObjects(s.ctx, s.bucket, minio.ListObjectsOptions{Prefix: "del/"}) {
		return fmt.Errorf("%s still listed (%v)", o.Key, o.Err)
	}
	return nil
}

// listUploads starts uploads under a few prefixes and lists them with prefix and delimiter.
func (s *minioSuite) listUploads() error {
	core := minio.Core{Client: s.c}
	for _, k := range []string{"mpu/a/1", "mpu/a/2", "mpu/b/1", "mpu/top"} {
		id, err := core.NewMultipartUpload(s.ctx, s.bucket, k, minio.PutObjectOptions{})
		if err != nil {
			return err
		}
		defer core.AbortMultipartUpload(s.ctx, s.bucket, k, id)
	}
	var got []string
	for u := range s.c.ListIncompleteUploads(s.ctx, s.bucket, "mpu/", false) {
		if u.Err != nil {
			return u.Err
		}
		got = append(got, u.Key)
	}
	if strings.Join(got, ",") != "mpu/top,mpu/a/,mpu/b/" {
		return fmt.Errorf("prefix mpu/ with delimiter: %v", got)
	}
	got = got[:0]
	for u := range s.c.ListIncompleteUploads(s.ctx, s.bucket, "mpu/a", true) {
		got = append(got, u.Key)
	}
	if strings.Join(got, ",") != "mpu/a/1,mpu/a/2" {
		return fmt.Errorf("prefix mpu/a: %v", got)
	}
	return nil
}

// minioTrailers: minio-go with TrailingHeaders, which every checksum option needs; small
// objects carry the checksum as an aws-chunked trailer, larger ones are multipart.
func minioTrailers(s *minioSuite) {
	s.makeBucket("")
	small := payload(300_000, 21)
	for _, alg := range algorithms {
		s.check("checksum "+alg+" (trailer)", func() error {
			info, err := s.putRead("small-"+alg, small, int64(len(small)), minio.PutObjectOptions{Checksum: minioChecksums[alg]})
			if err != nil {
				return err
			}
			return expectChecksum(alg, info.Headers.Get("x-amz-checksum-"+strings.ToLower(alg)), info.Headers.Get("x-amz-checksum-type"),
				checksumOf(alg, small), "FULL_OBJECT")
		})
	}
	big := payload(12<<20, 22)
	multipart := []struct {
		alg  string
		ct   minio.ChecksumType
		full bool
	}{
		{"CRC32", minio.ChecksumCRC32, false}, {"CRC32C", minio.ChecksumCRC32C, false}, {"SHA1", minio.ChecksumSHA1, false},
		{"SHA256", minio.ChecksumSHA256, false}, {"CRC32", minio.ChecksumFullObjectCRC32, true},
		{"CRC32C", minio.ChecksumFullObjectCRC32C, true}, {"CRC64NVME", minio.ChecksumCRC64NVME, true},
	}
	for _, mp := range multipart {
		typ, want := "COMPOSITE", compositeOf(mp.alg, big, 5<<20)
		if mp.full {
			typ, want = "FULL_OBJECT", checksumOf(mp.alg, big)
		}
		s.check(fmt.Sprintf("multipart %s %s", typ, mp.alg), func() error {
			info, err := s.putRead("mp-"+typ+"-"+mp.alg, big, int64(len(big)), minio.PutObjectOptions{Checksum: mp.ct, PartSize: 5 << 20})
			if err != nil {
				return err
			}
			return expectChecksum(mp.alg, info.Headers.Get("x-amz-checksum-"+strings.ToLower(mp.alg)), info.Headers.Get("x-amz-checksum-type"), want, typ)
		})
	}
	for _, size := range []int64{1 << 20, 17 << 20} {
		if size > s.t.maxSize {
			continue
		}
		data := payload(size, 23)
		s.check("stream put+get "+sizeName(size)+" (CRC32C parts)", func() error {
			info, err := s.putRead("stream-"+sizeName(size), data, -1, minio.PutObjectOptions{})
			if err != nil {
				return err
			}
			return expectChecksum("CRC32C", info.ChecksumCRC32C, info.Headers.Get("x-amz-checksum-type"), compositeOf("CRC32C", data, len(data)), "COMPOSITE")
		})
	}
}

// minioSigV2: minio-go with Signature Version 2 credentials.
func minioSigV2(s *minioSuite) {
	s.makeBucket("")
	for _, size := range []int64{1 << 20, 17 << 20} {
		if size > s.t.maxSize {
			continue
		}
		data := payload(size, 31)
		s.check("put+get "+sizeName(size), func() error {
			_, err := s.putRead("v2-"+sizeName(size), data, size, minio.PutObjectOptions{})
			return err
		})
	}
	data := payload(1<<20, 31)
	s.check("presigned GET", func() error {
		u, err := s.c.PresignedGetObject(s.ctx, s.bucket, "v2-1MiB", time.Minute, nil)
		if err != nil {
			return err
		}
		if !strings.Contains(u.RawQuery, "AWSAccessKeyId=") {
			return fmt.Errorf("not a SigV2 URL: %s", u)
		}
		return httpGet(s.ctx, u.String(), data)
	})
	s.check("multi-object delete", func() error { return s.removeObjects() })
}

// minioRegion: a client configured for another region than the server's.
func minioRegion(s *minioSuite) {
	s.makeBucket("eu-central-1")
	data := payload(1<<20, 41)
	s.check("put+get 1MiB", func() error {
		_, err := s.putRead("k", data, int64(len(data)), minio.PutObjectOptions{})
		return err
	})
	s.check("bucket location", func() error {
		plain, err := newMinio(s.t, minio.Options{})
		if err != nil {
			return err
		}
		loc, err := plain.GetBucketLocation(s.ctx, s.bucket)
		if err != nil {
			return err
		}
		if loc != "eu-central-1" {
			return fmt.Errorf("GetBucketLocation %q", loc)
		}
		return nil
	})
}

// httpDo sends a request to a presigned URL and returns the status and body.
func httpDo(ctx context.Context, method, u string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	return resp.StatusCode, got, err
}

func httpPut(ctx context.Context, u string, data []byte) error {
	status, body, err := httpDo(ctx, http.MethodPut, u, data)
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("presigned PUT: %d %s", status, body)
	}
	return err
}

func httpGet(ctx context.Context, u string, want []byte) error {
	status, got, err := httpDo(ctx, http.MethodGet, u, nil)
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("presigned GET: %d %s", status, got)
	}
	if err != nil {
		return err
	}
	return sameBytes("presigned GET", got, want)
}
