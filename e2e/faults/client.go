package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// s3client talks to one node's S3 port. Requests are never retried (MaxRetries 1): a retried
// write could take effect twice, at times the history cannot show, and a history that lies is
// worse than a failed operation.
type s3client struct {
	node   int
	bucket string
	mc     *minio.Client
	core   minio.Core
	tr     *http.Transport
}

func newS3Client(node int, addr, bucket, accessKey, secretKey string) (*s3client, error) {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     30 * time.Second,
	}
	mc, err := minio.New(addr, &minio.Options{
		Creds:        credentials.NewStaticV4(accessKey, secretKey, ""),
		Region:       "us-east-1",
		BucketLookup: minio.BucketLookupPath,
		Transport:    tr,
		MaxRetries:   1,
	})
	if err != nil {
		return nil, err
	}
	return &s3client{node: node, bucket: bucket, mc: mc, core: minio.Core{Client: mc}, tr: tr}, nil
}

// classify maps a client error to an outcome, with the S3 error code if there is one.
func classify(err error) (outcome, string) {
	if err == nil {
		return ok, ""
	}
	var er minio.ErrorResponse
	if errors.As(err, &er) && er.StatusCode != 0 {
		switch {
		case er.StatusCode == http.StatusRequestTimeout, er.Code == "RequestTimeout":
			return unknown, er.Code // a body cut off: nothing should commit, but do not rely on it
		case er.StatusCode >= 400 && er.StatusCode < 500:
			return failed, er.Code
		default:
			return unknown, er.Code
		}
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return failed, "" // refused or unreachable: the request was never sent
	}
	return unknown, ""
}

// put writes version of key as one PutObject.
func (c *s3client) put(ctx context.Context, key, version string, size int) error {
	data := makeValue(key, version, size)
	_, err := c.mc.PutObject(ctx, c.bucket, key, bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{DisableMultipart: true, ContentType: "application/octet-stream"})
	return err
}

// multipartPartSize is S3's minimum size of every part but the last.
const multipartPartSize = 5 << 20

// multipart writes version of key as a two-part upload: 5 MiB, then the rest. It returns
// sent=false when the upload was never completed (an earlier step failed: the object cannot
// appear), after aborting it.
func (c *s3client) multipart(ctx context.Context, key, version string, size int) (sent bool, err error) {
	data := makeValue(key, version, size)
	id, err := c.core.NewMultipartUpload(ctx, c.bucket, key, minio.PutObjectOptions{})
	if err != nil {
		return false, err
	}
	var parts []minio.CompletePart
	for n, off := 1, 0; off < len(data); n++ {
		end := min(off+multipartPartSize, len(data))
		p, err := c.core.PutObjectPart(ctx, c.bucket, key, id, n, bytes.NewReader(data[off:end]), int64(end-off), minio.PutObjectPartOptions{})
		if err != nil {
			actx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = c.core.AbortMultipartUpload(actx, c.bucket, key, id)
			cancel()
			return false, err
		}
		parts = append(parts, minio.CompletePart{PartNumber: n, ETag: p.ETag})
		off = end
	}
	_, err = c.core.CompleteMultipartUpload(ctx, c.bucket, key, id, parts, minio.PutObjectOptions{})
	return true, err
}

// get reads key. found=false means NoSuchKey; corrupt is set when the bytes are not a value
// this suite wrote for key (version is then whatever the header claimed).
func (c *s3client) get(ctx context.Context, key string) (version string, found bool, corrupt error, err error) {
	rc, _, _, err := c.core.GetObject(ctx, c.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return "", false, nil, nil
		}
		return "", false, nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return "", false, nil, fmt.Errorf("reading the body: %w", err)
	}
	version, corrupt = checkValue(key, data)
	return version, true, corrupt, nil
}

func (c *s3client) del(ctx context.Context, key string) error {
	return c.mc.RemoveObject(ctx, c.bucket, key, minio.RemoveObjectOptions{})
}

// list returns every key under prefix (all pages).
func (c *s3client) list(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	for o := range c.mc.ListObjects(ctx, c.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, o.Err
		}
		keys = append(keys, o.Key)
	}
	return keys, nil
}

func (c *s3client) makeBucket(ctx context.Context) error {
	err := c.mc.MakeBucket(ctx, c.bucket, minio.MakeBucketOptions{})
	if code := minio.ToErrorResponse(err).Code; code == "BucketAlreadyOwnedByYou" {
		return nil
	}
	return err
}

// closeIdle drops kept-alive connections, so that the servers' goroutine and descriptor counts
// are not inflated by this client.
func (c *s3client) closeIdle() { c.tr.CloseIdleConnections() }
