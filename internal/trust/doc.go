// Package trust is a NebulaIO cluster's identity and the credentials derived from it: the
// cluster ID, the cluster secret, the join token that carries both to a new node, the key
// gossip is encrypted with, and the certificate authority whose certificates authenticate
// every node-to-node connection. It is what makes a cluster closed by default: a process
// that does not hold the secret can neither join gossip nor open a connection to the raft
// and RPC port, and a node of another cluster is refused, by name, at both.
//
// The package knows the transport only through its two hooks (transport.Config.VerifyPeer
// and Refused) and gossip not at all; package node wires them.
//
// # Identity
//
// A cluster is named by a cluster ID (8 random bytes, 16 lowercase hex digits) and held
// together by a secret (32 random bytes). Both are created when the first node bootstraps
// (the secret may instead come from cluster.secret / NEBULAIO_CLUSTER_SECRET) and stored in
// data_dir/cluster.json, written atomically (internal/vfs.WriteFile) with mode 0600:
//
//	{"version": 1, "cluster_id": "3f9a1c0e5b7d2a4f", "secret": "<base64url>",
//	 "created": "2025-06-01T10:00:00Z", "source": "generated"}
//
// source is where the secret came from at first start (generated, cluster.secret,
// cluster.join_token). The secret is stored whatever its source — unlike the S3 credentials —
// because a node must prove its membership again after a restart without its token, as
// kubeadm and k3s nodes keep theirs. The cluster ID is also written to replicated state
// (fsm setting cluster.id, write-once), so that every member agrees on it.
//
// Establish decides at start, before anything listens:
//
//	stored identity | token       | cluster.secret | may bootstrap | result
//	----------------+-------------+----------------+---------------+-------------------------------
//	yes             | none/same   | none/same      | any           | the stored identity
//	yes             | other ID    |                |               | ErrWrongCluster (names both IDs)
//	yes             | other secret| or other secret|               | ErrSecretMismatch (no rotation)
//	no              | given       | none/same      | any           | the token's ID and secret
//	no              | none        | given          | yes           | random ID, the given secret
//	no              | none        | none           | yes           | random ID and secret (generated)
//	no              | none        | any            | no            | ErrNoToken
//	any             | given       | differs        |               | ErrSecretMismatch
//
// A node with no state therefore adopts the cluster of its token, and a node with state can
// never be moved into another cluster by a token.
//
// # Join token
//
//	nbio1.<cluster ID>.<base64url(secret ‖ check)>      check = SHA-256("nbio1" ‖ cluster ID ‖ secret)[:4]
//
// (the last part is always 48 characters; the whole token 71). The check value makes a token damaged in copying, or
// whose cluster ID was edited, fail at start with a clear error instead of later as a key that
// decrypts nothing. Anyone holding the token holds the secret: treat it as the secret. It is
// printed once, by the node that generated the secret, at its first start, and on demand by
// `nebulaio cluster token` (the admin API, bearer-protected) on any member. Secret and Token
// values print as "(redacted)" with %v, so that logging them by mistake leaks nothing.
//
// # Derivations
//
// Every derived value is HKDF-SHA256 of the secret (no salt) with its own info string, so
// one derived value says nothing about another or about the secret:
//
//	info                             bytes  use
//	"nebulaio gossip key v1"         32     AES-256-GCM key of gossip (unless cluster.gossip_key is set)
//	"nebulaio cluster CA key v1"     32     ed25519 seed of the cluster CA key
//	"nebulaio cluster CA serial v1"  16     serial number of the CA certificate (top bit cleared)
//
// # The cluster CA
//
// DeriveCA builds the CA certificate from fixed fields only: serial (derived), subject
// O=NebulaIO, CN="NebulaIO cluster CA <first 4 bytes of the public key, hex>", validity
// 2025-01-01 to 9999-12-31 (RFC 5280's "no expiry"), CA with path length 0, key usage
// certificate and CRL signing, subject key ID the first 20 bytes of SHA-256 of the public key
// (set explicitly: crypto/x509's default has changed between Go releases). ed25519 signatures
// are deterministic, so every node derives a byte-identical certificate (TestDeriveCAGolden
// pins it) and no CA is ever distributed: holding the secret is holding the CA.
//
// # Node certificates
//
// Each node issues its own certificate at every start, with a fresh ed25519 key that never
// leaves memory, signed by the cluster CA:
//
//	subject     O="NebulaIO cluster <cluster ID>", CN=<node ID>
//	URI SAN     nebulaio://<cluster ID>/node/<node ID, path-escaped>     exactly one
//	validity    one hour before now (clock skew) to 30 days after; renewed in memory once a
//	            third remains
//	usage       digital signature; extended: TLS server and client
//
// IdentityOf reads the identity from the URI SAN. Operator-supplied certificates (their own
// CA, `nebulaio certs init|node`) must carry the same URI SAN; they are not renewed.
//
// # Verification
//
// ServerTLS and ClientTLS are TLS 1.3 only and mutual: the listener requires a client
// certificate, the dialler presents one. Both sides verify the peer's chain against the
// cluster CA in VerifyConnection (host names play no part: nodes are named by their URI),
// then compare the cluster ID it names with their own:
//
//	no certificate                          ErrNoCertificate
//	not signed by the CA, names cluster X   *ForeignError{Verified: false} (X is only a claim)
//	not signed by the CA, otherwise         ErrUntrusted
//	signed, but no nebulaio:// URI          ErrNoIdentity
//	signed, names another cluster           *ForeignError{Verified: true}: the same secret was
//	                                        given to two clusters bootstrapped apart
//
// After the handshake (which also proved possession of the key) the transport's VerifyPeer
// hook checks the node: where this node knows which node is at the peer's address — the
// address it dialled, or the one an inbound peer claims in its preamble, looked up in raft's
// configuration and gossip — the certificate must name that node (ErrWrongNode). An unknown
// address passes on the certificate alone (a node not yet known anywhere is still a holder of
// the cluster's CA).
//
// What the node check is worth: every member holds the secret, hence the CA key, so a member
// that is itself compromised can mint a certificate for any node ID; the check stops
// misdirected traffic and mistakes (an address reused by another node, a stale
// configuration), not a malicious insider. With operator-supplied certificates whose CA key
// stays off the nodes, it is real authentication of each node.
//
// # Refusals
//
// Refusals records the contacts with another cluster that were refused (gossip: a stream or
// packet labelled with another cluster ID, a member whose metadata names one; transport: a
// certificate naming one): it counts them in nebulaio_cluster_foreign_refused_total, logs each
// distinct one at most once a minute naming both cluster IDs, and keeps the recent ones so
// that the readiness probe of a node that made such a contact says which cluster it reached.
//
// # Rotation
//
// Not built. The secret and the cluster ID cannot be changed on a running cluster (a
// configured secret that differs from the stored one is refused at start). Node certificates
// rotate by themselves (fresh key every start, renewal in memory). docs/security.md has the
// procedure for replacing a leaked secret (a new cluster, data copied over).
package trust
