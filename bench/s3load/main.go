// Command s3load puts an S3 load on two systems side by side and prints one table: ops/s, MiB/s,
// p50 and p99 latency of each, and the ratio of their ops/s. It is the load generator of
// `make bench-s3` (scripts/bench-s3.sh starts NebulaIO and MinIO and calls it); it starts no
// server itself.
//
//	s3load run -label "1 node / 1 drive" -system NebulaIO=127.0.0.1:9000 -system MinIO=127.0.0.1:9100 -out results.jsonl
//	s3load table results.jsonl [more.jsonl...]
//	s3load cpu-split [-ops N] node1.pprof node2.pprof ...
//	s3load ports N
//
// run measures every scenario (-scenarios, DefaultScenarios) for -rounds rounds; within a round
// it runs the scenario against each -system in turn (A B A B ...), so that the machine's noise
// hits both alike. Each run warms up for -warmup, then counts operations for -duration or
// -max-ops, whichever comes first. The client is minio-go with its defaults (over plain HTTP it
// signs bodies with streaming SigV4, aws-chunked) and retries off; every operation is on
// loopback. PUTs write unique keys of incompressible bytes; GETs read, at random, objects
// written before the first scenario that reads their size (16 to 512 of them, 16 MiB at most).
// Each run appends a JSON line to -out (Result) and prints a progress line on stderr; table
// combines the lines of any number of files (the rounds of a scenario merge: ops over counted
// seconds, latencies through one histogram).
//
// With -profile NAME=admin-host:port,..., the run of -profile-scenario against system NAME in
// round 1 also takes a CPU profile (or with -profile-kind trace an execution trace) of each listed
// NebulaIO admin endpoint for the counted time (/debug/pprof/profile or /debug/pprof/trace, with
// the bearer token from NEBULAIO_ADMIN_TOKEN) into -profile-dir, and writes there a summary
// (<set-up>_<scenario>_split.md): the CPU split by component and by system call (see
// cpu-split), and each node's write-path histograms (/metrics) over the profiled seconds.
//
// cpu-split reads CPU profiles of NebulaIO nodes and prints where the CPU went: by component
// (the blob store, the fan-out to replicas, SigV4, raft, the WAL, ...; see components) and by
// system call; with -ops, per operation.
//
// ports prints N free TCP ports on 127.0.0.1, chosen by the OS, for the script to hand out.
//
// Credentials: -access-key and -secret-key, by default AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY; both systems must accept the same ones.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = cmdRun(os.Args[2:])
	case "table":
		err = cmdTable(os.Args[2:])
	case "ports":
		err = cmdPorts(os.Args[2:])
	case "cpu-split":
		err = cmdSplit(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: s3load run -label L -system NAME=host:port[,...] -system ... -out FILE [flags] | s3load table FILE... | s3load cpu-split [-ops N] PROFILE... | s3load ports N")
	os.Exit(2)
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func cmdRun(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	var systems listFlag
	fs.Var(&systems, "system", "NAME=host:port[,host:port...]: a system under load (twice: the first is the subject of the ratio, the second its peer)")
	label := fs.String("label", "", "the set-up, shown in the table's first column (required)")
	out := fs.String("out", "", "append one JSON line per run to this file (required)")
	scenarios := fs.String("scenarios", DefaultScenarios, "comma-separated OP:SIZE:WORKERS (OP put, get or mixNN with NN% GETs)")
	rounds := fs.Int("rounds", 2, "rounds of every scenario per system")
	duration := fs.Duration("duration", 5*time.Second, "counted time of one run")
	warmup := fs.Duration("warmup", time.Second, "uncounted load before each run")
	maxOps := fs.Int64("max-ops", 1_000_000, "counted operations of one run at most (0: no bound)")
	accessKey := fs.String("access-key", os.Getenv("AWS_ACCESS_KEY_ID"), "access key of both systems")
	secretKey := fs.String("secret-key", os.Getenv("AWS_SECRET_ACCESS_KEY"), "secret key of both systems")
	profile := fs.String("profile", "", "NAME=admin-host:port[,...]: profile these NebulaIO nodes (-profile-kind) while system NAME runs -profile-scenario")
	profileScenario := fs.String("profile-scenario", "put:4KiB:64", "the scenario to profile")
	profileKind := fs.String("profile-kind", "profile", "profile (CPU, go tool pprof) or trace (execution trace, go tool trace)")
	profileDir := fs.String("profile-dir", ".", "where profiles are written")
	_ = fs.Parse(args)

	switch {
	case *label == "" || *out == "":
		return errors.New("s3load run: -label and -out are required")
	case len(systems) == 0:
		return errors.New("s3load run: no -system")
	case *accessKey == "" || *secretKey == "":
		return errors.New("s3load run: no credentials (-access-key/-secret-key or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")
	case *rounds < 1 || *duration <= 0:
		return errors.New("s3load run: -rounds and -duration must be positive")
	}
	scs, err := ParseScenarios(*scenarios)
	if err != nil {
		return err
	}
	prof, err := parseProfile(*profile, *profileKind, *profileScenario, *profileDir, *label)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var syss []*System
	for _, spec := range systems {
		s, err := ParseSystem(spec)
		if err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		err = s.Connect(cctx, *accessKey, *secretKey)
		cancel()
		if err != nil {
			return err
		}
		defer s.Close()
		syss = append(syss, s)
	}
	f, err := os.OpenFile(*out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	tag := strconv.FormatInt(time.Now().UnixNano(), 36)
	for _, sc := range scs {
		for round := 1; round <= *rounds; round++ {
			for order, s := range syss {
				o := RunOpts{Warmup: *warmup, Duration: *duration, MaxOps: *maxOps,
					KeyTag: fmt.Sprintf("put/%s/%s/%s/r%d", tag, strings.ReplaceAll(sc.String(), ":", "-"), s.Name, round)}
				if round == 1 && prof.matches(s.Name, sc) {
					o.DuringRun = func(left time.Duration) { prof.take(ctx, left) }
				}
				cpu0 := sampleCPU()
				m, err := s.Run(ctx, sc, o)
				ours, others := coresBetween(cpu0, sampleCPU())
				if err != nil {
					return fmt.Errorf("s3load: %s %s round %d: %w", s.Name, sc, round, err)
				}
				if o.DuringRun != nil {
					if err := prof.report(float64(m.Ops) / m.Seconds); err != nil {
						return err
					}
				}
				res := Result{Label: *label, System: s.Name, Order: order, Scenario: sc.String(), Round: round,
					Measured: m, Load1: load1(), CPUs: runtime.NumCPU(), CoresOurs: ours, CoresOthers: others}
				if err := enc.Encode(res); err != nil {
					return err
				}
				progress(res)
			}
		}
	}
	return nil
}

func progress(r Result) {
	line := fmt.Sprintf("%-20s %-14s round %d  %-9s %8.0f ops/s %8.1f MiB/s  p50 %6s ms  p99 %6s ms  CPU cores: benchmark %.1f, others %.1f",
		r.Label, r.Scenario, r.Round, r.System, float64(r.Ops)/r.Seconds, float64(r.Bytes)/r.Seconds/(1<<20),
		ms(r.Latency.Quantile(0.5)), ms(r.Latency.Quantile(0.99)), r.CoresOurs, r.CoresOthers)
	if r.Errors > 0 {
		line += fmt.Sprintf("  %d errors, first: %s", r.Errors, r.FirstError)
	}
	fmt.Fprintln(os.Stderr, line)
}

// load1 is the 1-minute load average, or -1 where /proc/loadavg cannot be read.
func load1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

func cmdTable(files []string) error {
	if len(files) == 0 {
		return errors.New("s3load table: no results file")
	}
	var t Table
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		err = t.ReadResults(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	t.Write(os.Stdout)
	return nil
}

func cmdSplit(args []string) error {
	fs := flag.NewFlagSet("cpu-split", flag.ExitOnError)
	ops := fs.Int64("ops", 0, "operations served while the profiles ran, for the CPU per operation")
	_ = fs.Parse(args)
	if fs.NArg() == 0 {
		return errors.New("s3load cpu-split: no profile")
	}
	split, err := SplitProfiles(fs.Args())
	if err != nil {
		return err
	}
	split.Write(os.Stdout, *ops)
	return nil
}

func cmdPorts(args []string) error {
	if len(args) != 1 {
		return errors.New("s3load ports: want N")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 {
		return fmt.Errorf("s3load ports: %q is not a positive number", args[0])
	}
	var ports []string
	for range n {
		// Held open until all are chosen, so that the N ports differ.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer l.Close()
		ports = append(ports, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	}
	fmt.Println(strings.Join(ports, " "))
	return nil
}
