package engine

import (
	"errors"
	"fmt"

	"github.com/hashicorp/raft"

	"github.com/nebulaio/nebulaio/internal/vfs"
	"github.com/nebulaio/nebulaio/transport"
)

// Errors callers can act on. They are returned wrapped; test with errors.Is.
var (
	// ErrNotLeader is returned by leader-only calls made on a follower that could not forward
	// them. The *NotLeaderError carrying it names the leader when one is known.
	ErrNotLeader = errors.New("engine: not the leader")
	// ErrNoQuorum is returned when no leader is known, or the leader cannot commit, within
	// about one election timeout. The proposal was not acknowledged; it may or may not have
	// been committed (a retry must be safe to apply twice or check first). HTTP maps it to 503.
	ErrNoQuorum = errors.New("engine: no quorum")
	// ErrLeadershipLost is returned when the leader lost leadership while a proposal was in
	// flight; as with ErrNoQuorum its outcome is unknown.
	ErrLeadershipLost = errors.New("engine: leadership lost while the proposal was in flight")
	// ErrClosed is returned by every call after Close.
	ErrClosed = errors.New("engine: node closed")
	// ErrLogStore is returned when the leader's log store failed to write the proposal's entry
	// (raft passes on the error of StoreLogs: an I/O error, a full disk, a log that refuses
	// writes after an earlier failure). The message names the leader, and the error also wraps
	// vfs.ErrNoSpace when the disk was full, forwarded proposals included. The leader steps
	// down; as with ErrNoQuorum the outcome is unknown (the entry may have reached the leader's
	// disk and be committed by a later term). HTTP maps it to 503, or 507 for a full disk.
	ErrLogStore = errors.New("engine: the leader could not write the entry to its log")
)

// errEnvelope is the coalescer's own failure: raft answered a round of proposals with a result
// that does not fit them (a bug, not a storage failure).
var errEnvelope = errors.New("engine: malformed envelope result")

// applyError maps an error raft returned for a proposal that is none of the leadership errors
// applyLocal handles: the leader's log store failed (ErrLogStore), unless it is one of raft's or
// the engine's own.
func applyError(node string, err error) error {
	if errors.Is(err, raft.ErrAbortedByRestore) || errors.Is(err, errEnvelope) {
		return fmt.Errorf("engine: apply: %w", err)
	}
	return fmt.Errorf("engine: apply on node %s: %w: %w", node, ErrLogStore, err)
}

// RPC codes of a log-store failure on the leader (errorToRemote, remoteToError): with and
// without a full disk, so that a follower's caller can still tell ENOSPC.
const (
	codeLogStore   = "log_store"
	codeLogNoSpace = "log_no_space"
)

// logStoreCode returns the RPC code of a log-store failure, "" for other errors.
func logStoreCode(err error) string {
	switch {
	case !errors.Is(err, ErrLogStore):
		return ""
	case errors.Is(err, vfs.ErrNoSpace):
		return codeLogNoSpace
	}
	return codeLogStore
}

// remoteLogStoreError turns a log-store failure reported by the leader back into ErrLogStore
// (and vfs.ErrNoSpace); nil for other codes.
func remoteLogStoreError(re *transport.RemoteError) error {
	switch re.Code {
	case codeLogStore:
		return fmt.Errorf("%w (at the leader: %s)", ErrLogStore, re.Message)
	case codeLogNoSpace:
		return fmt.Errorf("%w: %w (at the leader: %s)", ErrLogStore, vfs.ErrNoSpace, re.Message)
	}
	return nil
}

// NotLeaderError says who the leader is, for callers that want to redirect.
type NotLeaderError struct {
	LeaderID   string
	LeaderAddr string
}

func (e *NotLeaderError) Error() string {
	if e.LeaderAddr == "" {
		return ErrNotLeader.Error() + " (no leader known)"
	}
	return ErrNotLeader.Error() + " (leader " + e.LeaderID + " at " + e.LeaderAddr + ")"
}

// Unwrap makes errors.Is(err, ErrNotLeader) true.
func (e *NotLeaderError) Unwrap() error { return ErrNotLeader }
