package wal

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers test for them with errors.Is; the returned errors usually wrap them
// with the file and offset involved.
var (
	// ErrCorrupt is returned when a record, segment header, segment index or state file fails its
	// checks anywhere other than the torn tail of the last segment (which recovery truncates). The
	// wrapping *CorruptError names the file and offset.
	ErrCorrupt = errors.New("wal: corrupt")

	// ErrNewerFormat is returned by Open when a file was written by a newer format version.
	ErrNewerFormat = errors.New("wal: written by a newer format version")

	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("wal: closed")

	// ErrFailed is returned by every mutating method after a write or sync failed: the state of
	// the file on disk is then unknown, so the log refuses further writes until it is reopened.
	ErrFailed = errors.New("wal: failed after an I/O error; reopen the log")

	// ErrOutOfOrder is returned by StoreLogs when the batch does not continue the log exactly
	// (LastIndex()+1, consecutive indexes). The log is monotonic: raft deletes a suffix or the
	// whole log before it writes anything else.
	ErrOutOfOrder = errors.New("wal: entries out of order")

	// ErrInvalidRange is returned by DeleteRange for a range that is neither a prefix nor a
	// suffix of the log (deleting from the middle would leave a gap).
	ErrInvalidRange = errors.New("wal: delete range is neither a prefix nor a suffix")

	// ErrLocked is returned by Open when another process holds the directory lock.
	ErrLocked = errors.New("wal: directory is locked by another process")

	// ErrEntryTooLarge is returned by StoreLogs for an entry whose encoded body exceeds
	// MaxEntrySize.
	ErrEntryTooLarge = errors.New("wal: entry too large")

	// ErrKeyNotFound is returned by Get for a key that was never Set. Its text is exactly
	// "not found" — not prefixed — because hashicorp/raft compares the message of the error its
	// StableStore returns with that string (raft's InmemStore and raft-boltdb do the same).
	ErrKeyNotFound = errors.New("not found")
)

// CorruptError describes damage found in a file. It matches ErrCorrupt with errors.Is.
type CorruptError struct {
	File   string // path of the damaged file
	Offset int64  // byte offset of the damaged record or field
	Reason string // what check failed
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("wal: corrupt: %s at offset %d: %s", e.File, e.Offset, e.Reason)
}

// Is makes errors.Is(err, ErrCorrupt) true for every *CorruptError.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

func corruptf(file string, off int64, format string, args ...any) error {
	return &CorruptError{File: file, Offset: off, Reason: fmt.Sprintf(format, args...)}
}
