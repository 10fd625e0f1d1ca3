package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDecodeBadInput(t *testing.T) {
	cases := []struct {
		name     string
		yaml     string
		wantKey  string // key path the message must name
		wantLine int    // 0: not checked
		wantText string // substring of the message
	}{
		{"unknown top-level key", "node_id: a\nclustr:\n  bootstrap: true\n", "clustr", 2, "did you mean cluster?"},
		{"unknown nested key", "cluster:\n  bootstap: true\n", "cluster.bootstap", 2, "did you mean cluster.bootstrap?"},
		{"wrong type: text for a number", "cluster:\n  expect_nodes: three\n", "cluster.expect_nodes", 2, "whole number"},
		{"wrong type: number for a bool", "cluster:\n  bootstrap: 1\n", "cluster.bootstrap", 2, "true or false"},
		{"wrong type: mapping for text", "node_id:\n  a: b\n", "node_id", 2, "mapping"},
		{"wrong type: scalar for a list", "cluster:\n  join_addresses: a:9004\n", "cluster.join_addresses", 2, "want a list"},
		{"wrong type: scalar for a section", "cluster: yes\n", "cluster", 1, "want a mapping"},
		{"bad duration", "cluster:\n  raft_election_timeout: 5 seconds\n", "cluster.raft_election_timeout", 2, "duration"},
		{"negative duration", "cluster:\n  raft_election_timeout: -1s\n", "cluster.raft_election_timeout", 2, "negative"},
		{"negative size", "performance:\n  metadata_cache_size: -5\n", "performance.metadata_cache_size", 2, "negative"},
		{"size with a decimal unit", "performance:\n  inline_object_size: 64KB\n", "performance.inline_object_size", 2, "KiB"},
		{"size that is not a number", "performance:\n  inline_object_size: big\n", "performance.inline_object_size", 2, "64KiB"},
		{"negative byte size", "performance:\n  inline_object_size: -1\n", "performance.inline_object_size", 2, "size"},
		{"duplicate key", "node_id: a\nnode_id: b\n", "node_id", 2, ""},
		{"not yaml", "node_id: [a\n", "(file)", 0, ""},
		{"two documents", "node_id: a\n---\nnode_id: b\n", "(file)", 0, "more than one"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			err := Decode([]byte(tc.yaml), &cfg)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Decode = %v, want *config.Error", err)
			}
			p := ce.Problems[0]
			if p.Key != tc.wantKey {
				t.Errorf("key = %q, want %q (error: %v)", p.Key, tc.wantKey, err)
			}
			if tc.wantLine != 0 && p.Line != tc.wantLine {
				t.Errorf("line = %d, want %d", p.Line, tc.wantLine)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not contain %q", err, tc.wantText)
			}
		})
	}
}

func TestValidateBadCombinations(t *testing.T) {
	f := false
	cases := []struct {
		name    string
		mutate  func(*Config)
		wantKey string
	}{
		{"unknown role", func(c *Config) { c.Cluster.NodeRole = "archiver" }, "cluster.node_role"},
		{"join mode without join_addresses", func(c *Config) { c.Cluster.Bootstrap = BootstrapFalse }, "cluster.join_addresses"},
		{"management that does not vote", func(c *Config) { c.Cluster.NodeRole = RoleManagement; c.Cluster.Voter = &f }, "cluster.voter"},
		{"zero expect_nodes", func(c *Config) { c.Cluster.ExpectNodes = 0 }, "cluster.expect_nodes"},
		{"expect_nodes on a joining node", func(c *Config) {
			c.Cluster.Bootstrap = BootstrapFalse
			c.Cluster.JoinAddresses = []string{"a:9004"}
			c.Cluster.ExpectNodes = 3
		}, "cluster.expect_nodes"},
		{"join address without port", func(c *Config) {
			c.Cluster.Bootstrap = BootstrapFalse
			c.Cluster.JoinAddresses = []string{"10.0.0.1"}
		}, "cluster.join_addresses[0]"},
		{"bootstrap true next to join addresses (issue 16's split brain)", func(c *Config) {
			c.Cluster.Bootstrap = BootstrapTrue
			c.Cluster.JoinAddresses = []string{"a:9004"}
		}, "cluster.bootstrap"},
		{"unknown bootstrap mode", func(c *Config) { c.Cluster.Bootstrap = "maybe" }, "cluster.bootstrap"},
		{"expect_nodes on a node that joins by auto", func(c *Config) {
			c.Cluster.JoinAddresses = []string{"a:9004"}
			c.Cluster.ExpectNodes = 3
		}, "cluster.expect_nodes"},
		{"negative rebalance bandwidth", func(c *Config) { c.Cluster.RebalanceBytesPerSec = -1 }, "cluster.rebalance_bytes_per_sec"},
		{"erasure not K+M", func(c *Config) { c.Cluster.Erasure = "2" }, "cluster.erasure"},
		{"erasure without parity", func(c *Config) { c.Cluster.Erasure = "2+0" }, "cluster.erasure"},
		{"erasure over 32 shards", func(c *Config) { c.Cluster.Erasure = "30+3" }, "cluster.erasure"},
		{"erasure wider than the bootstrapped cluster", func(c *Config) {
			c.Cluster.Bootstrap, c.Cluster.ExpectNodes, c.Cluster.Erasure = BootstrapTrue, 3, "4+2"
		}, "cluster.erasure"},
		{"zero erasure threshold", func(c *Config) { c.Cluster.ErasureMinSize = 0 }, "cluster.erasure_min_size"},
		{"half of the TLS files", func(c *Config) { c.Cluster.TLSCertFile = "node.pem" }, "cluster.tls_cert_file"},
		{"secret and token", func(c *Config) { c.Cluster.Secret, c.Cluster.JoinToken = "s", "t" }, "cluster.secret"},
		{"bad listen address", func(c *Config) { c.S3.Address = "9000" }, "s3.address"},
		{"empty region", func(c *Config) { c.S3.Region = "" }, "s3.region"},
		{"region with a slash", func(c *Config) { c.S3.Region = "eu/1" }, "s3.region"},
		{"advertise address with a port", func(c *Config) { c.Cluster.AdvertiseAddress = "host:9003" }, "cluster.advertise_address"},
		{"heartbeat above election", func(c *Config) { c.Cluster.RaftHeartbeatTimeout = Duration(5 * time.Second) }, "cluster.raft_heartbeat_timeout"},
		{"zero max log entries", func(c *Config) { c.Performance.MaxRaftLogEntries = 0 }, "performance.max_raft_log_entries"},
		{"reserve below -1", func(c *Config) { c.Storage.MinFreeBytes = -2 }, "storage.min_free_bytes"},
		{"inline objects over 512 KiB", func(c *Config) { c.Performance.InlineObjectSize = 512<<10 + 1 }, "performance.inline_object_size"},
		{"zero lifecycle day", func(c *Config) { c.Lifecycle.Day = 0 }, "lifecycle.day"},
		{"lifecycle day over 24h", func(c *Config) { c.Lifecycle.Day = Duration(25 * time.Hour) }, "lifecycle.day"},
		{"zero lifecycle interval", func(c *Config) { c.Lifecycle.Interval = 0 }, "lifecycle.interval"},
		{"zero expiration rate", func(c *Config) { c.Lifecycle.MaxExpirationsPerSecond = 0 }, "lifecycle.max_expirations_per_second"},
		{"unknown log level", func(c *Config) { c.Log.Level = "loud" }, "log.level"},
		{"unknown log format", func(c *Config) { c.Log.Format = "xml" }, "log.format"},
		{"empty node id", func(c *Config) { c.NodeID = "" }, "node_id"},
		{"zero s3 read timeout", func(c *Config) { c.S3.ReadTimeout = 0 }, "s3.read_timeout"},
		{"zero admin write timeout", func(c *Config) { c.Admin.WriteTimeout = 0 }, "admin.write_timeout"},
		{"s3 certificate without key", func(c *Config) { c.S3.TLSCertFile = "s3.pem" }, "s3.tls_key_file"},
		{"admin key without certificate", func(c *Config) { c.Admin.TLSKeyFile = "admin.key" }, "admin.tls_cert_file"},
		{"master key not base64", func(c *Config) { c.Encryption.MasterKey = "not a key" }, "encryption.master_key"},
		{"master key of 16 bytes", func(c *Config) { c.Encryption.MasterKey = "AAAAAAAAAAAAAAAAAAAAAA==" }, "encryption.master_key"},
		{"bad old master key", func(c *Config) {
			c.Encryption.MasterKey = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
			c.Encryption.OldMasterKeys = []string{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "short"}
		}, "encryption.old_master_keys[1]"},
		{"old master keys without a current one", func(c *Config) {
			c.Encryption.OldMasterKeys = []string{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}
		}, "encryption.old_master_keys"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			tc.mutate(&cfg)
			_, err := cfg.Validate()
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Validate = %v, want *config.Error", err)
			}
			found := false
			for _, p := range ce.Problems {
				found = found || p.Key == tc.wantKey
			}
			if !found {
				t.Fatalf("no problem names %q: %v", tc.wantKey, err)
			}
		})
	}
}

func TestDefaultsAreValidSingleNode(t *testing.T) {
	cfg := Default()
	warnings, err := cfg.Validate()
	if err != nil || len(warnings) != 0 {
		t.Fatalf("defaults: warnings %v, err %v", warnings, err)
	}
	if !cfg.Cluster.Bootstraps() || cfg.Cluster.NodeRole != RoleHybrid || !cfg.Cluster.IsVoter() || cfg.Cluster.AdvertiseAddress != "127.0.0.1" {
		t.Fatalf("defaults are not a bootstrapping hybrid voter on 127.0.0.1: %+v", cfg.Cluster)
	}
}

// TestBootstrapModes: auto bootstraps alone and joins with join addresses (issue 16: a node
// given only join_addresses used to bootstrap a cluster of its own); true and false are read
// from YAML's booleans, strings and flags alike; bootstrapping together next to join addresses
// needs expect_nodes.
func TestBootstrapModes(t *testing.T) {
	cases := []struct {
		yaml  string
		flags []string
		mode  BootstrapMode
		boots bool
	}{
		{yaml: "", mode: BootstrapAuto, boots: true},
		{yaml: "cluster:\n  join_addresses: [a:9004]\n", mode: BootstrapAuto, boots: false},
		{yaml: "cluster:\n  bootstrap: auto\n", mode: BootstrapAuto, boots: true},
		{yaml: "cluster:\n  bootstrap: true\n", mode: BootstrapTrue, boots: true},
		{yaml: "cluster:\n  bootstrap: \"false\"\n  join_addresses: [a:9004]\n", mode: BootstrapFalse, boots: false},
		{flags: []string{"--cluster.bootstrap"}, mode: BootstrapTrue, boots: true},
		{flags: []string{"--cluster.bootstrap=false", "--cluster.join_addresses=a:9004"}, mode: BootstrapFalse, boots: false},
		{flags: []string{"--cluster.bootstrap=auto"}, mode: BootstrapAuto, boots: true},
		{yaml: "cluster:\n  bootstrap: true\n  join_addresses: [a:9004]\n  expect_nodes: 3\n", mode: BootstrapTrue, boots: true},
	}
	for _, tc := range cases {
		cfg := Default()
		if err := Decode([]byte(tc.yaml), &cfg); err != nil {
			t.Fatalf("%q: %v", tc.yaml, err)
		}
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		Flags(fs, &cfg)
		if err := fs.Parse(tc.flags); err != nil {
			t.Fatalf("%v: %v", tc.flags, err)
		}
		if _, err := cfg.Validate(); err != nil {
			t.Fatalf("%q %v: %v", tc.yaml, tc.flags, err)
		}
		if cfg.Cluster.Bootstrap != tc.mode || cfg.Cluster.Bootstraps() != tc.boots {
			t.Errorf("%q %v: mode %q bootstraps %v, want %q %v", tc.yaml, tc.flags, cfg.Cluster.Bootstrap, cfg.Cluster.Bootstraps(), tc.mode, tc.boots)
		}
	}
	cfg := Default()
	if err := Decode([]byte("cluster:\n  bootstrap: sometimes\n"), &cfg); err == nil || !strings.Contains(err.Error(), "cluster.bootstrap") {
		t.Fatalf("bad mode: %v", err)
	}
}

func TestEvenExpectNodesWarns(t *testing.T) {
	cfg := Default()
	cfg.Cluster.ExpectNodes = 4
	warnings, err := cfg.Validate()
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "cluster.expect_nodes") {
		t.Fatalf("warnings = %v, want one naming cluster.expect_nodes", warnings)
	}
}

func TestDesignExampleDecodes(t *testing.T) {
	doc := `
node_id: node-1
data_dir: ./data
s3:
  address: ":9000"
admin:
  address: ":9001"
console:
  address: ":9002"
cluster:
  raft_address: ":9003"
  gossip_address: ":9004"
  bootstrap: true
  advertise_address: 10.0.1.10
  join_addresses: [10.0.1.10:9004]
  expect_nodes: 3
  node_role: hybrid
  voter: true
  raft_election_timeout: 5s
  raft_heartbeat_timeout: 2s
performance:
  metadata_cache_size: 100000
  max_raft_log_entries: 10000
`
	cfg := Default()
	if err := Decode([]byte(doc), &cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Cluster.ExpectNodes != 3 || cfg.Cluster.RaftElectionTimeout.D() != 5*time.Second ||
		cfg.Cluster.AdvertiseAddress != "10.0.1.10" || len(cfg.Cluster.JoinAddresses) != 1 || cfg.Cluster.Voter == nil || !*cfg.Cluster.Voter {
		t.Fatalf("decoded %+v", cfg.Cluster)
	}
	if cfg.Log.Level != "info" {
		t.Fatalf("a key absent from the file lost its default: log.level = %q", cfg.Log.Level)
	}
}

func TestPrecedenceFileEnvFlags(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "n.yaml")
	if err := os.WriteFile(path, []byte("node_id: from-file\ns3:\n  access_key: file-key\ncluster:\n  expect_nodes: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"NEBULAIO_ACCESS_KEY": "env-key", "NEBULAIO_ADMIN_TOKEN": "tok"}
	cfg, err := Load(path, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	Flags(fs, &cfg)
	if err := fs.Parse([]string{"--node_id=from-flag", "--cluster.bootstrap=false", "--cluster.join_addresses=a:1,b:2", "--cluster.raft_election_timeout=3s", "--cluster.voter=false"}); err != nil {
		t.Fatal(err)
	}
	if cfg.NodeID != "from-flag" || cfg.S3.AccessKey != "env-key" || cfg.Admin.Token != "tok" || cfg.Cluster.ExpectNodes != 3 ||
		cfg.Cluster.Bootstrap != BootstrapFalse || len(cfg.Cluster.JoinAddresses) != 2 || cfg.Cluster.RaftElectionTimeout.D() != 3*time.Second ||
		cfg.Cluster.Voter == nil || *cfg.Cluster.Voter {
		t.Fatalf("precedence broken: %+v", cfg)
	}
	fs = flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	Flags(fs, &cfg)
	if err := fs.Parse([]string{"--performance.max_raft_log_entries=-3"}); err == nil || !strings.Contains(err.Error(), "performance.max_raft_log_entries") {
		t.Fatalf("bad flag value: err = %v, want one naming the key", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "absent.yaml"), os.Getenv)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load of a missing file = %v, want ErrNotExist", err)
	}
}

// TestReadmeDocumentsEveryKey keeps README.md's configuration reference and the Config struct in
// step: every key is documented with its default and its doc text, and every documented key
// exists.
func TestReadmeDocumentsEveryKey(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ def, doc string }
	documented := map[string]row{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z0-9_.]+)` \\| `([^`]*)` \\| (.*) \\|$").FindAllStringSubmatch(string(data), -1) {
		documented[m[1]] = row{m[2], m[3]}
	}
	def := Default()
	for _, k := range Keys() {
		r, ok := documented[k.Path]
		if !ok {
			t.Errorf("key %s is not documented in README.md's configuration table", k.Path)
			continue
		}
		delete(documented, k.Path)
		if !strings.HasPrefix(r.doc, k.Doc+".") {
			t.Errorf("README.md documents %s as %q; its doc tag says %q", k.Path, r.doc, k.Doc)
		}
		v := k.field(&def)
		if v.IsZero() || (v.Kind() == reflect.Slice && v.Len() == 0) {
			// Placeholders for values that are absent by default, or the zero value itself (0s, false, 0).
			if !slices.Contains([]string{"generated", "empty", "none", "by role", fmt.Sprint(v.Interface())}, r.def) {
				t.Errorf("README.md gives %s the default %q; it has none", k.Path, r.def)
			}
			continue
		}
		if want := fmt.Sprint(v.Interface()); r.def != want {
			t.Errorf("README.md gives %s the default %q; Default() has %q", k.Path, r.def, want)
		}
	}
	for k := range documented {
		if strings.Contains(k, ".") || k == "node_id" || k == "data_dir" {
			t.Errorf("README.md documents %s, which is not a configuration key", k)
		}
	}
}

// TestByteSizes: performance.inline_object_size takes bytes or a binary unit, from the file
// and from a flag, and prints as the largest unit that divides it.
func TestByteSizes(t *testing.T) {
	for text, want := range map[string]ByteSize{"0": 0, "65536": 64 << 10, "64KiB": 64 << 10, "64 kib": 64 << 10,
		"1MiB": 1 << 20, "100B": 100, "16KiB": 16 << 10} {
		cfg := Default()
		if err := Decode([]byte("performance:\n  inline_object_size: "+text+"\n"), &cfg); err != nil || cfg.Performance.InlineObjectSize != want {
			t.Errorf("inline_object_size: %s decodes to %d (%v), want %d", text, cfg.Performance.InlineObjectSize, err, want)
		}
	}
	for _, k := range Keys() {
		if k.Path == "performance.inline_object_size" {
			cfg := Default()
			if err := k.Set(&cfg, "32KiB"); err != nil || cfg.Performance.InlineObjectSize != 32<<10 {
				t.Errorf("flag 32KiB: %d, %v", cfg.Performance.InlineObjectSize, err)
			}
			if err := k.Set(&cfg, "32KB"); err == nil {
				t.Error("flag 32KB accepted")
			}
		}
	}
	for b, want := range map[ByteSize]string{0: "0", 100: "100", 64 << 10: "64KiB", 1 << 20: "1MiB", 1500: "1500", 3 << 30: "3GiB"} {
		if got := b.String(); got != want {
			t.Errorf("ByteSize(%d) = %q, want %q", int64(b), got, want)
		}
	}
}

func TestParseErasure(t *testing.T) {
	for in, want := range map[string][2]int{"": {0, 0}, "off": {0, 0}, "2+1": {2, 1}, " 4 + 2 ": {4, 2}, "16+16": {16, 16}} {
		k, m, err := ParseErasure(in)
		if err != nil || k != want[0] || m != want[1] {
			t.Errorf("ParseErasure(%q) = %d, %d, %v; want %v", in, k, m, err, want)
		}
	}
	for _, in := range []string{"2", "2+", "+1", "0+1", "1+0", "a+b", "17+16", "2+1+1"} {
		if _, _, err := ParseErasure(in); err == nil {
			t.Errorf("ParseErasure(%q) accepted", in)
		}
	}
	c := Default()
	c.Cluster.Bootstrap, c.Cluster.ExpectNodes, c.Cluster.Erasure = BootstrapTrue, 3, "2+1"
	if _, err := c.Validate(); err != nil {
		t.Errorf("2+1 on three nodes refused: %v", err)
	}
}
