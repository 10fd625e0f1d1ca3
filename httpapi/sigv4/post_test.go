package sigv4

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/signer"
)

// TestVerifyPost checks POST form signatures made by minio-go's signer (an independent SigV4
// implementation) and refuses every altered field.
func TestVerifyPost(t *testing.T) {
	v := testVerifier()
	v.AnyRegion = true
	policy := base64.StdEncoding.EncodeToString([]byte(`{"expiration":"2026-11-26T00:00:00Z","conditions":[{"bucket":"b"}]}`))
	form := func(region string) PostForm {
		return PostForm{Algorithm: PostAlgorithm, Credential: signer.GetCredential(testAK, region, testNow, signer.ServiceTypeS3),
			Date: testNow.Format(amzDateLayout), Policy: policy, Signature: signer.PostPresignSignatureV4(policy, testNow, testSK, region)}
	}
	for _, region := range []string{testRegion, "eu-central-1"} {
		res, err := v.VerifyPost(form(region))
		if err != nil || res.AccessKey != testAK || res.Region != region {
			t.Fatalf("region %s: %+v %v", region, res, err)
		}
		if got := PostPolicySignature(testSK, testNow, region, "s3", policy); got != form(region).Signature {
			t.Fatalf("PostPolicySignature %s differs from minio-go's", got)
		}
	}
	for _, tc := range []struct {
		name   string
		mutate func(f *PostForm)
		want   error
	}{
		{"policy changed", func(f *PostForm) { f.Policy = base64.StdEncoding.EncodeToString([]byte(`{}`)) }, ErrSignatureDoesNotMatch},
		{"signature changed", func(f *PostForm) { f.Signature = f.Signature[:63] + "0" }, ErrSignatureDoesNotMatch},
		{"unknown key", func(f *PostForm) { f.Credential = "NOPE" + f.Credential[len(testAK):] }, ErrInvalidAccessKeyID},
		{"algorithm", func(f *PostForm) { f.Algorithm = "AWS4-HMAC-SHA1" }, ErrInvalidPostForm},
		{"bad credential", func(f *PostForm) { f.Credential = testAK + "/x" }, ErrInvalidPostForm},
		{"date of another day", func(f *PostForm) { f.Date = testNow.Add(48 * time.Hour).Format(amzDateLayout) }, ErrInvalidPostForm},
		{"bad date", func(f *PostForm) { f.Date = "yesterday" }, ErrInvalidPostForm},
		{"session token", func(f *PostForm) { f.SecurityToken = "t" }, ErrInvalidRequest},
	} {
		f := form(testRegion)
		tc.mutate(&f)
		if _, err := v.VerifyPost(f); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	strict := testVerifier()
	if _, err := strict.VerifyPost(form("eu-central-1")); err == nil || err.(*Error).Region() != testRegion {
		t.Fatalf("another region with a strict verifier: %v", err)
	}
}
