package fsm

import "fmt"

// EventType is the first byte of an encoded event.
type EventType uint8

// Event types. The numbers are part of the log format: never reuse or renumber one.
const (
	TypeCreateBucket            EventType = 1
	TypeDeleteBucket            EventType = 2
	TypePutObject               EventType = 3
	TypeDeleteObject            EventType = 4
	TypeDeleteObjects           EventType = 5
	TypeCreateMultipartUpload   EventType = 6
	TypePutPart                 EventType = 7
	TypeCompleteMultipartUpload EventType = 8
	TypeAbortMultipartUpload    EventType = 9
	TypeRegisterNode            EventType = 10
	TypeRetireNode              EventType = 11
	TypeSetSetting              EventType = 12
	TypeSetBucketVersioning     EventType = 13
	TypePutObjectTagging        EventType = 14
	TypePutBucketTagging        EventType = 15
	// Added with object lock, lifecycle rules and CORS.
	TypePutObjectLockConfiguration EventType = 16
	TypePutObjectRetention         EventType = 17
	TypePutObjectLegalHold         EventType = 18
	TypePutBucketLifecycle         EventType = 19
	TypePutBucketCors              EventType = 20
	TypeLifecycleExpire            EventType = 21
	// Added with the operator's membership decisions (issue 16).
	TypeMemberChange EventType = 22
	// Added with encryption at rest. 23..29 are left to the events built at the same time on
	// other branches (identities), so that merging renumbers nothing.
	TypePutBucketEncryption EventType = 30
)

var typeNames = map[EventType]string{
	TypeCreateBucket: "CreateBucket", TypeDeleteBucket: "DeleteBucket",
	TypePutObject: "PutObject", TypeDeleteObject: "DeleteObject", TypeDeleteObjects: "DeleteObjects",
	TypeCreateMultipartUpload: "CreateMultipartUpload", TypePutPart: "PutPart",
	TypeCompleteMultipartUpload: "CompleteMultipartUpload", TypeAbortMultipartUpload: "AbortMultipartUpload",
	TypeRegisterNode: "RegisterNode", TypeRetireNode: "RetireNode", TypeSetSetting: "SetSetting",
	TypeSetBucketVersioning: "SetBucketVersioning", TypePutObjectTagging: "PutObjectTagging",
	TypePutBucketTagging:           "PutBucketTagging",
	TypePutObjectLockConfiguration: "PutObjectLockConfiguration", TypePutObjectRetention: "PutObjectRetention",
	TypePutObjectLegalHold: "PutObjectLegalHold", TypePutBucketLifecycle: "PutBucketLifecycle",
	TypePutBucketCors: "PutBucketCors", TypeLifecycleExpire: "LifecycleExpire",
	TypeMemberChange:        "MemberChange",
	TypePutBucketEncryption: "PutBucketEncryption",
}

func (t EventType) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	if s, ok := iamTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("EventType(%d)", uint8(t))
}

// eventVersion is the body version every event type was first written with. Each type has
// its own version byte so that one event can change its body without touching the others.
// Types that grew fields have a version 2 (eventVersionExt): the version 1 body followed by
// the new fields; some have a version 3 (eventVersionExt3): the version 2 body followed by
// more fields, some a version 4 (the version 3 body and more) and one a version 5. Encode writes the lowest
// version that holds the event (versionOf), so an event that version 1 can hold has one
// encoding (the one it always had); an encoding at a version whose own fields are all empty is
// therefore not canonical, and Decode rejects it. A version N body carries the fields of every
// lower version even when they are all empty.
const (
	eventVersion     = 1
	eventVersionExt  = 2
	eventVersionExt3 = 3
	eventVersionExt4 = 4
	eventVersionExt5 = 5
)

// extended is implemented by the event types that have a version 2 body.
type extended interface {
	hasExt() bool // some field that only version 2 carries is set
	encodeExt(e *encoder)
	decodeExt(d *decoder)
}

// extended3 is implemented by the event types that have a version 3 body.
type extended3 interface {
	extended
	hasExt3() bool // some field that only version 3 carries is set
	encodeExt3(e *encoder)
	decodeExt3(d *decoder)
}

// extended4 is implemented by the event types that have a version 4 body.
type extended4 interface {
	extended3
	hasExt4() bool // some field that only version 4 carries is set
	encodeExt4(e *encoder)
	decodeExt4(d *decoder)
}

// extended5 is implemented by the event types that have a version 5 body.
type extended5 interface {
	extended4
	hasExt5() bool // some field that only version 5 carries is set
	encodeExt5(e *encoder)
	decodeExt5(d *decoder)
}

// versionOf is the lowest body version that holds ev.
func versionOf(ev Event) uint8 {
	if x, ok := ev.(extended5); ok && x.hasExt5() {
		return eventVersionExt5
	}
	if x, ok := ev.(extended4); ok && x.hasExt4() {
		return eventVersionExt4
	}
	if x, ok := ev.(extended3); ok && x.hasExt3() {
		return eventVersionExt3
	}
	if x, ok := ev.(extended); ok && x.hasExt() {
		return eventVersionExt
	}
	return eventVersion
}

// newestVersion is the newest body version of ev's type.
func newestVersion(ev Event) uint8 {
	switch ev.(type) {
	case extended5:
		return eventVersionExt5
	case extended4:
		return eventVersionExt4
	case extended3:
		return eventVersionExt3
	case extended:
		return eventVersionExt
	}
	return eventVersion
}

// Event is one state change proposed through raft. The set is closed: only the types of this
// package implement it. Everything Apply needs (timestamps, IDs) is in the event.
type Event interface {
	Type() EventType
	encodeBody(e *encoder)
	decodeBody(d *decoder)
}

// CreateBucket creates a bucket. Rejected with BucketAlreadyOwnedByYou (same owner) or
// BucketAlreadyExists (other owner) when the name is taken, InvalidBucketName when the name
// is not a valid S3 bucket name.
type CreateBucket struct {
	Name    string
	Owner   string
	Created int64 // Unix nanoseconds
	// Version 2 field: the LocationConstraint the bucket is created with; "" for none.
	Region string
	// Version 3 field: create the bucket with object lock enabled, and so with versioning
	// Enabled (x-amz-bucket-object-lock-enabled: true).
	ObjectLock bool
}

// DeleteBucket deletes an empty bucket. Rejected with NoSuchBucket, or BucketNotEmpty while
// the bucket holds objects or open multipart uploads.
type DeleteBucket struct {
	Name string
}

// PutObject writes a new version of an object as the bucket's versioning state says (see
// doc.go, "Versions"): unversioned and suspended buckets replace the null version, enabled
// buckets add a version. The blobs of a version it removes are listed in Result.FreedBlobs;
// a rejected PutObject lists its own blobs there (nothing references them).
//
// Conditions (checked against the key's current version when the event is applied, so that
// of racing conditional writers exactly one can win): IfNoneMatch "*" rejects with
// PreconditionFailed when the key has a current version that is not a delete marker; IfMatch
// (an ETag, a comma-separated list of ETags, quotes ignored, or "*") rejects with
// PreconditionFailed when the current version's ETag is not listed, and with NoSuchKey when
// the key has no current version or it is a delete marker.
type PutObject struct {
	Bucket    string
	Key       string
	Size      uint64
	ETag      string
	Meta      ObjectMeta
	Checksums []Pair // algorithm → value, sorted
	Blobs     []Blob
	ModTime   int64 // Unix nanoseconds
	// VersionID is the proposer's candidate ID for the new version (NewVersionID): required
	// when the bucket's versioning is Enabled, where the version gets it (raised if not newer
	// than the current version); in a suspended bucket it only orders the null version; an
	// unversioned bucket ignores it.
	VersionID string
	// Version 2 fields (and Meta.ContentLanguage, Meta.Expires):
	Tags        []Pair // sorted, unique; at most MaxObjectTags (InvalidTag)
	IfMatch     string
	IfNoneMatch string // "" or "*"
	// Version 3 fields: the new version's object lock (x-amz-object-lock-mode,
	// -retain-until-date, -legal-hold). Without a mode the bucket's default retention, if
	// any, applies from ModTime. InvalidRequest in a bucket without object lock;
	// InvalidArgument for a mode without a date in the future (ModTime) or the reverse.
	Retention Retention
	LegalHold string
	// Version 4 field: how the blobs are encrypted (zero: not encrypted); Size is then the
	// plaintext's size and each blob's Size its stored (ciphertext) size. InvalidArgument
	// when its fields break checkEncryption's shape rules.
	Encryption Encryption
	// Version 5: Blobs may be inline (Blob.Inline, with their bytes in Data; doc.go, "Inline
	// blobs"); InvalidArgument when one breaks the shape rules (no nodes, Size len(Data), at
	// most MaxInlineSize bytes in all).
}

// DeleteObject deletes one object (VersionID empty) or one version of it.
//
// Without VersionID: an unversioned bucket removes the object (NoSuchKey when there is
// none: S3 answers 204 to that, the HTTP layer maps it); an enabled bucket adds a delete
// marker with the version ID MarkerVersionID (a candidate, as PutObject.VersionID; required)
// as the new current version; a suspended bucket makes a null delete marker the current
// version, removing the null version. Result.Object is the removed object or the marker made.
//
// With VersionID ("null" names the null version): that version is removed for good, delete
// marker or not (NoSuchVersion when the key has no such version; InvalidArgument for an ID
// that cannot name one). When it was the current version, the newest remaining one becomes
// current. Result.Object is the removed version. A version under object lock at ModTime is
// not removed (AccessDenied): a legal hold always protects it, a COMPLIANCE retention until
// it ends, a GOVERNANCE one unless BypassGovernance is set.
type DeleteObject struct {
	Bucket string
	Key    string
	// Version 2 fields:
	VersionID       string
	MarkerVersionID string
	ModTime         int64 // the delete marker's LastModified, and the time locks are judged at (Unix ns)
	// Version 3 field: x-amz-bypass-governance-retention: true.
	BypassGovernance bool
}

// DeleteObjects deletes up to 1000 keys of one bucket, each as DeleteObject does. Only a
// missing bucket rejects the whole event; each key has its own outcome in Result.Deleted.
type DeleteObjects struct {
	Bucket string
	Keys   []string
	// Version 2 fields. VersionIDs is empty or as long as Keys: VersionIDs[i] is the version
	// of Keys[i] to remove ("" for none). The markers made for keys without a version get
	// the candidate ID MarkerVersionID (raised per key as needed) and ModTime.
	VersionIDs      []string
	MarkerVersionID string
	ModTime         int64
	// Version 3 field, for every key: x-amz-bypass-governance-retention: true.
	BypassGovernance bool
}

// CreateMultipartUpload opens an upload; Meta and Tags apply to the object made on
// completion.
type CreateMultipartUpload struct {
	Bucket    string
	Key       string
	UploadID  string // chosen by the proposer, unique
	Initiated int64  // Unix nanoseconds
	Meta      ObjectMeta
	// Version 2 fields (and Meta.ContentLanguage, Meta.Expires):
	Tags []Pair // sorted, unique; at most MaxObjectTags (InvalidTag)
	// Version 3 fields, stored in the upload as given:
	ChecksumAlgorithm string
	ChecksumType      string
	// Version 4 fields: the object lock of the object the completion makes, checked as
	// PutObject's (against Initiated).
	Retention Retention
	LegalHold string
	// Version 5 field: how every part is encrypted; the object the completion makes has it.
	Encryption Encryption
}

// PutPart records an uploaded part; a part number uploaded again replaces the earlier part.
type PutPart struct {
	Bucket     string
	Key        string
	UploadID   string
	PartNumber uint32 // 1..MaxPartNumber
	Size       uint64
	ETag       string // hex MD5 of the part's bytes
	Checksums  []Pair
	Blobs      []Blob // version 2: may be inline, as PutObject's version 5
	ModTime    int64
}

// CompletedPart is one entry of the client's completion list.
type CompletedPart struct {
	PartNumber uint32
	ETag       string // as the client sent it; surrounding quotes are ignored
}

// CompleteMultipartUpload makes the object from the listed parts and closes the upload; the
// object is a new version as PutObject's is, with the upload's Meta and Tags.
// Rejections: NoSuchUpload; InvalidPart (a part not uploaded, or its ETag differs);
// InvalidPartOrder (part numbers not strictly ascending); EntityTooSmall (a part other than
// the last is below the minimum); BadDigest (ETag set and not the computed one); the
// conditions as PutObject's (a rejected completion leaves the upload open, its parts kept).
type CompleteMultipartUpload struct {
	Bucket   string
	Key      string
	UploadID string
	Parts    []CompletedPart
	// MinPartSize is the smallest size allowed for every part but the last; 0 means
	// DefaultMinPartSize. It travels in the event so that every replica judges alike.
	MinPartSize uint64
	// ETag, if set, must equal the computed hex(md5(concat(md5 of parts)))-N.
	ETag      string
	ModTime   int64
	VersionID string // candidate, as PutObject.VersionID
	// Version 2 fields:
	IfMatch     string
	IfNoneMatch string
	// Version 3 field: Checksums become the object's (algorithm → value, sorted). The
	// proposer computes them from the parts whose ETags the completion lists, so that the
	// FSM's ETag check also guarantees they describe the parts the object is made of.
	Checksums []Pair
}

// DefaultMinPartSize is S3's minimum size of every part but the last: 5 MiB.
const DefaultMinPartSize = 5 << 20

// AbortMultipartUpload discards an upload and its parts (their blobs are freed).
type AbortMultipartUpload struct {
	Bucket   string
	Key      string
	UploadID string
}

// RegisterNode adds a node or replaces the registration of the same ID.
type RegisterNode struct {
	Node NodeInfo
}

// RetireNode removes a node's registration: NoSuchNode when it is not registered.
type RetireNode struct {
	ID string
}

// SetSetting sets a cluster setting; an empty Value removes it.
type SetSetting struct {
	Key   string
	Value string
}

// SetBucketVersioning sets a bucket's versioning state: Status is VersioningEnabled or
// VersioningSuspended (InvalidArgument otherwise: a bucket never returns to unversioned).
// NoSuchBucket when the bucket does not exist. Result.Bucket is the bucket after the change.
type SetBucketVersioning struct {
	Bucket string
	Status string
}

// PutObjectTagging replaces the tags of one version of an object: the current version when
// VersionID is empty. Empty Tags removes them all (DeleteObjectTagging). Rejections:
// NoSuchBucket; NoSuchKey (no current version, or it is a delete marker); NoSuchVersion;
// MethodNotAllowed (the version is a delete marker); InvalidTag. Result.Object is the version
// with its new tags.
type PutObjectTagging struct {
	Bucket    string
	Key       string
	VersionID string
	Tags      []Pair // sorted, unique
}

// PutBucketTagging replaces a bucket's tags; empty Tags removes them (DeleteBucketTagging).
// Rejections: NoSuchBucket; InvalidTag (at most MaxBucketTags).
type PutBucketTagging struct {
	Bucket string
	Tags   []Pair // sorted, unique
}

func (*CreateBucket) Type() EventType            { return TypeCreateBucket }
func (*DeleteBucket) Type() EventType            { return TypeDeleteBucket }
func (*PutObject) Type() EventType               { return TypePutObject }
func (*DeleteObject) Type() EventType            { return TypeDeleteObject }
func (*DeleteObjects) Type() EventType           { return TypeDeleteObjects }
func (*CreateMultipartUpload) Type() EventType   { return TypeCreateMultipartUpload }
func (*PutPart) Type() EventType                 { return TypePutPart }
func (*CompleteMultipartUpload) Type() EventType { return TypeCompleteMultipartUpload }
func (*AbortMultipartUpload) Type() EventType    { return TypeAbortMultipartUpload }
func (*RegisterNode) Type() EventType            { return TypeRegisterNode }
func (*RetireNode) Type() EventType              { return TypeRetireNode }
func (*SetSetting) Type() EventType              { return TypeSetSetting }
func (*SetBucketVersioning) Type() EventType     { return TypeSetBucketVersioning }
func (*PutObjectTagging) Type() EventType        { return TypePutObjectTagging }
func (*PutBucketTagging) Type() EventType        { return TypePutBucketTagging }
func (*PutObjectLockConfiguration) Type() EventType {
	return TypePutObjectLockConfiguration
}
func (*PutObjectRetention) Type() EventType { return TypePutObjectRetention }
func (*PutObjectLegalHold) Type() EventType { return TypePutObjectLegalHold }
func (*PutBucketLifecycle) Type() EventType { return TypePutBucketLifecycle }
func (*PutBucketCors) Type() EventType      { return TypePutBucketCors }
func (*LifecycleExpire) Type() EventType    { return TypeLifecycleExpire }

// newEvent returns an empty event of type t, or nil.
func newEvent(t EventType) Event {
	switch t {
	case TypeCreateBucket:
		return &CreateBucket{}
	case TypeDeleteBucket:
		return &DeleteBucket{}
	case TypePutObject:
		return &PutObject{}
	case TypeDeleteObject:
		return &DeleteObject{}
	case TypeDeleteObjects:
		return &DeleteObjects{}
	case TypeCreateMultipartUpload:
		return &CreateMultipartUpload{}
	case TypePutPart:
		return &PutPart{}
	case TypeCompleteMultipartUpload:
		return &CompleteMultipartUpload{}
	case TypeAbortMultipartUpload:
		return &AbortMultipartUpload{}
	case TypeRegisterNode:
		return &RegisterNode{}
	case TypeRetireNode:
		return &RetireNode{}
	case TypeSetSetting:
		return &SetSetting{}
	case TypeSetBucketVersioning:
		return &SetBucketVersioning{}
	case TypePutObjectTagging:
		return &PutObjectTagging{}
	case TypePutBucketTagging:
		return &PutBucketTagging{}
	case TypePutObjectLockConfiguration:
		return &PutObjectLockConfiguration{}
	case TypePutObjectRetention:
		return &PutObjectRetention{}
	case TypePutObjectLegalHold:
		return &PutObjectLegalHold{}
	case TypePutBucketLifecycle:
		return &PutBucketLifecycle{}
	case TypePutBucketCors:
		return &PutBucketCors{}
	case TypePutBucketEncryption:
		return &PutBucketEncryption{}
	case TypeLifecycleExpire:
		return &LifecycleExpire{}
	case TypeMemberChange:
		return &MemberChange{}
	}
	return newIAMEvent(t) // identities and access (iam.go), or nil
}

// Encode returns the binary encoding of ev (layout in doc.go):
//
//	+------+---------+------------------------+
//	| type | version | body (per type)        |
//	|  u8  |   u8    | fields in struct order |
//	+------+---------+------------------------+
//
// It fails with ErrInvalidEvent when ev has no valid encoding.
func Encode(ev Event) ([]byte, error) {
	return AppendEncode(nil, ev)
}

// AppendEncode is Encode appending to dst.
func AppendEncode(dst []byte, ev Event) ([]byte, error) {
	if ev == nil || newEvent(ev.Type()) == nil {
		return nil, fmt.Errorf("%w: nil or unknown event", ErrInvalidEvent)
	}
	e := encoder{b: dst}
	e.u8(uint8(ev.Type()))
	v := versionOf(ev)
	e.u8(v)
	ev.encodeBody(&e)
	if v >= eventVersionExt {
		ev.(extended).encodeExt(&e)
	}
	if v >= eventVersionExt3 {
		ev.(extended3).encodeExt3(&e)
	}
	if v >= eventVersionExt4 {
		ev.(extended4).encodeExt4(&e)
	}
	if v >= eventVersionExt5 {
		ev.(extended5).encodeExt5(&e)
	}
	if e.err != nil {
		return nil, fmt.Errorf("%s: %w", ev.Type(), e.err)
	}
	return e.b, nil
}

// Decode parses one encoded event. An unknown type is ErrUnknownType, an unknown version
// ErrUnknownVersion, a short input ErrTruncated, anything else invalid ErrCorrupt
// (including trailing bytes). Whatever Decode accepts, Encode turns back into the same bytes.
func Decode(b []byte) (Event, error) {
	d := decoder{b: b}
	t := EventType(d.u8("event type"))
	v := d.u8("event version")
	if d.err != nil {
		return nil, d.err
	}
	ev := newEvent(t)
	if ev == nil {
		return nil, fmt.Errorf("%w: %d", ErrUnknownType, uint8(t))
	}
	if v < eventVersion || v > newestVersion(ev) {
		return nil, fmt.Errorf("%w: %s version %d", ErrUnknownVersion, t, v)
	}
	ev.decodeBody(&d)
	if v >= eventVersionExt {
		ev.(extended).decodeExt(&d)
	}
	if v >= eventVersionExt3 {
		ev.(extended3).decodeExt3(&d)
	}
	if v >= eventVersionExt4 {
		ev.(extended4).decodeExt4(&d)
	}
	if v >= eventVersionExt5 {
		ev.(extended5).decodeExt5(&d)
	}
	if low := versionOf(ev); d.err == nil && low != v {
		d.fail("version %d encoding of an event version %d holds", v, low)
	}
	if err := d.finish(); err != nil {
		return nil, fmt.Errorf("%s: %w", t, err)
	}
	return ev, nil
}

func (ev *CreateBucket) encodeBody(e *encoder) {
	e.str("name", ev.Name)
	e.str("owner", ev.Owner)
	e.i64(ev.Created)
}

func (ev *CreateBucket) decodeBody(d *decoder) {
	ev.Name = d.str("name")
	ev.Owner = d.str("owner")
	ev.Created = d.i64("created")
}

func (ev *DeleteBucket) encodeBody(e *encoder) { e.str("name", ev.Name) }
func (ev *DeleteBucket) decodeBody(d *decoder) { ev.Name = d.str("name") }

func (ev *PutObject) encodeBody(e *encoder) {
	e.str("bucket", ev.Bucket)
	e.str("key", ev.Key)
	e.uvarint(ev.Size)
	e.str("etag", ev.ETag)
	e.meta(ev.Meta)
	e.pairs("checksums", ev.Checksums)
	e.blobs(ev.Blobs)
	e.i64(ev.ModTime)
	e.str("version id", ev.VersionID)
}

func (ev *PutObject) decodeBody(d *decoder) {
	ev.Bucket = d.str("bucket")
	ev.Key = d.str("key")
	ev.Size = d.uvarint("size")
	ev.ETag = d.str("etag")
	ev.Meta = d.meta()
	ev.Checksums = d.pairs("checksums")
	ev.Blobs = d.blobs()
	ev.ModTime = d.i64("mtime")
	ev.VersionID = d.str("version id")
}

func (ev *DeleteObject) encodeBody(e *encoder) {
	e.str("bucket", ev.Bucket)
	e.str("key", ev.Key)
}

func (ev *DeleteObject) decodeBody(d *decoder) {
	ev.Bucket = d.str("bucket")
	ev.Key = d.str("key")
}

func (ev *DeleteObjects) encodeBody(e *encoder) {
	e.str("bucket", ev.Bucket)
	e.strs("keys", ev.Keys, maxDeleteKeys)
}

func (ev *DeleteObjects) decodeBody(d *decoder) {
	ev.Bucket = d.str("bucket")
	ev.Keys = d.strs("keys", maxDeleteKeys)
}

func (ev *CreateMultipartUpload) encodeBody(e *encoder) {
	e.str("bucket", ev.Bucket)
	e.str("key", ev.Key)
	e.str("upload id", ev.UploadID)
	e.i64(ev.Initiated)
	e.meta(ev.Meta)
}

func (ev *CreateMultipartUpload) decodeBody(d *decoder) {
	ev.Bucket = d.str("bucket")
	ev.Key = d.str("key")
	ev.UploadID = d.str("upload id")
	ev.Initiated = d.i64("initiated")
	ev.Meta = d.meta()
}

func (ev *PutPart) encodeBody(e *encoder) {
	e.str("bucket", ev.Bucket)
	e.str("key", ev.Key)
	e.str("upload id", ev.UploadID)
	e.u32(ev.PartNumber)
	e.uvarint(ev.Size)
	e.str("etag", ev.ETag)
	e.pairs("checksums", ev.Checksums)
	e.blobs(ev.Blobs)
	e.i64(ev.ModTime)
}

func (ev *PutPart) decodeBody(d *decoder) {
	ev.Bucket = d.str("bucket")
	ev.Key = d.str("key")
	ev.UploadID = d.str("upload id")
	ev.PartNumber = d.u32("part number")
	ev.Size = d.uvarint("size")
	ev.ETag = d.str("etag")
	ev.Checksums = d.pairs("checksums")
	ev.Blobs = d.blobs()
	ev.ModTime = d.i64("mtime")
}

func (ev *CompleteMultipartUpload) encodeBody(e *encoder) {
	e.str("bucket", ev.Bucket)
	e.str("key", ev.Key)
	e.str("upload id", ev.UploadID)
	e.count("parts", len(ev.Parts), MaxPartNumber)
	for _, p := range ev.Parts {
		e.u32(p.PartNumber)
		e.str("part etag", p.ETag)
	}
	e.uvarint(ev.MinPartSize)
	e.str("etag", ev.ETag)
	e.i64(ev.ModTime)
	e.str("version id", ev.VersionID)
}

func (ev *CompleteMultipartUpload) decodeBody(d *decoder) {
	ev.Bucket = d.str("bucket")
	ev.Key = d.str("key")
	ev.UploadID = d.str("upload id")
	if n := d.count("parts", MaxPartNumber, 5); n > 0 {
		ev.Parts = make([]CompletedPart, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			ev.Parts = append(ev.Parts, CompletedPart{PartNumber: d.u32("part number"), ETag: d.str("part etag")})
		}
	}
	ev.MinPartSize = d.uvarint("min part size")
	ev.ETag = d.str("etag")
	ev.ModTime = d.i64("mtime")
	ev.VersionID = d.str("version id")
}

func (ev *AbortMultipartUpload) encodeBody(e *encoder) {
	e.str("bucket", ev.Bucket)
	e.str("key", ev.Key)
	e.str("upload id", ev.UploadID)
}

func (ev *AbortMultipartUpload) decodeBody(d *decoder) {
	ev.Bucket = d.str("bucket")
	ev.Key = d.str("key")
	ev.UploadID = d.str("upload id")
}

func (ev *RegisterNode) encodeBody(e *encoder) { encodeNode(e, ev.Node) }
func (ev *RegisterNode) decodeBody(d *decoder) { ev.Node = decodeNode(d) }

func (ev *RetireNode) encodeBody(e *encoder) { e.str("node id", ev.ID) }
func (ev *RetireNode) decodeBody(d *decoder) { ev.ID = d.str("node id") }

func (ev *SetSetting) encodeBody(e *encoder) {
	e.str("setting key", ev.Key)
	e.str("setting value", ev.Value)
}

func (ev *SetSetting) decodeBody(d *decoder) {
	ev.Key = d.str("setting key")
	ev.Value = d.str("setting value")
}

func encodeNode(e *encoder, n NodeInfo) {
	e.str("node id", n.ID)
	e.str("node role", n.Role)
	e.pairs("node addresses", n.Addresses)
}

func decodeNode(d *decoder) NodeInfo {
	return NodeInfo{ID: d.str("node id"), Role: d.str("node role"), Addresses: d.pairs("node addresses")}
}
