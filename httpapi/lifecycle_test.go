package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nebulaio/nebulaio/lifecycle"
)

type fakeLifecycle struct {
	s  lifecycle.Summary
	ok bool
}

func (f *fakeLifecycle) LastRun() (lifecycle.Summary, bool) { return f.s, f.ok }

// TestLifecycleRoute: the last lifecycle pass is served with the token only, as JSON.
func TestLifecycleRoute(t *testing.T) {
	fl := &fakeLifecycle{}
	srv := httptest.NewServer(NewAdminHandler(AdminOptions{Registry: NewRegistry(), Token: "s3cret", Lifecycle: fl}))
	t.Cleanup(srv.Close)
	for _, tok := range []string{"", "wrong"} {
		if resp, body := do(t, srv, LifecycleRoute, tok); resp.StatusCode != http.StatusUnauthorized || body["code"] != "unauthorized" {
			t.Errorf("token %q: %d %v", tok, resp.StatusCode, body)
		}
	}
	if resp, body := do(t, srv, LifecycleRoute, "s3cret"); resp.StatusCode != 200 || body["ran"] != false || body["last_run"] != nil {
		t.Fatalf("before any pass: %d %v", resp.StatusCode, body)
	}
	fl.s, fl.ok = lifecycle.Summary{Started: time.Unix(1700000000, 0).UTC(), Seconds: 1.5, Examined: 10, Expired: 3}, true
	resp, body := do(t, srv, LifecycleRoute, "s3cret")
	last, _ := body["last_run"].(map[string]any)
	if resp.StatusCode != 200 || body["ran"] != true || last["examined"] != 10.0 || last["expired"] != 3.0 || last["duration_seconds"] != 1.5 ||
		last["started"] != "2023-11-14T22:13:20Z" {
		t.Fatalf("after a pass: %d %v", resp.StatusCode, body)
	}
}
