package iam

import (
	"errors"
	"strings"
	"testing"
)

func mustIdentity(t *testing.T, doc string) *Policy {
	t.Helper()
	p, err := ParseIdentityPolicy([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustBucket(t *testing.T, bucket, doc string) *Policy {
	t.Helper()
	p, err := ParseBucketPolicy(bucket, []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var (
	alice = Principal{Kind: User, User: "alice"}
	bob   = Principal{Kind: User, User: "bob"}
	anon  = Principal{Kind: Anonymous}
	root  = Principal{Kind: Root}
)

func req(who Principal, action, resource string, ctx ...string) *Request {
	r := &Request{Principal: who, Action: action, Resource: resource, Context: map[string]string{}}
	for i := 0; i+1 < len(ctx); i += 2 {
		r.Context[ctx[i]] = ctx[i+1]
	}
	return r
}

// TestEvaluate is the policy language's semantics, one case per rule.
func TestEvaluate(t *testing.T) {
	appOnly := `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::bucket-a/*"},
		{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bucket-a"}]}`
	denySecret := `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"s3:*","Resource":"*"},
		{"Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::bucket-a/secret/*"}]}`
	notAction := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"s3:Delete*","NotResource":"arn:aws:s3:::locked/*"}]}`
	homeList := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::home",
		"Condition":{"StringLike":{"s3:prefix":["alice/*","alice/"]},"StringEquals":{"s3:delimiter":"/"}}}]}`
	notPrefix := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::home",
		"Condition":{"StringNotLike":{"s3:prefix":"private/*"}}}]}`
	office := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*",
		"Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","2001:db8::/32"]}}}]}`
	notOffice := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*",
		"Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}`
	tlsOnly := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*",
		"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`
	ifExists := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*",
		"Condition":{"StringEqualsIfExists":{"s3:prefix":"pub/"}}}]}`
	null := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*",
		"Condition":{"Null":{"s3:prefix":"true"}}}]}`
	ignoreCase := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*",
		"Condition":{"StringEqualsIgnoreCase":{"s3:prefix":"Docs/"}}}]}`
	public := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::web/*"}]}`
	forBob := `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/bob"},"Action":"s3:*","Resource":["arn:aws:s3:::web","arn:aws:s3:::web/*"]},
		{"Effect":"Deny","Principal":{"AWS":"*"},"Action":"s3:DeleteObject","Resource":"arn:aws:s3:::web/keep/*"}]}`

	cases := []struct {
		name     string
		policies []*Policy
		r        *Request
		want     Decision
	}{
		{"default deny: no policy", nil, req(alice, "s3:GetObject", "arn:aws:s3:::bucket-a/k"), NoDecision},
		{"allow on the bucket's objects", []*Policy{mustIdentity(t, appOnly)}, req(alice, "s3:GetObject", "arn:aws:s3:::bucket-a/k/x"), Allowed},
		{"action compared case-insensitively", []*Policy{mustIdentity(t, appOnly)}, req(alice, "S3:GETOBJECT", "arn:aws:s3:::bucket-a/k"), Allowed},
		{"resource compared exactly", []*Policy{mustIdentity(t, appOnly)}, req(alice, "s3:GetObject", "arn:aws:s3:::Bucket-a/k"), NoDecision},
		{"other bucket", []*Policy{mustIdentity(t, appOnly)}, req(alice, "s3:GetObject", "arn:aws:s3:::bucket-b/k"), NoDecision},
		{"other action", []*Policy{mustIdentity(t, appOnly)}, req(alice, "s3:DeleteObject", "arn:aws:s3:::bucket-a/k"), NoDecision},
		{"object pattern does not cover the bucket", []*Policy{mustIdentity(t, appOnly)}, req(alice, "s3:GetObject", "arn:aws:s3:::bucket-a"), NoDecision},
		{"list the bucket", []*Policy{mustIdentity(t, appOnly)}, req(alice, "s3:ListBucket", "arn:aws:s3:::bucket-a"), Allowed},
		{"explicit deny wins in the same policy", []*Policy{mustIdentity(t, denySecret)}, req(alice, "s3:GetObject", "arn:aws:s3:::bucket-a/secret/x"), Denied},
		{"explicit deny wins across policies", []*Policy{mustIdentity(t, appOnly), mustIdentity(t, denySecret)}, req(alice, "s3:PutObject", "arn:aws:s3:::bucket-a/secret/x"), Denied},
		{"deny does not reach elsewhere", []*Policy{mustIdentity(t, denySecret)}, req(alice, "s3:GetObject", "arn:aws:s3:::bucket-a/open/x"), Allowed},
		{"NotAction allows the others", []*Policy{mustIdentity(t, notAction)}, req(alice, "s3:GetObject", "arn:aws:s3:::any/k"), Allowed},
		{"NotAction excludes", []*Policy{mustIdentity(t, notAction)}, req(alice, "s3:DeleteObject", "arn:aws:s3:::any/k"), NoDecision},
		{"NotResource excludes", []*Policy{mustIdentity(t, notAction)}, req(alice, "s3:GetObject", "arn:aws:s3:::locked/k"), NoDecision},
		{"s3:prefix and s3:delimiter hold", []*Policy{mustIdentity(t, homeList)}, req(alice, "s3:ListBucket", "arn:aws:s3:::home", KeyPrefix, "alice/docs/", KeyDelimiter, "/"), Allowed},
		{"s3:prefix fails", []*Policy{mustIdentity(t, homeList)}, req(alice, "s3:ListBucket", "arn:aws:s3:::home", KeyPrefix, "bob/", KeyDelimiter, "/"), NoDecision},
		{"all conditions must hold", []*Policy{mustIdentity(t, homeList)}, req(alice, "s3:ListBucket", "arn:aws:s3:::home", KeyPrefix, "alice/", KeyDelimiter, ""), NoDecision},
		{"absent key fails a positive condition", []*Policy{mustIdentity(t, homeList)}, req(alice, "s3:ListBucket", "arn:aws:s3:::home"), NoDecision},
		{"StringNotLike holds", []*Policy{mustIdentity(t, notPrefix)}, req(alice, "s3:ListBucket", "arn:aws:s3:::home", KeyPrefix, "x/"), Allowed},
		{"StringNotLike fails", []*Policy{mustIdentity(t, notPrefix)}, req(alice, "s3:ListBucket", "arn:aws:s3:::home", KeyPrefix, "private/a"), NoDecision},
		{"absent key holds a negated condition", []*Policy{mustIdentity(t, notPrefix)}, req(alice, "s3:ListBucket", "arn:aws:s3:::home"), Allowed},
		{"IpAddress inside", []*Policy{mustIdentity(t, office)}, req(alice, "s3:GetObject", "arn:aws:s3:::b/k", KeySourceIP, "10.20.30.40"), Allowed},
		{"IpAddress IPv6 inside", []*Policy{mustIdentity(t, office)}, req(alice, "s3:GetObject", "arn:aws:s3:::b/k", KeySourceIP, "2001:db8::1"), Allowed},
		{"IpAddress IPv4-mapped", []*Policy{mustIdentity(t, office)}, req(alice, "s3:GetObject", "arn:aws:s3:::b/k", KeySourceIP, "::ffff:10.1.1.1"), Allowed},
		{"IpAddress outside", []*Policy{mustIdentity(t, office)}, req(alice, "s3:GetObject", "arn:aws:s3:::b/k", KeySourceIP, "192.0.2.1"), NoDecision},
		{"NotIpAddress denies outside", []*Policy{mustIdentity(t, office), mustIdentity(t, notOffice)}, req(alice, "s3:GetObject", "arn:aws:s3:::b/k", KeySourceIP, "192.0.2.1"), Denied},
		{"NotIpAddress inside", []*Policy{mustIdentity(t, office), mustIdentity(t, notOffice)}, req(alice, "s3:GetObject", "arn:aws:s3:::b/k", KeySourceIP, "10.0.0.1"), Allowed},
		{"SecureTransport false denied", []*Policy{mustIdentity(t, office), mustIdentity(t, tlsOnly)}, req(alice, "s3:GetObject", "arn:aws:s3:::b/k", KeySourceIP, "10.0.0.1", KeySecureTransport, "false"), Denied},
		{"SecureTransport true allowed", []*Policy{mustIdentity(t, office), mustIdentity(t, tlsOnly)}, req(alice, "s3:GetObject", "arn:aws:s3:::b/k", KeySourceIP, "10.0.0.1", KeySecureTransport, "true"), Allowed},
		{"IfExists with the key absent", []*Policy{mustIdentity(t, ifExists)}, req(alice, "s3:GetObject", "arn:aws:s3:::b/k"), Allowed},
		{"IfExists with another value", []*Policy{mustIdentity(t, ifExists)}, req(alice, "s3:ListBucket", "arn:aws:s3:::b", KeyPrefix, "x/"), NoDecision},
		{"Null true: key absent", []*Policy{mustIdentity(t, null)}, req(alice, "s3:GetObject", "arn:aws:s3:::b/k"), Allowed},
		{"Null true: key present", []*Policy{mustIdentity(t, null)}, req(alice, "s3:ListBucket", "arn:aws:s3:::b", KeyPrefix, ""), NoDecision},
		{"StringEqualsIgnoreCase", []*Policy{mustIdentity(t, ignoreCase)}, req(alice, "s3:ListBucket", "arn:aws:s3:::b", KeyPrefix, "DOCS/"), Allowed},
		{"public policy: anonymous", []*Policy{mustBucket(t, "web", public)}, req(anon, "s3:GetObject", "arn:aws:s3:::web/index.html"), Allowed},
		{"public policy: a user", []*Policy{mustBucket(t, "web", public)}, req(alice, "s3:GetObject", "arn:aws:s3:::web/index.html"), Allowed},
		{"public policy: not listing", []*Policy{mustBucket(t, "web", public)}, req(anon, "s3:ListBucket", "arn:aws:s3:::web"), NoDecision},
		{"named user principal", []*Policy{mustBucket(t, "web", forBob)}, req(bob, "s3:PutObject", "arn:aws:s3:::web/k"), Allowed},
		{"another user", []*Policy{mustBucket(t, "web", forBob)}, req(alice, "s3:PutObject", "arn:aws:s3:::web/k"), NoDecision},
		{"anonymous is not a named user", []*Policy{mustBucket(t, "web", forBob)}, req(anon, "s3:PutObject", "arn:aws:s3:::web/k"), NoDecision},
		{"bucket policy deny for everyone", []*Policy{mustBucket(t, "web", forBob)}, req(bob, "s3:DeleteObject", "arn:aws:s3:::web/keep/k"), Denied},
		{"identity allow plus bucket deny", []*Policy{mustIdentity(t, denySecret), mustBucket(t, "web", forBob)}, req(alice, "s3:DeleteObject", "arn:aws:s3:::web/keep/k"), Denied},
		{"root principal in a bucket policy", []*Policy{mustBucket(t, "web", `{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:root"},"Action":"s3:*","Resource":"arn:aws:s3:::web/*"}}`)}, req(alice, "s3:GetObject", "arn:aws:s3:::web/k"), NoDecision},
		{"list all buckets", []*Policy{mustIdentity(t, `{"Statement":{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"arn:aws:s3:::*"}}`)}, req(alice, "s3:ListAllMyBuckets", AllBucketsARN), Allowed},
		{"a bucket pattern does not list all buckets", []*Policy{mustIdentity(t, `{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::bucket-a*"}}`)}, req(alice, "s3:ListAllMyBuckets", AllBucketsARN), NoDecision},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Evaluate(tc.r, tc.policies...); got != tc.want {
				t.Fatalf("%s on %s by %+v: %v, want %v", tc.r.Action, tc.r.Resource, tc.r.Principal, got, tc.want)
			}
		})
	}
}

func TestCannedACL(t *testing.T) {
	cases := []struct {
		acl    string
		who    Principal
		action string
		res    string
		want   Decision
	}{
		{ACLPrivate, anon, "s3:GetObject", "arn:aws:s3:::b/k", NoDecision},
		{ACLPublicRead, anon, "s3:GetObject", "arn:aws:s3:::b/k", Allowed},
		{ACLPublicRead, anon, "s3:ListBucket", "arn:aws:s3:::b", Allowed},
		{ACLPublicRead, anon, "s3:ListBucketVersions", "arn:aws:s3:::b", Allowed},
		{ACLPublicRead, anon, "s3:GetObjectVersion", "arn:aws:s3:::b/k", Allowed},
		{ACLPublicRead, anon, "s3:GetObjectTagging", "arn:aws:s3:::b/k", NoDecision},
		{ACLPublicRead, anon, "s3:PutObject", "arn:aws:s3:::b/k", NoDecision},
		{ACLPublicRead, anon, "s3:GetObject", "arn:aws:s3:::other/k", NoDecision},
		{ACLPublicReadWrite, anon, "s3:PutObject", "arn:aws:s3:::b/k", Allowed},
		{ACLPublicReadWrite, anon, "s3:DeleteObject", "arn:aws:s3:::b/k", Allowed},
		{ACLPublicReadWrite, anon, "s3:PutBucketPolicy", "arn:aws:s3:::b", NoDecision},
		{ACLAuthenticatedRead, anon, "s3:GetObject", "arn:aws:s3:::b/k", NoDecision},
		{ACLAuthenticatedRead, alice, "s3:GetObject", "arn:aws:s3:::b/k", Allowed},
		{ACLAuthenticatedRead, alice, "s3:PutObject", "arn:aws:s3:::b/k", NoDecision},
	}
	for _, tc := range cases {
		p, err := CannedACL("b", tc.acl)
		if err != nil {
			t.Fatal(err)
		}
		if got := Evaluate(req(tc.who, tc.action, tc.res), p); got != tc.want {
			t.Errorf("%s: %s on %s by %+v: %v, want %v", tc.acl, tc.action, tc.res, tc.who, got, tc.want)
		}
		if (p != nil && p.Statements[0].Principals.Any) != PublicACL(tc.acl) {
			t.Errorf("%s: PublicACL %v", tc.acl, PublicACL(tc.acl))
		}
	}
	if _, err := CannedACL("b", "bucket-owner-full-control"); !errors.Is(err, ErrUnknownACL) {
		t.Fatalf("unknown canned ACL: %v", err)
	}
}

func TestIsPublic(t *testing.T) {
	stmt := func(s string) string { return `{"Version":"2012-10-17","Statement":[` + s + `]}` }
	res := `"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"`
	cases := []struct {
		doc  string
		want bool
	}{
		{stmt(`{"Effect":"Allow","Principal":"*",` + res + `}`), true},
		{stmt(`{"Effect":"Allow","Principal":{"AWS":"*"},` + res + `}`), true},
		{stmt(`{"Effect":"Deny","Principal":"*",` + res + `}`), false},
		{stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:user/bob"},` + res + `}`), false},
		{stmt(`{"Effect":"Allow","Principal":"*",` + res + `,"Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}`), false},
		{stmt(`{"Effect":"Allow","Principal":"*",` + res + `,"Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","0.0.0.0/0"]}}}`), true},
		{stmt(`{"Effect":"Allow","Principal":"*",` + res + `,"Condition":{"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}}}`), true},
		{stmt(`{"Effect":"Allow","Principal":"*",` + res + `,"Condition":{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}}`), false},
		{stmt(`{"Effect":"Allow","Principal":"*",` + res + `,"Condition":{"IpAddress":{"aws:SourceIp":"2001::/16"}}}`), true},
		{stmt(`{"Effect":"Allow","Principal":"*",` + res + `,"Condition":{"StringEquals":{"s3:prefix":"a"}}}`), true},
	}
	for _, tc := range cases {
		if got := mustBucket(t, "b", tc.doc).IsPublic(); got != tc.want {
			t.Errorf("IsPublic(%s) = %v", tc.doc, got)
		}
	}
	var none *Policy
	if none.IsPublic() {
		t.Fatal("a nil policy is public")
	}
}

func TestKnownActions(t *testing.T) {
	for _, a := range S3Actions {
		if !strings.HasPrefix(a, "s3:") || checkActionPattern(a) != nil || !IsS3Action(strings.ToUpper(a)) {
			t.Errorf("action %q", a)
		}
	}
	if IsS3Action("s3:GetObjectx") {
		t.Fatal("unknown action recognised")
	}
}
