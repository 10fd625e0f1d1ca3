// Package snapshot is a compressed, incremental raft.SnapshotStore.
//
// raft's FileSnapshotStore rewrites the whole state, uncompressed, at every snapshot. Store
// keeps each snapshot as a manifest naming sorted runs: a base run with the whole state and
// zero or more delta runs with what changed since the parent snapshot. Runs are cut into
// zstd-compressed, checksummed chunks with a sparse index and a key filter, so a delta
// snapshot costs what changed, and one key or key range can be read without decompressing
// the rest.
//
// # The logical stream
//
// FSMSnapshot.Persist writes a logical stream into the sink (StreamWriter); Open returns
// one (read it with StreamReader); FSM.Restore reads it. A stream is a header, records in
// strictly ascending key order (bytes.Compare), and a trailer:
//
//	header   "NBSS" | version u8 (=1) | kind u8 | uvarint len | parent | uvarint len | source
//	put      0x01 | uvarint klen | key | uvarint vlen | value
//	delete   0x02 | uvarint klen | key                          (KindDelta only)
//	trailer  0x00 | count u64 LE | crc32c u32 LE
//
// kind is 1 (KindFull: the whole state, no tombstones) or 2 (KindDelta: puts and tombstones
// since Parent, a snapshot ID). Source is "" from an FSM; Open sets it to the ID read, so an
// FSM restored from a snapshot knows which ID its next delta's Parent is. count is the number
// of records; the CRC-32C (Castagnoli) covers every byte before it. Keys are at most
// MaxKeySize bytes and values MaxValueSize; IDs at most 1024 bytes. A reader returns io.EOF
// only after a valid trailer; a short stream is ErrTruncated, bad bytes are ErrCorrupt.
//
// A sink parses the stream as raft writes it, in pieces of any size. A KindFull stream (from
// the FSM, or a snapshot installed from the leader over the network) becomes a new base run.
// A KindDelta stream becomes one delta run and a manifest naming the parent's runs plus the
// new one (an empty delta names the parent's runs only); if the parent is not in the store,
// Close returns ErrUnknownParent and the FSM should persist a full stream next time.
//
// # Files
//
// One flat directory:
//
//	<term>-<index>-<seq>.manifest   one per snapshot; the ID is the name without suffix
//	run-<seq as 16 hex>.run         a run: a base or a delta
//	*.tmp                           being written; deleted by NewStore
//	*.corrupt                       a manifest set aside by NewStore (logged), never read
//
// seq is one store-wide counter (the largest in any file name or manifest, plus one), so a
// name is never reused while a manifest could refer to it.
//
// # Run format
//
// All integers little endian; uvarint is encoding/binary's.
//
//	offset 0      "NBRN" | version u8 (2; 1 is still read) | kind u8 (1 base, 2 delta) |
//	              0x0000 (must be zero)
//	offset 8      chunk 0 | chunk 1 | ... (each one zstd frame, no zstd checksum)
//	indexOff      index
//	end-24        indexOff u64 | indexLen u32 | indexCRC u32 | footerCRC u32 | "NBRF"
//
// A chunk's decompressed bytes are records encoded exactly as in the stream (put and, in a
// delta run, delete), so a base run's chunks concatenated are the body of a full stream and
// Open streams a base-only snapshot without re-encoding. A chunk is cut once its raw size
// reaches Options.ChunkSize (default 16 KiB), always at a record boundary.
//
// The index (covered by indexCRC, a CRC-32C):
//
//	kind u8 | uvarint chunks | uvarint records | uvarint tombstones | uvarint rawSize
//	per chunk: uvarint off | uvarint compLen | uvarint rawLen | uvarint records |
//	           crc32c u32 of the compressed frame | uvarint len | first key | uvarint len | last key
//	version 2: uvarint probes (1..30) | uvarint len (a multiple of 8) | filter bits
//
// The filter is a Bloom filter of every key of the run, tombstones included, 10 bits a key and
// 7 probes (about 1% false positives): probe i of a key is bit (h1 + i*h2) mod bits, h1 the
// 64-bit FNV-1a hash of the key and h2 derived from h1 (bloom.go); bit j is bit j&7 of byte
// j>>3. Reader.Get skips a run whose filter rules the key out, so a key that is in no run (an
// FSM inserting a new object) costs no chunk read. A version 1 run has no filter and may
// contain any key.
//
// footerCRC covers the footer's first 16 bytes. The decoder bounds every length before
// allocating and checks that chunks tile [8, indexOff) in order, that first <= last and that
// chunk key ranges ascend without overlap, and that the totals match. A chunk is verified
// before use: its CRC, the content size its zstd frame header declares, its decompressed
// length, and (when parsed) its record count, first and last keys and key order. Errors name
// the snapshot, run and chunk.
//
// # Manifest format
//
//	"NBMF" | version u8 (=1) | 0 0 0 | bodyLen u32 | JSON body | crc32c u32 (all bytes before)
//
// The JSON body holds raft's SnapshotMeta fields (ID, Index, Term, Version, Configuration,
// ConfigurationIndex), Seq, SinkSize (stream bytes received), Parent, Runs (base first,
// then deltas oldest first), and DataSize/Records of the merged view (-1 until known). Open
// must report the exact length of the stream it returns (raft checks it on install), so for
// a snapshot with deltas Open sizes the merged view with one extra pass the first time (kept
// in memory, not written back; compaction makes it exact on disk).
//
// # Compaction and retention
//
// When the newest snapshot's delta runs exceed Options.CompactRatio of its base (compressed
// bytes) or number more than Options.CompactMaxDeltas, a background goroutine merges its runs
// into a new base (newest wins, tombstones drop keys) without holding the store lock; then,
// under the lock, it renames the new base into place and rewrites every manifest whose runs
// begin with the merged runs to name the new base instead (so snapshots created meanwhile
// benefit too). After each publish, retention removes the manifests beyond the newest
// Options.Retain and then deletes every run no manifest names.
//
// # Crash model
//
// Assumed of the disk and file system: rename within a directory is atomic; data and names
// are durable after fsync of the file and of the directory; a torn write affects only the
// file being written. Every file is written under a *.tmp name, fsynced, renamed, and the
// directory fsynced. The order of every mutation:
//
//   - Snapshot create: run.tmp written and fsynced -> renamed to run-*.run, dir fsync ->
//     manifest.tmp written, fsynced -> renamed, dir fsync. A crash before the manifest rename
//     leaves a .tmp (deleted on open) or an orphan run (deleted on open, no manifest names
//     it); the snapshot is not listed. After the rename it is whole.
//   - Compaction: new base .tmp -> renamed, dir fsync -> each referring manifest rewritten
//     as above, one at a time. A crash in between leaves some manifests naming the old runs
//     and some the new base; both are complete, and the old runs stay until no manifest
//     names them.
//   - Reap: manifests removed, dir fsync, then unreferenced runs removed. A crash in between
//     leaves orphan runs, deleted on the next open. A run is never removed while a manifest
//     names it, so after a crash at any point List shows only whole snapshots.
//
// A failure of any of these steps (a write, an fsync, a rename, the directory fsync) fails the
// sink's Close with an error wrapping the file system's (errors.Is(err, vfs.ErrNoSpace) for a
// full disk) and leaves the snapshots listed before as they were; the failed snapshot is never
// listed. If only the directory fsync after its manifest's rename failed, the manifest is
// removed again (its ID is new), so a restart does not list it either; a crash may still bring
// it back, whole. Its run is an orphan until the next publish or NewStore reaps it.
//
// Every file operation goes through Options.FS (package internal/vfs, the operating system by
// default), whose contract states the assumptions above; the tests fail each step with
// vfs.Faulty and cut the power with vfs.Mem.Crash (fault_test.go).
//
// NewStore also validates every manifest and the index of every run it names; a manifest
// that fails (corruption, not a crash: the steps above never produce one) is renamed
// *.corrupt and logged rather than listed. Open, Reader and compaction hold open file
// handles on the runs they read, so reaping (unlink) cannot take data from under them.
//
// # Reading without streaming
//
// Store.Reader pins a snapshot and answers Get (newest run first; a run whose filter rules the
// key out is skipped, and of the others only the one chunk whose range may hold the key is
// read, verified and decompressed, into pooled buffers) and range reads over [start, end) of
// the merged view — Iterate (a callback), Iter (a pull iterator reading chunks as needed) and
// Scan (Iter reading ahead in parallel) — for an FSM whose metadata outgrows memory. Chunks a
// Get reads are kept in a store-wide LRU of Options.CacheBytes from their second miss on
// (one-off reads of a large state would only churn it).
//
// The stream Open returns implements Source (its Store and SnapshotID), so a consumer backed
// by the same store — the FSM restoring a snapshot raft opened — can take a Reader on it
// instead of reading the stream; nothing is read or decompressed until the first Read.
package snapshot
