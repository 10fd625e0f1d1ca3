package node_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/nebulaio/nebulaio/node"
)

// TestReadmeMetricsAreExported scrapes /metrics of a running node and checks that every metric
// README.md documents is exported, and that every nebulaio_ metric exported is documented.
func TestReadmeMetricsAreExported(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(nebulaio_[a-z0-9_]+)` \\|").FindAllStringSubmatch(string(readme), -1) {
		documented[m[1]] = true
	}
	if len(documented) == 0 {
		t.Fatal("README.md documents no nebulaio_ metric")
	}
	c := solo(t, nil)
	code, body := adminCall(t, c.AdminURL(0), "GET", "/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	exported := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, _, _ = strings.Cut(name, " ")
			exported[name] = true
		}
	}
	for name := range documented {
		if !exported[name] {
			t.Errorf("README.md documents %s but /metrics does not export it", name)
		}
	}
	for name := range exported {
		if strings.HasPrefix(name, "nebulaio_") && !documented[name] {
			t.Errorf("/metrics exports %s but README.md does not document it", name)
		}
	}
	// Every library's table is declared on the node's sink: MetricDescs is what /metrics has.
	for _, d := range node.MetricDescs() {
		if !exported[d.Name] {
			t.Errorf("node.MetricDescs lists %s but /metrics does not export it", d.Name)
		}
	}
}
