package config

import (
	"encoding/base64"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/nebulaio/nebulaio/internal/sse"
)

// Config is the whole configuration of one node. Every field is a documented key: its `yaml` tag
// is the key, its `doc` tag the one-line description used for the command-line flag and checked
// against README.md by a test. Defaults come from Default.
type Config struct {
	NodeID      string            `yaml:"node_id" doc:"unique, stable name of this node in the cluster"`
	DataDir     string            `yaml:"data_dir" doc:"directory for the WAL, snapshots, blobs and generated credentials"`
	S3          S3Config          `yaml:"s3"`
	Admin       AdminConfig       `yaml:"admin"`
	Console     ConsoleConfig     `yaml:"console"`
	Cluster     ClusterConfig     `yaml:"cluster"`
	Storage     StorageConfig     `yaml:"storage"`
	Performance PerformanceConfig `yaml:"performance"`
	Lifecycle   LifecycleConfig   `yaml:"lifecycle"`
	Encryption  EncryptionConfig  `yaml:"encryption"`
	IAM         IAMConfig         `yaml:"iam"`
	Log         LogConfig         `yaml:"log"`
}

// S3Config configures the S3 endpoint.
type S3Config struct {
	Address string `yaml:"address" doc:"listen address of the S3 API"`
	Region  string `yaml:"region" doc:"region of buckets created without a LocationConstraint; with strict_region the only region signatures may name"`
	// StrictRegion: false accepts signatures scoped to any region (a single-site store answers
	// for every region name); true behaves as one AWS region.
	StrictRegion bool   `yaml:"strict_region" doc:"refuse requests signed for a region other than s3.region with AuthorizationHeaderMalformed naming it, as AWS does (SDKs then re-sign); false accepts any region"`
	AllowSigV2   bool   `yaml:"allow_sigv2" doc:"accept requests signed with AWS Signature Version 2 (header and presigned URLs); false refuses them with InvalidRequest"`
	Domain       string `yaml:"domain" doc:"domain for virtual-hosted-style requests (bucket.domain); empty: path style only"`
	AccessKey    string `yaml:"access_key" secret:"true" env:"NEBULAIO_ACCESS_KEY" doc:"root access key (generated on first start when empty)"`
	SecretKey    string `yaml:"secret_key" secret:"true" env:"NEBULAIO_SECRET_KEY" doc:"root secret key (generated on first start when empty)"`
	// The S3 port moves large bodies, so no timeout caps a transfer as a whole: see
	// httpapi.NewStreamingServer.
	ReadTimeout  Duration `yaml:"read_timeout" doc:"longest wait for a request's headers, and for its body to make progress (a body must also deliver 64 KiB per such window); slower clients get RequestTimeout"`
	WriteTimeout Duration `yaml:"write_timeout" doc:"longest a response write may make no progress (a client that stops reading)"`
	IdleTimeout  Duration `yaml:"idle_timeout" doc:"how long an idle keep-alive connection is kept open"`
	// TLS of the S3 listener: both files or neither; reloaded on SIGHUP (node.ReloadTLS).
	TLSCertFile string `yaml:"tls_cert_file" doc:"PEM certificate chain the S3 listener serves HTTPS with (reloaded on SIGHUP); empty: plain HTTP"`
	TLSKeyFile  string `yaml:"tls_key_file" doc:"PEM private key of s3.tls_cert_file"`
	// AllowSSECOverHTTP accepts SSE-C keys on plain HTTP, for a TLS-terminating proxy in front.
	AllowSSECOverHTTP bool `yaml:"allow_sse_c_over_http" doc:"accept SSE-C customer keys over plain HTTP (behind a TLS-terminating proxy); false refuses them with InvalidRequest, as S3 does"`
}

// AdminConfig configures the admin listener (admin API, probes, /metrics).
type AdminConfig struct {
	Address string `yaml:"address" doc:"listen address of the admin API, health probes and /metrics"`
	Token   string `yaml:"token" secret:"true" env:"NEBULAIO_ADMIN_TOKEN" doc:"bearer token of the admin API (generated on first start when empty)"`
	// Admin requests and responses are small: whole-request deadlines (httpapi.NewServer).
	ReadTimeout  Duration `yaml:"read_timeout" doc:"longest wait for a whole request, headers and body"`
	WriteTimeout Duration `yaml:"write_timeout" doc:"longest a request may take from its headers to the end of its response"`
	IdleTimeout  Duration `yaml:"idle_timeout" doc:"how long an idle keep-alive connection is kept open"`
	TLSCertFile  string   `yaml:"tls_cert_file" doc:"PEM certificate chain the admin listener serves HTTPS with (reloaded on SIGHUP); empty: plain HTTP"`
	TLSKeyFile   string   `yaml:"tls_key_file" doc:"PEM private key of admin.tls_cert_file"`
}

// ConsoleConfig configures the status page.
type ConsoleConfig struct {
	Address string `yaml:"address" doc:"listen address of the console status page"`
}

// ClusterConfig configures raft and gossip membership.
type ClusterConfig struct {
	RaftAddress          string        `yaml:"raft_address" doc:"listen address of raft and node-to-node RPC"`
	GossipAddress        string        `yaml:"gossip_address" doc:"listen address of gossip (TCP and UDP)"`
	AdvertiseAddress     string        `yaml:"advertise_address" doc:"host other nodes use to reach this one; ports come from the listen addresses"`
	Bootstrap            BootstrapMode `yaml:"bootstrap" doc:"what a node without state does: auto bootstraps a new cluster when join_addresses is empty and joins otherwise; true bootstraps (with join_addresses only together with expect_nodes); false joins"`
	JoinAddresses        []string      `yaml:"join_addresses" doc:"gossip addresses (host:port) of existing members; a node without state joins through them (with join_token)"`
	JoinToken            string        `yaml:"join_token" secret:"true" env:"NEBULAIO_JOIN_TOKEN" doc:"token of the cluster to join (nbio1.…: its ID and secret), printed by nebulaio cluster token on a member; needed once, by a node without state that joins"`
	Secret               string        `yaml:"secret" secret:"true" env:"NEBULAIO_CLUSTER_SECRET" doc:"base64 32-byte cluster secret a bootstrapping node uses instead of generating one; every credential of the cluster derives from it"`
	ExpectNodes          int           `yaml:"expect_nodes" doc:"bootstrap waits for this many gossip members and makes them all voters"`
	NodeRole             string        `yaml:"node_role" doc:"hybrid, management (voter without object data) or storage (non-voter with object data)"`
	Voter                *bool         `yaml:"voter" doc:"whether this node should be a raft voter; default true for hybrid and management, false for storage"`
	RaftElectionTimeout  Duration      `yaml:"raft_election_timeout" doc:"raft election timeout"`
	RaftHeartbeatTimeout Duration      `yaml:"raft_heartbeat_timeout" doc:"raft heartbeat timeout"`
	GossipKey            string        `yaml:"gossip_key" secret:"true" env:"NEBULAIO_GOSSIP_KEY" doc:"base64 AES key (16, 24 or 32 bytes) encrypting gossip; empty: a key derived from the cluster secret"`
	TLSCAFile            string        `yaml:"tls_ca_file" doc:"PEM CA certificate that verifies node certificates, for operator-supplied certificates (nebulaio certs); empty: a CA derived from the cluster secret"`
	TLSCertFile          string        `yaml:"tls_cert_file" doc:"PEM certificate of this node on the raft port, signed by tls_ca_file and naming nebulaio://<cluster ID>/node/<node_id>"`
	TLSKeyFile           string        `yaml:"tls_key_file" doc:"PEM private key of tls_cert_file"`
	DeadNodeReapAfter    Duration      `yaml:"dead_node_reap_after" doc:"remove a member dead for this long from raft; 0 keeps dead members until an operator removes them"`
	ReplicationFactor    int           `yaml:"replication_factor" doc:"copies kept of each object's bytes, capped by the number of hybrid and storage nodes; set the same on every node"`
	RepairInterval       Duration      `yaml:"repair_interval" doc:"how often the leader checks that every blob has its copies and re-creates missing ones"`
	RepairDeadAfter      Duration      `yaml:"repair_dead_after" doc:"copies on a node down for this long are re-created on other nodes (a removed node's at once)"`
	RepairMiBPerSec      int           `yaml:"repair_mib_per_sec" doc:"bandwidth repair may use, in MiB/s; 0 is unthrottled"`
	RebalanceBytesPerSec int64         `yaml:"rebalance_bytes_per_sec" doc:"bandwidth the leader may use to move blobs to their placement (a storage node joined) and off draining nodes, in bytes/s; 0 is unthrottled"`
	Erasure              string        `yaml:"erasure" doc:"erasure coding of large objects as K+M (data+parity shards on K+M distinct hybrid or storage nodes, e.g. 2+1 on 3 nodes, 4+2 on 6) instead of replication_factor copies; empty or off: replication only. A write needs K+1 shards durable; with fewer storage nodes (or too few alive) large objects are replicated. Set the same on every node"`
	ErasureMinSize       int64         `yaml:"erasure_min_size" doc:"objects (and parts) of at least this many bytes are erasure-coded when erasure is on; smaller ones are replicated"`
	DegradedReads        bool          `yaml:"degraded_reads" doc:"serve GET, HEAD and listings from this node's local (possibly stale) metadata while no leader is known, marked x-nebulaio-stale: true; writes still answer 503"`
}

// StorageConfig configures how the node uses its disk.
type StorageConfig struct {
	// MinFreeBytes is the data plane's free-space reserve (dataplane.Config.MinFreeBytes): blob
	// writes are refused (S3 507) while data_dir's file system has less free space than this
	// plus the blob, so that the WAL and snapshots keep room. 0 is automatic, -1 turns it off.
	MinFreeBytes int64 `yaml:"min_free_bytes" doc:"free space in bytes that blob writes leave on data_dir's file system for the WAL and snapshots (writes past it answer 507 InsufficientStorage); 0: automatic, 1% of the file system, at least 64 MiB and at most 1 GiB; -1: no reserve"`
}

// PerformanceConfig bounds memory and tunes the metadata engine.
type PerformanceConfig struct {
	MetadataCacheSize int `yaml:"metadata_cache_size" doc:"metadata entries kept in memory beyond those changed since the last snapshot"`
	MaxRaftLogEntries int `yaml:"max_raft_log_entries" doc:"raft log entries kept; a snapshot is taken before more accumulate"`
	// InlineObjectSize: objects and parts up to this size travel inside their metadata event
	// (one raft round, stored by every voter) instead of in blob files on the storage nodes.
	InlineObjectSize ByteSize `yaml:"inline_object_size" doc:"objects and multipart parts up to this size (bytes, or with a unit: 64KiB) are stored inside their metadata event, on every voter, in one raft round; 0 turns this off; at most 512KiB; off while a voter is a management node"`
}

// MaxInlineObjectSize bounds performance.inline_object_size: an inline body is held in memory
// whole and travels in one raft entry.
const MaxInlineObjectSize = 512 << 10

// ByteSize is a size in bytes, written as a whole number of bytes or with a binary unit
// (B, KiB, MiB, GiB: 64KiB, 1 MiB). It prints as the largest unit that divides it.
type ByteSize int64

func (b ByteSize) String() string {
	for _, u := range byteUnits {
		if b != 0 && b%ByteSize(u.n) == 0 {
			return strconv.FormatInt(int64(b)/u.n, 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

var byteUnits = []struct {
	name string
	n    int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}}

// parseByteSize reads a ByteSize: digits, then optionally B, KiB, MiB or GiB (case-insensitive;
// decimal units such as KB are refused, since they are ambiguous).
func parseByteSize(text string) (ByteSize, error) {
	t := strings.TrimSpace(text)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if i == 0 || err != nil {
		return 0, fmt.Errorf("want a size such as 65536, 64KiB or 1MiB, got %q", text)
	}
	mult := int64(1)
	switch unit := strings.ToLower(strings.TrimSpace(t[i:])); unit {
	case "", "b":
	case "kib":
		mult = 1 << 10
	case "mib":
		mult = 1 << 20
	case "gib":
		mult = 1 << 30
	default:
		return 0, fmt.Errorf("unknown size unit %q in %q: use B, KiB, MiB or GiB", t[i:], text)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q is too large", text)
	}
	return ByteSize(n * mult), nil
}

// LifecycleConfig configures the leader's runner of bucket lifecycle rules (package lifecycle).
type LifecycleConfig struct {
	// Day is how long a lifecycle "day" lasts: rule Days and the x-amz-expiration header count
	// in it. 24h is S3's; tests shrink it so that rules fall due in seconds.
	Day                     Duration `yaml:"day" doc:"length of a lifecycle day (rule Days, x-amz-expiration dates); keep 24h except in tests, and the same on every node"`
	Interval                Duration `yaml:"interval" doc:"how often the leader runs the buckets' lifecycle rules"`
	MaxExpirationsPerSecond int      `yaml:"max_expirations_per_second" doc:"expirations (versions, delete markers, uploads) lifecycle passes may carry out per second"`
}

// EncryptionConfig configures encryption at rest (package internal/sse). The master keys seal
// the per-object keys of SSE-S3; every node of a cluster must hold the same keys, since any
// node may serve any object.
type EncryptionConfig struct {
	MasterKey     string   `yaml:"master_key" secret:"true" env:"NEBULAIO_MASTER_KEY" doc:"base64 32-byte master key that seals new SSE-S3 object keys, the same on every node (openssl rand -base64 32 makes one); empty: SSE-S3 and bucket default encryption are refused with NotImplemented"`
	OldMasterKeys []string `yaml:"old_master_keys" secret:"true" env:"NEBULAIO_OLD_MASTER_KEYS" doc:"earlier master keys (base64, comma-separated in flags and env), kept to read the SSE-S3 objects they sealed after a rotation"`
}

// IAMConfig configures identities and access (package iam): the master key sealing users'
// secret keys in the replicated metadata, and the limit on authentication failures.
type IAMConfig struct {
	MasterKey string `yaml:"master_key" secret:"true" env:"NEBULAIO_IAM_MASTER_KEY" doc:"base64 of 32 bytes sealing users' secret keys in the metadata, the same on every node; empty: derived from the cluster secret (which every member holds)"`
	// AuthFailureBurst and AuthFailuresPerMinute size the per-address bucket of failed
	// authentications (internal/authlimit) on the S3 and admin ports.
	AuthFailureBurst      int `yaml:"auth_failure_burst" doc:"failed authentications (wrong signature, unknown key, wrong admin token) one address may make in a row before it is refused (S3 503 SlowDown, admin 429)"`
	AuthFailuresPerMinute int `yaml:"auth_failures_per_minute" doc:"failed authentications per minute one address may make in the long run"`
}

// LogConfig configures logging.
type LogConfig struct {
	Level  string `yaml:"level" doc:"debug, info, warn or error"`
	Format string `yaml:"format" doc:"auto (console on a terminal, JSON otherwise), console or json"`
}

// DefaultInlineObjectSize is performance.inline_object_size's default, chosen by measurement
// (docs/DECISIONS.md, 2026-12-07).
const DefaultInlineObjectSize = 64 << 10

// Node roles.
const (
	RoleHybrid     = "hybrid"
	RoleManagement = "management"
	RoleStorage    = "storage"
)

// Default returns the configuration of a single hybrid node that bootstraps itself on 127.0.0.1
// with its data under ./data: what `nebulaio server` runs with no file and no flags.
func Default() Config {
	return Config{
		NodeID:  "node-1",
		DataDir: "./data",
		S3: S3Config{Address: ":9000", Region: "us-east-1", AllowSigV2: true,
			ReadTimeout: Duration(30 * time.Second), WriteTimeout: Duration(30 * time.Second), IdleTimeout: Duration(2 * time.Minute)},
		Admin: AdminConfig{Address: ":9001",
			ReadTimeout: Duration(10 * time.Second), WriteTimeout: Duration(30 * time.Second), IdleTimeout: Duration(2 * time.Minute)},
		Console: ConsoleConfig{Address: ":9002"},
		Cluster: ClusterConfig{
			RaftAddress:          ":9003",
			GossipAddress:        ":9004",
			AdvertiseAddress:     "127.0.0.1",
			Bootstrap:            BootstrapAuto,
			ExpectNodes:          1,
			NodeRole:             RoleHybrid,
			RaftElectionTimeout:  Duration(time.Second),
			RaftHeartbeatTimeout: Duration(time.Second),
			ReplicationFactor:    3,
			RepairInterval:       Duration(time.Minute),
			RepairDeadAfter:      Duration(10 * time.Minute),
			RepairMiBPerSec:      64,
			RebalanceBytesPerSec: 64 << 20,
			ErasureMinSize:       1 << 20,
		},
		Performance: PerformanceConfig{MetadataCacheSize: 100000, MaxRaftLogEntries: 10000, InlineObjectSize: DefaultInlineObjectSize},
		Lifecycle:   LifecycleConfig{Day: Duration(24 * time.Hour), Interval: Duration(time.Hour), MaxExpirationsPerSecond: 1000},
		IAM:         IAMConfig{AuthFailureBurst: 20, AuthFailuresPerMinute: 60},
		Log:         LogConfig{Level: "info", Format: "auto"},
	}
}

// Duration is a time.Duration written as Go duration text ("5s", "1m30s") in YAML and flags.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// BootstrapMode is cluster.bootstrap: auto, true or false.
type BootstrapMode string

// Bootstrap modes.
const (
	BootstrapAuto  BootstrapMode = "auto"
	BootstrapTrue  BootstrapMode = "true"
	BootstrapFalse BootstrapMode = "false"
)

// parseBootstrap reads a bootstrap mode; YAML's and flags' spellings of true and false count.
func parseBootstrap(text string) (BootstrapMode, error) {
	switch strings.ToLower(strings.TrimSpace(text)) {
	case "auto":
		return BootstrapAuto, nil
	case "true", "yes", "on":
		return BootstrapTrue, nil
	case "false", "no", "off":
		return BootstrapFalse, nil
	}
	return "", fmt.Errorf("want auto, true or false, got %q", text)
}

// Bootstraps reports whether a node without raft state starts a new cluster (rather than
// joining one): bootstrap true, or auto without join addresses. A node with state never
// bootstraps again, whatever this says.
func (c *ClusterConfig) Bootstraps() bool {
	switch c.Bootstrap {
	case BootstrapTrue:
		return true
	case BootstrapFalse:
		return false
	}
	return len(c.JoinAddresses) == 0
}

// IsVoter reports whether the node asks to be a voter: the explicit `voter` key, or the role's
// default (hybrid and management vote, storage does not).
func (c *ClusterConfig) IsVoter() bool {
	if c.Voter != nil {
		return *c.Voter
	}
	return c.NodeRole != RoleStorage
}

// validRegion accepts region names as S3 clients sign them: letters, digits and dashes.
func validRegion(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ParseErasure parses cluster.erasure: "K+M" (K data shards, M parity shards, each at least
// 1, K+M at most 32) or "" / "off" (replication only: 0, 0).
func ParseErasure(s string) (k, m int, err error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "off" {
		return 0, 0, nil
	}
	ks, ms, ok := strings.Cut(s, "+")
	if ok {
		k, err = strconv.Atoi(strings.TrimSpace(ks))
		if err == nil {
			m, err = strconv.Atoi(strings.TrimSpace(ms))
		}
	}
	switch {
	case !ok || err != nil:
		return 0, 0, fmt.Errorf("%q is not K+M", s)
	case k < 1 || m < 1:
		return 0, 0, fmt.Errorf("%q: K and M must each be at least 1", s)
	case k+m > 32:
		return 0, 0, fmt.Errorf("%q: at most 32 shards", s)
	}
	return k, m, nil
}

// Problem is one thing wrong with a configuration.
type Problem struct {
	Key     string // dotted key path, e.g. cluster.expect_nodes
	Line    int    // line in the file, 0 when unknown (defaults, flags, environment)
	Message string
	Hint    string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.Key)
	if p.Line > 0 {
		fmt.Fprintf(&b, " (line %d)", p.Line)
	}
	b.WriteString(": ")
	b.WriteString(p.Message)
	if p.Hint != "" {
		b.WriteString(" (hint: ")
		b.WriteString(p.Hint)
		b.WriteString(")")
	}
	return b.String()
}

// Error lists every problem found in a configuration; a node does not start with any.
type Error struct {
	Source   string // file name, "flags" or "environment"
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "config: invalid configuration")
	if e.Source != "" {
		fmt.Fprintf(&b, " in %s", e.Source)
	}
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Validate checks values and combinations. It returns the problems (as *Error) and, separately,
// warnings that do not stop a node (an even expect_nodes).
func (c *Config) Validate() (warnings []string, err error) {
	var ps []Problem
	bad := func(key, msg, hint string) { ps = append(ps, Problem{Key: key, Message: msg, Hint: hint}) }

	if c.NodeID == "" {
		bad("node_id", "must not be empty", "a stable name such as node-1")
	} else if strings.ContainsAny(c.NodeID, " \t\n/\\") {
		bad("node_id", fmt.Sprintf("%q contains whitespace or a slash", c.NodeID), "")
	}
	if c.DataDir == "" {
		bad("data_dir", "must not be empty", "for example ./data")
	}
	for _, a := range []struct{ key, val string }{
		{"s3.address", c.S3.Address},
		{"admin.address", c.Admin.Address},
		{"console.address", c.Console.Address},
		{"cluster.raft_address", c.Cluster.RaftAddress},
		{"cluster.gossip_address", c.Cluster.GossipAddress},
	} {
		if err := checkListenAddress(a.val); err != nil {
			bad(a.key, err.Error(), `host:port or :port, for example ":9000"`)
		}
	}
	if !validRegion(c.S3.Region) {
		bad("s3.region", fmt.Sprintf("%q is not a region name", c.S3.Region), "letters, digits and dashes, for example us-east-1")
	}
	for _, d := range []struct {
		key string
		val Duration
	}{
		{"s3.read_timeout", c.S3.ReadTimeout}, {"s3.write_timeout", c.S3.WriteTimeout}, {"s3.idle_timeout", c.S3.IdleTimeout},
		{"admin.read_timeout", c.Admin.ReadTimeout}, {"admin.write_timeout", c.Admin.WriteTimeout}, {"admin.idle_timeout", c.Admin.IdleTimeout},
	} {
		if d.val <= 0 {
			bad(d.key, "must be positive", "for example 30s")
		}
	}
	if c.Cluster.AdvertiseAddress == "" {
		bad("cluster.advertise_address", "must not be empty", "the host or IP other nodes reach this one at")
	} else if strings.Contains(c.Cluster.AdvertiseAddress, ":") && net.ParseIP(c.Cluster.AdvertiseAddress) == nil {
		bad("cluster.advertise_address", fmt.Sprintf("%q must be a host without a port", c.Cluster.AdvertiseAddress), "ports come from the listen addresses")
	}
	switch c.Cluster.NodeRole {
	case RoleHybrid, RoleManagement, RoleStorage:
	default:
		bad("cluster.node_role", fmt.Sprintf("unknown role %q", c.Cluster.NodeRole), "one of hybrid, management, storage")
	}
	if c.Cluster.NodeRole == RoleManagement && !c.Cluster.IsVoter() {
		bad("cluster.voter", "a management node with voter: false would neither vote nor hold data", "remove voter: false, or use node_role: storage")
	}
	if c.Cluster.ExpectNodes < 1 {
		bad("cluster.expect_nodes", fmt.Sprintf("must be at least 1, got %d", c.Cluster.ExpectNodes), "")
	} else if c.Cluster.ExpectNodes%2 == 0 {
		warnings = append(warnings, fmt.Sprintf("cluster.expect_nodes: %d is even; an odd number of voters tolerates the same failures with one node fewer", c.Cluster.ExpectNodes))
	}
	switch c.Cluster.Bootstrap {
	case BootstrapAuto, BootstrapTrue, BootstrapFalse:
	default:
		bad("cluster.bootstrap", fmt.Sprintf("unknown mode %q", c.Cluster.Bootstrap), "auto, true or false")
	}
	if c.Cluster.ExpectNodes > 1 && !c.Cluster.Bootstraps() {
		bad("cluster.expect_nodes", "only a bootstrap node waits for expect_nodes", "set it on the node that bootstraps (bootstrap: true)")
	}
	if c.Cluster.Bootstrap == BootstrapFalse && len(c.Cluster.JoinAddresses) == 0 {
		bad("cluster.join_addresses", "join mode (bootstrap: false) needs at least one address", "the gossip address of a member, for example 10.0.1.10:9004")
	}
	if c.Cluster.Bootstrap == BootstrapTrue && len(c.Cluster.JoinAddresses) > 0 && c.Cluster.ExpectNodes < 2 {
		bad("cluster.bootstrap", "true together with join_addresses would start a cluster of its own next to the one it can reach",
			"remove bootstrap (auto joins through join_addresses), or set expect_nodes to bootstrap the nodes together")
	}
	if (c.Cluster.TLSCAFile != "") != (c.Cluster.TLSCertFile != "") || (c.Cluster.TLSCertFile != "") != (c.Cluster.TLSKeyFile != "") {
		bad("cluster.tls_cert_file", "tls_ca_file, tls_cert_file and tls_key_file go together", "set all three, or none to use certificates issued from the cluster secret")
	}
	if c.Cluster.Secret != "" && c.Cluster.JoinToken != "" {
		bad("cluster.secret", "set together with cluster.join_token, which carries the secret", "keep only join_token")
	}
	for i, a := range c.Cluster.JoinAddresses {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			bad(fmt.Sprintf("cluster.join_addresses[%d]", i), fmt.Sprintf("%q is not host:port", a), "")
		}
	}
	if c.Cluster.RaftElectionTimeout <= 0 {
		bad("cluster.raft_election_timeout", "must be positive", "for example 1s")
	}
	if c.Cluster.RaftHeartbeatTimeout <= 0 {
		bad("cluster.raft_heartbeat_timeout", "must be positive", "for example 1s")
	}
	if c.Cluster.RaftHeartbeatTimeout > c.Cluster.RaftElectionTimeout {
		bad("cluster.raft_heartbeat_timeout", fmt.Sprintf("%s exceeds raft_election_timeout %s", c.Cluster.RaftHeartbeatTimeout, c.Cluster.RaftElectionTimeout), "raft needs heartbeat ≤ election timeout")
	}
	if c.Cluster.DeadNodeReapAfter < 0 {
		bad("cluster.dead_node_reap_after", "must not be negative", "0 disables reaping")
	}
	if c.Cluster.ReplicationFactor < 1 {
		bad("cluster.replication_factor", fmt.Sprintf("must be at least 1, got %d", c.Cluster.ReplicationFactor), "3 keeps an object readable when one node is lost")
	}
	if k, m, err := ParseErasure(c.Cluster.Erasure); err != nil {
		bad("cluster.erasure", err.Error(), `K+M data and parity shards, for example "2+1" on 3 nodes or "4+2" on 6; "off" for replication only`)
	} else if k > 0 && c.Cluster.ExpectNodes > 1 && k+m > c.Cluster.ExpectNodes {
		bad("cluster.erasure", fmt.Sprintf("%d+%d needs %d storage nodes, and this cluster bootstraps with expect_nodes %d", k, m, k+m, c.Cluster.ExpectNodes),
			"choose K+M at most the number of hybrid and storage nodes (2+1 on 3 nodes), or set it once enough nodes have joined")
	}
	if c.Cluster.ErasureMinSize < 1 {
		bad("cluster.erasure_min_size", fmt.Sprintf("must be at least 1, got %d", c.Cluster.ErasureMinSize), "1048576 (1 MiB): smaller objects are replicated")
	}
	if c.Cluster.RepairInterval <= 0 {
		bad("cluster.repair_interval", "must be positive", "for example 1m")
	}
	if c.Cluster.RepairDeadAfter < 0 {
		bad("cluster.repair_dead_after", "must not be negative", "0 re-creates the copies of a node as soon as it is down")
	}
	if c.Cluster.RebalanceBytesPerSec < 0 {
		bad("cluster.rebalance_bytes_per_sec", fmt.Sprintf("must not be negative, got %d", c.Cluster.RebalanceBytesPerSec), "0 is unthrottled")
	}
	if c.Cluster.RepairMiBPerSec < 0 {
		bad("cluster.repair_mib_per_sec", fmt.Sprintf("must not be negative, got %d", c.Cluster.RepairMiBPerSec), "0 is unthrottled")
	}
	if c.Storage.MinFreeBytes < -1 {
		bad("storage.min_free_bytes", fmt.Sprintf("must be -1, 0 or a number of bytes, got %d", c.Storage.MinFreeBytes), "0 picks 1% of the file system (64 MiB..1 GiB); -1 turns the reserve off")
	}
	if c.Performance.MetadataCacheSize < 0 {
		bad("performance.metadata_cache_size", fmt.Sprintf("must not be negative, got %d", c.Performance.MetadataCacheSize), "0 keeps no clean entries in memory")
	}
	if c.Performance.MaxRaftLogEntries < 1 {
		bad("performance.max_raft_log_entries", fmt.Sprintf("must be at least 1, got %d", c.Performance.MaxRaftLogEntries), "for example 10000")
	}
	if c.Performance.InlineObjectSize > MaxInlineObjectSize {
		bad("performance.inline_object_size", fmt.Sprintf("%s is over the limit of %s", c.Performance.InlineObjectSize, ByteSize(MaxInlineObjectSize)), "64KiB; larger objects go to the data plane")
	}
	if c.Lifecycle.Day <= 0 {
		bad("lifecycle.day", "must be positive", "24h (shorter only for tests)")
	} else if c.Lifecycle.Day.D() > 24*time.Hour {
		bad("lifecycle.day", fmt.Sprintf("%s is longer than a day", c.Lifecycle.Day), "24h")
	}
	if c.Lifecycle.Interval <= 0 {
		bad("lifecycle.interval", "must be positive", "for example 1h")
	}
	if c.Lifecycle.MaxExpirationsPerSecond < 1 {
		bad("lifecycle.max_expirations_per_second", fmt.Sprintf("must be at least 1, got %d", c.Lifecycle.MaxExpirationsPerSecond), "for example 1000")
	}
	for _, l := range []struct{ key, cert, priv string }{
		{"s3", c.S3.TLSCertFile, c.S3.TLSKeyFile}, {"admin", c.Admin.TLSCertFile, c.Admin.TLSKeyFile},
	} {
		if (l.cert == "") != (l.priv == "") {
			missing := l.key + ".tls_key_file"
			if l.cert == "" {
				missing = l.key + ".tls_cert_file"
			}
			bad(missing, "must be set together with "+l.key+".tls_"+map[bool]string{true: "key", false: "cert"}[l.cert == ""]+"_file", "both files, or neither for plain HTTP")
		}
	}
	if c.Encryption.MasterKey != "" && !validMasterKey(c.Encryption.MasterKey) {
		bad("encryption.master_key", "is not 32 bytes of base64", "openssl rand -base64 32 makes a new key")
	}
	for i, k := range c.Encryption.OldMasterKeys {
		if !validMasterKey(k) {
			bad(fmt.Sprintf("encryption.old_master_keys[%d]", i), "is not 32 bytes of base64", "")
		}
	}
	if len(c.Encryption.OldMasterKeys) > 0 && c.Encryption.MasterKey == "" {
		bad("encryption.old_master_keys", "needs encryption.master_key", "the current key seals new objects; old keys only open what they sealed")
	}
	if c.IAM.MasterKey != "" && !validIAMKey(c.IAM.MasterKey) {
		bad("iam.master_key", "not base64 of 32 bytes", "make one with: head -c 32 /dev/urandom | base64")
	}
	if c.IAM.AuthFailureBurst < 1 {
		bad("iam.auth_failure_burst", fmt.Sprintf("must be at least 1, got %d", c.IAM.AuthFailureBurst), "for example 20")
	}
	if c.IAM.AuthFailuresPerMinute < 1 {
		bad("iam.auth_failures_per_minute", fmt.Sprintf("must be at least 1, got %d", c.IAM.AuthFailuresPerMinute), "for example 60")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", fmt.Sprintf("unknown level %q", c.Log.Level), "one of debug, info, warn, error")
	}
	switch c.Log.Format {
	case "auto", "console", "json":
	default:
		bad("log.format", fmt.Sprintf("unknown format %q", c.Log.Format), "one of auto, console, json")
	}
	if len(ps) > 0 {
		return warnings, &Error{Problems: ps}
	}
	return warnings, nil
}

// validMasterKey reports whether s is a master key as internal/sse reads it; the key's value
// is never put in a message.
func validMasterKey(s string) bool {
	_, err := sse.ParseKey(s)
	return err == nil
}

func checkListenAddress(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%q is not a listen address", a)
	}
	_ = host
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has no valid port", a)
	}
	return nil
}

// validIAMKey reports whether s is base64 (standard or URL alphabet, padded or not) of 32
// bytes, as iam.ParseMasterKey reads it.
func validIAMKey(s string) bool {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return len(b) == 32
		}
	}
	return false
}
