package httpapi

import (
	"net/http"

	"github.com/nebulaio/nebulaio/lifecycle"
)

// LifecycleStatus is the lifecycle runner as the admin API shows it; *lifecycle.Runner
// satisfies it.
type LifecycleStatus interface {
	LastRun() (lifecycle.Summary, bool)
}

var _ LifecycleStatus = (*lifecycle.Runner)(nil)

// LifecycleRoute answers the summary of the last lifecycle pass this node ran, as JSON:
// {"ran": false} when it has run none (passes run on the leader: ask the leader), else
// {"ran": true, "last_run": {started, duration_seconds, buckets, examined, expired, ...}}
// (lifecycle.Summary). It needs the bearer token.
const LifecycleRoute = "GET /api/v1/admin/lifecycle"

// LifecycleView is the JSON of LifecycleRoute.
type LifecycleView struct {
	Ran     bool               `json:"ran"`
	LastRun *lifecycle.Summary `json:"last_run,omitempty"`
}

func registerLifecycleAPI(mux *http.ServeMux, token string, l LifecycleStatus) {
	mux.Handle(LifecycleRoute, requireToken(token, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v LifecycleView
		if s, ok := l.LastRun(); ok {
			v = LifecycleView{Ran: true, LastRun: &s}
		}
		writeJSON(w, http.StatusOK, v)
	})))
}
