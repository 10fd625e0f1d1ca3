// Command clients is NebulaIO's client matrix: it drives real S3 clients with their default
// options against an endpoint and prints one PASS/FAIL table (client, operation, result),
// exiting non-zero on any FAIL.
//
//	go run . -endpoint http://127.0.0.1:9000 -access-key AK -secret-key SK [-boto3 boto3_matrix.py]
//
// Clients: minio-go (defaults; with TrailingHeaders, which its checksum options need; with
// SigV2 credentials), the AWS SDK for Go v2 (config.LoadDefaultConfig; and the same through an
// in-process TLS proxy, where the SDK sends aws-chunked bodies with trailing checksums), and
// boto3 through boto3_matrix.py (its rows are merged into the table). Every object written is
// read back and compared; checksums are compared with values computed here, independently of
// the server's code. scripts/e2e-clients.sh starts a server and runs this; it is part of
// `make e2e`.
//
// It is its own Go module so that the clients' dependencies (and their latest versions) stay
// out of the server's go.mod.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// row is one line of the table.
type row struct {
	client, op string
	result     string // PASS, FAIL or SKIP
	detail     string
}

// matrix collects rows; checks of one client run in order, clients run one after another.
type matrix struct {
	mu   sync.Mutex
	rows []row
}

// check runs f as operation op of client and records its outcome; a panic is a FAIL.
func (m *matrix) check(client, op string, f func() error) {
	start := time.Now()
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("panic: %v", p)
			}
		}()
		return f()
	}()
	r := row{client: client, op: op, result: "PASS", detail: time.Since(start).Round(time.Millisecond).String()}
	var skip skipError
	switch {
	case err == nil:
	case asSkip(err, &skip):
		r.result, r.detail = "SKIP", string(skip)
	default:
		r.result, r.detail = "FAIL", err.Error()
	}
	m.add(r)
}

func (m *matrix) add(r row) {
	m.mu.Lock()
	m.rows = append(m.rows, r)
	m.mu.Unlock()
	fmt.Fprintf(os.Stderr, "%-4s %-20s %s\n", r.result, r.client, r.op)
}

// skipError marks a check that cannot run with this client version (the reason is shown).
type skipError string

func (s skipError) Error() string { return string(s) }

func asSkip(err error, out *skipError) bool {
	s, ok := err.(skipError)
	if ok {
		*out = s
	}
	return ok
}

func (m *matrix) print() (fails int) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "CLIENT\tOPERATION\tRESULT\tDETAIL")
	for _, r := range m.rows {
		d := r.detail
		if len(d) > 160 {
			d = d[:160] + "…"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", r.client, r.op, r.result, strings.ReplaceAll(d, "\n", " "))
		if r.result == "FAIL" {
			fails++
		}
	}
	w.Flush()
	return fails
}

// target is the endpoint under test.
type target struct {
	endpoint  string // http://host:port
	accessKey string
	secretKey string
	region    string
	maxSize   int64
}

// payload returns n deterministic pseudo-random bytes (seeded by seed).
func payload(n int64, seed uint64) []byte {
	var key [32]byte
	for i := range 8 {
		key[i] = byte(seed >> (8 * i))
	}
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(key).Read(b)
	return b
}

// knownSeed is the payload seed of the "known-<size>" objects, which later checks copy.
func knownSeed(size int64) uint64 { return uint64(size) + 1 }

// sizes are the object sizes every client uploads and reads back, up to max.
func sizes(max int64) []int64 {
	var out []int64
	for _, s := range []int64{0, 1, 1 << 20, 5<<20 + 1, 17 << 20, 70 << 20} {
		if s <= max {
			out = append(out, s)
		}
	}
	return out
}

func sizeName(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n > 1<<20:
		return fmt.Sprintf("%dMiB+%d", n>>20, n%(1<<20))
	}
	return fmt.Sprintf("%dB", n)
}

func main() {
	var t target
	flag.StringVar(&t.endpoint, "endpoint", os.Getenv("S3_ENDPOINT"), "S3 endpoint, http://host:port")
	flag.StringVar(&t.accessKey, "access-key", os.Getenv("AWS_ACCESS_KEY_ID"), "access key")
	flag.StringVar(&t.secretKey, "secret-key", os.Getenv("AWS_SECRET_ACCESS_KEY"), "secret key")
	flag.StringVar(&t.region, "region", "us-east-1", "the endpoint's region")
	flag.Int64Var(&t.maxSize, "max-size", 70<<20, "largest object uploaded")
	boto3 := flag.String("boto3", "", "path of boto3_matrix.py; empty skips boto3")
	python := flag.String("python", "python3", "Python interpreter for -boto3")
	only := flag.String("only", "", "run only the clients whose name contains this")
	flag.Parse()
	if t.endpoint == "" || t.accessKey == "" || t.secretKey == "" {
		fmt.Fprintln(os.Stderr, "clients: -endpoint, -access-key and -secret-key (or S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) are required")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	m := &matrix{}
	suites := []struct {
		name string
		run  func(context.Context, *matrix, target)
	}{
		{"minio-go", runMinio},
		{"aws-sdk-go-v2", runAWS},
		{"boto3", func(ctx context.Context, m *matrix, t target) { runBoto3(ctx, m, t, *python, *boto3) }},
	}
	start := time.Now()
	for _, s := range suites {
		if *only != "" && !strings.Contains(s.name, *only) {
			continue
		}
		if s.name == "boto3" && *boto3 == "" {
			continue
		}
		s.run(ctx, m, t)
	}
	fails := m.print()
	fmt.Printf("\n%d checks, %d failed, in %s\n", len(m.rows), fails, time.Since(start).Round(time.Second))
	if fails > 0 {
		os.Exit(1)
	}
}
