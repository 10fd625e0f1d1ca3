package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nebulaio/nebulaio/httpapi"
	"github.com/nebulaio/nebulaio/internal/trust"
	"github.com/nebulaio/nebulaio/node"
)

const clusterUsage = `usage: nebulaio cluster [flags] <command> [args]

commands:
  nodes                 list the nodes: raft membership and state, gossip status, addresses,
                        and the operator's recorded decisions (removed, voter, drain)
  health                leader, quorum size, healthy voters, failure tolerance, warnings,
                        repair and rebalance progress
  promote ID            make a node a voter (recorded: it stays one until demoted)
  demote ID             make a voter a non-voter (recorded: it stays one until promoted)
  remove ID [--force]   remove a node; it stays out, even if it comes back, until re-admitted.
                        Refused while the node holds the only copy of any object, unless
                        --force (drain it first)
  readmit ID            let a removed node rejoin (it is added back when it runs)
  drain ID [--wait]     copy every object the node holds to the other storage nodes, then mark
                        it drained; --wait shows the progress until it is done
  drain ID --cancel     stop a drain (the node may hold new copies again)
  transfer-leader [ID]  move the leadership to voter ID (default: any other voter)
  token                 print the join token of the cluster (it carries the cluster secret: a
                        node started with it as cluster.join_token / NEBULAIO_JOIN_TOKEN joins)
  new-token             print a new random token, without asking a server: give the same one
                        to every node of a cluster that is yet to bootstrap (with expect_nodes)

flags (before or after the command):
`

// runCluster is `nebulaio cluster ...`: a thin client of the admin API for people who prefer a
// CLI to curl (new-token needs no server). Exit codes: 0 success (and --help), 1 the admin API
// refused or failed, 2 usage.
func runCluster(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("nebulaio cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	admin := fs.String("admin", envOr("NEBULAIO_ADMIN_ADDRESS", "http://127.0.0.1:9001"), "admin API base URL (env NEBULAIO_ADMIN_ADDRESS)")
	token := fs.String("token", os.Getenv("NEBULAIO_ADMIN_TOKEN"), "bearer token (env NEBULAIO_ADMIN_TOKEN; default: read from --data_dir)")
	dataDir := fs.String("data_dir", "./data", "data directory whose credentials.json holds the token when --token is not given")
	asJSON := fs.Bool("json", false, "print the raw JSON answer")
	caFile := fs.String("cacert", os.Getenv("NEBULAIO_ADMIN_CA"), "PEM CA bundle that verifies an https admin listener (env NEBULAIO_ADMIN_CA); default: the system's roots")
	force := fs.Bool("force", false, "remove: remove even a node that holds the only copy of some objects (they are lost)")
	wait := fs.Bool("wait", false, "drain: show the progress and return once the node is drained")
	cancelDrain := fs.Bool("cancel", false, "drain: cancel the drain")
	poll := fs.Duration("interval", time.Second, "drain --wait: how often to ask for the progress")
	usage := func(w io.Writer) {
		fmt.Fprint(w, clusterUsage)
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(stderr)
	}
	fs.Usage = func() {} // parse errors are reported once, below
	rest, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) || len(rest) > 0 && rest[0] == "help" {
		usage(stdout)
		return 0
	}
	if err != nil {
		usage(stderr)
		return 2
	}
	cmd, ok := clusterCommand(rest, *force, *wait, *cancelDrain)
	if !ok {
		usage(stderr)
		return 2
	}
	if cmd.name == "new-token" {
		return printNewToken(stdout, stderr)
	}
	if *token == "" {
		if c, err := node.ReadCredentials(*dataDir); err == nil {
			*token = c.AdminToken
		}
	}
	hc, err := adminHTTPClient(*caFile)
	if err != nil {
		fmt.Fprintf(stderr, "nebulaio: --cacert: %v\n", err)
		return 2
	}
	cl := &adminClient{base: strings.TrimRight(*admin, "/"), token: *token, hc: hc}
	if !strings.Contains(cl.base, "://") {
		cl.base = "http://" + cl.base
	}
	body, err := cl.call(cmd.method, cmd.path, cmd.body)
	if err != nil {
		fmt.Fprintf(stderr, "nebulaio: %s: %v\n", rest[0], err)
		return 1
	}
	switch {
	case cmd.name == "token" && !*asJSON:
		var tv struct{ Token string }
		if err := json.Unmarshal(body, &tv); err != nil || tv.Token == "" {
			fmt.Fprintf(stderr, "nebulaio: bad answer: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, tv.Token) // alone on its line: NEBULAIO_JOIN_TOKEN=$(nebulaio cluster token)
		return 0
	case cmd.name == "drain" && *wait:
		return waitDrain(cl, cmd.path, *poll, stdout, stderr)
	case cmd.name == "nodes" && !*asJSON:
		return printNodes(body, stdout, stderr)
	}
	var out bytes.Buffer
	if json.Indent(&out, body, "", "  ") != nil {
		out.Write(body)
	}
	fmt.Fprintln(stdout, strings.TrimSpace(out.String()))
	return 0
}

// parseInterleaved parses flags anywhere among the positional arguments (the standard flag
// package stops at the first one) and returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// clusterCall is one admin API request a command makes.
type clusterCall struct {
	name, method, path string
	body               []byte
}

// clusterCommand maps a command line to its request; flags that do not belong to the command
// are refused, not ignored.
func clusterCommand(rest []string, force, wait, cancel bool) (clusterCall, bool) {
	if len(rest) == 0 {
		return clusterCall{}, false
	}
	name, args := rest[0], rest[1:]
	node := func(suffix string) string { return "/api/v1/admin/cluster/nodes/" + args[0] + suffix }
	if force && name != "remove" || (wait || cancel) && name != "drain" || wait && cancel {
		return clusterCall{}, false
	}
	c := clusterCall{name: name}
	switch {
	case name == "nodes" && len(args) == 0:
		c.method, c.path = http.MethodGet, "/api/v1/admin/cluster/nodes"
	case name == "health" && len(args) == 0:
		c.method, c.path = http.MethodGet, "/api/v1/admin/cluster/health"
	case name == "token" && len(args) == 0:
		c.method, c.path = http.MethodGet, "/api/v1/admin/cluster/token"
	case name == "new-token" && len(args) == 0: // no request: printNewToken
	case (name == "promote" || name == "demote" || name == "readmit") && len(args) == 1:
		c.method, c.path = http.MethodPost, node("/"+name)
	case name == "remove" && len(args) == 1:
		c.method, c.path = http.MethodDelete, node("")
		if force {
			c.path += "?force=true"
		}
	case name == "drain" && len(args) == 1:
		c.method, c.path = http.MethodPost, node("/drain")
		if cancel {
			c.method = http.MethodDelete
		}
	case name == "transfer-leader" && len(args) <= 1:
		c.method, c.path = http.MethodPost, "/api/v1/admin/cluster/leader/transfer"
		if len(args) == 1 {
			c.body, _ = json.Marshal(map[string]string{"id": args[0]})
		}
	default:
		return clusterCall{}, false
	}
	return c, true
}

// adminClient calls the admin API with the bearer token.
type adminClient struct {
	base, token string
	hc          *http.Client // adminHTTPClient's
}

// call makes one request (30 s at most) and returns the body of a 200 answer; any other
// answer is an error with the API's code and message.
func (c *adminClient) call(method, path string, body []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		var e struct{ Code, Message string }
		if json.Unmarshal(out, &e) == nil && e.Code != "" {
			return nil, fmt.Errorf("(%d %s): %s", resp.StatusCode, e.Code, e.Message)
		}
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(out))
	}
	return out, nil
}

// waitDrain polls a drain until it is done, drawing a progress bar: redrawn in place on a
// terminal, one line per change otherwise. A cancelled drain is an error (exit 1).
func waitDrain(cl *adminClient, path string, every time.Duration, stdout, stderr io.Writer) int {
	tty := isTerminal(stdout)
	last := ""
	for {
		body, err := cl.call(http.MethodGet, path, nil)
		if err != nil {
			fmt.Fprintf(stderr, "\nnebulaio: drain: %v\n", err)
			return 1
		}
		var v httpapi.DrainView
		if err := json.Unmarshal(body, &v); err != nil {
			fmt.Fprintf(stderr, "\nnebulaio: drain: bad answer: %v\n", err)
			return 1
		}
		line := drainLine(v)
		switch {
		case tty:
			fmt.Fprintf(stdout, "\r%-110s", line)
		case line != last:
			fmt.Fprintln(stdout, line)
		}
		last = line
		switch v.State {
		case "drained":
			if tty {
				fmt.Fprintln(stdout)
			}
			fmt.Fprintf(stdout, "%s is drained: remove it with `nebulaio cluster remove %s`\n", v.ID, v.ID)
			return 0
		case "none":
			fmt.Fprintf(stderr, "\nnebulaio: drain of %s was cancelled\n", v.ID)
			return 1
		}
		time.Sleep(every)
	}
}

// drainLine renders a drain's progress: a bar, the percentage, blobs and bytes done of the
// total, the rate and the time left.
func drainLine(v httpapi.DrainView) string {
	p := v.Progress
	if p == nil {
		why := v.ProgressError
		if why == "" {
			why = "waiting for the balancer"
		}
		return fmt.Sprintf("%s %s: %s", v.State, v.ID, why)
	}
	const width = 30
	fill := int(p.Percent / 100 * width)
	fill = max(0, min(width, fill))
	eta := "ETA -"
	if p.ETASeconds >= 0 && v.State == "draining" && p.RateBytesPerSec > 0 {
		eta = "ETA " + (time.Duration(p.ETASeconds) * time.Second).String()
	}
	s := fmt.Sprintf("%s %s [%s%s] %5.1f%%  %d/%d objects  %s/%s  %s/s  %s", v.State, v.ID,
		strings.Repeat("#", fill), strings.Repeat("-", width-fill), p.Percent, p.BlobsDone, p.BlobsTotal,
		mib(p.BytesDone), mib(p.BytesTotal), mib(uint64(p.RateBytesPerSec)), eta)
	if p.Blocked != "" {
		s += "  (blocked: " + p.Blocked + ")"
	}
	return s
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// printNodes prints the node list as a table.
func printNodes(body []byte, stdout, stderr io.Writer) int {
	var list struct {
		Nodes []httpapi.NodeView `json:"nodes"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		fmt.Fprintf(stderr, "nebulaio: bad answer: %v\n", err)
		return 1
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tROLE\tSUFFRAGE\tRAFT STATE\tGOSSIP\tAPPLIED\tRAFT ADDRESS\tRECORDED")
	for _, n := range list.Nodes {
		suffrage := "voter"
		switch {
		case !n.InRaft:
			suffrage = "-"
		case !n.Voter:
			suffrage = "nonvoter"
		}
		var rec []string
		if n.Removed && n.RemovedAt != nil {
			rec = append(rec, "removed "+n.RemovedAt.UTC().Format(time.RFC3339))
		}
		if n.VoterIntent != "" {
			rec = append(rec, n.VoterIntent)
		}
		if n.Drain != "" {
			rec = append(rec, n.Drain)
		}
		if len(rec) == 0 {
			rec = []string{"-"}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", n.ID, n.Role, suffrage, n.RaftState, n.GossipStatus, n.AppliedIndex,
			n.RaftAddress, strings.Join(rec, ", "))
	}
	_ = tw.Flush()
	return 0
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
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

// adminHTTPClient is the HTTP client of the admin CLI: the default one, or one that trusts
// only the CA certificates in caFile (an admin listener with an operator's certificate).
func adminHTTPClient(caFile string) (*http.Client, error) {
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
