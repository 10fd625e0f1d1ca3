package engine

import "errors"

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
)

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
