package dataplane

// Metrics receives the data plane's measurements (see docs/CONVENTIONS.md). A nil Metrics is
// valid and records nothing.
type Metrics interface {
	Counter(name string, delta float64) // monotonically increasing; names end in _total
	Gauge(name string, value float64)   // set to the current value
	Observe(name string, value float64) // histogram sample; durations in seconds, names end in _seconds
}

// MetricDesc documents one metric this package reports.
type MetricDesc struct {
	Name string // nebulaio_<subsystem>_<name>
	Kind string // "counter", "gauge" or "histogram"
	Help string
}

// Metric names.
const (
	MetricReplicaWriteFailures  = "nebulaio_data_replica_write_failures_total"
	MetricCorruptReads          = "nebulaio_data_corrupt_reads_total"
	MetricCorruptDropped        = "nebulaio_data_corrupt_copies_dropped_total"
	MetricFreedDeleted          = "nebulaio_data_freed_deleted_total"
	MetricDeleteQueueFull       = "nebulaio_data_delete_queue_full_total"
	MetricDiscarded             = "nebulaio_data_discarded_total"
	MetricGCDeleted             = "nebulaio_data_gc_deleted_total"
	MetricUploadsExpired        = "nebulaio_data_uploads_expired_total"
	MetricScrubVerified         = "nebulaio_data_scrub_verified_total"
	MetricDiskFree              = "nebulaio_data_disk_free_bytes"
	MetricDiskReserve           = "nebulaio_data_disk_reserve_bytes"
	MetricReserveRefusals       = "nebulaio_data_reserve_refusals_total"
	MetricNoSpaceErrors         = "nebulaio_data_no_space_errors_total"
	MetricRepairPasses          = "nebulaio_repair_passes_total"
	MetricRepairChecked         = "nebulaio_repair_blobs_checked_total"
	MetricRepairCopies          = "nebulaio_repair_copies_total"
	MetricRepairCopyErrors      = "nebulaio_repair_copy_errors_total"
	MetricRepairBytes           = "nebulaio_repair_bytes_total"
	MetricRepairUnderReplicated = "nebulaio_repair_under_replicated"
	MetricRepairLost            = "nebulaio_repair_lost"
	MetricRepairRunning         = "nebulaio_repair_running"
	MetricRepairPassSeconds     = "nebulaio_repair_pass_seconds"
)

// MetricDescs lists every metric the package reports; the README table and the Prometheus
// registration are built from it, and a test checks that each one is exported.
var MetricDescs = []MetricDesc{
	{MetricReplicaWriteFailures, "counter", "blob replicas that failed or lagged during a write that still reached its quorum (left to repair)"},
	{MetricCorruptReads, "counter", "blob copies found corrupt while reading (the read moves on to another copy, if there is one)"},
	{MetricCorruptDropped, "counter", "corrupt blob copies this node verified and deleted so that repair replaces them"},
	{MetricFreedDeleted, "counter", "local blob copies deleted because an applied metadata event freed them (overwrite, delete, abort)"},
	{MetricDeleteQueueFull, "counter", "freed blobs whose local deletion was not queued because the queue was full (the garbage collector removes them later)"},
	{MetricDiscarded, "counter", "blobs written for a request that was rejected or failed, deleted by the node that wrote them"},
	{MetricGCDeleted, "counter", "unreferenced local blobs older than the grace period deleted by the garbage collector"},
	{MetricUploadsExpired, "counter", "abandoned multipart uploads aborted by the upload expiry (as leader)"},
	{MetricScrubVerified, "counter", "local blobs the scrubber read whole and verified"},
	{MetricDiskFree, "gauge", "free bytes of the file system holding this node's blobs (statfs f_bavail; refreshed by every blob write and every 30 s)"},
	{MetricDiskReserve, "gauge", "free space this node's blob writes leave for the WAL and snapshots (storage.min_free_bytes, or automatic)"},
	{MetricReserveRefusals, "counter", "blob writes this node refused because its file system had less free space than the reserve plus the blob (507 to S3 clients)"},
	{MetricNoSpaceErrors, "counter", "blob writes on this node that the file system failed for lack of space (ENOSPC) despite the reserve"},
	{MetricRepairPasses, "counter", "repair passes this node ran (as leader)"},
	{MetricRepairChecked, "counter", "blobs repair checked"},
	{MetricRepairCopies, "counter", "blob copies repair made"},
	{MetricRepairCopyErrors, "counter", "blob copies repair attempted that failed"},
	{MetricRepairBytes, "counter", "bytes repair copied"},
	{MetricRepairUnderReplicated, "gauge", "blobs with fewer copies than the replication factor in the last repair pass (before repairing)"},
	{MetricRepairLost, "gauge", "referenced blobs with no copy left in the last repair pass"},
	{MetricRepairRunning, "gauge", "1 while a repair pass runs on this node"},
	{MetricRepairPassSeconds, "histogram", "duration of a repair pass"},
}

type nopMetrics struct{}

func (nopMetrics) Counter(string, float64) {}
func (nopMetrics) Gauge(string, float64)   {}
func (nopMetrics) Observe(string, float64) {}
