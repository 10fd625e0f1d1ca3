// Package engine runs one NebulaIO node's metadata replication: hashicorp/raft assembled on
// NebulaIO's own write-ahead log (package wal, the LogStore and StableStore), snapshot store
// (package snapshot) and transport (package transport), around a caller-supplied state machine
// (package fsm in production; any raft.FSM works). Object bytes are package dataplane's: the
// engine knows nothing of blobs, and dataplane does not import it (it takes the engine's
// answers as func values: ServerAddr, Servers, IsLeader, Read as a barrier).
//
// # API
//
//   - Open(Config) starts a node: a bootstrap node without state starts a one-voter cluster of
//     itself; other nodes start empty and are added by the leader (ChangeMembership).
//   - Propose(ctx, cmd) replicates an encoded event and returns the FSM's result once the entry
//     is committed and applied. On a follower it is forwarded to the leader over the transport
//     (pooled, pipelined connections), which is why Config.Results must encode results.
//   - Read(ctx, Linearizable|Stale) prepares the local FSM for a read (see below); the caller
//     then reads the FSM directly.
//   - Leader, IsLeader, WaitForLeader, AppliedIndex, ChangeMembership observe and steer the
//     cluster; Close hands leadership over first, Kill stops abruptly (tests).
//
// # Errors callers act on
//
// ErrNoQuorum (no leader known, or the leader cannot commit, within about one election timeout
// plus one heartbeat timeout: the S3 layer answers 503 with Retry-After), ErrLeadershipLost (the
// leader lost its role while the entry was in flight; outcome unknown), ErrLogStore (the leader's
// log store failed to write the entry - raft then steps down; the error names the leader and
// wraps vfs.ErrNoSpace for a full disk, also when it comes back to a follower through the
// forwarding RPC; outcome unknown), *NotLeaderError (wraps ErrNotLeader, names the leader),
// ErrClosed, and the caller's ctx.Err(). A proposal is
// acknowledged only after raft committed it and the FSM applied it: a write that returned an
// error may still commit later, but a write that returned success is never lost.
//
// # Forwarding is never retried blindly
//
// A forwarded proposal is re-sent only when the leader answered not_leader (it never reached
// raft) or the leader could not be dialled at all (nothing was sent). A proposal whose connection
// broke after sending is reported as ErrNoQuorum, because re-sending could apply it twice.
//
// # Reads
//
// Linearizable: the leader records its commit index, confirms leadership with a round of
// heartbeats (VerifyLeader), and the reading node waits until its FSM has applied that index. A
// follower asks the leader for that read index over the transport. Entries the FSM never sees
// (the leader's no-op, barriers) are skipped by looking the index up in the log, so a read does
// not wait for an entry that will never be applied. A leader serves read indexes only once it
// has committed an entry of its current term (before that its commit index may lag its
// predecessor's); the first read of a term waits for a barrier when needed. Stale reads return
// at once.
//
// # Log bounds
//
// performance.max_raft_log_entries = M gives raft TrailingLogs = M/2 and SnapshotThreshold = M/2:
// the log holds at most about M entries between snapshots. Snapshots are checked every
// SnapshotInterval (default 5s). An FSM that bounds its changed records (fsm with a snapshot
// store attached) also asks for a snapshot when half of its bound has accumulated, whatever the
// log length, and the node takes one at once; see Config.FSM.
//
// # Leadership hand-over
//
// Close on the leader calls LeadershipTransfer (bounded by three election timeouts) before raft
// shuts down, so SIGTERM on the leader costs the cluster a transfer, not an election.
package engine
