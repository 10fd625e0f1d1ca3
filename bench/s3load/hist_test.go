package main

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestHistQuantilesWithinBucketWidth: against the exact quantiles of a spread of samples, the
// histogram's p50 and p99 are within the 2% bucket width, also after a JSON round trip and a
// merge of two halves.
func TestHistQuantilesWithinBucketWidth(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var samples []time.Duration
	var a, b Hist
	for i := range 20000 {
		d := time.Duration(rng.ExpFloat64() * float64(3*time.Millisecond))
		samples = append(samples, d)
		if i%2 == 0 {
			a.Add(d)
		} else {
			b.Add(d)
		}
	}
	raw, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var b2 Hist
	if err := json.Unmarshal(raw, &b2); err != nil {
		t.Fatal(err)
	}
	a.Merge(b2)
	if a.N != int64(len(samples)) {
		t.Fatalf("N %d, want %d", a.N, len(samples))
	}
	slices.Sort(samples)
	for _, q := range []float64{0.5, 0.9, 0.99} {
		exact := samples[int(q*float64(len(samples)))-1]
		got := a.Quantile(q)
		if ratio := float64(got) / float64(exact); ratio < 0.98 || ratio > 1.02 {
			t.Errorf("q%.2f: %v, exact %v (ratio %.4f)", q, got, exact, ratio)
		}
	}
}

func TestHistEdges(t *testing.T) {
	var h Hist
	if h.Quantile(0.5) != 0 {
		t.Fatal("empty histogram has a quantile")
	}
	h.Add(0)
	h.Add(time.Hour)
	if got := h.Quantile(0.5); got > 2*time.Microsecond {
		t.Fatalf("p50 of {0, 1h} = %v", got)
	}
	if got := h.Quantile(1); got < 59*time.Minute || got > 61*time.Minute {
		t.Fatalf("p100 of {0, 1h} = %v", got)
	}
}
