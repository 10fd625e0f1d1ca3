// Package wal is NebulaIO's segmented write-ahead log. A *Log is hashicorp/raft's LogStore,
// MonotonicLogStore and StableStore:
//
//	l, err := wal.Open(dir, wal.Options{})   // zero Options: fsync on, safe defaults
//	r, err := raft.NewRaft(conf, fsm, l, l, snapshots, transport)
//
// # Directory
//
//	00000000000000000001.wal   segment files, named by the index of their first record (%020d)
//	00000000000000004711.wal   the newest segment is the active one; older ones are sealed
//	next.spare                 the next segment, created and zero-filled ahead of need (once
//	                           the active segment is half full)
//	00000000000000000003.recycle  a segment dropped by compaction, kept to become a later spare
//	                           (at most Options.RecycleSegments; numbered in the order kept)
//	head                       the logical head: entries below it are deleted
//	stable                     raft's StableStore keys (term, vote), in two slots overwritten in
//	                           turn (never allocating)
//	stable.tmp                 a stable-state file being created or grown (removed by Open)
//	LOCK                       flock(2) held while the log is open
//
// # Segment file
//
// All integers are little-endian. A segment is a 32-byte header followed by records, followed by
// zeros (preallocated space) and, once the segment is sealed, an index footer.
//
//	segment header (32 bytes)
//	0       4       6       8               16                      28      32
//	+-------+-------+-------+---------------+-----------------------+-------+
//	| magic |version| rsvd  | first index   | reserved (zero)       | crc   |
//	+-------+-------+-------+---------------+-----------------------+-------+
//
//	field        type     meaning
//	magic        [4]byte  "NWAL"
//	version      uint16   format version, 1; Open refuses a larger one with ErrNewerFormat
//	first index  uint64   index of the first record; must match the file name
//	crc          uint32   CRC32C (Castagnoli) of bytes 0..28
//
//	record (44-byte header + body)
//	0      4        8        12   13    14     16      24     32          40      44
//	+------+--------+--------+----+-----+------+-------+------+-----------+-------+------+
//	| hcrc | bodyLen| bodyCRC|type|flags| rsvd | index | term | appendedAt| extLen| body |
//	+------+--------+--------+----+-----+------+-------+------+-----------+-------+------+
//
//	field       type    meaning
//	hcrc        uint32  CRC32C of header bytes 4..44 (so bodyCRC is covered too)
//	bodyLen     uint32  body bytes on disk; bounded by Options.MaxEntrySize before allocating
//	bodyCRC     uint32  CRC32C of the body bytes as stored (compressed if compressed)
//	type        uint8   raft.LogType
//	flags       uint8   bit 0: body is snappy-compressed; bit 1: first record of a StoreLogs
//	                    batch; bit 2: segment index record (see below); other bits must be 0
//	rsvd        uint16  zero
//	index       uint64  raft index; records of a segment are consecutive from its first index
//	term        uint64  raft term
//	appendedAt  int64   raft.Log.AppendedAt in Unix nanoseconds; 0 for the zero time
//	extLen      uint32  length of raft.Log.Extensions at the start of the uncompressed body
//	body        bytes   Extensions then Data; snappy-compressed as one block when the two
//	                    together exceed Options.CompressAbove and compression saves >= 1/8
//
// An all-zero record header marks the end of the records (preallocated space). Records are not
// aligned or padded.
//
// When the log moves on to the next segment, the previous one is sealed: an index record (flags
// bit 2, index 0, body = one uint32 file offset per entry) and a 16-byte trailer are written
// after its last record and the file is trimmed to end with the trailer:
//
//	trailer (last 16 bytes of a sealed segment)
//	0                8       12      16
//	+----------------+-------+-------+
//	| index rec off  | crc   | magic |   crc: CRC32C of bytes 0..8 and the magic "NWIX"
//	+----------------+-------+-------+
//
// The footer only makes Open fast (it reads the footer instead of scanning sealed segments); it
// is verified (CRCs, offsets increasing, first and last record headers) and, when anything does
// not match, Open scans and verifies the segment's records instead.
//
// # Head file
//
// Two 512-byte slots at offsets 0 and 512, written alternately (the one after the newest), each
// "NWHD" | crc uint32 | sequence uint64 | head uint64 (crc: CRC32C of the magic and bytes 8..24).
// Open uses the valid slot with the highest sequence. Entries with index < head are deleted.
//
// # Stable-state file
//
// Two slots of equal size (a power of two, 4 KiB unless the state needs more), at offset 0 and
// at the slot size; the file is exactly two slots long and fully written (allocated) when it is
// created. The state with sequence s is in slot s % 2:
//
//	slot
//	0       4       6       8               16      20      24
//	+-------+-------+-------+---------------+-------+-------+---------------------+---------+
//	| magic |version| rsvd  | sequence      | len   | crc   | payload (len bytes) | unused  |
//	+-------+-------+-------+---------------+-------+-------+---------------------+---------+
//
//	field     type     meaning
//	magic     [4]byte  "NWSS"
//	version   uint16   1; a valid slot of a larger version makes Open fail with ErrNewerFormat
//	sequence  uint64   increases by one with every Set; must be odd in slot 1, even in slot 0
//	len       uint32   payload bytes, at most the slot size minus 24
//	crc       uint32   CRC32C of bytes 0..20 and of the payload
//	payload            every key, in the stable-state encoding:
//
//	"NWST" | version uint16 | rsvd uint16 | count uint32 | crc uint32 | count entries
//	entry: kind uint8 (1 = Set bytes, 2 = SetUint64) | keyLen uint32 | key | valLen uint32 | val
//
// whose crc is CRC32C of its bytes 0..12 and of everything after its byte 16. Open uses the valid
// slot with the highest sequence (a slot that fails its checks is one a crash or a failed write
// tore, and is ignored); a file with no valid slot, or whose valid slot's payload does not
// decode, is ErrCorrupt. Bytes after a payload are left from earlier states and never read.
//
// Earlier versions wrote the stable-state encoding alone as the whole file (replacing it on every
// Set). Open still reads such a file - it starts with "NWST" where a slotted file starts with
// "NWSS" or a torn slot, never "NWST" - and rewrites it in slots at once, as it creates the file
// of a new log: after Open, no Set allocates disk space (see the crash model). Set and SetUint64
// keys are two separate namespaces, as in raft's InmemStore. Get of a missing key returns
// ErrKeyNotFound, whose text is exactly "not found" because raft compares that string;
// GetUint64 returns 0.
//
// # Writes
//
// StoreLogs encodes the batch into one buffer, writes it with one pwritev and makes it durable
// with one fdatasync (group commit: raft hands the log every entry that queued while the
// previous batch was syncing). Payloads of 4 KiB or more that are stored uncompressed are not
// copied into the buffer: the pwritev takes them from the caller's slices, between the buffer's
// pieces. The write is padded with zeros to the end of its last page (the space after the
// records holds zeros already), so that it never makes the kernel read a page that is not
// cached before modifying it. The batch goes entirely into one segment: if it does not fit in
// the active segment, it starts the next one.
//
// The next segment is prepared by a background goroutine once the active one is half full (or
// eight average batches from full, if that is earlier): created as next.spare, zero-filled to
// SegmentSize through the page cache in 64 KiB writes (fdatasynced every MiB, with a pause as
// long as that sync took), fsynced, directory fsynced. Appends therefore overwrite allocated,
// zeroed blocks whose pages are cached: fdatasync has no metadata to flush and an append
// allocates no memory. When recent batches average 64 KiB or more the
// spare is only fallocated instead: such batches are bandwidth-bound and writing every byte
// twice (zeros, then data) costs them more than the extent conversion at fdatasync. Open of an
// empty log returns with the first spare prepared; a reopened log prepares nothing until its
// active segment is half full. The first batch of a segment is written together with the
// segment header; after its fdatasync the spare is renamed to its segment name, and the sealed
// previous segment gets its index footer from a background goroutine.
//
// Segments dropped by front compaction are not all unlinked: up to Options.RecycleSegments of
// them are renamed to *.recycle and later become spares instead of new files. Such a file has
// its first page zeroed and synced before it is renamed to next.spare, and is then zero-filled
// like a new one (always, whatever the batch size: overwriting old blocks is cheap), so a spare
// never holds a stale record.
//
// GetLog serves the newest entries (Options.CacheEntries) from memory and otherwise reads exactly
// one record with one pread at the offset held in the in-memory offset index, verifying both
// CRCs on every read: a damaged record is an error wrapping ErrCorrupt, never data.
//
// # Crash model
//
// Assumed of the disk and file system (ext4, xfs): fdatasync and fsync return only when the data
// is durable; a write not yet synced may be lost, partly written or written out of order at
// sector granularity, and unwritten sectors of a zero-filled region read back as zeros; creates,
// renames and unlinks are durable after an fsync of the directory, and directory operations are
// persisted in the order they were made. Sector-atomic writes are not assumed (the head file has
// two slots for that reason), but a sector that is rewritten with the bytes it already holds is
// assumed to keep them: an append rewrites the partly filled last page of the previous batch,
// as every write through the page cache does. After any error from a write or sync the log refuses further
// writes (ErrFailed) until reopened, since the page cache can no longer be trusted: the failing
// call and every later StoreLogs and DeleteRange return an error wrapping ErrFailed and the file
// system's error (errors.Is(err, vfs.ErrNoSpace) for a full disk); GetLog, FirstIndex and
// LastIndex keep serving what was stored before. The one exception is a failure to prepare the
// next segment (next.spare), which touches nothing stored: StoreLogs returns it without
// ErrFailed and the next call tries again. The stable store is apart and is not refused: a
// failed Set leaves the newest state in the other slot, and the next Set writes its slot again.
//
// A full disk: appends go to preallocated segments, so they fail for lack of space only when a
// batch needs the next segment and it could not be prepared (not sticky: StoreLogs tries again
// once there is room). Set only overwrites the two allocated slots, so raft can save its term
// and vote on a full disk (it panics when it cannot); only a state that outgrows its slot (never
// raft's three keys) needs new space. Open of a non-empty log allocates nothing, except to
// rewrite a stable-state file of the earlier format (it then fails with the file system's
// error, errors.Is(err, vfs.ErrNoSpace), rather than start a node that could not save its
// vote). Overwriting allocated blocks allocates nothing on ext4 and xfs; on copy-on-write file
// systems (btrfs, zfs) it does, and a Set on a full disk can still fail there.
//
// Every file operation goes through Options.FS (package internal/vfs, the operating system by
// default), whose contract states the assumptions above. The tests break them on purpose:
// vfs.Faulty fails chosen writes, syncs, renames and truncations (with EIO, ENOSPC, or a torn
// write), and vfs.Mem.Crash keeps only synced bytes under names made durable by a directory
// fsync, so recovery is checked against the harshest state a crash may leave (fault_test.go).
//
// What Open finds after a crash during each operation, and what it does:
//
//   - Append (StoreLogs): the batch lies after the last synced batch, in zeroed space. Only the
//     last segment can hold an unsynced batch, because a batch is written to a new segment only
//     after every batch of the previous one was synced. Open scans the last segment and stops at
//     the first record that does not verify (short, header or body CRC mismatch, unexpected
//     index, zero header followed by non-zero bytes). That is a torn tail - truncated back to the
//     last whole record, logged, counted in nebulaio_wal_torn_tails_truncated_total - unless a
//     valid record that starts a later batch (or an index footer) follows the damage: that proves
//     the damaged record was acknowledged, so Open fails with ErrCorrupt naming file and offset.
//     Entries of an unacknowledged batch before the tear survive; they are whole entries that
//     were written. Damage anywhere in a sealed segment is ErrCorrupt.
//   - Rotation: the spare gets the segment header together with the first batch; only after that
//     write is synced is it renamed (and the rename made durable by the directory fsync that
//     starts preparing the next spare, or by Close). A spare found with a valid header is such a
//     segment whose rename was lost: Open renames it. A spare without one is unused and removed.
//     The old segment's footer is written in the background after the rename and not synced; a
//     crash while writing it leaves an invalid footer: Open scans instead.
//   - Head truncation (prefix DeleteRange): the new head is written to the head file (page
//     cache) and the in-memory head moved; DeleteRange returns. A background goroutine then
//     fdatasyncs the head file and only after that unlinks the segments wholly below the head.
//     Renaming a segment to *.recycle counts as unlinking it: Open never reads those files.
//     A crash before that sync leaves the previous head and all segments: the deleted entries
//     reappear, whole and unchanged, and raft compacts them again at its next snapshot (a process
//     crash loses nothing: the write is in the page cache). A crash after it may leave segments
//     below the head, which Open removes. Segments are unlinked oldest first, so the log is
//     contiguous at every point.
//   - Tail truncation (suffix DeleteRange): later segments are unlinked newest first and the
//     directory fsynced; then the kept segment is cut with ftruncate + fsync and zero-filled
//     again. A crash in between leaves a contiguous log that still holds some of the deleted
//     suffix (raft deletes it again), never a gap: unlinking newest first keeps the segments
//     contiguous, and ftruncate is atomic.
//   - Deleting everything (before a snapshot install): the head moves past the last entry, then
//     every segment is unlinked and the directory fsynced; the next StoreLogs writes the head to
//     its first index before creating a segment, so a lost unlink can only leave segments that
//     Open removes as lying below the head.
//   - Stable-store write (Set, SetUint64): the whole state, with the next sequence, is written
//     into the slot that does not hold the newest state, then fdatasynced (the file's size does
//     not change). A crash, a torn write or a failed fdatasync can only damage that slot, so
//     Open finds the newest state that was acknowledged, or the one being written if it reached
//     the disk whole - never an older one. After a failure the in-memory state stays the old
//     one and the next Set rewrites the same slot, so a sync that dropped pages is never
//     trusted. Rot of the newest slot after its Set returned (a flipped sector) cannot be told
//     from a torn write and rolls back one Set; sector-atomic writes are not assumed, as for
//     the head file.
//   - Stable-file creation (a new log, the earlier format, a state that outgrew its slots): the
//     whole file is written to stable.tmp, fsynced, renamed over stable and the directory
//     fsynced (vfs.WriteFile). Open sees the old or the new file, and removes a leftover
//     stable.tmp.
//
// The log never returns an entry it was not given: every record is checked by two CRCs and by
// its index on every read and scan.
package wal
