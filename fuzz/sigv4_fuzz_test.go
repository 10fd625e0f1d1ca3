package fuzz

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/nebulaio/nebulaio/httpapi/sigv4"
)

const (
	fzAK = "AKIDFUZZ"
	fzSK = "fuzz-secret-key"
)

var fzTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func fzVerifier() *sigv4.Verifier {
	return &sigv4.Verifier{
		Store: sigv4.NewStaticStore(sigv4.Credentials{AccessKey: fzAK, SecretKey: fzSK}),
		Now:   func() time.Time { return fzTime },
	}
}

// fzSigned returns a header-signed GET and its Authorization value, and a presigned URL's
// raw query, both for http://s3.fuzz/b/k.
func fzSigned(tb testing.TB) (authz, presignQuery string) {
	r, _ := http.NewRequest(http.MethodGet, "http://s3.fuzz/b/k", nil)
	r.Header.Set("X-Amz-Content-Sha256", sigv4.UnsignedPayload)
	c := aws.Credentials{AccessKeyID: fzAK, SecretAccessKey: fzSK}
	if err := v4.NewSigner().SignHTTP(context.Background(), c, r, sigv4.UnsignedPayload, "s3", "us-east-1", fzTime); err != nil {
		tb.Fatal(err)
	}
	p, _ := http.NewRequest(http.MethodGet, "http://s3.fuzz/b/k?X-Amz-Expires=600", nil)
	u, _, err := v4.NewSigner().PresignHTTP(context.Background(), c, p, sigv4.UnsignedPayload, "s3", "us-east-1", fzTime)
	if err != nil {
		tb.Fatal(err)
	}
	_, q, _ := strings.Cut(u, "?")
	return r.Header.Get("Authorization"), q
}

// chunk signing, written independently of the package under test.
func hm(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

func hx(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

const fzData = "The quick brown fox jumps over the lazy dog, twice: the quick brown fox jumps over the lazy dog."

// fzStreaming builds the headers of a signed streaming upload with a crc32 trailer, and a valid
// body for fzData in 40-byte chunks.
func fzStreaming(tb testing.TB) (http.Header, []byte) {
	r, _ := http.NewRequest(http.MethodPut, "http://s3.fuzz/b/stream", nil)
	r.Header.Set("X-Amz-Content-Sha256", sigv4.StreamingSignedPayloadTrailer)
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("X-Amz-Decoded-Content-Length", fmt.Sprint(len(fzData)))
	r.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
	c := aws.Credentials{AccessKeyID: fzAK, SecretAccessKey: fzSK}
	if err := v4.NewSigner().SignHTTP(context.Background(), c, r, sigv4.StreamingSignedPayloadTrailer, "s3", "us-east-1", fzTime); err != nil {
		tb.Fatal(err)
	}
	authz := r.Header.Get("Authorization")
	prev := authz[strings.Index(authz, "Signature=")+len("Signature="):]
	key := hm([]byte("AWS4"+fzSK), "20260102")
	key = hm(hm(hm(key, "us-east-1"), "s3"), "aws4_request")
	scope := "20260102/us-east-1/s3/aws4_request"
	ts := fzTime.Format("20060102T150405Z")
	var b bytes.Buffer
	emit := func(p []byte) {
		sts := "AWS4-HMAC-SHA256-PAYLOAD\n" + ts + "\n" + scope + "\n" + prev + "\n" + hx(nil) + "\n" + hx(p)
		prev = hex.EncodeToString(hm(key, sts))
		fmt.Fprintf(&b, "%x;chunk-signature=%s\r\n", len(p), prev)
		if len(p) > 0 {
			b.Write(p)
			b.WriteString("\r\n")
		}
	}
	for off := 0; off < len(fzData); off += 40 {
		emit([]byte(fzData[off:min(off+40, len(fzData))]))
	}
	emit(nil)
	crc, _ := sigv4.ChecksumOf(sigv4.ChecksumCRC32, []byte(fzData))
	trailer := "x-amz-checksum-crc32:" + crc + "\n"
	sts := "AWS4-HMAC-SHA256-TRAILER\n" + ts + "\n" + scope + "\n" + prev + "\n" + hx([]byte(trailer))
	fmt.Fprintf(&b, "x-amz-checksum-crc32:%s\r\nx-amz-trailer-signature:%s\r\n\r\n", crc, hex.EncodeToString(hm(key, sts)))
	return r.Header, b.Bytes()
}

// FuzzSigV4Parse drives the Authorization-header parser, the presigned-query parser and the
// aws-chunked decoder with arbitrary input. Properties: nothing panics; every rejection is an
// *sigv4.Error; a request is only accepted if it carries the one valid signature the seed
// holds (the fuzzer cannot forge an HMAC); a streamed body is only accepted if it decodes to
// exactly the signed data.
func FuzzSigV4Parse(f *testing.F) {
	authz, query := fzSigned(f)
	hdr, body := fzStreaming(f)
	validSig := authz[strings.Index(authz, "Signature=")+len("Signature="):]
	presignSig := query[strings.Index(query, "X-Amz-Signature=")+len("X-Amz-Signature="):]

	f.Add(authz, "", []byte(nil))
	f.Add("", query, []byte(nil))
	f.Add("", "", body)
	f.Add(strings.Replace(authz, ", ", ",", -1), "", body[:len(body)/2])
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/e,SignedHeaders=host,Signature=00", "X-Amz-Algorithm=AWS4-HMAC-SHA256", []byte("0\r\n\r\n"))

	f.Fuzz(func(t *testing.T, authzIn, queryIn string, bodyIn []byte) {
		if _, _, err := sigv4.ParseAuthorization(authzIn); err != nil {
			var se *sigv4.Error
			if !errors.As(err, &se) {
				t.Fatalf("parse error is not *Error: %v", err)
			}
		}
		// Header or query auth on a fixed GET.
		r := httptest.NewRequest(http.MethodGet, "http://s3.fuzz/b/k", nil)
		r.URL.RawQuery = queryIn
		r.Header.Set("X-Amz-Content-Sha256", sigv4.UnsignedPayload)
		r.Header.Set("X-Amz-Date", fzTime.Format("20060102T150405Z"))
		if authzIn != "" {
			r.Header.Set("Authorization", authzIn)
		}
		res, err := fzVerifier().Verify(r)
		if err == nil {
			if !strings.Contains(authzIn, validSig) && !strings.Contains(queryIn, presignSig) {
				t.Fatalf("accepted a request without the valid signature: authz=%q query=%q", authzIn, queryIn)
			}
			if _, err := io.Copy(io.Discard, res.Body); err != nil {
				t.Fatalf("empty body: %v", err)
			}
		} else {
			var se *sigv4.Error
			if !errors.As(err, &se) || se.HTTPStatus() < 400 {
				t.Fatalf("rejection is not an S3 error: %v", err)
			}
		}

		// The signed streaming upload with a fuzzed body.
		s := httptest.NewRequest(http.MethodPut, "http://s3.fuzz/b/stream", bytes.NewReader(bodyIn))
		for k, v := range hdr {
			s.Header[k] = v
		}
		res, err = fzVerifier().Verify(s)
		if err != nil {
			t.Fatalf("streaming headers rejected: %v", err)
		}
		got, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		if err == nil {
			if string(got) != fzData {
				t.Fatalf("accepted a body decoding to %q", got)
			}
			if ck, ok := res.Checksum(); !ok || ck.Algorithm != sigv4.ChecksumCRC32 {
				t.Fatalf("accepted body without its checksum: %+v", ck)
			}
		} else {
			var se *sigv4.Error
			if !errors.As(err, &se) {
				t.Fatalf("body error is not an S3 error: %v", err)
			}
		}
	})
}
