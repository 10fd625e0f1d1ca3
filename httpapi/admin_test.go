package httpapi

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nebulaio/nebulaio/internal/metrics"
)

func TestProbesAndMetrics(t *testing.T) {
	reg := NewRegistry()
	sink := NewPromSink(reg)
	if err := sink.Declare(
		metrics.Desc{Name: "nebulaio_test_ops_total", Kind: metrics.KindCounter, Help: "ops"},
		metrics.Desc{Name: "nebulaio_test_depth", Kind: metrics.KindGauge, Help: "depth"},
		metrics.Desc{Name: "nebulaio_test_op_seconds", Kind: metrics.KindHistogram, Help: "latency"},
	); err != nil {
		t.Fatal(err)
	}
	sink.Counter("nebulaio_test_ops_total", 3)
	sink.Gauge("nebulaio_test_depth", 7)
	sink.Observe("nebulaio_test_op_seconds", 0.002)

	ready, reason := false, "no leader yet"
	srv := httptest.NewServer(NewAdminHandler(AdminOptions{Registry: reg, Ready: func() (bool, string) { return ready, reason }}))
	defer srv.Close()

	check := func(path string, wantStatus int, wantBody ...string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != wantStatus {
			t.Fatalf("%s: status %d, want %d", path, resp.StatusCode, wantStatus)
		}
		for _, w := range wantBody {
			if !strings.Contains(string(body), w) {
				t.Fatalf("%s: body lacks %q:\n%s", path, w, body)
			}
		}
	}
	check("/health/live", 200, "ok")
	check("/health/ready", 503, "no leader yet")
	ready, reason = true, ""
	check("/health/ready", 200, "ready")
	reason = "join addresses reach cluster 0123"
	check("/health/ready", 200, `"warning":"join addresses reach cluster 0123"`)
	check("/metrics", 200, "go_goroutines", "process_", "nebulaio_test_ops_total 3", "nebulaio_test_depth 7", "nebulaio_test_op_seconds_count 1")
}

func TestUndeclaredMetricPanics(t *testing.T) {
	sink := NewPromSink(NewRegistry())
	defer func() {
		if recover() == nil {
			t.Fatal("undeclared counter did not panic")
		}
	}()
	sink.Counter("nebulaio_nope_total", 1)
}

func TestDeclareRejectsUnknownKind(t *testing.T) {
	if err := NewPromSink(NewRegistry()).Declare(metrics.Desc{Name: "x", Kind: "summary"}); err == nil {
		t.Fatal("unknown kind accepted")
	}
}

// TestProfilesServeWithTheToken: with the token, the pprof routes answer real profiles (gzipped
// protobuf) on an admin handler with or without the cluster API; the CPU profile runs for the
// seconds asked.
func TestProfilesServeWithTheToken(t *testing.T) {
	for _, c := range []Cluster{nil, &fakeCluster{}} {
		srv := httptest.NewServer(NewAdminHandler(AdminOptions{Registry: NewRegistry(), Cluster: c, Token: "s3cret"}))
		get := func(path string) (int, []byte) {
			t.Helper()
			req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
			req.Header.Set("Authorization", "Bearer s3cret")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			return resp.StatusCode, body
		}
		start := time.Now()
		for _, path := range []string{"/debug/pprof/profile?seconds=1", "/debug/pprof/heap", "/debug/pprof/goroutine"} {
			status, body := get(path)
			if status != http.StatusOK || !bytes.HasPrefix(body, []byte{0x1f, 0x8b}) {
				t.Errorf("cluster %v, %s: %d, %d bytes starting %q; want 200 and a gzipped profile", c != nil, path, status, len(body), body[:min(len(body), 16)])
			}
		}
		if took := time.Since(start); took < time.Second {
			t.Errorf("a 1 s CPU profile returned after %v", took)
		}
		if status, body := get("/debug/pprof/"); status != http.StatusOK || !bytes.Contains(body, []byte("goroutine")) {
			t.Errorf("index: %d %q", status, body)
		}
		srv.Close()
	}
}
