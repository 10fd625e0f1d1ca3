package fuzz

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/nebulaio/nebulaio/iam"
)

// policySeeds are documents in and around the supported subset.
var policySeeds = []string{
	`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::fuzz","arn:aws:s3:::fuzz/*"]}]}`,
	`{"Version":"2012-10-17","Statement":{"Sid":"x","Effect":"Deny","NotAction":["s3:Get*","s3:List?ucket"],"NotResource":"arn:aws:s3:::fuzz/pub/*"}}`,
	`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::fuzz/*","Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","::1"]}}}]}`,
	`{"Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::123456789012:user/app","arn:aws:iam::123456789012:root"]},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::fuzz","Condition":{"StringLike":{"s3:prefix":["home/*",""]},"Bool":{"aws:SecureTransport":"true"},"StringNotEqualsIfExists":{"s3:delimiter":"/"},"Null":{"s3:prefix":false}}}]}`,
	`{"Version":"2008-10-17","Id":"p","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`,
	`{"Statement":[]}`, `{}`, `[]`, `{"Statement":[{"Effect":"Allow","Action":"s3:GetObjcet","Resource":"*"}]}`,
}

// FuzzPolicyParser: parsing never panics; a document that parses is JSON, parses again to
// the same policy, keeps a bucket policy's resources inside its bucket, and evaluates any
// request without panicking, explicit denies winning over allows.
func FuzzPolicyParser(f *testing.F) {
	for _, s := range policySeeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, doc []byte, bucket bool) {
		parse := func() (*iam.Policy, error) {
			if bucket {
				return iam.ParseBucketPolicy("fuzz", doc)
			}
			return iam.ParseIdentityPolicy(doc)
		}
		p, err := parse()
		if err != nil {
			if p != nil {
				t.Fatal("an error and a policy")
			}
			return
		}
		if !json.Valid(doc) {
			t.Fatalf("accepted a document that is not JSON: %q", doc)
		}
		again, err := parse()
		if err != nil || !reflect.DeepEqual(p, again) {
			t.Fatalf("parsing is not deterministic: %v", err)
		}
		for _, st := range p.Statements {
			if bucket && st.Principals == nil {
				t.Fatal("a bucket policy statement without a principal")
			}
			for _, r := range st.Resources {
				if bucket && !strings.HasPrefix(r, "arn:aws:s3:::fuzz") {
					t.Fatalf("bucket policy resource %q outside the bucket", r)
				}
			}
		}
		_ = p.IsPublic()
		for _, who := range []iam.Principal{{Kind: iam.Anonymous}, {Kind: iam.User, User: "app"}, {Kind: iam.Root}} {
			for _, r := range []iam.Request{
				{Principal: who, Action: "s3:GetObject", Resource: iam.ObjectARN("fuzz", "pub/a"),
					Context: map[string]string{iam.KeySourceIP: "10.1.2.3", iam.KeySecureTransport: "true"}},
				{Principal: who, Action: "s3:ListBucket", Resource: iam.BucketARN("fuzz"),
					Context: map[string]string{iam.KeyPrefix: "home/x", iam.KeyDelimiter: "/", iam.KeySourceIP: "::1", iam.KeySecureTransport: "false"}},
			} {
				d := p.Evaluate(&r)
				// Combined with an allow-everything policy, an explicit deny still wins.
				all, _ := iam.ParseIdentityPolicy([]byte(`{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`))
				if c := iam.Evaluate(&r, all, p); (d == iam.Denied) != (c == iam.Denied) || c == iam.NoDecision {
					t.Fatalf("combined decision %s for a policy deciding %s", c, d)
				}
			}
		}
	})
}
