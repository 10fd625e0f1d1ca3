package s3

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nebulaio/nebulaio/httpapi"

	"github.com/nebulaio/nebulaio/internal/testutil"
)

func TestMetricDescsFollowConventions(t *testing.T) {
	seen := map[string]bool{}
	for _, d := range MetricDescs {
		if seen[d.Name] {
			t.Errorf("%s declared twice", d.Name)
		}
		seen[d.Name] = true
		if !strings.HasPrefix(d.Name, "nebulaio_s3_") || d.Help == "" {
			t.Errorf("%s: name or help", d.Name)
		}
		switch d.Kind {
		case "counter":
			if !strings.HasSuffix(d.Name, "_total") {
				t.Errorf("counter %s does not end in _total", d.Name)
			}
		case "histogram":
			if !strings.HasSuffix(d.Name, "_seconds") {
				t.Errorf("histogram %s does not end in _seconds", d.Name)
			}
		case "gauge":
			if strings.HasSuffix(d.Name, "_total") {
				t.Errorf("gauge %s ends in _total", d.Name)
			}
		default:
			t.Errorf("%s: kind %q", d.Name, d.Kind)
		}
	}
	for _, op := range operations {
		if !seen[opMetric(op)] {
			t.Errorf("operation %s has no counter", op)
		}
	}
	if got := opMetric("CompleteMultipartUpload"); got != "nebulaio_s3_op_complete_multipart_upload_total" {
		t.Errorf("opMetric = %s", got)
	}
}

// TestMetricsThroughPrometheus serves requests through the Prometheus adapter and checks that
// every declared metric is exported and the request counters moved.
func TestMetricsThroughPrometheus(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	reg := prometheus.NewRegistry()
	sink := httpapi.NewPromSink(reg)
	if err := sink.Declare(MetricDescs...); err != nil {
		t.Fatal(err)
	}
	srv := newTestServer(t, NewHandler(Options{Backend: n.backend, Credentials: []Credentials{{AccessKey: testAK, SecretKey: testSK}}, Metrics: sink}))
	c := sdkClient(srv.URL, testSK, &http.Client{})
	mustCreateBucket(t, c, "metered")
	mustPut(t, c, "metered", "k", bytes.Repeat([]byte("x"), 1000))
	if got := mustGet(t, c, "metered", "k"); len(got) != 1000 {
		t.Fatal("short read")
	}
	_, err := c.GetObject(ctxT(t), &s3.GetObjectInput{Bucket: aws.String("metered"), Key: aws.String("missing")})
	wantCode(t, err, "NoSuchKey", http.StatusNotFound)

	values := func() map[string]float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]float64{}
		for _, mf := range mfs {
			m := mf.GetMetric()[0]
			switch {
			case m.Counter != nil:
				out[mf.GetName()] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[mf.GetName()] = m.Gauge.GetValue()
			case m.Histogram != nil:
				out[mf.GetName()] = float64(m.Histogram.GetSampleCount())
			}
		}
		return out
	}
	testutil.WaitUntil(t, 10*time.Second, "4 requests counted", func() bool { return values()[MetricRequestsTotal] >= 4 })
	v := values()
	for _, d := range MetricDescs {
		if _, ok := v[d.Name]; !ok {
			t.Errorf("%s is not exported", d.Name)
		}
	}
	for name, min := range map[string]float64{
		opMetric("PutObject"): 1, opMetric("GetObject"): 2, opMetric("CreateBucket"): 1,
		MetricResponses4xx: 1, MetricResponses2xx: 3, MetricErrorsTotal: 1, MetricBytesInTotal: 1000,
		MetricBytesOutTotal: 1000, MetricRequestSeconds: 4,
	} {
		if v[name] < min {
			t.Errorf("%s = %v, want ≥ %v", name, v[name], min)
		}
	}
}
