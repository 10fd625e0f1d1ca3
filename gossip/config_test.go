package gossip

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	ok := Config{NodeID: "n1"}
	cases := []struct {
		name  string
		mod   func(c *Config)
		want  error
		field string // named in the message
	}{
		{"defaults", func(*Config) {}, nil, ""},
		{"missing node id", func(c *Config) { c.NodeID = "" }, ErrConfig, "NodeID"},
		{"meta id differs", func(c *Config) { c.Meta.ID = "other" }, ErrConfig, "Meta.ID"},
		{"bind without port", func(c *Config) { c.BindAddr = "127.0.0.1" }, ErrConfig, "BindAddr"},
		{"bind bad port", func(c *Config) { c.BindAddr = "127.0.0.1:99999" }, ErrConfig, "BindAddr"},
		{"advertise host only", func(c *Config) { c.AdvertiseAddr = "10.0.0.1" }, nil, ""},
		{"advertise host:port", func(c *Config) { c.AdvertiseAddr = "10.0.0.1:7000" }, nil, ""},
		{"advertise no host", func(c *Config) { c.AdvertiseAddr = ":7000" }, ErrConfig, "AdvertiseAddr"},
		{"empty join address", func(c *Config) { c.JoinAddresses = []string{"a:1", " "} }, ErrConfig, "JoinAddresses[1]"},
		{"key 15 bytes", func(c *Config) { c.SecretKey = make([]byte, 15) }, ErrKey, ""},
		{"key 32 bytes", func(c *Config) { c.SecretKey = make([]byte, 32) }, nil, ""},
		{"probe timeout > interval", func(c *Config) { c.ProbeTimeout = 2 * time.Second }, ErrConfig, "ProbeTimeout"},
		{"negative gossip interval", func(c *Config) { c.GossipInterval = -1 }, ErrConfig, "GossipInterval"},
		{"retry max < min", func(c *Config) { c.JoinRetryMin = time.Second; c.JoinRetryMax = time.Millisecond }, ErrConfig, "JoinRetryMax"},
		{"suspicion mult negative", func(c *Config) { c.SuspicionMult = -1 }, ErrConfig, "SuspicionMult"},
		{"event buffer negative", func(c *Config) { c.EventBuffer = -1 }, ErrConfig, "EventBuffer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			err := c.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("err %q does not name %q", err, tc.field)
			}
			if _, nerr := New(c); !errors.Is(nerr, tc.want) {
				t.Fatalf("New accepted the config: %v", nerr)
			}
		})
	}
}

func TestDecodeKey(t *testing.T) {
	key := bytes.Repeat([]byte{0xab}, 16)
	cases := []struct {
		name string
		text string
		want []byte
		err  error
	}{
		{"empty means no encryption", "", nil, nil},
		{"padded", base64.StdEncoding.EncodeToString(key), key, nil},
		{"unpadded with spaces", " " + base64.RawStdEncoding.EncodeToString(key) + "\n", key, nil},
		{"32 bytes", base64.StdEncoding.EncodeToString(make([]byte, 32)), make([]byte, 32), nil},
		{"wrong length", base64.StdEncoding.EncodeToString(make([]byte, 20)), nil, ErrKey},
		{"not base64", "not*base64!", nil, ErrKey},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeKey(tc.text)
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("key %x, want %x", got, tc.want)
			}
		})
	}
}

func TestJitterBounds(t *testing.T) {
	for _, d := range []time.Duration{1, 2, 3, time.Millisecond, 30 * time.Second} {
		for range 200 {
			j := jitter(d)
			if j < d/2 || j > d {
				t.Fatalf("jitter(%v) = %v, outside [%v, %v]", d, j, d/2, d)
			}
		}
	}
}

func TestConflictScheduleOutlastsSuspicion(t *testing.T) {
	for _, c := range []Config{{NodeID: "n"}, fastConfig("n")} {
		c = c.withDefaults()
		g := &Gossip{cfg: c}
		every, rounds := g.conflictSchedule()
		// Longest time to declare the stale address dead: probing (2 intervals) plus a suspicion
		// without confirmations in a 100-node cluster (log10 100 = 2).
		longest := c.ProbeInterval * time.Duration(2+2*c.SuspicionMult*c.SuspicionMaxTimeoutMult)
		if time.Duration(rounds-1)*every < longest {
			t.Fatalf("%d rounds every %v do not outlast %v", rounds, every, longest)
		}
		if c.ProbeInterval == DefaultProbeInterval && (every != 6*time.Second || rounds != 4) {
			t.Fatalf("defaults: every %v, %d rounds; doc.go says 6 s, 4", every, rounds)
		}
	}
}

// TestFailureDetectionBound keeps the figures doc.go gives for the defaults, and checks that
// the bound grows with the cluster (longer round robin, longer suspicion) and with the timings.
func TestFailureDetectionBound(t *testing.T) {
	var c Config
	for n, want := range map[int]time.Duration{3: 13 * time.Second, 4: 15 * time.Second} {
		if got := c.FailureDetectionBound(n); got != want {
			t.Errorf("FailureDetectionBound(%d) = %s with the defaults, doc.go says %s", n, got, want)
		}
	}
	if c.FailureDetectionBound(100) <= c.FailureDetectionBound(10) {
		t.Error("the bound does not grow with the cluster")
	}
	slow := Config{ProbeInterval: 2 * time.Second}
	if slow.FailureDetectionBound(3) <= c.FailureDetectionBound(3) {
		t.Error("the bound does not grow with the probe interval")
	}
}
