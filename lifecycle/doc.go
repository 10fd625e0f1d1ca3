// Package lifecycle runs the buckets' lifecycle rules: on the leader, a pass lists every
// bucket that has rules, finds the current versions, noncurrent versions, lone delete markers
// and multipart uploads the rules say are due (the rule evaluation is package fsm's,
// fsm.LifecycleRule), and proposes fsm.LifecycleExpire events naming them, in batches,
// throttled. The events are ordinary replicated events: the FSM judges every target again
// when it applies it, against the rule and the state at that moment, so nothing that is no
// longer due is touched, and object lock is never overridden (see fsm/doc.go, "Lifecycle").
//
// # Imports
//
// lifecycle imports fsm (the metadata types, the rule evaluation and the event) and nothing
// else of NebulaIO. What it needs of the node comes in Config: Meta (*fsm.FSM), Proposer (the
// S3 backend's Propose, which forwards to the leader), Barrier (engine.Node.Read,
// linearizable) and IsLeader.
//
// # Why its own package
//
// The data plane's maintenance (package dataplane) keeps bytes: garbage collection, repair,
// scrubbing and the expiry of uploads abandoned for a week. Lifecycle rules are metadata
// policy — S3 filters, versions, object lock — and move no byte themselves (the blobs a
// LifecycleExpire frees are deleted by every node's data plane as it applies the event, like
// any freed blob). The two share nothing but a leader check, so they are two packages.
//
// # Schedule, resumption and throttling
//
// Run starts a pass every Interval while the node is the leader (the first one Interval after
// the start, at most a minute). A pass starts with a read barrier, so it sees every write
// acknowledged before it; it stops when leadership is lost (ErrNotLeader) or a proposal's
// outcome is unknown, and the next leader's next pass starts over from the first bucket:
// passes are idempotent (a target already carried out is "not due" the second time), so no
// progress needs to be saved. Proposals are throttled to Rate targets a second.
//
// # Days
//
// A lifecycle day is Config.Day (lifecycle.day, default 24 h): due times are computed with it
// and it travels in every LifecycleExpire. Tests shrink it to seconds; a cluster must use one
// value on every node (the S3 layer's x-amz-expiration uses the same setting).
//
// # What it reports
//
// LastRun returns the summary of the last pass this node ran (as leader): when it started,
// how long it took, what it examined and carried out, what object lock kept. Metrics through
// the three-method seam of docs/CONVENTIONS.md; names and meanings in MetricDescs
// (nebulaio_lifecycle_*).
package lifecycle
