package main

import (
	"math"
	"time"
)

// histGrowth is the ratio between the bounds of neighbouring buckets: a quantile read from a
// Hist is within 1% of the true sample.
const histGrowth = 1.02

var logGrowth = math.Log(histGrowth)

// Hist counts latencies in logarithmic buckets: bucket i holds [1.02^i, 1.02^(i+1))
// microseconds (bucket 0 also everything below 1 µs). It is small whatever the number of samples,
// merges exactly, and survives a round trip through JSON, so the rounds of a scenario, run by
// separate invocations, combine into one p50 and p99.
type Hist struct {
	Counts map[int]int64 `json:"counts"`
	N      int64         `json:"n"`
}

func (h *Hist) bucket(d time.Duration) int {
	us := float64(d) / float64(time.Microsecond)
	if us <= 1 {
		return 0
	}
	return int(math.Log(us) / logGrowth)
}

// Add counts one sample.
func (h *Hist) Add(d time.Duration) {
	if h.Counts == nil {
		h.Counts = map[int]int64{}
	}
	h.Counts[h.bucket(d)]++
	h.N++
}

// Merge adds o's samples to h.
func (h *Hist) Merge(o Hist) {
	if h.Counts == nil {
		h.Counts = map[int]int64{}
	}
	for b, c := range o.Counts {
		h.Counts[b] += c
	}
	h.N += o.N
}

// Quantile returns the latency below which a share q (0 < q <= 1) of the samples lie: the
// geometric middle of the bucket holding the sample of rank ceil(q·N). It is 0 for no samples.
func (h *Hist) Quantile(q float64) time.Duration {
	if h.N == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.N)))
	rank = max(rank, 1)
	maxBucket := 0
	for b := range h.Counts {
		maxBucket = max(maxBucket, b)
	}
	var seen int64
	for b := 0; b <= maxBucket; b++ {
		if seen += h.Counts[b]; seen >= rank {
			us := math.Pow(histGrowth, float64(b)+0.5)
			return time.Duration(us * float64(time.Microsecond))
		}
	}
	panic("unreachable: the counts sum to N")
}
