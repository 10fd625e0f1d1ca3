package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Metrics is a scrape of a NebulaIO node's /metrics: the value of every unlabelled sample
// (histograms' _sum and _count, counters, gauges) by name.
type Metrics map[string]float64

// ParseMetrics reads Prometheus text, keeping the samples without labels.
func ParseMetrics(r io.Reader) (Metrics, error) {
	m := Metrics{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || strings.ContainsRune(line, '{') {
			continue
		}
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			continue
		}
		m[name] = v
	}
	return m, sc.Err()
}

func scrape(ctx context.Context, admin string) (Metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics of %s: %s", admin, resp.Status)
	}
	return ParseMetrics(resp.Body)
}

// latencyMetrics are the histograms of NebulaIO's write path, outermost first: what a PUT
// waits for.
var latencyMetrics = []struct{ name, what string }{
	{"nebulaio_s3_request_seconds", "S3 requests, headers to end of response"},
	{"nebulaio_transport_rpc_seconds", "outgoing node-to-node calls and streams (blob copies to replicas, forwarded proposals)"},
	{"nebulaio_blob_put_seconds", "blob store Put on this node, first byte to directory fsync"},
	{"nebulaio_raft_commit_latency", "Propose to applied result, on the proposing node"},
	{"nebulaio_wal_append_seconds", "WAL StoreLogs: encode, write, fdatasync of one batch"},
	{"nebulaio_wal_fsync_seconds", "WAL fdatasync"},
	{"nebulaio_fsm_apply_seconds", "FSM apply of one log entry"},
}

// WriteMetricsDelta prints, per node, the count and mean of each write-path histogram between
// two scrapes, and the leader's coalescing of proposals into raft entries.
func WriteMetricsDelta(w io.Writer, before, after []Metrics) {
	fmt.Fprint(w, "| histogram | what |")
	for i := range after {
		fmt.Fprintf(w, " node%d count | mean ms |", i+1)
	}
	fmt.Fprint(w, "\n|---|---|")
	for range after {
		fmt.Fprint(w, "--:|--:|")
	}
	fmt.Fprintln(w)
	for _, h := range latencyMetrics {
		fmt.Fprintf(w, "| `%s` | %s |", h.name, h.what)
		for i := range after {
			n := after[i][h.name+"_count"] - before[i][h.name+"_count"]
			sum := after[i][h.name+"_sum"] - before[i][h.name+"_sum"]
			if n == 0 {
				fmt.Fprint(w, " 0 | – |")
				continue
			}
			fmt.Fprintf(w, " %.0f | %.2f |", n, sum/n*1000)
		}
		fmt.Fprintln(w)
	}
	for i := range after {
		props := after[i]["nebulaio_raft_proposals_total"] - before[i]["nebulaio_raft_proposals_total"]
		entries := after[i]["nebulaio_raft_proposal_entries_total"] - before[i]["nebulaio_raft_proposal_entries_total"]
		if props > 0 && entries > 0 {
			fmt.Fprintf(w, "\nnode%d (leader) coalesced %.0f proposals into %.0f raft entries (%.1f per entry).\n", i+1, props, entries, props/entries)
		}
	}
}
