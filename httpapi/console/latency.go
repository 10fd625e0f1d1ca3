package console

import (
	"math"
	"sync"
	"time"
)

// Latency keeps the commit latency of the last minutes for the Cluster page's chart: a ring
// of intervals, each a histogram with logarithmic bins (latencyBins per doubling, from
// latencyMin), so memory is fixed and a percentile is off by at most one bin width (about
// 19%). Safe for concurrent use.
type Latency struct {
	interval time.Duration
	now      func() time.Time

	mu    sync.Mutex
	slots []latencySlot // ring; slot i holds the interval starting at slots[i].start
}

type latencySlot struct {
	start time.Time
	count uint64
	bins  [latencyBinCount]uint32
}

const (
	latencyMin      = 10 * time.Microsecond
	latencyBins     = 4  // per doubling
	latencyBinCount = 96 // 24 doublings from 10 µs: the last bin holds everything from ~168 s
)

// NewLatency keeps n intervals of the given length (the chart spans n*interval). now is the
// clock (nil: time.Now).
func NewLatency(interval time.Duration, n int, now func() time.Time) *Latency {
	if now == nil {
		now = time.Now
	}
	return &Latency{interval: interval, now: now, slots: make([]latencySlot, n)}
}

func latencyBin(d time.Duration) int {
	if d <= latencyMin {
		return 0
	}
	b := int(math.Ceil(math.Log2(float64(d)/float64(latencyMin)) * latencyBins))
	return min(b, latencyBinCount-1)
}

// binUpper is the upper bound of bin b: every sample in it is at most this long.
func binUpper(b int) time.Duration {
	return time.Duration(float64(latencyMin) * math.Exp2(float64(b)/latencyBins))
}

// Observe records one commit that took d.
func (l *Latency) Observe(d time.Duration) {
	start := l.now().Truncate(l.interval)
	i := int(start.UnixNano()/int64(l.interval)) % len(l.slots)
	l.mu.Lock()
	defer l.mu.Unlock()
	s := &l.slots[i]
	if !s.start.Equal(start) {
		*s = latencySlot{start: start}
	}
	s.count++
	s.bins[latencyBin(d)]++
}

// Points returns one point per interval of the window, oldest first, the current (partial)
// interval last; intervals with no commit have Count 0.
func (l *Latency) Points() []LatencyPoint {
	cur := l.now().Truncate(l.interval)
	out := make([]LatencyPoint, 0, len(l.slots))
	l.mu.Lock()
	defer l.mu.Unlock()
	for k := len(l.slots) - 1; k >= 0; k-- {
		start := cur.Add(-time.Duration(k) * l.interval)
		i := int(start.UnixNano()/int64(l.interval)) % len(l.slots)
		p := LatencyPoint{Start: start}
		if s := &l.slots[i]; s.start.Equal(start) && s.count > 0 {
			p.Count = s.count
			p.P50 = s.quantile(0.50)
			p.P99 = s.quantile(0.99)
		}
		out = append(out, p)
	}
	return out
}

// quantile returns the upper bound of the bin holding the q-th sample.
func (s *latencySlot) quantile(q float64) time.Duration {
	rank := uint64(math.Ceil(q * float64(s.count)))
	var seen uint64
	for b, c := range s.bins {
		seen += uint64(c)
		if seen >= rank && c > 0 {
			return binUpper(b)
		}
	}
	return binUpper(latencyBinCount - 1)
}
