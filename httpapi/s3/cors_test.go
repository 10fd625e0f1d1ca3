package s3

import (
	"crypto/md5"
	"encoding/base64"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func putCors(t *testing.T, c *s3.Client, bucket string, rules ...types.CORSRule) error {
	t.Helper()
	_, err := c.PutBucketCors(ctxT(t), &s3.PutBucketCorsInput{Bucket: aws.String(bucket), CORSConfiguration: &types.CORSConfiguration{CORSRules: rules}})
	return err
}

var webRules = []types.CORSRule{
	{ID: aws.String("app"), AllowedOrigins: []string{"https://*.example.com"}, AllowedMethods: []string{"GET", "PUT", "POST"},
		AllowedHeaders: []string{"Content-Type", "x-amz-*"}, ExposeHeaders: []string{"ETag", "x-amz-version-id"}, MaxAgeSeconds: aws.Int32(600)},
	{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"HEAD"}},
}

// TestCorsConfiguration: rules round trip through the AWS SDK; S3's refusals are refused with
// its codes.
func TestCorsConfiguration(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	c := n.client()
	mustCreateBucket(t, c, "web")
	_, err := c.GetBucketCors(ctxT(t), &s3.GetBucketCorsInput{Bucket: aws.String("web")})
	wantCode(t, err, "NoSuchCORSConfiguration", 404)
	if err := putCors(t, c, "web", webRules...); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetBucketCors(ctxT(t), &s3.GetBucketCorsInput{Bucket: aws.String("web")})
	if err != nil || len(got.CORSRules) != 2 || aws.ToInt32(got.CORSRules[0].MaxAgeSeconds) != 600 || got.CORSRules[1].MaxAgeSeconds != nil ||
		got.CORSRules[0].ExposeHeaders[1] != "x-amz-version-id" || aws.ToString(got.CORSRules[0].ID) != "app" {
		t.Fatalf("GetBucketCors %+v %v", got, err)
	}
	for _, tc := range []struct {
		name string
		rule types.CORSRule
		code string
	}{
		{"unsupported method", types.CORSRule{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"PATCH"}}, "InvalidRequest"},
		{"two wildcards in an origin", types.CORSRule{AllowedOrigins: []string{"https://*.*.com"}, AllowedMethods: []string{"GET"}}, "InvalidRequest"},
		{"wildcard expose header", types.CORSRule{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}, ExposeHeaders: []string{"x-*"}}, "InvalidRequest"},
	} {
		if err := putCors(t, c, "web", tc.rule); apiCode(err) != tc.code {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
	for _, doc := range []string{ // what the SDK would not even send
		`<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>`,
		`<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin></CORSRule></CORSConfiguration>`,
		`<CORSConfiguration></CORSConfiguration>`,
		`<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><Credentials/></CORSRule></CORSConfiguration>`,
	} {
		sum := md5.Sum([]byte(doc))
		resp, out := rawRequest(t, n.srv.URL, "PUT", "/web?cors", []byte(doc), map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(sum[:])}, zeroTime, testSK)
		if resp.StatusCode != 400 || errorCode(t, out) != "MalformedXML" {
			t.Errorf("%s: %d %s", doc, resp.StatusCode, out)
		}
	}
	if got, _ := c.GetBucketCors(ctxT(t), &s3.GetBucketCorsInput{Bucket: aws.String("web")}); len(got.CORSRules) != 2 {
		t.Fatal("a refused configuration changed the rules")
	}
	if _, err := c.DeleteBucketCors(ctxT(t), &s3.DeleteBucketCorsInput{Bucket: aws.String("web")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetBucketCors(ctxT(t), &s3.GetBucketCorsInput{Bucket: aws.String("web")})
	wantCode(t, err, "NoSuchCORSConfiguration", 404)
}

// preflight sends an unsigned OPTIONS request.
func preflight(t *testing.T, base, path string, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodOptions, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestCorsPreflight: an unsigned OPTIONS is answered from the bucket's rules (one wildcard in
// origins and headers, methods, expose headers, max age); one no rule allows is 403; actual
// responses carry the CORS headers when a rule allows their origin and method, errors
// included.
func TestCorsPreflight(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	c := n.client()
	mustCreateBucket(t, c, "web")
	mustCreateBucket(t, c, "closed")
	if err := putCors(t, c, "web", webRules...); err != nil {
		t.Fatal(err)
	}
	mustPut(t, c, "web", "page.html", []byte("<p>hi</p>"))
	ok := map[string]string{"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT",
		"Access-Control-Request-Headers": "content-type, X-Amz-Meta-Color"}
	resp := preflight(t, n.srv.URL, "/web/upload.bin", ok)
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		resp.Header.Get("Access-Control-Allow-Methods") != "GET, PUT, POST" || resp.Header.Get("Access-Control-Max-Age") != "600" ||
		resp.Header.Get("Access-Control-Allow-Headers") != "content-type, x-amz-meta-color" ||
		resp.Header.Get("Access-Control-Expose-Headers") != "ETag, x-amz-version-id" || resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("allowed preflight: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := preflight(t, n.srv.URL, "/web", map[string]string{"Origin": "http://anywhere.test", "Access-Control-Request-Method": "HEAD"}); resp.StatusCode != 200 ||
		resp.Header.Get("Access-Control-Allow-Origin") != "*" || resp.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("wildcard origin: %d %v", resp.StatusCode, resp.Header)
	}
	for _, tc := range []struct {
		name   string
		path   string
		hdr    map[string]string
		status int
	}{
		{"origin not allowed", "/web/k", map[string]string{"Origin": "https://example.org", "Access-Control-Request-Method": "GET"}, 403},
		{"origin with the wildcard empty", "/web/k", map[string]string{"Origin": "https://example.com", "Access-Control-Request-Method": "GET"}, 403},
		{"method not allowed", "/web/k", map[string]string{"Origin": "https://app.example.com", "Access-Control-Request-Method": "DELETE"}, 403},
		{"header not allowed", "/web/k", map[string]string{"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "authorization"}, 403},
		{"bucket without CORS", "/closed/k", map[string]string{"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"}, 403},
		{"no such bucket", "/nothere/k", map[string]string{"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"}, 404},
		{"no origin", "/web/k", map[string]string{"Access-Control-Request-Method": "GET"}, 400},
		{"no method", "/web/k", map[string]string{"Origin": "https://app.example.com"}, 400},
	} {
		if resp := preflight(t, n.srv.URL, tc.path, tc.hdr); resp.StatusCode != tc.status || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: %d %v, want %d", tc.name, resp.StatusCode, resp.Header, tc.status)
		}
	}
	resp, _ = rawRequest(t, n.srv.URL, "GET", "/web/page.html", nil, map[string]string{"Origin": "https://app.example.com"}, zeroTime, testSK)
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || resp.Header.Get("Vary") != "Origin" {
		t.Fatalf("actual GET: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = rawRequest(t, n.srv.URL, "GET", "/web/missing", nil, map[string]string{"Origin": "https://app.example.com"}, zeroTime, testSK)
	if resp.StatusCode != 404 || resp.Header.Get("Access-Control-Expose-Headers") != "ETag, x-amz-version-id" {
		t.Fatalf("actual GET of a missing key: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = rawRequest(t, n.srv.URL, "DELETE", "/web/page.html", nil, map[string]string{"Origin": "https://app.example.com"}, zeroTime, testSK)
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("a method no rule allows: %d %v", resp.StatusCode, resp.Header)
	}
}
