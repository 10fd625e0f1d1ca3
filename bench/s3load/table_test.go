package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func result(label, system string, order, round int, ops int64, secs float64, lat time.Duration) Result {
	r := Result{Label: label, System: system, Order: order, Scenario: "put:4KiB:4", Round: round, Load1: 2, CPUs: 2, CoresOurs: 1.5, CoresOthers: float64(round) / 2}
	r.Ops, r.Bytes, r.Seconds = ops, ops*4096, secs
	for range ops {
		r.Latency.Add(lat)
	}
	return r
}

// TestTableCombinesRounds: rounds read from results files merge into ops over counted seconds,
// the ratio divides the subject's ops/s by its peer's, latencies are the middles of the 2%
// buckets holding them (4 ms reads 3.97), and failed operations show.
func TestTableCombinesRounds(t *testing.T) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	rs := []Result{
		result("1 node", "NebulaIO", 0, 1, 900, 1, 4*time.Millisecond),
		result("1 node", "MinIO", 1, 1, 400, 1, 10*time.Millisecond),
		result("1 node", "NebulaIO", 0, 2, 1100, 1, 4*time.Millisecond),
		result("1 node", "MinIO", 1, 2, 400, 1, 10*time.Millisecond),
	}
	rs[3].Errors, rs[3].FirstError = 3, "503 SlowDown"
	for _, r := range rs {
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
	}
	var tb Table
	if err := tb.ReadResults(&buf); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	tb.Write(&out)
	text := out.String()
	for _, want := range []string{
		"| set-up | scenario | NebulaIO ops/s |",
		"| 1 node | put:4KiB:4 | 1000 ±10% | 3.9 | 3.97 | 3.97 | 400 ±0% (3 err) | 1.6 | 10.1 | 10.1 | 2.50× |",
		"2 round(s) of 1 s", "2 CPUs", "3 operations failed", "503 SlowDown",
		"by the benchmark (servers and client) 1.5 (1.5–1.5), by other processes 1.0 (0.5–1.0)", "load average 2.0 (2.0–2.0)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("table lacks %q:\n%s", want, text)
		}
	}
}
