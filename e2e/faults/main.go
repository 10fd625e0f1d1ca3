package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

func main() {
	os.Exit(mainErr(os.Args[1:], os.Stdout, os.Stderr))
}

func mainErr(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("faults", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("bin", "", "the nebulaio binary to run (required)")
	prof := fs.String("profile", "full", "full (every fault, longer phases) or short (the e2e profile)")
	only := fs.String("faults", "", "comma-separated faults to run instead of the profile's: "+faultNames())
	work := fs.String("work", "", "directory for the runs' data, logs and histories (default: a new temporary one)")
	keep := fs.Bool("keep", false, "keep every run's directory, not only those of failed runs")
	prefix := fs.String("prefix", fmt.Sprintf("nf%d", os.Getpid()), "names of the lab's namespaces and interfaces start with this (at most 11 bytes)")
	seed := fs.Uint64("seed", uint64(time.Now().UnixNano()), "seed of the load's choices")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	p, found := profiles[*prof]
	if !found {
		fmt.Fprintf(stderr, "faults: unknown profile %q (full or short)\n", *prof)
		return 2
	}
	names := p.faults
	if names == nil {
		names = strings.Split(faultNames(), ",")
	}
	if *only != "" {
		names = strings.Split(*only, ",")
	}
	var run []fault
	for _, n := range names {
		f, found := faultByName(strings.TrimSpace(n))
		if !found {
			fmt.Fprintf(stderr, "faults: unknown fault %q (known: %s)\n", n, faultNames())
			return 2
		}
		run = append(run, f)
	}
	if *bin == "" {
		fmt.Fprintln(stderr, "faults: -bin is required")
		return 2
	}
	abs, err := filepath.Abs(*bin)
	if err != nil {
		fmt.Fprintf(stderr, "faults: %v\n", err)
		return 2
	}
	if err := preflight(abs); err != nil {
		fmt.Fprintf(stderr, "faults: %v\n", err)
		return 2
	}
	if *work == "" {
		if *work, err = os.MkdirTemp("", "nebulaio-faults-"); err != nil {
			fmt.Fprintf(stderr, "faults: %v\n", err)
			return 1
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(stderr, "faults: profile %s, seed %d, work in %s\n", p.name, *seed, *work)
	start := time.Now()
	var results []result
	for i, f := range run {
		fmt.Fprintf(stderr, "== %s: %s\n", f.name, f.what)
		t := time.Now()
		dir := filepath.Join(*work, f.name)
		for n := 2; pathExists(dir); n++ { // the same fault twice: a directory each
			dir = filepath.Join(*work, fmt.Sprintf("%s.%d", f.name, n))
		}
		res := execute(ctx, p, f, dir, abs, *prefix, *seed+uint64(i))
		verdict := "PASS"
		if !res.pass() {
			verdict = "FAIL"
		}
		fmt.Fprintf(stderr, "   %s in %s\n", verdict, time.Since(t).Round(time.Second))
		results = append(results, res)
		if res.pass() && !*keep {
			_ = os.RemoveAll(res.dir)
		}
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "faults: interrupted")
			break
		}
	}
	if !*keep {
		_ = os.Remove(*work) // only if every run's directory is gone
	}
	failed := report(stdout, results, p)
	fmt.Fprintf(stdout, "%d runs in %s\n", len(results), time.Since(start).Round(time.Second))
	if failed > 0 || ctx.Err() != nil || len(results) < len(run) {
		return 1
	}
	return 0
}

func pathExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func faultNames() string {
	var n []string
	for _, f := range faults {
		n = append(n, f.name)
	}
	return strings.Join(n, ",")
}

// preflight checks what the lab needs, so that a missing tool is one clear message rather than
// a failure half-way through a run.
func preflight(bin string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("must run as root: network namespaces, iptables and a tmpfs mount need it")
	}
	for _, tool := range []string{"ip", "iptables", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is not installed (Debian: apt-get install -y iproute2 iptables mount)", tool)
		}
	}
	if st, err := os.Stat(bin); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("-bin %s: not an executable file", bin)
	}
	probe := fmt.Sprintf("nfprobe%d", os.Getpid())
	if err := sh("ip", "netns", "add", probe); err != nil {
		return fmt.Errorf("cannot create a network namespace (a container without CAP_SYS_ADMIN and CAP_NET_ADMIN?): %w", err)
	}
	err := sh("ip", "netns", "exec", probe, "iptables", "-S")
	if derr := sh("ip", "netns", "del", probe); derr != nil {
		return derr
	}
	if err != nil {
		return fmt.Errorf("iptables does not work in a network namespace: %w", err)
	}
	return nil
}

// report prints the table and, under it, the notes of every run and the reasons of every
// failure. It returns the number of failed runs.
func report(w io.Writer, results []result, p profile) int {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "fault\tacked ops\tunknown\tlost\tcorrupt\tphantom\tunavailable\tno write ok\thealed→whole\tverdict\t")
	failed := 0
	for _, r := range results {
		verdict := "PASS"
		if !r.pass() {
			verdict = "FAIL"
			failed++
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t\n", r.fault, r.f.acked, r.f.unknown, len(r.f.lost), len(r.f.corrupt),
			len(r.f.phantom), r.f.unavailable.Round(10*time.Millisecond), r.f.writeUnavailable.Round(10*time.Millisecond),
			r.converge.Round(10*time.Millisecond), verdict)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "profile %s: hold %s (partitions %s), load %d workers\n", p.name, p.hold, p.partitionHold, p.workers)
	for _, r := range results {
		var lines []string
		lines = append(lines, r.failures...)
		for _, group := range []struct {
			name  string
			items []string
		}{{"lost", r.f.lost}, {"corrupt", r.f.corrupt}, {"phantom", r.f.phantom}, {"stale listing", r.f.stale}} {
			for i, s := range group.items {
				if i == 10 {
					lines = append(lines, fmt.Sprintf("%s: ... %d more", group.name, len(group.items)-10))
					break
				}
				lines = append(lines, group.name+": "+s)
			}
		}
		if len(r.f.nonLin) > 0 {
			lines = append(lines, fmt.Sprintf("not linearizable: keys %s (see %s)", strings.Join(r.f.nonLin, ", "), filepath.Join(r.dir, "linearizability.html")))
		}
		fmt.Fprintf(w, "%s: %s\n", r.fault, strings.Join(r.notes, "; "))
		for _, l := range lines {
			fmt.Fprintf(w, "  FAIL %s\n", l)
		}
		if !r.pass() {
			fmt.Fprintf(w, "  logs and history: %s\n", r.dir)
		}
	}
	return failed
}
