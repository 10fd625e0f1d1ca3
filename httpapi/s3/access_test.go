package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/iam"
	"github.com/nebulaio/nebulaio/internal/authlimit"
)

// testKeys seals and opens the test users' secrets.
var testKeys = func() *iam.Keyring {
	k, err := iam.NewKeyring(bytes.Repeat([]byte{7}, iam.MasterKeySize))
	if err != nil {
		panic(err)
	}
	return k
}()

// mustApply proposes events through the node's backend and fails on any rejection.
func (n *node) mustApply(t *testing.T, evs ...fsm.Event) {
	t.Helper()
	for _, ev := range evs {
		res, err := n.backend.Propose(context.Background(), ev)
		if err != nil || res.Err != nil {
			t.Fatalf("%s: %v %v", ev.Type(), err, res)
		}
	}
}

// addUser creates a user with its own key pair and the named policies attached.
func (n *node) addUser(t *testing.T, name string, policies ...string) (ak, sk string) {
	t.Helper()
	ak, sk = iam.NewAccessKey(), iam.NewSecretKey()
	slices.Sort(policies)
	n.mustApply(t, &fsm.CreateUser{Name: name, AccessKey: ak, SealedSecret: testKeys.Seal(name, ak, sk), Created: 1, Policies: policies})
	return ak, sk
}

// send sends a request signed with (ak, sk), or unsigned when sk is "".
func send(t *testing.T, base, method, rawPath string, body []byte, hdr map[string]string, ak, sk string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, base+rawPath, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if len(body) > 0 && req.Header.Get("Content-Md5") == "" {
		sum := md5.Sum(body)
		req.Header.Set("Content-Md5", base64.StdEncoding.EncodeToString(sum[:]))
	}
	sum := sha256.Sum256(body)
	ph := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", ph)
	if sk != "" {
		s := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
		if err := s.SignHTTP(context.Background(), aws.Credentials{AccessKeyID: ak, SecretAccessKey: sk}, req, ph, "s3", testRegion, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// opCase is one request of an operation, on bucket {b}, and the one action and resource it
// needs; extra are the other actions it needs (a copy's source), allowed in both runs.
type opCase struct {
	op, method, path string
	hdr              map[string]string
	body             string
	action, resource string
	extra            []string // "action resource"
}

func (c opCase) in(bucket string) opCase {
	r := strings.NewReplacer("{b}", bucket)
	c.path, c.resource, c.body = r.Replace(c.path), r.Replace(c.resource), r.Replace(c.body)
	hdr := map[string]string{}
	for k, v := range c.hdr {
		hdr[k] = r.Replace(v)
	}
	c.hdr = hdr
	c.extra = slices.Clone(c.extra)
	for i := range c.extra {
		c.extra[i] = r.Replace(c.extra[i])
	}
	return c
}

const deleteBody = `<Delete><Object><Key>k</Key></Object></Delete>`

// opCases is one request of every operation the router dispatches to a handler, and of each
// version variant.
var opCases = []opCase{
	{op: "ListBuckets", method: "GET", path: "/", action: "s3:ListAllMyBuckets", resource: "arn:aws:s3:::*"},
	{op: "CreateBucket", method: "PUT", path: "/{b}-new", action: "s3:CreateBucket", resource: "arn:aws:s3:::{b}-new"},
	{op: "DeleteBucket", method: "DELETE", path: "/{b}-gone", action: "s3:DeleteBucket", resource: "arn:aws:s3:::{b}-gone"},
	{op: "HeadBucket", method: "HEAD", path: "/{b}", action: "s3:ListBucket", resource: "arn:aws:s3:::{b}"},
	{op: "ListObjects", method: "GET", path: "/{b}?prefix=a", action: "s3:ListBucket", resource: "arn:aws:s3:::{b}"},
	{op: "ListObjectsV2", method: "GET", path: "/{b}?list-type=2", action: "s3:ListBucket", resource: "arn:aws:s3:::{b}"},
	{op: "ListObjectVersions", method: "GET", path: "/{b}?versions", action: "s3:ListBucketVersions", resource: "arn:aws:s3:::{b}"},
	{op: "ListMultipartUploads", method: "GET", path: "/{b}?uploads", action: "s3:ListBucketMultipartUploads", resource: "arn:aws:s3:::{b}"},
	{op: "GetBucketLocation", method: "GET", path: "/{b}?location", action: "s3:GetBucketLocation", resource: "arn:aws:s3:::{b}"},
	{op: "GetBucketVersioning", method: "GET", path: "/{b}?versioning", action: "s3:GetBucketVersioning", resource: "arn:aws:s3:::{b}"},
	{op: "PutBucketVersioning", method: "PUT", path: "/{b}?versioning", body: `<VersioningConfiguration><Status>Suspended</Status></VersioningConfiguration>`, action: "s3:PutBucketVersioning", resource: "arn:aws:s3:::{b}"},
	{op: "GetBucketAcl", method: "GET", path: "/{b}?acl", action: "s3:GetBucketAcl", resource: "arn:aws:s3:::{b}"},
	{op: "PutBucketAcl", method: "PUT", path: "/{b}?acl", hdr: map[string]string{"X-Amz-Acl": "private"}, action: "s3:PutBucketAcl", resource: "arn:aws:s3:::{b}"},
	{op: "GetBucketTagging", method: "GET", path: "/{b}?tagging", action: "s3:GetBucketTagging", resource: "arn:aws:s3:::{b}"},
	{op: "PutBucketTagging", method: "PUT", path: "/{b}?tagging", body: `<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>`, action: "s3:PutBucketTagging", resource: "arn:aws:s3:::{b}"},
	{op: "DeleteBucketTagging", method: "DELETE", path: "/{b}?tagging", action: "s3:PutBucketTagging", resource: "arn:aws:s3:::{b}"},
	{op: "GetObjectLockConfiguration", method: "GET", path: "/{b}?object-lock", action: "s3:GetBucketObjectLockConfiguration", resource: "arn:aws:s3:::{b}"},
	{op: "PutObjectLockConfiguration", method: "PUT", path: "/{b}?object-lock", body: `<ObjectLockConfiguration/>`, action: "s3:PutBucketObjectLockConfiguration", resource: "arn:aws:s3:::{b}"},
	{op: "GetBucketLifecycleConfiguration", method: "GET", path: "/{b}?lifecycle", action: "s3:GetLifecycleConfiguration", resource: "arn:aws:s3:::{b}"},
	{op: "PutBucketLifecycleConfiguration", method: "PUT", path: "/{b}?lifecycle", body: `<LifecycleConfiguration/>`, action: "s3:PutLifecycleConfiguration", resource: "arn:aws:s3:::{b}"},
	{op: "DeleteBucketLifecycle", method: "DELETE", path: "/{b}?lifecycle", action: "s3:PutLifecycleConfiguration", resource: "arn:aws:s3:::{b}"},
	{op: "GetBucketCors", method: "GET", path: "/{b}?cors", action: "s3:GetBucketCORS", resource: "arn:aws:s3:::{b}"},
	{op: "PutBucketCors", method: "PUT", path: "/{b}?cors", body: `<CORSConfiguration/>`, action: "s3:PutBucketCORS", resource: "arn:aws:s3:::{b}"},
	{op: "DeleteBucketCors", method: "DELETE", path: "/{b}?cors", action: "s3:PutBucketCORS", resource: "arn:aws:s3:::{b}"},
	{op: "GetBucketPolicy", method: "GET", path: "/{b}?policy", action: "s3:GetBucketPolicy", resource: "arn:aws:s3:::{b}"},
	{op: "PutBucketPolicy", method: "PUT", path: "/{b}?policy", body: `{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::{b}/never/*"}]}`, action: "s3:PutBucketPolicy", resource: "arn:aws:s3:::{b}"},
	{op: "DeleteBucketPolicy", method: "DELETE", path: "/{b}?policy", action: "s3:DeleteBucketPolicy", resource: "arn:aws:s3:::{b}"},
	{op: "GetBucketPolicyStatus", method: "GET", path: "/{b}?policyStatus", action: "s3:GetBucketPolicyStatus", resource: "arn:aws:s3:::{b}"},
	{op: "GetPublicAccessBlock", method: "GET", path: "/{b}?publicAccessBlock", action: "s3:GetBucketPublicAccessBlock", resource: "arn:aws:s3:::{b}"},
	{op: "PutPublicAccessBlock", method: "PUT", path: "/{b}?publicAccessBlock", body: `<PublicAccessBlockConfiguration><BlockPublicAcls>true</BlockPublicAcls><IgnorePublicAcls>true</IgnorePublicAcls><BlockPublicPolicy>true</BlockPublicPolicy><RestrictPublicBuckets>true</RestrictPublicBuckets></PublicAccessBlockConfiguration>`, action: "s3:PutBucketPublicAccessBlock", resource: "arn:aws:s3:::{b}"},
	{op: "DeletePublicAccessBlock", method: "DELETE", path: "/{b}?publicAccessBlock", action: "s3:PutBucketPublicAccessBlock", resource: "arn:aws:s3:::{b}"},
	{op: "GetBucketEncryption", method: "GET", path: "/{b}?encryption", action: "s3:GetEncryptionConfiguration", resource: "arn:aws:s3:::{b}"},
	{op: "PutBucketEncryption", method: "PUT", path: "/{b}?encryption", body: `<ServerSideEncryptionConfiguration/>`, action: "s3:PutEncryptionConfiguration", resource: "arn:aws:s3:::{b}"},
	{op: "DeleteBucketEncryption", method: "DELETE", path: "/{b}?encryption", action: "s3:PutEncryptionConfiguration", resource: "arn:aws:s3:::{b}"},
	{op: "DeleteObjects", method: "POST", path: "/{b}?delete", body: deleteBody, action: "s3:DeleteObject", resource: "arn:aws:s3:::{b}/k"},
	{op: "DeleteObjects", method: "POST", path: "/{b}?delete", body: `<Delete><Object><Key>k</Key><VersionId>null</VersionId></Object></Delete>`, action: "s3:DeleteObjectVersion", resource: "arn:aws:s3:::{b}/k"},
	{op: "PutObject", method: "PUT", path: "/{b}/new", body: "x", action: "s3:PutObject", resource: "arn:aws:s3:::{b}/new"},
	{op: "CopyObject", method: "PUT", path: "/{b}/copy", hdr: map[string]string{"X-Amz-Copy-Source": "{b}/k"}, action: "s3:PutObject", resource: "arn:aws:s3:::{b}/copy", extra: []string{"s3:GetObject arn:aws:s3:::{b}/k"}},
	{op: "CopyObject", method: "PUT", path: "/{b}/copy", hdr: map[string]string{"X-Amz-Copy-Source": "{b}/k"}, action: "s3:GetObject", resource: "arn:aws:s3:::{b}/k", extra: []string{"s3:PutObject arn:aws:s3:::{b}/copy"}},
	{op: "CreateMultipartUpload", method: "POST", path: "/{b}/mp?uploads", action: "s3:PutObject", resource: "arn:aws:s3:::{b}/mp"},
	{op: "UploadPart", method: "PUT", path: "/{b}/mp?uploadId=U&partNumber=1", body: "x", action: "s3:PutObject", resource: "arn:aws:s3:::{b}/mp"},
	{op: "UploadPartCopy", method: "PUT", path: "/{b}/mp?uploadId=U&partNumber=1", hdr: map[string]string{"X-Amz-Copy-Source": "{b}/k"}, action: "s3:PutObject", resource: "arn:aws:s3:::{b}/mp", extra: []string{"s3:GetObject arn:aws:s3:::{b}/k"}},
	{op: "CompleteMultipartUpload", method: "POST", path: "/{b}/mp?uploadId=U", body: `<CompleteMultipartUpload/>`, action: "s3:PutObject", resource: "arn:aws:s3:::{b}/mp"},
	{op: "AbortMultipartUpload", method: "DELETE", path: "/{b}/mp?uploadId=U", action: "s3:AbortMultipartUpload", resource: "arn:aws:s3:::{b}/mp"},
	{op: "ListParts", method: "GET", path: "/{b}/mp?uploadId=U", action: "s3:ListMultipartUploadParts", resource: "arn:aws:s3:::{b}/mp"},
	{op: "GetObject", method: "GET", path: "/{b}/k", action: "s3:GetObject", resource: "arn:aws:s3:::{b}/k"},
	{op: "GetObject", method: "GET", path: "/{b}/k?versionId=null", action: "s3:GetObjectVersion", resource: "arn:aws:s3:::{b}/k"},
	{op: "HeadObject", method: "HEAD", path: "/{b}/k", action: "s3:GetObject", resource: "arn:aws:s3:::{b}/k"},
	{op: "GetObjectAttributes", method: "GET", path: "/{b}/k?attributes", hdr: map[string]string{"X-Amz-Object-Attributes": "ETag"}, action: "s3:GetObjectAttributes", resource: "arn:aws:s3:::{b}/k"},
	{op: "GetObjectAcl", method: "GET", path: "/{b}/k?acl", action: "s3:GetObjectAcl", resource: "arn:aws:s3:::{b}/k"},
	{op: "GetObjectTagging", method: "GET", path: "/{b}/k?tagging", action: "s3:GetObjectTagging", resource: "arn:aws:s3:::{b}/k"},
	{op: "PutObjectTagging", method: "PUT", path: "/{b}/k?tagging", body: `<Tagging><TagSet/></Tagging>`, action: "s3:PutObjectTagging", resource: "arn:aws:s3:::{b}/k"},
	{op: "DeleteObjectTagging", method: "DELETE", path: "/{b}/k?tagging", action: "s3:DeleteObjectTagging", resource: "arn:aws:s3:::{b}/k"},
	{op: "GetObjectRetention", method: "GET", path: "/{b}/k?retention", action: "s3:GetObjectRetention", resource: "arn:aws:s3:::{b}/k"},
	{op: "PutObjectRetention", method: "PUT", path: "/{b}/k?retention", body: `<Retention/>`, action: "s3:PutObjectRetention", resource: "arn:aws:s3:::{b}/k"},
	{op: "GetObjectLegalHold", method: "GET", path: "/{b}/k?legal-hold", action: "s3:GetObjectLegalHold", resource: "arn:aws:s3:::{b}/k"},
	{op: "PutObjectLegalHold", method: "PUT", path: "/{b}/k?legal-hold", body: `<LegalHold><Status>OFF</Status></LegalHold>`, action: "s3:PutObjectLegalHold", resource: "arn:aws:s3:::{b}/k"},
	{op: "DeleteObject", method: "DELETE", path: "/{b}/del", action: "s3:DeleteObject", resource: "arn:aws:s3:::{b}/del"},
	{op: "DeleteObject", method: "DELETE", path: "/{b}/del?versionId=null", action: "s3:DeleteObjectVersion", resource: "arn:aws:s3:::{b}/del"},
}

// denied reports whether a response refused the action: 403 AccessDenied, or for
// DeleteObjects an AccessDenied entry in its result.
func denied(t *testing.T, c opCase, resp *http.Response, body []byte) bool {
	t.Helper()
	if c.op == "DeleteObjects" && resp.StatusCode == http.StatusOK {
		return bytes.Contains(body, []byte("<Code>AccessDenied</Code>"))
	}
	if resp.StatusCode != http.StatusForbidden {
		return false
	}
	return c.method == "HEAD" || errorCode(t, body) == "AccessDenied"
}

func policyDoc(statements ...string) string {
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(statements, ",") + `]}`
}

func stmt(effect, action, resource string) string {
	return fmt.Sprintf(`{"Effect":%q,"Action":%q,"Resource":%q}`, effect, action, resource)
}

// setupAccessBucket makes bucket b with object k and an empty bucket b-gone.
func setupAccessBucket(t *testing.T, n *node, b string) {
	t.Helper()
	c := n.client()
	mustCreateBucket(t, c, b)
	mustCreateBucket(t, c, b+"-gone")
	mustPut(t, c, b, "k", []byte("data of "+b))
}

// TestEveryOperationMapsToOneAction: for every operation (table opCases, which must cover
// opActions exactly), a user allowed everything but the case's action on its resource is
// refused, and a user allowed only that action (and the case's extra ones) is not.
func TestEveryOperationMapsToOneAction(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range opCases {
		u, _ := url.Parse("http://x" + strings.ReplaceAll(c.path, "{b}", "b"))
		bucket, key, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
		op, fn, err := route(c.method, bucket, key, u.Query(), c.hdr["X-Amz-Copy-Source"] != "")
		if op != c.op || (fn == nil && c.op != "PostObject") {
			t.Fatalf("%s %s routes to %s (%v), want %s", c.method, c.path, op, err, c.op)
		}
		covered[c.op] = true
	}
	covered["PostObject"] = true // TestPostObjectAuthorized
	for op := range opActions {
		if !covered[op] {
			t.Errorf("operation %s has an action but no case", op)
		}
	}
	for _, op := range operations {
		if _, ok := opActions[op]; !ok {
			switch op {
			case "CorsPreflight", "Unknown", "PutObjectAcl": // never authorized: unsigned preflight, or refused by the router
			default:
				t.Errorf("operation %s has no IAM action", op)
			}
		}
	}
	for _, a := range opActions {
		for _, name := range []string{a.action, a.version} {
			if name != "" && !iam.IsS3Action(name) {
				t.Errorf("action %s is not an S3 action", name)
			}
		}
	}

	n := startNode(t, t.TempDir(), nodeOpts{})
	setupAccessBucket(t, n, "acc")
	n.mustApply(t, &fsm.PutPolicy{Name: "probe", Document: policyDoc(stmt("Allow", "s3:ListAllMyBuckets", "*")), Updated: 1})
	ak, sk := n.addUser(t, "probe", "probe")
	for i, c := range opCases {
		c := c.in("acc")
		t.Run(fmt.Sprintf("%02d-%s-%s", i, c.op, c.action), func(t *testing.T) {
			extras := ""
			for _, e := range c.extra {
				a, r, _ := strings.Cut(e, " ")
				extras += "," + stmt("Allow", a, r)
			}
			// Everything but the action on the resource: refused.
			n.mustApply(t, &fsm.PutPolicy{Name: "probe", Document: policyDoc(stmt("Allow", "s3:*", "*"), stmt("Deny", c.action, c.resource)), Updated: 2})
			resp, body := send(t, n.srv.URL, c.method, c.path, []byte(c.body), c.hdr, ak, sk)
			if !denied(t, c, resp, body) {
				t.Fatalf("denied %s on %s: %s %s got %d %s", c.action, c.resource, c.method, c.path, resp.StatusCode, body)
			}
			// Only the action on the resource: not refused (whatever else the request meets).
			n.mustApply(t, &fsm.PutPolicy{Name: "probe", Document: policyDoc(stmt("Allow", c.action, c.resource) + extras), Updated: 3})
			resp, body = send(t, n.srv.URL, c.method, c.path, []byte(c.body), c.hdr, ak, sk)
			if denied(t, c, resp, body) {
				t.Fatalf("allowed only %s on %s: %s %s refused: %d %s", c.action, c.resource, c.method, c.path, resp.StatusCode, body)
			}
		})
	}
}

// TestKeyLimitedToOneBucket: an application key whose policy allows everything on bucket-a
// and its objects is refused every operation on bucket-b, which is left as it was; the same
// requests on bucket-a are not refused.
func TestKeyLimitedToOneBucket(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	c := n.client()
	setupAccessBucket(t, n, "bucket-a")
	setupAccessBucket(t, n, "bucket-b")
	n.mustApply(t, &fsm.PutPolicy{Name: "only-a", Document: policyDoc(
		`{"Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::bucket-a","arn:aws:s3:::bucket-a/*"]}`), Updated: 1})
	ak, sk := n.addUser(t, "app", "only-a")
	for _, oc := range opCases {
		oc := oc.in("bucket-b")
		resp, body := send(t, n.srv.URL, oc.method, oc.path, []byte(oc.body), oc.hdr, ak, sk)
		if !denied(t, oc, resp, body) {
			t.Errorf("%s %s %s on bucket-b: %d %s, want AccessDenied", oc.op, oc.method, oc.path, resp.StatusCode, body)
		}
	}
	// bucket-b is untouched: its object, no new bucket, no policy, no tags.
	if got := mustGet(t, c, "bucket-b", "k"); string(got) != "data of bucket-b" {
		t.Fatalf("bucket-b/k = %q", got)
	}
	lo, err := c.ListObjectVersions(ctxT(t), &s3.ListObjectVersionsInput{Bucket: aws.String("bucket-b")})
	if err != nil || len(lo.Versions) != 1 || len(lo.DeleteMarkers) != 0 {
		t.Fatalf("bucket-b versions %+v %v", lo, err)
	}
	for _, b := range []string{"bucket-b-new"} {
		if _, err := n.fsm.Bucket(b); err == nil {
			t.Fatalf("bucket %s was created", b)
		}
	}
	if _, err := n.fsm.Bucket("bucket-b-gone"); err != nil {
		t.Fatalf("bucket-b-gone was deleted: %v", err)
	}
	if acc, _ := n.fsm.BucketAccess("bucket-b"); acc.Policy != "" || acc.PublicAccessBlock != fsm.DefaultPublicAccessBlock {
		t.Fatalf("bucket-b access changed: %+v", acc)
	}
	if tags, err := n.fsm.BucketTagging("bucket-b"); err == nil && len(tags) > 0 {
		t.Fatalf("bucket-b tagged: %v", tags)
	}
	// The same requests on bucket-a are allowed (a sample of reads and writes).
	for _, oc := range opCases {
		oc := oc.in("bucket-a")
		if oc.op == "ListBuckets" || oc.op == "CreateBucket" || oc.op == "DeleteBucket" {
			continue // outside bucket-a
		}
		resp, body := send(t, n.srv.URL, oc.method, oc.path, []byte(oc.body), oc.hdr, ak, sk)
		if denied(t, oc, resp, body) {
			t.Errorf("%s %s %s on bucket-a refused: %d %s", oc.op, oc.method, oc.path, resp.StatusCode, body)
		}
	}
}

// TestAnonymousAccess: an unsigned GET is refused until a public policy (with the public
// access block lifted) or a public canned ACL allows it, and only what they allow;
// RestrictPublicBuckets and IgnorePublicAcls take it back.
func TestAnonymousAccess(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	setupAccessBucket(t, n, "pub")
	setupAccessBucket(t, n, "priv")
	anon := func(method, path string, body string) int {
		resp, _ := send(t, n.srv.URL, method, path, []byte(body), nil, "", "")
		return resp.StatusCode
	}
	root := func(method, path string, hdr map[string]string, body string) (int, string) {
		resp, b := send(t, n.srv.URL, method, path, []byte(body), hdr, testAK, testSK)
		return resp.StatusCode, string(b)
	}
	expect := func(what string, got, want int) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: %d, want %d", what, got, want)
		}
	}
	expect("anonymous GET, no policy", anon("GET", "/pub/k", ""), 403)
	expect("anonymous ListBuckets", anon("GET", "/", ""), 403)
	public := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pub/*"}]}`
	st, body := root("PUT", "/pub?policy", nil, public)
	if st != 403 || !strings.Contains(body, "BlockPublicPolicy") {
		t.Fatalf("public policy under the default public access block: %d %s", st, body)
	}
	expect("delete public access block", func() int { s, _ := root("DELETE", "/pub?publicAccessBlock", nil, ""); return s }(), 204)
	expect("put public policy", func() int { s, _ := root("PUT", "/pub?policy", nil, public); return s }(), 204)
	st, body = root("GET", "/pub?policyStatus", nil, "")
	if st != 200 || !strings.Contains(body, "<IsPublic>true</IsPublic>") {
		t.Fatalf("policy status: %d %s", st, body)
	}
	st, body = root("GET", "/pub?policy", nil, "")
	if st != 200 || body != public {
		t.Fatalf("GetBucketPolicy: %d %s", st, body)
	}
	expect("anonymous GET under a public policy", anon("GET", "/pub/k", ""), 200)
	expect("anonymous HEAD under a public policy (s3:GetObject)", anon("HEAD", "/pub/k", ""), 200)
	expect("anonymous PUT under a read policy", anon("PUT", "/pub/new", "x"), 403)
	expect("anonymous list under an object policy", anon("GET", "/pub", ""), 403)
	expect("anonymous GET of another bucket", anon("GET", "/priv/k", ""), 403)
	expect("restrict public buckets", func() int {
		s, _ := root("PUT", "/pub?publicAccessBlock", nil, `<PublicAccessBlockConfiguration><RestrictPublicBuckets>true</RestrictPublicBuckets></PublicAccessBlockConfiguration>`)
		return s
	}(), 200)
	expect("anonymous GET with RestrictPublicBuckets", anon("GET", "/pub/k", ""), 403)
	expect("delete policy", func() int { s, _ := root("DELETE", "/pub?policy", nil, ""); return s }(), 204)
	st, _ = root("GET", "/pub?policyStatus", nil, "")
	expect("policy status without a policy", st, 404)

	// Canned ACLs.
	expect("public-read ACL", func() int {
		s, _ := root("PUT", "/pub?acl", map[string]string{"X-Amz-Acl": "public-read"}, "")
		return s
	}(), 200)
	expect("anonymous GET under public-read", anon("GET", "/pub/k", ""), 200)
	expect("anonymous list under public-read", anon("GET", "/pub", ""), 200)
	expect("anonymous PUT under public-read", anon("PUT", "/pub/new", "x"), 403)
	st, body = root("GET", "/pub?acl", nil, "")
	if st != 200 || !strings.Contains(body, "global/AllUsers") {
		t.Fatalf("GetBucketAcl: %d %s", st, body)
	}
	expect("ignore public ACLs", func() int {
		s, _ := root("PUT", "/pub?publicAccessBlock", nil, `<PublicAccessBlockConfiguration><IgnorePublicAcls>true</IgnorePublicAcls></PublicAccessBlockConfiguration>`)
		return s
	}(), 200)
	expect("anonymous GET with IgnorePublicAcls", anon("GET", "/pub/k", ""), 403)
	st, body = root("PUT", "/priv?acl", map[string]string{"X-Amz-Acl": "public-read"}, "")
	if st != 403 || !strings.Contains(body, "BlockPublicAcls") {
		t.Fatalf("public ACL under the default block: %d %s", st, body)
	}
	expect("unknown canned ACL", func() int {
		s, _ := root("PUT", "/priv?acl", map[string]string{"X-Amz-Acl": "bucket-owner-full-control"}, "")
		return s
	}(), 501)

	// authenticated-read: any user, never anonymous.
	expect("authenticated-read", func() int {
		s, _ := root("PUT", "/priv?acl", map[string]string{"X-Amz-Acl": "authenticated-read"}, "")
		return s
	}(), 200)
	ak, sk := n.addUser(t, "nobody")
	resp, _ := send(t, n.srv.URL, "GET", "/priv/k", nil, nil, ak, sk)
	expect("user GET under authenticated-read", resp.StatusCode, 200)
	resp, _ = send(t, n.srv.URL, "PUT", "/priv/k2", []byte("x"), nil, ak, sk)
	expect("user PUT under authenticated-read", resp.StatusCode, 403)
	expect("anonymous GET under authenticated-read", anon("GET", "/priv/k", ""), 403)
	// public-read-write: an anonymous PUT stores its (unsigned, but checked) body.
	expect("delete public access block", func() int { s, _ := root("DELETE", "/pub?publicAccessBlock", nil, ""); return s }(), 204)
	expect("public-read-write ACL", func() int {
		s, _ := root("PUT", "/pub?acl", map[string]string{"X-Amz-Acl": "public-read-write"}, "")
		return s
	}(), 200)
	req, _ := http.NewRequest("PUT", n.srv.URL+"/pub/anon", strings.NewReader("hello, anyone"))
	req.Header.Set("X-Amz-Content-Sha256", strings.Repeat("0", 64)) // a wrong digest is refused
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("anonymous PUT with a wrong digest: %d", resp.StatusCode)
	}
	expect("anonymous PUT under public-read-write", anon("PUT", "/pub/anon", "hello, anyone"), 200)
	if got := mustGet(t, n.client(), "pub", "anon"); string(got) != "hello, anyone" {
		t.Fatalf("anonymous upload reads %q", got)
	}
	expect("anonymous DELETE under public-read-write", anon("DELETE", "/pub/anon", ""), 204)
	expect("anonymous bucket policy change", anon("DELETE", "/pub?policy", ""), 403)
	// Creating a bucket with a public ACL is refused before it exists.
	st, _ = root("PUT", "/newpub", map[string]string{"X-Amz-Acl": "public-read"}, "")
	expect("CreateBucket public-read", st, 403)
	if _, err := n.fsm.Bucket("newpub"); err == nil {
		t.Fatal("the bucket refused its public ACL was created")
	}
}

// TestUserKeys: a user's key authenticates while it is enabled; disabled or deleted it is
// InvalidAccessKeyId; a rotated secret replaces the old one; an explicit Deny beats an Allow.
func TestUserKeys(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	setupAccessBucket(t, n, "keys")
	n.mustApply(t, &fsm.PutPolicy{Name: "rw", Document: policyDoc(stmt("Allow", "s3:*", "arn:aws:s3:::keys/*")), Updated: 1},
		&fsm.PutPolicy{Name: "no-secret", Document: policyDoc(stmt("Deny", "s3:GetObject", "arn:aws:s3:::keys/secret*")), Updated: 1})
	ak, sk := n.addUser(t, "app", "rw", "no-secret")
	status := func(method, path, body, ak, sk string) (int, string) {
		resp, b := send(t, n.srv.URL, method, path, []byte(body), nil, ak, sk)
		if resp.StatusCode >= 400 && method != "HEAD" {
			return resp.StatusCode, errorCode(t, b)
		}
		return resp.StatusCode, ""
	}
	check := func(what string, gotSt int, gotCode string, st int, code string) {
		t.Helper()
		if gotSt != st || gotCode != code {
			t.Fatalf("%s: %d %s, want %d %s", what, gotSt, gotCode, st, code)
		}
	}
	st, code := status("PUT", "/keys/secret-plans", "x", ak, sk)
	check("put", st, code, 200, "")
	st, code = status("GET", "/keys/secret-plans", "", ak, sk)
	check("explicit deny wins", st, code, 403, "AccessDenied")
	st, code = status("GET", "/keys/k", "", ak, sk)
	check("allowed get", st, code, 200, "")
	n.mustApply(t, &fsm.SetUserStatus{Name: "app", Disabled: true})
	st, code = status("GET", "/keys/k", "", ak, sk)
	check("disabled", st, code, 403, "InvalidAccessKeyId")
	n.mustApply(t, &fsm.SetUserStatus{Name: "app"})
	sk2 := iam.NewSecretKey()
	n.mustApply(t, &fsm.SetUserSecret{Name: "app", SealedSecret: testKeys.Seal("app", ak, sk2), Updated: 2})
	st, code = status("GET", "/keys/k", "", ak, sk)
	check("old secret", st, code, 403, "SignatureDoesNotMatch")
	st, code = status("GET", "/keys/k", "", ak, sk2)
	check("rotated secret", st, code, 200, "")
	n.mustApply(t, &fsm.DeleteUser{Name: "app"})
	st, code = status("GET", "/keys/k", "", ak, sk2)
	check("deleted", st, code, 403, "InvalidAccessKeyId")
	// A secret sealed under another master key: an internal error, not a silent deny.
	other, _ := iam.NewKeyring(bytes.Repeat([]byte{9}, iam.MasterKeySize))
	ak3, sk3 := iam.NewAccessKey(), iam.NewSecretKey()
	n.mustApply(t, &fsm.CreateUser{Name: "foreign", AccessKey: ak3, SealedSecret: other.Seal("foreign", ak3, sk3), Created: 3})
	st, code = status("GET", "/keys/k", "", ak3, sk3)
	check("foreign master key", st, code, 500, "InternalError")
}

// TestAuthFailuresLimited: wrong signatures from one address use up its bucket; then even a
// good signature gets 503 SlowDown with Retry-After, and the failures are counted.
func TestAuthFailuresLimited(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{authLimit: authlimit.Config{Burst: 3, Rate: 0.01}})
	mustCreateBucket(t, n.client(), "lim")
	for i := 0; i < 3; i++ {
		resp, body := send(t, n.srv.URL, "GET", "/lim", nil, nil, testAK, "wrong-secret")
		if resp.StatusCode != 403 || errorCode(t, body) != "SignatureDoesNotMatch" {
			t.Fatalf("failure %d: %d %s", i, resp.StatusCode, body)
		}
	}
	resp, body := send(t, n.srv.URL, "GET", "/lim", nil, nil, testAK, testSK)
	if resp.StatusCode != 503 || errorCode(t, body) != "SlowDown" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("after the burst: %d %s (Retry-After %q)", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	if f, th := n.metrics.get(MetricAuthFailures), n.metrics.get(MetricAuthThrottled); f != 3 || th != 1 {
		t.Fatalf("metrics: failures %v throttled %v", f, th)
	}
	if strings.Contains(string(body), testSK) {
		t.Fatal("the error names the secret")
	}
}

// TestPostObjectAuthorized: a POST form signed by a user uploads only where the user may
// s3:PutObject.
func TestPostObjectAuthorized(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	mustCreateBucket(t, n.client(), "forms")
	n.mustApply(t, &fsm.PutPolicy{Name: "uploads", Document: policyDoc(stmt("Allow", "s3:PutObject", "arn:aws:s3:::forms/uploads/*")), Updated: 1})
	ak, sk := n.addUser(t, "browser", "uploads")
	mc := minioClient(t, n, minio.Options{Region: testRegion, Creds: credentials.NewStaticV4(ak, sk, "")})
	for _, tc := range []struct {
		key    string
		status int
	}{{"uploads/a.txt", 204}, {"elsewhere/a.txt", 403}} {
		p := minio.NewPostPolicy()
		for _, err := range []error{p.SetBucket("forms"), p.SetKey(tc.key), p.SetExpires(time.Now().Add(time.Hour))} {
			if err != nil {
				t.Fatal(err)
			}
		}
		u, data, err := mc.PresignedPostPolicy(ctxT(t), p)
		if err != nil {
			t.Fatal(err)
		}
		fields := []formField{{"key", data["key"]}}
		for k, v := range data {
			if k != "key" {
				fields = append(fields, formField{k, v})
			}
		}
		resp, body := sendForm(t, u.String(), fields, "a.txt", strings.NewReader("x"))
		if resp.StatusCode != tc.status {
			t.Fatalf("POST %s: %d %s, want %d", tc.key, resp.StatusCode, body, tc.status)
		}
	}
	if _, err := n.fsm.Object("forms", "elsewhere/a.txt"); err == nil {
		t.Fatal("the refused form upload was stored")
	}
}

// syncBuffer is a bytes.Buffer safe for the handler's concurrent log writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLogsHoldNoSecrets: the handler's debug log of signed, wrongly signed, user and
// anonymous requests holds no secret key and no signature.
func TestLogsHoldNoSecrets(t *testing.T) {
	var log syncBuffer
	n := startNode(t, t.TempDir(), nodeOpts{log: &log})
	mustCreateBucket(t, n.client(), "logs")
	ak, sk := n.addUser(t, "app")
	var sigs []string
	for _, c := range []struct{ ak, sk string }{{testAK, testSK}, {testAK, "wrong-secret-key"}, {ak, sk}, {"", ""}} {
		req, err := http.NewRequest("GET", n.srv.URL+"/logs/k", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Amz-Content-Sha256", v4EmptyHash)
		if c.sk != "" {
			if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: c.ak, SecretAccessKey: c.sk}, req, v4EmptyHash, "s3", testRegion, time.Now()); err != nil {
				t.Fatal(err)
			}
			_, sig, _ := strings.Cut(req.Header.Get("Authorization"), "Signature=")
			sigs = append(sigs, sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	out := log.String()
	if !strings.Contains(out, "s3 request") {
		t.Fatalf("nothing logged: %q", out)
	}
	for _, s := range append(sigs, testSK, sk, "wrong-secret-key") {
		if strings.Contains(out, s) {
			t.Fatalf("the log holds %q:\n%s", s, out)
		}
	}
}

const v4EmptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// TestConditions: s3:prefix narrows listings, aws:SecureTransport tells TLS from plain HTTP,
// aws:SourceIp is the connection's peer (a forwarded-for header changes nothing).
func TestConditions(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	setupAccessBucket(t, n, "cond")
	n.mustApply(t, &fsm.PutPolicy{Name: "home", Updated: 1, Document: `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::cond","Condition":{"StringLike":{"s3:prefix":"home/app/*"}}},
		{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::cond/*"},
		{"Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::cond/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}},
		{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::cond/*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}`})
	ak, sk := n.addUser(t, "app", "home")
	for _, tc := range []struct {
		method, path string
		hdr          map[string]string
		status       int
	}{
		{"GET", "/cond?list-type=2&prefix=home/app/", nil, 200},
		{"GET", "/cond?list-type=2&prefix=home/other/", nil, 403},
		{"GET", "/cond?list-type=2", nil, 403},                                      // no prefix: "" does not match
		{"GET", "/cond/k", nil, 403},                                                // plain HTTP: denied
		{"PUT", "/cond/new", nil, 403},                                              // 127.0.0.1 is not in 10/8
		{"PUT", "/cond/new", map[string]string{"X-Forwarded-For": "10.1.2.3"}, 403}, // a header is not the peer
	} {
		resp, body := send(t, n.srv.URL, tc.method, tc.path, []byte(""), tc.hdr, ak, sk)
		if resp.StatusCode != tc.status {
			t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.path, resp.StatusCode, body, tc.status)
		}
	}
	// Over TLS the SecureTransport deny does not apply.
	req, _ := http.NewRequest("GET", n.tlsSrv.URL+"/cond/k", nil)
	req.Header.Set("X-Amz-Content-Sha256", v4EmptyHash)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: ak, SecretAccessKey: sk}, req, v4EmptyHash, "s3", testRegion, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := n.tlsSrv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET over TLS: %d", resp.StatusCode)
	}
}
