// Package sigv4 authenticates S3 requests signed with AWS Signature Version 4, server side.
//
// A handler calls Verifier.Verify(r); on success it reads the payload from Result.Body (never
// r.Body), which strips aws-chunked framing and verifies the payload while it streams. The
// package imports no other NebulaIO package and keeps no state between requests.
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
//   - Both forms together, SigV2, SigV4A and X-Amz-Security-Token (we issue no session tokens)
//     are rejected with InvalidRequest.
//
// Canonical request (AWS specification): method; the path with each segment decoded once and
// re-encoded with the unreserved set A-Z a-z 0-9 - . _ ~ (S3 does not double-encode; %2F inside
// a segment stays encoded); the query pairs decoded, re-encoded the same way ('/' encoded), and
// sorted by key then value (X-Amz-Signature excluded for presigned URLs); each signed header as
// "name:value\n" with values trimmed, runs of spaces folded, repeated headers joined by ','
// and host taken from r.Host; the signed-header list; the payload hash.
//
// Region: only the configured Region (default us-east-1) is accepted, as S3 and MinIO do; a
// request scoped to another region gets AuthorizationHeaderMalformed (or, presigned,
// AuthorizationQueryParametersError) naming the expected region, which is how SDKs learn it.
// Verifier.AnyRegion accepts any region for clients that cannot be configured.
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
// (BadDigest at EOF) and reported by Result.Checksum. CRC64NVME uses hash/crc64 with the
// reflected NVMe polynomial 0x9a6c9329ac4bc9b5 (check value of "123456789" =
// 0xae8b14860a799888, tested). Content-MD5 is left to the caller (the blob store verifies it).
//
// # Errors → S3 codes
//
//	ErrMissingAuth                        AccessDenied                      403 (anonymous request)
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
//
// Errors carry request detail (never secrets) and match their sentinel with errors.Is; obtain
// code and status with errors.As(err, &*sigv4.Error). Read errors of the connection itself
// (reset, deadline) pass through Body unchanged and are not *Error.
package sigv4
