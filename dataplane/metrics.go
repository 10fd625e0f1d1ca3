package dataplane

import "github.com/nebulaio/nebulaio/internal/metrics"

// Metrics receives this package's measurements: the shared seam of internal/metrics (see
// docs/CONVENTIONS.md). A nil Metrics is valid and records nothing.
type Metrics = metrics.Metrics

// MetricDesc documents one metric this package reports (internal/metrics.Desc).
type MetricDesc = metrics.Desc

// Metric names.
const (
	MetricReplicaWriteFailures   = "nebulaio_data_replica_write_failures_total"
	MetricCorruptReads           = "nebulaio_data_corrupt_reads_total"
	MetricCorruptDropped         = "nebulaio_data_corrupt_copies_dropped_total"
	MetricFreedDeleted           = "nebulaio_data_freed_deleted_total"
	MetricDeleteQueueFull        = "nebulaio_data_delete_queue_full_total"
	MetricDiscarded              = "nebulaio_data_discarded_total"
	MetricGCDeleted              = "nebulaio_data_gc_deleted_total"
	MetricUploadsExpired         = "nebulaio_data_uploads_expired_total"
	MetricScrubVerified          = "nebulaio_data_scrub_verified_total"
	MetricDiskFree               = "nebulaio_data_disk_free_bytes"
	MetricDiskReserve            = "nebulaio_data_disk_reserve_bytes"
	MetricReserveRefusals        = "nebulaio_data_reserve_refusals_total"
	MetricNoSpaceErrors          = "nebulaio_data_no_space_errors_total"
	MetricRepairPasses           = "nebulaio_repair_passes_total"
	MetricRepairChecked          = "nebulaio_repair_blobs_checked_total"
	MetricRepairCopies           = "nebulaio_repair_copies_total"
	MetricRepairCopyErrors       = "nebulaio_repair_copy_errors_total"
	MetricRepairBytes            = "nebulaio_repair_bytes_total"
	MetricRepairUnderReplicated  = "nebulaio_repair_under_replicated"
	MetricRepairLost             = "nebulaio_repair_lost"
	MetricRepairRunning          = "nebulaio_repair_running"
	MetricRepairPassSeconds      = "nebulaio_repair_pass_seconds"
	MetricBalancePasses          = "nebulaio_rebalance_passes_total"
	MetricBalanceRunning         = "nebulaio_rebalance_running"
	MetricBalanceMisplaced       = "nebulaio_rebalance_misplaced"
	MetricBalanceCopies          = "nebulaio_rebalance_copies_total"
	MetricBalanceBytes           = "nebulaio_rebalance_bytes_total"
	MetricBalanceMoved           = "nebulaio_rebalance_moved_total"
	MetricBalanceDeleted         = "nebulaio_rebalance_deleted_total"
	MetricBalanceCopyErrors      = "nebulaio_rebalance_copy_errors_total"
	MetricDrainNodes             = "nebulaio_drain_nodes"
	MetricDrainBlobsLeft         = "nebulaio_drain_blobs_remaining"
	MetricDrainBytesLeft         = "nebulaio_drain_bytes_remaining"
	MetricDrainProgress          = "nebulaio_drain_progress_ratio"
	MetricErasureWrites          = "nebulaio_data_erasure_writes_total"
	MetricErasureReads           = "nebulaio_data_erasure_reads_total"
	MetricErasureReconstructions = "nebulaio_data_erasure_reconstructions_total"
	MetricErasureFallbacks       = "nebulaio_data_erasure_fallbacks_total"
	MetricErasureRebuilt         = "nebulaio_repair_shards_rebuilt_total"
)

// MetricDescs lists every metric the package reports; the README table and the Prometheus
// registration are built from it, and a test checks that each one is exported.
var MetricDescs = []MetricDesc{
	{Name: MetricReplicaWriteFailures, Kind: metrics.KindCounter, Help: "blob replicas that failed or lagged during a write that still reached its quorum (left to repair)"},
	{Name: MetricCorruptReads, Kind: metrics.KindCounter, Help: "blob copies found corrupt while reading (the read moves on to another copy, if there is one)"},
	{Name: MetricCorruptDropped, Kind: metrics.KindCounter, Help: "corrupt blob copies this node verified and deleted so that repair replaces them"},
	{Name: MetricFreedDeleted, Kind: metrics.KindCounter, Help: "local blob copies deleted because an applied metadata event freed them (overwrite, delete, abort)"},
	{Name: MetricDeleteQueueFull, Kind: metrics.KindCounter, Help: "freed blobs whose local deletion was not queued because the queue was full (the garbage collector removes them later)"},
	{Name: MetricDiscarded, Kind: metrics.KindCounter, Help: "blobs written for a request that was rejected or failed, deleted by the node that wrote them"},
	{Name: MetricGCDeleted, Kind: metrics.KindCounter, Help: "unreferenced local blobs older than the grace period deleted by the garbage collector"},
	{Name: MetricUploadsExpired, Kind: metrics.KindCounter, Help: "abandoned multipart uploads aborted by the upload expiry (as leader)"},
	{Name: MetricScrubVerified, Kind: metrics.KindCounter, Help: "local blobs the scrubber read whole and verified"},
	{Name: MetricDiskFree, Kind: metrics.KindGauge, Help: "free bytes of the file system holding this node's blobs (statfs f_bavail; refreshed by every blob write and every 30 s)"},
	{Name: MetricDiskReserve, Kind: metrics.KindGauge, Help: "free space this node's blob writes leave for the WAL and snapshots (storage.min_free_bytes, or automatic)"},
	{Name: MetricReserveRefusals, Kind: metrics.KindCounter, Help: "blob writes this node refused because its file system had less free space than the reserve plus the blob (507 to S3 clients)"},
	{Name: MetricNoSpaceErrors, Kind: metrics.KindCounter, Help: "blob writes on this node that the file system failed for lack of space (ENOSPC) despite the reserve"},
	{Name: MetricRepairPasses, Kind: metrics.KindCounter, Help: "repair passes this node ran (as leader)"},
	{Name: MetricRepairChecked, Kind: metrics.KindCounter, Help: "blobs repair checked"},
	{Name: MetricRepairCopies, Kind: metrics.KindCounter, Help: "blob copies repair made"},
	{Name: MetricRepairCopyErrors, Kind: metrics.KindCounter, Help: "blob copies repair attempted that failed"},
	{Name: MetricRepairBytes, Kind: metrics.KindCounter, Help: "bytes repair copied"},
	{Name: MetricRepairUnderReplicated, Kind: metrics.KindGauge, Help: "blobs with fewer copies than the replication factor in the last repair pass (before repairing)"},
	{Name: MetricRepairLost, Kind: metrics.KindGauge, Help: "referenced blobs with no copy left in the last repair pass"},
	{Name: MetricRepairRunning, Kind: metrics.KindGauge, Help: "1 while a repair pass runs on this node"},
	{Name: MetricRepairPassSeconds, Kind: metrics.KindHistogram, Help: "duration of a repair pass"},
	{Name: MetricBalancePasses, Kind: metrics.KindCounter, Help: "balance passes (rebalance and drain) this node ran (as leader)"},
	{Name: MetricBalanceRunning, Kind: metrics.KindGauge, Help: "1 while a balance pass runs on this node"},
	{Name: MetricBalanceMisplaced, Kind: metrics.KindGauge, Help: "blobs not on their placement (after a storage node joined, or on a draining node) that the running or last balance pass has not moved yet"},
	{Name: MetricBalanceCopies, Kind: metrics.KindCounter, Help: "blob copies the balancer made on placement targets (rebalance and drain)"},
	{Name: MetricBalanceBytes, Kind: metrics.KindCounter, Help: "bytes the balancer copied (at most cluster.rebalance_bytes_per_sec)"},
	{Name: MetricBalanceMoved, Kind: metrics.KindCounter, Help: "blobs the balancer brought to their placement"},
	{Name: MetricBalanceDeleted, Kind: metrics.KindCounter, Help: "blob copies off placement the balancer deleted once every placement target held one"},
	{Name: MetricBalanceCopyErrors, Kind: metrics.KindCounter, Help: "blob copies the balancer attempted that failed"},
	{Name: MetricDrainNodes, Kind: metrics.KindGauge, Help: "nodes draining (not yet drained), as the balancer on the leader sees them"},
	{Name: MetricDrainBlobsLeft, Kind: metrics.KindGauge, Help: "blobs on draining nodes that do not have their copies elsewhere yet (all draining nodes)"},
	{Name: MetricDrainBytesLeft, Kind: metrics.KindGauge, Help: "bytes of those blobs"},
	{Name: MetricErasureWrites, Kind: metrics.KindCounter, Help: "erasure-coded blobs written (cluster.erasure)"},
	{Name: MetricErasureReads, Kind: metrics.KindCounter, Help: "reads of erasure-coded blobs opened"},
	{Name: MetricErasureReconstructions, Kind: metrics.KindCounter, Help: "stripes of erasure-coded blobs served by Reed-Solomon reconstruction (a shard missing, unreachable or corrupt, or a parity shard on the reading node read instead of a data shard on another)"},
	{Name: MetricErasureFallbacks, Kind: metrics.KindCounter, Help: "blobs large enough for erasure coding that were replicated because the cluster could not take an erasure-coded write (too few storage nodes, or too few alive)"},
	{Name: MetricErasureRebuilt, Kind: metrics.KindCounter, Help: "shards of erasure-coded blobs repair rebuilt from the other shards"},
	{Name: MetricDrainProgress, Kind: metrics.KindGauge, Help: "share (0..1) of the draining nodes' bytes that have their copies elsewhere; 1 with no drain"},
}

// nopMetrics stands where the options hold no Metrics.
type nopMetrics = metrics.Nop
