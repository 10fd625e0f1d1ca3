package s3

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/nebulaio/nebulaio/httpapi/sigv4"
)

func hmacSHA(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

func hexSHA(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// signedChunkedPut sends data as STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER] in chunks of
// chunkSize, each chunk signed in the chain started by the request's seed signature. With
// crc32c set, a signed x-amz-checksum-crc32c trailer follows. corruptChunk ≥ 0 damages that
// chunk's signature.
func signedChunkedPut(t *testing.T, base, path string, data []byte, chunkSize int, crc32c string, corruptChunk int) *http.Response {
	t.Helper()
	mode := "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	if crc32c != "" {
		mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	}
	now := time.Now().UTC()
	amzDate := now.Format("20060102T150405Z")
	scope := now.Format("20060102") + "/" + testRegion + "/s3/aws4_request"
	key := hmacSHA(hmacSHA(hmacSHA(hmacSHA([]byte("AWS4"+testSK), now.Format("20060102")), testRegion), "s3"), "aws4_request")

	req, err := http.NewRequest(http.MethodPut, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Content-Sha256", mode)
	req.Header.Set("X-Amz-Decoded-Content-Length", fmt.Sprint(len(data)))
	req.Header.Set("Content-Encoding", "aws-chunked")
	if crc32c != "" {
		req.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32c")
	}
	// The body length must be known before signing; build the frames with placeholder
	// signatures (same length), sign the request, then fill the signatures in.
	var chunks [][]byte
	for off := 0; off < len(data); off += chunkSize {
		chunks = append(chunks, data[off:min(off+chunkSize, len(data))])
	}
	chunks = append(chunks, nil)
	size := 0
	for _, c := range chunks {
		size += len(fmt.Sprintf("%x;chunk-signature=", len(c))) + 64 + 2 + len(c) + 2
	}
	var trailer string
	if crc32c != "" {
		trailer = "x-amz-checksum-crc32c:" + crc32c + "\n"
		size += -2 + len("x-amz-checksum-crc32c:"+crc32c+"\r\n") + len("x-amz-trailer-signature:") + 64 + 2 + 2
	}
	req.ContentLength = int64(size)
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err := signer.SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testAK, SecretAccessKey: testSK}, req, mode, "s3", testRegion, now); err != nil {
		t.Fatal(err)
	}
	authz := req.Header.Get("Authorization")
	prev := authz[strings.Index(authz, "Signature=")+len("Signature="):]
	var body bytes.Buffer
	for i, c := range chunks {
		sts := strings.Join([]string{"AWS4-HMAC-SHA256-PAYLOAD", amzDate, scope, prev, hexSHA(nil), hexSHA(c)}, "\n")
		sig := hex.EncodeToString(hmacSHA(key, sts))
		prev = sig
		if i == corruptChunk {
			sig = strings.Repeat("0", 64)
		}
		fmt.Fprintf(&body, "%x;chunk-signature=%s\r\n", len(c), sig)
		body.Write(c)
		if len(c) > 0 || crc32c == "" {
			body.WriteString("\r\n")
		}
	}
	if crc32c != "" {
		body.WriteString(strings.ReplaceAll(trailer, "\n", "\r\n"))
		sts := strings.Join([]string{"AWS4-HMAC-SHA256-TRAILER", amzDate, scope, prev, hexSHA([]byte(trailer))}, "\n")
		fmt.Fprintf(&body, "x-amz-trailer-signature:%s\r\n\r\n", hex.EncodeToString(hmacSHA(key, sts)))
	}
	if body.Len() != size {
		t.Fatalf("framing: built %d bytes, declared %d", body.Len(), size)
	}
	req.Body = io.NopCloser(&body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestSignedStreamingUpload(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	c := n.client()
	mustCreateBucket(t, c, "stream")
	data := randBytes(200_000, 77)
	crc, _ := sigv4.ChecksumOf(sigv4.ChecksumCRC32C, data)

	for _, tc := range []struct {
		name, key, crc string
		corrupt        int
		status         int
	}{
		{"signed chunks", "signed", "", -1, http.StatusOK},
		{"signed chunks and trailer", "trailer", crc, -1, http.StatusOK},
		{"bad chunk signature", "badchunk", "", 1, http.StatusForbidden},
		{"bad final chunk signature", "badfinal", "", 4, http.StatusForbidden},
		{"wrong trailer checksum", "badcrc", "AAAAAA==", -1, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := signedChunkedPut(t, n.srv.URL, "/stream/"+tc.key, data, 64<<10, tc.crc, tc.corrupt)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, b, tc.status)
			}
			if tc.status == http.StatusOK {
				if got := mustGet(t, c, "stream", tc.key); !bytes.Equal(got, data) {
					t.Fatal("streamed object differs")
				}
			} else if _, err := n.fsm.Object("stream", tc.key); err == nil {
				t.Fatal("a refused streaming upload left an object")
			}
		})
	}
	if got := n.blobCount(); got != 2 {
		t.Fatalf("%d blobs, want 2 (refused uploads leave none)", got)
	}
}
