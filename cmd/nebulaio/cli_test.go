package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nebulaio/nebulaio/config"
	"github.com/nebulaio/nebulaio/dataplane"
	"github.com/nebulaio/nebulaio/httpapi"
	"github.com/nebulaio/nebulaio/internal/testcluster"
	"github.com/nebulaio/nebulaio/internal/trust"
	"github.com/nebulaio/nebulaio/node"
)

// TestClusterCLI runs `nebulaio cluster` against a running node: listings, the admin API's
// refusals as exit code 1 with the error code, bad usage as exit code 2.
func TestClusterCLI(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Nodes: 1, Configure: func(_ int, cfg *config.Config) { cfg.NodeID = "solo" }})
	c.WaitForLeader()
	admin := c.AdminURL(0)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"nodes"}, 0, "solo"},
		{[]string{"health"}, 0, `"quorum_size": 1`},
		{[]string{"--json", "nodes"}, 0, `"raft_state": "Leader"`},
		{[]string{"remove", "solo"}, 1, "last_voter"},
		{[]string{"promote", "ghost"}, 1, "unknown_node"},
		{[]string{"token"}, 0, c.Token().Text() + "\n"},
		{[]string{"--json", "token"}, 0, `"cluster_id": "` + c.Token().ClusterID + `"`},
		{[]string{"health"}, 0, `"cluster_id": "` + c.Token().ClusterID + `"`},
		{[]string{"transfer-leader"}, 1, "not_voter"},
		{[]string{"transfer-leader", "ghost"}, 1, "unknown_node"},
		{[]string{"readmit", "solo"}, 1, "invalid_member_state"},
		{[]string{"drain", "solo"}, 0, `"state": "draining"`},
		{[]string{"nodes"}, 0, "draining"},
		{[]string{"drain", "solo", "--cancel"}, 0, `"state": "none"`},
		{[]string{"remove", "--force", "solo"}, 1, "last_voter"},
		{[]string{"frobnicate"}, 2, "usage"},
	} {
		var out, errOut strings.Builder
		args := append([]string{"--admin", admin, "--token", testcluster.AdminToken}, tc.args...)
		code := runCluster(args, &out, &errOut)
		if code != tc.code || !strings.Contains(out.String()+errOut.String(), tc.want) {
			t.Errorf("nebulaio cluster %v: exit %d, output %q %q; want exit %d containing %q", tc.args, code, out.String(), errOut.String(), tc.code, tc.want)
		}
	}
	var out, errOut strings.Builder
	if code := runCluster([]string{"--admin", admin, "--token", "wrong", "nodes"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "unauthorized") {
		t.Errorf("CLI with a wrong token: exit %d, %q", code, errOut.String())
	}
	// Without --token, the token comes from credentials.json in --data_dir (as a node stores
	// generated secrets).
	dir := t.TempDir()
	stored := `{"access_key": "", "secret_key": "", "admin_token": "` + testcluster.AdminToken + `"}`
	if err := os.WriteFile(filepath.Join(dir, node.CredentialsFile), []byte(stored), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errOut.Reset()
	if code := runCluster([]string{"--admin", admin, "--data_dir", dir, "nodes"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "solo") {
		t.Errorf("CLI with the token from --data_dir: exit %d, %q %q", code, out.String(), errOut.String())
	}
	c.Verify()
}

// TestNewToken: new-token needs no server and prints a token that parses, different each time.
func TestNewToken(t *testing.T) {
	var a, b, errOut strings.Builder
	if runCluster([]string{"--admin", "http://127.0.0.1:1", "new-token"}, &a, &errOut) != 0 ||
		runCluster([]string{"new-token"}, &b, &errOut) != 0 {
		t.Fatalf("new-token failed: %s", errOut.String())
	}
	ta, err := trust.ParseToken(a.String())
	if err != nil {
		t.Fatalf("new-token printed %q: %v", a.String(), err)
	}
	if tb, _ := trust.ParseToken(b.String()); tb.ClusterID == ta.ClusterID || tb.Secret.Equal(ta.Secret) {
		t.Fatal("two new tokens share their cluster ID or secret")
	}
}

// TestCertsInitAndNode: an operator's CA and a node certificate made by the CLI are usable
// as cluster.tls_* files (they name the node and the cluster), keys are mode 0600, and
// nothing is overwritten.
func TestCertsInitAndNode(t *testing.T) {
	dir := t.TempDir()
	id := testcluster.NewToken(t).ClusterID
	run := func(args ...string) (int, string) {
		var out, errOut strings.Builder
		code := runCerts(args, &out, &errOut)
		return code, out.String() + errOut.String()
	}
	if code, out := run("init", "--dir", dir); code != 0 {
		t.Fatalf("certs init: %d %s", code, out)
	}
	if code, out := run("node", "--dir", dir, "--node_id", "node-7", "--cluster_id", id); code != 0 {
		t.Fatalf("certs node: %d %s", code, out)
	}
	for _, f := range []string{"ca.key", "node-7.key"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, err, st)
		}
	}
	ca, cert, err := trust.LoadFiles(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "node-7.pem"), filepath.Join(dir, "node-7.key"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := trust.NewCreds(trust.CredsConfig{Self: trust.NodeIdentity{ClusterID: id, NodeID: "node-7"}, CA: ca, Cert: cert}); err != nil {
		t.Fatalf("the node certificate does not serve node-7 of cluster %s: %v", id, err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "ca.key"))
	if code, out := run("init", "--dir", dir); code != 1 || !strings.Contains(out, "not overwritten") {
		t.Fatalf("second init: %d %s", code, out)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "ca.key")); string(after) != string(before) {
		t.Fatal("the CA key was replaced")
	}
	if code, _ := run("node", "--dir", dir, "--node_id", "n"); code != 2 {
		t.Fatalf("certs node without --cluster_id: exit %d, want 2", code)
	}
	if code, out := run("node", "--dir", dir, "--node_id", "n", "--cluster_id", "XYZ"); code != 1 || !strings.Contains(out, "--cluster_id") {
		t.Fatalf("certs node with a bad cluster ID: %d %s", code, out)
	}
	if code, _ := run("--help"); code != 0 {
		t.Fatalf("certs --help: exit %d", code)
	}
}

// TestDrainWaitShowsProgress: `drain ID --wait` polls the drain until it is drained, printing
// one progress line per change when stdout is not a terminal, and exits 0; a drain cancelled
// meanwhile exits 1.
func TestDrainWaitShowsProgress(t *testing.T) {
	for _, tc := range []struct {
		final string
		code  int
		want  string
	}{
		{"drained", 0, "n4 is drained: remove it with `nebulaio cluster remove n4`"},
		{"none", 1, "drain of n4 was cancelled"},
	} {
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/api/v1/admin/cluster/nodes/n4/drain" || r.Header.Get("Authorization") != "Bearer tok" {
				http.Error(w, "unexpected", http.StatusTeapot)
				return
			}
			v := httpapi.DrainView{ID: "n4", State: "draining"}
			switch n := calls.Add(1); {
			case n == 1: // the POST
			case n == 2:
				v.Progress = &dataplane.DrainProgress{Node: "n4", BlobsTotal: 10, BlobsDone: 5, BytesTotal: 10 << 20, BytesDone: 5 << 20,
					Percent: 50, RateBytesPerSec: 1 << 20, ETASeconds: 5}
			default:
				v.State = tc.final
				v.Progress = &dataplane.DrainProgress{Node: "n4", BlobsTotal: 10, BlobsDone: 10, BytesTotal: 10 << 20, BytesDone: 10 << 20, Percent: 100}
			}
			_ = json.NewEncoder(w).Encode(v)
		}))
		var out, errOut strings.Builder
		code := runCluster([]string{"--admin", srv.URL, "--token", "tok", "--interval", "10ms", "drain", "n4", "--wait"}, &out, &errOut)
		srv.Close()
		if code != tc.code || !strings.Contains(out.String()+errOut.String(), tc.want) ||
			!strings.Contains(out.String(), "draining n4 [###############---------------]  50.0%  5/10 objects  5.0 MiB/10.0 MiB  1.0 MiB/s  ETA 5s") {
			t.Errorf("drain --wait ending %s: exit %d, output %q %q", tc.final, code, out.String(), errOut.String())
		}
	}
}
