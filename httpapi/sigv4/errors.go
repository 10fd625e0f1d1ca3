package sigv4

import (
	"fmt"
	"net/http"
)

// Error is an authentication failure that maps to one S3 error code and HTTP status.
//
// Every error returned by Verify, and every error returned by a Result's Body other than the
// underlying connection's own read errors, is (or wraps) an *Error. Test for a specific failure
// with errors.Is against the sentinels below; map to an S3 response with errors.As:
//
//	var e *sigv4.Error
//	if errors.As(err, &e) { writeS3Error(w, e.HTTPStatus(), e.Code(), e.Message()) }
type Error struct {
	code   string
	status int
	msg    string
	detail string // request-specific context; never contains secrets
	region string // the region the server expects, for region errors
	base   *Error // the sentinel this error was derived from; nil for sentinels
}

// Region is the region the server answers for when the error is about a request scoped to
// another region ("" otherwise). S3 sends it as the <Region> element of the error document;
// SDKs (minio-go, boto3) read it to re-sign the request for that region.
func (e *Error) Region() string { return e.region }

// Code is the S3 error code, e.g. "SignatureDoesNotMatch".
func (e *Error) Code() string { return e.code }

// HTTPStatus is the HTTP status S3 answers with for this code.
func (e *Error) HTTPStatus() int { return e.status }

// Message is the human-readable S3 message, including request-specific detail when present.
func (e *Error) Message() string {
	if e.detail == "" {
		return e.msg
	}
	return e.msg + " (" + e.detail + ")"
}

func (e *Error) Error() string { return "sigv4: " + e.code + ": " + e.Message() }

// Is reports whether target is the sentinel e was derived from.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	return e == t || (e.base != nil && e.base == t)
}

// with returns a copy of the sentinel e carrying request-specific detail.
func (e *Error) with(format string, args ...any) *Error {
	base := e
	if e.base != nil {
		base = e.base
	}
	return &Error{code: e.code, status: e.status, msg: e.msg, detail: fmt.Sprintf(format, args...), base: base}
}

// withRegion is with for a region error: it also records the expected region.
func (e *Error) withRegion(region, format string, args ...any) *Error {
	out := e.with(format, args...)
	out.region = region
	return out
}

func newErr(code string, status int, msg string) *Error {
	return &Error{code: code, status: status, msg: msg}
}

// Sentinels. Each comment says when it is returned; the S3 code and status are in the value.
var (
	// ErrMissingAuth: the request carries neither an Authorization header nor presigned query
	// parameters (an anonymous request). Callers that support anonymous access test for it.
	ErrMissingAuth = newErr("AccessDenied", http.StatusForbidden, "Access Denied.")
	// ErrRequestExpired: a presigned URL used after X-Amz-Date + X-Amz-Expires.
	ErrRequestExpired = newErr("AccessDenied", http.StatusForbidden, "Request has expired")
	// ErrRequestNotYetValid: a presigned URL whose X-Amz-Date is more than MaxSkew in the future.
	ErrRequestNotYetValid = newErr("AccessDenied", http.StatusForbidden, "Request is not valid yet")
	// ErrHeadersNotSigned: an x-amz-* request header is present but not in SignedHeaders
	// (S3 refuses these so that a captured signature cannot be replayed with extra headers
	// such as x-amz-meta-* or x-amz-copy-source).
	ErrHeadersNotSigned = newErr("AccessDenied", http.StatusForbidden,
		"There were headers present in the request which were not signed")
	// ErrSignatureDoesNotMatch: the request, chunk or trailer signature is wrong.
	ErrSignatureDoesNotMatch = newErr("SignatureDoesNotMatch", http.StatusForbidden,
		"The request signature we calculated does not match the signature you provided. Check your key and signing method.")
	// ErrInvalidAccessKeyID: the credential's access key is not in the CredentialStore.
	ErrInvalidAccessKeyID = newErr("InvalidAccessKeyId", http.StatusForbidden,
		"The AWS Access Key Id you provided does not exist in our records.")
	// ErrRequestTimeTooSkewed: header-signed request dated more than MaxSkew from Now.
	ErrRequestTimeTooSkewed = newErr("RequestTimeTooSkewed", http.StatusForbidden,
		"The difference between the request time and the server's time is too large.")
	// ErrAuthorizationHeaderMalformed: unparsable Authorization header, bad credential scope,
	// wrong region or service, or a date that does not match the scope.
	ErrAuthorizationHeaderMalformed = newErr("AuthorizationHeaderMalformed", http.StatusBadRequest,
		"The authorization header that you provided is not valid.")
	// ErrAuthorizationQueryParametersError: the presigned-URL counterpart of the above, and an
	// X-Amz-Expires outside 1..604800 seconds.
	ErrAuthorizationQueryParametersError = newErr("AuthorizationQueryParametersError", http.StatusBadRequest,
		"Error parsing the X-Amz-Credential parameter; the query parameters that you provided are not valid.")
	// ErrMissingSecurityHeader: a header the signature scheme requires (x-amz-date or Date,
	// x-amz-content-sha256 on header auth) is absent or must be signed and is not.
	ErrMissingSecurityHeader = newErr("MissingSecurityHeader", http.StatusBadRequest,
		"Your request is missing a required header.")
	// ErrContentSHA256Mismatch: the body's SHA-256 differs from x-amz-content-sha256. Returned
	// by Body's Read at end of stream.
	ErrContentSHA256Mismatch = newErr("XAmzContentSHA256Mismatch", http.StatusBadRequest,
		"The provided 'x-amz-content-sha256' header does not match what was computed.")
	// ErrInvalidContentSHA256: x-amz-content-sha256 is neither a hex SHA-256 nor a known mode.
	ErrInvalidContentSHA256 = newErr("InvalidArgument", http.StatusBadRequest,
		"x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a STREAMING-* mode, or a valid sha256 value.")
	// ErrInvalidDigest: an x-amz-checksum-* value is not valid base64 of the algorithm's size,
	// or the checksum algorithm is unknown.
	ErrInvalidDigest = newErr("InvalidDigest", http.StatusBadRequest, "The checksum you specified is not valid.")
	// ErrBadDigest: the body does not match a declared x-amz-checksum-* header or trailer.
	// Returned by Body's Read at end of stream.
	ErrBadDigest = newErr("BadDigest", http.StatusBadRequest,
		"The checksum you specified did not match the calculated checksum.")
	// ErrIncompleteBody: the body ended early, or the decoded length differs from
	// x-amz-decoded-content-length.
	ErrIncompleteBody = newErr("IncompleteBody", http.StatusBadRequest,
		"You did not provide the number of bytes specified by the Content-Length HTTP header.")
	// ErrMissingContentLength: a signed streaming upload without x-amz-decoded-content-length.
	ErrMissingContentLength = newErr("MissingContentLength", http.StatusLengthRequired,
		"You must provide the x-amz-decoded-content-length HTTP header.")
	// ErrMalformedChunk: the aws-chunked framing is invalid (bad size line, missing CRLF,
	// oversized header line, malformed trailer).
	ErrMalformedChunk = newErr("InvalidRequest", http.StatusBadRequest, "Malformed aws-chunked encoding.")
	// ErrInvalidRequest: a combination the scheme does not allow (both header and query auth,
	// an unsupported algorithm, a security token we did not issue, an unsupported checksum, an
	// x-amz-sdk-checksum-algorithm without the checksum it announces).
	ErrInvalidRequest = newErr("InvalidRequest", http.StatusBadRequest, "Invalid request.")
	// ErrSigV2Disabled: a request signed with Signature Version 2 while Verifier.DisableSigV2
	// is set (AWS's answer in regions that accept only SigV4).
	ErrSigV2Disabled = newErr("InvalidRequest", http.StatusBadRequest,
		"The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.")
	// ErrMissingDate: a SigV2 header-signed request without a valid Date or x-amz-date.
	ErrMissingDate = newErr("AccessDenied", http.StatusForbidden,
		"AWS authentication requires a valid Date or x-amz-date header")
)
