package console

import (
	"context"
	"errors"
	"time"
)

// Source is what the pages read. Each call gathers one page's data; an error is shown on the
// page (the node may be starting, or the leader unreachable) instead of a half-filled view.
type Source interface {
	Cluster(ctx context.Context) (ClusterView, error)
	Storage(ctx context.Context) (StorageView, error)
	Buckets(ctx context.Context) (BucketsView, error)
	// Ready is the public "is it up" page's answer: whether the node serves, and if not, why.
	Ready() (bool, string)
}

// Actions are the operator's actions. Each one goes through the leader (the implementation
// forwards) and returns only once the change is committed or refused. An action this build
// cannot do returns an error wrapping ErrNotAvailable: the console says so and never reports
// success for it.
type Actions interface {
	Promote(ctx context.Context, id string) error
	Demote(ctx context.Context, id string) error
	Drain(ctx context.Context, id string) error
	Remove(ctx context.Context, id string) error
	// TransferLeadership hands leadership to voter to ("" any up-to-date voter) and returns
	// the new leader's ID.
	TransferLeadership(ctx context.Context, to string) (string, error)
}

// ErrNotAvailable is wrapped by an action this build does not implement.
var ErrNotAvailable = errors.New("console: action not available on this build")

// ClusterView is the Cluster page.
type ClusterView struct {
	ClusterID   string // "" when the cluster has none (yet)
	ThisNode    string // the node serving the console
	LeaderID    string // "" when no leader is known
	Term        uint64
	CommitIndex uint64 // the leader's commit index (this node's when the leader did not answer)
	Nodes       []NodeRow
	// Latency is the commit latency seen by this node over the last minutes, oldest first.
	Latency []LatencyPoint
	// Events are the recent membership and leadership changes this node saw, newest first.
	Events []Event
}

// NodeRow is one node of the Cluster page. Unknown fields are zero, strings "unknown".
type NodeRow struct {
	ID           string
	Role         string // hybrid, management, storage ("" unknown)
	Voter        bool
	InRaft       bool
	RaftState    string // Leader, Follower, Candidate, Shutdown, unknown
	GossipStatus string // alive, suspect, dead, left, unknown
	// LastContactMS is the time since the node last heard from the leader (0 on the leader,
	// -1 unknown or never).
	LastContactMS int64
	AppliedIndex  uint64
	CommitIndex   uint64
	Drain         string // "", draining, drained
	Version       string
	S3Address     string
}

// LatencyPoint is the commit latency of one interval.
type LatencyPoint struct {
	Start    time.Time
	Count    uint64
	P50, P99 time.Duration // zero when Count is 0
}

// StorageView is the Storage page.
type StorageView struct {
	Nodes []StorageNode
	// Factor is the replication factor the data plane keeps.
	Factor int
	// Replication is the last repair pass's view of the blobs; nil when no pass has run or
	// the leader did not answer (ReplicationError says why).
	Replication      *Replication
	ReplicationError string
	// Tasks are the long operations (repair, drains, rebalance) with their progress.
	Tasks []Task
}

// StorageNode is one node's disk: the file system holding its data directory.
type StorageNode struct {
	ID           string
	Role         string
	HoldsData    bool // hybrid and storage nodes hold object bytes
	TotalBytes   uint64
	UsedBytes    uint64
	FreeBytes    uint64
	ReserveBytes uint64 // kept free for the WAL and snapshots (storage.min_free_bytes)
	Error        string // why the node's space is unknown
}

// Replication is what the last repair pass found.
type Replication struct {
	Checked, UnderReplicated, Unavailable, Lost uint64
	PassAt                                      time.Time
	Error                                       string
}

// Task is one long operation and its progress. Total 0 means the size is unknown (no bar);
// ETA < 0 means unknown.
type Task struct {
	Name   string // repair, drain node-3, rebalance
	State  string // running, idle, done, blocked...
	Done   uint64
	Total  uint64
	Unit   string // bytes or blobs
	ETA    time.Duration
	Detail string
}

// BucketsView is the Buckets page.
type BucketsView struct {
	Buckets []BucketRow
	// Objects and Bytes are the totals over every bucket (current versions).
	Objects, Bytes uint64
	// Partial is set when the counts stopped early (too many objects to count on one page
	// load): the numbers are lower bounds.
	Partial bool
	// CountedAt is when the counts were taken (they are cached briefly).
	CountedAt time.Time
}

// BucketRow is one bucket.
type BucketRow struct {
	Name       string
	Created    time.Time
	Versioning string // Unversioned, Enabled, Suspended
	ObjectLock bool
	Objects    uint64
	Bytes      uint64
}
