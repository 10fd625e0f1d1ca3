// Command faults is NebulaIO's fault suite, in the manner of etcd's robustness tests and
// Jepsen: for each fault, a fresh three-node cluster of real nebulaio processes under a bounded
// S3 load; one fault; heal; wait until the cluster is whole; check. It prints one table
// (fault, acknowledged operations, unknown outcomes, lost, corrupt, phantom, the longest
// stretches without a successful operation and without a successful write, heal-to-whole
// time, verdict) and exits non-zero if any run fails.
//
//	faults -bin bin/nebulaio [-profile full|short] [-faults kill-leader,...] [-work DIR] [-keep] [-seed N]
//
// scripts/faults.sh builds it and runs it (`make faults`: the full profile; `make e2e-faults`
// and `make e2e`: the short one). What the suite promises users is in docs/operations.md ("Guarantees under faults").
//
// # The lab
//
// Each node runs in its own network namespace with one veth into a bridge that lives in a hub
// namespace; the host reaches the bridge through a veth of its own, so this process talks to
// every node directly and the nodes reach each other only through the bridge (lab.go). A
// partition is iptables DROP rules inside the cut-off node's namespace naming its peers'
// addresses, so it acts on raft, node-to-node RPC and gossip (TCP and UDP) alike, can drop one
// direction only, and leaves the clients' path open (clients of a partitioned node still
// reach it, as in Jepsen). Nothing is routed through the host and no rule is added to the
// host's firewall. Processes rather than containers: namespaces give real (and asymmetric)
// partitions without Docker (`docker network disconnect` cannot drop one direction), a kill
// -9 or SIGSTOP reaches the process itself, a data directory can be a tmpfs of its own, and a
// run costs no image build. It needs root.
//
// Every run makes a join token (`nebulaio cluster new-token`) and gives it to every node
// (NEBULAIO_JOIN_TOKEN), as deploy/docker-compose.yml does: node 1 bootstraps the token's
// cluster with cluster.expect_nodes 3, nodes 2 and 3 join it through the other two's gossip
// ports, so raft runs over mutual TLS and gossip is encrypted; every other setting is the
// default (1 s election and heartbeat timeouts, replication factor 3, write quorum 2). A
// run's directory holds each node's data_dir and one log per process start (n1.1.log,
// n1.2.log after a restart), the history (history.jsonl), faults.log (each change of what
// keeps the cluster from being whole after the heal, with the time since the heal) and, when
// a key is not linearizable, porcupine's visualization (linearizability.html). It is removed
// when the run passes (unless -keep); running one fault twice gives each run a directory.
//
// # The load (load.go)
//
// Six workers, each bound to one node, each issuing one operation at a time with a 40 ms pause
// (120 ms after a failure): puts, overwrites and deletes of a few register keys shared by all
// workers, reads of them, puts of unique keys (written once: the durability set) and reads of
// unique keys already acknowledged, listings of the unique keys, and a few multipart uploads
// (5 MiB and a bit) of unique keys. Every value is self-describing (values.go): its first line
// names the key and a version unique in the run, the rest is generated from them, so every
// read is checked byte for byte. The clients never retry (a retried write could take effect
// twice, at times the history cannot show). Every operation is recorded with its invocation
// and response times and its outcome:
//
//   - ok: a 2xx answer (for a read, also NoSuchKey);
//   - failed: it certainly did not take effect: the connection was refused (nothing sent), a
//     4xx answer (a refusal before acting: bad signature, clock skew), or a multipart upload
//     whose create or part failed and which was therefore never completed;
//   - unknown: anything else: a 5xx (a 503 after a lost quorum may still commit: engine/doc.go),
//     a timeout (8 s), a connection broken mid-request.
//
// # The checks (check.go, run.go)
//
// After the heal the load goes on for a while, then stops, and the cluster must become whole
// within the profile's bound: every node ready, every node a raft voter alive in gossip as
// every node sees it (GET /api/v1/admin/cluster/nodes), one leader that all agree on, all
// voters healthy. Then every key ever written is read through every node (a read that fails
// is retried for 10 s) and:
//
//   - lost: an acknowledged unique key missing or unreadable on a node; a register whose last
//     write was acknowledged and not concurrent with any other write that may have taken
//     effect, served with another value (or a deleted one served at all);
//   - corrupt: any read, during the run or at the end, whose bytes are not exactly a value
//     written to that key, or name a version never written to it;
//   - phantom: a read or listing that shows a write that certainly failed;
//   - stale listing: a listing without a unique key acknowledged before it started;
//   - linearizability: every key is a register (put sets it, delete empties it, get returns
//     it), checked with porcupine per key over the whole history, final reads included; a
//     write of unknown outcome may take effect at any time after its call;
//   - the fault took effect (each fault's verify: a new leader was elected, the torn tail was
//     truncated, the flipped byte was detected, the full disk refused blob writes while
//     writes through that node still succeeded, the clock step made the node refuse
//     requests; for partitions also: writes through the cut-off node fail within 5 s and none
//     is acknowledged);
//   - no goroutine or descriptor growth: go_goroutines and process_open_fds of each node, with
//     this process's idle connections closed, back within 25% plus 40 goroutines and 20
//     descriptors of the baseline taken after the warm-up, within 30 s;
//   - a clean stop: SIGTERM makes every node exit 0 within 30 s.
//
// Under the table each run's notes give what was measured beside the verdict: the failover
// time, the slowest failure of a write through a cut-off node, the unknown outcomes by S3
// error code, the leader changes each node saw, and each node's goroutines and descriptors
// at the baseline and at the end.
//
// The unavailability window ("unavailable") is the longest stretch of the load (fault
// included) in which no operation succeeded on any node; "no write ok" is the same for writes
// alone (reads of local copies can go on while no write commits). healed→whole is the time
// from the heal to the first moment the cluster is whole, polled while the load goes on; it
// must then still be whole once the load has stopped.
//
// # The faults (faults.go)
//
// kill-leader and kill-follower (kill -9, restart after the hold); pause-leader (SIGSTOP,
// SIGCONT after the hold); partition-leader (the leader cut off both ways for the partition
// hold, longer than gossip's failure detection, so that healing is exercised); asymmetric-
// partition (the leader hears nothing from its peers, which still hear it); disk-full (node
// 3's data_dir is a 384 MiB tmpfs, filled to the last byte by a file that is removed at the
// heal); clock-jump (the leader's wall clock stepped +10 min, -10 min, then +1 h, a third of
// the hold each, through the test-only NEBULAIO_TEST_CLOCK_OFFSET_FILE hook of cmd/nebulaio:
// a real step needs CAP_SYS_TIME and moves every process on the machine, and libfaketime
// does not reach a Go binary); torn-wal (kill -9 of the leader, then a record header for the
// next index and a part of its body written after the last record of its newest WAL segment:
// what a crash during an unsynced append leaves; damaging a synced record instead would be
// losing acknowledged data, which raft does not claim to survive); flip-byte (an object is
// written, one data byte of its blob file on a follower is inverted, and so is one of up to
// five other blob files there; the object is read through that follower at once and
// everything through every node at the end).
//
// # Cleanup
//
// Everything a run starts or creates is undone on every way out, interrupts included
// (SIGINT/SIGTERM end the run early): the node processes are killed, the tmpfs unmounted, the
// namespaces deleted (which removes the veths and the iptables rules in them).
// scripts/faults.sh sweeps namespaces and mounts with the run's prefix as well, for the case
// where this program itself is killed.
package main
