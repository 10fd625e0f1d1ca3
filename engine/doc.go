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
//     cluster; TransferLeadership moves leadership to a named voter (or any other voter);
//     Close hands leadership over first, Kill stops abruptly (tests).
//
// # Errors callers act on
//
// ErrNoQuorum (no leader known, or the leader cannot commit, within about one election timeout
// plus one heartbeat timeout — NoQuorumAfter — or the quorum fence below ended the work: the S3
// layer answers 503 with Retry-After), ErrLeadershipLost (the leader lost its role while the
// entry was in flight; outcome unknown), ErrLogStore (the leader's log store failed to write the
// entry - raft then steps down; the error names the leader and wraps vfs.ErrNoSpace for a full
// disk, also when it comes back to a follower through the forwarding RPC; outcome unknown),
// *NotLeaderError (wraps ErrNotLeader, names the leader), ErrClosed, and the caller's ctx.Err().
// A proposal is
// acknowledged only after raft committed it and the FSM applied it: a write that returned an
// error may still commit later, but a write that returned success is never lost.
//
// # The quorum fence: a minority fails fast
//
// A node that is not the leader and has had no contact with one for NoQuorumAfter is fenced.
// Contact is raft's LastContact (the last AppendEntries or heartbeat it accepted) or, once that
// is a heartbeat timeout old, an answer from the leader it knows that it still leads (a node
// whose log is being repaired accepts no AppendEntries for a while, yet reaches the leader). A
// leader that loses its quorum steps down within the leader lease (one heartbeat timeout) and
// is then fenced the same way. WithQuorum(ctx) gives a context that ends (cause wrapping ErrNoQuorum) when the
// fence closes, at once if it is closed; the server runs blob uploads under it. Without it a
// PUT on a node behind a partition that drops packets waited for the transport before it even
// proposed: its 10 s reply timeout (issue 22). Proposals, reads and membership calls are not
// fenced: a forwarded call ends at its own deadline (NoQuorumAfter plus one election timeout
// from the start of the proposal), and failing them at once while fenced only made clients spin
// through elections. Measured with the defaults (1 s election, 1 s heartbeat; real binaries in
// network namespaces, iptables DROP): a follower cut off answers a PUT with 503 after 2.1 s, an
// isolated leader after 2.6 s, a proposal-only write (DELETE) after 2.0 s; in-process
// (TestPartitionedNodeFailsFastThenHeals) 2.2 s. The fence reopens on the next contact. Its
// price: an upload in flight on a node that stays leaderless that long fails with 503, even if
// a leader appears later (its commit would have been refused by then anyway).
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
// not wait for an entry that will never be applied; a follower whose log does not reach the
// read index yet first waits until it does (an entry it has not received is not one it
// compacted: taking it for one made a read after a partition hang until the next write). A leader serves read indexes only once it
// has committed an entry of its current term (before that its commit index may lag its
// predecessor's); the first read of a term waits, within the no-quorum bound, for the commit
// index to reach the election no-op (not for a raft barrier, which would also wait for the FSM
// to replay the log and fail a read with ErrNoQuorum that has its quorum). Stale reads return
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
// # Gossip and raft disagree
//
// RunReconciler, given a MemberSource that is also a MemberReviver, checks on every node every
// Interval (2 s) the raft members that gossip shows dead: one that answers a status request, or
// the leader this node hears from, is revived (gossip's Reach: a push-pull at once). After a
// partition heals raft notices within a heartbeat, so gossip follows within the interval
// instead of its own periodic re-join (gossip/doc.go, "Healing").
//
// # The operator's decisions outlive the leader
//
// Removing, promoting and demoting a member change raft's configuration, but raft does not
// remember why: a leader elected later would see a removed node alive in gossip and add it
// back, or promote a demoted hybrid node because its configuration asks to vote. So the
// caller records each decision in replicated state first (package fsm's member records) and
// hands them to the reconciler as ReconcileOptions.Intents; the reconciler of every leader
// follows them over what gossip shows (intent.go): a member recorded as removed is never added
// back and is removed again if it is still in raft (ReconcileOptions.Refused lets the caller
// tell the node itself), a recorded voter decision replaces the member's own request, and a
// voter recorded as a non-voter is demoted (a leader recorded so hands leadership over first).
// Without Intents the leader that removed a member remembers it in memory only (until the
// member restarts), as before.
//
// # Who may join
//
// The reconciler adds to raft only members gossip shows alive, and gossip admits only members
// of this cluster (encrypted with a key derived from the cluster secret, labelled with the
// cluster ID). ReconcileOptions.VerifyMember adds a second proof before a member is added (or
// re-added at a new address) or promoted: the server dials the member's raft address and
// checks that the certificate presented there is signed by the cluster CA and names that
// member (internal/trust). A member that fails it stays out, whatever gossip says, and
// nebulaio_raft_members_refused_total counts the refusals. Raft itself then talks only over
// mutually authenticated TLS (the transport's listener refuses every other connection), so a
// process without the secret can neither be added nor send raft anything.
//
// # Leadership hand-over
//
// Close on the leader calls LeadershipTransfer (bounded by three election timeouts) before raft
// shuts down, so SIGTERM on the leader costs the cluster a transfer, not an election.
// TransferLeadership does the same on request, to a named voter (raft's
// LeadershipTransferToServer), through the membership RPC so that any node can ask; a
// non-voter target is ErrNotVoter.
package engine
