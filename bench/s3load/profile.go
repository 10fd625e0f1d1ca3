package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// profiler takes CPU profiles or execution traces of NebulaIO nodes through their admin
// listeners while one scenario runs against one system.
type profiler struct {
	kind     string // "profile" (CPU) or "trace", the /debug/pprof/ endpoint
	system   string
	scenario Scenario
	admins   []string
	dir      string
	prefix   string
	token    string

	// Set by take for report.
	secs          int
	files         []string
	before, after []Metrics
}

func parseProfile(spec, kind, scenario, dir, label string) (*profiler, error) {
	if spec == "" {
		return nil, nil
	}
	if kind != "profile" && kind != "trace" {
		return nil, fmt.Errorf("s3load: -profile-kind %q: want profile (CPU) or trace", kind)
	}
	name, admins, ok := strings.Cut(spec, "=")
	if !ok || name == "" || admins == "" {
		return nil, fmt.Errorf("s3load: -profile %q: want NAME=admin-host:port[,...]", spec)
	}
	sc, err := ParseScenario(scenario)
	if err != nil {
		return nil, err
	}
	token := os.Getenv("NEBULAIO_ADMIN_TOKEN")
	if token == "" {
		return nil, fmt.Errorf("s3load: -profile needs the admin token in NEBULAIO_ADMIN_TOKEN")
	}
	slug := strings.NewReplacer(" ", "", "/", "-", ":", "-").Replace(label + "_" + sc.String())
	return &profiler{kind: kind, system: name, scenario: sc, admins: strings.Split(admins, ","), dir: dir, prefix: slug, token: token}, nil
}

func (p *profiler) matches(system string, sc Scenario) bool {
	return p != nil && p.system == system && p.scenario == sc
}

// take profiles every node for the whole seconds of left, concurrently, and scrapes each node's
// /metrics just before and after. Failures are reported on stderr: a missing profile does not
// spoil the measurement.
func (p *profiler) take(ctx context.Context, left time.Duration) {
	secs := int(left / time.Second)
	if secs < 1 {
		fmt.Fprintln(os.Stderr, "s3load: run too short to profile (-duration below 1s)")
		return
	}
	p.secs, p.files = secs, nil
	p.before = p.scrapeAll(ctx)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, admin := range p.admins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ext := map[string]string{"profile": "pprof", "trace": "trace"}[p.kind]
			path := filepath.Join(p.dir, fmt.Sprintf("%s_node%d.%s", p.prefix, i+1, ext))
			if err := p.fetch(ctx, admin, secs, path); err != nil {
				fmt.Fprintf(os.Stderr, "s3load: profile of %s: %v\n", admin, err)
				return
			}
			mu.Lock()
			p.files = append(p.files, path)
			mu.Unlock()
			fmt.Fprintf(os.Stderr, "s3load: %d s %s of %s in %s\n", secs, p.kind, admin, path)
		}()
	}
	wg.Wait()
	p.after = p.scrapeAll(ctx)
}

func (p *profiler) scrapeAll(ctx context.Context) []Metrics {
	out := make([]Metrics, len(p.admins))
	for i, admin := range p.admins {
		m, err := scrape(ctx, admin)
		if err != nil {
			fmt.Fprintf(os.Stderr, "s3load: %v\n", err)
			m = Metrics{}
		}
		out[i] = m
	}
	return out
}

// report writes <prefix>_split.md: the CPU split of the profiles (with the CPU per operation at
// the run's rate) and the write-path histograms over the profiled seconds.
func (p *profiler) report(opsPerSec float64) error {
	if p.secs == 0 {
		return nil
	}
	path := filepath.Join(p.dir, p.prefix+"_split.md")
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	ops := int64(opsPerSec * float64(p.secs))
	fmt.Fprintf(f, "%s, %s against NebulaIO: %d s profiled, about %d operations (%.0f ops/s).\n\n", p.prefix, p.scenario, p.secs, ops, opsPerSec)
	if p.kind == "profile" && len(p.files) > 0 {
		slices.Sort(p.files)
		split, err := SplitProfiles(p.files)
		if err != nil {
			return err
		}
		split.Write(f, ops)
		fmt.Fprintln(f)
	}
	WriteMetricsDelta(f, p.before, p.after)
	fmt.Fprintf(os.Stderr, "s3load: CPU split and write-path latencies in %s\n", path)
	return f.Close()
}

func (p *profiler) fetch(ctx context.Context, admin string, secs int, path string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/%s?seconds=%d", admin, p.kind, secs), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
