// Package blob is NebulaIO's durable local blob store: immutable byte strings under
// caller-chosen ids, written once, read whole or by range, verified on every read. It holds
// the bytes of S3 objects on one node; the metadata that says which blob backs which object
// lives elsewhere (the FSM), and the store knows nothing of S3, raft or other nodes (package
// dataplane, its only user, does).
//
// # Files
//
// Every file operation goes through Options.FS (package internal/vfs; the operating system by
// default), so that tests can fail any write, fsync or rename (vfs.Faulty), fill the disk
// (vfs.Mem with a capacity) or cut the power (vfs.Mem.Crash). The lock, the directory fsyncs
// and the temporary files are vfs's (FS.Lock, FS.SyncDir, vfs.CreateTemp).
//
// # Directory layout
//
//	<dir>/LOCK             FS.Lock (flock) held while a Store is open (ErrLocked otherwise)
//	<dir>/tmp/put-*.tmp    Puts in progress (and crash leftovers, removed at Open)
//	<dir>/blobs/<hh>/<id>  published blobs; hh = two hex digits of CRC32C(id) & 0xff
//
// Ids are 1..200 bytes of [A-Za-z0-9._-] starting with a letter or digit, so an id is always
// one plain file name (no "..", no '/', no NUL). The fan-out hashes the id rather than using
// its prefix, so ids with a common prefix (bucket names, timestamps) still spread over 256
// directories.
//
// # Blob file format (version 1)
//
//	+------------------------------+ 0
//	| header (96 bytes)            |
//	+------------------------------+ 96
//	| block 0 data (BlockSize)     |
//	| crc32c(le64(0) ‖ data) u32LE |
//	| block 1 data ...             |
//	| ...                          |
//	| block n-1 data (≤ BlockSize) |  the last block is short; an empty blob has no blocks
//	| crc32c(le64(n-1) ‖ data)     |
//	+------------------------------+ 96 + size + 4·n,  n = ceil(size / BlockSize)
//
// Header, little endian:
//
//	off len field
//	  0   4 magic "NBLB"
//	  4   2 version = 1 (unknown versions are ErrCorrupt)
//	  6   2 flags: bit 0 = CRC-only; bits 1..15 zero (a set unknown bit is ErrCorrupt)
//	  8   4 block size (4 KiB..16 MiB; default 64 KiB)
//	 12   4 reserved, zero
//	 16   8 data size in bytes
//	 24  16 MD5 of the data (the S3 ETag of a single-part object); zero if CRC-only
//	 40  32 SHA-256 of the data; zero if CRC-only
//	 72   4 CRC32C (Castagnoli) of the data
//	 76  16 reserved, zero
//	 92   4 CRC32C of header bytes 0..91
//
// Each block's CRC32C covers its index then its data, so a block that is damaged, or intact
// but at the wrong place, fails. The decoder is defensive: header CRC, magic, version, block
// size and size bounds are checked before anything is sized from them, and the file length
// must equal 96 + size + 4·n exactly (a truncated or extended file is ErrCorrupt at Open).
// A header with a flag bit other than bit 0, or with bit 0 and a non-zero MD5 or SHA-256, is
// ErrCorrupt.
//
// # Digests: hashed, sent and CRC-only blobs
//
// A blob's header records MD5, SHA-256 and CRC32C of its data, computed by one of:
//
//   - Put without Expect.Sent hashes the bytes it reads (MD5, SHA-256, CRC32C).
//   - Put with Expect.Sent computes only CRC32C (per block and whole): the node that received
//     the S3 PUT computed the digests once (Digester) while streaming the bytes to the
//     replicas, and sends them after the last byte. The replica compares the whole CRC32C it
//     computed with the sender's (ErrCorrupt if they differ: the bytes were damaged on the
//     way) and records the sender's MD5 and SHA-256. So the MD5 and SHA-256 of such a blob
//     were computed by another node from the bytes it sent, and the CRC32C ties them to the
//     bytes stored here; MD5 and SHA-256 (at about 320 MB/s and 400 MB/s on one core) cost a
//     replica nothing, CRC32C (several GB/s) little.
//   - CRC-only blobs (flags bit 0; Digests.CRCOnly), for the shards of erasure-coded objects,
//     which need no MD5 or SHA-256 of their own: the header's MD5 and SHA-256 are zero and
//     Info.CRCOnly is true.
//
// The format version stays 1: flags were written as zero from the start, so a hashed blob is
// byte for byte what it was. Downgrade: a binary older than flags support does not check the
// flags, so it opens and reads a CRC-only blob normally (block CRCs and the whole CRC32C still
// verify) but its Verify compares the zero MD5 in the header with the data's and reports the
// blob ErrCorrupt — and its data plane deletes copies that Verify calls corrupt (when a read
// reports the copy bad), and its offline verification (nebulaio blob verify, the deep blob
// check of backup restore) lists every CRC-only blob as damaged. Do not run such a binary on a
// store holding CRC-only blobs.
//
// # Verification
//
// Every byte a Reader returns (Read, Seek+Read, ReadAt) comes from a block whose CRC was
// checked, so a range read is verified too and a flipped byte fails only the ranges that
// touch its block. A sequential read from offset 0 additionally checks the whole-blob CRC32C
// at EOF. Verify(id) reads everything and also recomputes the whole CRC32C, and MD5 and
// SHA-256 unless the blob is CRC-only; for a CRC-only blob the whole CRC32C is the only check
// beyond the block CRCs (it catches a block changed together with its block CRC). Every
// detection counts in nebulaio_blob_corrupt_total; corrupt blobs are reported (ErrCorrupt),
// never repaired or served.
//
// A read that the file system fails (EIO) returns that error, wrapped (errors.Is(err,
// vfs.ErrIO)), and no byte of the block it could not read: it is not ErrCorrupt, because the
// bytes may be readable again (a device that came back) and callers delete copies that are
// corrupt. The data plane then reads another copy.
//
// # Crash model
//
// Assumed of the disk and file system: fsync of a file makes its data and size durable;
// fsync of a directory makes its entries (create, rename, unlink) durable; rename within one
// file system is atomic. Nothing is assumed about the order in which unsynced writes reach
// the disk, nor about sector atomicity (the CRCs catch torn or rotten sectors).
//
//   - Put: data streams to tmp/put-*.tmp (block CRCs and digests computed on the way; with
//     Expect.Sent, the sender's digests are fetched and checked after the last byte); the
//     header is written at offset 0 last (a blob of one block is written by one pwritev,
//     header and block together, once the digests are known); fsync(file); mkdir of the
//     fan-out directory if new followed by fsync(blobs/); rename into blobs/<hh>/<id>;
//     fsync(blobs/<hh>). Put returns only after that. The directory fsync is group-committed:
//     Puts that rename into one fan-out directory while an fsync of it runs wait for the next
//     one, which begins after all their renames and so makes them all durable (one fsync for
//     the group instead of one each); a Put returns only after an fsync that began after its
//     own rename, and a failed fsync fails every Put of its round. A crash before the rename leaves only a temp file, invisible and removed
//     by the next Open; a crash after the rename but before the directory fsync leaves either
//     the old blob (or none) or the complete new one — never a partial one, because the
//     renamed file was fsynced first. So a blob id, once visible, always names a complete,
//     checksummed file, and a Put that returned is durable.
//   - Put failures: any error (a write, the fsync, the mkdir, the rename, a directory fsync;
//     EIO, ENOSPC, a torn write) removes the temporary file and returns the file system's error
//     wrapped (errors.Is(err, vfs.ErrNoSpace) on a full disk). A failure of the last directory
//     fsync, after the rename, removes the published file again: a Put that returned an error
//     publishes nothing. (Ids are never reused by the data plane, so this never takes away an
//     older blob of the same id that a caller relies on.) If the cleanup fails as well, what is
//     left is a temporary file, removed by RemoveStaleTemp (the data plane's garbage collector)
//     or the next Open, or a complete, verified, unreferenced blob, which the garbage collector
//     takes.
//   - Replacing: Put on an existing id renames over it atomically; readers holding the old
//     file keep reading the old bytes.
//   - Delete: unlink then fsync(blobs/<hh>). After a crash the blob is either there or gone.
//   - Open: takes the lock, then removes temp files older than Options.TempMaxAge (default:
//     all — no Put can be in flight while we hold the lock). RemoveStaleTemp removes those not
//     written for a given age while the store is open.
//
// What the store does not do: garbage collection of blobs whose metadata commit failed is
// the data plane's (package dataplane: List gives ids and publish times so its collector can
// spare blobs of Puts that may still commit), and so are replication and repair; it keeps no
// index, so List walks the directories.
//
// # Metrics
//
// Reported through the three-method Metrics seam of docs/CONVENTIONS.md; names in MetricDescs.
package blob
