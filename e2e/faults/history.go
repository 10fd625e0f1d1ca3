package main

import (
	"encoding/json"
	"os"
	"sort"
	"sync"
	"time"
)

// outcome is what a client can know of an operation it issued.
type outcome string

const (
	// ok: the server answered success (for a read: the object, or NoSuchKey).
	ok outcome = "ok"
	// failed: the operation certainly did not take effect: the connection was refused (nothing
	// was sent), the server refused it with a 4xx before acting (bad signature, clock skew,
	// ...), or a multipart upload was never completed because an earlier step failed.
	failed outcome = "failed"
	// unknown: it may or may not take effect, now or later: a 5xx (503 after a lost quorum
	// may still commit: engine/doc.go), a timeout, a connection broken mid-request.
	unknown outcome = "unknown"
)

// kind of operation.
type kind string

const (
	opPut  kind = "put"  // PutObject of a whole value
	opMPU  kind = "mpu"  // a multipart upload of a value (create, two parts, complete)
	opDel  kind = "del"  // DeleteObject
	opGet  kind = "get"  // GetObject, bytes checked
	opList kind = "list" // ListObjectsV2 of a prefix, every page
)

func (k kind) write() bool { return k == opPut || k == opMPU || k == opDel }

// op is one operation of the history. Times are nanoseconds since the run's start.
type op struct {
	Worker  int      `json:"worker"` // load worker; final readers are numbered after them
	Node    int      `json:"node"`   // index of the node the request went to
	Kind    kind     `json:"kind"`
	Key     string   `json:"key,omitempty"`
	Version string   `json:"version,omitempty"` // written, or read (empty: NoSuchKey)
	Size    int      `json:"size,omitempty"`
	Call    int64    `json:"call"`
	Return  int64    `json:"return"`
	Outcome outcome  `json:"outcome"`
	Err     string   `json:"err,omitempty"`
	Code    string   `json:"code,omitempty"`    // S3 error code, if any
	Corrupt string   `json:"corrupt,omitempty"` // a read's bytes failed checkValue
	Listed  []string `json:"listed,omitempty"`  // keys a successful listing returned
	Prefix  string   `json:"prefix,omitempty"`  // of a listing
	Final   bool     `json:"final,omitempty"`   // a read of the final check, after convergence
}

// history records operations from many goroutines.
type history struct {
	t0  time.Time
	mu  sync.Mutex
	ops []op
}

func newHistory() *history { return &history{t0: time.Now()} }

// now is the current time on the history's clock.
func (h *history) now() int64 { return int64(time.Since(h.t0)) }

func (h *history) add(o op) {
	h.mu.Lock()
	h.ops = append(h.ops, o)
	h.mu.Unlock()
}

// snapshot returns the operations recorded so far, ordered by call time.
func (h *history) snapshot() []op {
	h.mu.Lock()
	out := append([]op(nil), h.ops...)
	h.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].Call < out[j].Call })
	return out
}

// writeJSONL writes the history, one operation per line, for a post-mortem.
func (h *history) writeJSONL(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for _, o := range h.snapshot() {
		if err := enc.Encode(o); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}
