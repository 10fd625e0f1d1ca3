package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/nebulaio/nebulaio/internal/authlimit"
	"github.com/nebulaio/nebulaio/internal/metrics"
)

// Admin API authentication failures (a missing or wrong bearer token) are counted per source
// address (package authlimit): an address out of tokens gets 429 with Retry-After on every
// route that needs the token (the admin API, the profiles) before its token is compared, so a
// token cannot be guessed at speed. The probes and /metrics are never limited.
const (
	MetricAdminAuthFailures  = "nebulaio_admin_auth_failures_total"
	MetricAdminAuthThrottled = "nebulaio_admin_auth_throttled_total"
)

// AdminMetricDescs lists the admin listener's metrics.
var AdminMetricDescs = []metrics.Desc{
	{Name: MetricAdminAuthFailures, Kind: metrics.KindCounter, Help: "Admin API requests refused for a missing or wrong bearer token."},
	{Name: MetricAdminAuthThrottled, Kind: metrics.KindCounter, Help: "Admin API requests refused with 429 because their address failed to authenticate too often."},
}

// statusRecorder remembers the status a handler answered.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// limitTokenFailures wraps the admin handler: requests other than the probes and /metrics
// from an address that has used up its failures are refused; a 401 answer (requireToken's)
// counts as a failure.
func limitTokenFailures(h http.Handler, l *authlimit.Limiter, m metrics.Metrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/health/") || r.URL.Path == "/metrics" {
			h.ServeHTTP(w, r)
			return
		}
		addr := authlimit.Addr(r)
		if ok, wait := l.Allow(addr); !ok {
			m.Counter(MetricAdminAuthThrottled, 1)
			w.Header().Set("Retry-After", fmt.Sprint(int((wait+time.Second-1)/time.Second)))
			writeJSON(w, http.StatusTooManyRequests, errorBody{Code: "too_many_auth_failures",
				Message: fmt.Sprintf("too many failed authentications from %s: retry in %s", addr, wait.Round(time.Second))})
			return
		}
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.status == http.StatusUnauthorized {
			l.Fail(addr)
			m.Counter(MetricAdminAuthFailures, 1)
		}
	})
}
