package sigv4

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// captured is what the test server saw for the last authenticated request.
type captured struct {
	body     []byte
	payload  string
	checksum Checksum
	hasCS    bool
	presign  bool
}

// authServer verifies every request with a real-clock Verifier, drains Result.Body and
// answers 200, or an S3 XML error carrying the sigv4 error's code and status.
type authServer struct {
	mu   sync.Mutex
	last captured
	v    *Verifier
}

func (a *authServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	res, err := a.v.Verify(r)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(res.Body)
	}
	if err != nil {
		var se *Error
		if !errors.As(err, &se) {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(se.HTTPStatus())
		fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code><Message>%s</Message></Error>", se.Code(), se.Code())
		return
	}
	ck, ok := res.Checksum()
	a.mu.Lock()
	a.last = captured{body: body, payload: res.PayloadHash, checksum: ck, hasCS: ok, presign: res.Presigned}
	a.mu.Unlock()
	w.Header().Set("ETag", `"etag"`)
	if r.Method == http.MethodGet {
		w.Write([]byte("ok"))
	}
}

func (a *authServer) lastSeen() captured {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}

func sdkClient(srv *httptest.Server, sk string) *s3.Client {
	cfg := aws.Config{
		Region:      testRegion,
		Credentials: credentials.NewStaticCredentialsProvider(testAK, sk, ""),
		HTTPClient:  srv.Client(),
		// What config.LoadDefaultConfig sets: a CRC32 checksum on every upload.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(srv.URL)
		o.UsePathStyle = true
		o.Retryer = aws.NopRetryer{}
	})
}

// onlyReader hides Seek so the SDK must stream the body (aws-chunked with a trailer).
type onlyReader struct{ io.Reader }

func randomBytes(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func TestSDKPutObject(t *testing.T) {
	as := &authServer{v: &Verifier{Store: NewStaticStore(Credentials{testAK, testSK})}}
	tlsSrv := httptest.NewTLSServer(as)
	defer tlsSrv.Close()
	plainSrv := httptest.NewServer(as)
	defer plainSrv.Close()

	data := randomBytes(3<<20+12345, 7)
	cases := []struct {
		name     string
		srv      *httptest.Server
		alg      types.ChecksumAlgorithm
		seekable bool
		size     int
		wantMode string // "" means a hex digest
		wantAlg  ChecksumAlgorithm
	}{
		{name: "tls default seekable", srv: tlsSrv, seekable: true, size: len(data), wantMode: StreamingUnsignedPayloadTrailer, wantAlg: ChecksumCRC32},
		{name: "tls crc32c stream", srv: tlsSrv, alg: types.ChecksumAlgorithmCrc32c, size: len(data), wantMode: StreamingUnsignedPayloadTrailer, wantAlg: ChecksumCRC32C},
		{name: "tls crc64nvme stream", srv: tlsSrv, alg: types.ChecksumAlgorithmCrc64nvme, size: len(data), wantMode: StreamingUnsignedPayloadTrailer, wantAlg: ChecksumCRC64NVME},
		{name: "tls sha1 stream", srv: tlsSrv, alg: types.ChecksumAlgorithmSha1, size: 1000, wantMode: StreamingUnsignedPayloadTrailer, wantAlg: ChecksumSHA1},
		{name: "tls sha256 stream", srv: tlsSrv, alg: types.ChecksumAlgorithmSha256, size: 70000, wantMode: StreamingUnsignedPayloadTrailer, wantAlg: ChecksumSHA256},
		{name: "tls empty", srv: tlsSrv, seekable: true, size: 0, wantMode: UnsignedPayload, wantAlg: ChecksumCRC32},
		{name: "http seekable", srv: plainSrv, seekable: true, size: len(data), wantAlg: ChecksumCRC32},
		{name: "http crc64nvme", srv: plainSrv, alg: types.ChecksumAlgorithmCrc64nvme, seekable: true, size: 4096, wantAlg: ChecksumCRC64NVME},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			payload := data[:c.size]
			var body io.Reader = bytes.NewReader(payload)
			if !c.seekable {
				body = onlyReader{body}
			}
			in := &s3.PutObjectInput{
				Bucket: aws.String("bucket"), Key: aws.String("dir/obj ect+1.bin"),
				Body: body, ContentLength: aws.Int64(int64(len(payload))), ChecksumAlgorithm: c.alg,
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := sdkClient(c.srv, testSK).PutObject(ctx, in); err != nil {
				t.Fatalf("PutObject: %v", err)
			}
			got := as.lastSeen()
			if !bytes.Equal(got.body, payload) {
				t.Fatalf("decoded body differs: %d bytes, want %d", len(got.body), len(payload))
			}
			if c.wantMode != "" && got.payload != c.wantMode {
				t.Fatalf("payload mode %q, want %q", got.payload, c.wantMode)
			}
			if c.wantMode == "" && got.payload != hexSHA(payload) {
				t.Fatalf("payload hash %q, want the body's SHA-256", got.payload)
			}
			want, _ := ChecksumOf(c.wantAlg, payload)
			if !got.hasCS || got.checksum.Algorithm != c.wantAlg || got.checksum.Value != want {
				t.Fatalf("checksum %+v (present %v), want %s %s", got.checksum, got.hasCS, c.wantAlg, want)
			}
		})
	}

	t.Run("wrong secret", func(t *testing.T) {
		_, err := sdkClient(tlsSrv, "wrong").PutObject(context.Background(), &s3.PutObjectInput{
			Bucket: aws.String("bucket"), Key: aws.String("k"), Body: bytes.NewReader([]byte("x")),
		})
		var api smithy.APIError
		if !errors.As(err, &api) || api.ErrorCode() != "SignatureDoesNotMatch" {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestSDKPresign(t *testing.T) {
	as := &authServer{v: &Verifier{Store: NewStaticStore(Credentials{testAK, testSK})}}
	srv := httptest.NewServer(as)
	defer srv.Close()
	pc := s3.NewPresignClient(sdkClient(srv, testSK))
	ctx := context.Background()

	get, err := pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("a/b c.txt")},
		s3.WithPresignExpires(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Get(get.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !as.lastSeen().presign {
		t.Fatalf("presigned GET: status %d", resp.StatusCode)
	}

	payload := randomBytes(100_000, 3)
	put, err := pc.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("up")})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPut, put.URL, bytes.NewReader(payload))
	for k, v := range put.SignedHeader {
		req.Header[k] = v
	}
	resp, err = srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(as.lastSeen().body, payload) {
		t.Fatalf("presigned PUT: status %d", resp.StatusCode)
	}

	// A different key on the same URL is rejected.
	resp, err = srv.Client().Get(get.URL + "&x=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("tampered presigned URL: status %d", resp.StatusCode)
	}
}
