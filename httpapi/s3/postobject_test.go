package s3

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7"
	encrypt "github.com/minio/minio-go/v7/pkg/encrypt"
)

// formField is one field of a POST form, in order.
type formField struct{ name, value string }

// sendForm sends a multipart/form-data POST to target: fields, then the file (streamed, never
// held whole), then after. It returns the response and its body.
func sendForm(t *testing.T, target string, fields []formField, filename string, file io.Reader, after ...formField) (*http.Response, []byte) {
	t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := func() error {
			for _, f := range fields {
				if err := mw.WriteField(f.name, f.value); err != nil {
					return err
				}
			}
			if file != nil {
				w, err := mw.CreateFormFile("file", filename)
				if err != nil {
					return err
				}
				if _, err := io.Copy(w, file); err != nil {
					return err
				}
			}
			for _, f := range after {
				if err := mw.WriteField(f.name, f.value); err != nil {
					return err
				}
			}
			return mw.Close()
		}()
		pw.CloseWithError(err)
	}()
	req, err := http.NewRequest(http.MethodPost, target, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// signedForm returns the fields of a form minio-go signs for policy p, the key field first as
// browsers send what the page lists, then extra fields (which the policy must name).
func signedForm(t *testing.T, n *node, p *minio.PostPolicy, extra ...formField) (string, []formField) {
	t.Helper()
	u, data, err := minioClient(t, n, minio.Options{Region: testRegion}).PresignedPostPolicy(ctxT(t), p)
	if err != nil {
		t.Fatal(err)
	}
	fields := []formField{{"key", data["key"]}}
	for k, v := range data {
		if k != "key" {
			fields = append(fields, formField{k, v})
		}
	}
	return u.String(), append(fields, extra...)
}

// uploadsPolicy allows keys under uploads/ in bucket "forms", text files of 1 byte to 1 MiB,
// with the color metadata, answered with 201.
func uploadsPolicy(t *testing.T, expires time.Time) *minio.PostPolicy {
	t.Helper()
	p := minio.NewPostPolicy()
	for _, err := range []error{p.SetBucket("forms"), p.SetKey("uploads/${filename}"), p.SetExpires(expires),
		p.SetContentLengthRange(1, 1<<20), p.SetContentTypeStartsWith("text/"), p.SetUserMetadata("color", "blue"),
		p.SetSuccessStatusAction("201")} {
		if err != nil {
			t.Fatal(err)
		}
	}
	// SetKey makes an eq condition on the form's key field as sent, ${filename} and all.
	return p
}

func withField(fields []formField, name, value string) []formField {
	out := make([]formField, 0, len(fields)+1)
	found := false
	for _, f := range fields {
		if f.name == name {
			f.value, found = value, true
		}
		out = append(out, f)
	}
	if !found {
		out = append(out, formField{name, value})
	}
	return out
}

// TestPostObject: a browser form signed with minio-go's POST policy uploads its file under
// the key with ${filename} replaced, with the form's metadata, and answers 201 with S3's
// PostResponse; redirects and the default 204 work; a large file streams.
func TestPostObject(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	c := n.client()
	mustCreateBucket(t, c, "forms")
	target, fields := signedForm(t, n, uploadsPolicy(t, time.Now().Add(time.Hour)))
	fields = withField(fields, "Content-Type", "text/plain")
	resp, body := sendForm(t, target, fields, "hello.txt", strings.NewReader("hello, browser"))
	if resp.StatusCode != 201 {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	var pr postResponse
	sum := md5.Sum([]byte("hello, browser"))
	if err := xml.Unmarshal(body, &pr); err != nil || pr.Key != "uploads/hello.txt" || pr.Bucket != "forms" || pr.ETag != `"`+hex.EncodeToString(sum[:])+`"` ||
		resp.Header.Get("Location") != pr.Location || !strings.HasSuffix(pr.Location, "/forms/uploads/hello.txt") {
		t.Fatalf("PostResponse %+v %v (%s)", pr, err, body)
	}
	out, err := c.GetObject(ctxT(t), &s3.GetObjectInput{Bucket: aws.String("forms"), Key: aws.String("uploads/hello.txt")})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if string(got) != "hello, browser" || aws.ToString(out.ContentType) != "text/plain" || out.Metadata["color"] != "blue" {
		t.Fatalf("stored object %q %q %v", got, aws.ToString(out.ContentType), out.Metadata)
	}

	p := minio.NewPostPolicy()
	for _, err := range []error{p.SetBucket("forms"), p.SetKey("r/${filename}"), p.SetExpires(time.Now().Add(time.Hour)),
		p.SetSuccessActionRedirect("https://app.example.com/done?x=1")} {
		if err != nil {
			t.Fatal(err)
		}
	}
	target, fields = signedForm(t, n, p)
	resp, body = sendForm(t, target, fields, "a b.txt", strings.NewReader("r"))
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != 303 || loc == nil || loc.Host != "app.example.com" || loc.Query().Get("key") != "r/a b.txt" ||
		loc.Query().Get("bucket") != "forms" || loc.Query().Get("x") != "1" || !strings.HasPrefix(loc.Query().Get("etag"), `"`) {
		t.Fatalf("redirect: %d %v %s", resp.StatusCode, resp.Header, body)
	}

	p = minio.NewPostPolicy()
	for _, err := range []error{p.SetBucket("forms"), p.SetKeyStartsWith("big/"), p.SetExpires(time.Now().Add(time.Hour))} {
		if err != nil {
			t.Fatal(err)
		}
	}
	target, fields = signedForm(t, n, p)
	fields = withField(fields, "key", "big/blob")
	big := randBytes(24<<20, 7)
	resp, body = sendForm(t, target, fields, "blob", bytes.NewReader(big))
	if resp.StatusCode != 204 {
		t.Fatalf("large POST: %d %s", resp.StatusCode, body)
	}
	if got := mustGet(t, c, "forms", "big/blob"); !bytes.Equal(got, big) {
		t.Fatal("the large upload differs")
	}
}

// TestPostObjectRefusals: S3's answers to forms their policy does not allow, to broken forms
// and to fields asking for what is not implemented; none of them leaves an object or a blob.
func TestPostObjectRefusals(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	c := n.client()
	mustCreateBucket(t, c, "forms")
	target, good := signedForm(t, n, uploadsPolicy(t, time.Now().Add(time.Hour)))
	good = withField(good, "Content-Type", "text/plain")
	_, expired := signedForm(t, n, uploadsPolicy(t, time.Now().Add(-time.Minute)))
	expired = withField(expired, "Content-Type", "text/plain")
	sse := uploadsPolicy(t, time.Now().Add(time.Hour))
	sse.SetEncryption(encrypt.NewSSE())
	_, withSSE := signedForm(t, n, sse)
	withSSE = withField(withSSE, "Content-Type", "text/plain")
	file := "0123456789"
	without := func(name string) []formField {
		var out []formField
		for _, f := range good {
			if f.name != name {
				out = append(out, f)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		fields []formField
		file   string
		after  []formField
		status int
		code   string
		msg    string
	}{
		{"expired", expired, file, nil, 403, "AccessDenied", "Policy expired"},
		{"key not allowed", withField(good, "key", "elsewhere/x"), file, nil, 403, "AccessDenied", "Policy Condition failed"},
		{"content type not allowed", withField(good, "Content-Type", "image/png"), file, nil, 403, "AccessDenied", "Policy Condition failed"},
		{"field the policy does not name", withField(good, "Cache-Control", "no-cache"), file, nil, 403, "AccessDenied", "Extra input fields: cache-control"},
		{"too large", good, strings.Repeat("x", 1<<20+1), nil, 400, "EntityTooLarge", ""},
		{"too small", good, "", nil, 400, "EntityTooSmall", ""},
		{"signature", withField(good, "x-amz-signature", strings.Repeat("0", 64)), file, nil, 403, "SignatureDoesNotMatch", ""},
		{"no policy", without("policy"), file, nil, 403, "AccessDenied", ""},
		{"no credential", without("x-amz-credential"), file, nil, 400, "InvalidArgument", "x-amz-credential"},
		{"field after the file", good, file, []formField{{"x-amz-meta-late", "1"}}, 400, "InvalidArgument", "last field"},
		{"another bucket field", withField(good, "bucket", "other"), file, nil, 400, "InvalidArgument", ""},
		{"encryption", withSSE, file, nil, 501, "NotImplemented", "server-side encryption"},
		{"unknown field", withField(good, "tagging", "<Tagging/>"), file, nil, 501, "NotImplemented", "tagging"},
		{"SigV2 form", withField(withField(without("x-amz-signature"), "AWSAccessKeyId", testAK), "signature", "x"), file, nil, 501, "NotImplemented", ""},
	} {
		resp, body := sendForm(t, target, tc.fields, "f.txt", strings.NewReader(tc.file), tc.after...)
		if resp.StatusCode != tc.status || errorCode(t, body) != tc.code || !strings.Contains(string(body), tc.msg) {
			t.Errorf("%s: %d %s, want %d %s %q", tc.name, resp.StatusCode, body, tc.status, tc.code, tc.msg)
		}
	}
	resp, body := sendForm(t, target, good, "", nil)
	if resp.StatusCode != 400 || errorCode(t, body) != "InvalidArgument" {
		t.Errorf("no file: %d %s", resp.StatusCode, body)
	}
	lo, err := c.ListObjectsV2(ctxT(t), &s3.ListObjectsV2Input{Bucket: aws.String("forms")})
	if err != nil || len(lo.Contents) != 0 {
		t.Fatalf("objects after refused forms: %+v %v", lo.Contents, err)
	}
	if got := n.blobCount(); got != 0 {
		t.Fatalf("%d blobs left by refused forms", got)
	}
	resp, body = sendForm(t, target, good, "ok.txt", strings.NewReader(file))
	if resp.StatusCode != 201 {
		t.Fatalf("the good form after the refusals: %d %s", resp.StatusCode, body)
	}
}
