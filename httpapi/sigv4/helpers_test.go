package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	testAK     = "AKIAIOSFODNN7EXAMPLE"
	testSK     = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	testRegion = "us-east-1"
)

var testNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func testVerifier() *Verifier {
	return &Verifier{
		Store: NewStaticStore(Credentials{AccessKey: testAK, SecretKey: testSK}),
		Now:   func() time.Time { return testNow },
	}
}

func creds(sk string) aws.Credentials {
	return aws.Credentials{AccessKeyID: testAK, SecretAccessKey: sk}
}

func hexSHA(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// clientReq builds a client-side request for target ("http://host/path?query").
func clientReq(t testing.TB, method, target string, body []byte) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == nil {
		r.Body = http.NoBody
		r.ContentLength = 0
	}
	return r
}

// sdkSign signs r with the real AWS SDK signer the way the S3 client does (no path
// re-escaping), setting x-amz-content-sha256 first.
func sdkSign(t testing.TB, r *http.Request, payloadHash, sk, region string, at time.Time) {
	t.Helper()
	r.Header.Set("X-Amz-Content-Sha256", payloadHash)
	err := v4.NewSigner().SignHTTP(context.Background(), creds(sk), r, payloadHash, "s3", region, at,
		func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err != nil {
		t.Fatal(err)
	}
}

// sdkPresign returns a presigned URL for r valid for expires.
func sdkPresign(t testing.TB, r *http.Request, sk, region string, at time.Time, expires time.Duration) string {
	t.Helper()
	q := r.URL.Query()
	q.Set("X-Amz-Expires", fmt.Sprint(int64(expires/time.Second)))
	r.URL.RawQuery = q.Encode()
	u, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds(sk), r, UnsignedPayload, "s3", region, at,
		func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// serverReq turns a signed client request into what net/http hands a handler.
func serverReq(t testing.TB, c *http.Request, body io.Reader) *http.Request {
	t.Helper()
	s := httptest.NewRequest(c.Method, c.URL.String(), body)
	s.Host = c.Host
	if s.Host == "" {
		s.Host = c.URL.Host
	}
	for k, v := range c.Header {
		s.Header[k] = append([]string(nil), v...)
	}
	s.ContentLength = c.ContentLength
	return s
}

// chunkSigner produces aws-chunked bodies the way the AWS documentation describes, for
// building valid and deliberately damaged streaming uploads.
type chunkSigner struct {
	key   []byte
	scope string
	t     time.Time
	prev  string
}

func newChunkSigner(sk, region string, at time.Time, seed string) *chunkSigner {
	return &chunkSigner{
		key:   signingKey(sk, at, region, "s3"),
		scope: at.UTC().Format(scopeDateLayout) + "/" + region + "/s3/aws4_request",
		t:     at, prev: seed,
	}
}

func (c *chunkSigner) sign(data []byte) string {
	sts := stringToSign(algorithmPayload, c.t, c.scope, c.prev, emptySHA256, hexSHA(data))
	c.prev = signHex(c.key, sts)
	return c.prev
}

func (c *chunkSigner) signTrailer(lines string) string {
	sts := stringToSign(algorithmTrailer, c.t, c.scope, c.prev, sha256Hex(lines))
	return signHex(c.key, sts)
}

// encodeOpts controls encodeChunked.
type encodeOpts struct {
	chunk    int
	signer   *chunkSigner // nil: unsigned chunks
	trailers []string     // "name:value" lines; empty: no trailer section
	noFinal  bool         // omit the final zero chunk (a truncated upload)
}

func encodeChunked(data []byte, o encodeOpts) []byte {
	var b bytes.Buffer
	writeChunk := func(p []byte) {
		fmt.Fprintf(&b, "%x", len(p))
		if o.signer != nil {
			fmt.Fprintf(&b, ";chunk-signature=%s", o.signer.sign(p))
		}
		b.WriteString("\r\n")
		b.Write(p)
		if len(p) > 0 {
			b.WriteString("\r\n")
		}
	}
	for off := 0; off < len(data); off += o.chunk {
		writeChunk(data[off:min(off+o.chunk, len(data))])
	}
	if o.noFinal {
		return b.Bytes()
	}
	writeChunk(nil)
	if o.trailers == nil {
		b.WriteString("\r\n")
		return b.Bytes()
	}
	var signedPart strings.Builder
	for _, l := range o.trailers {
		b.WriteString(l + "\r\n")
		signedPart.WriteString(l + "\n")
	}
	if o.signer != nil {
		b.WriteString("x-amz-trailer-signature:" + o.signer.signTrailer(signedPart.String()) + "\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// streamingReq builds a signed streaming upload: headers signed with the SDK signer using the
// streaming payload mode, body produced by encode with the resulting seed signature.
func streamingReq(t testing.TB, mode string, data []byte, extra http.Header, encode func(seed string) []byte) *http.Request {
	t.Helper()
	c := clientReq(t, http.MethodPut, "http://s3.test/bucket/key", nil)
	c.Header.Set("Content-Encoding", "aws-chunked")
	c.Header.Set("X-Amz-Decoded-Content-Length", fmt.Sprint(len(data)))
	for k, v := range extra {
		c.Header[k] = v
	}
	if c.Header.Get("X-Amz-Decoded-Content-Length") == "" {
		c.Header.Del("X-Amz-Decoded-Content-Length") // a case that omits it passes {""}
	}
	sdkSign(t, c, mode, testSK, testRegion, testNow)
	seed := seedOf(t, c)
	body := encode(seed)
	c.ContentLength = int64(len(body))
	return serverReq(t, c, bytes.NewReader(body))
}

func seedOf(t testing.TB, c *http.Request) string {
	t.Helper()
	h := c.Header.Get("Authorization")
	i := strings.Index(h, "Signature=")
	if i < 0 {
		t.Fatalf("no signature in %q", h)
	}
	return h[i+len("Signature="):]
}
