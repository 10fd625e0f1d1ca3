package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// profiler takes CPU profiles of NebulaIO nodes through their admin listeners while one
// scenario runs against one system.
type profiler struct {
	system   string
	scenario Scenario
	admins   []string
	dir      string
	prefix   string
	token    string
}

func parseProfile(spec, scenario, dir, label string) (*profiler, error) {
	if spec == "" {
		return nil, nil
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
	return &profiler{system: name, scenario: sc, admins: strings.Split(admins, ","), dir: dir, prefix: slug, token: token}, nil
}

func (p *profiler) matches(system string, sc Scenario) bool {
	return p != nil && p.system == system && p.scenario == sc
}

// take profiles every node for the whole seconds of left, concurrently, and reports failures on
// stderr (a missing profile does not spoil the measurement).
func (p *profiler) take(ctx context.Context, left time.Duration) {
	secs := int(left / time.Second)
	if secs < 1 {
		fmt.Fprintln(os.Stderr, "s3load: run too short to profile (-duration below 1s)")
		return
	}
	var wg sync.WaitGroup
	for i, admin := range p.admins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := filepath.Join(p.dir, fmt.Sprintf("%s_node%d.pprof", p.prefix, i+1))
			if err := p.fetch(ctx, admin, secs, path); err != nil {
				fmt.Fprintf(os.Stderr, "s3load: profile of %s: %v\n", admin, err)
				return
			}
			fmt.Fprintf(os.Stderr, "s3load: %d s CPU profile of %s in %s\n", secs, admin, path)
		}()
	}
	wg.Wait()
}

func (p *profiler) fetch(ctx context.Context, admin string, secs int, path string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", admin, secs), nil)
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
