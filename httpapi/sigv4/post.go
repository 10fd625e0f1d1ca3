package sigv4

import (
	"crypto/hmac"
	"encoding/hex"
	"net/http"
	"time"
)

// Browser-based uploads (S3's POST Object): the form carries a base64 policy document and its
// SigV4 signature, the hex HMAC-SHA256 of the base64 policy (as sent) under the signing key
// of the credential scope. What the policy allows is the S3 layer's business; this file only
// checks who signed it.

// PostAlgorithm is the only x-amz-algorithm a POST form may name.
const PostAlgorithm = "AWS4-HMAC-SHA256"

// ErrInvalidPostForm: a POST form's x-amz-algorithm, x-amz-credential or x-amz-date is missing
// or malformed, or the date is not the credential's day (S3 answers InvalidArgument).
var ErrInvalidPostForm = newErr("InvalidArgument", http.StatusBadRequest, "The POST form's signature fields are not valid.")

// PostForm is the signature part of a POST form, as the fields were sent.
type PostForm struct {
	Algorithm     string // x-amz-algorithm
	Credential    string // x-amz-credential: <key>/<yyyymmdd>/<region>/s3/aws4_request
	Date          string // x-amz-date: yyyymmddThhmmssZ
	Policy        string // policy: base64 of the policy document
	Signature     string // x-amz-signature: 64 lower-case hex digits
	SecurityToken string // x-amz-security-token: refused (we issue no session tokens)
}

// VerifyPost checks the signature of a POST form's policy. The result names the access key
// and the scope's region and date; it has no Body (the caller reads the form). Errors are the
// sentinels: ErrInvalidPostForm, ErrInvalidRequest (a security token), the region check of
// header auth (AnyRegion applies), ErrInvalidAccessKeyID, ErrSignatureDoesNotMatch. There is
// no clock check here: the policy's expiration bounds the form's life.
func (v *Verifier) VerifyPost(f PostForm) (*Result, error) {
	if f.SecurityToken != "" {
		return nil, ErrInvalidRequest.with("the security token was not issued by this server")
	}
	if f.Algorithm != PostAlgorithm {
		return nil, ErrInvalidPostForm.with("x-amz-algorithm must be %s, not %.40q", PostAlgorithm, f.Algorithm)
	}
	p, err := parseCredential(ErrInvalidPostForm, f.Credential)
	if err != nil {
		return nil, err
	}
	t, err := time.Parse(amzDateLayout, f.Date)
	if err != nil {
		return nil, ErrInvalidPostForm.with("x-amz-date %.40q is not yyyymmddThhmmssZ", f.Date)
	}
	if err := v.checkScope(ErrInvalidPostForm, p, t); err != nil {
		return nil, err
	}
	secret, err := v.lookup(p.accessKey)
	if err != nil {
		return nil, err
	}
	want := PostPolicySignature(secret, p.date, p.region, p.service, f.Policy)
	if !hmac.Equal([]byte(want), []byte(f.Signature)) {
		return nil, ErrSignatureDoesNotMatch.with("the policy signature does not match")
	}
	return &Result{SignatureVersion: 4, AccessKey: p.accessKey, Region: p.region, SignedAt: t, ContentLength: -1}, nil
}

// PostPolicySignature is the x-amz-signature of a POST form's policy (base64, as sent in the
// form) for secret under the scope (date's day, region, service).
func PostPolicySignature(secret string, date time.Time, region, service, policy string) string {
	return hex.EncodeToString(hmacSHA256(signingKey(secret, date, region, service), policy))
}
