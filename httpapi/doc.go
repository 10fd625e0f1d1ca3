// Package httpapi serves NebulaIO over HTTP: the admin handler (:9001: health probes, /metrics
// and the admin API, whose cluster operations it reaches through the Cluster interface), the
// listeners' servers with their timeouts (NewServer for the admin port, NewStreamingServer for
// the S3 port), and the Prometheus adapter. The S3 API itself is httpapi/s3 (with httpapi/sigv4);
// package node wires both ports. The console (console.address) is httpapi/console.
//
// It is the only package that knows Prometheus: library packages report through the metrics
// seam of internal/metrics (Counter, Gauge, Observe; see docs/CONVENTIONS.md) that PromSink
// implements; an undeclared name panics.
//
// Servers follow standard-library style: handlers are http.Handler and Shutdown(ctx) drains.
// Every listener has read, write and idle timeouts (Timeouts; config keys
// <listener>.read_timeout, .write_timeout, .idle_timeout):
//
//   - NewServer (admin): whole-request deadlines — headers and body within the read timeout,
//     handling and response within the write timeout.
//   - NewStreamingServer (S3): no deadline caps a transfer as a whole. The headers must arrive
//     within the read timeout; from the start of each request the body must keep arriving
//     (each read pushes the read deadline ahead), also when the handler never reads it and
//     net/http drains it after answering; a body must deliver MinBodyProgress (64 KiB) per read
//     window, so a client trickling a byte now and then is cut off too (ErrSlowBody, a timeout
//     the S3 layer answers with RequestTimeout); each response write must make progress
//     within the write timeout. Before these, a client that sent the headers of a PUT and
//     then stalled held its connection forever whenever the handler answered without reading
//     the body (NoSuchBucket, AccessDenied): net/http drained the body first, with no deadline.
//
// The admin listener also serves Go's profiles (net/http/pprof, DebugRoutes) under
// /debug/pprof/, behind the same bearer token as the admin API. They are always mounted rather
// than switched on by a config key: they cost nothing until called, and whoever holds the token
// can already remove nodes, a greater power than reading a profile. A CPU profile must be
// shorter than admin.write_timeout (?seconds=20 with the defaults).
//
// Identities (iam.go, IdentityRoutes): users, their access keys and named identity policies,
// proposed through IdentityStore and read after its read barrier. A secret key is generated
// (or taken from the request), sealed with the Keyring before it is proposed, and returned in
// that one answer (Cache-Control: no-store); no other answer carries it. Policy documents are
// parsed (package iam) before they are proposed, so the metadata holds only documents that
// parse. FSM rejections keep their codes (NoSuchUser 404, UserAlreadyExists 409, ...).
//
// Every route that needs the token is behind a per-address limit of failures (authlimit.go):
// a 401 takes a token from the address's bucket, and an address without tokens is answered
// 429 with Retry-After before its token is compared (AdminMetricDescs count both).
package httpapi
