package sigv4

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/signer"
)

// TestSigV2KnownAnswer checks the string to sign against the example of the S3 documentation
// ("Authenticating Requests (AWS Signature Version 2)", GET of an object in a virtual-hosted
// bucket), which uses the same example credentials as testAK/testSK.
func TestSigV2KnownAnswer(t *testing.T) {
	at := time.Date(2007, 3, 27, 19, 36, 42, 0, time.UTC)
	r, _ := http.NewRequest(http.MethodGet, "http://johnsmith.s3.amazonaws.com/photos/puppy.jpg", nil)
	r.Header.Set("Date", "Tue, 27 Mar 2007 19:36:42 +0000")
	r.Header.Set("Authorization", "AWS "+testAK+":bWq2s1WEIj+Ydj0vQ697zp+IXMU=")
	v := testVerifier()
	v.Now = func() time.Time { return at }
	res, err := v.VerifyWith(serverReq(t, r, nil), VerifyOptions{VirtualHostBucket: "johnsmith"})
	if err != nil {
		t.Fatal(err)
	}
	if res.SignatureVersion != 2 || res.AccessKey != testAK || !res.SignedAt.Equal(at) {
		t.Fatalf("result %+v", res)
	}
}

// TestSigV2 drives the verifier with minio-go's SigV2 signer (header and presigned).
func TestSigV2(t *testing.T) {
	body := []byte("hello sigv2")
	type tc struct {
		name    string
		method  string
		url     string
		hdr     http.Header
		vhost   string // bucket of a virtual-hosted-style request ("" path style)
		presign time.Duration
		sk      string
		disable bool
		edit    func(r *http.Request)
		want    error
	}
	cases := []tc{
		{name: "GET object", method: "GET", url: "http://s3.test/b/k"},
		{name: "PUT with metadata, MD5 and type", method: "PUT", url: "http://s3.test/b/dir/k",
			hdr: http.Header{"Content-Md5": {"XUFAKrxLKna5cZ2REBfFkg=="}, "Content-Type": {"text/plain"},
				"X-Amz-Meta-Colour": {"blue"}, "X-Amz-Acl": {"private"}}},
		{name: "sub-resources", method: "GET", url: "http://s3.test/b/k?uploadId=u1&partNumber=2&response-content-type=a/b"},
		{name: "bucket location", method: "GET", url: "http://s3.test/b?location"},
		{name: "listing parameters are not signed", method: "GET", url: "http://s3.test/b?prefix=a/b&delimiter=/&max-keys=3"},
		{name: "key needing escapes", method: "GET", url: "http://s3.test/b/a%20b/%C3%BC+c"},
		{name: "virtual host", method: "GET", url: "http://b.s3.test/k", vhost: "b"},
		{name: "virtual host not told", method: "GET", url: "http://b.s3.test/k", edit: func(r *http.Request) {}, want: ErrSignatureDoesNotMatch, vhost: "-"},
		{name: "wrong secret", method: "GET", url: "http://s3.test/b/k", sk: "wrong", want: ErrSignatureDoesNotMatch},
		{name: "header added after signing", method: "GET", url: "http://s3.test/b/k",
			edit: func(r *http.Request) { r.Header.Set("X-Amz-Meta-Injected", "1") }, want: ErrSignatureDoesNotMatch},
		{name: "sub-resource added after signing", method: "GET", url: "http://s3.test/b/k",
			edit: func(r *http.Request) { r.URL.RawQuery = "acl" }, want: ErrSignatureDoesNotMatch},
		{name: "method changed", method: "GET", url: "http://s3.test/b/k",
			edit: func(r *http.Request) { r.Method = http.MethodDelete }, want: ErrSignatureDoesNotMatch},
		{name: "old date", method: "GET", url: "http://s3.test/b/k",
			hdr: http.Header{"Date": {time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)}}, want: ErrRequestTimeTooSkewed},
		{name: "no date", method: "GET", url: "http://s3.test/b/k",
			edit: func(r *http.Request) { r.Header.Del("Date") }, want: ErrMissingDate},
		{name: "unknown key", method: "GET", url: "http://s3.test/b/k",
			edit: func(r *http.Request) {
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), testAK, "NOPE", 1))
			}, want: ErrInvalidAccessKeyID},
		{name: "disabled", method: "GET", url: "http://s3.test/b/k", disable: true, want: ErrSigV2Disabled},
		{name: "presigned GET", method: "GET", url: "http://s3.test/b/k", presign: time.Hour},
		{name: "presigned PUT with sub-resource", method: "PUT", url: "http://s3.test/b/k?uploadId=u&partNumber=1", presign: time.Hour},
		{name: "presigned expired", method: "GET", url: "http://s3.test/b/k", presign: -time.Minute, want: ErrRequestExpired},
		{name: "presigned for another key", method: "GET", url: "http://s3.test/b/k", presign: time.Hour,
			edit: func(r *http.Request) { r.URL.Path = "/b/other" }, want: ErrSignatureDoesNotMatch},
		{name: "presigned disabled", method: "GET", url: "http://s3.test/b/k", presign: time.Hour, disable: true, want: ErrSigV2Disabled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var payload []byte
			if c.method == http.MethodPut {
				payload = body
			}
			cr := clientReq(t, c.method, c.url, payload)
			for k, v := range c.hdr {
				cr.Header[k] = v
			}
			sk := testSK
			if c.sk != "" {
				sk = c.sk
			}
			vhost := c.vhost != ""
			var signed *http.Request
			if c.presign != 0 {
				secs := int64(c.presign / time.Second)
				signed = signer.PreSignV2(*cr, testAK, sk, secs, vhost)
			} else {
				signed = signer.SignV2(*cr, testAK, sk, vhost)
			}
			sr := serverReq(t, signed, bytes.NewReader(payload))
			if c.edit != nil {
				c.edit(sr)
			}
			v := &Verifier{Store: NewStaticStore(Credentials{AccessKey: testAK, SecretKey: testSK}), DisableSigV2: c.disable}
			o := VerifyOptions{VirtualHostBucket: c.vhost}
			if c.vhost == "-" {
				o.VirtualHostBucket = ""
			}
			res, err := v.VerifyWith(sr, o)
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if err != nil {
				return
			}
			got, err := io.ReadAll(res.Body)
			if err != nil || !bytes.Equal(got, payload) {
				t.Fatalf("body %q, %v", got, err)
			}
			if res.SignatureVersion != 2 || res.AccessKey != testAK || res.Presigned != (c.presign != 0) || res.PayloadHash != UnsignedPayload {
				t.Fatalf("result %+v", res)
			}
		})
	}
}

// TestSigV2BodyChecks: a SigV2 request's payload is still checked against the checksums it
// declares, and aws-chunked (which needs SigV4 chunk signatures) is refused.
func TestSigV2BodyChecks(t *testing.T) {
	body := []byte("payload")
	good, _ := ChecksumOf(ChecksumCRC32C, body)
	bad, _ := ChecksumOf(ChecksumCRC32C, []byte("other"))
	for _, c := range []struct {
		name          string
		hdr           http.Header
		verify, bodyE error
	}{
		{"checksum ok", http.Header{"X-Amz-Checksum-Crc32c": {good}}, nil, nil},
		{"checksum mismatch", http.Header{"X-Amz-Checksum-Crc32c": {bad}}, nil, ErrBadDigest},
		{"sha256 mismatch", http.Header{"X-Amz-Content-Sha256": {hexSHA([]byte("x"))}}, nil, ErrContentSHA256Mismatch},
		{"streaming", http.Header{"X-Amz-Content-Sha256": {StreamingSignedPayload}}, ErrInvalidRequest, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			cr := clientReq(t, http.MethodPut, "http://s3.test/b/k", body)
			for k, v := range c.hdr {
				cr.Header[k] = v
			}
			sr := serverReq(t, signer.SignV2(*cr, testAK, testSK, false), bytes.NewReader(body))
			v := &Verifier{Store: NewStaticStore(Credentials{AccessKey: testAK, SecretKey: testSK})}
			res, err := v.Verify(sr)
			if !errors.Is(err, c.verify) || (c.verify == nil) != (err == nil) {
				t.Fatalf("Verify err = %v, want %v", err, c.verify)
			}
			if err != nil {
				return
			}
			if _, err := io.ReadAll(res.Body); !errors.Is(err, c.bodyE) || (c.bodyE == nil) != (err == nil) {
				t.Fatalf("body err = %v, want %v", err, c.bodyE)
			}
		})
	}
}
