package gossip

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Defaults of Config. The failure-detection arithmetic is in doc.go ("Timings").
const (
	DefaultBindAddr                = "0.0.0.0:9004"
	DefaultProbeInterval           = 1 * time.Second
	DefaultProbeTimeout            = 500 * time.Millisecond
	DefaultSuspicionMult           = 4
	DefaultSuspicionMaxTimeoutMult = 2
	DefaultGossipInterval          = 200 * time.Millisecond
	DefaultPushPullInterval        = 15 * time.Second
	DefaultTCPTimeout              = 5 * time.Second
	DefaultJoinRetryMin            = 500 * time.Millisecond
	DefaultJoinRetryMax            = 30 * time.Second
	DefaultRejoinInterval          = 5 * time.Second
	DefaultEventBuffer             = 256
	DefaultBroadcastTimeout        = 5 * time.Second
)

// Errors returned by New, Validate and DecodeKey.
var (
	// ErrConfig is returned (wrapped, naming the field) when a Config is invalid.
	ErrConfig = errors.New("gossip: invalid config")
	// ErrKey is returned when a secret key is not 16, 24 or 32 bytes, or its text is not base64.
	ErrKey = errors.New("gossip: invalid secret key")
)

// Config configures one gossip member. Zero values take the documented defaults; only NodeID is
// required.
type Config struct {
	// NodeID is the unique, stable name of this node; it is the memberlist node name and
	// Meta.ID. A node restarted with the same NodeID replaces its earlier incarnation.
	NodeID string
	// BindAddr is the "host:port" memberlist listens on, TCP and UDP on the same port.
	// Default DefaultBindAddr; port 0 lets the OS choose (see Gossip.Addr).
	BindAddr string
	// AdvertiseAddr is the "host" or "host:port" other members use to reach this node. A host
	// name is resolved once, at New. Empty: the bind host when it is a specific address,
	// otherwise memberlist picks a private IP of this machine. Without a port the bound port is
	// advertised (also when the advertised port is given but BindAddr's port is 0).
	AdvertiseAddr string
	// Meta is gossiped to every member. Meta.ID may be empty (it is set to NodeID) but must
	// otherwise equal NodeID. The encoding must fit MetaMaxSize bytes.
	Meta NodeMeta
	// JoinAddresses are gossip addresses ("host:port") of existing members. When not empty,
	// New starts joining them in the background, retrying with capped, jittered exponential
	// backoff until one answers or the Gossip is shut down. Empty: this node is a seed and waits
	// to be joined.
	JoinAddresses []string
	// SecretKey, when set, encrypts all gossip with AES-GCM; it must be 16, 24 or 32 raw bytes
	// (AES-128/192/256) and every member must use the same key. Keys kept as text (config file,
	// NEBULAIO_GOSSIP_KEY) are base64: turn them into bytes with DecodeKey.
	SecretKey []byte
	// ClusterID, when set, names the cluster this member belongs to: it labels every gossip
	// packet and stream (memberlist's label, "nebulaio/<ClusterID>"; authenticated data of the
	// encryption when SecretKey is set) and travels in the metadata (Meta.ClusterID). Streams
	// and packets labelled otherwise, and members whose metadata names another cluster (or
	// none), are refused — never merged — and reported to OnRefused; Join fails with
	// ErrForeignCluster when only such members answered. See doc.go, "Cluster identity".
	// Empty: no check (the library on its own).
	ClusterID string
	// OnRefused, when set, is told of every refusal ClusterID causes. It runs on memberlist's
	// or this package's goroutines, possibly with memberlist's node lock held: it must not
	// block nor call into this Gossip.
	OnRefused func(Refusal)
	// Logger receives this package's logs; memberlist's own logs are routed into it at debug
	// level. The zero Logger discards everything.
	Logger zerolog.Logger
	// Metrics receives the measurements listed in MetricDescs; nil records nothing.
	Metrics Metrics
	// Faults cuts gossip links between members (tests only; nil in production).
	Faults *Faults

	// Failure detection and dissemination; see doc.go for how they combine.
	ProbeInterval           time.Duration // time between probes of one random member; default 1s
	ProbeTimeout            time.Duration // wait for a direct ack before indirect probes; default 500ms
	SuspicionMult           int           // suspicion timeout = SuspicionMult × max(1, log10 N) × ProbeInterval; default 4
	SuspicionMaxTimeoutMult int           // without confirmations the timeout starts this many times higher; default 2
	GossipInterval          time.Duration // time between gossip rounds; default 200ms
	PushPullInterval        time.Duration // time between full state syncs with a random member; default 15s
	TCPTimeout              time.Duration // dial/IO timeout of push-pull and join; default 5s

	JoinRetryMin time.Duration // first background join retry delay; default 500ms
	JoinRetryMax time.Duration // cap of the join retry delay; default 30s
	// RejoinInterval is how often (jittered) the node push-pulls with the members it holds
	// dead and the join addresses no alive member has, so that a partition heals and separate
	// groups merge (doc.go, "Healing"); default 5s.
	RejoinInterval   time.Duration
	EventBuffer      int           // capacity of the Events channel; default 256
	BroadcastTimeout time.Duration // UpdateMeta and Leave wait this long for their broadcast; default 5s
}

// withDefaults returns a copy of c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.BindAddr == "" {
		c.BindAddr = DefaultBindAddr
	}
	setDur := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	setDur(&c.ProbeInterval, DefaultProbeInterval)
	setDur(&c.ProbeTimeout, DefaultProbeTimeout)
	setDur(&c.GossipInterval, DefaultGossipInterval)
	setDur(&c.PushPullInterval, DefaultPushPullInterval)
	setDur(&c.TCPTimeout, DefaultTCPTimeout)
	setDur(&c.JoinRetryMin, DefaultJoinRetryMin)
	setDur(&c.JoinRetryMax, DefaultJoinRetryMax)
	setDur(&c.RejoinInterval, DefaultRejoinInterval)
	setDur(&c.BroadcastTimeout, DefaultBroadcastTimeout)
	if c.SuspicionMult == 0 {
		c.SuspicionMult = DefaultSuspicionMult
	}
	if c.SuspicionMaxTimeoutMult == 0 {
		c.SuspicionMaxTimeoutMult = DefaultSuspicionMaxTimeoutMult
	}
	if c.EventBuffer == 0 {
		c.EventBuffer = DefaultEventBuffer
	}
	if c.Meta.ID == "" {
		c.Meta.ID = c.NodeID
	}
	if c.Meta.ClusterID == "" {
		c.Meta.ClusterID = c.ClusterID
	}
	return c
}

// Validate reports the first invalid field of c (after defaults), wrapping ErrConfig or ErrKey.
func (c Config) Validate() error {
	c = c.withDefaults()
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrConfig, field, fmt.Sprintf(format, args...))
	}
	if c.NodeID == "" {
		return bad("NodeID", "required")
	}
	if c.Meta.ID != c.NodeID {
		return bad("Meta.ID", "%q differs from NodeID %q", c.Meta.ID, c.NodeID)
	}
	if c.Meta.ClusterID != c.ClusterID {
		return bad("Meta.ClusterID", "%q differs from ClusterID %q", c.Meta.ClusterID, c.ClusterID)
	}
	if len(clusterLabel(c.ClusterID)) > maxLabel {
		return bad("ClusterID", "longer than %d bytes", maxLabel-len(labelPrefix))
	}
	if _, _, err := splitHostPort(c.BindAddr, true); err != nil {
		return bad("BindAddr", "%v", err)
	}
	if c.AdvertiseAddr != "" {
		if _, _, err := splitHostPort(c.AdvertiseAddr, false); err != nil {
			return bad("AdvertiseAddr", "%v", err)
		}
	}
	for i, a := range c.JoinAddresses {
		if strings.TrimSpace(a) == "" {
			return bad(fmt.Sprintf("JoinAddresses[%d]", i), "empty")
		}
	}
	if c.SecretKey != nil {
		if err := checkKey(c.SecretKey); err != nil {
			return err
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"ProbeInterval", c.ProbeInterval}, {"ProbeTimeout", c.ProbeTimeout},
		{"GossipInterval", c.GossipInterval}, {"PushPullInterval", c.PushPullInterval},
		{"TCPTimeout", c.TCPTimeout}, {"JoinRetryMin", c.JoinRetryMin},
		{"JoinRetryMax", c.JoinRetryMax}, {"BroadcastTimeout", c.BroadcastTimeout},
		{"RejoinInterval", c.RejoinInterval},
	} {
		if d.v < 0 {
			return bad(d.name, "negative duration %v", d.v)
		}
	}
	if c.ProbeTimeout > c.ProbeInterval {
		return bad("ProbeTimeout", "%v exceeds ProbeInterval %v", c.ProbeTimeout, c.ProbeInterval)
	}
	if c.JoinRetryMax < c.JoinRetryMin {
		return bad("JoinRetryMax", "%v below JoinRetryMin %v", c.JoinRetryMax, c.JoinRetryMin)
	}
	if c.SuspicionMult < 1 {
		return bad("SuspicionMult", "%d < 1", c.SuspicionMult)
	}
	if c.SuspicionMaxTimeoutMult < 1 {
		return bad("SuspicionMaxTimeoutMult", "%d < 1", c.SuspicionMaxTimeoutMult)
	}
	if c.EventBuffer < 1 {
		return bad("EventBuffer", "%d < 1", c.EventBuffer)
	}
	if _, err := encodeMeta(c.Meta, 0); err != nil {
		return fmt.Errorf("%w: Meta: %w", ErrConfig, err)
	}
	return nil
}

// FailureDetectionBound is how long, at most, members with this configuration take to declare
// a member dead after it stops answering, in a cluster whose memberlist counts members nodes
// (the dead ones included, until memberlist forgets them 30 s after their death), on a network
// that delivers the others' packets and without CPU pressure (see doc.go, "Timings"). It adds:
//
//   - the wait for the first probe: each member probes the others round robin in a shuffled
//     order, so one prober may take up to 2(members-1)-1 probe intervals to come back to it;
//   - the probe itself, which ends within one interval;
//   - the longest suspicion, without any confirmation: SuspicionMaxTimeoutMult ×
//     SuspicionMult × max(1, log10 members) probe intervals;
//   - the dead message reaching everyone: a few gossip intervals, taken as 5.
//
// A member under CPU pressure stretches its own probe interval (memberlist's awareness, up
// to 8×); that slows detection beyond this bound rather than causing false deaths.
func (c Config) FailureDetectionBound(members int) time.Duration {
	c = c.withDefaults()
	members = max(members, 2)
	probe := time.Duration(2*(members-1)) * c.ProbeInterval // the wait, then the probe
	scale := max(1, math.Log10(float64(members)))
	suspicion := time.Duration(float64(c.SuspicionMaxTimeoutMult*c.SuspicionMult) * scale * float64(c.ProbeInterval))
	return probe + suspicion + 5*c.GossipInterval
}

// DecodeKey turns the text form of a gossip key (standard base64, padded or not, surrounding
// space ignored) into the raw bytes Config.SecretKey wants. Empty text gives a nil key (no
// encryption). The decoded key must be 16, 24 or 32 bytes.
func DecodeKey(text string) ([]byte, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, nil
	}
	key, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(text)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: not base64: %v", ErrKey, err)
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	return key, nil
}

func checkKey(key []byte) error {
	switch len(key) {
	case 16, 24, 32:
		return nil
	}
	return fmt.Errorf("%w: %d bytes, want 16, 24 or 32", ErrKey, len(key))
}

// splitHostPort parses "host:port"; unless needPort, a bare host is accepted too (port -1).
func splitHostPort(addr string, needPort bool) (string, int, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		if needPort {
			return "", 0, err
		}
		// A bare host or IP (IPv6 possibly in brackets).
		h := strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")
		if h == "" || strings.ContainsAny(h, " /") {
			return "", 0, fmt.Errorf("bad host %q", addr)
		}
		return h, -1, nil
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", portText)
	}
	if !needPort && host == "" {
		return "", 0, fmt.Errorf("missing host in %q", addr)
	}
	return host, port, nil
}
