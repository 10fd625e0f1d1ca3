package fsm

import (
	"errors"
	"fmt"
)

// Sentinel errors of the event and record codecs and of snapshot restore. Check them with
// errors.Is; they are wrapped with context.
var (
	// ErrInvalidEvent is returned by Encode for an event that has no valid encoding: a nil
	// event, a string or list over its limit, or pairs that are not sorted and unique.
	ErrInvalidEvent = errors.New("fsm: invalid event")
	// ErrUnknownType is returned by Decode for an event type byte it does not know.
	ErrUnknownType = errors.New("fsm: unknown event type")
	// ErrUnknownVersion is returned by Decode (and by Restore for a record) for an encoding
	// version it does not know. It is never skipped silently.
	ErrUnknownVersion = errors.New("fsm: unknown encoding version")
	// ErrTruncated is returned when an encoded event or record ends early.
	ErrTruncated = errors.New("fsm: truncated encoding")
	// ErrCorrupt is returned for an encoding that is complete but invalid: a length over its
	// limit, a non-minimal varint, unsorted pairs, trailing bytes, an unknown key prefix.
	ErrCorrupt = errors.New("fsm: corrupt encoding")
	// ErrSnapshotKind is returned by Restore for a stream that is not KindFull.
	ErrSnapshotKind = errors.New("fsm: restore needs a full snapshot stream")
	// ErrNoSuchBlob is returned by BlobData for a blob ID that has no inline bytes: never
	// written inline, or freed since (the caller reads the metadata again, as for a store blob
	// freed under a read).
	ErrNoSuchBlob = errors.New("fsm: no such inline blob")
)

// S3-style error codes carried in Result.Err. The codes an S3 client knows keep their S3
// spelling; the others (NoSuchNode, InvalidEvent) are NebulaIO's own.
const (
	CodeNoSuchBucket            = "NoSuchBucket"
	CodeBucketAlreadyExists     = "BucketAlreadyExists"     // name taken by another owner
	CodeBucketAlreadyOwnedByYou = "BucketAlreadyOwnedByYou" // name taken by the same owner
	CodeBucketNotEmpty          = "BucketNotEmpty"          // objects or open uploads remain
	CodeInvalidBucketName       = "InvalidBucketName"
	CodeNoSuchKey               = "NoSuchKey"
	CodeKeyTooLong              = "KeyTooLongError"
	CodeNoSuchUpload            = "NoSuchUpload"
	CodeInvalidPart             = "InvalidPart"
	CodeInvalidPartOrder        = "InvalidPartOrder"
	CodeEntityTooSmall          = "EntityTooSmall"
	CodeBadDigest               = "BadDigest" // the completion's ETag is not the computed one
	// CodeEntityTooLarge: the metadata record would exceed its size limit (16 MiB) or a
	// list limit of the record encoding (such as 2^20 blobs per object).
	CodeEntityTooLarge  = "EntityTooLarge"
	CodeInvalidArgument = "InvalidArgument"
	CodeNoSuchNode      = "NoSuchNode"
	// CodeNoSuchVersion: the version ID names no version of the key (S3 answers 204 to a
	// DeleteObject of a missing version; the HTTP layer maps it).
	CodeNoSuchVersion = "NoSuchVersion"
	// CodeMethodNotAllowed: a read or tagging of a version that is a delete marker
	// (Error.DeleteMarker is set).
	CodeMethodNotAllowed = "MethodNotAllowed"
	// CodePreconditionFailed: a conditional write's If-Match or If-None-Match did not hold
	// when the event was applied.
	CodePreconditionFailed = "PreconditionFailed"
	// CodeInvalidTag: a tag set over S3's limits (see NormalizeTags).
	CodeInvalidTag = "InvalidTag"
	// CodeNoSuchTagSet: GetBucketTagging of a bucket that has no tags.
	CodeNoSuchTagSet = "NoSuchTagSet"
	// CodeSettingImmutable: a SetSetting that would change or remove a write-once setting
	// (SettingClusterID) once it is set.
	CodeSettingImmutable = "SettingImmutable"
	// CodeAccessDenied: the version is protected by object lock (a legal hold or a retention
	// in force), or a retention change would weaken an active one.
	CodeAccessDenied = "AccessDenied"
	// CodeInvalidRequest: object lock settings on a bucket without object lock.
	CodeInvalidRequest = "InvalidRequest"
	// CodeInvalidBucketState: object lock on a bucket whose versioning is not Enabled, or
	// versioning suspended on a bucket with object lock.
	CodeInvalidBucketState = "InvalidBucketState"
	// CodeObjectLockConfigurationNotFound: the bucket has no object lock (its configuration
	// is read).
	CodeObjectLockConfigurationNotFound = "ObjectLockConfigurationNotFoundError"
	// CodeNoSuchObjectLockConfiguration: the version has no retention (or legal hold) to read.
	CodeNoSuchObjectLockConfiguration = "NoSuchObjectLockConfiguration"
	// CodeNoSuchLifecycleConfiguration: the bucket has no lifecycle rules.
	CodeNoSuchLifecycleConfiguration = "NoSuchLifecycleConfiguration"
	// CodeNoSuchCORSConfiguration: the bucket has no CORS rules.
	CodeNoSuchCORSConfiguration = "NoSuchCORSConfiguration"
	// CodeNoSuchEncryptionConfiguration: the bucket has no default encryption.
	CodeNoSuchEncryptionConfiguration = "ServerSideEncryptionConfigurationNotFoundError"
	// CodeMalformedXML: a lifecycle configuration that breaks the shape of S3's schema (no
	// rule, Days and Date together, several conditions in a Filter without And).
	CodeMalformedXML = "MalformedXML"
	// CodeInvalidEvent is the result of a log entry that does not decode. Every replica
	// rejects it the same way; it points at a proposer bug or a version skew.
	CodeInvalidEvent = "InvalidEvent"
)

// Error is the reason an event was rejected (a rejected event changes nothing), or why a
// read found nothing.
type Error struct {
	Code    string // one of the Code constants
	Message string
	// DeleteMarker is set when the answer is due to a delete marker: NoSuchKey because the
	// key's current version is a marker, MethodNotAllowed because the version asked for is
	// one. VersionID and LastModified (Unix ns) are then the marker's, for the
	// x-amz-delete-marker, x-amz-version-id and Last-Modified response headers.
	DeleteMarker bool
	VersionID    string
	LastModified int64
}

func (e *Error) Error() string { return "fsm: " + e.Code + ": " + e.Message }

// Is makes errors.Is(err, &Error{Code: c}) match any *Error with code c.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
}

func reject(code, format string, args ...any) *Result {
	return &Result{Err: &Error{Code: code, Message: fmt.Sprintf(format, args...)}}
}

func newErr(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// markerErr is code (NoSuchKey or MethodNotAllowed) because of the delete marker m.
func markerErr(code string, m *ObjectInfo) *Error {
	return &Error{Code: code, Message: fmt.Sprintf("version %s of key %q is a delete marker", m.VersionID, m.Key),
		DeleteMarker: true, VersionID: m.VersionID, LastModified: m.ModTime}
}
