package sigv4

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/signer"
)

// sha256Hasher adapts crypto/sha256 to the md5simd.Hasher minio-go's streaming signer takes.
type sha256Hasher struct{ hashWriter }

type hashWriter interface {
	io.Writer
	Sum([]byte) []byte
	Reset()
	Size() int
	BlockSize() int
}

func (sha256Hasher) Close() {}

// TestMinioStreamingSignedTrailer verifies bodies produced by minio-go's own streaming signer
// (STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER): its trailer lines end in a bare LF and an
// empty line comes before x-amz-trailer-signature, which the strict CRLF reader refused
// ("line not terminated by CRLF").
func TestMinioStreamingSignedTrailer(t *testing.T) {
	for _, size := range []int{0, 1, 65536, 200_000} {
		for _, alg := range ChecksumAlgorithms {
			t.Run(fmt.Sprintf("%s/%d", alg, size), func(t *testing.T) {
				data := bytes.Repeat([]byte{'m'}, size)
				sum, _ := ChecksumOf(alg, data)
				cr := clientReq(t, http.MethodPut, "http://s3.test/b/k", data)
				cr.Trailer = http.Header{alg.HeaderName(): {sum}}
				at := time.Now().UTC()
				signed := signer.StreamingSignV4(cr, testAK, testSK, "", testRegion, int64(size), at, sha256Hasher{sha256.New()})
				body, err := io.ReadAll(signed.Body)
				if err != nil {
					t.Fatal(err)
				}
				if int64(len(body)) != signed.ContentLength && size > 0 {
					t.Fatalf("minio-go wrote %d bytes, announced %d", len(body), signed.ContentLength)
				}
				signed.ContentLength = int64(len(body)) // minio-go announces 0 for an empty payload
				v := &Verifier{Store: NewStaticStore(Credentials{AccessKey: testAK, SecretKey: testSK})}
				res, err := v.Verify(serverReq(t, signed, bytes.NewReader(body)))
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(res.Body)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("decoded %d bytes, %v", len(got), err)
				}
				if ck, ok := res.Checksum(); !ok || ck.Value != sum || !ck.Trailer {
					t.Fatalf("checksum %+v %v", ck, ok)
				}
			})
		}
	}
}

// TestLooseTrailerLayouts pins which trailer layouts are read: the AWS SDKs' CRLF lines and
// minio-go's LF lines followed by two CRLFs (unsigned) or an empty line before the signature
// (signed); anything after the end of the body is refused.
func TestLooseTrailerLayouts(t *testing.T) {
	data := bytes.Repeat([]byte("abc"), 30000)
	crc, _ := ChecksumOf(ChecksumCRC32C, data)
	line := "x-amz-checksum-crc32c:" + crc
	trailerHdr := http.Header{"X-Amz-Trailer": {"x-amz-checksum-crc32c"}}
	// chunks encodes data as unsigned or signed chunks, the final chunk's header included.
	chunks := func(s *chunkSigner) []byte {
		b := encodeChunked(data, encodeOpts{chunk: 65536, signer: s, noFinal: true})
		if s == nil {
			return append(b, "0\r\n"...)
		}
		return append(b, "0;chunk-signature="+s.sign(nil)+"\r\n"...)
	}
	cases := []struct {
		name   string
		signed bool
		tail   func(s *chunkSigner) string
		want   error
	}{
		{"unsigned CRLF", false, func(*chunkSigner) string { return line + "\r\n\r\n" }, nil},
		{"unsigned minio-go", false, func(*chunkSigner) string { return line + "\n\r\n\r\n" }, nil},
		{"unsigned LF only", false, func(*chunkSigner) string { return line + "\n\n" }, nil},
		{"unsigned garbage after end", false, func(*chunkSigner) string { return line + "\r\n\r\nxyz" }, ErrMalformedChunk},
		{"unsigned two extra CRLFs", false, func(*chunkSigner) string { return line + "\r\n\r\n\r\n\r\n" }, ErrMalformedChunk},
		{"signed CRLF", true, func(s *chunkSigner) string {
			return line + "\r\nx-amz-trailer-signature:" + s.signTrailer(line+"\n") + "\r\n\r\n"
		}, nil},
		{"signed minio-go", true, func(s *chunkSigner) string {
			return line + "\n\r\nx-amz-trailer-signature:" + s.signTrailer(line+"\n") + "\r\n\r\n"
		}, nil},
		{"signed, signature missing", true, func(*chunkSigner) string { return line + "\n\r\n\r\n" }, ErrMalformedChunk},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mode := StreamingUnsignedPayloadTrailer
			if c.signed {
				mode = StreamingSignedPayloadTrailer
			}
			sr := streamingReq(t, mode, data, trailerHdr, func(seed string) []byte {
				var s *chunkSigner
				if c.signed {
					s = newChunkSigner(testSK, testRegion, testNow, seed)
				}
				return append(chunks(s), c.tail(s)...)
			})
			res, err := testVerifier().Verify(sr)
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(t, res, 8191)
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("body err = %v, want %v", err, c.want)
			}
			if err == nil && !bytes.Equal(got, data) {
				t.Fatal("decoded data differs")
			}
		})
	}
}
