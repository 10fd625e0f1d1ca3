package fsm

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/nebulaio/nebulaio/internal/metrics"
	"github.com/nebulaio/nebulaio/snapshot"
)

var (
	_ raft.FSM         = (*FSM)(nil)
	_ raft.BatchingFSM = (*FSM)(nil)
)

// Options configures an FSM. The zero value is valid: every record is kept in memory.
type Options struct {
	Metrics Metrics // nil records nothing
	// Snapshots is the store raft persists this FSM's snapshots into (it may also be attached
	// later with AttachSnapshots, before raft starts). With a store, the FSM keeps in memory
	// only the records changed since the newest persisted snapshot, the resident kinds
	// (buckets, nodes, settings) and up to CacheSize clean records; everything else is read
	// back from that snapshot's runs. Nil keeps every record in memory.
	Snapshots *snapshot.Store
	// CacheSize bounds the clean objects, uploads, parts and inline blobs kept in memory when
	// Snapshots is set (performance.metadata_cache_size): 0 keeps none, a negative value keeps
	// every one read. Ignored without Snapshots.
	CacheSize int
	// CacheBytes bounds the bytes of the cache (keys, encodings and a per-entry overhead;
	// inline blobs count their bytes): 0 means CacheBytesPerEntry × CacheSize, negative no
	// bound beyond CacheSize. Small records hit the count first, inline blobs the bytes.
	CacheBytes int64
	// MaxDirty bounds the records changed since the newest persisted snapshot
	// (performance.max_raft_log_entries). From half of it the FSM asks for a snapshot
	// (SnapshotWanted); at MaxDirty, while a snapshot is being persisted, Apply waits for it
	// to finish instead of letting the set grow. 0 means no bound.
	MaxDirty int
	// MaxDirtyBytes bounds the inline blob bytes among those changed records in the same way
	// (a snapshot is asked for at half, Apply waits at the bound while one is persisted): 0
	// means DirtyBytesPerEntry × MaxDirty, negative no bound. A snapshot is also asked for
	// once the inline bytes applied since the newest snapshot reach half of it, overwritten
	// or deleted since or not: they are in the log until a snapshot lets raft drop it.
	MaxDirtyBytes int64
	// OnFreed, if set, is called after every Apply and ApplyBatch whose events freed blobs,
	// with their IDs (the Result.FreedBlobs of the entries, in log order; the slice must not
	// be modified). It runs on raft's apply goroutine after the FSM lock is released, before
	// the results reach their proposers, for replayed entries after a restart too; it must not
	// block. The data plane deletes its local copies from it.
	OnFreed func(blobIDs []string)
}

// Defaults of the byte bounds, per record of the count bounds: with performance defaults
// (metadata_cache_size 100,000, max_raft_log_entries 10,000) the cache holds at most 50 MiB
// and the changed records at most 80 MiB of inline bytes (a snapshot asked for at 40 MiB).
const (
	CacheBytesPerEntry = 512
	DirtyBytesPerEntry = 8 << 10
)

// Result is what Apply returns for a LogCommand entry (raft's ApplyFuture.Response()). It is
// never nil for a command; for other entry types Apply returns nil.
type Result struct {
	// Err is the rejection; nil means the event was applied. A rejected event changed nothing.
	Err *Error
	// Bucket is the bucket created, deleted, or whose versioning or tags changed.
	Bucket *BucketInfo
	// Object is the version written (PutObject, CompleteMultipartUpload, PutObjectTagging),
	// removed (DeleteObject of an unversioned object or of a version) or the delete marker
	// made (DeleteObject in a versioned bucket). Its VersionID and DeleteMarker are the
	// x-amz-version-id and x-amz-delete-marker of the response.
	Object *ObjectInfo
	// Upload is the upload created, completed or aborted.
	Upload *UploadInfo
	// Part is the part recorded by PutPart.
	Part *PartInfo
	// Deleted has one entry per key of a DeleteObjects, in request order.
	Deleted []DeleteResult
	// FreedBlobs are the store blob IDs this event released: those of the records it replaced
	// or removed that the records it wrote do not reference (see doc.go, "Blob IDs").
	// Deterministic order. Options.OnFreed receives them on every replica. Inline blobs are
	// never listed: Apply deletes their bytes itself.
	FreedBlobs []string
}

// DeleteResult is the outcome for one key of a DeleteObjects, with S3's DeletedObject fields.
type DeleteResult struct {
	Key       string
	VersionID string // the version asked for, "" if none
	// DeleteMarker: a delete marker was made (no VersionID), or the version removed was one.
	// DeleteMarkerVersionID is that marker's version ID.
	DeleteMarker          bool
	DeleteMarkerVersionID string
	// Err is nil when deleted; else NoSuchKey (unversioned, no such key), NoSuchVersion,
	// KeyTooLongError or InvalidArgument.
	Err *Error
}

// FSM is the metadata state machine: a fold of committed events into the tiers of tier.go.
//
// Apply, ApplyBatch, Snapshot and Restore are called by raft from one goroutine; the read
// methods may be called from any goroutine at any time. FSMSnapshot.Persist runs concurrently
// with Apply on a point-in-time view and, once the snapshot is published, switches the base
// to its runs.
type FSM struct {
	metrics       Metrics
	maxDirty      int
	maxDirtyBytes int64          // 0: no bound
	onFreed       func([]string) // set by New; read-only afterwards
	// store is set by New or AttachSnapshots before the FSM is used; read-only afterwards.
	store *snapshot.Store
	// cache is nil without a store; it locks itself.
	cache      *entryCache
	cacheSize  int
	cacheBytes int64

	// mu guards the fields below it. Apply, Snapshot, Restore and the base switch at the end
	// of a Persist hold it for writing; readers hold it for reading, never during I/O.
	mu sync.RWMutex
	// cloneMu serialises dirty.Clone() by readers that hold mu for reading.
	cloneMu sync.Mutex
	res     *resident
	counts  counts
	applied uint64
	dirty   *tree
	frozen  []*frozenTree // oldest first
	// frozenLen is the number of entries in the frozen trees; dirtyBytes and frozenBytes the
	// inline bytes (data records) of the dirty and frozen trees.
	frozenLen               int
	dirtyBytes, frozenBytes int64
	// writtenBytes is the inline bytes applied since the newest snapshot was taken: they are
	// in the log until a snapshot lets raft drop it, even those overwritten or deleted since
	// (which dirtyBytes no longer counts), so a snapshot is asked for by them too.
	writtenBytes int64
	// seq numbers frozen trees; baseSeq is the newest one the base includes.
	seq, baseSeq uint64
	base         *baseView
	// restores counts Restore calls: a snapshot taken before a restore must not switch the
	// base after it.
	restores uint64
	// scratch is a reusable buffer for record size checks (Apply only).
	scratch []byte

	// dirtyN mirrors dirty.Len()+frozenLen and dirtyB dirtyBytes+frozenBytes for the
	// throttle, which must not take mu.
	dirtyN, dirtyB atomic.Int64
	// want receives a value when a snapshot should be taken (see SnapshotWanted).
	want chan struct{}

	// snapMu guards the snapshot chain and snapDone; see snapshot.go. Lock order: mu, then
	// snapMu.
	snapMu sync.Mutex
	chain  chainState
	// snapDone is closed and replaced whenever a snapshot finishes persisting or is released.
	snapDone chan struct{}
	// stallHook, when set (tests only), runs when Apply starts waiting in throttle.
	stallHook func()
	// readHook, when set (tests only), runs when a point read has left the lock to read the
	// runs.
	readHook func()
}

// New returns an empty FSM.
func New(opts Options) *FSM {
	m := opts.Metrics
	if m == nil {
		m = metrics.Nop{}
	}
	f := &FSM{
		metrics:       m,
		maxDirty:      max(opts.MaxDirty, 0),
		maxDirtyBytes: opts.MaxDirtyBytes,
		onFreed:       opts.OnFreed,
		cacheSize:     opts.CacheSize,
		cacheBytes:    opts.CacheBytes,
		res:           newResident(),
		counts:        newCounts(),
		dirty:         newTree(),
		base:          newTreeBase(newTree()),
		want:          make(chan struct{}, 1),
		snapDone:      make(chan struct{}),
	}
	switch {
	case f.maxDirtyBytes == 0:
		f.maxDirtyBytes = int64(f.maxDirty) * DirtyBytesPerEntry
	case f.maxDirtyBytes < 0:
		f.maxDirtyBytes = 0
	}
	switch {
	case f.cacheBytes == 0 && f.cacheSize > 0:
		f.cacheBytes = int64(f.cacheSize) * CacheBytesPerEntry
	case f.cacheBytes < 0 || f.cacheSize < 0:
		f.cacheBytes = 0 // no byte bound
	}
	if opts.Snapshots != nil {
		f.AttachSnapshots(opts.Snapshots)
	}
	return f
}

// AttachSnapshots hands the FSM the snapshot store raft persists its snapshots into, so that
// it can read its state back from the runs (see Options.Snapshots). Call it before the first
// Apply or Restore (the engine does, when it opens the store); later calls are ignored.
func (f *FSM) AttachSnapshots(s *snapshot.Store) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.store != nil || s == nil {
		return
	}
	f.store = s
	f.cache = newEntryCache(f.cacheSize, f.cacheBytes, f.metrics)
}

// SnapshotWanted returns a channel that receives a value when the records changed since the
// newest persisted snapshot reach half of Options.MaxDirty and no snapshot is in progress:
// the owner should take a raft snapshot (raft's own trigger counts log entries, not records).
func (f *FSM) SnapshotWanted() <-chan struct{} { return f.want }

// Apply applies one committed log entry. For a LogCommand it returns a *Result; other entry
// types only advance the applied index and return nil.
func (f *FSM) Apply(l *raft.Log) interface{} {
	f.throttle()
	f.mu.Lock()
	res := f.applyLocked(l)
	f.afterApplyLocked()
	f.mu.Unlock()
	f.reportState()
	if res == nil {
		return nil
	}
	f.freed(res.FreedBlobs)
	return res
}

// ApplyBatch applies committed entries in order under one lock acquisition. Raft passes
// LogCommand and LogConfiguration entries; the response for a configuration entry is nil.
func (f *FSM) ApplyBatch(logs []*raft.Log) []interface{} {
	out := make([]interface{}, len(logs))
	var freed []string
	f.throttle()
	f.mu.Lock()
	for i, l := range logs {
		if res := f.applyLocked(l); res != nil {
			out[i] = res
			freed = append(freed, res.FreedBlobs...)
		}
	}
	f.afterApplyLocked()
	f.mu.Unlock()
	f.reportState()
	f.freed(freed)
	return out
}

// freed hands the blob IDs applied events freed to Options.OnFreed.
func (f *FSM) freed(ids []string) {
	if len(ids) > 0 && f.onFreed != nil {
		f.onFreed(ids)
	}
}

func (f *FSM) applyLocked(l *raft.Log) *Result {
	if l.Index > f.applied {
		f.applied = l.Index
	}
	if l.Type != raft.LogCommand {
		return nil
	}
	start := time.Now()
	var res *Result
	ev, err := Decode(l.Data)
	if err != nil {
		res = reject(CodeInvalidEvent, "log entry %d: %v", l.Index, err)
	} else {
		res = f.applyEvent(ev)
	}
	f.metrics.Observe(MetricApplySeconds, time.Since(start).Seconds())
	if res.Err != nil {
		f.metrics.Counter(MetricRejectedTotal, 1)
	} else {
		f.metrics.Counter(MetricAppliedTotal, 1)
	}
	return res
}

// publishDirtyLocked publishes the changed records' count and inline bytes for throttle.
func (f *FSM) publishDirtyLocked() (n, b int64) {
	n, b = int64(f.dirty.Len()+f.frozenLen), f.dirtyBytes+f.frozenBytes
	f.dirtyN.Store(n)
	f.dirtyB.Store(b)
	return n, b
}

// overDirty reports whether n changed records holding b inline bytes reach the bounds divided
// by div (1: the bounds, 2: half of them).
func (f *FSM) overDirty(n, b int64, div int) bool {
	return f.maxDirty > 0 && n >= int64(max(f.maxDirty/div, 1)) ||
		f.maxDirtyBytes > 0 && b >= max(f.maxDirtyBytes/int64(div), 1)
}

// afterApplyLocked publishes the dirty count and asks for a snapshot when it is due.
func (f *FSM) afterApplyLocked() {
	if n, b := f.publishDirtyLocked(); f.overDirty(n, max(b, f.writtenBytes), 2) {
		f.snapMu.Lock()
		idle := f.chain.outstanding == 0
		f.snapMu.Unlock()
		if idle {
			select {
			case f.want <- struct{}{}:
			default:
			}
		}
	}
}

// throttle is the back-pressure: while the changed records are at MaxDirty and a snapshot is
// being persisted, wait for it to finish. It never waits for a snapshot that has not been
// taken: raft takes snapshots on this very goroutine.
func (f *FSM) throttle() {
	if f.maxDirty == 0 && f.maxDirtyBytes == 0 {
		return
	}
	var start time.Time
	for {
		f.snapMu.Lock()
		if !f.overDirty(f.dirtyN.Load(), f.dirtyB.Load(), 1) || f.chain.outstanding == 0 {
			f.snapMu.Unlock()
			break
		}
		done := f.snapDone
		f.snapMu.Unlock()
		if start.IsZero() {
			start = time.Now()
			if f.stallHook != nil {
				f.stallHook()
			}
		}
		<-done
	}
	if !start.IsZero() {
		f.metrics.Observe(MetricApplyStallSeconds, time.Since(start).Seconds())
	}
}

func (f *FSM) reportState() {
	f.mu.RLock()
	applied := f.applied
	b, o, u := f.res.buckets.Len(), f.counts.objects, f.counts.uploads
	f.mu.RUnlock()
	f.metrics.Gauge(MetricAppliedIndex, float64(applied))
	f.metrics.Gauge(MetricBuckets, float64(b))
	f.metrics.Gauge(MetricObjects, float64(o))
	f.metrics.Gauge(MetricUploads, float64(u))
	f.metrics.Gauge(MetricDirtyEntries, float64(f.dirtyN.Load()))
	f.metrics.Gauge(MetricDirtyBytes, float64(f.dirtyB.Load()))
	if f.cache != nil {
		n, b := f.cache.usage()
		f.metrics.Gauge(MetricCacheEntries, float64(n))
		f.metrics.Gauge(MetricCacheBytes, float64(b))
	}
}

// MemoryStats describes what the FSM holds in memory.
type MemoryStats struct {
	// Dirty is the number of records changed since the newest persisted snapshot.
	Dirty int
	// DirtyBytes is the inline blob bytes among them.
	DirtyBytes int64
	// Cached is the number of clean records in the cache; CachedBytes what the cache counts
	// against its byte bound.
	Cached      int
	CachedBytes int64
	// Snapshot is the ID of the snapshot whose runs hold the clean state, "" when the
	// whole state is in memory.
	Snapshot string
}

// MemoryStats returns what the FSM holds in memory now.
func (f *FSM) MemoryStats() MemoryStats {
	f.mu.RLock()
	defer f.mu.RUnlock()
	st := MemoryStats{Dirty: int(f.dirtyN.Load()), DirtyBytes: f.dirtyB.Load()}
	if f.cache != nil {
		n, b := f.cache.usage()
		st.Cached, st.CachedBytes = n, b
	}
	if f.base.rd != nil {
		st.Snapshot = f.base.rd.ID()
	}
	return st
}

// AppliedIndex returns the raft index of the last entry applied (or restored).
func (f *FSM) AppliedIndex() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.applied
}

// Counts returns the number of buckets, objects and open uploads.
func (f *FSM) Counts() (buckets, objects, uploads int) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.res.buckets.Len(), int(f.counts.objects), int(f.counts.uploads)
}

// Bucket returns one bucket; NoSuchBucket if it does not exist.
func (f *FSM) Bucket(name string) (BucketInfo, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	b, ok := f.res.bucket(name)
	if !ok {
		return BucketInfo{}, newErr(CodeNoSuchBucket, "bucket %q does not exist", name)
	}
	return *b, nil
}

// Buckets returns every bucket in name order.
func (f *FSM) Buckets() []BucketInfo {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]BucketInfo, 0, f.res.buckets.Len())
	f.res.buckets.Ascend(func(b *BucketInfo) bool { out = append(out, *b); return true })
	return out
}

// bucketCheck returns a check for readGet: NoSuchBucket unless bucket exists.
func (f *FSM) bucketCheck(bucket string) func() error {
	return func() error {
		if _, ok := f.res.bucket(bucket); !ok {
			return newErr(CodeNoSuchBucket, "bucket %q does not exist", bucket)
		}
		return nil
	}
}

// Object returns the current version of an object; NoSuchBucket or NoSuchKey (as *Error) if
// absent — NoSuchKey with DeleteMarker set when the current version is a delete marker.
// Other errors are failures to read the snapshot runs.
func (f *FSM) Object(bucket, key string) (ObjectInfo, error) {
	rec, ok, fresh, err := f.readGet(objectKey(bucket, key), f.bucketCheck(bucket))
	if err != nil {
		return ObjectInfo{}, err
	}
	if !ok {
		return ObjectInfo{}, newErr(CodeNoSuchKey, "key %q does not exist", key)
	}
	r := rec.(*objectRec)
	if r.DeleteMarker {
		return ObjectInfo{}, markerErr(CodeNoSuchKey, &r.ObjectInfo)
	}
	return r.info(fresh), nil
}

// Upload returns one open upload; NoSuchBucket or NoSuchUpload if absent.
func (f *FSM) Upload(bucket, key, uploadID string) (UploadInfo, error) {
	rec, ok, _, err := f.readGet(uploadKey(bucket, key, uploadID), f.bucketCheck(bucket))
	if err != nil {
		return UploadInfo{}, err
	}
	if !ok {
		return UploadInfo{}, newErr(CodeNoSuchUpload, "upload %q does not exist", uploadID)
	}
	return rec.(*UploadInfo).clone(), nil
}

// Nodes returns every registered node in ID order.
func (f *FSM) Nodes() []NodeInfo {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]NodeInfo, 0, f.res.nodes.Len())
	f.res.nodes.Ascend(func(n *NodeInfo) bool { out = append(out, n.clone()); return true })
	return out
}

// SettingClusterID is the setting that holds the cluster ID (internal/trust): written once,
// by the first leader, and never changed; every member compares it with its own.
const SettingClusterID = "cluster.id"

// writeOnce reports whether a setting may be set only once: a SetSetting with another value,
// or removing it, is rejected with CodeSettingImmutable; the same value again is a no-op.
func writeOnce(key string) bool { return key == SettingClusterID }

// Setting returns a cluster setting and whether it is set.
func (f *FSM) Setting(key string) (string, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	p, ok := f.res.settings.Get(&Pair{Key: key})
	if !ok {
		return "", false
	}
	return p.Value, true
}

// Settings returns every cluster setting in key order.
func (f *FSM) Settings() []Pair {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]Pair, 0, f.res.settings.Len())
	f.res.settings.Ascend(func(p *Pair) bool { out = append(out, *p); return true })
	return out
}
