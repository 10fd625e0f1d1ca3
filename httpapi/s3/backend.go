package s3

import (
	"context"
	"errors"
	"io"

	"github.com/nebulaio/nebulaio/fsm"
)

// Backend is everything the handlers need from a node: the metadata write and read paths and
// the node's blob store. NewEngineBackend builds the production one; tests may wrap it to
// inject faults.
type Backend interface {
	// Propose replicates ev through raft and returns the FSM's result once it is applied.
	// An error means the outcome is unknown (no quorum, leadership lost, ctx done); a
	// rejection by the FSM is a nil error and a Result with Err set.
	Propose(ctx context.Context, ev fsm.Event) (*fsm.Result, error)
	// Sync returns once the local metadata reflects every write acknowledged before the call
	// (a linearizable read barrier).
	Sync(ctx context.Context) error
	// NodeID names this node in the blob placement of objects it writes.
	NodeID() string
	Metadata
	BlobStore
}

// Metadata is the read side of the FSM; *fsm.FSM satisfies it.
type Metadata interface {
	Bucket(name string) (fsm.BucketInfo, error)
	Buckets() []fsm.BucketInfo
	Object(bucket, key string) (fsm.ObjectInfo, error)
	Upload(bucket, key, uploadID string) (fsm.UploadInfo, error)
	ListObjects(bucket string, p fsm.ListParams) (fsm.ListResult, error)
	ListUploads(bucket string, p fsm.UploadListParams) (fsm.UploadListResult, error)
	ListParts(bucket, key, uploadID string, p fsm.PartListParams) (fsm.PartListResult, error)
}

var _ Metadata = (*fsm.FSM)(nil)

// BlobStore holds object bytes on this node.
type BlobStore interface {
	// PutBlob stores r's bytes durably under id (fsynced and published before it returns)
	// and returns their length and MD5. size is the expected length or -1; wantMD5, if not
	// nil, the expected MD5 (a mismatch is BadDigest, a length mismatch IncompleteBody). On
	// any error — including an error from r — nothing is left under id.
	// nodes are the nodes that now hold the blob (this one, or — on a node that holds no
	// data — the storage node the bytes were sent to).
	PutBlob(ctx context.Context, id string, r io.Reader, size int64, wantMD5 []byte) (n int64, md5 []byte, nodes []string, err error)
	// OpenBlob opens a stored blob for reading. Reads fail with an error wrapping
	// ErrBlobCorrupt rather than return bytes that fail their checksum.
	// nodes are the nodes the metadata says hold the blob: a backend that can reach other
	// nodes streams a blob it does not hold locally from one of them.
	OpenBlob(id string, nodes []string) (io.ReadSeekCloser, error)
	// DeleteBlob removes a blob; a missing blob is not an error.
	DeleteBlob(id string) error
}

// Blob store errors a BlobStore implementation wraps.
var (
	// ErrBlobCorrupt is returned by a blob read whose bytes fail their stored checksum.
	ErrBlobCorrupt = errors.New("s3: blob data corrupt")
	// ErrBlobNotFound is returned by OpenBlob for an ID the store does not hold.
	ErrBlobNotFound = errors.New("s3: blob not found")
)
