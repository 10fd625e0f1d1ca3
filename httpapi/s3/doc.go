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
// Every operation of the S3 API reference, in its order, with what NebulaIO answers. Those
// marked 501 answer NotImplemented (the router refuses their subresource, method or headers;
// nothing is accepted and dropped); TestEveryOperation sends each one.
//
//	operation                                  request                            here
//	AbortMultipartUpload                       DELETE /b/k?uploadId=U             implemented: frees the parts' blobs
//	CompleteMultipartUpload                    POST /b/k?uploadId=U               implemented: ETag hex(md5(part md5s))-N; EntityTooSmall < 5 MiB;
//	                                                                              checksums; If-Match / If-None-Match: *; x-amz-version-id
//	CopyObject                                 PUT /b/k + x-amz-copy-source       implemented: source ?versionId=, x-amz-copy-source-version-id,
//	                                                                              metadata and tagging directives COPY|REPLACE,
//	                                                                              x-amz-copy-source-if-*, checksums
//	CreateBucket                               PUT /b                             implemented: name rules (fsm); LocationConstraint: see Regions;
//	                                                                              object lock (x-amz-bucket-object-lock-enabled) 501
//	CreateBucketMetadataConfiguration          POST /b?metadataConfiguration      501
//	CreateBucketMetadataTableConfiguration     POST /b?metadataTable              501
//	CreateMultipartUpload                      POST /b/k?uploads                  implemented: metadata, x-amz-tagging, x-amz-checksum-algorithm/-type
//	CreateSession                              GET /b?session                     501 (S3 Express)
//	DeleteBucket                               DELETE /b                          implemented: BucketNotEmpty while objects, versions or uploads remain
//	DeleteBucketAnalyticsConfiguration         DELETE /b?analytics                501
//	DeleteBucketCors                           DELETE /b?cors                     501
//	DeleteBucketEncryption                     DELETE /b?encryption               501
//	DeleteBucketIntelligentTieringConfiguration DELETE /b?intelligent-tiering     501
//	DeleteBucketInventoryConfiguration         DELETE /b?inventory                501
//	DeleteBucketLifecycle                      DELETE /b?lifecycle                501
//	DeleteBucketMetadataConfiguration          DELETE /b?metadataConfiguration    501
//	DeleteBucketMetadataTableConfiguration     DELETE /b?metadataTable            501
//	DeleteBucketMetricsConfiguration           DELETE /b?metrics                  501
//	DeleteBucketOwnershipControls              DELETE /b?ownershipControls        501
//	DeleteBucketPolicy                         DELETE /b?policy                   501
//	DeleteBucketReplication                    DELETE /b?replication              501
//	DeleteBucketTagging                        DELETE /b?tagging                  implemented (204)
//	DeleteBucketWebsite                        DELETE /b?website                  501
//	DeleteObject                               DELETE /b/k[?versionId=V]          implemented: a delete marker in versioned buckets, a version for
//	                                                                              good with versionId; 204 also for a missing key or version;
//	                                                                              If-Match and x-amz-if-match-* 501, x-amz-mfa 501
//	DeleteObjects                              POST /b?delete                     implemented: ≤ 1000 entries, VersionId, Quiet; DeleteMarker and
//	                                                                              DeleteMarkerVersionId; Content-MD5 or x-amz-checksum-* required
//	DeleteObjectTagging                        DELETE /b/k?tagging[&versionId=V]  implemented (204)
//	DeletePublicAccessBlock                    DELETE /b?publicAccessBlock        501
//	GetBucketAccelerateConfiguration           GET /b?accelerate                  501
//	GetBucketAcl                               GET /b?acl                         implemented: canned, the owner has FULL_CONTROL
//	GetBucketAnalyticsConfiguration            GET /b?analytics                   501
//	GetBucketCors                              GET /b?cors                        501
//	GetBucketEncryption                        GET /b?encryption                  501
//	GetBucketIntelligentTieringConfiguration   GET /b?intelligent-tiering         501
//	GetBucketInventoryConfiguration            GET /b?inventory                   501
//	GetBucketLifecycle(Configuration)          GET /b?lifecycle                   501
//	GetBucketLocation                          GET /b?location                    implemented: the bucket's region, "" for us-east-1, as S3
//	GetBucketLogging                           GET /b?logging                     501
//	GetBucketMetadataConfiguration             GET /b?metadataConfiguration       501
//	GetBucketMetadataTableConfiguration        GET /b?metadataTable               501
//	GetBucketMetricsConfiguration              GET /b?metrics                     501
//	GetBucketNotification(Configuration)       GET /b?notification                501
//	GetBucketOwnershipControls                 GET /b?ownershipControls           501
//	GetBucketPolicy                            GET /b?policy                      501
//	GetBucketPolicyStatus                      GET /b?policyStatus                501
//	GetBucketReplication                       GET /b?replication                 501
//	GetBucketRequestPayment                    GET /b?requestPayment              501
//	GetBucketTagging                           GET /b?tagging                     implemented: NoSuchTagSet (404) when none
//	GetBucketVersioning                        GET /b?versioning                  implemented: Enabled, Suspended or no Status (never enabled)
//	GetBucketWebsite                           GET /b?website                     501
//	GetObject                                  GET /b/k[?versionId=V]             implemented: Range or partNumber, If-(None-)Match,
//	                                                                              If-(Un)Modified-Since, response-*, x-amz-checksum-mode: ENABLED,
//	                                                                              x-amz-version-id, x-amz-tagging-count, delete markers (below)
//	GetObjectAcl                               GET /b/k?acl[&versionId=V]         implemented: canned, as GetBucketAcl
//	GetObjectAttributes                        GET /b/k?attributes[&versionId=V]  implemented: ETag, Checksum, ObjectParts (x-amz-max-parts,
//	                                                                              x-amz-part-number-marker; sizes, no part checksums),
//	                                                                              ObjectSize, StorageClass
//	GetObjectLegalHold                         GET /b/k?legal-hold                501
//	GetObjectLockConfiguration                 GET /b?object-lock                 501
//	GetObjectRetention                         GET /b/k?retention                 501
//	GetObjectTagging                           GET /b/k?tagging[&versionId=V]     implemented
//	GetObjectTorrent                           GET /b/k?torrent                   501
//	GetPublicAccessBlock                       GET /b?publicAccessBlock           501
//	HeadBucket                                 HEAD /b                            implemented: x-amz-bucket-region
//	HeadObject                                 HEAD /b/k[?versionId=V]            implemented: as GetObject without the body
//	ListBucketAnalyticsConfigurations          GET /b?analytics                   501
//	ListBucketIntelligentTieringConfigurations GET /b?intelligent-tiering         501
//	ListBucketInventoryConfigurations          GET /b?inventory                   501
//	ListBucketMetricsConfigurations            GET /b?metrics                     501
//	ListBuckets                                GET /                              implemented: max-buckets (1..10000), continuation-token, prefix;
//	                                                                              BucketRegion per bucket; bucket-region 501
//	ListDirectoryBuckets                       GET /?max-directory-buckets        501 (S3 Express)
//	ListMultipartUploads                       GET /b?uploads                     implemented: prefix, delimiter, key-marker, upload-id-marker; a
//	                                                                              key's uploads in initiation order
//	ListObjects (V1)                           GET /b                             implemented: prefix, delimiter, marker, max-keys, encoding-type
//	ListObjectsV2                              GET /b?list-type=2                 implemented: + continuation-token, start-after, fetch-owner
//	ListObjectVersions                         GET /b?versions                    implemented: prefix, delimiter, key-marker, version-id-marker,
//	                                                                              max-keys, encoding-type; unversioned buckets list null versions
//	ListParts                                  GET /b/k?uploadId=U                implemented: max-parts, part-number-marker; part checksums
//	PutBucketAccelerateConfiguration           PUT /b?accelerate                  501
//	PutBucketAcl                               PUT /b?acl                         501 (every bucket is private to its owner)
//	PutBucketAnalyticsConfiguration            PUT /b?analytics                   501
//	PutBucketCors                              PUT /b?cors                        501
//	PutBucketEncryption                        PUT /b?encryption                  501
//	PutBucketIntelligentTieringConfiguration   PUT /b?intelligent-tiering         501
//	PutBucketInventoryConfiguration            PUT /b?inventory                   501
//	PutBucketLifecycle(Configuration)          PUT /b?lifecycle                   501
//	PutBucketLogging                           PUT /b?logging                     501
//	PutBucketMetricsConfiguration              PUT /b?metrics                     501
//	PutBucketNotification(Configuration)       PUT /b?notification                501
//	PutBucketOwnershipControls                 PUT /b?ownershipControls           501
//	PutBucketPolicy                            PUT /b?policy                      501
//	PutBucketReplication                       PUT /b?replication                 501
//	PutBucketRequestPayment                    PUT /b?requestPayment              501
//	PutBucketTagging                           PUT /b?tagging                     implemented (204): ≤ 50 tags
//	PutBucketVersioning                        PUT /b?versioning                  implemented: Enabled, Suspended; anything else MalformedXML, no
//	                                                                              Status IllegalVersioningConfigurationException; MfaDelete
//	                                                                              Enabled 501
//	PutBucketWebsite                           PUT /b?website                     501
//	PutObject                                  PUT /b/k                           implemented: Content-MD5, checksums, x-amz-meta-*, Expires,
//	                                                                              x-amz-tagging, storage class, If-Match / If-None-Match: *
//	PutObjectAcl                               PUT /b/k?acl                       501
//	PutObjectLegalHold                         PUT /b/k?legal-hold                501
//	PutObjectLockConfiguration                 PUT /b?object-lock                 501
//	PutObjectRetention                         PUT /b/k?retention                 501
//	PutObjectTagging                           PUT /b/k?tagging[&versionId=V]     implemented: ≤ 10 tags
//	PutPublicAccessBlock                       PUT /b?publicAccessBlock           501
//	RenameObject                               PUT /b/k?renameObject              501 (S3 Express)
//	RestoreObject                              POST /b/k?restore                  501 (no archive storage classes)
//	SelectObjectContent                        POST /b/k?select&select-type=2     501
//	UpdateBucketMetadata*TableConfiguration    PUT /b?metadata...Table            501
//	UploadPart                                 PUT /b/k?partNumber=N&uploadId=U   implemented: 1 ≤ N ≤ 10000; checksums
//	UploadPartCopy                             ... + x-amz-copy-source[-range]    implemented: source ?versionId=; the upload's checksum computed
//	WriteGetObjectResponse                     POST /WriteGetObjectResponse       501 (Object Lambda)
//	PostObject (browser form upload)           POST /b                            501
//
// The versionId parameter is taken by GetObject, HeadObject, DeleteObject, the object tagging
// operations, GetObjectAcl and GetObjectAttributes; on any other operation it is
// InvalidArgument. A request naming a subresource its operation does not read (GET
// /b/k?tagging&acl) is NotImplemented.
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
// # Versions, delete markers, tags and metadata
//
// A bucket is unversioned until PutBucketVersioning enables it; Suspended then writes and
// overwrites the null version; it never returns to unversioned (package fsm, "Versions").
// Every write proposes a candidate version ID (fsm.NewVersionID: the request's time and 64
// random bits); the FSM keeps it or raises it so that IDs are unique and ordered per key, and
// the ID a version got comes back in the event's result. x-amz-version-id is sent for every
// version of a bucket whose versioning was ever set ("null" included) and never for an
// unversioned bucket, as S3.
//
//   - DeleteObject without versionId adds a delete marker (x-amz-delete-marker: true and its
//     x-amz-version-id); with versionId it removes that version for good (the headers name
//     it; x-amz-delete-marker when it was a marker).
//   - GET/HEAD of a key whose current version is a marker: 404 NoSuchKey with
//     x-amz-delete-marker: true, the marker's x-amz-version-id and Last-Modified; of a marker's
//     version by ID: 405 MethodNotAllowed with the same headers.
//   - Restoring a version is a copy of it onto its key (x-amz-copy-source: b/k?versionId=V),
//     which is why a copy onto its own key is allowed when it names a version; without one it
//     still needs x-amz-metadata-directive: REPLACE (InvalidRequest otherwise, as S3).
//   - Tags: x-amz-tagging (URL query encoded) on PutObject, CreateMultipartUpload and
//     CopyObject with x-amz-tagging-directive: REPLACE (the default, COPY, keeps the source's
//     tags; x-amz-tagging with COPY is InvalidArgument, since it would be ignored); S3's
//     limits (10 tags an object, 50 a bucket, keys ≤ 128 and values ≤ 256 characters, no
//     "aws:" keys, no key twice) are InvalidTag; GET and HEAD send x-amz-tagging-count.
//   - Metadata is stored and returned as sent: user metadata names lower case (as S3; the
//     response header is set without Go's canonicalisation, so x-amz-meta-color, not
//     X-Amz-Meta-Color), Content-Type, Content-Encoding (byte for byte: "deflate, gzip" stays
//     so; only the aws-chunked framing is removed), Content-Language, Content-Disposition,
//     Cache-Control and Expires (the header as sent, not parsed).
//
// # Conditional writes
//
// If-None-Match: * and If-Match (an ETag list, or *) on PutObject and CompleteMultipartUpload
// travel in the event and are evaluated by the FSM as it applies it, so of writers racing on
// one key exactly one If-None-Match: * wins; a failed condition is 412 PreconditionFailed, an
// If-Match on a missing key 404 NoSuchKey, and changes nothing (a refused completion leaves the
// upload open). If-None-Match with an ETag on a write is NotImplemented (S3 takes * only).
// Conditions on other writes (DeleteObject's If-Match and x-amz-if-match-*, CopyObject's
// destination) are not evaluated and are refused (501) rather than ignored.
//
// # Not implemented (NotImplemented, 501)
//
// Every operation marked 501 above, and these request headers on any operation (refused, not
// ignored): x-amz-server-side-encryption* and the copy-source SSE-C headers (encryption),
// x-amz-object-lock-* and x-amz-bucket-object-lock-enabled: true (object lock), x-amz-grant-*
// and x-amz-acl other than private (ACLs), x-amz-website-redirect-location, x-amz-mfa,
// x-amz-write-offset-bytes. Any query parameter that is neither one of the parameters above nor
// x-* (the SDK's x-id, presigned X-Amz-*, or SigV2's AWSAccessKeyId, Expires and Signature
// together) is NotImplemented, so an unsupported subresource is never silently treated as a
// plain GET or PUT. x-amz-bypass-governance-retention is accepted: there are no retention
// locks to bypass. Abandoned multipart uploads are freed by AbortMultipartUpload, or after 7
// days by the data plane's upload expiry on the leader.
//
// # Errors
//
// Every failure is an S3 XML <Error> with Code, Message, Resource and RequestId (HEAD: status
// only). Mapping:
//
//	source                                   code                              status
//	fsm NoSuchBucket / NoSuchKey / NoSuchUpload / NoSuchVersion / NoSuchTagSet 404
//	fsm BucketAlreadyExists / BucketAlreadyOwnedByYou / BucketNotEmpty         409
//	fsm InvalidBucketName, KeyTooLongError, InvalidPart, InvalidPartOrder,
//	    EntityTooSmall, BadDigest, InvalidArgument, InvalidTag,
//	    EntityTooLarge                                                         400
//	fsm MethodNotAllowed (a delete marker's version)                          405
//	fsm PreconditionFailed (a conditional write)                              412
//	versioning Status other than Enabled/Suspended MalformedXML               400
//	versioning configuration without Status  IllegalVersioningConfigurationException 400
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
//	unknown subresource, unsupported header  NotImplemented                    501
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
//   - FSM rejects the event (bucket deleted meanwhile, upload aborted, a failed condition,
//     ...): the rejected PutObject or PutPart lists its own blob in Result.FreedBlobs, so every
//     storage node's data plane deletes its copy as it applies the event, as for any freed
//     blob; the handler does not discard it too (that would delete it twice). No object is
//     visible. An event that cannot even be encoded is never proposed: its blob is discarded
//     at once (DiscardBlob).
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
//     Content-Disposition, Content-Encoding, Cache-Control and Expires are returned as stored.
//   - DeleteObject and DeleteObjects always carry a candidate marker version ID and time, even
//     for unversioned buckets (which ignore them): whether the bucket is versioned is decided
//     by the FSM when it applies the event, not by this node's possibly older view.
//   - GetObjectAttributes lists part sizes (one blob per part) but no part checksums: a
//     completed object keeps its own checksum only (see fsm/DESIGN.md, "Not done yet").
//   - PutBucketTagging and PutObjectTagging with an empty TagSet remove the tags, as the
//     Delete operations do.
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
