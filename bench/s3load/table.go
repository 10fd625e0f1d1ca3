package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// Result is one run of one scenario against one system: a line of the results file.
type Result struct {
	Label    string `json:"label"`    // the set-up, e.g. "3 nodes / 3 drives"
	System   string `json:"system"`   // e.g. "NebulaIO"
	Order    int    `json:"order"`    // the system's place in -system: 0 is the subject of the ratio, 1 its peer
	Scenario string `json:"scenario"` // Scenario.String()
	Round    int    `json:"round"`
	Measured
	Load1 float64 `json:"load1"` // the machine's 1-minute load average at the end of the run (-1: unknown)
	CPUs  int     `json:"cpus"`
	// CPU cores used on average during the run (warm-up included) by the benchmark's processes
	// (s3load's process group: the servers and the client) and by the rest of the machine
	// (other work sharing it); -1: unknown.
	CoresOurs   float64 `json:"cores_ours"`
	CoresOthers float64 `json:"cores_others"`
}

// agg is every round of one scenario against one system.
type agg struct {
	ops, bytes, errors int64
	seconds            float64
	rates              []float64 // ops/s of each round
	lat                Hist
	firstError         string
}

func (a *agg) add(r Result) {
	a.ops += r.Ops
	a.bytes += r.Bytes
	a.errors += r.Errors
	a.seconds += r.Seconds
	a.rates = append(a.rates, float64(r.Ops)/r.Seconds)
	a.lat.Merge(r.Latency)
	if a.firstError == "" {
		a.firstError = r.FirstError
	}
}

func (a *agg) opsPerSec() float64 { return float64(a.ops) / a.seconds }

// spread is half the range of the rounds' ops/s relative to their mean, in percent.
func (a *agg) spread() float64 {
	lo, hi, sum := math.Inf(1), math.Inf(-1), 0.0
	for _, r := range a.rates {
		lo, hi, sum = min(lo, r), max(hi, r), sum+r
	}
	return (hi - lo) / 2 / (sum / float64(len(a.rates))) * 100
}

// row is one line of the table: one scenario in one set-up, the subject and the peer.
type row struct {
	label, scenario string
	systems         []string // by Order
	aggs            map[string]*agg
}

// Table is the results of one or more runs, in the order they were first seen.
type Table struct {
	rows       []*row
	load1      []float64
	ours       []float64 // cores, per run
	others     []float64
	cpus       int
	rounds     int
	seconds    float64 // counted seconds of one round, the longest seen
	firstError string
	errors     int64
}

// ReadResults reads a results file (JSON lines) into t.
func (t *Table) ReadResults(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for line := 1; sc.Scan(); line++ {
		var res Result
		if err := json.Unmarshal(sc.Bytes(), &res); err != nil {
			return fmt.Errorf("s3load: results line %d: %w", line, err)
		}
		t.Add(res)
	}
	return sc.Err()
}

// Add records one run.
func (t *Table) Add(r Result) {
	var rw *row
	for _, x := range t.rows {
		if x.label == r.Label && x.scenario == r.Scenario {
			rw = x
		}
	}
	if rw == nil {
		rw = &row{label: r.Label, scenario: r.Scenario, aggs: map[string]*agg{}}
		t.rows = append(t.rows, rw)
	}
	for len(rw.systems) <= r.Order {
		rw.systems = append(rw.systems, "")
	}
	rw.systems[r.Order] = r.System
	a := rw.aggs[r.System]
	if a == nil {
		a = &agg{}
		rw.aggs[r.System] = a
	}
	a.add(r)
	if r.Load1 >= 0 {
		t.load1 = append(t.load1, r.Load1)
	}
	if r.CoresOthers >= 0 && r.Seconds > 0 {
		t.ours = append(t.ours, r.CoresOurs)
		t.others = append(t.others, r.CoresOthers)
	}
	t.cpus = max(t.cpus, r.CPUs)
	t.rounds = max(t.rounds, r.Round)
	t.seconds = max(t.seconds, r.Seconds)
	t.errors += r.Errors
	if t.firstError == "" {
		t.firstError = r.FirstError
	}
}

// spread formats the median and range of vs: "1.2 (0.8–1.9)".
func spread(vs []float64) string {
	s := slices.Clone(vs)
	slices.Sort(s)
	return fmt.Sprintf("%.1f (%.1f–%.1f)", s[len(s)/2], s[0], s[len(s)-1])
}

func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

func cells(a *agg) []string {
	if a == nil || a.seconds == 0 {
		return []string{"–", "–", "–", "–"}
	}
	ops := fmt.Sprintf("%.0f", a.opsPerSec())
	if len(a.rates) > 1 {
		ops += fmt.Sprintf(" ±%.0f%%", a.spread())
	}
	if a.errors > 0 {
		ops += fmt.Sprintf(" (%d err)", a.errors)
	}
	return []string{ops, fmt.Sprintf("%.1f", float64(a.bytes)/a.seconds/(1<<20)), ms(a.lat.Quantile(0.50)), ms(a.lat.Quantile(0.99))}
}

// Write prints the table in Markdown: per row the subject's and the peer's ops/s (± half the
// range over rounds), MiB/s, p50 and p99 latency in ms, and the ratio of their ops/s.
func (t *Table) Write(w io.Writer) {
	if len(t.rows) == 0 {
		fmt.Fprintln(w, "(no results)")
		return
	}
	subject, peer := "A", "B"
	if s := t.rows[0].systems; len(s) > 1 {
		subject, peer = s[0], s[1]
	}
	fmt.Fprintf(w, "| set-up | scenario | %[1]s ops/s | MiB/s | p50 ms | p99 ms | %[2]s ops/s | MiB/s | p50 ms | p99 ms | %[1]s/%[2]s |\n", subject, peer)
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, r := range t.rows {
		var as []*agg
		for _, s := range r.systems {
			as = append(as, r.aggs[s])
		}
		for len(as) < 2 {
			as = append(as, nil)
		}
		ratio := "–"
		if as[0] != nil && as[1] != nil && as[1].ops > 0 {
			ratio = fmt.Sprintf("%.2f×", as[0].opsPerSec()/as[1].opsPerSec())
		}
		cols := append(append([]string{r.label, r.scenario}, cells(as[0])...), cells(as[1])...)
		fmt.Fprintf(w, "| %s | %s |\n", strings.Join(cols, " | "), ratio)
	}
	fmt.Fprintf(w, "\nScenario OP:SIZE:WORKERS (mixNN: NN%% GETs, the rest PUTs). %d round(s) of %.0f s counted per system per scenario, alternated; ± is half the range of the rounds' ops/s.", t.rounds, math.Round(t.seconds))
	fmt.Fprintf(w, " Machine: %d CPUs", t.cpus)
	if len(t.others) > 0 {
		fmt.Fprintf(w, "; CPU cores used during a run by the benchmark (servers and client) %s, by other processes %s (median, min–max over runs)", spread(t.ours), spread(t.others))
	}
	if len(t.load1) > 0 {
		fmt.Fprintf(w, "; 1-minute load average %s", spread(t.load1))
	}
	fmt.Fprint(w, ".")
	fmt.Fprintln(w)
	if t.errors > 0 {
		fmt.Fprintf(w, "\n%d operations failed (not counted in ops/s); the first: %s\n", t.errors, t.firstError)
	}
}
