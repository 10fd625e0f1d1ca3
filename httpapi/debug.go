package httpapi

import (
	"net/http"
	"net/http/pprof"
)

// DebugRoutes lists the Go profiling routes of the admin listener (net/http/pprof), for docs and
// tests. Like the admin API they need the bearer token: a profile shows the process's code paths
// and, for the heap, what it holds. They cost nothing until called; a CPU profile or trace lasts
// ?seconds=N (default 30 in net/http/pprof, which is refused as it reaches admin.write_timeout:
// ask for less, e.g. ?seconds=20).
var DebugRoutes = []string{
	"GET /debug/pprof/",        // index; /debug/pprof/{heap,goroutine,allocs,block,mutex,threadcreate}
	"GET /debug/pprof/cmdline", // the command line
	"GET /debug/pprof/profile", // CPU profile for ?seconds=N
	"GET /debug/pprof/symbol",  // program counters to function names
	"POST /debug/pprof/symbol",
	"GET /debug/pprof/trace", // execution trace for ?seconds=N
}

// registerDebug mounts net/http/pprof's handlers behind the token. They are registered on this
// mux only; the package's import side effect on http.DefaultServeMux is never served, as no
// listener of ours uses the default mux.
func registerDebug(mux *http.ServeMux, token string) {
	handlers := []http.HandlerFunc{pprof.Index, pprof.Cmdline, pprof.Profile, pprof.Symbol, pprof.Symbol, pprof.Trace}
	for i, route := range DebugRoutes {
		mux.Handle(route, requireToken(token, handlers[i]))
	}
}
