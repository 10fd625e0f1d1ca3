package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/google/pprof/profile"
)

// component names a part of NebulaIO's work and the functions whose presence on a sample's
// stack puts the sample in it. The first component whose function appears anywhere on the
// stack wins, so the order below is the precedence: the blob store before the transport that
// called it, connection churn before the stream it served, and so on.
type component struct {
	name  string
	funcs []string // substrings of fully qualified function names
	not   []string // the component does not apply if one of these is on the stack
}

var components = []component{
	{name: "Go GC (background workers)", funcs: []string{"runtime.gcBgMarkWorker", "runtime.bgsweep", "runtime.bgscavenge"}},
	{name: "blob store Put on a replica (create temp, write, fsync, rename, fsync dir)", funcs: []string{"dataplane/blob.(*Store).Put"}},
	{name: "transport connections set up and torn down (dial, accept, close)", funcs: []string{"transport.(*Transport).dial", "transport.(*trackedConn).Close"}},
	{name: "transport connections set up and torn down (dial, accept, close)", funcs: []string{"transport.(*Transport).acceptLoop"},
		not: []string{"transport.(*Transport).serveStream", "transport.(*Transport).serveUpload", "transport.(*Transport).serveRPC", "hashicorp/raft"}},
	{name: "replica side of a blob upload (frames in, checksums, reply)", funcs: []string{"dataplane.(*Plane).handlePut", "transport.(*Transport).serveUpload", "transport.(*Transport).serveStream"}},
	{name: "SigV4 (signatures, streaming chunk signatures, payload SHA-256)", funcs: []string{"httpapi/sigv4."}},
	{name: "fan-out of the body to the replicas (sending side)", funcs: []string{"dataplane.(*Plane).putOne", "dataplane.(*Plane).fanOut", "dataplane.(*Plane).broadcast"}},
	{name: "engine: propose, forward to the leader, wait for the result", funcs: []string{"nebulaio/engine.(*Node)"}},
	{name: "S3 handler (other: MD5/ETag, parsing, XML, response)", funcs: []string{"nebulaio/httpapi/s3."}},
	{name: "FSM apply", funcs: []string{"nebulaio/fsm."}},
	{name: "WAL (StoreLogs: encode, write, fdatasync)", funcs: []string{"nebulaio/wal."}},
	{name: "raft (replication pipeline, RPC codec, loops)", funcs: []string{"hashicorp/raft."}},
	{name: "gossip", funcs: []string{"hashicorp/memberlist.", "nebulaio/gossip."}},
	{name: "HTTP server (net/http outside the S3 handler: read, parse, write)", funcs: []string{"net/http."}},
	{name: "transport RPC, serving side (calls in: forwarded proposals and reads on the leader)", funcs: []string{"transport.(*Transport).serveRPC"}},
	{name: "transport (other)", funcs: []string{"nebulaio/transport."}},
	{name: "metrics", funcs: []string{"prometheus/client_golang"}},
}

const otherComponent = "Go runtime and other (scheduler, netpoll, timers)"

// syscallKinds are the system calls the split names separately (time spent in the kernel on
// their behalf counts as CPU in a profile).
var syscallKinds = []string{"Fsync", "Fdatasync", "openat", "Renameat", "write", "read", "Close", "connect", "accept", "Fstat"}

func classify(stack []string) string {
	has := func(subs []string) bool {
		for _, f := range stack {
			for _, s := range subs {
				if strings.Contains(f, s) {
					return true
				}
			}
		}
		return false
	}
	for _, c := range components {
		if has(c.funcs) && !has(c.not) {
			return c.name
		}
	}
	return otherComponent
}

// syscallKind names the system call a sample was in, or "" when it was not in one.
func syscallKind(stack []string) string {
	inSyscall := false
	for _, f := range stack[:min(len(stack), 4)] {
		if strings.Contains(f, "Syscall") || strings.HasPrefix(f, "syscall.") {
			inSyscall = true
		}
	}
	if !inSyscall {
		return ""
	}
	for _, f := range stack {
		if name, ok := strings.CutPrefix(f, "syscall."); ok {
			for _, k := range syscallKinds {
				if strings.EqualFold(name, k) {
					return k
				}
			}
		}
	}
	return "other"
}

// Split is CPU time by component and by system call, from one or more CPU profiles.
type Split struct {
	Total      time.Duration
	Wall       time.Duration // the profiles' durations, summed
	Components map[string]time.Duration
	Syscalls   map[string]time.Duration
}

// SplitProfiles reads CPU profiles (as /debug/pprof/profile writes them) and splits their
// samples.
func SplitProfiles(files []string) (Split, error) {
	s := Split{Components: map[string]time.Duration{}, Syscalls: map[string]time.Duration{}}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return s, err
		}
		p, err := profile.Parse(f)
		f.Close()
		if err != nil {
			return s, fmt.Errorf("%s: %w", name, err)
		}
		vi := slices.IndexFunc(p.SampleType, func(st *profile.ValueType) bool { return st.Type == "cpu" && st.Unit == "nanoseconds" })
		if vi < 0 {
			return s, fmt.Errorf("%s: not a CPU profile (no cpu/nanoseconds sample type)", name)
		}
		s.Wall += time.Duration(p.DurationNanos)
		for _, smp := range p.Sample {
			var stack []string // leaf first
			for _, loc := range smp.Location {
				for _, line := range loc.Line {
					if line.Function != nil {
						stack = append(stack, line.Function.Name)
					}
				}
			}
			d := time.Duration(smp.Value[vi])
			s.Total += d
			s.Components[classify(stack)] += d
			if k := syscallKind(stack); k != "" {
				s.Syscalls[k] += d
			}
		}
	}
	return s, nil
}

// Write prints the split as two Markdown tables, largest first; with ops > 0 also the CPU per
// operation.
func (s Split) Write(w io.Writer, ops int64) {
	perOp := func(d time.Duration) string {
		if ops <= 0 {
			return ""
		}
		return fmt.Sprintf(" %.0f |", float64(d)/float64(time.Microsecond)/float64(ops))
	}
	head := func(first string) {
		if ops > 0 {
			fmt.Fprintf(w, "| %s | CPU s | share | µs per op |\n|---|--:|--:|--:|\n", first)
		} else {
			fmt.Fprintf(w, "| %s | CPU s | share |\n|---|--:|--:|\n", first)
		}
	}
	table := func(m map[string]time.Duration) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b string) int { return int(m[b] - m[a]) })
		for _, k := range keys {
			fmt.Fprintf(w, "| %s | %.2f | %.1f%% |%s\n", k, m[k].Seconds(), 100*float64(m[k])/float64(s.Total), perOp(m[k]))
		}
	}
	fmt.Fprintf(w, "CPU %.2f s in %.0f s of profiles (%.0f%% of one core on average per profile)", s.Total.Seconds(), s.Wall.Seconds(), 100*s.Total.Seconds()/max(s.Wall.Seconds(), 1e-9))
	if ops > 0 {
		fmt.Fprintf(w, "; %d operations: %.0f µs of CPU per operation", ops, float64(s.Total)/float64(time.Microsecond)/float64(ops))
	}
	fmt.Fprint(w, ".\n\n")
	head("component")
	table(s.Components)
	var insys time.Duration
	for _, d := range s.Syscalls {
		insys += d
	}
	fmt.Fprintf(w, "\nIn system calls: %.2f s (%.0f%%):\n\n", insys.Seconds(), 100*float64(insys)/float64(s.Total))
	head("system call")
	table(s.Syscalls)
}
