// Package dataplane moves and keeps NebulaIO's object bytes: it places each blob on the
// replication factor's storage-capable nodes, streams writes to all of them at once, serves any
// blob from any node, deletes the copies the metadata frees, and in the background restores
// missing copies (repair), finds rotten ones (scrub), collects unreferenced ones (garbage
// collection), moves blobs to their placement when storage nodes join and off nodes that are
// draining (the balancer), and aborts abandoned multipart uploads (expiry). Each node's bytes live in its
// local store, package dataplane/blob (on-disk format and crash model there).
//
// # Imports
//
// dataplane imports transport (its RPCs share the raft listener), fsm (the types of the
// metadata it reads and of the abort it proposes) and dataplane/blob; never engine or httpapi.
// What it needs of the rest of the node comes as func values and small interfaces in Config
// and Maintenance: Resolve (engine.Node.ServerAddr), Members (raft members with their gossip
// role and liveness), Barrier (engine.Node.Read, linearizable), IsLeader, Metadata (*fsm.FSM)
// and Proposer (the S3 backend's Propose).
//
// # API
//
//   - New(Config) registers the RPCs and starts the worker that deletes freed blobs; Close
//     waits for background work. Members nil means a cluster of one: a single node runs the
//     same code as a cluster.
//   - NewBlobID(size) returns the ID for a new blob: with an erasure-coding layout when
//     cluster.erasure is on, the size at least erasure_min_size and the cluster can take it.
//   - Put(ctx, id, r, Expect) writes a blob and returns once a write quorum (a majority of the
//     effective factor; K+1 shards for an erasure-coded ID) has it durably, with the nodes
//     that do; the metadata records them.
//   - Open(ctx, id, nodes, offset, length) reads a range from any node that has an intact copy,
//     this node first, failing over mid-stream.
//   - Discard(id, nodes) deletes a blob its writer will not reference (a rejected write).
//   - Freed(ids) is fsm.Options.OnFreed: it queues the deletion of this node's copies of the
//     blobs an applied event freed. FlushFrees waits for the queue (shutdown, tests).
//   - RunMaintenance(ctx, Maintenance) runs, until ctx ends, garbage collection and scrubbing
//     on every node and repair, the balancer and upload expiry on the leader. Each pass is
//     also a method: CollectGarbage, ScrubPass, RepairPass, BalancePass, ExpireUploads. Stats
//     and RemoteStats report repair progress, BalanceStats and RemoteBalanceStats the
//     balancer's (rebalance and every drain; the leader's are the cluster's).
//   - LastCopies(ctx, node, m) counts the referenced blobs whose only readable copy is on a
//     member: what removing it now would lose (the server refuses such a removal unless
//     forced).
//   - Inline blobs (fsm.Blob.Inline: a small object's bytes held by the metadata) are not the
//     data plane's: Freed never receives them, and repair, garbage collection, the balancer
//     and LastCopies skip them in the metadata walk.
//
// # Erasure coding
//
// An erasure-coded blob (cluster.erasure K+M, erasure.go) is K data and M parity shards, each
// a blob of its own named <ID>.s<i> on its own storage member; the layout (K, M, block size,
// size) is part of the ID, so nothing else records it. Reads use the data shards and
// reconstruct from any K when one fails; repair rebuilds missing shards; the balancer, drain,
// LastCopies, scrub, GC and Freed handle shards like blobs. See DESIGN.md, "Erasure coding".
//
// # Placement, drains and the balancer
//
// A blob belongs on the first factor members of the rendezvous order of its ID over the
// storage-capable members that are not draining (Member.Drain, from the replicated member
// records). Writes and repair copies go there (alive members only); reads try those first,
// then the nodes the metadata names, then every other alive storage member, so a blob is found
// wherever a copy is. When a storage member joins, about factor/(N+1) of the blobs gain it as
// a target: the balancer copies each such blob there, asks every target to confirm its copy,
// then deletes the copy that left the placement. When a member drains, the balancer gives each
// blob it holds its copies on the other members (keeping the draining member's own until it
// is removed) and, once all are done, proposes fsm.MemberDrained. Nothing is deleted while a
// placement target is down. The balancer runs on the leader at once when the placement
// changes, again every few seconds while work is left, and every 10 minutes otherwise;
// Maintenance.BalanceBytesPerSecond throttles it (cluster.rebalance_bytes_per_sec). See
// balance.go and DESIGN.md ("Rebalance and drain").
//
// Wiring order matters for Freed: open the blob store and New the Plane before fsm.New (whose
// OnFreed is Plane.Freed) and before engine.Open, so that the entries raft replays at start
// free their blobs too; Resolve and Members may consult the engine once it runs.
//
// # Errors
//
// ErrNoStorageNode and ErrWriteQuorum: the write did not happen (503 to S3 clients).
// ErrNoSpace (wrapping vfs.ErrNoSpace, the message naming the node): a node refused the write
// for lack of space, or its file system ran out (507 to S3 clients); a write that missed its
// quorum wraps it as well when the replicas that failed for lack of space were enough on their
// own to miss it.
// ErrDigestMismatch and ErrSizeMismatch: the bytes sent do not match Expect (the client's
// fault). A read that finds no usable copy is ErrNoReplica wrapped with one of ErrNotFound (no
// node has a copy), ErrCorrupt (only corrupt copies were found, and every other node has
// none: a 500) or ErrUnreachable (a node that may hold a copy could not be read: a 503, the
// data may come back). ErrClosed: FlushFrees after Close.
//
// # RPCs
//
// On the transport's multiplexed listener, each with a JSON header:
//
//	blob.put      stream    {id, size, md5, trailer} + the bytes [+ digests in the end frame]
//	                                                         → blob.Info      store a replica
//	blob.get      download  {id, off, len}                   → the bytes      read a range
//	blob.list     download  -                                → "id\n" lines   repair's inventory
//	blob.fetch    call      {id, size, sources}              → -              copy from a holder
//	blob.delete   call      id                               → -              delete a copy
//	blob.bad      call      id                               → -              verify, drop if corrupt
//	repair.stats  call      -                                → RepairStats    the driver's progress
//	balance.stats call      -                                → BalanceStats   the balancer's progress
//
// A write's sender computes the digests once (MD5, SHA-256 and CRC32C of a replicated blob;
// CRC32C only of an erasure-coded shard) while it streams the bytes, and sends them after the
// last byte in the stream's end frame (trailer: true); the receiver computes only CRC32C and
// refuses the bytes when it differs from the sender's. See sent.go for the trailer's layout and
// what happens with nodes older than this one.
//
// Blob store errors cross an RPC as codes (digest_mismatch, size_mismatch, not_found,
// corrupt, no_space, no_data) and are turned back into the sentinels (no_space: ErrNoSpace).
//
// # Free-space reserve
//
// Every blob write on a node (a replica of a write, a repair copy) first checks the free space
// of the file system holding its blob store (statfs, through the store's vfs.FS): while it is
// below Config.MinFreeBytes plus the blob's size, the node refuses the write with ErrNoSpace.
// The WAL and the snapshots share that file system (data_dir), and a WAL that runs out of
// space refuses every write until it is reopened, so blob writes stop first and leave the
// reserve to the metadata: deletes still commit, free space, and writes resume by themselves.
// The automatic reserve (MinFreeBytes 0, the default of storage.min_free_bytes) is 1% of the
// file system, at least 64 MiB and at most 1 GiB. Reads are never refused. The gauges
// nebulaio_data_disk_free_bytes and nebulaio_data_disk_reserve_bytes are refreshed by every
// write and every 30 s. See DESIGN.md.
//
// # Crash model
//
// The metadata is the truth; a blob nothing references is garbage, never damage. So every
// crash leaves at worst garbage that CollectGarbage removes once older than its grace period
// (1 h): a Put cut short leaves copies on some replicas (its metadata never commits); a
// write whose commit outcome was unknown leaves its copies until GC; frees queued but not done
// when the node stopped, dropped because the queue was full, or never seen because the node
// installed a snapshot instead of replaying the log, leave copies until GC; a repair copy cut
// short is a temp file the blob store removes at open. A write whose blob store failed to
// remove its temporary file (the file system failing that too) leaves it to GC, which removes
// temporary files not written for its grace period (blob.Store.RemoveStaleTemp). A copy that a committed object still
// references is only ever deleted by the node that holds it when it applies the event that
// freed it, or by a read or scrub that verified it corrupt. See DESIGN.md for why.
//
// Object lock needs nothing here: the FSM refuses every event that would remove a locked
// version, so a locked version's blobs are always referenced, and garbage collection and the
// deletion of freed blobs only ever touch blobs no committed record references.
//
// # Metrics
//
// Through the three-method seam of docs/CONVENTIONS.md; names and meanings in MetricDescs
// (nebulaio_data_*, nebulaio_repair_*, nebulaio_rebalance_* and nebulaio_drain_*). The local store reports nebulaio_blob_*.
package dataplane
