// Package gossip is NebulaIO's cluster membership: discovery, failure detection and node
// metadata over hashicorp/memberlist (SWIM). It knows nothing of raft or S3; the engine consumes
// its events to reconcile raft membership, and the admin API lists its members.
//
// # Wire and ports
//
// memberlist listens on one port for both UDP (probes, gossip) and TCP (push-pull state sync,
// joins, fallback probes); the default is 0.0.0.0:9004. Config.BindAddr is where it listens,
// Config.AdvertiseAddr what the others are told (a host name is resolved once, at New). With port
// 0 the OS picks a port free for TCP and UDP (memberlist retries the pair) and Gossip.Addr
// reports it. The memberlist node name is the node ID.
//
// # What is gossiped
//
// Besides memberlist's own alive/suspect/dead messages, two things:
//
// Node metadata (NodeMeta), carried in every alive message, at most 512 bytes (MetaMaxSize):
//
//	offset  size     field
//	0       1        version = 1 or 2 (any other value: ErrMetaVersion)
//	1       1        flags: bit 0 voter; bits 1-7 reserved, must be 0
//	2       8        instance, uint64 big-endian: random per process start
//	10      ...      six strings (version 1) or seven (version 2), each a uvarint byte length
//	                 then UTF-8 bytes, in this order:
//	                 ID, Role, RaftAddr, S3Addr, AdminAddr, Version[, ClusterID]
//
// Metadata is written at the lowest version that holds it: version 2 exactly when it has a
// cluster ID, so a version 2 record with an empty cluster ID is corrupt and every value has
// one encoding. The decoder bounds every length by the bytes that remain, rejects reserved
// flags, invalid UTF-8 and trailing bytes (ErrMetaCorrupt) and never panics (FuzzDecodeMeta). A member whose
// metadata does not decode, or whose metadata ID is not its node name, is still listed, with
// only Meta.ID set, and nebulaio_gossip_meta_decode_errors_total counts it.
//
// Leave intents, a user message gossiped before memberlist's leave:
//
//	0x01 | instance uint64 BE | uvarint length | node ID
//
// memberlist announces a graceful leave as a "dead" message and, in v0.7.0, its callbacks do not
// say whether a node left or failed. The intent lets receivers record StateLeft instead of
// StateDead; it counts only if its instance matches the member's current metadata (so a stale
// intent never marks a restarted process as left), it may arrive before or after memberlist's
// message, and each receiver re-gossips it once.
//
// # Timings
//
// Defaults are memberlist's LAN profile with a shorter suspicion so that a dead node is declared
// in about 5 s:
//
//	ProbeInterval 1 s, ProbeTimeout 500 ms, SuspicionMult 4, SuspicionMaxTimeoutMult 2,
//	GossipInterval 200 ms, PushPullInterval 15 s, TCPTimeout 5 s.
//
// Each member probes one other member per ProbeInterval (round robin), so a dead node is probed
// within about one interval by someone; the direct probe fails after ProbeTimeout, indirect and
// TCP probes end with the interval, and the node becomes suspect about 1-2 s after it died. The
// suspicion timeout is SuspicionMult × max(1, log10 N) × ProbeInterval = 4 s for N < 10 nodes
// (8 s for 100). With N ≥ 4 memberlist wants SuspicionMult-2 = 2 independent confirmations
// from other members to hold that minimum; without them the timeout starts at
// SuspicionMaxTimeoutMult × 4 s = 8 s and shrinks as confirmations arrive (they do, within a
// probe round, when the node is really down). So: about 5-6 s typically. The worst case adds
// the longest wait for a probe (round robin over a shuffled list: up to 2(N-1)-1 intervals for
// one prober) and the longest suspicion: Config.FailureDetectionBound(N) computes it, 13 s for
// N = 3 and 15 s for N = 4 — where N is memberlist's count, which keeps a dead member for 30 s,
// so a cluster of three alive members that just lost a fourth counts 4, expects two
// confirmations that only one member can give, and waits longer. Tests bound detection with it.
// (TestFailureDetectionDefaultTiming measures 5-6 s with 3 nodes.) A node under CPU pressure
// may stretch its own probe interval up to 8× (memberlist's awareness), which slows detection
// beyond that bound rather than causing false positives.
//
// # Members and states
//
// Gossip keeps its own record per node ID — memberlist forgets dead nodes after 30 s — so
// Members lists alive, dead and left members with the time of their last state change, until
// Forget drops a dead or left one. The local node is included. StateSuspect exists in the API
// but memberlist v0.7.0 does not report suspicion, so a suspect member shows as alive until it
// is declared dead or refutes. nebulaio_gossip_nodes is the number of alive members (itself
// included); nebulaio_gossip_nodes_dead the number remembered dead.
//
// # Events are lossy but resyncable
//
// memberlist calls its delegates on its own goroutines with its node lock held; blocking there
// would stall failure detection for the whole node. So Events is a buffered channel
// (Config.EventBuffer, default 256) fed without ever blocking: when it is full the event is
// dropped, nebulaio_gossip_events_dropped_total counts it and the next delivered event carries
// the number dropped in Event.Dropped. Members is always complete and current, so a consumer
// reconciles from Members at start, whenever Event.Dropped is not zero, and periodically (drops
// at the end of a burst are only reported with the next event). Events are hints; Members is
// the truth. Events include the local node's own join and leave. The channel is closed by
// Shutdown.
//
// # Joining
//
// With Config.JoinAddresses, New joins in the background: an attempt contacts every address
// and succeeds if it reaches a member other than this node — an address that resolves to this
// node's own is skipped, and a push-pull with itself is not a join (it was, and a node whose
// list named itself "joined" alone and stopped retrying). Failures are retried after
// JoinRetryMin doubling up to JoinRetryMax (defaults 500 ms, 30 s), each delay drawn uniformly
// from [d/2, d], until one attempt succeeds or Shutdown. A node without join addresses is a
// seed and waits to be joined. Join joins explicitly. Joining any member is enough: push-pull
// brings the whole membership.
//
// # Healing
//
// memberlist alone does not merge two sides that declared each other dead: it probes and
// pushes state only to members it holds alive (dead ones get gossip for a while, but only while
// there is something to broadcast), so once the dead messages have been gossiped, a partition
// that heals stays split — the issue-22 run saw a node partitioned for 17 s or more stay
// dead to the others for minutes, while an 8 s partition healed. So, after the first join (at
// once for a seed), every Config.RejoinInterval (default 5 s, jittered to [RI/2, RI]) a node
// push-pulls with:
//
//   - every member it holds dead (not left): the exchange tells a member that came back it was
//     declared dead, it refutes with a higher incarnation, and a second exchange 2 gossip
//     intervals later makes both sides take each other alive at once;
//   - every join address that names neither this node nor an alive member, so that groups that
//     formed apart (joiners that started before their seed) merge once the seed is up.
//
// Once the network heals, the members are alive again within about RejoinInterval plus two
// push-pull round trips (TestPartitionHeals: 0.2-0.5 s with a 500 ms interval). Reach(id) does
// the same for one member at once: the engine calls it when raft hears from a member that
// gossip holds dead. A dead member that never comes back costs one failed dial per interval
// until it is removed (Forget). nebulaio_gossip_rejoins_total counts the re-joins that reached
// someone.
//
// # Restarts with the same node ID
//
// A restarted process has a new instance nonce and a fresh memberlist incarnation. At the same
// address, the others' view of it (alive, suspect or dead) is refuted by memberlist with a
// higher incarnation and it is alive again. At a new address, memberlist lets a dead node's name
// move to a new address immediately (DeadNodeReclaimTime is set to 1 ns: IDs are unique, so a
// dead ID reappearing elsewhere is that node moved). If it comes back before the others have
// declared the old address dead, they reject the new address as a conflict, and nothing in
// memberlist tells them again once the old address is dead (until a periodic push-pull, 15 s).
// So the new process, told of the conflict by memberlist's conflict callback, re-joins —
// push-pull with its join addresses and every member it knows — every (SuspicionMult+2) ×
// ProbeInterval, as many times as it takes to outlast the longest suspicion (4 times, 6 s apart,
// with the defaults), restarting that count on every new conflict report; the first re-join
// after the old address is declared dead makes it alive at the new one. Either way Members lists
// the ID once, with its new address and metadata.
//
// # Cluster identity
//
// With Config.ClusterID set, a member of another cluster is refused at two gates and never
// merged (issue 16: two clusters bootstrapped apart merged through gossip and kept different
// metadata for good):
//
//  1. The label. memberlist writes Config.ClusterID as its label ("nebulaio/<id>") in clear
//     in front of every packet and stream; with encryption it is also authenticated data of
//     the AES-GCM seal, so it cannot be changed in flight. A wrapper around memberlist's
//     transport reads the label of everything that arrives before memberlist does: a packet
//     labelled otherwise (or not at all) is dropped; a stream gets a refusal frame and is
//     closed. The frame, in clear, is 0xFE 'N' 'B' 'I' 'O' 0x01, a length byte and this
//     node's cluster ID; 0xFE is no memberlist message type, so the dialler's wrapper
//     recognises it in the first byte of the answer. Both sides thus learn the other's
//     cluster ID, whatever keys they hold — two clusters with different secrets could not
//     otherwise tell "another cluster" from "a network failure".
//  2. The metadata. NodeMeta.ClusterID travels in every alive message; memberlist's alive
//     delegate vetoes an alive message about a node whose metadata names another cluster,
//     none, or does not decode (memberlist then ignores it: the node is never added, probed
//     or listed), and its merge delegate cancels a join's whole state exchange when the
//     other side knows any such node. This gate matters if a member relays what it should
//     not; with the label in place it is not normally reached.
//
// Every refusal is reported to Config.OnRefused (Refusal: direction, address, the other
// cluster ID when it named one, which gate); the server counts and logs them
// (nebulaio_cluster_foreign_refused_total, internal/trust) and a node whose own joins were
// refused says so in its readiness probe. Join fails with an error wrapping both ErrJoin and
// ErrForeignCluster when only such members answered. The background joiner and the healer keep
// retrying the configured addresses (an operator may fix the other side), each attempt refused
// alike.
//
// A rogue process that knows the cluster ID (it is not secret: it travels in clear) passes the
// label gate, but without the key its packets do not decrypt and memberlist drops them
// (GossipVerifyIncoming); with the key it is a member, which is why the key is derived from
// the cluster secret (internal/trust) and the transport port asks for a certificate as well.
//
// # Encryption
//
// Config.SecretKey (16, 24 or 32 bytes: AES-128/192/256-GCM) encrypts all UDP and TCP gossip and
// makes memberlist reject unencrypted or foreign-key traffic, so a node without the key cannot
// join. The server always sets one: by default a 32-byte key derived from the cluster secret
// (internal/trust), or cluster.gossip_key when configured. Keys kept as text (cluster.gossip_key, NEBULAIO_GOSSIP_KEY) are standard base64 and go
// through DecodeKey; there is deliberately no guessing between raw and base64 bytes, since a
// 24-character base64 text is also a valid 24-byte raw key. Key rotation is not supported.
//
// # Shutdown and crash model
//
// Leave gossips the leave intent and memberlist's leave and waits (bounded) for both to go out;
// the node still answers gossip until Shutdown. Shutdown stops memberlist without a word (the
// others declare the node dead), stops the join goroutine and closes Events. Close is both.
// This package keeps no state on disk: after a crash the node starts from nothing, rejoins
// through its join addresses and refutes what the others remember of it, as above.
//
// # Metrics
//
// MetricDescs lists them: nebulaio_gossip_nodes, nebulaio_gossip_nodes_dead,
// nebulaio_gossip_events_total, nebulaio_gossip_events_dropped_total,
// nebulaio_gossip_join_attempts_total, nebulaio_gossip_join_failures_total,
// nebulaio_gossip_rejoins_total, nebulaio_gossip_meta_decode_errors_total.
//
// # Faults
//
// Config.Faults (tests only) wraps memberlist's network transport so that a test can partition
// members as a firewall would: packets across a cut are dropped, stream dials across it fail.
package gossip
