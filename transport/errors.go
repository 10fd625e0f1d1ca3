package transport

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package wraps one of them (or is a *RemoteError),
// so callers check with errors.Is / errors.As and never compare strings.
var (
	// ErrClosed is returned by every operation on a Transport after Close, and fails the calls
	// that were pending when Close ran.
	ErrClosed = errors.New("transport: closed")

	// ErrUnreachable is returned when the request was not sent: the dial failed or was refused,
	// the address is partitioned by Faults, or the connection died before the request was queued.
	// Retrying such a call is always safe.
	ErrUnreachable = errors.New("transport: peer unreachable")

	// ErrConnLost is returned when the connection failed after the request was (or may have been)
	// sent. The remote may or may not have executed it: callers that forward non-idempotent
	// commands must treat the outcome as unknown.
	ErrConnLost = errors.New("transport: connection lost")

	// ErrTimeout is returned when a call's deadline (from its context, or Config.CallTimeout when
	// the context has none) expires. It is always wrapped together with
	// context.DeadlineExceeded, so errors.Is works with either.
	ErrTimeout = errors.New("transport: timeout")

	// ErrNoHandler is returned when the remote has no handler registered for the method.
	ErrNoHandler = errors.New("transport: no handler for method")

	// ErrBadFrame is the cause recorded when a peer sends a frame that fails validation (bad
	// checksum, unknown or unexpected type, malformed payload, oversized length). The
	// connection is closed; calls pending on it fail with ErrConnLost wrapping ErrBadFrame.
	ErrBadFrame = errors.New("transport: bad frame")

	// ErrFrameTooLarge is returned when a request, reply or header exceeds Config.MaxFrameSize.
	// On the receiving side it also wraps ErrBadFrame.
	ErrFrameTooLarge = errors.New("transport: frame too large")

	// ErrPeerRefused is wrapped (with ErrUnreachable and Config.VerifyPeer's error) when a
	// dial reached a peer that this node refused after the TLS handshake: nothing was sent.
	ErrPeerRefused = errors.New("transport: peer refused")

	// ErrStreamAborted is returned by the body reader of a HandleStream handler when the sender
	// failed to read its own body mid-transfer and told us so.
	ErrStreamAborted = errors.New("transport: stream aborted by sender")
)

// RemoteError is a handler's error carried back to the caller. Code is empty unless the handler
// returned an error implementing interface{ RPCCode() string } (or a *RemoteError).
type RemoteError struct {
	Code    string
	Message string
}

// Error implements error.
func (e *RemoteError) Error() string {
	if e.Code == "" {
		return "transport: remote error: " + e.Message
	}
	return fmt.Sprintf("transport: remote error [%s]: %s", e.Code, e.Message)
}

// RPCCode returns the code, so a handler may return a *RemoteError it got from another call and
// the code is passed through unchanged.
func (e *RemoteError) RPCCode() string { return e.Code }

// toRemote converts a handler error into what goes on the wire.
func toRemote(err error) *RemoteError {
	var re *RemoteError
	if errors.As(err, &re) {
		return &RemoteError{Code: re.Code, Message: re.Message}
	}
	var coder interface{ RPCCode() string }
	code := ""
	if errors.As(err, &coder) {
		code = coder.RPCCode()
	}
	return &RemoteError{Code: code, Message: err.Error()}
}
