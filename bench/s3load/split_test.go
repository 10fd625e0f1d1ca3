package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		stack []string // root first, as one reads a trace top-down
		want  string
	}{
		{[]string{"transport.(*Transport).acceptLoop.func1", "github.com/nebulaio/nebulaio/transport.(*Transport).serveUpload", "github.com/nebulaio/nebulaio/dataplane.(*Plane).handlePut", "github.com/nebulaio/nebulaio/dataplane/blob.(*Store).Put", "os.(*File).Sync", "syscall.Fsync"},
			"blob store Put on a replica (create temp, write, fsync, rename, fsync dir)"},
		{[]string{"github.com/nebulaio/nebulaio/dataplane.(*Plane).putOne", "github.com/nebulaio/nebulaio/transport.(*Transport).getStream", "github.com/nebulaio/nebulaio/transport.(*Transport).dial", "syscall.connect"},
			"transport connections set up and torn down (dial, accept, close)"},
		{[]string{"github.com/nebulaio/nebulaio/transport.(*Transport).acceptLoop.func1", "github.com/nebulaio/nebulaio/transport.(*Transport).serveConn", "net.(*conn).Read"},
			"transport connections set up and torn down (dial, accept, close)"},
		{[]string{"github.com/nebulaio/nebulaio/transport.(*Transport).acceptLoop.func1", "github.com/nebulaio/nebulaio/transport.(*Transport).serveConn", "github.com/nebulaio/nebulaio/transport.(*Transport).serveRPC", "github.com/nebulaio/nebulaio/transport.readFrame", "crypto/tls.(*Conn).Read"},
			"transport RPC, serving side (calls in: forwarded proposals and reads on the leader)"},
		{[]string{"github.com/nebulaio/nebulaio/transport.(*Transport).acceptLoop.func1", "github.com/nebulaio/nebulaio/transport.(*Transport).serveConn", "github.com/nebulaio/nebulaio/transport.(*Transport).serveRPC", "github.com/nebulaio/nebulaio/engine.(*Node).handlePropose"},
			"engine: propose, forward to the leader, wait for the result"},
		{[]string{"github.com/nebulaio/nebulaio/transport.(*Transport).acceptLoop.func1", "github.com/nebulaio/nebulaio/transport.(*Transport).serveConn", "github.com/hashicorp/raft.(*NetworkTransport).handleCommand"},
			"raft (replication pipeline, RPC codec, loops)"},
		{[]string{"github.com/nebulaio/nebulaio/transport.(*Transport).serveStream", "github.com/nebulaio/nebulaio/dataplane.(*Plane).handlePut", "hash/crc32.Update"},
			"replica side of a blob upload (frames in, checksums, reply)"},
		{[]string{"net/http.(*conn).serve", "github.com/nebulaio/nebulaio/httpapi/s3.(*handler).serve", "github.com/nebulaio/nebulaio/httpapi/sigv4.(*Verifier).VerifyWith", "crypto/sha256.block"},
			"SigV4 (signatures, streaming chunk signatures, payload SHA-256)"},
		{[]string{"net/http.(*conn).serve", "github.com/nebulaio/nebulaio/httpapi/s3.(*handler).putObject", "crypto/md5.block"},
			"S3 handler (other: MD5/ETag, parsing, XML, response)"},
		{[]string{"net/http.(*conn).serve", "net/http.(*conn).readRequest"}, "HTTP server (net/http outside the S3 handler: read, parse, write)"},
		{[]string{"runtime.gcBgMarkWorker", "github.com/nebulaio/nebulaio/dataplane/blob.(*Store).Put"}, "Go GC (background workers)"},
		{[]string{"runtime.mcall", "runtime.schedule"}, otherComponent},
	} {
		leafFirst := make([]string, len(tc.stack))
		for i, f := range tc.stack {
			leafFirst[len(tc.stack)-1-i] = f
		}
		if got := classify(leafFirst); got != tc.want {
			t.Errorf("%s:\n got  %q\n want %q", strings.Join(tc.stack, " > "), got, tc.want)
		}
	}
}

// TestSplitProfiles: the CPU of each sample lands in its component and, when the sample is in a
// system call, under that call; totals and durations add up over files.
func TestSplitProfiles(t *testing.T) {
	fn := func(id uint64, name string) *profile.Function { return &profile.Function{ID: id, Name: name} }
	fs := []*profile.Function{
		fn(1, "internal/runtime/syscall/linux.Syscall6"), fn(2, "syscall.Fsync"), fn(3, "github.com/nebulaio/nebulaio/dataplane/blob.(*Store).Put"),
		fn(4, "github.com/nebulaio/nebulaio/wal.(*Log).StoreLogs"), fn(5, "syscall.Fdatasync"), fn(6, "runtime.schedule"),
	}
	loc := func(id uint64, f *profile.Function) *profile.Location {
		return &profile.Location{ID: id, Line: []profile.Line{{Function: f}}}
	}
	var locs []*profile.Location
	for i, f := range fs {
		locs = append(locs, loc(uint64(i+1), f))
	}
	p := &profile.Profile{
		SampleType:    []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		DurationNanos: int64(10 * time.Second), Period: 10_000_000, PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Function: fs, Location: locs,
		Sample: []*profile.Sample{
			{Location: []*profile.Location{locs[0], locs[1], locs[2]}, Value: []int64{3, 30_000_000}}, // fsync in blob Put
			{Location: []*profile.Location{locs[0], locs[4], locs[3]}, Value: []int64{1, 10_000_000}}, // fdatasync in the WAL
			{Location: []*profile.Location{locs[5]}, Value: []int64{2, 20_000_000}},                   // scheduler
		},
	}
	dir := t.TempDir()
	var files []string
	for _, name := range []string{"a.pprof", "b.pprof"} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Write(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
		files = append(files, f.Name())
	}
	s, err := SplitProfiles(files)
	if err != nil {
		t.Fatal(err)
	}
	blob := "blob store Put on a replica (create temp, write, fsync, rename, fsync dir)"
	for what, c := range map[string]struct{ got, want time.Duration }{
		"total":     {s.Total, 120 * time.Millisecond},
		"wall":      {s.Wall, 20 * time.Second},
		"blob":      {s.Components[blob], 60 * time.Millisecond},
		"wal":       {s.Components["WAL (StoreLogs: encode, write, fdatasync)"], 20 * time.Millisecond},
		"other":     {s.Components[otherComponent], 40 * time.Millisecond},
		"Fsync":     {s.Syscalls["Fsync"], 60 * time.Millisecond},
		"Fdatasync": {s.Syscalls["Fdatasync"], 20 * time.Millisecond},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", what, c.got, c.want)
		}
	}
	var out strings.Builder
	s.Write(&out, 12)
	if !strings.Contains(out.String(), "| "+blob+" | 0.06 | 50.0% | 5000 |") {
		t.Errorf("split table lacks the blob row with 5000 µs per op:\n%s", out.String())
	}
}

func TestParseMetricsKeepsUnlabelledSamples(t *testing.T) {
	m, err := ParseMetrics(strings.NewReader(`# HELP nebulaio_blob_put_seconds Duration.
# TYPE nebulaio_blob_put_seconds histogram
nebulaio_blob_put_seconds_bucket{le="0.005"} 3
nebulaio_blob_put_seconds_sum 0.25
nebulaio_blob_put_seconds_count 10
nebulaio_raft_proposals_total 1.5e+06
go_gc_duration_seconds{quantile="0"} 1e-05
`))
	if err != nil {
		t.Fatal(err)
	}
	want := Metrics{"nebulaio_blob_put_seconds_sum": 0.25, "nebulaio_blob_put_seconds_count": 10, "nebulaio_raft_proposals_total": 1.5e6}
	if len(m) != len(want) {
		t.Fatalf("%v, want %v", m, want)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	var out strings.Builder
	before := []Metrics{{"nebulaio_blob_put_seconds_sum": 0.05, "nebulaio_blob_put_seconds_count": 5}}
	WriteMetricsDelta(&out, before, []Metrics{m})
	if !strings.Contains(out.String(), "| `nebulaio_blob_put_seconds` | blob store Put on this node, first byte to directory fsync | 5 | 40.00 |") {
		t.Errorf("delta table lacks 5 blob puts of 40 ms mean:\n%s", out.String())
	}
}
