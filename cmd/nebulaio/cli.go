package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nebulaio/nebulaio/internal/trust"
	"github.com/nebulaio/nebulaio/node"
)

// runCluster is `nebulaio cluster <nodes|health|promote ID|demote ID|remove ID|token|new-token>`:
// a thin client of the admin API for people who prefer a CLI to curl (new-token needs no
// server).
func runCluster(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("nebulaio cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	admin := fs.String("admin", envOr("NEBULAIO_ADMIN_ADDRESS", "http://127.0.0.1:9001"), "admin API base URL (env NEBULAIO_ADMIN_ADDRESS)")
	token := fs.String("token", os.Getenv("NEBULAIO_ADMIN_TOKEN"), "bearer token (env NEBULAIO_ADMIN_TOKEN; default: read from --data_dir)")
	dataDir := fs.String("data_dir", "./data", "data directory whose credentials.json holds the token when --token is not given")
	asJSON := fs.Bool("json", false, "print the raw JSON answer")
	caFile := fs.String("cacert", os.Getenv("NEBULAIO_ADMIN_CA"), "PEM CA bundle that verifies an https admin listener (env NEBULAIO_ADMIN_CA); default: the system's roots")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: nebulaio cluster [flags] <command>

commands:
  nodes          list the nodes: raft membership and state, gossip status, addresses
  health         leader, quorum size, healthy voters, failure tolerance
  promote ID     make a non-voter a voter
  demote ID      make a voter a non-voter
  remove ID      remove a node from the raft configuration
  token          print the join token of the cluster (it carries the cluster secret: a node
                 started with it as cluster.join_token / NEBULAIO_JOIN_TOKEN joins)
  new-token      print a new random token, without asking a server: give the same one to
                 every node of a cluster that is yet to bootstrap (with expect_nodes)

flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return 2
	}
	if rest[0] == "new-token" && len(rest) == 1 {
		return printNewToken(stdout, stderr)
	}
	if *token == "" {
		if c, err := node.ReadCredentials(*dataDir); err == nil {
			*token = c.AdminToken
		}
	}
	base := strings.TrimRight(*admin, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	var method, path string
	switch cmd := rest[0]; {
	case cmd == "nodes" && len(rest) == 1:
		method, path = http.MethodGet, "/api/v1/admin/cluster/nodes"
	case cmd == "health" && len(rest) == 1:
		method, path = http.MethodGet, "/api/v1/admin/cluster/health"
	case (cmd == "promote" || cmd == "demote") && len(rest) == 2:
		method, path = http.MethodPost, "/api/v1/admin/cluster/nodes/"+rest[1]+"/"+cmd
	case cmd == "remove" && len(rest) == 2:
		method, path = http.MethodDelete, "/api/v1/admin/cluster/nodes/"+rest[1]
	case cmd == "token" && len(rest) == 1:
		method, path = http.MethodGet, "/api/v1/admin/cluster/token"
	default:
		fs.Usage()
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, base+path, nil)
	if err != nil {
		fmt.Fprintf(stderr, "nebulaio: %v\n", err)
		return 2
	}
	req.Header.Set("Authorization", "Bearer "+*token)
	hc, err := adminClient(*caFile)
	if err != nil {
		fmt.Fprintf(stderr, "nebulaio: --cacert: %v\n", err)
		return 2
	}
	resp, err := hc.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "nebulaio: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		var e struct{ Code, Message string }
		if json.Unmarshal(body, &e) == nil && e.Code != "" {
			fmt.Fprintf(stderr, "nebulaio: %s (%d %s): %s\n", rest[0], resp.StatusCode, e.Code, e.Message)
		} else {
			fmt.Fprintf(stderr, "nebulaio: %s: HTTP %d: %s\n", rest[0], resp.StatusCode, bytes.TrimSpace(body))
		}
		return 1
	}
	if rest[0] == "token" && !*asJSON {
		var tv struct{ Token string }
		if err := json.Unmarshal(body, &tv); err != nil || tv.Token == "" {
			fmt.Fprintf(stderr, "nebulaio: bad answer: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, tv.Token) // alone on its line: NEBULAIO_JOIN_TOKEN=$(nebulaio cluster token)
		return 0
	}
	if *asJSON || rest[0] != "nodes" {
		var out bytes.Buffer
		if json.Indent(&out, body, "", "  ") != nil {
			out.Write(body)
		}
		fmt.Fprintln(stdout, strings.TrimSpace(out.String()))
		return 0
	}
	var list struct {
		Nodes []struct {
			ID           string `json:"id"`
			Role         string `json:"role"`
			Voter        bool   `json:"voter"`
			InRaft       bool   `json:"in_raft"`
			RaftState    string `json:"raft_state"`
			RaftAddress  string `json:"raft_address"`
			GossipStatus string `json:"gossip_status"`
			Applied      uint64 `json:"applied_index"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		fmt.Fprintf(stderr, "nebulaio: bad answer: %v\n", err)
		return 1
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tROLE\tSUFFRAGE\tRAFT STATE\tGOSSIP\tAPPLIED\tRAFT ADDRESS")
	for _, n := range list.Nodes {
		suffrage := "voter"
		switch {
		case !n.InRaft:
			suffrage = "-"
		case !n.Voter:
			suffrage = "nonvoter"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", n.ID, n.Role, suffrage, n.RaftState, n.GossipStatus, n.Applied, n.RaftAddress)
	}
	_ = tw.Flush()
	return 0
}

// printNewToken prints the token of a cluster that does not exist yet: a random ID and secret.
func printNewToken(stdout, stderr io.Writer) int {
	id, err := trust.NewClusterID()
	if err != nil {
		fmt.Fprintf(stderr, "nebulaio: %v\n", err)
		return 1
	}
	secret, err := trust.NewSecret()
	if err != nil {
		fmt.Fprintf(stderr, "nebulaio: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, trust.Token{ClusterID: id, Secret: secret}.Text())
	return 0
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// adminClient is the HTTP client of the admin CLI: the default one, or one that trusts only
// the CA certificates in caFile (an admin listener with an operator's certificate).
func adminClient(caFile string) (*http.Client, error) {
	if caFile == "" {
		return http.DefaultClient, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}, nil
}
