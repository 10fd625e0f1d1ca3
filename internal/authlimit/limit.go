// Package authlimit slows down credential guessing: it keeps one token bucket of
// authentication failures per source IP (golang.org/x/time/rate). Each failure takes a token;
// while an address has no token left, every request from it is refused before its
// credentials are checked (S3 answers 503 SlowDown, the admin API 429), so a guesser learns
// nothing more until tokens come back (Rate per second, up to Burst). A request that
// succeeds costs nothing.
//
// Addresses are the connection's peer (http.Request.RemoteAddr), never a forwarded-for
// header a client could write. Clients sharing one address (a NAT) share its bucket: one of
// them failing persistently makes the others wait too. The table holds at most MaxAddrs
// addresses; when it is full, addresses whose bucket is full again (idle ones) are dropped,
// then arbitrary ones.
package authlimit

import (
	"math"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of Config's zero fields.
const (
	DefaultBurst    = 20
	DefaultRate     = 1.0 // tokens per second
	DefaultMaxAddrs = 10000
)

// Config sets a Limiter's bucket; zero fields take the defaults.
type Config struct {
	Burst    int     // failures an address may make in a row
	Rate     float64 // failures per second it may make in the long run
	MaxAddrs int     // addresses tracked at once
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Limiter is a table of per-address failure buckets. Safe for concurrent use.
type Limiter struct {
	cfg Config
	mu  sync.Mutex
	m   map[string]*rate.Limiter // guarded by mu
}

// New returns a Limiter.
func New(cfg Config) *Limiter {
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.Rate <= 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.MaxAddrs <= 0 {
		cfg.MaxAddrs = DefaultMaxAddrs
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Limiter{cfg: cfg, m: map[string]*rate.Limiter{}}
}

// Addr is the address a request is limited by: the host of its RemoteAddr.
func Addr(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// Allow reports whether addr may try to authenticate now; when it may not, retryAfter is how
// long until it may.
func (l *Limiter) Allow(addr string) (ok bool, retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, found := l.m[addr]
	if !found {
		return true, 0
	}
	tokens := b.TokensAt(l.cfg.Now())
	if tokens >= 1 {
		return true, 0
	}
	wait := time.Duration(math.Ceil((1 - tokens) / l.cfg.Rate * float64(time.Second)))
	return false, wait
}

// Fail records an authentication failure of addr.
func (l *Limiter) Fail(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, found := l.m[addr]
	if !found {
		if len(l.m) >= l.cfg.MaxAddrs {
			l.evictLocked()
		}
		b = rate.NewLimiter(rate.Limit(l.cfg.Rate), l.cfg.Burst)
		l.m[addr] = b
	}
	b.AllowN(l.cfg.Now(), 1)
}

// evictLocked makes room: idle addresses first (their bucket is full), then any.
func (l *Limiter) evictLocked() {
	now := l.cfg.Now()
	for a, b := range l.m {
		if b.TokensAt(now) >= float64(l.cfg.Burst) {
			delete(l.m, a)
		}
	}
	for a := range l.m {
		if len(l.m) < l.cfg.MaxAddrs {
			break
		}
		delete(l.m, a)
	}
}

// Len is the number of addresses tracked.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
