// Package fsm is NebulaIO's metadata state machine: the events that change metadata, their
// binary encoding, the google/btree indexes they fold into, and the raft.FSM /
// raft.BatchingFSM that applies committed log entries and snapshots and restores the state.
//
// The raft log is the source of truth; the FSM is a fold over committed events. The package
// knows the S3 vocabulary (buckets, objects, multipart uploads, S3 error codes) but nothing of
// HTTP, raft transport or disks.
//
// # Imports
//
// fsm imports hashicorp/raft (the FSM contracts), google/btree, and of NebulaIO only
// snapshot, for its stream codec (StreamWriter/StreamReader) and its read API (Store.Reader,
// Reader.Get, Reader.Iter): the arrow is fsm → snapshot and never the reverse. The snapshot
// store sees keys and values as opaque bytes; only this package knows what they mean.
// fsm/resultcodec.go (the engine's) encodes Results for forwarded proposals.
//
// # Memory: tiers
//
// Every record lives in one sorted key space (the snapshot key space below). With a snapshot
// store (Options.Snapshots, or AttachSnapshots from the engine) the FSM holds in memory only:
//
//   - dirty: the records changed since the last Snapshot(), tombstones included (a btree);
//   - frozen: the dirty trees of snapshots taken whose data is not yet the base (immutable);
//   - the resident kinds, whole: buckets, nodes, settings and members (a handful of records
//     that every event or admin call reads);
//   - the cache: at most Options.CacheSize clean objects, uploads, parts and inline blobs, and
//     at most Options.CacheBytes bytes (S3-FIFO, so a sweep of single reads does not evict
//     the hot set; listings do not fill it);
//   - the base: the newest persisted snapshot's runs, opened with snapshot.Store.Reader, with
//     their sparse chunk index and key filters.
//
// A read looks in dirty, the frozen trees (newest first), the cache, then the runs (newest
// delta first, then the base run); the first tier that holds the key answers, and a tombstone
// there means "no such key". A listing merges range iterators over every tier in key order.
// Without a store the base is a btree of every clean record instead of runs and nothing is
// ever read from disk (the zero Options; what the FSM was before metadata_cache_size).
//
// When a snapshot's Persist has closed its sink, the FSM opens a Reader on the new snapshot
// and switches its base to it: the frozen trees it covers are dropped, their records going
// into the cache as clean entries (the newest writes are the likeliest reads; not the bytes of
// inline blobs, read back from the runs when asked for). The logical
// state does not change at a switch, so no read can see an older state than one it has seen;
// a reader that left the lock to read the old runs answers the state of the moment it held the
// lock, and the cache refuses what it read if the runs changed meanwhile (an epoch). Old runs
// stay open until their last reader releases them; compaction in the store never blocks reads
// (it pins the runs it merges; manifests switch under the store lock only).
//
// Restore of a stream that snapshot.Store.Open returned (raft restoring at start, or
// installing a snapshot from the leader) reads no records: the stream implements
// snapshot.Source (raft wraps it in a raft.ReadCloserWrapper, unwrapped), and the FSM opens a
// Reader on that snapshot, reads its meta record and its resident records, and takes its runs
// as the base. Any other stream is loaded into memory as a complete base tree, which the next
// persisted snapshot replaces by runs.
//
// Memory is bounded by configuration: the changed records by Options.MaxDirty
// (performance.max_raft_log_entries) and their inline bytes by Options.MaxDirtyBytes (8 KiB
// a record of MaxDirty unless set), each alike (at half of it the FSM asks for a snapshot through
// SnapshotWanted, which the engine turns into raft.Snapshot; at MaxDirty, while a snapshot is
// being persisted, Apply waits for it to finish — back-pressure instead of growth; it never
// waits for a snapshot not yet taken, because raft takes snapshots on the apply goroutine), the
// cache by Options.CacheSize and Options.CacheBytes (512 bytes a record of CacheSize unless
// set: small records meet the count first, inline blobs the bytes), and the runs' chunk
// indexes and key filters by the number of chunks and keys (a few bytes a key). MemoryStats
// reports what is held.
//
// Apply reads the records it needs through the same tiers while it holds the FSM lock: a cold
// overwrite or delete costs one chunk read, a new key usually none (the runs' key filters).
// Counts (buckets, objects and open uploads, in total and per bucket for DeleteBucket's
// "is it empty?") are kept as counters, not by walking the records; they are written in the
// snapshot's meta record and read back on restore.
//
// # Event encoding
//
// An event is one raft LogCommand entry:
//
//	+-----------+--------------+--------------------------------------+
//	| type (u8) | version (u8) | body: the event's fields, in order   |
//	+-----------+--------------+--------------------------------------+
//
// Field primitives (all multi-byte integers big-endian or LEB128):
//
//	uvarint   unsigned LEB128 (encoding/binary), minimal length only  sizes, counts, lengths
//	i64       8 bytes, big-endian two's complement                    timestamps (Unix ns)
//	u32       4 bytes, big-endian                                     part numbers
//	string    uvarint length (≤ 64 KiB), then the bytes (not validated as UTF-8)
//	list      uvarint count, then the elements
//	pairs     list of (string key, string value), keys strictly ascending
//	meta      string content-type, content-encoding, content-disposition, cache-control;
//	          pairs user metadata
//	meta2     string content-language, string expires (from version 2 bodies on)
//	blobs     list (≤ 2^20) of (string id, uvarint size, list (≤ 64) of string node id)
//	bytes     uvarint length (≤ MaxInlineSize, 1 MiB), then the bytes
//	inline    list (at least one entry) of (uvarint index into the event's blobs, bytes
//	          data), indexes ascending: the inline blobs (see "Inline blobs"); each has no
//	          node and the size of its data; at most MaxInlineSize bytes in all
//
// Bodies, version 1 (type number: fields):
//
//	 1 CreateBucket            string name, string owner, i64 created
//	 2 DeleteBucket            string name
//	 3 PutObject               string bucket, string key, uvarint size, string etag, meta,
//	                           pairs checksums, blobs, i64 mtime, string version id
//	 4 DeleteObject            string bucket, string key
//	 5 DeleteObjects           string bucket, list (≤ 1000) of string key
//	 6 CreateMultipartUpload   string bucket, string key, string upload id, i64 initiated, meta
//	 7 PutPart                 string bucket, string key, string upload id, u32 part number,
//	                           uvarint size, string etag, pairs checksums, blobs, i64 mtime
//	 8 CompleteMultipartUpload string bucket, string key, string upload id,
//	                           list (≤ 10000) of (u32 part number, string etag),
//	                           uvarint min part size (0 = 5 MiB), string etag, i64 mtime,
//	                           string version id
//	 9 AbortMultipartUpload    string bucket, string key, string upload id
//	10 RegisterNode            string id, string role, pairs addresses
//	11 RetireNode              string id
//	12 SetSetting              string key, string value ("" removes the setting; the
//	                           write-once setting cluster.id cannot be changed or removed
//	                           once set: CodeSettingImmutable)
//	13 SetBucketVersioning     string bucket, string status
//	14 PutObjectTagging        string bucket, string key, string version id, pairs tags
//	15 PutBucketTagging        string bucket, pairs tags
//	16 PutObjectLockConfiguration string bucket, string default mode, uvarint days,
//	                           uvarint years
//	17 PutObjectRetention      string bucket, string key, string version id, string mode,
//	                           i64 retain until, u8 bypass governance, i64 now
//	18 PutObjectLegalHold      string bucket, string key, string version id, string status
//	19 PutBucketLifecycle      string bucket, rules (below; none removes the configuration)
//	20 PutBucketCors           string bucket, list (≤ 100) of (string id, list origins,
//	                           list methods, list allowed headers, list expose headers,
//	                           i64 max age seconds, -1 for none)
//	21 LifecycleExpire         string bucket, i64 now, i64 day (ns), string marker version id,
//	                           list (≤ 1000) of (u8 action, string key, string version or
//	                           upload id, string rule id)
//	22 MemberChange            string node id, u8 operation (1 remove, 2 readmit, 3 voter,
//	                           4 nonvoter, 5 drain, 6 drained, 7 undrain), i64 at
//	30 PutBucketEncryption     string bucket, string algorithm ("SSE-S3"; "" removes the
//	                           default encryption)
//
// Type numbers 23 to 29 and record prefixes 0x0D to 0x0F were left free while encryption at
// rest was built, for the identity records built at the same time; 0x0D now holds inline
// blobs' bytes.
//
// Identities and access (iam.go), version 1; their numbers start at 40:
//
//	40 CreateUser              string name, string access key, string sealed secret,
//	                           i64 created, list (≤ 20, sorted, unique) of string policy
//	41 DeleteUser              string name
//	42 SetUserStatus           string name, u8 disabled
//	43 SetUserSecret           string name, string sealed secret, i64 updated
//	44 PutPolicy               string name, string document, i64 updated
//	45 DeletePolicy            string name
//	46 AttachUserPolicy        string user, string policy
//	47 DetachUserPolicy        string user, string policy
//	48 PutBucketPolicy         string bucket, string policy ("" removes it), u8 public
//	49 PutPublicAccessBlock    string bucket, u8 switches (1 BlockPublicAcls, 2
//	                           IgnorePublicAcls, 4 BlockPublicPolicy, 8 RestrictPublicBuckets;
//	                           16 alone: no configuration)
//	50 PutBucketACL            string bucket, string canned ACL
//
// A lifecycle rule (event 19 and the lifecycle record): string id, u8 flags (1 enabled,
// 2 ExpiredObjectDeleteMarker, 4 ObjectSizeGreaterThan set, 8 ObjectSizeLessThan set), u8
// filter form (0 rule-level Prefix, 1 Filter with at most one condition, 2 Filter/And),
// string prefix, pairs tags, [uvarint size greater than], [uvarint size less than], uvarint
// expiration days, i64 expiration date (Unix ns, 0 none), uvarint noncurrent days, uvarint
// newer noncurrent versions, uvarint abort days; a list of at most 1000. Booleans (u8) are 0
// or 1; anything else is ErrCorrupt. member.go has what each member operation (event 22) does.
//
// Bodies, version 2: the version 1 body followed by
//
//	1 CreateBucket            string region (the LocationConstraint)
//	3 PutObject               meta2, pairs tags, string if-match, string if-none-match
//	4 DeleteObject            string version id, string marker version id, i64 mtime
//	5 DeleteObjects           list (≤ 1000, 0 or as many as keys) of string version id,
//	                          string marker version id, i64 mtime
//	6 CreateMultipartUpload   meta2, pairs tags
//	8 CompleteMultipartUpload string if-match, string if-none-match
//
// Bodies, version 3: the version 2 body (all of it, its fields empty or not) followed by
//
//	6 CreateMultipartUpload   string checksum algorithm, string checksum type (as declared:
//	                          x-amz-checksum-algorithm, x-amz-checksum-type)
//	8 CompleteMultipartUpload pairs checksums (the object's: algorithm → value)
//
// Bodies added with object lock: version 3 of the types below, the version 2 body followed by
//
//	1 CreateBucket            u8 object lock (1: created with object lock)
//	3 PutObject               lock: string mode, i64 retain until, string legal hold
//	4 DeleteObject            u8 bypass governance
//	5 DeleteObjects           u8 bypass governance
//
// and version 4 of CreateMultipartUpload: the version 3 body followed by lock (as PutObject's).
//
// Bodies added with encryption at rest, each the body before it (whose fields may then all be
// empty) followed by the encryption: u8 algorithm (1 SSE-S3, 2 SSE-C; 0 is refused), string
// master key id (SSE-S3 only), string sealed object key (opaque here; internal/sse):
//
//	3 PutObject               version 4
//	6 CreateMultipartUpload   version 5
//
// An encrypted PutObject's size is the plaintext's and each blob's size what is stored
// (ciphertext); so are a part's (PutPart, unchanged) under an encrypted upload. The object a
// completion makes takes its upload's encryption.
//
// Bodies added with inline blobs, each the body before it (whose fields may then all be empty;
// an empty encryption is u8 0 and two empty strings) followed by inline:
//
//	3 PutObject               version 5
//	7 PutPart                 version 2
//
// Version rules: every type carries its own version byte. A change to a body adds a new
// version (or a new type); decoders keep reading every version they ever wrote and reject
// any other (ErrUnknownVersion) — an unknown type is ErrUnknownType. Nothing is skipped
// silently: an entry that does not decode is rejected by Apply on every replica alike
// (Result.Err.Code InvalidEvent). Type numbers are never reused. Encode writes the lowest
// version that holds the event: an event whose version 2 and 3 fields are all empty is
// written at version 1, byte for byte as before those fields existed (old logs, the golden
// files and the fuzz seeds keep their bytes, and a leader upgraded first still writes what
// older followers read while no one uses the new features); one whose version 3 fields are
// empty is written at version 2, byte for byte as before version 3 existed.
//
// The encoding is canonical: the decoder rejects non-minimal varints, unsorted or duplicate
// pairs, trailing bytes and a version N body (N ≥ 2) whose version N fields are all empty
// (it would re-encode at a lower version), so whatever Decode accepts Encode reproduces byte
// for byte (the FuzzEventDecode property). Every length and count is checked against its
// limit and against the bytes left before anything is allocated.
//
// # Snapshot key space
//
// Snapshot() / Persist write the state as one sorted key space through snapshot's stream
// codec. A key is a prefix byte and the record's identity; string components are escaped
// (0x00 → 0x00 0xFF) and terminated by 0x00 0x01, which keeps byte order equal to tuple
// order, so each btree is written in its own order:
//
//	0x01                                              meta: uvarint applied index
//	0x02 esc(bucket)                                  BucketInfo
//	0x03 esc(bucket) esc(key)                         ObjectInfo
//	0x04 esc(bucket) esc(key) esc(upload id)          UploadInfo
//	0x05 esc(bucket) esc(key) esc(upload id) u32 part PartInfo (with its upload's identity)
//	0x06 esc(node id)                                 NodeInfo
//	0x07 esc(setting key)                             setting key and value
//	0x08 esc(bucket) esc(key) order (16 bytes, every  a noncurrent object version
//	     bit inverted: newest first)
//	0x09 esc(bucket)                                  the bucket's tags: string bucket, pairs
//	0x0A esc(bucket)                                  the bucket's lifecycle: string bucket, rules
//	0x0B esc(bucket)                                  the bucket's CORS: string bucket, rules
//	0x0C esc(node id)                                 a cluster member's recorded state:
//	                                                  string id, i64 removed at (0: not
//	                                                  removed), u8 voter intent (0 by config,
//	                                                  1 voter, 2 non-voter), i64 voter at, u8
//	                                                  drain (0 none, 1 draining, 2 drained),
//	                                                  i64 drain at; never all zero (a member
//	                                                  with nothing recorded has no record)
//	0x0D esc(blob id)                                 an inline blob's bytes: string blob id,
//	                                                  bytes data (see "Inline blobs")
//	0x10 esc(bucket)                                  the bucket's default encryption: string
//	                                                  bucket, string algorithm (not empty)
//	0x20 esc(user name)                               user: string name, string access key,
//	                                                  string sealed secret, u8 disabled,
//	                                                  i64 created, i64 updated, list policies
//	0x21 esc(access key)                              string access key, string user name
//	0x22 esc(policy name)                             string name, string document, i64 updated
//	0x23 esc(bucket)                                  bucket access: string bucket, string
//	                                                  policy, u8 public, string acl ("" private),
//	                                                  u8 public access block (as event 49)
//
// 0x03 holds the current version of each key (see "Versions"), 0x08 the others.
//
// A value is a version byte and the record's fields with the primitives above, its
// identity included: Restore checks that each record matches the key it is stored under,
// and rejects unknown prefixes and versions. Object (0x03, 0x08), upload and bucket records
// have a version 2, the version 1 body followed by:
//
//	object  meta2, u8 flags (1 null version, 2 delete marker, 4 noncurrent null version
//	        exists), order (u64 time, u64 random), [flag 4: the null version's order],
//	        pairs tags
//	upload  meta2, pairs tags
//	bucket  u8 versioning (1 Enabled, 2 Suspended)
//
// Upload and bucket records have a version 3, the version 2 body followed by:
//
//	upload  string checksum algorithm, string checksum type (not both empty)
//	bucket  string region (not empty); the version 2 versioning byte may be 0 here (never
//	        enabled), which version 2 refuses
//
// Object lock added (each body extends the one before it, whose fields may then be empty):
//
//	object  version 3: u8 retention mode (0 none, 1 GOVERNANCE, 2 COMPLIANCE), i64 retain
//	        until (0 without a mode), u8 legal hold (0 never set, 1 ON, 2 OFF); not all zero
//	upload  version 4: the same three fields (the checksum fields of version 3 may be empty)
//	bucket  version 4: u8 flags (1 object lock, always set), string default retention mode,
//	        uvarint days, uvarint years (the region of version 3 may be empty)
//
// Encryption at rest added: object records have a version 4 and upload records a version 5,
// the body before followed by the encryption (as the events'); their lock fields may then be
// all zero. Part records are unchanged (a part's blobs are encrypted under its upload's key).
//
// Inline blobs added: object records have a version 5 (the version 4 body, its encryption
// possibly empty — u8 0, two empty strings — then the inline flags) and part records a
// version 2 (the version 1 body, then the inline flags); the inline flags are a list, not
// empty, of the indexes of the record's inline blobs, ascending (an inline blob has no node).
// Written only for a record with an inline blob. The bytes are not in these records: they are
// a record of their own under 0x0D.
//
// As with events, a record is written at the lowest version that holds it: the records of
// unversioned buckets keep their bytes, and so do the records of version 2 that have no
// version 3 field. A version 1 object record is the null version at order zero; its version
// id field (written empty since versions exist) is ignored, so objects written before
// versions existed read as null versions.
//
// The meta record is version 2: uvarint applied index, then a list of (string bucket,
// uvarint objects, uvarint uploads) for every bucket that holds any, buckets strictly
// ascending. Version 1 (the applied index alone) is still read: the counts are then recounted
// from the keys (a stream restore counts as it loads; a restore from runs scans the object and
// upload key ranges once). A version 2 stream whose counts disagree with its records is
// ErrCorrupt.
//
// Streams are KindFull (every key, no tombstones) or KindDelta: the keys changed since the
// parent, a put with the current value or a tombstone for a key that is gone, plus the meta
// record. The parent of a delta is the raft snapshot ID (sink.ID()) whose state is the FSM's
// base (the last snapshot switched to, or the one restored). A full stream is written when
// there is no parent yet, after a Persist fails or the newest snapshot is released without
// being persisted, and when a snapshot is taken while an earlier one is still outstanding;
// the changes themselves are never lost (the frozen trees stay until a persisted snapshot
// covers them), so these rules only keep the chain simple. Restore takes the snapshot's ID (a
// stream's Source) as the parent of the next delta; a stream without Source makes the next
// one full.
//
// Snapshot() runs on the apply goroutine and only freezes the dirty tree (a fresh one takes
// the next changes) and references the base: O(1). Persist does the encoding and I/O
// concurrently with Apply on that point-in-time view: a delta is the frozen trees merged; a
// full stream is the frozen trees merged over the whole base (read from its runs).
//
// # Result encoding
//
// ResultCodec (resultcodec.go has the byte layouts) carries the Result of a forwarded proposal
// back to the follower that forwarded it. Its first byte names one layout:
//
//	0xB1   presence bits, then the version 1 bodies of the embedded records (no version
//	       bytes), Deleted as (key, error), FreedBlobs
//	0xB2   as 0xB1, plus the error's delete marker, version id and last modified; embedded
//	       records as version byte and body, each at most version 2; Deleted with version
//	       ids and delete markers
//	0xB3   the layout of 0xB2 with bucket and upload records up to version 3
//	0xB4   the layout of 0xB2 with bucket and upload records up to version 4 and object
//	       records up to version 3 (object lock)
//	0xB5   the layout of 0xB2 with object records up to version 4 and upload records up to
//	       version 5 (encryption at rest)
//	0xB6   the layout of 0xB5 with object records up to version 5 and the part followed by
//	       its inline flags (a list, possibly empty): inline blobs
//	other  JSON (before the binary codec); an empty payload is a nil result
//
// EncodeResult writes the lowest layout that holds the result, as Encode does for events, so
// a leader upgraded first answers in the layout its followers read until a new field is used.
//
// # Versions
//
// A bucket's versioning (BucketInfo.Versioning) is "" (never enabled, the initial state),
// Enabled or Suspended; SetBucketVersioning moves it between the last two, never back to "".
// Every object version is its own record. The current version of a key (its head) is the
// record under 0x03 (bucket, key), so GET, HEAD and ListObjects cost what they did before
// versions: one point read, one range scan of heads. The other versions of the key are
// under 0x08 (bucket, key, inverted order), newest first, so ListObjectVersions is a merge
// of two range scans in key order and a read by version ID is a point read. A version is a
// record like any other: in the dirty tree, the cache or the runs, so metadata_cache_size
// bounds the heap whatever the number of versions.
//
// Version IDs. Every version has an order: two unsigned 64-bit numbers, a time (Unix ns on
// the proposer's clock) and random bits chosen by the proposer. A version ID other than
// "null" is the order in 32 lowercase hex digits (NewVersionID), so IDs sort like their
// versions and the ID is the key of the version's record. The proposer offers a candidate ID
// in the event (PutObject.VersionID, CompleteMultipartUpload.VersionID,
// DeleteObject(s).MarkerVersionID); Apply keeps it if it is newer than the key's current
// version, else raises its time to the current version's plus one (a clock behind another
// node's, or a race): deterministic, and IDs are unique and ordered per key. The ID a write
// got is in Result.Object.VersionID. The null version (ID "null") has an order too, stored in
// its record: the position it was written at. A head that is not the null version records the
// null version's order when there is one, so that a suspended write or versionId=null finds
// it with one read.
//
// Writes by state (PutObject, CompleteMultipartUpload, and DeleteObject without a version
// ID, which writes a delete marker — a version without data):
//
//	unversioned  the null version (order zero) replaces the head; a delete removes the key
//	             (NoSuchKey when there is none): exactly what the FSM did before versions
//	Enabled      the new version (or marker) becomes the head; the old head is kept as a
//	             noncurrent version (the candidate ID is required: InvalidArgument without)
//	Suspended    a new null version (or null marker) becomes the head; the old null version
//	             is removed wherever it is, and a non-null head is kept as noncurrent
//
// DeleteObject with a version ID removes that version for good ("null" names the null
// version); if it was the head, the newest noncurrent version becomes the head; if no
// version is left, the key is gone. Object (GET, HEAD) answers NoSuchKey with the marker's
// details when the head is a marker; ObjectVersion answers MethodNotAllowed for a marker's
// version. ListObjects shows the heads that are not markers; ListObjectVersions shows every
// version, IsLatest on heads; an unversioned bucket lists its objects as null versions.
// Counts' objects are the keys with any version (a key whose head is a marker included);
// DeleteBucket is refused while any is left.
//
// Conditional writes: PutObject and CompleteMultipartUpload carry If-Match and
// If-None-Match ("*"), checked against the head when the event is applied. Raft orders the
// events, so of writers racing on one key with If-None-Match: * exactly one wins, and
// If-Match writes form one chain (no lost update). A head that is a delete marker counts as
// no object (If-None-Match holds; If-Match is NoSuchKey).
//
// Tags: a version's tags are in its record (at most 10; key 1..128 and value 0..256
// characters of UTF-8; no "aws:" prefix: InvalidTag), set by PutObject, by
// CreateMultipartUpload for the object its completion makes, and by PutObjectTagging (by
// version ID; empty tags delete them). A bucket's tags are a record under 0x09 (at most 50),
// removed with the bucket.
//
// # Object lock
//
// A bucket has object lock (BucketInfo.ObjectLock) from CreateBucket with ObjectLock (which
// also enables versioning) or from PutObjectLockConfiguration on a versioning-enabled bucket;
// it never loses it, and SetBucketVersioning to Suspended is then InvalidBucketState. So a
// bucket with object lock always writes new versions beside the old ones: no write replaces
// a version in place. A version's lock is its Retention (GOVERNANCE or COMPLIANCE until a
// time) and its LegalHold, set by PutObject and CreateMultipartUpload (for the object its
// completion makes), by the bucket's DefaultRetention when a write sets no mode (Days of 24 h
// or calendar Years from the version's ModTime), and by PutObjectRetention and
// PutObjectLegalHold. Settings on a bucket without object lock are InvalidRequest.
//
// A version is protected at time t while its legal hold is ON or its retention lasts past t.
// Every event that removes a version checks it when it applies, at the time the event
// carries (DeleteObject and DeleteObjects: ModTime; LifecycleExpire: Now): DeleteObject(s)
// by version ID, a lifecycle expiry, and (defensively, since a bucket with object lock is
// never suspended) a suspended write replacing the null version. A protected version is
// AccessDenied; BypassGovernance lifts a GOVERNANCE retention (and only that: never a
// legal hold or COMPLIANCE). Deleting a key without a version ID is allowed: it adds a delete
// marker and removes nothing. A retention in force may be extended or turned from GOVERNANCE
// into COMPLIANCE at any time; shortening or removing it, or turning COMPLIANCE into
// GOVERNANCE, needs BypassGovernance on a GOVERNANCE retention and is refused on a COMPLIANCE
// one. The proposer's clock decides when a retention has ended, as it decides version IDs: a
// node whose clock runs ahead can release a version early by that much.
//
// # Lifecycle
//
// A bucket's lifecycle rules (PutBucketLifecycle, ValidateLifecycle) are a record under 0x0A;
// the FSM also evaluates them (lifecycle.go: Matches, CurrentDue, NoncurrentDue, MarkerDue,
// UploadDue, LifecycleDue), and so do the leader's runner (package lifecycle) and the S3
// layer's x-amz-expiration, with the same functions. A "day" is a length carried by the
// event (24 h in production; tests shrink it), and a due time is S3's: the start plus the
// days, rounded up to a multiple of the day since the epoch (midnight UTC).
//
// The runner proposes LifecycleExpire events listing targets it found due. Apply judges each
// target again, against the rule (by ID; it must still exist and be enabled) and the state as
// they are when the event applies, at the event's Now: a current version that is still the
// current version and expired is deleted as DeleteObject without a version ID deletes it (a
// delete marker when versioned); a noncurrent version is removed NoncurrentDays after the
// creation of the version just newer than it, unless NewerNoncurrentVersions newer
// noncurrent versions do not exist yet; a delete marker that is its key's only version is
// removed (ExpiredObjectDeleteMarker at once, or once ExpirationDays old); an upload is
// aborted DaysAfterInitiation after it began. Nothing else is touched, so a stale or repeated
// event is harmless (PreconditionFailed per target) and a protected version is never removed
// (AccessDenied per target). A noncurrent target costs a scan of its key's noncurrent
// versions down to it.
//
// CORS rules (PutBucketCors) are a record under 0x0B, stored as given; the S3 layer validates
// and applies them. A bucket's default encryption (PutBucketEncryption) is a record under
// 0x10; the S3 layer applies it to writes that ask for no encryption. DeleteBucket removes the
// bucket's tags, lifecycle, CORS, encryption and access records.
//
// # Identities and access
//
// Users (0x20) hold one access key each, indexed by 0x21 so that authentication is one
// lookup; the secret key is stored only sealed (package iam: AES-256-GCM under a key derived
// from iam.master_key, which is never replicated) and the FSM never opens it. Named identity
// policies (0x22) are stored as given: the proposer (the admin API) parses them, Apply checks
// only their size. Apply enforces what must hold whatever the order of concurrent proposals:
// unique user names and access keys, policies that exist when attached and are not deleted
// while attached, at most 20 policies a user. A bucket's access record (0x23) holds its
// policy with the proposer's judgement of whether it is public, its canned ACL and its public
// access block; a bucket without one has no policy, the private ACL and all four switches on
// (DefaultPublicAccessBlock, as AWS creates buckets), and a record back at those defaults is
// removed. BlockPublicPolicy and BlockPublicAcls are checked at apply time, so a policy or ACL
// proposed concurrently with turning them on cannot slip through.
//
// # Determinism
//
// Apply must produce the same state and result on every replica:
//   - it never reads the clock or randomness: timestamps, upload IDs, version IDs and the
//     minimum part size come in the event (the clock is read only to time metrics); a
//     version ID not newer than the key's current version is raised by a fixed rule;
//   - it never iterates a map to produce state or results (freed blobs are listed in the
//     order of the records that released them; the per-bucket counts are only looked up);
//   - what is cached, dirty or in the runs changes how a record is found, never what is
//     found: replicas with different cache sizes apply identically;
//   - every handler checks all preconditions before its first mutation, so a rejected event
//     changes nothing but the applied index;
//   - results depend only on the prior state and the event.
//
// # Semantics worth knowing
//
//   - DeleteBucket is refused (BucketNotEmpty) while the bucket holds objects or open
//     multipart uploads: aborting the uploads is the caller's job, and no part blob is orphaned.
//   - A record whose encoding would exceed 16 MiB (a quarter of the snapshot codec's value
//     limit) or a list limit of the record encoding is rejected with EntityTooLarge: a
//     record that cannot be snapshotted would make every later snapshot fail.
//   - DeleteObject of a missing key in an unversioned bucket is NoSuchKey, of a missing
//     version NoSuchVersion (S3 answers 204 to both; the HTTP layer maps them). In a
//     versioned bucket a DeleteObject without a version ID always succeeds: S3 makes a
//     delete marker even for a key that has no version.
//   - ListBuckets pages in name order: its continuation token is the last name of the page
//     (the HTTP layer may encode it); MaxBuckets 0 lists every bucket.
//   - Result.FreedBlobs: see "Blob IDs".
//   - ListObjects' marker is a position in the sequence of entries (keys and common
//     prefixes): entries ≤ marker are skipped, so a marker inside a common prefix skips that
//     prefix. The continuation token is the NextMarker verbatim.
//
// # Blob IDs
//
// The data plane gives every write its own blob IDs (128 random bits; copies write new blobs),
// so a blob is referenced by one record at a time, except that CompleteMultipartUpload moves
// the chosen parts' blobs into the object it makes. Result.FreedBlobs therefore lists the
// blobs of the records an event removed or replaced that the records it wrote do not
// reference, each once, in the order of the records that released them: the old object's
// blobs the new one does not reuse (PutObject), the object's (DeleteObject, DeleteObjects),
// the old part's the new one does not reuse (PutPart), the parts left out of a completion and
// a replaced object's (CompleteMultipartUpload), all parts' (AbortMultipartUpload). Before
// metadata_cache_size the FSM counted references to every blob in a map; that map grew with
// all metadata, so it went: a proposer that made two live records share a blob ID would have
// it freed with the first of them, and must not.
//
// Inline blobs follow the same rule with the FSM in the data plane's place: their bytes are a
// data record (0x0D) that exists exactly while a record (an object version or a part)
// references the blob. A PutObject or PutPart writes the data records of its inline blobs in
// the apply that writes the record referencing them (a rejected one writes none); every event
// that frees a blob by the rule above — an overwrite, a delete, a version removed or replaced,
// a lifecycle expiry, the parts a completion leaves out or an abort — deletes the data record
// of a freed inline blob in that same apply, and a completion that moves an inline part's blob
// into its object keeps it. An enabled overwrite or a delete marker frees nothing, so the
// noncurrent version's bytes stay. Freed inline blobs are not in Result.FreedBlobs and never
// reach OnFreed: the data plane holds no copy, and FreedBlobs lists only what it must delete.
// There is no copy event: the S3 layer copies an inline object as a PutObject of a new
// inline blob with a new ID (read with BlobData), so no two records share one.
//
// The data plane learns about blobs from two methods: Options.OnFreed hands it the freed IDs
// of every applied entry on every replica (so each storage node deletes its own copies), and
// WalkBlobs walks the part and object key ranges (every tier, at one point in time) for the set
// of live references that repair and garbage collection need; WalkUploads walks the open
// uploads for their expiry.
//
// Versions change nothing to this: each version has its own blobs, kept as long as the
// version is. An Enabled write frees nothing (the old head stays, noncurrent); the blobs of a
// version are freed when it is removed — DeleteObject by version ID, a suspended write or
// delete replacing the null version, an unversioned overwrite or delete. A rejected PutObject
// or PutPart lists its own blobs (written for it, referenced by nothing); a rejected
// completion frees nothing (the upload and its parts stay). This relies on the same contract:
// an event proposed again after an unknown outcome (one that may have committed) would, if
// rejected the second time — say by its own If-None-Match — free blobs the first one
// references; proposers retry only proposals that were certainly not applied.
//
// # Inline blobs
//
// A small object's bytes may travel in its PutObject (or a part's in its PutPart): a blob with
// Inline set and Data holding the bytes (no nodes; Size is len(Data); MaxInlineSize, 1 MiB,
// for the event's inline bytes in all). Raft replicates and fsyncs them with the metadata in
// one round. Apply keeps them in a data record under 0x0D keyed by blob ID — not in the object
// or part record, which keeps Inline set and no Data — so listings, the record cache's
// metadata and results never carry object bytes; FSM.BlobData reads them through the tiers
// like any cold record (dirty, frozen, the cache, the runs), and answers ErrNoSuchBlob once
// they are freed (a GET that lost the race reads the metadata again). The bytes then live in
// the WAL until a snapshot, and in the snapshot runs (compressed by the store) afterwards.
// Their memory is bounded in bytes: MaxDirtyBytes for the changed records, CacheBytes for the
// cache. WalkBlobs reports them with Inline set; the data plane's repair, GC and balancer skip
// them. Every replica of the metadata holds them, voters and non-voters alike: where voters must
// hold no object bytes (management voters of a separate-planes cluster) the proposer must not
// write inline (the S3 layer turns inline writes off while a voter is not a hybrid node); the
// FSM applies whatever was committed.
//
// # Crash model
//
// The FSM holds no files: after a crash raft restores the newest snapshot (the FSM points at
// its runs) and replays the log after it. A snapshot that fails half-way is cancelled (the
// store discards it) and the next one is full, so a delta is always based on a snapshot the
// store has published. A chunk of the runs that cannot be read or fails its checksum during
// Apply panics the FSM goroutine: skipping the record would make this replica's state differ
// from the others'; the node restarts and, if the run is damaged, needs an operator (wipe the
// node's raft directory so that it rejoins and installs a snapshot from the leader). Reads
// return such errors to their caller.
package fsm
