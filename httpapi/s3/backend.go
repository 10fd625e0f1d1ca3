package s3

import (
	"context"
	"errors"
	"io"

	"github.com/nebulaio/nebulaio/fsm"
)

// Backend is everything the handlers need from a node: the metadata write and read paths and
// the data plane. NewBackend builds the one every node runs (a single node is a cluster of
// one); tests may wrap it to inject faults.
type Backend interface {
	// Propose replicates ev through raft and returns the FSM's result once it is applied.
	// An error means the outcome is unknown (no quorum, leadership lost, ctx done); a
	// rejection by the FSM is a nil error and a Result with Err set.
	Propose(ctx context.Context, ev fsm.Event) (*fsm.Result, error)
	// Sync returns once the local metadata reflects every write acknowledged before the call
	// (a linearizable read barrier).
	Sync(ctx context.Context) error
	Metadata
	Blobs
}

// Metadata is the read side of the FSM; *fsm.FSM satisfies it.
type Metadata interface {
	Bucket(name string) (fsm.BucketInfo, error)
	Buckets() []fsm.BucketInfo
	ListBuckets(p fsm.BucketListParams) (fsm.BucketListResult, error)
	BucketTagging(bucket string) ([]fsm.Pair, error)
	// BucketLifecycle and BucketCors return a bucket's rules (NoSuchLifecycleConfiguration,
	// NoSuchCORSConfiguration when it has none).
	BucketLifecycle(bucket string) ([]fsm.LifecycleRule, error)
	BucketCors(bucket string) ([]fsm.CORSRule, error)
	// BucketEncryption returns a bucket's default encryption
	// (ServerSideEncryptionConfigurationNotFoundError when it has none).
	BucketEncryption(bucket string) (fsm.BucketEncryption, error)
	Object(bucket, key string) (fsm.ObjectInfo, error)
	// ObjectVersion is Object for one version ("" the current one, "null" the null version).
	ObjectVersion(bucket, key, versionID string) (fsm.ObjectInfo, error)
	ListObjectVersions(bucket string, p fsm.VersionListParams) (fsm.VersionListResult, error)
	Upload(bucket, key, uploadID string) (fsm.UploadInfo, error)
	// BlobData returns the bytes of an inline blob (an error wrapping fsm.ErrNoSuchBlob when
	// there is none, e.g. freed since its metadata was read). The caller must not modify them.
	BlobData(id string) ([]byte, error)
	ListObjects(bucket string, p fsm.ListParams) (fsm.ListResult, error)
	ListUploads(bucket string, p fsm.UploadListParams) (fsm.UploadListResult, error)
	ListParts(bucket, key, uploadID string, p fsm.PartListParams) (fsm.PartListResult, error)
	// Identities and access: the user holding an access key (NoSuchUser), a named identity
	// policy (NoSuchPolicy), a bucket's policy, canned ACL and public access block
	// (NoSuchBucket).
	UserByAccessKey(accessKey string) (fsm.UserInfo, error)
	IAMPolicy(name string) (fsm.PolicyInfo, error)
	BucketAccess(bucket string) (fsm.BucketAccess, error)
}

var _ Metadata = (*fsm.FSM)(nil)

// Blobs is the data plane as the handlers use it, its errors already in S3 terms. The
// handlers do no storage bookkeeping: blobs that committed events free are deleted by every
// storage node's data plane (see package dataplane).
type Blobs interface {
	// PutBlob stores r's bytes durably under id (on a write quorum of its replicas, each
	// fsynced) and returns their length and MD5 and the nodes that hold them. size is the
	// expected length or -1; wantMD5, if not nil, the expected MD5 (a mismatch is BadDigest,
	// a length mismatch IncompleteBody; no quorum or no storage node is a 503). On any error
	// — including an error from r — nothing that will last is left under id.
	PutBlob(ctx context.Context, id string, r io.Reader, size int64, wantMD5 []byte) (n int64, md5 []byte, nodes []string, err error)
	// OpenBlob reads [offset, offset+length) of a blob (length < 0: to its end); nodes are
	// the holders the metadata records. Reads fail with an error wrapping ErrBlobCorrupt
	// rather than return bytes that fail their checksum; ErrBlobNotFound means no node has a
	// copy; a copy that may be on a node that cannot be reached is ErrDataElsewhere (503).
	OpenBlob(ctx context.Context, id string, nodes []string, offset, length int64) (io.ReadCloser, error)
	// NewBlobID returns a fresh blob ID for a blob of size bytes (-1: unknown): the data plane
	// chooses it, since an erasure-coded blob carries its layout in its ID.
	NewBlobID(size int64) string
	// DiscardBlob deletes a blob this request wrote on nodes that nothing will reference
	// (its event was rejected). Best effort: what it misses the garbage collectors take.
	DiscardBlob(id string, nodes []string)
}

// Blob errors a Blobs implementation wraps.
var (
	// ErrBlobCorrupt is returned by a blob read whose bytes fail their stored checksum (every
	// copy that could be read).
	ErrBlobCorrupt = errors.New("s3: blob data corrupt")
	// ErrBlobNotFound is returned by OpenBlob for a blob no node holds.
	ErrBlobNotFound = errors.New("s3: blob not found")
)
