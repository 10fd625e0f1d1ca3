package fsm

import (
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

var (
	_ raft.FSM         = (*FSM)(nil)
	_ raft.BatchingFSM = (*FSM)(nil)
)

// Options configures an FSM. The zero value is valid.
type Options struct {
	Metrics Metrics // nil records nothing
}

// Result is what Apply returns for a LogCommand entry (raft's ApplyFuture.Response()). It is
// never nil for a command; for other entry types Apply returns nil.
type Result struct {
	// Err is the rejection; nil means the event was applied. A rejected event changed nothing.
	Err *Error
	// Bucket is the bucket created or deleted.
	Bucket *BucketInfo
	// Object is the object written (PutObject, CompleteMultipartUpload) or removed
	// (DeleteObject).
	Object *ObjectInfo
	// Upload is the upload created, completed or aborted.
	Upload *UploadInfo
	// Part is the part recorded by PutPart.
	Part *PartInfo
	// Deleted has one entry per key of a DeleteObjects, in request order.
	Deleted []DeleteResult
	// FreedBlobs are the blob IDs that no object or part references any more since this
	// event: the garbage collector may delete their bytes. Deterministic order.
	FreedBlobs []string
}

// DeleteResult is the outcome for one key of a DeleteObjects.
type DeleteResult struct {
	Key string
	Err *Error // nil: deleted; NoSuchKey, KeyTooLongError otherwise
}

// FSM is the metadata state machine: a fold of committed events into btree indexes.
//
// Apply, ApplyBatch, Snapshot and Restore are called by raft from one goroutine; the read
// methods may be called from any goroutine at any time. FSMSnapshot.Persist runs concurrently
// with Apply on a point-in-time clone.
type FSM struct {
	metrics Metrics

	// mu guards the fields below it. Apply holds it for writing; readers for reading.
	mu      sync.RWMutex
	st      *state
	applied uint64
	// refs counts the references from objects and parts to each blob ID. Derived state:
	// rebuilt by Restore, never persisted, never iterated (so map order cannot leak into
	// results).
	refs map[string]int
	// dirty is the set of snapshot keys changed since the last Snapshot().
	dirty map[string]struct{}
	// scratch is a reusable buffer for record size checks (Apply only).
	scratch []byte

	// snapMu guards the snapshot chain; see snapshot.go.
	snapMu sync.Mutex
	chain  chainState
}

// New returns an empty FSM.
func New(opts Options) *FSM {
	m := opts.Metrics
	if m == nil {
		m = nopMetrics{}
	}
	return &FSM{metrics: m, st: newState(), refs: map[string]int{}, dirty: map[string]struct{}{}}
}

// Apply applies one committed log entry. For a LogCommand it returns a *Result; other entry
// types only advance the applied index and return nil.
func (f *FSM) Apply(l *raft.Log) interface{} {
	f.mu.Lock()
	res := f.applyLocked(l)
	f.mu.Unlock()
	f.reportState()
	if res == nil {
		return nil
	}
	return res
}

// ApplyBatch applies committed entries in order under one lock acquisition. Raft passes
// LogCommand and LogConfiguration entries; the response for a configuration entry is nil.
func (f *FSM) ApplyBatch(logs []*raft.Log) []interface{} {
	out := make([]interface{}, len(logs))
	f.mu.Lock()
	for i, l := range logs {
		if res := f.applyLocked(l); res != nil {
			out[i] = res
		}
	}
	f.mu.Unlock()
	f.reportState()
	return out
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

func (f *FSM) reportState() {
	f.mu.RLock()
	applied := f.applied
	b, o, u := f.st.buckets.Len(), f.st.objects.Len(), f.st.uploads.Len()
	f.mu.RUnlock()
	f.metrics.Gauge(MetricAppliedIndex, float64(applied))
	f.metrics.Gauge(MetricBuckets, float64(b))
	f.metrics.Gauge(MetricObjects, float64(o))
	f.metrics.Gauge(MetricUploads, float64(u))
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
	return f.st.buckets.Len(), f.st.objects.Len(), f.st.uploads.Len()
}

// Bucket returns one bucket; NoSuchBucket if it does not exist.
func (f *FSM) Bucket(name string) (BucketInfo, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	b, ok := f.st.bucket(name)
	if !ok {
		return BucketInfo{}, newErr(CodeNoSuchBucket, "bucket %q does not exist", name)
	}
	return *b, nil
}

// Buckets returns every bucket in name order.
func (f *FSM) Buckets() []BucketInfo {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]BucketInfo, 0, f.st.buckets.Len())
	f.st.buckets.Ascend(func(b *BucketInfo) bool { out = append(out, *b); return true })
	return out
}

// Object returns one object; NoSuchBucket or NoSuchKey (as *Error) if absent.
func (f *FSM) Object(bucket, key string) (ObjectInfo, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if _, ok := f.st.bucket(bucket); !ok {
		return ObjectInfo{}, newErr(CodeNoSuchBucket, "bucket %q does not exist", bucket)
	}
	o, ok := f.st.object(bucket, key)
	if !ok {
		return ObjectInfo{}, newErr(CodeNoSuchKey, "key %q does not exist", key)
	}
	return o.clone(), nil
}

// Upload returns one open upload; NoSuchBucket or NoSuchUpload if absent.
func (f *FSM) Upload(bucket, key, uploadID string) (UploadInfo, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if _, ok := f.st.bucket(bucket); !ok {
		return UploadInfo{}, newErr(CodeNoSuchBucket, "bucket %q does not exist", bucket)
	}
	u, ok := f.st.upload(bucket, key, uploadID)
	if !ok {
		return UploadInfo{}, newErr(CodeNoSuchUpload, "upload %q does not exist", uploadID)
	}
	return u.clone(), nil
}

// Nodes returns every registered node in ID order.
func (f *FSM) Nodes() []NodeInfo {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]NodeInfo, 0, f.st.nodes.Len())
	f.st.nodes.Ascend(func(n *NodeInfo) bool { out = append(out, n.clone()); return true })
	return out
}

// Setting returns a cluster setting and whether it is set.
func (f *FSM) Setting(key string) (string, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	p, ok := f.st.settings.Get(&Pair{Key: key})
	if !ok {
		return "", false
	}
	return p.Value, true
}

// Settings returns every cluster setting in key order.
func (f *FSM) Settings() []Pair {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]Pair, 0, f.st.settings.Len())
	f.st.settings.Ascend(func(p *Pair) bool { out = append(out, *p); return true })
	return out
}
