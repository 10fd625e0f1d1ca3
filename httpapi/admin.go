package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nebulaio/nebulaio/iam"
	"github.com/nebulaio/nebulaio/internal/authlimit"
	"github.com/nebulaio/nebulaio/internal/metrics"
)

// ReadinessFunc reports whether the node should receive traffic, and why not when it should not.
// A reason given with ready true is a warning: the probe still answers 200, with the text in
// its "warning" field (for example: this node's join addresses reach another cluster).
type ReadinessFunc func() (ready bool, reason string)

// AdminOptions configures the admin handler.
type AdminOptions struct {
	// Registry is scraped by /metrics. Required.
	Registry *prometheus.Registry
	// Ready backs /health/ready; nil means ready whenever the process serves requests.
	Ready ReadinessFunc
	// Cluster serves the admin API under /api/v1/admin/; nil leaves it out.
	Cluster Cluster
	// Backup serves the backup route (BackupRoute); nil leaves it out.
	Backup Backup
	// Token is the bearer token the admin API requires.
	Token string
	// Lifecycle serves LifecycleRoute (the last lifecycle pass); nil leaves it out.
	Lifecycle LifecycleStatus
	// Identities serves IdentityRoutes (users, keys, policies) with Keys sealing the secrets;
	// nil leaves them out.
	Identities IdentityStore
	Keys       *iam.Keyring
	// Now is the clock of creation and rotation times; nil means time.Now.
	Now func() time.Time
	// AuthLimit bounds wrong or missing tokens per source address (package authlimit);
	// Metrics receives AdminMetricDescs (nil: none).
	AuthLimit authlimit.Config
	Metrics   metrics.Metrics
}

// NewAdminHandler returns the handler of the admin listener (:9001): the health probes and
// /metrics, which need no authentication, and the admin API (AdminRoutes) and the Go profiles
// (DebugRoutes), which need the bearer token.
func NewAdminHandler(opts AdminOptions) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health/live", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /health/ready", func(w http.ResponseWriter, r *http.Request) {
		body := map[string]string{"status": "ready"}
		if opts.Ready != nil {
			ok, reason := opts.Ready()
			if !ok {
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": reason})
				return
			}
			if reason != "" {
				body["warning"] = reason
			}
		}
		writeJSON(w, http.StatusOK, body)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Registry, promhttp.HandlerOpts{Registry: opts.Registry}))
	if opts.Cluster != nil {
		registerClusterAPI(mux, opts.Token, opts.Cluster)
	}
	if opts.Backup != nil {
		registerBackupAPI(mux, opts.Token, opts.Backup)
	}
	if opts.Lifecycle != nil {
		registerLifecycleAPI(mux, opts.Token, opts.Lifecycle)
	}
	if opts.Identities != nil {
		if opts.Keys == nil {
			panic("httpapi: AdminOptions.Identities without Keys")
		}
		now := opts.Now
		if now == nil {
			now = time.Now
		}
		registerIdentityAPI(mux, opts.Token, opts.Identities, opts.Keys, now)
	}
	registerDebug(mux, opts.Token)
	m := opts.Metrics
	if m == nil {
		m = metrics.Nop{}
	}
	return limitTokenFailures(mux, authlimit.New(opts.AuthLimit), m)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
