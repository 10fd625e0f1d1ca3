package fsm

import (
	"slices"
	"sort"
)

// Pair is one name/value pair. Lists of pairs (user metadata, checksums, node addresses) are
// kept sorted by Key with no duplicates, so that their encoding is canonical.
type Pair struct {
	Key   string
	Value string
}

// SortedPairs returns the entries of m as pairs sorted by key.
func SortedPairs(m map[string]string) []Pair {
	if len(m) == 0 {
		return nil
	}
	out := make([]Pair, 0, len(m))
	for k, v := range m {
		out = append(out, Pair{Key: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Blob is one piece of an object's bytes as placed by the data plane: its ID, its length and
// the IDs of the nodes that hold a copy — or, for an inline blob, bytes the metadata holds.
//
// An inline blob (Inline set) lives in the FSM, not in the data plane: it has no Nodes, and
// its bytes are a record of their own (see doc.go, "Inline blobs"), read with FSM.BlobData.
// In an event (PutObject, PutPart) an inline blob carries its bytes in Data (not nil; Size is
// len(Data)); a blob read back from the FSM (Object, ObjectVersion, listings, Upload parts,
// WalkBlobs, results) has Inline set and Data nil, so that no metadata read carries object
// bytes.
type Blob struct {
	ID     string
	Size   uint64
	Nodes  []string
	Inline bool
	Data   []byte
}

// ObjectMeta is the metadata a client sets on an object (PUT headers, or at
// CreateMultipartUpload for the object made on completion). Every field is stored and
// returned byte for byte as the proposer gave it: the FSM never canonicalises a header value
// or a metadata name (the S3 layer passes user metadata names in lower case, as S3 stores them).
type ObjectMeta struct {
	ContentType        string
	ContentEncoding    string
	ContentDisposition string
	CacheControl       string
	UserMetadata       []Pair // sorted by key, unique
	ContentLanguage    string
	Expires            string // the Expires header as sent, not parsed
}

// BucketInfo describes one bucket.
type BucketInfo struct {
	Name    string
	Owner   string
	Created int64 // Unix nanoseconds, chosen by the proposer
	// Versioning is the bucket's versioning state: "" (never enabled: unversioned),
	// VersioningEnabled or VersioningSuspended. Once set it never returns to "".
	Versioning string
	// Region is the LocationConstraint the bucket was created with; "" when none was given
	// (the endpoint's own region). From version 2 of CreateBucket and version 3 of the
	// bucket record.
	Region string
	// ObjectLock is set once object lock is enabled (at creation, or by
	// PutObjectLockConfiguration on a versioning-enabled bucket); it is never cleared, and
	// the bucket's versioning stays Enabled. DefaultRetention is the retention given to new
	// versions that ask for none (zero: none). From version 3 of CreateBucket and version 4
	// of the bucket record.
	ObjectLock       bool
	DefaultRetention DefaultRetention
}

// DefaultRetention is a bucket's default object lock retention: Mode (LockGovernance or
// LockCompliance) for Days or Years (exactly one of them is set) from a version's creation.
type DefaultRetention struct {
	Mode  string
	Days  uint32
	Years uint32
}

// Object lock modes (Retention.Mode, DefaultRetention.Mode) and legal hold states.
const (
	LockGovernance = "GOVERNANCE"
	LockCompliance = "COMPLIANCE"
	LegalHoldOn    = "ON"
	LegalHoldOff   = "OFF"
)

// Retention is one object version's retention: Mode (LockGovernance or LockCompliance, ""
// for none) until RetainUntil (Unix nanoseconds, 0 with no mode).
type Retention struct {
	Mode        string
	RetainUntil int64
}

// Bucket versioning states (BucketInfo.Versioning, SetBucketVersioning.Status).
const (
	VersioningEnabled   = "Enabled"
	VersioningSuspended = "Suspended"
)

// ObjectInfo describes one object.
type ObjectInfo struct {
	Bucket    string
	Key       string
	Size      uint64
	ETag      string // hex MD5, or hex(md5(part md5s))-N for multipart objects; no quotes
	Meta      ObjectMeta
	Checksums []Pair // algorithm → value, sorted by algorithm
	Blobs     []Blob // in byte order
	ModTime   int64  // Unix nanoseconds, chosen by the proposer
	// VersionID is NullVersionID ("null") for the null version (every object of an
	// unversioned bucket, and what a suspended bucket writes), else the version ID the
	// version was given (see doc.go, "Versions").
	VersionID string
	// PartsCount is the number of parts of an object made by CompleteMultipartUpload, else 0.
	PartsCount uint32
	// DeleteMarker is set on a delete marker: a version with no data (Size 0, no blobs) that
	// makes its key read as deleted while it is the current version.
	DeleteMarker bool
	// Tags are the version's object tags, sorted by key (at most MaxObjectTags).
	Tags []Pair
	// Retention and LegalHold ("", LegalHoldOn or LegalHoldOff: "" when never set) are the
	// version's object lock (see doc.go, "Object lock"). From version 3 of the object record.
	Retention Retention
	LegalHold string
	// Encryption is how the version's bytes are encrypted (zero: not encrypted); Size is the
	// plaintext's, each blob's Size what is stored. From version 4 of the object record.
	Encryption Encryption
}

// UploadInfo describes one open multipart upload.
type UploadInfo struct {
	Bucket    string
	Key       string
	UploadID  string
	Initiated int64 // Unix nanoseconds
	Meta      ObjectMeta
	// Tags are given to the object the completion makes.
	Tags []Pair
	// ChecksumAlgorithm and ChecksumType are what CreateMultipartUpload declared (S3's
	// x-amz-checksum-algorithm, x-amz-checksum-type); "" when not declared. The FSM stores
	// them; the S3 layer gives them meaning. From version 3 of the event and the record.
	ChecksumAlgorithm string
	ChecksumType      string
	// Retention and LegalHold are given to the object the completion makes (the request's
	// x-amz-object-lock-* headers); without them the bucket's default retention applies at
	// completion. From version 4 of the event and the record.
	Retention Retention
	LegalHold string
	// Encryption is how every part is encrypted, and so the object the completion makes.
	// Part sizes (PartInfo.Size) are plaintext sizes, blob sizes what is stored. From version
	// 5 of the event and the record.
	Encryption Encryption
}

// PartInfo describes one uploaded part of a multipart upload.
type PartInfo struct {
	PartNumber uint32 // 1..MaxPartNumber
	Size       uint64
	ETag       string // hex MD5 of the part, no quotes
	Checksums  []Pair
	Blobs      []Blob
	ModTime    int64
}

// NodeInfo describes one registered cluster node.
type NodeInfo struct {
	ID        string
	Role      string // "hybrid", "management" or "storage"; not interpreted by the FSM
	Addresses []Pair // e.g. "raft" → "10.0.1.10:9003", sorted by name
}

// clone helpers: values handed to callers never share slices with the indexes.

func clonePairs(p []Pair) []Pair { return slices.Clone(p) }

func cloneBlobs(bs []Blob) []Blob {
	if bs == nil {
		return nil
	}
	out := make([]Blob, len(bs))
	for i, b := range bs {
		out[i] = Blob{ID: b.ID, Size: b.Size, Nodes: slices.Clone(b.Nodes), Inline: b.Inline}
	}
	return out
}

func (m ObjectMeta) clone() ObjectMeta {
	m.UserMetadata = clonePairs(m.UserMetadata)
	return m
}

func (o ObjectInfo) clone() ObjectInfo {
	o.Meta = o.Meta.clone()
	o.Checksums = clonePairs(o.Checksums)
	o.Blobs = cloneBlobs(o.Blobs)
	o.Tags = clonePairs(o.Tags)
	return o
}

func (u UploadInfo) clone() UploadInfo {
	u.Meta = u.Meta.clone()
	u.Tags = clonePairs(u.Tags)
	return u
}

func (p PartInfo) clone() PartInfo {
	p.Checksums = clonePairs(p.Checksums)
	p.Blobs = cloneBlobs(p.Blobs)
	return p
}

func (n NodeInfo) clone() NodeInfo {
	n.Addresses = clonePairs(n.Addresses)
	return n
}
