package s3

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/nebulaio/nebulaio/engine"
	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/httpapi/sigv4"
	"github.com/nebulaio/nebulaio/internal/vfs"
)

// Error is an S3 error response: an S3 error code, the HTTP status it is sent with, and a
// message. Every failure a handler reports becomes one; anything else is InternalError.
type Error struct {
	Code    string
	Status  int
	Message string
}

func (e *Error) Error() string { return "s3: " + e.Code + ": " + e.Message }

// Is makes errors.Is(err, &Error{Code: c}) match any *Error with code c.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

func apiErr(code string, status int, format string, args ...any) *Error {
	return &Error{Code: code, Status: status, Message: fmt.Sprintf(format, args...)}
}

// Sentinels of the handler's own errors (the fsm and sigv4 packages supply the rest). Match
// with errors.Is; the message of a returned error carries request detail.
var (
	// ErrNotImplemented: an S3 operation or subresource NebulaIO does not implement.
	ErrNotImplemented = &Error{"NotImplemented", http.StatusNotImplemented, "A header or query you provided implies functionality that is not implemented."}
	// ErrMalformedXML: a request body that is not the XML document the operation expects.
	ErrMalformedXML = &Error{"MalformedXML", http.StatusBadRequest, "The XML you provided was not well-formed or did not validate against our published schema."}
	// ErrInvalidArgument: a query parameter or header with an invalid value.
	ErrInvalidArgument = &Error{"InvalidArgument", http.StatusBadRequest, "Invalid argument."}
	// ErrInvalidObjectName: a key with a ".." segment, a NUL byte or invalid UTF-8.
	ErrInvalidObjectName = &Error{"InvalidObjectName", http.StatusBadRequest, "Object key is not valid: no '..' segments, NUL bytes or invalid UTF-8."}
	// ErrKeyTooLong: a key over 1024 bytes.
	ErrKeyTooLong = &Error{fsm.CodeKeyTooLong, http.StatusBadRequest, "Your key is too long."}
	// ErrInvalidRange: a Range that does not overlap the object.
	ErrInvalidRange = &Error{"InvalidRange", http.StatusRequestedRangeNotSatisfiable, "The requested range is not satisfiable."}
	// ErrPreconditionFailed: If-Match or If-Unmodified-Since (or their copy-source forms) failed.
	ErrPreconditionFailed = &Error{"PreconditionFailed", http.StatusPreconditionFailed, "At least one of the preconditions you specified did not hold."}
	// ErrInvalidDigest: a Content-MD5 that is not base64 of 16 bytes.
	ErrInvalidDigest = &Error{"InvalidDigest", http.StatusBadRequest, "The Content-MD5 you specified is not valid."}
	// ErrBadDigest: the body does not match Content-MD5.
	ErrBadDigest = &Error{fsm.CodeBadDigest, http.StatusBadRequest, "The Content-MD5 you specified did not match what we received."}
	// ErrEntityTooLarge: a body over the single-request limit (5 GiB).
	ErrEntityTooLarge = &Error{"EntityTooLarge", http.StatusBadRequest, "Your proposed upload exceeds the maximum allowed object size."}
	// ErrMissingContentLength: a PUT without Content-Length.
	ErrMissingContentLength = &Error{"MissingContentLength", http.StatusLengthRequired, "You must provide the Content-Length HTTP header."}
	// ErrMetadataTooLarge: user metadata over 2 KiB.
	ErrMetadataTooLarge = &Error{"MetadataTooLarge", http.StatusBadRequest, "Your metadata headers exceed the maximum allowed metadata size."}
	// ErrInvalidRequest: a request S3 refuses as a whole (copying an object onto itself
	// without changing anything, a bad copy source).
	ErrInvalidRequest = &Error{"InvalidRequest", http.StatusBadRequest, "Invalid request."}
	// ErrMethodNotAllowed: a method the addressed resource does not support.
	ErrMethodNotAllowed = &Error{"MethodNotAllowed", http.StatusMethodNotAllowed, "The specified method is not allowed against this resource."}
	// ErrServiceUnavailable: no quorum, or leadership lost mid-write; Retry-After is set.
	ErrServiceUnavailable = &Error{"ServiceUnavailable", http.StatusServiceUnavailable, "Please reduce your request rate."}
	// ErrDataElsewhere: the object's bytes are on another node and this one cannot fetch them
	// (the cluster data plane is not implemented yet); Retry-After is set.
	ErrDataElsewhere = &Error{"ServiceUnavailable", http.StatusServiceUnavailable, "The object's data is not available on this node."}
	// ErrRequestTimeout: the client stopped sending the body for longer than IdleTimeout.
	ErrRequestTimeout = &Error{"RequestTimeout", http.StatusBadRequest, "Your socket connection to the server was not read from or written to within the timeout period."}
	// ErrInsufficientStorage: a node had no room for the write: its file system was below the
	// data plane's free-space reserve or ran out of space (ENOSPC) on a blob or WAL write. The
	// message names the node. Reads and deletes still work; writes resume once space is freed.
	ErrInsufficientStorage = &Error{"InsufficientStorage", http.StatusInsufficientStorage, "There is not enough space to store the data."}
	// ErrInternal: anything unexpected, including a blob whose checksum no longer matches.
	ErrInternal = &Error{"InternalError", http.StatusInternalServerError, "We encountered an internal error. Please try again."}
	// ErrNoSuchBucket is also what fsm reports; declared here for the router's own checks.
	ErrNoSuchBucket = &Error{fsm.CodeNoSuchBucket, http.StatusNotFound, "The specified bucket does not exist."}
	// ErrNoSuchKey: the object does not exist.
	ErrNoSuchKey = &Error{fsm.CodeNoSuchKey, http.StatusNotFound, "The specified key does not exist."}
	// ErrInvalidBucketName: a bucket name that breaks S3's naming rules.
	ErrInvalidBucketName = &Error{fsm.CodeInvalidBucketName, http.StatusBadRequest, "The specified bucket is not valid."}
	// ErrMalformedPOSTRequest: a POST to a bucket that is not a well-formed multipart/form-data
	// form.
	ErrMalformedPOSTRequest = &Error{"MalformedPOSTRequest", http.StatusBadRequest, "The body of your POST request is not well-formed multipart/form-data."}
	// ErrAccessDenied: an object lock refusal, a POST form its policy does not allow, a request
	// without authentication.
	ErrAccessDenied = &Error{"AccessDenied", http.StatusForbidden, "Access Denied"}
	// ErrInvalidPart: a part number outside 1..10000 or a part the upload does not have.
	ErrInvalidPart = &Error{fsm.CodeInvalidPart, http.StatusBadRequest, "One or more of the specified parts could not be found."}
)

// with returns a copy of the sentinel e with a request-specific message.
func (e *Error) with(format string, args ...any) *Error {
	return &Error{Code: e.Code, Status: e.Status, Message: fmt.Sprintf(format, args...)}
}

// fsmStatus maps the fsm's S3 codes to their HTTP status.
var fsmStatus = map[string]int{
	fsm.CodeNoSuchBucket:                         http.StatusNotFound,
	fsm.CodeBucketAlreadyExists:                  http.StatusConflict,
	fsm.CodeBucketAlreadyOwnedByYou:              http.StatusConflict,
	fsm.CodeBucketNotEmpty:                       http.StatusConflict,
	fsm.CodeInvalidBucketName:                    http.StatusBadRequest,
	fsm.CodeNoSuchKey:                            http.StatusNotFound,
	fsm.CodeKeyTooLong:                           http.StatusBadRequest,
	fsm.CodeNoSuchUpload:                         http.StatusNotFound,
	fsm.CodeInvalidPart:                          http.StatusBadRequest,
	fsm.CodeInvalidPartOrder:                     http.StatusBadRequest,
	fsm.CodeEntityTooSmall:                       http.StatusBadRequest,
	fsm.CodeBadDigest:                            http.StatusBadRequest,
	fsm.CodeInvalidArgument:                      http.StatusBadRequest,
	fsm.CodeEntityTooLarge:                       http.StatusBadRequest,
	fsm.CodeNoSuchVersion:                        http.StatusNotFound,
	fsm.CodeMethodNotAllowed:                     http.StatusMethodNotAllowed,
	fsm.CodePreconditionFailed:                   http.StatusPreconditionFailed,
	fsm.CodeInvalidTag:                           http.StatusBadRequest,
	fsm.CodeNoSuchTagSet:                         http.StatusNotFound,
	fsm.CodeAccessDenied:                         http.StatusForbidden,
	fsm.CodeInvalidRequest:                       http.StatusBadRequest,
	fsm.CodeInvalidBucketState:                   http.StatusConflict,
	fsm.CodeObjectLockConfigurationNotFound:      http.StatusNotFound,
	fsm.CodeNoSuchObjectLockConfiguration:        http.StatusNotFound,
	fsm.CodeNoSuchLifecycleConfiguration:         http.StatusNotFound,
	fsm.CodeNoSuchCORSConfiguration:              http.StatusNotFound,
	fsm.CodeNoSuchEncryptionConfiguration:        http.StatusNotFound,
	fsm.CodeNoSuchBucketPolicy:                   http.StatusNotFound,
	fsm.CodeNoSuchPublicAccessBlockConfiguration: http.StatusNotFound,
	fsm.CodeMalformedXML:                         http.StatusBadRequest,
}

// toAPIError maps any error a handler meets to the S3 error it answers with.
func toAPIError(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	var fe *fsm.Error
	if errors.As(err, &fe) {
		if st, ok := fsmStatus[fe.Code]; ok {
			return &Error{Code: fe.Code, Status: st, Message: fe.Message}
		}
		return ErrInternal.with("metadata: %s", fe.Code)
	}
	var se *sigv4.Error
	if errors.As(err, &se) {
		return &Error{Code: se.Code(), Status: se.HTTPStatus(), Message: se.Message()}
	}
	switch {
	case errors.Is(err, vfs.ErrNoSpace): // a blob write (dataplane.ErrNoSpace) or the WAL's
		return ErrInsufficientStorage.with("insufficient storage: %v", err)
	case errors.Is(err, engine.ErrLogStore):
		return ErrServiceUnavailable.with("the metadata log could not be written: %v", err)
	case errors.Is(err, engine.ErrNoQuorum), errors.Is(err, engine.ErrLeadershipLost),
		errors.Is(err, engine.ErrClosed), errors.Is(err, engine.ErrNotLeader):
		return ErrServiceUnavailable.with("metadata cluster unavailable: %v", err)
	case errors.Is(err, ErrBlobCorrupt):
		return ErrInternal.with("stored object data failed its checksum; it is not served")
	case isTimeout(err):
		return ErrRequestTimeout
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return ErrServiceUnavailable.with("request timed out: %v", err)
	}
	return ErrInternal
}

// errorResponse is S3's error document.
type errorResponse struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource,omitempty"`
	Region    string   `xml:"Region,omitempty"`
	RequestID string   `xml:"RequestId"`
	HostID    string   `xml:"HostId"`
}

// isTimeout reports a network deadline (the idle timeout of a stalled client).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
