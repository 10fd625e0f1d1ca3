package httpapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
