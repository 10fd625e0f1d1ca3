package s3

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/internal/sse"
)

// ssecKey is an SSE-C key as the SDK sends it: base64 key and base64 MD5.
type ssecKey struct{ key, md5 string }

func newSSECKey(seed byte) ssecKey {
	k := bytes.Repeat([]byte{seed}, 32)
	sum := md5.Sum(k)
	return ssecKey{base64.StdEncoding.EncodeToString(k), base64.StdEncoding.EncodeToString(sum[:])}
}

// headers are the three SSE-C request headers (prefix "X-Amz-", or "X-Amz-Copy-Source-" for
// the copy source's).
func (k ssecKey) headers(prefix string) map[string]string {
	if prefix == "" {
		prefix = "X-Amz-"
	}
	return map[string]string{
		prefix + "Server-Side-Encryption-Customer-Algorithm": "AES256",
		prefix + "Server-Side-Encryption-Customer-Key":       k.key,
		prefix + "Server-Side-Encryption-Customer-Key-Md5":   k.md5,
	}
}

func testKeyring(t *testing.T, current string, old ...string) *sse.Keyring {
	t.Helper()
	kr, err := sse.NewKeyring(current, old...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// marked is plaintext that is easy to find on disk: a marker repeated through n bytes.
func marked(n int) []byte {
	const marker = "NEBULAIO-PLAINTEXT-MARKER-"
	return bytes.Repeat([]byte(marker), n/len(marker)+1)[:n]
}

// blobFilesContain reports which files under the node's blob directory contain needle.
func (n *node) blobFilesContain(t *testing.T, needle []byte) (files int, hits []string) {
	t.Helper()
	err := filepath.WalkDir(filepath.Join(n.dir, "blobs"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		if bytes.Contains(b, needle) {
			hits = append(hits, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, hits
}

// rawTLS is rawRequest over the node's TLS listener.
func rawTLS(t *testing.T, n *node, method, path string, body []byte, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req := signedRequest(t, n.tlsSrv.URL, method, path, body, hdr)
	resp, err := n.tlsSrv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// TestSSEBytesOnDisk: the blob files of SSE-S3 and SSE-C objects do not hold the plaintext
// (grepped for a marker), while those of an unencrypted object do (so the grep finds what is
// there); every copy reads back whole and by ranges across chunk boundaries.
func TestSSEBytesOnDisk(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{keyring: testKeyring(t, sse.GenerateKey())})
	c := n.tlsClient()
	mustCreateBucket(t, c, "disk")
	data := marked(3*sse.ChunkSize + 1234)
	needle := []byte("NEBULAIO-PLAINTEXT-MARKER-NEBULAIO")
	k := newSSECKey(7)

	if _, err := c.PutObject(ctxT(t), &s3.PutObjectInput{Bucket: aws.String("disk"), Key: aws.String("s3"),
		Body: bytes.NewReader(data), ServerSideEncryption: types.ServerSideEncryptionAes256}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctxT(t), &s3.PutObjectInput{Bucket: aws.String("disk"), Key: aws.String("c"),
		Body: bytes.NewReader(data), SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(k.key), SSECustomerKeyMD5: aws.String(k.md5)}); err != nil {
		t.Fatal(err)
	}
	if files, hits := n.blobFilesContain(t, needle); files == 0 || len(hits) > 0 {
		t.Fatalf("%d blob files, plaintext found in %v", files, hits)
	}
	mustPut(t, c, "disk", "plain", data)
	if _, hits := n.blobFilesContain(t, needle); len(hits) != 1 {
		t.Fatalf("the unencrypted object's plaintext found in %d files, want 1: %v", len(hits), hits)
	}

	for _, tc := range []struct{ key, rng string }{
		{"s3", ""}, {"s3", "bytes=0-0"}, {"s3", fmt.Sprintf("bytes=%d-%d", sse.ChunkSize-5, sse.ChunkSize+5)},
		{"s3", "bytes=-100"}, {"s3", fmt.Sprintf("bytes=%d-", 2*sse.ChunkSize)},
		{"c", ""}, {"c", fmt.Sprintf("bytes=%d-%d", sse.ChunkSize, 3*sse.ChunkSize)},
	} {
		in := &s3.GetObjectInput{Bucket: aws.String("disk"), Key: aws.String(tc.key)}
		if tc.rng != "" {
			in.Range = aws.String(tc.rng)
		}
		if tc.key == "c" {
			in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(k.key), aws.String(k.md5)
		}
		out, err := c.GetObject(ctxT(t), in)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.key, tc.rng, err)
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		start, length, _, err := parseRange(tc.rng, int64(len(data)))
		if tc.rng == "" {
			start, length, err = 0, int64(len(data)), nil
		}
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data[start:start+length]) {
			t.Fatalf("%s %s: %d bytes, not the content's [%d, +%d)", tc.key, tc.rng, len(got), start, length)
		}
		if aws.ToInt64(out.ContentLength) != length {
			t.Fatalf("%s %s: Content-Length %d, want %d", tc.key, tc.rng, aws.ToInt64(out.ContentLength), length)
		}
		switch tc.key {
		case "s3":
			if out.ServerSideEncryption != types.ServerSideEncryptionAes256 {
				t.Fatalf("SSE-S3 GET: x-amz-server-side-encryption %q", out.ServerSideEncryption)
			}
		case "c":
			if aws.ToString(out.SSECustomerAlgorithm) != "AES256" || aws.ToString(out.SSECustomerKeyMD5) != k.md5 {
				t.Fatalf("SSE-C GET: algorithm %q, key MD5 %q", aws.ToString(out.SSECustomerAlgorithm), aws.ToString(out.SSECustomerKeyMD5))
			}
		}
	}
	// The ETag of an SSE-S3 object is the content's MD5, as S3's.
	h, err := c.HeadObject(ctxT(t), &s3.HeadObjectInput{Bucket: aws.String("disk"), Key: aws.String("s3")})
	if err != nil {
		t.Fatal(err)
	}
	if sum := md5.Sum(data); aws.ToString(h.ETag) != fmt.Sprintf(`"%x"`, sum) || aws.ToInt64(h.ContentLength) != int64(len(data)) {
		t.Fatalf("SSE-S3 HEAD: ETag %s, length %d", aws.ToString(h.ETag), aws.ToInt64(h.ContentLength))
	}
}

// TestSSECRequiresKey: an SSE-C object is unreadable without its key and with a wrong key,
// on every read path; the right key reads it; its key's headers are checked.
func TestSSECRequiresKey(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	c := n.tlsClient()
	mustCreateBucket(t, c, "ssec")
	right, wrong := newSSECKey(1), newSSECKey(2)
	data := randBytes(100_000, 1)
	resp, body := rawTLS(t, n, "PUT", "/ssec/obj", data, right.headers(""))
	if resp.StatusCode != 200 || resp.Header.Get("X-Amz-Server-Side-Encryption-Customer-Algorithm") != "AES256" ||
		resp.Header.Get("X-Amz-Server-Side-Encryption-Customer-Key-Md5") != right.md5 {
		t.Fatalf("PUT: %d %s %v", resp.StatusCode, body, resp.Header)
	}
	mustPut(t, c, "ssec", "plain", []byte("plain"))

	badMD5 := right.headers("")
	badMD5["X-Amz-Server-Side-Encryption-Customer-Key-Md5"] = wrong.md5
	badAlg := right.headers("")
	badAlg["X-Amz-Server-Side-Encryption-Customer-Algorithm"] = "AES128"
	shortKey := right.headers("")
	shortKey["X-Amz-Server-Side-Encryption-Customer-Key"] = base64.StdEncoding.EncodeToString([]byte("short"))
	noMD5 := right.headers("")
	delete(noMD5, "X-Amz-Server-Side-Encryption-Customer-Key-Md5")
	for _, tc := range []struct {
		name, method, path string
		hdr                map[string]string
		status             int
		code               string
	}{
		{"GET without key", "GET", "/ssec/obj", nil, 400, "InvalidRequest"},
		{"HEAD without key", "HEAD", "/ssec/obj", nil, 400, ""},
		{"range GET without key", "GET", "/ssec/obj", map[string]string{"Range": "bytes=0-9"}, 400, "InvalidRequest"},
		{"attributes without key", "GET", "/ssec/obj?attributes", map[string]string{"X-Amz-Object-Attributes": "ObjectSize"}, 400, "InvalidRequest"},
		{"GET with wrong key", "GET", "/ssec/obj", wrong.headers(""), 403, "AccessDenied"},
		{"HEAD with wrong key", "HEAD", "/ssec/obj", wrong.headers(""), 403, ""},
		{"attributes with wrong key", "GET", "/ssec/obj?attributes", merge(wrong.headers(""), map[string]string{"X-Amz-Object-Attributes": "ObjectSize"}), 403, "AccessDenied"},
		{"key MD5 mismatch", "GET", "/ssec/obj", badMD5, 400, "InvalidArgument"},
		{"key MD5 missing", "GET", "/ssec/obj", noMD5, 400, "InvalidArgument"},
		{"algorithm not AES256", "GET", "/ssec/obj", badAlg, 400, "InvalidArgument"},
		{"key not 32 bytes", "PUT", "/ssec/k2", shortKey, 400, "InvalidArgument"},
		{"SSE-C and SSE-S3 together", "PUT", "/ssec/k2", merge(right.headers(""), map[string]string{"X-Amz-Server-Side-Encryption": "AES256"}), 400, "InvalidArgument"},
		{"SSE-C key for an unencrypted object", "GET", "/ssec/plain", right.headers(""), 400, "InvalidRequest"},
		{"copy-source key on GET", "GET", "/ssec/obj", right.headers("X-Amz-Copy-Source-"), 400, "InvalidArgument"},
		{"copy without the source key", "PUT", "/ssec/copy", map[string]string{"X-Amz-Copy-Source": "ssec/obj"}, 400, "InvalidRequest"},
		{"copy with a wrong source key", "PUT", "/ssec/copy", merge(wrong.headers("X-Amz-Copy-Source-"), map[string]string{"X-Amz-Copy-Source": "ssec/obj"}), 403, "AccessDenied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if tc.method == "PUT" && tc.hdr["X-Amz-Copy-Source"] == "" {
				body = []byte("x")
			}
			resp, out := rawTLS(t, n, tc.method, tc.path, body, tc.hdr)
			if resp.StatusCode != tc.status || (tc.code != "" && errorCode(t, out) != tc.code) {
				t.Fatalf("%d %s, want %d %s", resp.StatusCode, out, tc.status, tc.code)
			}
			if bytes.Contains(out, data[:64]) {
				t.Fatal("the refusal carries the content")
			}
		})
	}

	// The right key reads it, whole and by partNumber; over plain HTTP the key is refused.
	resp, body = rawTLS(t, n, "GET", "/ssec/obj", nil, right.headers(""))
	if resp.StatusCode != 200 || !bytes.Equal(body, data) || resp.Header.Get("X-Amz-Server-Side-Encryption-Customer-Key-Md5") != right.md5 {
		t.Fatalf("GET with the key: %d, %d bytes", resp.StatusCode, len(body))
	}
	if resp.Header.Get("ETag") == fmt.Sprintf(`"%x"`, md5.Sum(data)) {
		t.Fatal("an SSE-C object's ETag is the content's MD5")
	}
	resp, body = rawTLS(t, n, "GET", "/ssec/obj?partNumber=1", nil, right.headers(""))
	if resp.StatusCode != 206 || !bytes.Equal(body, data) {
		t.Fatalf("GET partNumber=1 with the key: %d, %d bytes", resp.StatusCode, len(body))
	}
	plain, body := rawRequest(t, n.srv.URL, "GET", "/ssec/obj", nil, right.headers(""), zeroTime, testSK)
	if plain.StatusCode != 400 || errorCode(t, body) != "InvalidRequest" {
		t.Fatalf("SSE-C over plain HTTP: %d %s", plain.StatusCode, body)
	}
	if got := n.blobCount(); got != 2 {
		t.Fatalf("%d blobs, want 2 (refused requests leave none)", got)
	}
}

// TestSSECOverHTTPAllowed: with Options.AllowSSECOverHTTP the key is taken over plain HTTP.
func TestSSECOverHTTPAllowed(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{sseCOverHTTP: true})
	k := newSSECKey(3)
	if resp, body := rawRequest(t, n.srv.URL, "PUT", "/http", nil, nil, zeroTime, testSK); resp.StatusCode != 200 {
		t.Fatalf("create bucket: %d %s", resp.StatusCode, body)
	}
	if resp, body := rawRequest(t, n.srv.URL, "PUT", "/http/k", []byte("secret"), k.headers(""), zeroTime, testSK); resp.StatusCode != 200 {
		t.Fatalf("PUT: %d %s", resp.StatusCode, body)
	}
	if resp, body := rawRequest(t, n.srv.URL, "GET", "/http/k", nil, k.headers(""), zeroTime, testSK); resp.StatusCode != 200 || string(body) != "secret" {
		t.Fatalf("GET: %d %s", resp.StatusCode, body)
	}
	if resp, _ := rawRequest(t, n.srv.URL, "GET", "/http/k", nil, nil, zeroTime, testSK); resp.StatusCode != 400 {
		t.Fatalf("GET without the key: %d", resp.StatusCode)
	}
}

// TestSSES3Rotation: a new current master key seals new objects, the old one (kept as an old
// key) still opens what it sealed, and a copy onto itself re-seals with the current key; a
// node that lost the old key answers 500 for its objects, not their bytes.
func TestSSES3Rotation(t *testing.T) {
	keyA, keyB := sse.GenerateKey(), sse.GenerateKey()
	krA, krBA := testKeyring(t, keyA), testKeyring(t, keyB, keyA)
	n := startNode(t, t.TempDir(), nodeOpts{keyring: krA})
	c := n.tlsClient()
	mustCreateBucket(t, c, "rot")
	put := func(key string, data []byte) {
		t.Helper()
		if _, err := c.PutObject(ctxT(t), &s3.PutObjectInput{Bucket: aws.String("rot"), Key: aws.String(key),
			Body: bytes.NewReader(data), ServerSideEncryption: types.ServerSideEncryptionAes256}); err != nil {
			t.Fatal(err)
		}
	}
	keyID := func(key string) string {
		t.Helper()
		o, err := n.fsm.Object("rot", key)
		if err != nil {
			t.Fatal(err)
		}
		if o.Encryption.Algorithm != fsm.EncryptionSSES3 {
			t.Fatalf("%s: encryption %+v", key, o.Encryption)
		}
		return o.Encryption.KeyID
	}
	old := randBytes(70_000, 2)
	put("old", old)
	put("copied", old)
	if keyID("old") != krA.CurrentID() {
		t.Fatalf("old: key id %s, want %s", keyID("old"), krA.CurrentID())
	}

	n.opts.keyring = krBA
	n.restart()
	c = n.tlsClient()
	if !bytes.Equal(mustGet(t, c, "rot", "old"), old) {
		t.Fatal("the object sealed by the old key does not read back after the rotation")
	}
	fresh := randBytes(1000, 3)
	put("new", fresh)
	if keyID("new") != krBA.CurrentID() || krBA.CurrentID() == krA.CurrentID() {
		t.Fatalf("new: key id %s, want the new key's %s", keyID("new"), krBA.CurrentID())
	}
	// Re-encrypt "copied" (sealed by A) under the new key by copying it onto itself.
	if _, err := c.CopyObject(ctxT(t), &s3.CopyObjectInput{Bucket: aws.String("rot"), Key: aws.String("copied"),
		CopySource: aws.String("rot/copied"), ServerSideEncryption: types.ServerSideEncryptionAes256}); err != nil {
		t.Fatal(err)
	}
	if keyID("copied") != krBA.CurrentID() {
		t.Fatal("a copy onto itself did not re-seal with the current key")
	}

	// Without key A: "old" is a 500 naming nothing secret; the others read.
	n.opts.keyring = testKeyring(t, keyB)
	n.restart()
	c = n.tlsClient()
	_, err := c.GetObject(ctxT(t), &s3.GetObjectInput{Bucket: aws.String("rot"), Key: aws.String("old")})
	wantCode(t, err, "InternalError", 500)
	for key, want := range map[string][]byte{"new": fresh, "copied": old} {
		if !bytes.Equal(mustGet(t, c, "rot", key), want) {
			t.Fatalf("%s does not read back under key B alone", key)
		}
	}
	// A node without any master key refuses SSE-S3 writes and cannot read SSE-S3 objects.
	n.opts.keyring = nil
	n.restart()
	c = n.tlsClient()
	_, err = c.PutObject(ctxT(t), &s3.PutObjectInput{Bucket: aws.String("rot"), Key: aws.String("x"),
		Body: strings.NewReader("x"), ServerSideEncryption: types.ServerSideEncryptionAes256})
	wantCode(t, err, "NotImplemented", 501)
	_, err = c.GetObject(ctxT(t), &s3.GetObjectInput{Bucket: aws.String("rot"), Key: aws.String("new")})
	wantCode(t, err, "InternalError", 500)
}

// TestBucketEncryption: Put/Get/DeleteBucketEncryption, and the default applied to the
// writes that ask for no encryption of their own.
func TestBucketEncryption(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{keyring: testKeyring(t, sse.GenerateKey()), minPartSize: 1})
	c := n.tlsClient()
	mustCreateBucket(t, c, "def")
	cfgXML := func(alg, extra string) []byte {
		return []byte(`<ServerSideEncryptionConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>` +
			alg + `</SSEAlgorithm></ApplyServerSideEncryptionByDefault>` + extra + `</Rule></ServerSideEncryptionConfiguration>`)
	}
	withMD5 := func(b []byte) map[string]string {
		sum := md5.Sum(b)
		return map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(sum[:])}
	}
	for _, tc := range []struct {
		name, method, path string
		body               []byte
		status             int
		code               string
	}{
		{"none yet", "GET", "/def?encryption", nil, 404, "ServerSideEncryptionConfigurationNotFoundError"},
		{"aws:kms default", "PUT", "/def?encryption", cfgXML("aws:kms", ""), 501, "NotImplemented"},
		{"dsse default", "PUT", "/def?encryption", cfgXML("aws:kms:dsse", ""), 501, "NotImplemented"},
		{"bucket key", "PUT", "/def?encryption", cfgXML("AES256", "<BucketKeyEnabled>true</BucketKeyEnabled>"), 501, "NotImplemented"},
		{"unknown algorithm", "PUT", "/def?encryption", cfgXML("AES128", ""), 400, "MalformedXML"},
		{"no rule", "PUT", "/def?encryption", []byte(`<ServerSideEncryptionConfiguration/>`), 400, "MalformedXML"},
		{"no such bucket", "GET", "/nobucket?encryption", nil, 404, "NoSuchBucket"},
		{"AES256", "PUT", "/def?encryption", cfgXML("AES256", "<BucketKeyEnabled>false</BucketKeyEnabled>"), 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr map[string]string
			if tc.body != nil {
				hdr = withMD5(tc.body)
			}
			resp, out := rawTLS(t, n, tc.method, tc.path, tc.body, hdr)
			if resp.StatusCode != tc.status || (tc.code != "" && errorCode(t, out) != tc.code) {
				t.Fatalf("%d %s, want %d %s", resp.StatusCode, out, tc.status, tc.code)
			}
		})
	}
	got, err := c.GetBucketEncryption(ctxT(t), &s3.GetBucketEncryptionInput{Bucket: aws.String("def")})
	if err != nil {
		t.Fatal(err)
	}
	if r := got.ServerSideEncryptionConfiguration.Rules; len(r) != 1 || r[0].ApplyServerSideEncryptionByDefault.SSEAlgorithm != types.ServerSideEncryptionAes256 {
		t.Fatalf("GetBucketEncryption: %+v", got.ServerSideEncryptionConfiguration)
	}

	// Every write path that names no encryption gets the default.
	out, err := c.PutObject(ctxT(t), &s3.PutObjectInput{Bucket: aws.String("def"), Key: aws.String("put"), Body: bytes.NewReader(marked(1000))})
	if err != nil || out.ServerSideEncryption != types.ServerSideEncryptionAes256 {
		t.Fatalf("PutObject under the default: %v, %q", err, out.ServerSideEncryption)
	}
	cp, err := c.CopyObject(ctxT(t), &s3.CopyObjectInput{Bucket: aws.String("def"), Key: aws.String("copy"), CopySource: aws.String("def/put")})
	if err != nil || cp.ServerSideEncryption != types.ServerSideEncryptionAes256 {
		t.Fatalf("CopyObject under the default: %v", err)
	}
	mp, err := c.CreateMultipartUpload(ctxT(t), &s3.CreateMultipartUploadInput{Bucket: aws.String("def"), Key: aws.String("mpu")})
	if err != nil || mp.ServerSideEncryption != types.ServerSideEncryptionAes256 {
		t.Fatalf("CreateMultipartUpload under the default: %v", err)
	}
	// SSE-C still wins over the default.
	k := newSSECKey(4)
	if resp, body := rawTLS(t, n, "PUT", "/def/ssec", []byte("c"), k.headers("")); resp.StatusCode != 200 || resp.Header.Get("X-Amz-Server-Side-Encryption") != "" {
		t.Fatalf("SSE-C under the default: %d %s %v", resp.StatusCode, body, resp.Header)
	}
	for key, alg := range map[string]string{"put": fsm.EncryptionSSES3, "copy": fsm.EncryptionSSES3, "ssec": fsm.EncryptionSSEC} {
		if o, err := n.fsm.Object("def", key); err != nil || o.Encryption.Algorithm != alg {
			t.Fatalf("%s: %v %+v, want %s", key, err, o.Encryption, alg)
		}
	}
	if _, hits := n.blobFilesContain(t, []byte("NEBULAIO-PLAINTEXT-MARKER-NEBULAIO")); len(hits) > 0 {
		t.Fatalf("plaintext of default-encrypted objects on disk: %v", hits)
	}

	if _, err := c.DeleteBucketEncryption(ctxT(t), &s3.DeleteBucketEncryptionInput{Bucket: aws.String("def")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetBucketEncryption(ctxT(t), &s3.GetBucketEncryptionInput{Bucket: aws.String("def")})
	wantCode(t, err, "ServerSideEncryptionConfigurationNotFoundError", 404)
	out, err = c.PutObject(ctxT(t), &s3.PutObjectInput{Bucket: aws.String("def"), Key: aws.String("after"), Body: strings.NewReader("x")})
	if err != nil || out.ServerSideEncryption != "" {
		t.Fatalf("PutObject after DeleteBucketEncryption: %v, %q", err, out.ServerSideEncryption)
	}
	// A node without a master key refuses a default it could not apply.
	n.opts.keyring = nil
	n.restart()
	resp, body := rawTLS(t, n, "PUT", "/def?encryption", cfgXML("AES256", ""), withMD5(cfgXML("AES256", "")))
	if resp.StatusCode != 501 || errorCode(t, body) != "NotImplemented" {
		t.Fatalf("PutBucketEncryption without a master key: %d %s", resp.StatusCode, body)
	}
}

// TestSSEMultipart: an SSE-C upload takes the key on every part (refused without it and with
// another), the completed object reads back with it (whole, by part, by range); an SSE-S3
// upload needs no key; UploadPartCopy decrypts an SSE-C source with the copy-source key.
func TestSSEMultipart(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{keyring: testKeyring(t, sse.GenerateKey()), minPartSize: 1})
	c := n.tlsClient()
	mustCreateBucket(t, c, "mpu")
	right, wrong := newSSECKey(5), newSSECKey(6)
	parts := [][]byte{randBytes(sse.ChunkSize+17, 10), randBytes(200, 11), randBytes(2*sse.ChunkSize, 12)}
	whole := bytes.Join(parts, nil)

	cu, err := c.CreateMultipartUpload(ctxT(t), &s3.CreateMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String("c"),
		SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(right.key), SSECustomerKeyMD5: aws.String(right.md5)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(cu.SSECustomerKeyMD5) != right.md5 {
		t.Fatalf("CreateMultipartUpload: key MD5 %q", aws.ToString(cu.SSECustomerKeyMD5))
	}
	path := func(num int) string {
		return fmt.Sprintf("/mpu/c?partNumber=%d&uploadId=%s", num, aws.ToString(cu.UploadId))
	}
	if resp, body := rawTLS(t, n, "PUT", path(1), parts[0], nil); resp.StatusCode != 400 || errorCode(t, body) != "InvalidRequest" {
		t.Fatalf("UploadPart without the key: %d %s", resp.StatusCode, body)
	}
	if resp, body := rawTLS(t, n, "PUT", path(1), parts[0], wrong.headers("")); resp.StatusCode != 403 || errorCode(t, body) != "AccessDenied" {
		t.Fatalf("UploadPart with another key: %d %s", resp.StatusCode, body)
	}
	var done []types.CompletedPart
	for i, p := range parts[:2] {
		up, err := c.UploadPart(ctxT(t), &s3.UploadPartInput{Bucket: aws.String("mpu"), Key: aws.String("c"), UploadId: cu.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p),
			SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(right.key), SSECustomerKeyMD5: aws.String(right.md5)})
		if err != nil {
			t.Fatal(err)
		}
		done = append(done, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: up.ETag})
	}
	// Part 3 is copied from an SSE-C object under another key.
	other := newSSECKey(9)
	if resp, body := rawTLS(t, n, "PUT", "/mpu/src", parts[2], other.headers("")); resp.StatusCode != 200 {
		t.Fatalf("PUT src: %d %s", resp.StatusCode, body)
	}
	if resp, body := rawTLS(t, n, "PUT", path(3), nil, merge(right.headers(""), map[string]string{"X-Amz-Copy-Source": "mpu/src"})); resp.StatusCode != 400 {
		t.Fatalf("UploadPartCopy without the source key: %d %s", resp.StatusCode, body)
	}
	upc, err := c.UploadPartCopy(ctxT(t), &s3.UploadPartCopyInput{Bucket: aws.String("mpu"), Key: aws.String("c"), UploadId: cu.UploadId,
		PartNumber: aws.Int32(3), CopySource: aws.String("mpu/src"),
		CopySourceSSECustomerAlgorithm: aws.String("AES256"), CopySourceSSECustomerKey: aws.String(other.key), CopySourceSSECustomerKeyMD5: aws.String(other.md5),
		SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(right.key), SSECustomerKeyMD5: aws.String(right.md5)})
	if err != nil {
		t.Fatal(err)
	}
	done = append(done, types.CompletedPart{PartNumber: aws.Int32(3), ETag: upc.CopyPartResult.ETag})
	if _, err := c.CompleteMultipartUpload(ctxT(t), &s3.CompleteMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String("c"),
		UploadId: cu.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := rawTLS(t, n, "GET", "/mpu/c", nil, nil); resp.StatusCode != 400 {
		t.Fatalf("GET of the completed SSE-C object without the key: %d", resp.StatusCode)
	}
	resp, body := rawTLS(t, n, "GET", "/mpu/c", nil, right.headers(""))
	if resp.StatusCode != 200 || !bytes.Equal(body, whole) {
		t.Fatalf("GET with the key: %d, %d bytes of %d", resp.StatusCode, len(body), len(whole))
	}
	resp, body = rawTLS(t, n, "GET", "/mpu/c?partNumber=2", nil, right.headers(""))
	if resp.StatusCode != 206 || !bytes.Equal(body, parts[1]) {
		t.Fatalf("GET partNumber=2: %d, %d bytes", resp.StatusCode, len(body))
	}
	lo := len(parts[0]) - 10
	resp, body = rawTLS(t, n, "GET", "/mpu/c", nil, merge(right.headers(""), map[string]string{"Range": fmt.Sprintf("bytes=%d-%d", lo, lo+300)}))
	if resp.StatusCode != 206 || !bytes.Equal(body, whole[lo:lo+301]) {
		t.Fatalf("range across parts: %d, %d bytes", resp.StatusCode, len(body))
	}
	attrs, err := c.GetObjectAttributes(ctxT(t), &s3.GetObjectAttributesInput{Bucket: aws.String("mpu"), Key: aws.String("c"),
		ObjectAttributes:     []types.ObjectAttributes{types.ObjectAttributesObjectParts, types.ObjectAttributesObjectSize},
		SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(right.key), SSECustomerKeyMD5: aws.String(right.md5)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt64(attrs.ObjectSize) != int64(len(whole)) || aws.ToInt64(attrs.ObjectParts.Parts[0].Size) != int64(len(parts[0])) {
		t.Fatalf("attributes: size %d, part 1 %d", aws.ToInt64(attrs.ObjectSize), aws.ToInt64(attrs.ObjectParts.Parts[0].Size))
	}

	// SSE-S3 multipart: no key on the parts, the header on every answer.
	su, err := c.CreateMultipartUpload(ctxT(t), &s3.CreateMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String("s3"),
		ServerSideEncryption: types.ServerSideEncryptionAes256})
	if err != nil || su.ServerSideEncryption != types.ServerSideEncryptionAes256 {
		t.Fatalf("CreateMultipartUpload SSE-S3: %v", err)
	}
	done = nil
	for i, p := range parts {
		up, err := c.UploadPart(ctxT(t), &s3.UploadPartInput{Bucket: aws.String("mpu"), Key: aws.String("s3"), UploadId: su.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p)})
		if err != nil || up.ServerSideEncryption != types.ServerSideEncryptionAes256 {
			t.Fatalf("UploadPart SSE-S3: %v", err)
		}
		done = append(done, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: up.ETag})
	}
	if resp, body := rawTLS(t, n, "PUT", fmt.Sprintf("/mpu/s3?partNumber=9&uploadId=%s", aws.ToString(su.UploadId)), []byte("x"), right.headers("")); resp.StatusCode != 400 || errorCode(t, body) != "InvalidRequest" {
		t.Fatalf("SSE-C key on an SSE-S3 upload: %d %s", resp.StatusCode, body)
	}
	co, err := c.CompleteMultipartUpload(ctxT(t), &s3.CompleteMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String("s3"),
		UploadId: su.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
	if err != nil || co.ServerSideEncryption != types.ServerSideEncryptionAes256 {
		t.Fatalf("CompleteMultipartUpload SSE-S3: %v", err)
	}
	if !bytes.Equal(mustGet(t, c, "mpu", "s3"), whole) {
		t.Fatal("SSE-S3 multipart object does not read back")
	}
}

// TestSSECopy: CopyObject between every pair of encryptions, with the copy-source key where
// the source is SSE-C; the copy's encryption is the one the request names.
func TestSSECopy(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{keyring: testKeyring(t, sse.GenerateKey())})
	mustCreateBucket(t, n.tlsClient(), "cpy")
	kSrc, kDst := newSSECKey(11), newSSECKey(12)
	data := randBytes(sse.ChunkSize+1, 20)
	srcs := map[string]map[string]string{
		"plain": nil,
		"s3":    {"X-Amz-Server-Side-Encryption": "AES256"},
		"c":     kSrc.headers(""),
	}
	for name, hdr := range srcs {
		if resp, body := rawTLS(t, n, "PUT", "/cpy/src-"+name, data, hdr); resp.StatusCode != 200 {
			t.Fatalf("PUT src-%s: %d %s", name, resp.StatusCode, body)
		}
	}
	dsts := map[string]map[string]string{
		"plain": nil,
		"s3":    {"X-Amz-Server-Side-Encryption": "AES256"},
		"c":     kDst.headers(""),
	}
	for sname := range srcs {
		for dname, dhdr := range dsts {
			t.Run(sname+"-to-"+dname, func(t *testing.T) {
				hdr := merge(dhdr, map[string]string{"X-Amz-Copy-Source": "cpy/src-" + sname})
				if sname == "c" {
					hdr = merge(hdr, kSrc.headers("X-Amz-Copy-Source-"))
				}
				dst := "/cpy/dst-" + sname + "-" + dname
				resp, body := rawTLS(t, n, "PUT", dst, nil, hdr)
				if resp.StatusCode != 200 {
					t.Fatalf("copy: %d %s", resp.StatusCode, body)
				}
				wantAlg := map[string]string{"plain": "", "s3": "AES256"}[dname]
				if resp.Header.Get("X-Amz-Server-Side-Encryption") != wantAlg {
					t.Fatalf("copy answered x-amz-server-side-encryption %q", resp.Header.Get("X-Amz-Server-Side-Encryption"))
				}
				var get map[string]string // a GET takes the SSE-C key only
				if dname == "c" {
					get = kDst.headers("")
				}
				resp, body = rawTLS(t, n, "GET", dst, nil, get)
				if resp.StatusCode != 200 || !bytes.Equal(body, data) {
					t.Fatalf("GET copy: %d, %d bytes", resp.StatusCode, len(body))
				}
				if dname == "c" {
					if resp, _ := rawTLS(t, n, "GET", dst, nil, kSrc.headers("")); resp.StatusCode != 403 {
						t.Fatalf("GET of the copy with the source's key: %d", resp.StatusCode)
					}
				}
			})
		}
	}
	// The copy-source key for a source that is not SSE-C is refused.
	resp, body := rawTLS(t, n, "PUT", "/cpy/x", nil, merge(kSrc.headers("X-Amz-Copy-Source-"), map[string]string{"X-Amz-Copy-Source": "cpy/src-plain"}))
	if resp.StatusCode != 400 || errorCode(t, body) != "InvalidRequest" {
		t.Fatalf("copy-source key for a plain source: %d %s", resp.StatusCode, body)
	}
}

// TestSSEPostObject: a browser form upload into a bucket with default encryption is stored
// SSE-S3 and says so; a form's own encryption fields are refused (501), not ignored.
func TestSSEPostObject(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{keyring: testKeyring(t, sse.GenerateKey())})
	c := n.client()
	mustCreateBucket(t, c, "forms")
	if _, err := c.PutBucketEncryption(ctxT(t), &s3.PutBucketEncryptionInput{Bucket: aws.String("forms"),
		ServerSideEncryptionConfiguration: &types.ServerSideEncryptionConfiguration{Rules: []types.ServerSideEncryptionRule{
			{ApplyServerSideEncryptionByDefault: &types.ServerSideEncryptionByDefault{SSEAlgorithm: types.ServerSideEncryptionAes256}}}}}); err != nil {
		t.Fatal(err)
	}
	target, fields := signedForm(t, n, uploadsPolicy(t, time.Now().Add(time.Hour)))
	fields = withField(fields, "Content-Type", "text/plain")
	resp, body := sendForm(t, target, fields, "secret.txt", bytes.NewReader(marked(5000)))
	if resp.StatusCode != 201 || resp.Header.Get("X-Amz-Server-Side-Encryption") != "AES256" {
		t.Fatalf("POST under the default: %d %s %v", resp.StatusCode, body, resp.Header)
	}
	if o, err := n.fsm.Object("forms", "uploads/secret.txt"); err != nil || o.Encryption.Algorithm != fsm.EncryptionSSES3 {
		t.Fatalf("the form upload is not SSE-S3: %v %+v", err, o.Encryption)
	}
	if !bytes.Equal(mustGet(t, c, "forms", "uploads/secret.txt"), marked(5000)) {
		t.Fatal("the form upload does not read back")
	}
	if _, hits := n.blobFilesContain(t, []byte("NEBULAIO-PLAINTEXT-MARKER-NEBULAIO")); len(hits) > 0 {
		t.Fatalf("plaintext of a form upload on disk: %v", hits)
	}
	target, fields = signedForm(t, n, uploadsPolicy(t, time.Now().Add(time.Hour)))
	fields = withField(withField(fields, "Content-Type", "text/plain"), "x-amz-server-side-encryption", "AES256")
	if resp, body := sendForm(t, target, fields, "x.txt", strings.NewReader("x")); resp.StatusCode != 501 {
		t.Fatalf("a form's encryption field: %d %s", resp.StatusCode, body)
	}
}

// TestSSEStreamingUpload: a body the SDK cannot seek goes as aws-chunked with a trailing
// checksum (over TLS); encrypted SSE-S3 and SSE-C, it reads back and its checksum is the
// content's.
func TestSSEStreamingUpload(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{keyring: testKeyring(t, sse.GenerateKey())})
	c := n.tlsClient()
	mustCreateBucket(t, c, "stream")
	data := randBytes(3*sse.ChunkSize+99, 30)
	k := newSSECKey(13)
	for _, tc := range []struct {
		key string
		in  func(*s3.PutObjectInput)
	}{
		{"s3", func(in *s3.PutObjectInput) { in.ServerSideEncryption = types.ServerSideEncryptionAes256 }},
		{"c", func(in *s3.PutObjectInput) {
			in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(k.key), aws.String(k.md5)
		}},
	} {
		in := &s3.PutObjectInput{Bucket: aws.String("stream"), Key: aws.String(tc.key), Body: struct{ io.Reader }{bytes.NewReader(data)},
			ContentLength: aws.Int64(int64(len(data))), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c}
		tc.in(in)
		if _, err := c.PutObject(ctxT(t), in); err != nil {
			t.Fatalf("%s: streaming PUT: %v", tc.key, err)
		}
		get := &s3.GetObjectInput{Bucket: aws.String("stream"), Key: aws.String(tc.key), ChecksumMode: types.ChecksumModeEnabled}
		if tc.key == "c" {
			get.SSECustomerAlgorithm, get.SSECustomerKey, get.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(k.key), aws.String(k.md5)
		}
		out, err := c.GetObject(ctxT(t), get)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(out.Body) // the SDK validates the CRC32C as it reads
		out.Body.Close()
		if err != nil || !bytes.Equal(got, data) || aws.ToString(out.ChecksumCRC32C) == "" {
			t.Fatalf("%s: GET: %d bytes, %v, checksum %q", tc.key, len(got), err, aws.ToString(out.ChecksumCRC32C))
		}
	}
}
