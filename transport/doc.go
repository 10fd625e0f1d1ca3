// Package transport is NebulaIO's node-to-node network layer: one TCP listener (default :9003)
// carrying raft's traffic (as a raft.StreamLayer), pipelined request/response RPCs, and streaming
// transfers of object bytes, optionally inside (mutual) TLS. It knows nothing of S3 or of our
// events: methods are names, payloads are bytes.
//
// # API
//
//	t, err := transport.New(transport.Config{BindAddr: ":9003", TLS: srv, ClientTLS: cli})
//	nt := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{Stream: t.RaftLayer(), ...})
//	t.Handle("engine.propose", h)                       // server side
//	reply, err := t.Call(ctx, leaderAddr, "engine.propose", req)
//	reply, err = t.CallStream(ctx, addr, "blob.put", hdr, body)    // upload (body may be a TrailerReader)
//	trailer := transport.UploadTrailer(body)                       // in a StreamHandler, after io.EOF
//	rc, err := t.OpenStream(ctx, addr, "blob.get", hdr)            // download
//	t.Close()
//
// # Why one multiplexed port
//
// Raft, RPC and bulk transfer all go between the same pairs of nodes. One port means one address
// per node to configure, advertise, firewall and put in raft's configuration (the RPC address of
// the leader is its raft address, so "forward to the leader" needs no second lookup table), one
// TLS set-up, and one place where Faults cuts a node off: a test partition cuts raft and RPC
// together, as a real network failure would. The cost is one byte per connection. Separate
// connections (rather than multiplexing everything over one) keep raft's heartbeats from queueing
// behind a 100 MiB object transfer, so each traffic class gets its own TCP connections and flow
// control.
//
// # Wire format
//
// A dialer opens TCP, sends the preamble in clear, then does the TLS handshake when configured:
//
//	+---------+---------+-------------------------------------+
//	| kind u8 | alen u8 | dialer's advertised address (alen)  |
//	+---------+---------+-------------------------------------+
//	kind: 0x01 raft, 0x02 RPC, 0x03 stream. Anything else: the listener closes the connection.
//
// The listener answers with the kind byte (inside TLS) when it accepts the connection; only then
// does the dialer use it, so a connection refused after the TCP handshake (partition, unknown
// kind, rejected certificate, refused identity) is a failed dial (ErrUnreachable), never a lost
// request. The preamble is in clear so that the listener, and a test's TCP proxy
// (internal/testcluster's drop network), know the kind and the dialer before any TLS work; it
// holds nothing secret (the address is the dialer's own advertised one). A peer on the path
// may alter it, which can only make the listener refuse the connection (VerifyPeer compares
// the claimed address with the certificate) — no more than dropping it would.
//
// The advertised address tells the listener which node is calling (used by Faults, for
// diagnostics and by VerifyPeer below; by itself it is not authentication — mutual TLS is).
// After the preamble a raft connection is handed to raft untouched (hashicorp/raft's own msgpack protocol). RPC and stream connections
// carry frames, all integers big-endian:
//
//	 0      1                    9               13              17
//	 +------+--------------------+---------------+---------------+------------------+
//	 | type | request id (u64)   | length (u32)  | crc32c (u32)  | payload (length) |
//	 +------+--------------------+---------------+---------------+------------------+
//	 crc32c: Castagnoli, over header bytes [0,13) followed by the payload.
//
//	type                dir   payload
//	1  request          c→s   timeout_ms u32 | mlen u8 | method (1..255) | body
//	2  response         s→c   reply body
//	3  error            s→c   kind u8 (0 handler error, 1 no handler) | clen u8 | code | message
//	4  cancel           c→s   empty: the caller of request id gave up; its handler's ctx ends
//	5  upload open      c→s   as request; the body follows as data frames
//	6  download open    c→s   as request; the reply follows as data frames
//	7  data             both  up to 64 KiB of stream body
//	8  end              both  end of stream body; of an upload: the trailer (0..4096 bytes)
//	9  abort            c→s   the uploader's body failed; payload is the message
//
// An upload's end frame carries its trailer as its whole payload, opaque bytes the transport
// does not interpret (MaxTrailerSize, 4 KiB, at most): what a TrailerReader body returned after
// its last byte, handed to the handler by UploadTrailer. It lets the sender pass what it only
// knows once the body has gone out (the dataplane's digests of the bytes) in the same stream.
// A trailer too long fails the upload at the sender, which sends abort instead of end; a
// receiver treats a longer end payload as a malformed frame. This is wire-compatible both ways:
// a sender without trailers (or one whose body is not a TrailerReader, or returns no bytes)
// sends an empty end frame, which UploadTrailer reports as nil; and a receiver that predates
// trailers checks only the end frame's type and ignores its payload. A download's end frame is
// empty.
//
// The decoder is defensive: it checks the type before anything else, bounds length by
// Config.MaxFrameSize before allocating, and verifies the checksum before looking at the payload.
// Any failure (also an unexpected type for the direction, or a malformed payload) closes that
// connection only: pending calls on it fail with ErrConnLost wrapping ErrBadFrame; the process
// and the other connections go on.
//
// RPC connections are long-lived and pipelined: a client keeps Config.PoolSize connections per
// address (default 2, dialled on first use, at most one dial in flight per address), each carrying
// any number of concurrent requests tagged with ids; replies come back in completion order and
// are matched by id. One writer goroutine per connection batches queued frames into one flush.
// timeout_ms carries the caller's remaining deadline, so the handler's context ends with it.
//
// A streaming transfer has a connection to itself while it runs: upload open, data..., end (or
// abort) from the client; then one response or error from the server, possibly before the body
// is finished, in which case the client stops sending and sends abort, and the server discards
// what was in flight up to it. A download is download open from the client, then data..., end
// (or error) from the server; the client closing the connection early cancels the handler's
// context. A transfer that ends at a frame boundary leaves the connection open: the server waits
// up to Config.StreamIdleTimeout for the next open frame, and the client keeps up to
// Config.MaxIdleStreams idle connections per address (default 64: enough for the uploads a
// loaded node has in flight to one peer, so a burst of concurrent transfers reuses connections
// instead of dialling and closing one each), reusing the most recently used one only if it has
// been idle for less than half that time and the socket shows no sign of the server having
// closed it (a watcher goroutine per idle connection, then a non-blocking peek). The watcher
// also expires its connection after half of StreamIdleTimeout unused, closing it and taking it
// off the list, so the pool shrinks back after a burst. Other endings close the connection.
//
// # Peer identity
//
// The transport knows no node identities; it gives its user two hooks. Config.VerifyPeer is
// asked about every connection after the TLS handshake: outbound before the preamble is sent
// (PeerInfo.Addr is the address dialled), inbound after the preamble is read and before the
// accept byte (PeerInfo.Addr is the address the peer claims); both carry the TLS connection
// state with the peer's verified certificate. An error refuses the connection: the listener
// closes it without a byte of answer, the dialler fails with ErrUnreachable wrapping
// ErrPeerRefused, and nothing is sent or served. Config.Refused is told of every refusal (a
// failed TLS handshake, an unknown preamble, VerifyPeer), and
// nebulaio_transport_refused_total counts them. Identify dials an address and returns what
// the handshake showed without sending a request, for a caller that must know who answers
// there before trusting it. Package node plugs internal/trust in here: certificates issued
// from the cluster secret, and the check that the certificate at an address names the node
// raft or gossip knows there (internal/trust/doc.go, "Verification").
//
// Without Config.TLS the listener serves whoever connects: NebulaIO's server always sets it
// (docs/security.md); tests and benchmarks of this package run both ways.
//
// # Failure model
//
// There is no on-disk state. What matters is what a caller may conclude when a call fails:
//
//   - ErrUnreachable: the request never left this node (dial refused or failed, partitioned,
//     connection already dead). Safe to retry anywhere.
//   - ErrConnLost: the connection failed after the request was queued: the handler may or may
//     not have run. A forwarded proposal that ends like this has an unknown outcome.
//   - ErrTimeout (with context.DeadlineExceeded): the deadline passed; outcome unknown.
//   - *RemoteError: the handler ran and returned an error (Code from RPCCode()).
//   - ErrNoHandler: the remote has no such method (it did nothing).
//   - ErrClosed: this Transport is closed.
//
// Requests are at most once: the transport never retries a request it may have sent. (It does
// skip a pooled connection already known dead, and redials, when the request certainly was not
// sent.) A peer that restarts is seen by its callers through EOF on the pooled connections; a
// call racing that EOF ends in ErrConnLost, since its request was written.
//
// Every call is bounded: by its context, or Config.CallTimeout when the context has none. A write
// that makes no progress for Config.WriteTimeout kills its connection, so a stalled peer cannot
// hold memory or goroutines, and since pools are per address a slow or dead peer never delays
// calls to another.
//
// # Faults
//
// Config.Faults (tests only) is applied inside the production paths: dialling (refused across a
// partition), the preamble check on the listener (inbound connections across a partition are
// closed), every write of every connection (delay; drop, which cuts raft and stream connections
// and loses RPC requests), and Partition, which closes live connections across the cut, raft's
// included. Raft therefore sees what it sees in a real partition: connections reset and dials
// failing in both directions.
//
// # Metrics
//
// Reported through the Metrics seam of docs/CONVENTIONS.md; MetricDescs is the list:
// nebulaio_transport_rpc_seconds (histogram), nebulaio_transport_rpc_errors_total,
// nebulaio_transport_bytes_sent_total, nebulaio_transport_bytes_received_total (wire bytes of
// every connection kind, TLS included), nebulaio_transport_connections (gauge) and
// nebulaio_transport_refused_total (connections refused, inbound and outbound).
package transport
