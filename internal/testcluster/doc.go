// Package testcluster starts real NebulaIO nodes (package node, as `nebulaio server` runs them)
// in one process, on 127.0.0.1 with ports the OS picks, each in its own temporary data
// directory, and gives tests what they need to drive and check a cluster:
//
//	c := testcluster.Start(t, testcluster.Options{Nodes: 3})
//	l := c.WaitForLeader()
//	c.Kill(l)
//	nl := c.WaitForNewLeader(l)
//	c.Partition(nl)  // raft (transport Faults) and gossip (gossip Faults) cut both ways
//	c.Heal()
//	c.Restart(l)     // same ID and data directory, new ports
//	c.Verify()       // every cluster test ends with this
//
// Formation: node 0 bootstraps, the others join node 0's gossip address (unless Configure
// sets their join addresses). Every node is configured with the cluster's join token (Token:
// a random cluster ID and secret, made by New), as an operator would hand one out, so the
// nodes authenticate each other as production nodes do (mutual TLS, encrypted gossip); Start waits until the leader's raft configuration holds every
// node with the suffrage its configuration asks for. New creates the nodes without starting
// them, for tests that start nodes in their own order (Start(i) returns once the node's
// gossip runs, because a bootstrap node with cluster.expect_nodes waits inside node.Open).
//
// Verify checks what every cluster test should end with (STYLE.md item 12): the running
// nodes converge on identical FSM contents (fsm.Digest: same applied index, same records);
// every write the test acknowledged (PutObject, or Acknowledge for writes it made itself) is
// in every FSM and its bytes read back intact through S3; and no two nodes were seen leading
// in the same term (an observer samples every running node's raft state and term every few
// milliseconds from New to Verify, so a short double leadership can be missed, never
// invented).
//
// Partitions: Partition(i...) puts nodes on a new side, as transport.Faults does: links
// between sides are cut, existing connections closed, new dials refused. With
// Options.DropNet the raft links go through TCP proxies that drop instead (a cut connection
// stops moving bytes and a new one is never answered), which is what a firewall does and what
// the quorum fence's timing is about.
//
// The package is not a _test.go file (Go shares none across packages), so it does not import
// "testing": it takes the small T interface that *testing.T satisfies.
package testcluster
