// Package backup is the file format of a NebulaIO metadata backup, and what reads it: Write
// makes a backup of a full snapshot stream (what engine.Node.Backup opens), Verify checks one
// end to end, OpenFile gives a restore the metadata stream and the blob manifest, and
// CheckBlobs checks a blob store directory against the manifest. The server
// (GET /api/v1/admin/backup), `nebulaio backup create|verify|blobs|restore` and the restore
// of a new node (package node) are built on it.
//
// # The file
//
// A backup is a gzip-compressed POSIX tar archive (`tar tzf backup.tar.gz` lists it) of four
// regular files, in this order and no others:
//
//	manifest.json   what the backup holds (Manifest): format 1, cluster ID, the node that took
//	                it, the raft index and term of the snapshot, the FSM's applied index, the
//	                raft configuration, the time, counts (buckets, objects, versions, delete
//	                markers, uploads, parts, blobs, blob bytes, records), and the name, size
//	                and SHA-256 of the two files below
//	metadata.snap   the metadata: the snapshot stream of package snapshot, KindFull (header
//	                "NBSS", records in key order, a trailer with the record count and a
//	                CRC-32C), exactly as the node's snapshot store streamed it; the records
//	                are package fsm's (its doc.go, "Snapshot key space")
//	blobs.jsonl     the blob manifest: one JSON object per line for every blob an object
//	                version or a part references, in the order of the metadata's records:
//	                id, size, md5 (hex, when the metadata knows it: the ETag of an object or
//	                part made of one blob and not encrypted at rest, whose blob holds
//	                ciphertext), the nodes that held a copy, and the record's bucket, key,
//	                version ID or upload ID and part number; "inline": true for a blob whose
//	                bytes are in the metadata (a small object: performance.inline_object_size),
//	                which CheckBlobs counts instead of looking for it in a blob store
//	SHA256SUMS      the SHA-256 of the three files above, in sha256sum's format, so that
//	                `tar xzf backup.tar.gz && sha256sum -c SHA256SUMS` checks an extracted copy
//
// The manifest comes first so that a reader knows what follows before reading it; the sums
// come last because they are computed while the files are written. Every file is checked
// three ways by Verify: its SHA-256 against the manifest and against SHA256SUMS; the metadata
// by decoding every record (fsm.ScanStream: each record decodes and lies under its own key,
// the meta record's counts agree, the stream's own CRC); the manifest's counts against the
// records; and the blob manifest against the blobs the records reference (the same IDs and
// sizes in the same order, compared through a running hash, so memory does not grow with
// the backup). gzip's CRC-32 covers the archive as a whole.
//
// # Consistency
//
// The metadata is one raft snapshot: the FSM's state at one applied index, taken after a
// linearizable read barrier, so it holds every write acknowledged before the backup began
// (engine.Node.Backup). Object bytes are not in the backup: they are the blob files of every
// storage node (data_dir/blobs), which are immutable once written, so a copy of those
// directories taken after the metadata backup holds every blob the backup references unless
// it was deleted in between (an object overwritten or deleted after the backup). Inline
// objects' bytes are metadata records, so the backup holds them itself.
// CheckBlobs (nebulaio backup blobs --check, and backup restore) says which are missing. An
// erasure-coded blob (cluster.erasure) is K+M shard files <ID>.s<i>, one per node: in the
// merged copies it counts as present when any K of them are intact (their sizes and headers;
// every byte with --deep); its MD5 is not checked, each shard having its own checksums.
//
// # Decisions
//
// tar+gzip rather than a format of our own: operators can list, extract and checksum a
// backup with standard tools, as with Consul's snapshots. The metadata stream inside is not
// compressed by us (gzip compresses it) and is stored as the snapshot store produced it, so a
// restore hands the snapshot store the bytes it wrote. Write stages the metadata and the
// blob manifest in unlinked temporary files (their sizes must precede them in the tar), so
// the server needs free space of about the metadata's size while it makes a backup.
package backup
