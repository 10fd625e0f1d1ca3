// Package s3 serves the S3 API (:9000) on a NebulaIO node: SigV4 authentication (package
// sigv4), S3 addressing and routing, the XML wire format, and the write and read paths that
// join the metadata state machine (package fsm, through raft) with the object bytes (package
// dataplane).
//
// Wiring is one call each, the same on a single node (a data plane that is a cluster of one)
// and in a cluster:
//
//	backend := s3.NewBackend(node, fsm, plane) // *engine.Node, *fsm.FSM, *dataplane.Plane
//	handler := s3.NewHandler(s3.Options{Backend: backend, Credentials: creds, Region: region,
//		Domain: domain, Logger: log, Metrics: sink})
//
// Backend is the seam: Propose (an fsm.Event in, the *fsm.Result out), Sync (a linearizable
// read barrier), the FSM's read methods (Metadata), and PutBlob/OpenBlob/DiscardBlob (Blobs:
// the data plane's Put/Open/Discard with its errors mapped to S3's). Tests wrap it to inject
// faults. The handlers do no storage bookkeeping: freed blobs, garbage and abandoned uploads
// are the data plane's (see package dataplane).
//
// # Operations
//
//	operation                 request                               notes
//	ListBuckets               GET /                                 BucketRegion per bucket
//	CreateBucket              PUT /b                                name rules (fsm); LocationConstraint: see Regions
//	DeleteBucket              DELETE /b                             BucketNotEmpty while objects or uploads remain
//	HeadBucket                HEAD /b                               x-amz-bucket-region: the bucket's region
//	GetBucketLocation         GET /b?location                       the bucket's region, "" for us-east-1, as S3
//	GetBucketVersioning       GET /b?versioning                     always unversioned (empty configuration)
//	GetBucketAcl/GetObjectAcl GET ?acl                              canned: the owner has FULL_CONTROL
//	ListObjects (V1)          GET /b                                prefix, delimiter, marker, max-keys, encoding-type
//	ListObjectsV2             GET /b?list-type=2                    + continuation-token, start-after, fetch-owner
//	PutObject                 PUT /b/k                              Content-MD5, checksums, x-amz-meta-*, storage class
//	CopyObject                PUT /b/k + x-amz-copy-source          metadata COPY|REPLACE, x-amz-copy-source-if-*, checksums
//	GetObject / HeadObject    GET|HEAD /b/k                         Range or partNumber, If-(None-)Match, If-(Un)Modified-Since, response-*,
//	                                                                x-amz-checksum-mode: ENABLED
//	DeleteObject              DELETE /b/k                           204 also for a missing key
//	DeleteObjects             POST /b?delete                        ≤ 1000 keys, Quiet; Content-MD5 or x-amz-checksum-* required
//	CreateMultipartUpload     POST /b/k?uploads                     x-amz-checksum-algorithm, x-amz-checksum-type
//	UploadPart                PUT /b/k?partNumber=N&uploadId=U      1 ≤ N ≤ 10000; checksums
//	UploadPartCopy            ... + x-amz-copy-source[-range]       the upload's checksum computed
//	CompleteMultipartUpload   POST /b/k?uploadId=U                  ETag hex(md5(part md5s))-N; EntityTooSmall < 5 MiB; checksums
//	AbortMultipartUpload      DELETE /b/k?uploadId=U                frees the parts' blobs
//	ListParts                 GET /b/k?uploadId=U                   max-parts, part-number-marker; part checksums
//	ListMultipartUploads      GET /b?uploads                        prefix, delimiter, key-marker, upload-id-marker; a key's
//	                                                                uploads in initiation order
//
// Addressing: path style, or virtual-hosted style when Options.Domain is set and the Host is
// <bucket>.<Domain>[:port]. Every response carries x-amz-request-id (and x-amz-id-2).
//
// Authentication: every request must verify (header SigV4, presigned URL, aws-chunked
// streaming signed or unsigned with trailers, UNSIGNED-PAYLOAD; SigV2 header and presigned
// URLs unless Options.DisableSigV2, s3.allow_sigv2: false, where they get AWS's InvalidRequest
// "Please use AWS4-HMAC-SHA256"); there is no anonymous access.
// Handlers read the payload only through sigv4's Result.Body, which verifies the SHA-256,
// chunk signatures and x-amz-checksum-* as it streams; an error at the end of the body makes
// the blob write fail, so nothing unverified is ever stored.
//
// # Checksums
//
// Algorithms CRC32, CRC32C, CRC64NVME, SHA1 and SHA256 (sigv4 verifies a value as the body
// streams, from a header or an aws-chunked trailer, signed or not); any other
// x-amz-checksum-<name> is InvalidRequest. An object stores one checksum and returns it with
// x-amz-checksum-type on GET and HEAD when asked (x-amz-checksum-mode: ENABLED) for a
// whole-object read, and in the answers of PutObject, UploadPart, CopyObject and
// CompleteMultipartUpload.
//
//   - PutObject / UploadPart: the client's value; with x-amz-checksum-algorithm and no value,
//     the server computes that algorithm (InvalidRequest if it names another algorithm than
//     the value sent). PutObject's checksum is FULL_OBJECT (x-amz-checksum-type COMPOSITE is
//     InvalidRequest).
//   - CreateMultipartUpload: x-amz-checksum-algorithm and x-amz-checksum-type (default
//     FULL_OBJECT for CRC64NVME, COMPOSITE for the others); FULL_OBJECT with SHA1/SHA256,
//     COMPOSITE with CRC64NVME, or a type without an algorithm are InvalidRequest. The upload's
//     parts must use its algorithm ("Checksum Type mismatch", InvalidRequest); a COMPOSITE
//     upload needs every part's value from the client, a FULL_OBJECT part without one has it
//     computed. An upload that declared none keeps whatever checksum its parts carry.
//   - CompleteMultipartUpload: part checksums listed must be the parts' (else InvalidPart); a
//     COMPOSITE upload must list one per part (InvalidRequest); x-amz-checksum-type must be the
//     upload's. COMPOSITE = the algorithm over the concatenated part digests, "-N" appended;
//     FULL_OBJECT = the parts' CRCs combined (sigv4.CombineCRC). An x-amz-checksum-<alg> header
//     is the object's checksum and must equal the computed value (BadDigest); a composite may be
//     given without "-N" (minio-go). An upload that declared no algorithm gets one from that
//     header, else the object has no checksum (its parts' checksums, if any, were still
//     verified and are listed by ListParts).
//   - Copies keep a full-object checksum, turn a composite one into the full-object value of
//     the same algorithm (a copy is one piece), and compute x-amz-checksum-algorithm if asked;
//     UploadPartCopy computes the upload's algorithm.
//   - A ranged or partNumber GET returns no checksum (it would not match the bytes). Objects
//     written without a checksum have none: the server does not add a default CRC64NVME.
//
// # Regions
//
// Options.StrictRegion (s3.strict_region) false, the default: requests signed for any region
// are accepted, and CreateBucket's LocationConstraint must be the region the request was
// signed for (IllegalLocationConstraintException otherwise, as a regional S3 endpoint
// answers; a us-east-1-signed request asking for another region gets
// InvalidLocationConstraint) or Options.Region; the bucket keeps it, and GetBucketLocation,
// HeadBucket and ListBuckets report it. With StrictRegion the endpoint is one AWS region: a
// request signed for another gets AuthorizationHeaderMalformed with <Region> naming
// Options.Region (minio-go and boto3 re-sign with it), and every bucket is in Options.Region.
//
// # Storage classes
//
// STANDARD only: every object is stored the same way, so x-amz-storage-class with any other
// value (REDUCED_REDUNDANCY, STANDARD_IA, GLACIER, ...) is InvalidStorageClass on PutObject,
// CopyObject and CreateMultipartUpload rather than accepted and not honoured. Listings report
// STANDARD.
//
// # Not implemented (NotImplemented, 501)
//
// Versioning (versionId other than "null", ?versions), ACL and policy changes, tagging,
// lifecycle, CORS, website, replication, encryption, object lock, browser POST uploads,
// conditional PutObject (If-Match / If-None-Match on PUT). Any query parameter that is neither
// one of the parameters above nor x-* (the SDK's x-id, presigned X-Amz-*, or SigV2's
// AWSAccessKeyId, Expires and Signature together) is NotImplemented, so an unsupported
// subresource is never silently treated as a plain GET or PUT. Abandoned multipart uploads
// are freed by AbortMultipartUpload, or after 7 days by the data plane's upload expiry on the
// leader.
//
// # Errors
//
// Every failure is an S3 XML <Error> with Code, Message, Resource and RequestId (HEAD: status
// only). Mapping:
//
//	source                                   code                              status
//	fsm NoSuchBucket / NoSuchKey / NoSuchUpload                                404
//	fsm BucketAlreadyExists / BucketAlreadyOwnedByYou / BucketNotEmpty         409
//	fsm InvalidBucketName, KeyTooLongError, InvalidPart, InvalidPartOrder,
//	    EntityTooSmall, BadDigest, InvalidArgument                             400
//	sigv4 errors                             their code (SignatureDoesNotMatch, 403; ...)
//	key > 1024 bytes                         KeyTooLongError                   400
//	key with "..", NUL, invalid UTF-8        InvalidObjectName                 400
//	storage class other than STANDARD        InvalidStorageClass               400
//	LocationConstraint (see Regions)         IllegalLocationConstraintException,
//	                                         InvalidLocationConstraint         400
//	checksum rules (see Checksums)           InvalidRequest, InvalidPart, BadDigest 400
//	malformed or oversized XML body          MalformedXML                      400
//	Content-MD5 not base64 of 16 bytes       InvalidDigest                     400
//	Content-MD5 mismatch (also XML bodies)   BadDigest                         400
//	body over 5 GiB (Options.MaxObjectSize)  EntityTooLarge                    400
//	user metadata over 2 KiB                 MetadataTooLarge                  400
//	range past the end                       InvalidRange (Content-Range */N)  416
//	If-Match / If-Unmodified-Since fail      PreconditionFailed                412
//	If-None-Match / If-Modified-Since        (304 Not Modified, no body)
//	copy onto itself with COPY               InvalidRequest                    400
//	unknown subresource, versioning, ...     NotImplemented                    501
//	wrong method for the resource            MethodNotAllowed                  405
//	engine ErrNoQuorum, ErrLeadershipLost,
//	    ErrClosed, ErrNotLeader, ErrLogStore
//	    (not ENOSPC), timeouts, dataplane
//	    ErrWriteQuorum (a replica's EIO...),
//	    ErrNoStorageNode, ErrUnreachable     ServiceUnavailable + Retry-After  503
//	no space on a node: dataplane ErrNoSpace
//	    (free-space reserve, ENOSPC), ENOSPC
//	    from the WAL (engine ErrLogStore)    InsufficientStorage (names node)  507
//	partNumber past the object's parts       InvalidPartNumber                 416
//	conditional PUT (If-Match on PUT)        NotImplemented                    501
//	every copy fails its checksum (dataplane
//	    ErrCorrupt), no copy anywhere,
//	    anything unexpected                  InternalError                     500
//
// # Write path and what a failure leaves behind
//
// PutObject, UploadPart and the copies stream the body into a new blob (ID: 128 random bits
// in hex, chosen here, never derived from the key), which the data plane writes to a quorum of
// its replicas, each checksummed and fsynced, before the metadata event is proposed. Then:
//
//   - FSM rejects the event (bucket deleted meanwhile, upload aborted, ...): the blob is
//     discarded at once (DiscardBlob); no object is visible.
//   - Outcome unknown (ErrNoQuorum, ErrLeadershipLost, ctx cancelled): the blob is kept, because
//     the entry may still commit and deleting its bytes would leave an object without data; the
//     client gets 503. The data plane's garbage collector removes such blobs once older than
//     its grace period (an hour).
//   - Success: the blobs the event freed (Result.FreedBlobs: the overwritten object, replaced
//     or aborted parts, parts left out of a completion) are deleted by every storage node's
//     data plane as it applies the event; the handler does nothing with them.
//
// Copies write new blobs rather than sharing the source's: a DeleteObject of the source that
// commits first would free blobs the copy's event then references.
//
// Memory is flat whatever the object size: bodies stream through sigv4's reader into the blob
// store (one block buffer), and GET streams blobs to the client through one 64 KiB buffer.
//
// # Read path
//
// GET, HEAD and the listings first call Backend.Sync (linearizable), then read the FSM. A GET
// reads its first buffer before writing the status line, so a blob that is missing or fails
// its checksum at the start of the range is an InternalError response; a failure later cuts
// the response short (fewer bytes than Content-Length), so the client sees an error. The
// blob store verifies every block before returning its bytes: corrupt data is reported
// (nebulaio_s3_corrupt_blobs_total, an error log) and never served.
//
// A GET racing an overwrite or delete of its key may find the blob it looked up already
// freed (each node deletes freed blobs as it applies the event). If that happens at the first
// blob, the GET re-reads the metadata and starts over (up to three times), so it returns the
// old object, the new one or NoSuchKey, never an error. Open blob files stay readable after
// a delete, so only a multipart object overwritten while a GET is between two of its parts
// can still cut that response short.
//
// Blobs are read through the data plane from any node with an intact copy, this one first,
// failing over mid-stream (package dataplane). A GET or copy whose bytes are only on nodes
// that cannot be reached answers 503 ServiceUnavailable (not InternalError: nothing is known
// to be corrupt); one whose every copy found is corrupt, 500.
//
// Idle timeout: every body read and response write that makes progress pushes the
// connection's deadline Options.IdleTimeout ahead (http.ResponseController); a client that
// stalls longer gets RequestTimeout (or a closed connection) and its partial blob is
// discarded. There is no whole-request timeout, so large transfers are not capped.
//
// # Decisions
//
//   - Content-Type defaults to binary/octet-stream on read, as S3. Content-Language,
//     Content-Disposition, Content-Encoding and Cache-Control are returned as stored.
//   - Upload IDs are the initiation time (64 bits of Unix nanoseconds) then 64 random bits,
//     in hex, so that listing a key's uploads in upload ID order (and paging them with
//     upload-id-marker, compared lexicographically as S3 does) is initiation order, S3's.
//   - DeleteObjects answers each (key, version) once, however often the request lists it, in
//     request order, and a missing key as deleted; a repeated entry is not deleted twice.
//   - The V2 continuation token is the fsm NextMarker in unpadded base64url; a token that is
//     not canonical base64url is InvalidArgument (found by FuzzListQuery).
//   - max-keys=0 answers an empty, untruncated page (fsm reads 0 as "default").
//   - encoding-type=url encodes Key, Prefix, Delimiter, StartAfter, markers and common
//     prefixes with form encoding ('+' for space), leaving '/' as is.
//   - x-amz-checksum-* values are returned on GET/HEAD only with x-amz-checksum-mode: ENABLED
//     and a whole-object read, since a range cannot match a whole-object checksum.
//   - Multiple byte ranges, or an unparsable Range, are ignored (the whole object is served),
//     as S3 does; a range starting past the end is InvalidRange.
//   - A PUT first checks its bucket (and UploadPart its upload) locally, then after a read
//     barrier, so a missing bucket is refused before any byte is stored; the FSM's check at
//     apply time is the authoritative one.
//
// # Maintenance
//
// The handler starts no goroutines and does no maintenance: blob garbage collection, the
// expiry of abandoned multipart uploads, repair and scrubbing are the data plane's
// (dataplane.Plane.RunMaintenance, started by the server).
//
// # Metrics
//
// The label-free seam of docs/CONVENTIONS.md; MetricDescs lists every name.
// nebulaio_s3_requests_total counts requests; "by operation and status" is one counter per
// operation (nebulaio_s3_op_<snake_case_operation>_total, e.g.
// nebulaio_s3_op_put_object_total) and one per status class (nebulaio_s3_responses_4xx_total);
// nebulaio_s3_request_seconds is the latency histogram; bytes in (decoded payload) and out
// (response bodies) are counters.
package s3
