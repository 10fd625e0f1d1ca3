// Package node assembles and runs one NebulaIO server from a config.Config: the library
// behind `nebulaio server`, and what in-process cluster tests start (internal/testcluster),
// so that tests run the wiring users run.
//
//	n, err := node.Open(ctx, cfg, node.Options{Logger: log, Version: version})
//	...
//	err = n.Serve(ctx)     // until ctx ends or a listener fails
//	err = n.Close(drainCtx) // graceful: drain, hand leadership over, leave gossip
//
// Kill stops a node abruptly instead (tests: a crash as the cluster sees it). The accessors
// (S3Addr, AdminAddr, RaftAddr, GossipAddr, Engine, FSM, Data, Blobs, Gossip, Credentials)
// give tests and the banner what they need. ReloadTLS reads the S3 and admin listeners'
// certificate files again (`nebulaio server` calls it on SIGHUP): open connections go on,
// new handshakes get the new certificate, a failed reload keeps the one in force.
//
// # Start order (Open)
//
// Nothing is opened before the configuration is valid (the caller validates). Then, in order:
//
//  1. The data directory (created, mode 0750) and the root credentials: configured secrets
//     win; missing ones are read from data_dir/credentials.json, or generated and written
//     there with vfs.WriteFile (mode 0600, atomic and durable), so a restart keeps them.
//     Then the S3 and admin listeners' TLS certificates (s3.tls_*, admin.tls_*) and the
//     SSE-S3 keyring (encryption.master_key, old_master_keys): a file or key that does not
//     load stops the node here, naming its key, before anything listens.
//  2. The metrics: one Prometheus registry and one sink on which every library's table is
//     declared (MetricDescs); every library below reports through it.
//     Then the cluster identity (internal/trust): data_dir/cluster.json, or on a first start
//     the token's cluster (cluster.join_token), or a new cluster ID with the configured or a
//     generated secret for a node that bootstraps — a node that would join without a token,
//     or whose data belongs to another cluster than its token's, stops here. From it: the
//     node's TLS certificate (issued from the CA derived from the secret, or the operator's
//     files) and the recorder of refused contacts with other clusters. Then the keyring
//     sealing users' secret keys: iam.master_key, or a key derived from the cluster secret.
//  3. The admin listener (admin.address): probes, /metrics and the admin API. It comes
//     first so that /health/live answers and /health/ready says "starting" while the rest
//     starts, which with cluster.expect_nodes can take as long as the other nodes take.
//     The console listener (console.address, console.go) starts with it: its public /up
//     page answers at once, its other pages say "starting" until the engine runs. The
//     engine's commit latency is teed into the console's chart, a watcher (with the
//     reconciler, step 9) feeds its event list, and every node answers the console.disk RPC
//     (its data_dir's file system) for the storage page; the console's actions take the
//     admin API's paths (membership.go).
//  4. The raft transport (cluster.raft_address): one multiplexed listener for raft and the
//     node-to-node RPCs, mutual TLS only; a connection is served only when its certificate
//     is of this cluster and names the node raft or gossip knows at the peer's address. It
//     advertises cluster.advertise_address with the listen port (the OS-chosen address for
//     port 0).
//  5. Gossip (cluster.gossip_address), encrypted (cluster.gossip_key, or a key derived from
//     the secret) and labelled with the cluster ID, with the node's metadata (role, voter,
//     its raft, S3 and admin addresses, version, cluster ID); it joins cluster.join_addresses and the peers
//     remembered from the last run (data_dir/gossip-peers.json), so that a restarted
//     bootstrap node finds the cluster again.
//  6. The blob store (data_dir/blobs) and the data plane over the transport. The data plane
//     learns members from the engine and liveness and roles from gossip, through callbacks
//     that see nothing until the engine runs.
//  7. The FSM (bounded by performance.metadata_cache_size and max_raft_log_entries), whose
//     freed blobs go to the data plane from the first entry raft replays — so the data plane
//     exists before the engine.
//  8. The engine (data_dir/raft: WAL and snapshots), bootstrapping if configured. A bootstrap
//     node with cluster.expect_nodes > 1 waits here until gossip shows that many voters, or
//     ctx ends.
//  9. The membership reconciler (leader: add, promote, reap members as gossip sees them; a
//     member is added or promoted only after it proved over the transport to be the node
//     gossip names), the peers file recorder, and the cluster-ID watch (the leader writes the
//     cluster ID into replicated state once; a node whose identity differs from it turns
//     unready), in the background.
//  10. The S3 listener (s3.address) with the one S3 backend (s3.NewBackend over the engine,
//     the FSM and the data plane), its uploads under the engine's quorum fence; then the data
//     plane's maintenance in the background (GC and scrub on every node; repair and multipart
//     expiry on the leader). S3 opens last: it answers only once the node can serve.
//
// A failure at any step stops what was started, in the order below, and Open returns the
// error naming the configuration key (admin.address, cluster.raft_address, ...).
//
// # Shutdown order (Close) and why
//
//  1. The background work ends (reconciler, maintenance, a pending expect_nodes wait): no
//     membership change or repair starts while the node goes.
//  2. The S3 listener stops accepting and drains requests in flight (within the context's
//     deadline) while raft still runs, so that their writes can still commit; then the
//     console listener drains.
//  3. The engine closes: a leader transfers leadership first, so the cluster elects the next
//     leader at once instead of after an election timeout.
//  4. Gossip leaves (others see "left" at once, not "dead" after failure detection) and
//     stops.
//  5. The transport closes, then the data plane (whose background calls now fail fast) and
//     the blob store.
//  6. The admin listener drains last, so the probes answer until the end.
//
// Kill does the same without the courtesies: no drain, no leadership transfer, no gossip
// leave; what was committed is on disk, so Open on the same data directory resumes.
//
// # Concurrency
//
// Open runs on one goroutine; while it runs (it may block on expect_nodes) the admin API
// reads the engine, gossip and the data plane through accessors that return nil until each
// part has started. Close and Kill are called once, after Open returned.
package node
