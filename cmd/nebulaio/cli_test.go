package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nebulaio/nebulaio/config"
	"github.com/nebulaio/nebulaio/internal/testcluster"
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
