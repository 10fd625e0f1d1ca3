package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/nebulaio/nebulaio/httpapi"
	"github.com/nebulaio/nebulaio/internal/testcluster"
	"github.com/nebulaio/nebulaio/internal/testutil"
)

func adminSend(t *testing.T, base, method, path, body string) (int, []byte) {
	t.Helper()
	var code int
	var out []byte
	// Retried while an election is in progress (503), as an operator's script would.
	_ = testutil.Poll(20*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testcluster.AdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		code = resp.StatusCode
		out, _ = io.ReadAll(resp.Body)
		if code == http.StatusServiceUnavailable {
			return errors.New("503")
		}
		return nil
	})
	return code, out
}

// TestUsersAcrossTheCluster: a policy put through one node's admin API and a user created
// through another's authenticate and authorize on every node's S3 port (the user and its
// sealed secret are replicated; every node derives the same master key from the cluster
// secret); a deletion through a third node takes effect everywhere.
func TestUsersAcrossTheCluster(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Nodes: 3})
	c.WaitForLeader()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, b := range []string{"bucket-a", "bucket-b"} {
		if _, err := c.S3Client(0).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::bucket-a","arn:aws:s3:::bucket-a/*"]}]}`
	if code, body := adminSend(t, c.AdminURL(2), "PUT", "/api/v1/admin/policies/only-a", policy); code != 200 {
		t.Fatalf("put policy: %d %s", code, body)
	}
	code, body := adminSend(t, c.AdminURL(1), "POST", "/api/v1/admin/users", `{"name":"app","policies":["only-a"]}`)
	if code != 201 {
		t.Fatalf("create user: %d %s", code, body)
	}
	var k httpapi.KeyAnswer
	if err := json.Unmarshal(body, &k); err != nil {
		t.Fatal(err)
	}
	errCode := func(err error) string {
		var api smithy.APIError
		if errors.As(err, &api) {
			return api.ErrorCode()
		}
		if err != nil {
			return err.Error()
		}
		return ""
	}
	for i := range 3 {
		cl := s3.New(s3.Options{BaseEndpoint: aws.String(c.S3Endpoint(i)), Region: testcluster.Region, UsePathStyle: true,
			Credentials: awscreds.NewStaticCredentialsProvider(k.AccessKey, k.SecretKey, "")})
		_, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bucket-a"), Key: aws.String("k"), Body: bytes.NewReader([]byte("x"))})
		if got := errCode(err); got != "" {
			t.Fatalf("node %d: PUT bucket-a: %s", i, got)
		}
		_, err = cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bucket-b"), Key: aws.String("k"), Body: bytes.NewReader([]byte("x"))})
		if got := errCode(err); got != "AccessDenied" {
			t.Fatalf("node %d: PUT bucket-b: %s", i, got)
		}
	}
	if code, body := adminSend(t, c.AdminURL(0), "DELETE", "/api/v1/admin/users/app", ""); code != 200 {
		t.Fatalf("delete user: %d %s", code, body)
	}
	for i := range 3 {
		cl := s3.New(s3.Options{BaseEndpoint: aws.String(c.S3Endpoint(i)), Region: testcluster.Region, UsePathStyle: true,
			Credentials: awscreds.NewStaticCredentialsProvider(k.AccessKey, k.SecretKey, ""), Retryer: aws.NopRetryer{}})
		// A follower may apply the deletion a moment later: wait for it, with a deadline.
		testutil.WaitFor(t, 10*time.Second, "deleted user refused", func() error {
			_, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bucket-a"), Key: aws.String("k")})
			if got := errCode(err); got != "InvalidAccessKeyId" {
				return errors.New(got)
			}
			return nil
		})
	}
	c.Verify()
}
