package iam

import (
	"bytes"
	"testing"
)

// The per-request costs a user's S3 request adds: opening the sealed secret (every signed
// request), evaluating a policy (every authorization); parsing happens once per document
// (the S3 layer caches parsed policies).

const benchPolicy = `{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:ListBucket"],"Resource":["arn:aws:s3:::bucket-a","arn:aws:s3:::bucket-a/*"]},
 {"Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::bucket-a/private/*","Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}},
 {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bucket-b","Condition":{"StringLike":{"s3:prefix":["home/*"]}}}]}`

func BenchmarkParseIdentityPolicy(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseIdentityPolicy([]byte(benchPolicy)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEvaluate(b *testing.B) {
	p, err := ParseIdentityPolicy([]byte(benchPolicy))
	if err != nil {
		b.Fatal(err)
	}
	r := &Request{Principal: Principal{Kind: User, User: "app"}, Action: "s3:GetObject", Resource: ObjectARN("bucket-a", "photos/2026/cat.jpg"),
		Context: map[string]string{KeySourceIP: "10.1.2.3", KeySecureTransport: "false"}}
	b.ReportAllocs()
	for b.Loop() {
		if Evaluate(r, p) != Allowed {
			b.Fatal("not allowed")
		}
	}
}

func BenchmarkOpenSealedSecret(b *testing.B) {
	k, err := NewKeyring(bytes.Repeat([]byte{1}, MasterKeySize))
	if err != nil {
		b.Fatal(err)
	}
	sealed := k.Seal("app", "NBAPPKEY000000000001", NewSecretKey())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Open("app", "NBAPPKEY000000000001", sealed); err != nil {
			b.Fatal(err)
		}
	}
}
