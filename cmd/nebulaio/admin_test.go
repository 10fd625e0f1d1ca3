package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/nebulaio/nebulaio/internal/testcluster"
)

// TestAdminCLI runs `nebulaio admin` against a running node: a policy from a file, a user
// created with it whose printed keys reach bucket-a only, listing, rotation (the old secret
// stops), disabling and deletion; refusals exit 1 naming the code, bad usage exits 2.
func TestAdminCLI(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Nodes: 1})
	c.WaitForLeader()
	admin := c.AdminURL(0)
	run := func(wantCode int, args ...string) string {
		t.Helper()
		var out, errOut strings.Builder
		code := runAdmin(append([]string{"--admin", admin, "--token", testcluster.AdminToken}, args...), &out, &errOut)
		if code != wantCode {
			t.Fatalf("nebulaio admin %v: exit %d (%q %q), want %d", args, code, out.String(), errOut.String(), wantCode)
		}
		return out.String() + errOut.String()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	root := c.S3Client(0)
	for _, b := range []string{"bucket-a", "bucket-b"} {
		if _, err := root.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	doc := filepath.Join(t.TempDir(), "only-a.json")
	if err := os.WriteFile(doc, []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:ListBucket"],"Resource":["arn:aws:s3:::bucket-a","arn:aws:s3:::bucket-a/*"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	run(0, "policy", "put", "only-a", doc)
	if out := run(0, "policy", "list"); !strings.Contains(out, "only-a") {
		t.Fatalf("policy list: %s", out)
	}
	out := run(0, "user", "create", "app", "--policy", "only-a")
	ak := regexp.MustCompile(`AccessKey: (\S+)`).FindStringSubmatch(out)
	sk := regexp.MustCompile(`SecretKey: (\S+)`).FindStringSubmatch(out)
	if ak == nil || sk == nil || !strings.Contains(out, "shown only now") {
		t.Fatalf("user create: %s", out)
	}
	client := func(secret string) *s3.Client {
		return s3.New(s3.Options{BaseEndpoint: aws.String(c.S3Endpoint(0)), Region: testcluster.Region, UsePathStyle: true,
			Credentials: awscreds.NewStaticCredentialsProvider(ak[1], secret, ""), Retryer: aws.NopRetryer{}})
	}
	code := func(err error) string {
		var api smithy.APIError
		if errors.As(err, &api) {
			return api.ErrorCode()
		}
		if err != nil {
			return err.Error()
		}
		return ""
	}
	put := func(cl *s3.Client, bucket string) string {
		_, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Body: strings.NewReader("x")})
		return code(err)
	}
	app := client(sk[1])
	if got := put(app, "bucket-a"); got != "" {
		t.Fatalf("app PUT bucket-a: %s", got)
	}
	if got := put(app, "bucket-b"); got != "AccessDenied" {
		t.Fatalf("app PUT bucket-b: %s", got)
	}
	if out := run(0, "user", "list"); !strings.Contains(out, ak[1]) || !strings.Contains(out, "only-a") || strings.Contains(out, sk[1]) {
		t.Fatalf("user list: %s", out)
	}
	if out := run(0, "key", "list"); !strings.Contains(out, ak[1]) || strings.Contains(out, sk[1]) {
		t.Fatalf("key list: %s", out)
	}
	out = run(0, "key", "rotate", "app")
	sk2 := regexp.MustCompile(`SecretKey: (\S+)`).FindStringSubmatch(out)
	if sk2 == nil || sk2[1] == sk[1] {
		t.Fatalf("key rotate: %s", out)
	}
	if got := put(app, "bucket-a"); got != "SignatureDoesNotMatch" {
		t.Fatalf("old secret after rotation: %s", got)
	}
	if got := put(client(sk2[1]), "bucket-a"); got != "" {
		t.Fatalf("new secret: %s", got)
	}
	run(0, "user", "disable", "app")
	if got := put(client(sk2[1]), "bucket-a"); got != "InvalidAccessKeyId" {
		t.Fatalf("disabled: %s", got)
	}
	run(0, "key", "enable", "app")
	if out := run(1, "policy", "delete", "only-a"); !strings.Contains(out, "PolicyInUse") {
		t.Fatalf("delete an attached policy: %s", out)
	}
	run(0, "user", "detach", "app", "only-a")
	if got := put(client(sk2[1]), "bucket-a"); got != "AccessDenied" {
		t.Fatalf("detached: %s", got)
	}
	run(0, "policy", "delete", "only-a")
	run(0, "user", "delete", "app")
	if out := run(1, "user", "info", "app"); !strings.Contains(out, "NoSuchUser") {
		t.Fatalf("deleted user: %s", out)
	}
	run(2, "user", "frobnicate")
	if out := run(1, "user", "create", "bad name"); !strings.Contains(out, "user name") {
		t.Fatalf("bad name: %s", out)
	}
	c.Verify()
}
