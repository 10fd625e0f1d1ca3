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
//	                                                                              x-amz-bucket-object-lock-enabled (see Object lock)
//	CreateBucketMetadataConfiguration          POST /b?metadataConfiguration      501
//	CreateBucketMetadataTableConfiguration     POST /b?metadataTable              501
//	CreateMultipartUpload                      POST /b/k?uploads                  implemented: metadata, x-amz-tagging, x-amz-checksum-algorithm/-type
//	CreateSession                              GET /b?session                     501 (S3 Express)
//	DeleteBucket                               DELETE /b                          implemented: BucketNotEmpty while objects, versions or uploads remain
//	DeleteBucketAnalyticsConfiguration         DELETE /b?analytics                501
//	DeleteBucketCors                           DELETE /b?cors                     implemented (204)
//	DeleteBucketEncryption                     DELETE /b?encryption               implemented (204)
//	DeleteBucketIntelligentTieringConfiguration DELETE /b?intelligent-tiering     501
//	DeleteBucketInventoryConfiguration         DELETE /b?inventory                501
//	DeleteBucketLifecycle                      DELETE /b?lifecycle                implemented (204)
//	DeleteBucketMetadataConfiguration          DELETE /b?metadataConfiguration    501
//	DeleteBucketMetadataTableConfiguration     DELETE /b?metadataTable            501
//	DeleteBucketMetricsConfiguration           DELETE /b?metrics                  501
//	DeleteBucketOwnershipControls              DELETE /b?ownershipControls        501
//	DeleteBucketPolicy                         DELETE /b?policy                   implemented
//	DeleteBucketReplication                    DELETE /b?replication              501
//	DeleteBucketTagging                        DELETE /b?tagging                  implemented (204)
//	DeleteBucketWebsite                        DELETE /b?website                  501
//	DeleteObject                               DELETE /b/k[?versionId=V]          implemented: a delete marker in versioned buckets, a version for
//	                                                                              good with versionId; 204 also for a missing key or version;
//	                                                                              object lock (AccessDenied), x-amz-bypass-governance-retention;
//	                                                                              If-Match and x-amz-if-match-* 501, x-amz-mfa 501
//	DeleteObjects                              POST /b?delete                     implemented: ≤ 1000 entries, VersionId, Quiet; DeleteMarker and
//	                                                                              DeleteMarkerVersionId; Content-MD5 or x-amz-checksum-* required;
//	                                                                              locked versions AccessDenied each; x-amz-bypass-governance-retention
//	DeleteObjectTagging                        DELETE /b/k?tagging[&versionId=V]  implemented (204)
//	DeletePublicAccessBlock                    DELETE /b?publicAccessBlock        implemented
//	GetBucketAccelerateConfiguration           GET /b?accelerate                  501
//	GetBucketAcl                               GET /b?acl                         implemented: the canned ACL's grants
//	GetBucketAnalyticsConfiguration            GET /b?analytics                   501
//	GetBucketCors                              GET /b?cors                        implemented: NoSuchCORSConfiguration (404) when none
//	GetBucketEncryption                        GET /b?encryption                  implemented: ServerSideEncryptionConfigurationNotFoundError (404) when none
//	GetBucketIntelligentTieringConfiguration   GET /b?intelligent-tiering         501
//	GetBucketInventoryConfiguration            GET /b?inventory                   501
//	GetBucketLifecycle(Configuration)          GET /b?lifecycle                   implemented: NoSuchLifecycleConfiguration (404) when none
//	GetBucketLocation                          GET /b?location                    implemented: the bucket's region, "" for us-east-1, as S3
//	GetBucketLogging                           GET /b?logging                     501
//	GetBucketMetadataConfiguration             GET /b?metadataConfiguration       501
//	GetBucketMetadataTableConfiguration        GET /b?metadataTable               501
//	GetBucketMetricsConfiguration              GET /b?metrics                     501
//	GetBucketNotification(Configuration)       GET /b?notification                501
//	GetBucketOwnershipControls                 GET /b?ownershipControls           501
//	GetBucketPolicy                            GET /b?policy                      implemented
//	GetBucketPolicyStatus                      GET /b?policyStatus                implemented
//	GetBucketReplication                       GET /b?replication                 501
//	GetBucketRequestPayment                    GET /b?requestPayment              501
//	GetBucketTagging                           GET /b?tagging                     implemented: NoSuchTagSet (404) when none
//	GetBucketVersioning                        GET /b?versioning                  implemented: Enabled, Suspended or no Status (never enabled)
//	GetBucketWebsite                           GET /b?website                     501
//	GetObject                                  GET /b/k[?versionId=V]             implemented: Range or partNumber, If-(None-)Match,
//	                                                                              If-(Un)Modified-Since, response-*, x-amz-checksum-mode: ENABLED,
//	                                                                              x-amz-version-id, x-amz-tagging-count, delete markers (below),
//	                                                                              x-amz-object-lock-*, x-amz-expiration
//	GetObjectAcl                               GET /b/k?acl[&versionId=V]         implemented: canned, as GetBucketAcl
//	GetObjectAttributes                        GET /b/k?attributes[&versionId=V]  implemented: ETag, Checksum, ObjectParts (x-amz-max-parts,
//	                                                                              x-amz-part-number-marker; sizes, no part checksums),
//	                                                                              ObjectSize, StorageClass
//	GetObjectLegalHold                         GET /b/k?legal-hold[&versionId=V]  implemented: NoSuchObjectLockConfiguration (404) when never set
//	GetObjectLockConfiguration                 GET /b?object-lock                 implemented: ObjectLockConfigurationNotFoundError (404) without lock
//	GetObjectRetention                         GET /b/k?retention[&versionId=V]   implemented: NoSuchObjectLockConfiguration (404) without retention
//	GetObjectTagging                           GET /b/k?tagging[&versionId=V]     implemented
//	GetObjectTorrent                           GET /b/k?torrent                   501
//	GetPublicAccessBlock                       GET /b?publicAccessBlock           implemented
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
//	PutBucketAcl                               PUT /b?acl                         implemented: x-amz-acl canned ACLs; ACL documents 501
//	PutBucketAnalyticsConfiguration            PUT /b?analytics                   501
//	PutBucketCors                              PUT /b?cors                        implemented: ≤ 100 rules (see CORS)
//	PutBucketEncryption                        PUT /b?encryption                  implemented: AES256 only (see Encryption at rest)
//	PutBucketIntelligentTieringConfiguration   PUT /b?intelligent-tiering         501
//	PutBucketInventoryConfiguration            PUT /b?inventory                   501
//	PutBucketLifecycle(Configuration)          PUT /b?lifecycle                   implemented: ≤ 1000 rules (see Lifecycle); transitions 501
//	PutBucketLogging                           PUT /b?logging                     501
//	PutBucketMetricsConfiguration              PUT /b?metrics                     501
//	PutBucketNotification(Configuration)       PUT /b?notification                501
//	PutBucketOwnershipControls                 PUT /b?ownershipControls           501
//	PutBucketPolicy                            PUT /b?policy                      implemented (see Identities and access)
//	PutBucketReplication                       PUT /b?replication                 501
//	PutBucketRequestPayment                    PUT /b?requestPayment              501
//	PutBucketTagging                           PUT /b?tagging                     implemented (204): ≤ 50 tags
//	PutBucketVersioning                        PUT /b?versioning                  implemented: Enabled, Suspended; anything else MalformedXML, no
//	                                                                              Status IllegalVersioningConfigurationException; MfaDelete
//	                                                                              Enabled 501
//	PutBucketWebsite                           PUT /b?website                     501
//	PutObject                                  PUT /b/k                           implemented: Content-MD5, checksums, x-amz-meta-*, Expires,
//	                                                                              x-amz-tagging, storage class, If-Match / If-None-Match: *,
//	                                                                              x-amz-object-lock-mode, -retain-until-date, -legal-hold
//	PutObjectAcl                               PUT /b/k?acl                       501
//	PutObjectLegalHold                         PUT /b/k?legal-hold[&versionId=V]  implemented: ON or OFF
//	PutObjectLockConfiguration                 PUT /b?object-lock                 implemented: default retention; x-amz-bucket-object-lock-token 501
//	PutObjectRetention                         PUT /b/k?retention[&versionId=V]   implemented: x-amz-bypass-governance-retention
//	PutObjectTagging                           PUT /b/k?tagging[&versionId=V]     implemented: ≤ 10 tags
//	PutPublicAccessBlock                       PUT /b?publicAccessBlock           implemented
//	RenameObject                               PUT /b/k?renameObject              501 (S3 Express)
//	RestoreObject                              POST /b/k?restore                  501 (no archive storage classes)
//	SelectObjectContent                        POST /b/k?select&select-type=2     501
//	UpdateBucketMetadata*TableConfiguration    PUT /b?metadata...Table            501
//	UploadPart                                 PUT /b/k?partNumber=N&uploadId=U   implemented: 1 ≤ N ≤ 10000; checksums
//	UploadPartCopy                             ... + x-amz-copy-source[-range]    implemented: source ?versionId=; the upload's checksum computed
//	WriteGetObjectResponse                     POST /WriteGetObjectResponse       501 (Object Lambda)
//	PostObject (browser form upload)           POST /b (multipart/form-data)      implemented: SigV4 POST policy (see Browser uploads)
//	(CORS preflight)                           OPTIONS /b[/k]                     implemented: unsigned, answered from the CORS rules
//
// The versionId parameter is taken by GetObject, HeadObject, DeleteObject, the object tagging
// operations, GetObjectAcl, GetObjectAttributes and the retention and legal hold operations;
// on any other operation it is InvalidArgument. A request naming a subresource its operation does not read (GET
// /b/k?tagging&acl) is NotImplemented.
//
// Addressing: path style, or virtual-hosted style when Options.Domain is set and the Host is
// <bucket>.<Domain>[:port]. Every response carries x-amz-request-id (and x-amz-id-2).
//
// Authentication: every signed request must verify (header SigV4, presigned URL, aws-chunked
// streaming signed or unsigned with trailers, UNSIGNED-PAYLOAD; SigV2 header and presigned
// URLs unless Options.DisableSigV2, s3.allow_sigv2: false, where they get AWS's InvalidRequest
// "Please use AWS4-HMAC-SHA256"); a request with no signature at all is anonymous and gets
// only what a public bucket policy or canned ACL allows (see Identities and access).
// Handlers read the payload only through sigv4's Result.Body, which verifies the SHA-256,
// chunk signatures and x-amz-checksum-* as it streams; an error at the end of the body makes
// the blob write fail, so nothing unverified is ever stored.
//
// # Identities and access
//
// Who: the root credentials (Options.Credentials) are the root principal and may do anything.
// Users (fsm.UserInfo, managed through the admin API) sign with their own access keys; their
// secrets are sealed in the metadata and opened with Options.Keys (package iam). A disabled
// or deleted user's key is InvalidAccessKeyId. A request with no signature at all is
// anonymous. A wrong signature or unknown key counts against the source address
// (internal/authlimit, Options.AuthLimit); an address out of tokens gets 503 SlowDown with
// Retry-After before its signature is checked (nebulaio_s3_auth_failures_total,
// nebulaio_s3_auth_throttled_total).
//
// What: every operation the router dispatches maps to exactly one IAM action (opActions in
// authz.go; a test checks the table against the router), on the resource arn:aws:s3:::*
// (ListBuckets), arn:aws:s3:::bucket or arn:aws:s3:::bucket/key. Operations that name a
// version use the action's version variant (s3:GetObjectVersion, s3:DeleteObjectVersion, ...).
// A copy also needs s3:GetObject on its source; x-amz-bypass-governance-retention also needs
// s3:BypassGovernanceRetention; DeleteObjects authorizes each key (a refused key is reported
// AccessDenied in the result and not deleted); a POST form authorizes s3:PutObject on its key.
// Non-root principals are decided as AWS does within one account: an explicit Deny in the
// user's identity policies, the bucket policy or the canned ACL wins; else an Allow in any of
// them allows; else AccessDenied (nebulaio_s3_access_denied_total). Conditions see
// aws:SourceIp (the connection's peer, never X-Forwarded-For), aws:SecureTransport, and on
// listings s3:prefix and s3:delimiter.
//
// Bucket access settings: PutBucketPolicy (parsed by iam.ParseBucketPolicy; every resource
// in the bucket, every statement with a Principal; MalformedPolicy names the element at
// fault), GetBucketPolicy (the document as stored), DeleteBucketPolicy,
// GetBucketPolicyStatus (IsPublic: an Allow to Principal "*" not narrowed by an aws:SourceIp
// range), canned ACLs through x-amz-acl on CreateBucket and PutBucketAcl (private,
// public-read, public-read-write, authenticated-read; iam.CannedACL gives their grants as a
// policy; GetBucketAcl and GetObjectAcl show them as grants to the AllUsers or
// AuthenticatedUsers group), and Get/Put/DeletePublicAccessBlock. A new bucket blocks public
// access with all four switches on, as AWS creates buckets since 2023: BlockPublicAcls and
// BlockPublicPolicy refuse a public ACL or policy (AccessDenied), IgnorePublicAcls makes a
// public ACL grant nothing, RestrictPublicBuckets makes a public policy grant anonymous
// requests nothing. CreateBucket with a public canned ACL is therefore AccessDenied; with
// authenticated-read the ACL is a second event after the bucket's.
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
// # Object lock
//
// The checks that protect a version are the FSM's, made when events apply (fsm/doc.go,
// "Object lock"); this layer reads and writes the settings:
//
//   - CreateBucket with x-amz-bucket-object-lock-enabled: true (false or absent: none) makes a
//     bucket with object lock, versioning Enabled for good (Suspended is then
//     InvalidBucketState, 409). PutObjectLockConfiguration (ObjectLockEnabled Enabled, an
//     optional Rule with a DefaultRetention of Mode and Days or Years) also turns object lock on
//     for a versioning-enabled bucket (InvalidBucketState otherwise); S3's token header is 501.
//   - x-amz-object-lock-mode and -retain-until-date (both or neither, ISO 8601, in the future)
//     and -legal-hold (ON or OFF) on PutObject, CopyObject (the source's settings are not
//     copied) and CreateMultipartUpload (for the completed object); elsewhere 501. Malformed
//     values are InvalidArgument; any of them in a bucket without object lock is InvalidRequest
//     "Bucket is missing Object Lock Configuration". A version without a mode gets the bucket's
//     default retention from its creation. Retain-until dates are kept to the millisecond,
//     sub-millisecond digits rounding up.
//   - GET and HEAD report x-amz-object-lock-mode, -retain-until-date and -legal-hold.
//   - DeleteObject and DeleteObjects of a protected version: AccessDenied (403; per key in
//     DeleteObjects). x-amz-bypass-governance-retention: true (DeleteObject, DeleteObjects,
//     PutObjectRetention; elsewhere 501; a value other than true/false InvalidArgument) lifts a
//     GOVERNANCE retention. NebulaIO has no per-user permissions, so any authenticated
//     principal may send it (AWS also requires s3:BypassGovernanceRetention).
//   - PutObjectRetention (an empty Retention removes it) and PutObjectLegalHold need a bucket
//     with object lock (InvalidRequest); a delete marker is MethodNotAllowed. The configuration
//     PUTs (object lock, retention, legal hold, lifecycle, CORS) need Content-MD5 or an
//     x-amz-checksum-* header (InvalidRequest), as S3; an element of the document that is not in
//     S3's schema is MalformedXML.
//
// # Lifecycle
//
// Rules (fsm.LifecycleRule; validation fsm.ValidateLifecycle plus the XML's own checks):
// Filter with Prefix, Tag, ObjectSizeGreaterThan, ObjectSizeLessThan or And, or the deprecated
// rule-level Prefix (read back as given); Status Enabled or Disabled; Expiration with Days,
// Date (midnight UTC) or ExpiredObjectDeleteMarker; NoncurrentVersionExpiration with
// NoncurrentDays and NewerNoncurrentVersions (1..100); AbortIncompleteMultipartUpload with
// DaysAfterInitiation. A rule without an ID gets a random one, as S3 names it. Transition and
// NoncurrentVersionTransition are NotImplemented (one storage class), and so is the
// x-amz-transition-default-minimum-object-size header. The leader's runner (package lifecycle)
// carries them out. GET and HEAD of a current version (and the answers of PutObject, CopyObject
// and CompleteMultipartUpload) carry x-amz-expiration: expiry-date="<RFC 1123 date>",
// rule-id="<id>" when an enabled rule will expire it (the earliest such rule), computed with
// Options.LifecycleDay; a GET by version ID does not (decision: it would need the successor).
//
// # CORS
//
// PutBucketCors: 1..100 CORSRule, each with at least one AllowedOrigin and AllowedMethod (GET,
// PUT, HEAD, POST, DELETE; another is InvalidRequest), at most one '*' per AllowedOrigin and
// AllowedHeader, none in ExposeHeader (InvalidRequest), optional ID and MaxAgeSeconds.
//
// A preflight (OPTIONS /b or /b/k) is not signed, so it is answered before authentication:
// Origin and Access-Control-Request-Method are required (400 BadRequest); no bucket is 404; a
// bucket without rules, or no rule whose origin pattern, methods and allowed headers cover the
// request, is 403 AccessForbidden. A match answers 200 with Access-Control-Allow-Origin (the
// Origin, or * for a rule whose origin is *), -Allow-Methods (the rule's), -Allow-Headers (the
// requested ones), -Expose-Headers, -Max-Age, -Allow-Credentials: true (not with *) and Vary.
// Origins match case-sensitively, headers case-insensitively. Every other request with an
// Origin that a rule allows with its method gets the same headers on its answer, errors
// included; this reads the node's state without a barrier, so a rule changed a moment ago may
// apply a moment later on a follower.
//
// # Encryption at rest
//
// The bytes are encrypted here, on their way into the data plane, and decrypted on their way
// out (package internal/sse holds the keys and the chunked AES-256-GCM format); the FSM
// records each object's encryption (fsm.Encryption: algorithm, master key id, sealed object
// key), so every replica of a blob is ciphertext.
//
//   - SSE-S3: x-amz-server-side-encryption: AES256 on PutObject, CopyObject and
//     CreateMultipartUpload, or the bucket's default encryption when the request names none.
//     The object key is sealed by the node's current master key (encryption.master_key; a
//     node without one answers 501 NotImplemented naming the key). Reads need no header; the
//     response carries x-amz-server-side-encryption: AES256 (GET, HEAD, PUT, copy, the
//     multipart calls).
//   - SSE-C: the three x-amz-server-side-encryption-customer-* headers (algorithm AES256, key,
//     key MD5, checked: InvalidArgument naming what is wrong). Every GET, HEAD, UploadPart and
//     GetObjectAttributes of such an object needs the key: without it 400 InvalidRequest, with
//     another key 403 AccessDenied. CopyObject and UploadPartCopy take the source's key in
//     x-amz-copy-source-server-side-encryption-customer-*. Over plain HTTP every SSE-C header
//     is 400 InvalidRequest (S3's) unless s3.allow_sse_c_over_http (a TLS-terminating proxy
//     in front). An SSE-C object's ETag is the MD5 of what is stored, not of the content.
//   - SSE-KMS (aws:kms, aws:kms:dsse, a KMS key id, an encryption context, S3 Bucket Keys):
//     501 NotImplemented, since no KMS is configured — never accepted and ignored.
//   - Headers on operations that take none (x-amz-server-side-encryption on a GET) are
//     InvalidArgument; SSE-C headers on an object that is not SSE-C are InvalidRequest.
//   - PutBucketEncryption takes one Rule with SSEAlgorithm AES256 (BucketKeyEnabled false or
//     absent); it applies to PutObject, CopyObject, CreateMultipartUpload and POST uploads
//     that ask for no encryption of their own. A POST form's encryption fields are 501.
//   - A multipart upload's parts are encrypted under the upload's object key, one blob key
//     per part; the completed object inherits the upload's encryption.
//   - Content-MD5 and checksums are of the content (the plaintext); sizes, ranges and
//     partNumber reads are in plaintext bytes.
//
// # Browser uploads (POST Object)
//
// POST /b with a multipart/form-data body: fields first, the file field last (a field after it
// is InvalidArgument: refused rather than dropped). The fields before the file are bounded to
// 64 KiB (MaxPostPreDataLengthExceededError); the file streams into its blob as a PUT body does.
// The form needs policy (base64 JSON: expiration, conditions), x-amz-algorithm
// AWS4-HMAC-SHA256, x-amz-credential, x-amz-date, x-amz-signature (sigv4.VerifyPost) and key;
// a missing one is InvalidArgument "Bucket POST must contain a field named ...", a form without
// a policy AccessDenied (no anonymous access), SigV2 forms NotImplemented. Then:
//
//   - fields this server does not implement are refused first, whatever the policy says
//     (encryption, ACL other than private, tagging, checksums, website redirect, any unknown
//     field: 501);
//   - the policy: an expired one is AccessDenied "Invalid according to Policy: Policy
//     expired."; conditions {"field": "value"}, ["eq", "$field", v], ["starts-with", "$field",
//     prefix] (field names case-insensitive; $bucket is the bucket posted to; a field absent from
//     the form counts as empty) and ["content-length-range", min, max]; a failed one is
//     AccessDenied "Invalid according to Policy: Policy Condition failed: <condition>"; a
//     field no condition names (but x-amz-signature, policy, file and x-ignore-*) is
//     AccessDenied "... Extra input fields: <name>"; a policy that does not parse is
//     InvalidPolicyDocument;
//   - ${filename} in the key becomes the file's base name; conditions apply to the key field as
//     sent; Content-Type, Cache-Control, Content-Disposition, Content-Encoding,
//     Content-Language, Expires, x-amz-meta-*, x-amz-storage-class and the object lock fields
//     set the object as their headers do on a PUT; without a Content-Type field, the file
//     part's Content-Type (what the browser declared) is stored;
//   - the file beyond content-length-range is EntityTooLarge, below it EntityTooSmall (its blob
//     discarded);
//   - success_action_redirect (or redirect; an absolute http(s) URL, else InvalidArgument)
//     answers 303 to it with bucket, key and etag added to its query; else
//     success_action_status 200 (empty), 201 (a PostResponse document) or 204 (the default;
//     another value is InvalidArgument). ETag and Location are set in every case.
//
// # Not implemented (NotImplemented, 501)
//
// Every operation marked 501 above, and these request headers on any operation (refused, not
// ignored): SSE-KMS (see Encryption at rest), x-amz-bucket-object-lock-token, x-amz-object-lock-* where no version is written,
// x-amz-bucket-object-lock-enabled other than on CreateBucket, x-amz-bypass-governance-retention
// other than on DeleteObject(s) and PutObjectRetention, x-amz-grant-* (ACL grants) and x-amz-acl
// other than private except on CreateBucket and PutBucketAcl (canned ACLs are bucket-wide), x-amz-website-redirect-location, x-amz-mfa, x-amz-write-offset-bytes,
// x-amz-transition-default-minimum-object-size. Any query parameter that is neither one of the
// parameters above nor x-* (the SDK's x-id, presigned X-Amz-*, or SigV2's AWSAccessKeyId,
// Expires and Signature together) is NotImplemented, so an unsupported subresource is never
// silently treated as a plain GET or PUT. Abandoned multipart uploads are freed by
// AbortMultipartUpload, by a lifecycle rule, or after 7 days by the data plane's upload expiry
// on the leader.
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
//	fsm AccessDenied (object lock)                                            403
//	fsm InvalidRequest (lock settings without object lock), MalformedXML      400
//	fsm InvalidBucketState (object lock and versioning)                       409
//	fsm ObjectLockConfigurationNotFoundError, NoSuchObjectLockConfiguration,
//	    NoSuchLifecycleConfiguration, NoSuchCORSConfiguration                404
//	fsm NoSuchBucketPolicy, NoSuchPublicAccessBlockConfiguration              404
//	fsm AccessDenied (a public policy or ACL the public access block refuses) 403
//	not allowed by the policies (authz.go)   AccessDenied                      403
//	disabled, deleted or unknown access key  InvalidAccessKeyId                403
//	a user's secret this node cannot open    InternalError (logged: key IDs)   500
//	too many failed authentications          SlowDown + Retry-After            503
//	bucket policy refused by iam             MalformedPolicy                   400
//	PutBucketAcl without x-amz-acl           InvalidRequest                    400
//	CORS preflight not allowed               AccessForbidden                   403
//	POST form: policy expired or not met     AccessDenied                      403
//	POST form: bad policy document           InvalidPolicyDocument             400
//	POST form: not multipart/form-data       MalformedPOSTRequest              400
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
// commits first would free blobs the copy's event then references. A copy whose source blob is
// freed while it reads it (the source overwritten or deleted; an inline blob's bytes go in the
// same apply) starts over, up to three times, as a GET does: it copies the old source or the
// new one, or answers NoSuchKey.
//
// Memory is flat whatever the object size: bodies stream through sigv4's reader into the blob
// store (one block buffer), and GET streams blobs to the client through one 64 KiB buffer.
//
// # Inline objects
//
// A body of at most Options.InlineObjectSize bytes (performance.inline_object_size; the
// plaintext's length, for an encrypted object) is not written to the data plane: it is read
// into a pooled buffer, through every check a stored body gets (Content-MD5, x-amz-checksum-*,
// streaming SigV4 chunk and trailer signatures: the body is read to its end before anything is
// proposed; a length other than the declared one is IncompleteBody), encrypted in memory if
// SSE applies (sse.ObjectKey.EncryptBytes: the same bytes the streaming encrypter writes), and
// carried in the PutObject or PutPart event as an inline blob (fsm.Blob Inline, Data). One
// raft round stores bytes and metadata together on every voter (and non-voter): no blob file,
// no second round of fsyncs. This holds for PutObject, UploadPart, POST uploads (a file of
// unknown length is read up to the limit plus one byte; a longer one streams on to the data
// plane with the bytes already read), CopyObject and UploadPartCopy (by the destination's
// size: a copy is always a new blob with a new ID, inline or not).
//
// Reads of an inline blob (GET, HEAD, ranges, partNumber, copies, SSE decryption) take its
// bytes from the local FSM (Backend.BlobData) after the read barrier, on whatever node serves
// the request; a blob freed under a GET (fsm.ErrNoSuchBlob) is ErrBlobNotFound, handled as a
// freed stored blob is (the GET re-reads the metadata and starts over). A rejected event or an
// unknown outcome leaves nothing to discard.
//
// Options.InlineAllowed gates it per write: a node says no while a raft voter holds no object
// bytes (a management node), so that those voters never receive object bytes of writes made
// while they vote (docs/DECISIONS.md). nebulaio_s3_inline_writes_total and
// nebulaio_s3_inline_bytes_total count what committed.
//
// The default limit, 64 KiB, was chosen by BenchmarkInlinePut (package node: three nodes in
// one process, loopback, fsync on): inline PUTs of 16–128 KiB ran 1.5–4× the ops/s of blob
// PUTs at a third of the p50; the gain shrinks at 128 KiB, where the log's size starts to
// count. See docs/DECISIONS.md for the table.
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
// (dataplane.Plane.RunMaintenance, started by the server), lifecycle rules the lifecycle
// runner's (lifecycle.Runner.Run, started by the server; Options.LifecycleDay must be its Day).
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
