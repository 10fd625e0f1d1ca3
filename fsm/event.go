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
)

var typeNames = map[EventType]string{
	TypeCreateBucket: "CreateBucket", TypeDeleteBucket: "DeleteBucket",
	TypePutObject: "PutObject", TypeDeleteObject: "DeleteObject", TypeDeleteObjects: "DeleteObjects",
	TypeCreateMultipartUpload: "CreateMultipartUpload", TypePutPart: "PutPart",
	TypeCompleteMultipartUpload: "CompleteMultipartUpload", TypeAbortMultipartUpload: "AbortMultipartUpload",
	TypeRegisterNode: "RegisterNode", TypeRetireNode: "RetireNode", TypeSetSetting: "SetSetting",
}

func (t EventType) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("EventType(%d)", uint8(t))
}

// eventVersion is the body version of every event type that has only ever had one. Each type
// has its own version byte so that one event can change its body without touching the
// others; eventMaxVersion lists the types that have more.
const eventVersion = 1

// eventMaxVersion is the newest body version of the types that have several. A version 2
// body is the version 1 body followed by the fields listed in doc.go; the encoder writes the
// lowest version that holds the event (so events that do not use the new fields encode as
// before), and the decoder rejects a version 2 body whose new fields are all empty, keeping
// the encoding canonical.
var eventMaxVersion = map[EventType]uint8{
	TypeCreateBucket: 2, TypePutObject: 2, TypeCreateMultipartUpload: 2, TypeCompleteMultipartUpload: 2,
}

// versioned is implemented by the events with a version 2 body: the version ev needs.
type versioned interface{ version() uint8 }

func versionOf(ev Event) uint8 {
	if v, ok := ev.(versioned); ok {
		return v.version()
	}
	return eventVersion
}

// v2 returns 2 when any of the optional fields of a version 2 body is set, else 1.
func v2(set ...bool) uint8 {
	for _, s := range set {
		if s {
			return 2
		}
	}
	return 1
}

// canonicalV2 fails d when a version 2 body carries none of its optional fields (it would
// re-encode as version 1).
func (d *decoder) canonicalV2(what string, set ...bool) {
	if d.ver >= 2 && v2(set...) == 1 {
		d.fail("%s version 2 without its version 2 fields", what)
	}
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
	Created int64  // Unix nanoseconds
	Region  string // LocationConstraint; "" for none (version 2)
}

// DeleteBucket deletes an empty bucket. Rejected with NoSuchBucket, or BucketNotEmpty while
// the bucket holds objects or open multipart uploads.
type DeleteBucket struct {
	Name string
}

// PutObject creates or replaces an object. The blobs of a replaced object that nothing else
// references are listed in Result.FreedBlobs.
type PutObject struct {
	Bucket    string
	Key       string
	Size      uint64
	ETag      string
	Meta      ObjectMeta
	Checksums []Pair // algorithm → value, sorted
	Blobs     []Blob
	ModTime   int64 // Unix nanoseconds
	VersionID string
}

// DeleteObject deletes one object: NoSuchBucket, NoSuchKey when it does not exist (S3
// answers 204 to that; the HTTP layer maps it).
type DeleteObject struct {
	Bucket string
	Key    string
}

// DeleteObjects deletes up to 1000 keys of one bucket. Only a missing bucket rejects the
// whole event; each key has its own outcome in Result.Deleted.
type DeleteObjects struct {
	Bucket string
	Keys   []string
}

// CreateMultipartUpload opens an upload; Meta applies to the object made on completion.
type CreateMultipartUpload struct {
	Bucket    string
	Key       string
	UploadID  string // chosen by the proposer, unique
	Initiated int64  // Unix nanoseconds
	Meta      ObjectMeta
	// ChecksumAlgorithm and ChecksumType are stored in the upload as given (version 2).
	ChecksumAlgorithm string
	ChecksumType      string
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
	Blobs      []Blob
	ModTime    int64
}

// CompletedPart is one entry of the client's completion list.
type CompletedPart struct {
	PartNumber uint32
	ETag       string // as the client sent it; surrounding quotes are ignored
}

// CompleteMultipartUpload makes the object from the listed parts and closes the upload.
// Rejections: NoSuchUpload; InvalidPart (a part not uploaded, or its ETag differs);
// InvalidPartOrder (part numbers not strictly ascending); EntityTooSmall (a part other than
// the last is below the minimum); BadDigest (ETag set and not the computed one).
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
	VersionID string
	// Checksums become the object's (algorithm → value, sorted; version 2). The proposer
	// computes them from the parts whose ETags the completion lists, so that the FSM's ETag
	// check also guarantees they describe the parts the object is made of.
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
	}
	return nil
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
	e.ver = versionOf(ev)
	e.u8(e.ver)
	ev.encodeBody(&e)
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
	if v != eventVersion && (v < 1 || v > eventMaxVersion[t]) {
		return nil, fmt.Errorf("%w: %s version %d", ErrUnknownVersion, t, v)
	}
	d.ver = v
	ev.decodeBody(&d)
	if err := d.finish(); err != nil {
		return nil, fmt.Errorf("%s: %w", t, err)
	}
	return ev, nil
}

func (ev *CreateBucket) version() uint8 { return v2(ev.Region != "") }

func (ev *CreateBucket) encodeBody(e *encoder) {
	e.str("name", ev.Name)
	e.str("owner", ev.Owner)
	e.i64(ev.Created)
	if e.ver >= 2 {
		e.str("region", ev.Region)
	}
}

func (ev *CreateBucket) decodeBody(d *decoder) {
	ev.Name = d.str("name")
	ev.Owner = d.str("owner")
	ev.Created = d.i64("created")
	if d.ver >= 2 {
		ev.Region = d.str("region")
		d.canonicalV2("CreateBucket", ev.Region != "")
	}
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
	if e.ver >= 2 {
		e.str("content language", ev.Meta.ContentLanguage)
	}
}

func (ev *PutObject) version() uint8 { return v2(ev.Meta.ContentLanguage != "") }

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
	if d.ver >= 2 {
		ev.Meta.ContentLanguage = d.str("content language")
		d.canonicalV2("PutObject", ev.Meta.ContentLanguage != "")
	}
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

func (ev *CreateMultipartUpload) version() uint8 {
	return v2(ev.Meta.ContentLanguage != "", ev.ChecksumAlgorithm != "", ev.ChecksumType != "")
}

func (ev *CreateMultipartUpload) encodeBody(e *encoder) {
	e.str("bucket", ev.Bucket)
	e.str("key", ev.Key)
	e.str("upload id", ev.UploadID)
	e.i64(ev.Initiated)
	e.meta(ev.Meta)
	if e.ver >= 2 {
		e.str("content language", ev.Meta.ContentLanguage)
		e.str("checksum algorithm", ev.ChecksumAlgorithm)
		e.str("checksum type", ev.ChecksumType)
	}
}

func (ev *CreateMultipartUpload) decodeBody(d *decoder) {
	ev.Bucket = d.str("bucket")
	ev.Key = d.str("key")
	ev.UploadID = d.str("upload id")
	ev.Initiated = d.i64("initiated")
	ev.Meta = d.meta()
	if d.ver >= 2 {
		ev.Meta.ContentLanguage = d.str("content language")
		ev.ChecksumAlgorithm = d.str("checksum algorithm")
		ev.ChecksumType = d.str("checksum type")
		d.canonicalV2("CreateMultipartUpload", ev.Meta.ContentLanguage != "", ev.ChecksumAlgorithm != "", ev.ChecksumType != "")
	}
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
	if e.ver >= 2 {
		e.pairs("checksums", ev.Checksums)
	}
}

func (ev *CompleteMultipartUpload) version() uint8 { return v2(len(ev.Checksums) > 0) }

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
	if d.ver >= 2 {
		ev.Checksums = d.pairs("checksums")
		d.canonicalV2("CompleteMultipartUpload", len(ev.Checksums) > 0)
	}
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
