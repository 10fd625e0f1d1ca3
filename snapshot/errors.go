package snapshot

import "errors"

var (
	// ErrKeyOrder is returned when a stream record's key is not greater than the previous key.
	ErrKeyOrder = errors.New("snapshot: keys out of order")
	// ErrTombstoneInFull is returned when a KindFull stream carries a tombstone.
	ErrTombstoneInFull = errors.New("snapshot: tombstone in a full stream")
	// ErrBadHeader is returned for a stream header that is not ours, has an unsupported version
	// or an invalid kind/parent combination.
	ErrBadHeader = errors.New("snapshot: bad stream header")
	// ErrTruncated is returned when a stream, run or manifest ends before its trailer.
	ErrTruncated = errors.New("snapshot: truncated")
	// ErrCorrupt is returned when a checksum, length or structural check fails while decoding
	// a stream, run, index, chunk or manifest. The error text names the snapshot, run and chunk.
	ErrCorrupt = errors.New("snapshot: corrupt")
	// ErrTooLarge is returned when writing a key longer than MaxKeySize or a value longer than
	// MaxValueSize.
	ErrTooLarge = errors.New("snapshot: key or value too large")
	// ErrClosed is returned when using a writer, sink, reader or store after Close.
	ErrClosed = errors.New("snapshot: closed")
	// ErrUnknownParent is returned by a sink's Close when the delta stream it received names a
	// parent snapshot that is not in the store. The FSM should persist a full snapshot next.
	ErrUnknownParent = errors.New("snapshot: unknown parent snapshot")
	// ErrNotFound is returned by Open and Reader for a snapshot ID the store does not hold.
	ErrNotFound = errors.New("snapshot: snapshot not found")
	// ErrCanceled is returned when writing to a sink after Cancel.
	ErrCanceled = errors.New("snapshot: sink canceled")
)
