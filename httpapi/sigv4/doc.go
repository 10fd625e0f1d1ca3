// Package sigv4 authenticates S3 requests signed with AWS Signature Version 4 (and Version 2),
// server side, and owns the S3 checksum algorithms.
//
// A handler calls Verifier.Verify(r) (or VerifyWith with what it knows of the request); on
// success it reads the payload from Result.Body (never r.Body), which strips aws-chunked
// framing and verifies the payload while it streams. The package imports no other NebulaIO
// package and keeps no state between requests.
//
// Secrets come from Verifier.Store (CredentialStore: access key → secret); a store whose
// lookup can fail for another reason than an unknown key (a sealed secret it cannot open)
// implements FallibleStore, and that error is returned as is (not an *Error: the caller
// answers InternalError). A request with no signature at all is ErrMissingAuth; a caller that
// serves anonymous requests then calls Verifier.Anonymous, which checks the payload as an
// unsigned one (a hex x-amz-content-sha256 is verified, an unsigned aws-chunked body with its
// trailer checksum is decoded) and refuses a signed streaming mode.
//
// # What is accepted
//
//   - Authorization header: "AWS4-HMAC-SHA256 Credential=<key>/<yyyymmdd>/<region>/s3/aws4_request,
//     SignedHeaders=<a;b;...>, Signature=<64 hex>". SignedHeaders must be lower case, sorted,
//     unique and include host. The request time is X-Amz-Date, else Date; it must fall on the
//     scope date and within MaxSkew (15 min) of the server clock. x-amz-content-sha256 is
//     required.
//   - Every x-amz-* request header except x-amz-content-sha256 must be signed (S3's rule), so a
//     captured signature cannot be replayed with added x-amz-meta-*, x-amz-copy-source, ...
//   - Presigned URLs: X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-Expires (1..604800 s),
//     X-Amz-SignedHeaders, X-Amz-Signature. Valid from X-Amz-Date - MaxSkew to X-Amz-Date +
//     X-Amz-Expires. The payload is UNSIGNED-PAYLOAD unless X-Amz-Content-Sha256 is in the query.
//   - Signature Version 2, unless Verifier.DisableSigV2 (then ErrSigV2Disabled, AWS's
//     "Please use AWS4-HMAC-SHA256"): "Authorization: AWS <key>:<base64 HMAC-SHA1>" with Date
//     or x-amz-date (RFC 1123) within MaxSkew, and presigned ?AWSAccessKeyId=&Expires=&
//     Signature= (Expires in Unix seconds; no maximum). The string to sign is S3's (see
//     sigv2.go); the resource is "/bucket/key" also for virtual-hosted requests
//     (VerifyOptions.VirtualHostBucket), and the path is tried as sent and re-encoded, since
//     clients differ in what they escape. SigV2 signs no payload: the body is UNSIGNED-PAYLOAD
//     unless a hex x-amz-content-sha256 is sent (then checked); aws-chunked is refused.
//   - Both forms together (of either version), SigV4A and X-Amz-Security-Token (we issue no
//     session tokens) are rejected with InvalidRequest.
//   - Browser POST forms (S3's POST Object): Verifier.VerifyPost checks x-amz-algorithm
//     (AWS4-HMAC-SHA256 only), x-amz-credential (its scope as header auth's, AnyRegion
//     included), x-amz-date (on the scope's day) and x-amz-signature, the hex HMAC-SHA256 of
//     the base64 policy as sent under the scope's signing key (PostPolicySignature). There is
//     no clock check: the policy's expiration, which the S3 layer enforces, bounds the form.
//
// Canonical request (AWS specification): method; the path with each segment decoded once and
// re-encoded with the unreserved set A-Z a-z 0-9 - . _ ~ (S3 does not double-encode; %2F inside
// a segment stays encoded); the query pairs decoded, re-encoded the same way ('/' encoded), and
// sorted by key then value (X-Amz-Signature excluded for presigned URLs); each signed header as
// "name:value\n" with values trimmed, runs of spaces folded, repeated headers joined by ','
// and host taken from r.Host; the signed-header list; the payload hash.
//
// Region: only the configured Region (default us-east-1) is accepted, as S3 does; a request
// scoped to another region gets AuthorizationHeaderMalformed (or, presigned,
// AuthorizationQueryParametersError) naming the expected region in its message and in
// Error.Region (the <Region> of S3's error document), which is how SDKs learn it and re-sign.
// Verifier.AnyRegion accepts any region (the S3 server's default for a single-site store:
// s3.strict_region false).
//
// # Payload modes (x-amz-content-sha256)
//
//	<64 hex>                                   body hashed while streaming; mismatch at EOF → XAmzContentSHA256Mismatch
//	UNSIGNED-PAYLOAD                           body passed through
//	STREAMING-AWS4-HMAC-SHA256-PAYLOAD         aws-chunked, each chunk signed, chained from the seed signature
//	STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER as above, then signed trailers (x-amz-trailer-signature)
//	STREAMING-UNSIGNED-PAYLOAD-TRAILER         aws-chunked without signatures, then trailers
//
// aws-chunked framing (see chunkedReader for the string-to-sign of chunks and trailers):
//
//	<hex size>[;chunk-signature=<64 hex>]\r\n<size bytes>\r\n   ... repeated
//	0[;chunk-signature=<64 hex>]\r\n
//	\r\n                                                          (no trailer), or
//	<x-amz-checksum-alg>:<base64>\r\n[x-amz-trailer-signature:<64 hex>\r\n]\r\n
//
// Signed streaming requires x-amz-decoded-content-length; the decoded total must equal it.
// Lines are bounded (4 KiB, 16 trailer lines); memory per request is one 64 KiB read buffer and
// the hash states, whatever the body size. Chunk bytes are handed to the reader before the
// chunk's signature (which follows them) can be checked; a bad chunk fails the Read that
// completes it, so a consumer must treat any error from Body as "discard everything".
//
// Additional checksums: one x-amz-checksum-{crc32,crc32c,crc64nvme,sha1,sha256} request header,
// or one trailer of that name announced in x-amz-trailer, is verified over the decoded payload
// (BadDigest at EOF) and reported by Result.Checksum. With VerifyOptions.ObjectChecksum the
// header is the checksum of the object a request completes (CompleteMultipartUpload): its form
// is checked (a composite "-N" suffix allowed) but not its value, which the caller compares
// with the object. Any other x-amz-checksum-<name> header (x-amz-checksum-md5, ...) is
// InvalidRequest; x-amz-checksum-algorithm, -type and -mode are left to the caller.
// x-amz-sdk-checksum-algorithm (AWS SDKs) must name the algorithm of the checksum header or
// trailer sent, else InvalidRequest, as S3 answers. CRC64NVME is github.com/minio/crc64nvme
// (the reflected NVMe polynomial; check value of "123456789" = 0xae8b14860a799888, tested),
// about 30 times faster than hash/crc64's tables. CombineCRC joins the CRCs of consecutive
// pieces (S3's FULL_OBJECT multipart checksums); it is tested against hashing the
// concatenation. Content-MD5 is left to the caller (the blob store verifies it).
//
// # Errors → S3 codes
//
//	ErrMissingAuth                        AccessDenied                      403 (no signature; see Anonymous)
//	ErrRequestExpired                     AccessDenied "Request has expired" 403
//	ErrRequestNotYetValid                 AccessDenied                      403
//	ErrHeadersNotSigned                   AccessDenied                      403
//	ErrSignatureDoesNotMatch              SignatureDoesNotMatch             403 (request, chunk or trailer)
//	ErrInvalidAccessKeyID                 InvalidAccessKeyId                403
//	ErrRequestTimeTooSkewed               RequestTimeTooSkewed              403
//	ErrAuthorizationHeaderMalformed       AuthorizationHeaderMalformed      400
//	ErrAuthorizationQueryParametersError  AuthorizationQueryParametersError 400
//	ErrMissingSecurityHeader              MissingSecurityHeader             400
//	ErrContentSHA256Mismatch              XAmzContentSHA256Mismatch         400
//	ErrInvalidContentSHA256               InvalidArgument                   400
//	ErrInvalidDigest                      InvalidDigest                     400
//	ErrBadDigest                          BadDigest                         400
//	ErrIncompleteBody                     IncompleteBody                    400
//	ErrMissingContentLength               MissingContentLength              411
//	ErrMalformedChunk, ErrInvalidRequest  InvalidRequest                    400
//	ErrSigV2Disabled                      InvalidRequest                    400
//	ErrMissingDate                        AccessDenied                      403 (SigV2 without a date)
//
// Errors carry request detail (never secrets) and match their sentinel with errors.Is; obtain
// code and status with errors.As(err, &*sigv4.Error). Read errors of the connection itself
// (reset, deadline) pass through Body unchanged and are not *Error.
package sigv4
