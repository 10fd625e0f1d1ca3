// Package console serves NebulaIO's operator console (console.address, :9002 by default):
// server-rendered pages (html/template, with the templates, the stylesheet and one small
// script embedded by embed) that every node serves about the cluster as it sees it.
//
// # Pages
//
//   - /up (public): whether the node is up and ready — nothing else is readable without a
//     session; a load balancer or a person can probe it.
//   - /login: a form asking for the admin token (admin.token; the generated one is in
//     data_dir/credentials.json). Users and policies do not exist yet; when they do, an admin
//     user's keys can log in here too.
//   - /cluster: the cluster ID, every node with its role, suffrage, raft state, gossip status,
//     last contact with the leader, applied and commit index and its lag behind the leader's
//     commit index, the leader marked; the commit latency p50 and p99 of the writes this node
//     proposed over the last minutes as an inline SVG chart (Latency); the membership and
//     leadership changes this node saw (Events). The action buttons are here.
//   - /storage: each node's disk (capacity, used, free and the reserve of the file system
//     holding its data directory), what the last repair pass found (under-replicated, lost),
//     and the long operations (repair, drains, rebalance) with a progress bar and an ETA
//     where the operation reports one.
//   - /buckets: every bucket with its versioning and object lock state, objects and bytes
//     (current versions), and the totals.
//
// The pages read their data through Source and act through Actions, two small interfaces
// that package node implements over the engine, gossip, the FSM and the data plane; tests
// give fakes. An action the build cannot do answers ErrNotAvailable, and the console says
// so: it never shows success for something that did not happen.
//
// # Sessions, CSRF and the headers
//
// The listener serves HTTPS with the admin listener's certificate when admin.tls_cert_file is
// set (package node). Logging in with the admin token starts a session: a random 256-bit ID in the cookie
// CookieName, HttpOnly, SameSite=Strict, Path=/, Secure when the console is served over TLS.
// Sessions live in the node's memory (a restart logs everyone out; each node's console has
// its own) and end after DefaultSessionIdle without a request or DefaultSessionMax after the
// login, whichever comes first; at most 256 are kept (a login beyond ends the oldest).
//
// Every state change is a POST carrying the session's CSRF token (a second random value
// rendered into the forms, compared in constant time); a POST without it, with another
// session's, or with an Origin header naming another site is refused with 403 and changes
// nothing. The actions (promote, demote, drain, remove, transfer leadership) take two steps:
// a GET of /confirm renders the question and a form; only its POST (with the token and
// confirm=yes) acts, and the result comes back as a one-time message on the cluster page
// (post/redirect/get: a reload does not repeat it).
//
// Every answer carries a strict Content-Security-Policy (no inline script or style; scripts
// and styles from the console only), X-Frame-Options: DENY and frame-ancestors 'none' (no
// page can frame the confirmation buttons), nosniff and Referrer-Policy same-origin; pages are not cached.
package console
