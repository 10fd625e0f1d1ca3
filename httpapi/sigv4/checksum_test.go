package sigv4

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"testing"

	"pgregory.net/rapid"
)

// TestCombineCRC checks CombineCRC against computing the CRC of the concatenation, for every
// CRC algorithm, on random splits (empty pieces included).
func TestCombineCRC(t *testing.T) {
	for _, alg := range []ChecksumAlgorithm{ChecksumCRC32, ChecksumCRC32C, ChecksumCRC64NVME} {
		t.Run(string(alg), func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				a := rapid.SliceOfN(rapid.Byte(), 0, 3000).Draw(t, "a")
				b := rapid.SliceOfN(rapid.Byte(), 0, 3000).Draw(t, "b")
				sum := func(p []byte) []byte {
					v, _ := ChecksumOf(alg, p)
					d, _ := base64.StdEncoding.DecodeString(v)
					return d
				}
				got, ok := CombineCRC(alg, sum(a), sum(b), int64(len(b)))
				if want := sum(append(append([]byte(nil), a...), b...)); !ok || !bytes.Equal(got, want) {
					t.Fatalf("combine = %x %v, want %x", got, ok, want)
				}
			})
		})
	}
	if _, ok := CombineCRC(ChecksumSHA256, make([]byte, 32), make([]byte, 32), 1); ok {
		t.Fatal("SHA256 combined")
	}
	if _, ok := CombineCRC(ChecksumCRC32, make([]byte, 8), make([]byte, 4), 1); ok {
		t.Fatal("wrong digest size combined")
	}
}

// TestCombineCRCLarge combines pieces of a few MiB (the length enters as x^(8n)).
func TestCombineCRCLarge(t *testing.T) {
	data := make([]byte, 9<<20)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for _, alg := range []ChecksumAlgorithm{ChecksumCRC32, ChecksumCRC32C, ChecksumCRC64NVME} {
		whole, _ := ChecksumOf(alg, data)
		var acc []byte
		for off := 0; off < len(data); off += 5 << 20 {
			piece := data[off:min(off+5<<20, len(data))]
			v, _ := ChecksumOf(alg, piece)
			d, _ := DecodeChecksum(alg, v)
			if acc == nil {
				acc = d
				continue
			}
			acc, _ = CombineCRC(alg, acc, d, int64(len(piece)))
		}
		if got := base64.StdEncoding.EncodeToString(acc); got != whole {
			t.Fatalf("%s: combined %s, whole %s", alg, got, whole)
		}
	}
}

func TestSplitComposite(t *testing.T) {
	for _, c := range []struct {
		in    string
		base  string
		parts int
		ok    bool
	}{
		{"abcd-3", "abcd", 3, true},
		{"abc=-10000", "abc=", 10000, true},
		{"abcd", "abcd", 0, false},
		{"abcd-", "abcd-", 0, false},
		{"abcd-0", "abcd-0", 0, false},
		{"abcd-01", "abcd-01", 0, false},
		{"abcd-+1", "abcd-+1", 0, false},
		{"abcd-x", "abcd-x", 0, false},
	} {
		base, n, ok := SplitComposite(c.in)
		if base != c.base || n != c.parts || ok != c.ok {
			t.Errorf("SplitComposite(%q) = %q %d %v", c.in, base, n, ok)
		}
	}
}

// TestChecksumHeaders covers the checksum headers a request may carry besides a valid one.
func TestChecksumHeaders(t *testing.T) {
	body := []byte("the object")
	crc, _ := ChecksumOf(ChecksumCRC32, body)
	other, _ := ChecksumOf(ChecksumCRC32, []byte("xx"))
	for _, c := range []struct {
		name          string
		hdr           http.Header
		opts          VerifyOptions
		verify, bodyE error
		report        string // Result.Checksum value
	}{
		{name: "payload checksum", hdr: http.Header{"X-Amz-Checksum-Crc32": {crc}}, report: crc},
		{name: "payload checksum mismatch", hdr: http.Header{"X-Amz-Checksum-Crc32": {other}}, bodyE: ErrBadDigest},
		{name: "object checksum is not compared with the payload", hdr: http.Header{"X-Amz-Checksum-Crc32": {other}},
			opts: VerifyOptions{ObjectChecksum: true}, report: other},
		{name: "composite object checksum", hdr: http.Header{"X-Amz-Checksum-Crc32": {other + "-3"}},
			opts: VerifyOptions{ObjectChecksum: true}, report: other + "-3"},
		{name: "composite payload checksum", hdr: http.Header{"X-Amz-Checksum-Crc32": {other + "-3"}}, verify: ErrInvalidDigest},
		{name: "bad object checksum", hdr: http.Header{"X-Amz-Checksum-Crc32": {"zz-3"}}, opts: VerifyOptions{ObjectChecksum: true}, verify: ErrInvalidDigest},
		{name: "control headers are not checksums", hdr: http.Header{"X-Amz-Checksum-Algorithm": {"CRC32"},
			"X-Amz-Checksum-Type": {"FULL_OBJECT"}, "X-Amz-Checksum-Mode": {"ENABLED"}}},
		{name: "unsupported algorithm", hdr: http.Header{"X-Amz-Checksum-Md5": {"XUFAKrxLKna5cZ2REBfFkg=="}}, verify: ErrInvalidRequest},
		{name: "two checksums", hdr: http.Header{"X-Amz-Checksum-Crc32": {crc}, "X-Amz-Checksum-Crc32c": {crc}}, verify: ErrInvalidRequest},
		{name: "sdk algorithm matches", hdr: http.Header{"X-Amz-Checksum-Crc32": {crc}, "X-Amz-Sdk-Checksum-Algorithm": {"CRC32"}}, report: crc},
		{name: "sdk algorithm without checksum", hdr: http.Header{"X-Amz-Sdk-Checksum-Algorithm": {"CRC32"}}, verify: ErrInvalidRequest},
		{name: "sdk algorithm differs", hdr: http.Header{"X-Amz-Checksum-Crc32": {crc}, "X-Amz-Sdk-Checksum-Algorithm": {"SHA256"}}, verify: ErrInvalidRequest},
		{name: "sdk algorithm unknown", hdr: http.Header{"X-Amz-Checksum-Crc32": {crc}, "X-Amz-Sdk-Checksum-Algorithm": {"MD5"}}, verify: ErrInvalidRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			cr := clientReq(t, http.MethodPut, "http://s3.test/b/k", body)
			for k, v := range c.hdr {
				cr.Header[k] = v
			}
			sdkSign(t, cr, UnsignedPayload, testSK, testRegion, testNow)
			res, err := testVerifier().VerifyWith(serverReq(t, cr, bytes.NewReader(body)), c.opts)
			if !errors.Is(err, c.verify) || (c.verify == nil) != (err == nil) {
				t.Fatalf("Verify err = %v, want %v", err, c.verify)
			}
			if err != nil {
				return
			}
			got, err := io.ReadAll(res.Body)
			if !errors.Is(err, c.bodyE) || (c.bodyE == nil) != (err == nil) {
				t.Fatalf("body err = %v, want %v", err, c.bodyE)
			}
			if err != nil {
				return
			}
			if !bytes.Equal(got, body) {
				t.Fatal("body differs")
			}
			if ck, ok := res.Checksum(); ok != (c.report != "") || ck.Value != c.report {
				t.Fatalf("Checksum() = %+v %v, want %q", ck, ok, c.report)
			}
		})
	}
}

// TestRegionErrorNamesRegion: a request scoped to another region fails with the expected
// region attached, which the S3 layer sends as <Region> so that SDKs can re-sign.
func TestRegionErrorNamesRegion(t *testing.T) {
	cr := clientReq(t, http.MethodGet, "http://s3.test/b/k", nil)
	sdkSign(t, cr, UnsignedPayload, testSK, "eu-central-1", testNow)
	_, err := testVerifier().Verify(serverReq(t, cr, nil))
	var se *Error
	if !errors.As(err, &se) || !errors.Is(err, ErrAuthorizationHeaderMalformed) || se.Region() != testRegion {
		t.Fatalf("err = %v", err)
	}
}
