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
// snapshot, for its stream codec (StreamWriter/StreamReader): the arrow is fsm → snapshot and
// never the reverse. The snapshot store sees keys and values as opaque bytes; only this
// package knows what they mean. fsm/resultcodec.go (the engine's) encodes Results for
// forwarded proposals.
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
//	blobs     list (≤ 2^20) of (string id, uvarint size, list (≤ 64) of string node id)
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
//	12 SetSetting              string key, string value ("" removes the setting)
//
// Version rules: every type carries its own version byte. A change to a body adds a new
// version (or a new type); decoders keep reading every version they ever wrote and reject
// any other (ErrUnknownVersion) — an unknown type is ErrUnknownType. Nothing is skipped
// silently: an entry that does not decode is rejected by Apply on every replica alike
// (Result.Err.Code InvalidEvent). Type numbers are never reused.
//
// The encoding is canonical: the decoder rejects non-minimal varints, unsorted or duplicate
// pairs and trailing bytes, so whatever Decode accepts Encode reproduces byte for byte (the
// FuzzEventDecode property). Every length and count is checked against its limit and against
// the bytes left before anything is allocated.
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
//
// A value is a version byte (1) and the record's fields with the primitives above, its
// identity included: Restore checks that each record matches the key it is stored under,
// and rejects unknown prefixes and versions. Blob reference counts are derived state,
// rebuilt on Restore and never written.
//
// Streams are KindFull (every key, no tombstones) or KindDelta: the keys changed since the
// parent, a put with the current value or a tombstone for a key that is gone, plus the meta
// record. The parent of a delta is the raft snapshot ID (sink.ID()) of the last snapshot that
// persisted successfully. A full stream is written when there is no parent yet, after a
// Persist fails or a snapshot is released without being persisted (its changed keys are lost
// with it), and when a snapshot is taken while an earlier one is still outstanding. Restore
// reads only KindFull streams (snapshot.Store.Open merges deltas) and takes the stream's
// Source as the parent of the next delta; a stream without Source makes the next one full.
//
// Snapshot() runs on the apply goroutine and only clones the btrees (copy-on-write: items
// are never modified after insertion) and swaps in a fresh dirty-key set; Persist does the
// encoding and I/O concurrently with Apply, on the clones — a point-in-time view.
//
// # Determinism
//
// Apply must produce the same state and result on every replica:
//   - it never reads the clock or randomness: timestamps, upload IDs, version IDs and the
//     minimum part size come in the event (the clock is read only to time metrics);
//   - it never iterates a map to produce state or results (the blob reference map is only
//     looked up; freed blobs are listed in the order of the records that released them);
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
//   - DeleteObject of a missing key is NoSuchKey (S3 answers 204; the HTTP layer maps it).
//   - Result.FreedBlobs lists blob IDs no object or part references any more (reference
//     counted, so a blob shared by two records is freed with the last one).
//   - ListObjects' marker is a position in the sequence of entries (keys and common
//     prefixes): entries ≤ marker are skipped, so a marker inside a common prefix skips that
//     prefix. The continuation token is the NextMarker verbatim.
//
// # Crash model
//
// The FSM holds no files: after a crash raft restores the newest snapshot and replays the
// log after it. A snapshot that fails half-way is cancelled (the store discards it) and the
// next one is full, so a delta is always based on a snapshot the store has published.
package fsm
