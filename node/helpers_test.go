package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nebulaio/nebulaio/config"
	"github.com/nebulaio/nebulaio/internal/testcluster"
	"github.com/nebulaio/nebulaio/internal/testutil"
)

// solo starts a single node that bootstraps itself (its configuration adjusted by configure,
// when not nil) and waits until it leads.
func solo(t *testing.T, configure func(*config.Config)) *testcluster.Cluster {
	t.Helper()
	c := testcluster.Start(t, testcluster.Options{Nodes: 1, Configure: func(_ int, cfg *config.Config) {
		if configure != nil {
			configure(cfg)
		}
	}})
	c.WaitForLeader()
	return c
}

type nodeJSON struct {
	ID           string `json:"id"`
	Role         string `json:"role"`
	Voter        bool   `json:"voter"`
	InRaft       bool   `json:"in_raft"`
	RaftState    string `json:"raft_state"`
	RaftAddress  string `json:"raft_address"`
	GossipStatus string `json:"gossip_status"`
}

func adminCall(t *testing.T, base, method, path string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, base+path, nil)
	req.Header.Set("Authorization", "Bearer "+testcluster.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// adminChange runs a mutating admin call, retrying while the cluster answers 503 (an election in
// progress) for up to 20 s, as an operator's script would.
func adminChange(t *testing.T, base, method, path string) (int, []byte) {
	t.Helper()
	var code int
	var body []byte
	_ = testutil.Poll(20*time.Second, func() error {
		if code, body = adminCall(t, base, method, path); code == http.StatusServiceUnavailable {
			return fmt.Errorf("503")
		}
		return nil
	})
	return code, body
}

func nodesOf(t *testing.T, adminURL string) map[string]nodeJSON {
	t.Helper()
	code, body := adminCall(t, adminURL, "GET", "/api/v1/admin/cluster/nodes")
	if code != 200 {
		t.Fatalf("nodes: %d %s", code, body)
	}
	var v struct{ Nodes []nodeJSON }
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	out := map[string]nodeJSON{}
	for _, n := range v.Nodes {
		if _, dup := out[n.ID]; dup {
			t.Fatalf("node %s listed twice", n.ID)
		}
		out[n.ID] = n
	}
	return out
}

func suffrage(n nodeJSON) string {
	switch {
	case !n.InRaft:
		return "absent"
	case n.Voter:
		return "voter"
	}
	return "nonvoter"
}

// expectSuffrage checks, through the admin API at adminURL, that each node has the suffrage
// wanted ("voter", "nonvoter" or "absent").
func expectSuffrage(t *testing.T, adminURL string, want map[string]string) func() error {
	return func() error {
		got := nodesOf(t, adminURL)
		for id, w := range want {
			if s := suffrage(got[id]); s != w {
				return fmt.Errorf("%s is %s, want %s", id, s, w)
			}
		}
		return nil
	}
}

// gaugeValue reads a metric's value from /metrics at adminURL ("" if absent).
func gaugeValue(t *testing.T, adminURL, name string) string {
	code, body := adminCall(t, adminURL, "GET", "/metrics")
	if code != 200 {
		t.Fatalf("metrics: %d", code)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// blobFiles counts the regular files under dir that are not the store's lock file.
func blobFiles(t *testing.T, dir string) int {
	n := 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && d.Name() != "LOCK" {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
