package sigv4

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"
)

// BenchmarkVerifyHeader measures header authentication of a bodiless GET (the per-request
// fixed cost: parse, canonical request, key derivation, HMACs).
func BenchmarkVerifyHeader(b *testing.B) {
	c := clientReq(b, http.MethodGet, "http://s3.test/bucket/some/key.txt?versionId=3", nil)
	sdkSign(b, c, UnsignedPayload, testSK, testRegion, testNow)
	v := testVerifier()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(serverReq(b, c, nil)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBody measures decoding and verifying a 1 MiB payload in each mode.
func BenchmarkBody(b *testing.B) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	crc, _ := ChecksumOf(ChecksumCRC32, data)
	for _, mode := range []string{"sha256", UnsignedPayload, StreamingSignedPayload, StreamingUnsignedPayloadTrailer} {
		b.Run("mode="+mode, func(b *testing.B) {
			var extra http.Header
			build := func(seed string) []byte { return nil }
			switch mode {
			case StreamingSignedPayload:
				build = func(seed string) []byte {
					return encodeChunked(data, encodeOpts{chunk: 64 << 10, signer: newChunkSigner(testSK, testRegion, testNow, seed)})
				}
			case StreamingUnsignedPayloadTrailer:
				extra = http.Header{"X-Amz-Trailer": {"x-amz-checksum-crc32"}}
				build = func(string) []byte {
					return encodeChunked(data, encodeOpts{chunk: 64 << 10, trailers: []string{"x-amz-checksum-crc32:" + crc}})
				}
			}
			var body []byte
			var tmpl *http.Request
			if mode == "sha256" || mode == UnsignedPayload {
				hash := UnsignedPayload
				if mode == "sha256" {
					hash = hexSHA(data)
				}
				tmpl = clientReq(b, http.MethodPut, "http://s3.test/b/k", data)
				sdkSign(b, tmpl, hash, testSK, testRegion, testNow)
				body = data
			} else {
				tmpl = clientReq(b, http.MethodPut, "http://s3.test/b/k", nil)
				tmpl.Header.Set("Content-Encoding", "aws-chunked")
				tmpl.Header.Set("X-Amz-Decoded-Content-Length", fmt.Sprint(len(data)))
				for k, v := range extra {
					tmpl.Header[k] = v
				}
				sdkSign(b, tmpl, mode, testSK, testRegion, testNow)
				body = build(seedOf(b, tmpl))
				tmpl.ContentLength = int64(len(body))
			}
			v := testVerifier()
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				res, err := v.Verify(serverReq(b, tmpl, bytes.NewReader(body)))
				if err != nil {
					b.Fatal(err)
				}
				if n, err := io.Copy(io.Discard, res.Body); err != nil || n != int64(len(data)) {
					b.Fatal(n, err)
				}
			}
		})
	}
}
