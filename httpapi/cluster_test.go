package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nebulaio/nebulaio/internal/authlimit"
)

type fakeCluster struct {
	calls []string
	err   error
}

func (f *fakeCluster) Nodes(ctx context.Context) ([]NodeView, error) {
	f.calls = append(f.calls, "nodes")
	return []NodeView{{ID: "n1", Voter: true, InRaft: true, RaftState: "Leader", GossipStatus: "alive"}}, f.err
}
func (f *fakeCluster) Health(ctx context.Context) (HealthView, error) {
	f.calls = append(f.calls, "health")
	return HealthView{Healthy: true, LeaderID: "n1", Voters: 3, QuorumSize: 2, HealthyVoters: 3, FailureTolerance: 1}, f.err
}
func (f *fakeCluster) Promote(ctx context.Context, id string) error {
	f.calls = append(f.calls, "promote "+id)
	return f.err
}
func (f *fakeCluster) Demote(ctx context.Context, id string) error {
	f.calls = append(f.calls, "demote "+id)
	return f.err
}
func (f *fakeCluster) Remove(ctx context.Context, id string, force bool) error {
	f.calls = append(f.calls, fmt.Sprintf("remove %s force=%v", id, force))
	return f.err
}
func (f *fakeCluster) Readmit(ctx context.Context, id string) error {
	f.calls = append(f.calls, "readmit "+id)
	return f.err
}
func (f *fakeCluster) Drain(ctx context.Context, id string) (DrainView, error) {
	f.calls = append(f.calls, "drain "+id)
	return DrainView{ID: id, State: "draining"}, f.err
}
func (f *fakeCluster) DrainStatus(ctx context.Context, id string) (DrainView, error) {
	f.calls = append(f.calls, "drain-status "+id)
	return DrainView{ID: id, State: "draining"}, f.err
}
func (f *fakeCluster) CancelDrain(ctx context.Context, id string) (DrainView, error) {
	f.calls = append(f.calls, "undrain "+id)
	return DrainView{ID: id, State: "none"}, f.err
}
func (f *fakeCluster) TransferLeader(ctx context.Context, id string) (LeaderView, error) {
	f.calls = append(f.calls, "transfer "+id)
	return LeaderView{LeaderID: id}, f.err
}

func (f *fakeCluster) JoinToken(ctx context.Context) (TokenView, error) {
	f.calls = append(f.calls, "token")
	return TokenView{ClusterID: "0123456789abcdef", Token: "nbio1.0123456789abcdef.x"}, f.err
}

func adminServer(t *testing.T, c Cluster) *httptest.Server {
	srv := httptest.NewServer(NewAdminHandler(AdminOptions{Registry: NewRegistry(), Cluster: c, Token: "s3cret",
		Identities: newFSMStore(), Keys: testKeys, AuthLimit: authlimit.Config{Burst: 1000}}))
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, srv *httptest.Server, route, token string) (*http.Response, map[string]any) {
	t.Helper()
	method, pattern, _ := strings.Cut(route, " ")
	req, _ := http.NewRequest(method, srv.URL+strings.ReplaceAll(pattern, "{id}", "n2"), nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp, body
}

// TestEveryAdminRouteNeedsTheToken: every admin route and every profile answers 401 JSON
// without the token or with a wrong one; the probes and /metrics need none.
func TestEveryAdminRouteNeedsTheToken(t *testing.T) {
	fc := &fakeCluster{}
	srv := adminServer(t, fc)
	routes := append(append([]string{"GET /api/v1/admin/unknown", "GET /debug/pprof/heap", "GET /debug/pprof/goroutine"}, AdminRoutes...), DebugRoutes...)
	routes = append(routes, IdentityRoutes...)
	for _, route := range routes {
		for _, tok := range []string{"", "wrong", "s3cre"} {
			resp, body := do(t, srv, route, tok)
			if resp.StatusCode != http.StatusUnauthorized || body["code"] != "unauthorized" {
				t.Errorf("%s with token %q: %d %v, want 401 unauthorized", route, tok, resp.StatusCode, body)
			}
		}
	}
	if len(fc.calls) != 0 {
		t.Fatalf("unauthenticated requests reached the cluster: %v", fc.calls)
	}
	for _, path := range []string{"/health/live", "/health/ready", "/metrics"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d without a token, want 200", path, resp.StatusCode)
		}
	}
}

func TestAdminRoutesReachTheCluster(t *testing.T) {
	fc := &fakeCluster{}
	srv := adminServer(t, fc)
	for _, route := range AdminRoutes {
		if resp, body := do(t, srv, route, "s3cret"); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %v", route, resp.StatusCode, body)
		}
	}
	want := []string{"nodes", "promote n2", "demote n2", "remove n2 force=false", "health", "token", "readmit n2",
		"drain n2", "drain-status n2", "undrain n2", "transfer "}
	if strings.Join(fc.calls, ",") != strings.Join(want, ",") {
		t.Fatalf("calls %v, want %v", fc.calls, want)
	}
	resp, body := do(t, srv, AdminRoutes[5], "s3cret")
	if body["token"] != "nbio1.0123456789abcdef.x" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("token: %v, Cache-Control %q", body, resp.Header.Get("Cache-Control"))
	}
	resp, body = do(t, srv, "GET /api/v1/admin/nope", "s3cret")
	if resp.StatusCode != http.StatusNotFound || body["code"] != "not_found" {
		t.Fatalf("unknown route: %d %v", resp.StatusCode, body)
	}
}

// TestAdminParameters: remove's force and the transfer's target reach the cluster; a force
// that is not a boolean and a body with an unknown field are refused, not ignored.
func TestAdminParameters(t *testing.T) {
	fc := &fakeCluster{}
	srv := adminServer(t, fc)
	call := func(method, path, body string) int {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer s3cret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		method, path, body string
		status             int
		call               string
	}{
		{"DELETE", "/api/v1/admin/cluster/nodes/n3?force=true", "", 200, "remove n3 force=true"},
		{"DELETE", "/api/v1/admin/cluster/nodes/n3?force=yes", "", 400, ""},
		{"POST", "/api/v1/admin/cluster/leader/transfer", `{"id":"n2"}`, 200, "transfer n2"},
		{"POST", "/api/v1/admin/cluster/leader/transfer", `{"node":"n2"}`, 400, ""},
	} {
		fc.calls = nil
		if got := call(tc.method, tc.path, tc.body); got != tc.status || strings.Join(fc.calls, ",") != tc.call {
			t.Errorf("%s %s %s: %d, calls %v; want %d, %q", tc.method, tc.path, tc.body, got, fc.calls, tc.status, tc.call)
		}
	}
}

func TestAdminErrorsAreJSONWithCode(t *testing.T) {
	fc := &fakeCluster{err: &APIError{Status: http.StatusConflict, Code: "last_voter", Message: "refusing"}}
	srv := adminServer(t, fc)
	resp, body := do(t, srv, AdminRoutes[3], "s3cret")
	if resp.StatusCode != http.StatusConflict || body["code"] != "last_voter" || body["message"] != "refusing" {
		t.Fatalf("got %d %v", resp.StatusCode, body)
	}
	fc.err = &APIError{Status: http.StatusServiceUnavailable, Code: "no_quorum", Message: "x"}
	resp, _ = do(t, srv, AdminRoutes[1], "s3cret")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("503 without Retry-After: %d %v", resp.StatusCode, resp.Header)
	}
	fc.err = context.DeadlineExceeded
	resp, body = do(t, srv, AdminRoutes[0], "s3cret")
	if resp.StatusCode != 500 || body["code"] != "internal" {
		t.Fatalf("plain error: %d %v", resp.StatusCode, body)
	}
}
