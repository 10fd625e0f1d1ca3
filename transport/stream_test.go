package transport

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nebulaio/nebulaio/internal/testutil"
)

// patternReader yields n deterministic pseudo-random bytes without holding them.
type patternReader struct {
	rng *rand.ChaCha8
	n   int64
}

func newPattern(seed byte, n int64) *patternReader {
	var s [32]byte
	s[0] = seed
	return &patternReader{rng: rand.NewChaCha8(s), n: n}
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.n {
		p = p[:r.n]
	}
	_, _ = r.rng.Read(p)
	r.n -= int64(len(p))
	return len(p), nil
}

func patternSum(seed byte, n int64) []byte {
	h := sha256.New()
	_, _ = io.Copy(h, newPattern(seed, n))
	return h.Sum(nil)
}

// failingReader yields n bytes, then fails.
type failingReader struct {
	n   int
	err error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, r.err
	}
	k := min(len(p), r.n)
	clear(p[:k])
	r.n -= k
	return k, nil
}

func totalAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

// A large body goes up and comes back down in frames through reused buffers: the bytes allocated
// stay a small fraction of the body (nothing is buffered whole).
func TestStreamLargeBodyFlatMemory(t *testing.T) {
	const size = 64 << 20
	srv := newNode(t, Config{})
	cli := newNode(t, Config{})
	srv.HandleStream("put", func(ctx context.Context, header []byte, body io.Reader) ([]byte, error) {
		h := sha256.New()
		n, err := io.CopyBuffer(h, body, make([]byte, 32<<10))
		if err != nil {
			return nil, err
		}
		return fmt.Appendf(h.Sum(nil), "|%s|%d", header, n), nil
	})
	srv.HandleDownload("get", func(ctx context.Context, header []byte, w io.Writer) error {
		_, err := io.CopyBuffer(w, newPattern(header[0], size), make([]byte, 32<<10))
		return err
	})

	before := totalAlloc()
	reply, err := cli.CallStream(context.Background(), srv.Addr(), "put", []byte("obj"), newPattern(1, size))
	if err != nil {
		t.Fatal(err)
	}
	upAlloc := totalAlloc() - before
	want := fmt.Appendf(patternSum(1, size), "|obj|%d", size)
	if !bytes.Equal(reply, want) {
		t.Fatalf("upload reply mismatch")
	}

	before = totalAlloc()
	rc, err := cli.OpenStream(context.Background(), srv.Addr(), "get", []byte{2})
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.CopyBuffer(h, rc, make([]byte, 32<<10))
	if err != nil || n != size {
		t.Fatalf("download: %d bytes, %v", n, err)
	}
	_ = rc.Close()
	downAlloc := totalAlloc() - before
	if !bytes.Equal(h.Sum(nil), patternSum(2, size)) {
		t.Fatal("download content mismatch")
	}
	t.Logf("allocated %d KiB for a %d MiB upload, %d KiB for the download", upAlloc>>10, size>>20, downAlloc>>10)
	for name, a := range map[string]uint64{"upload": upAlloc, "download": downAlloc} {
		if a > size/8 {
			t.Errorf("%s of %d MiB allocated %d MiB: the body is being buffered", name, size>>20, a>>20)
		}
	}
}

func TestStreamErrors(t *testing.T) {
	srv := newNode(t, Config{})
	cli := newNode(t, Config{})
	bodyErrs := make(chan error, 1)
	srv.HandleStream("put", func(ctx context.Context, header []byte, body io.Reader) ([]byte, error) {
		_, err := io.Copy(io.Discard, body)
		if err != nil {
			bodyErrs <- err
			return nil, err
		}
		return []byte("ok"), nil
	})
	srv.HandleStream("reject", func(ctx context.Context, header []byte, body io.Reader) ([]byte, error) {
		// Fails after the first bytes, while the sender still has megabytes to go.
		if _, err := io.ReadFull(body, make([]byte, 1000)); err != nil {
			return nil, err
		}
		return nil, codedErr{"QuotaExceeded"}
	})
	srv.HandleDownload("get", func(ctx context.Context, header []byte, w io.Writer) error {
		if _, err := w.Write(make([]byte, 200<<10)); err != nil {
			return err
		}
		return codedErr{"DiskFailed"}
	})
	srv.HandleDownload("empty", func(ctx context.Context, header []byte, w io.Writer) error { return nil })
	srv.HandleDownload("refuse", func(ctx context.Context, header []byte, w io.Writer) error {
		return codedErr{"NoSuchKey"}
	})

	t.Run("sender body fails mid-way", func(t *testing.T) {
		readErr := errors.New("disk read failed")
		_, err := cli.CallStream(context.Background(), srv.Addr(), "put", nil, &failingReader{n: 300 << 10, err: readErr})
		if !errors.Is(err, readErr) {
			t.Fatalf("caller: err = %v, want the body's read error", err)
		}
		select {
		case err := <-bodyErrs:
			if !errors.Is(err, ErrStreamAborted) {
				t.Fatalf("handler: err = %v, want ErrStreamAborted", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("handler did not see the abort")
		}
	})
	t.Run("handler fails mid-upload", func(t *testing.T) {
		_, err := cli.CallStream(context.Background(), srv.Addr(), "reject", nil, newPattern(3, 32<<20))
		var re *RemoteError
		if !errors.As(err, &re) || re.Code != "QuotaExceeded" {
			t.Fatalf("err = %v, want RemoteError QuotaExceeded", err)
		}
	})
	t.Run("handler fails mid-download", func(t *testing.T) {
		rc, err := cli.OpenStream(context.Background(), srv.Addr(), "get", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		n, err := io.Copy(io.Discard, rc)
		var re *RemoteError
		if !errors.As(err, &re) || re.Code != "DiskFailed" {
			t.Fatalf("after %d bytes: err = %v, want RemoteError DiskFailed", n, err)
		}
	})
	t.Run("download refused", func(t *testing.T) {
		_, err := cli.OpenStream(context.Background(), srv.Addr(), "refuse", nil)
		var re *RemoteError
		if !errors.As(err, &re) || re.Code != "NoSuchKey" {
			t.Fatalf("err = %v, want RemoteError NoSuchKey", err)
		}
	})
	t.Run("empty download", func(t *testing.T) {
		rc, err := cli.OpenStream(context.Background(), srv.Addr(), "empty", nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		if err != nil || len(b) != 0 {
			t.Fatalf("got %d bytes, %v", len(b), err)
		}
		_ = rc.Close()
	})
	t.Run("no handler", func(t *testing.T) {
		if _, err := cli.CallStream(context.Background(), srv.Addr(), "nope", nil, bytes.NewReader(make([]byte, 1<<20))); !errors.Is(err, ErrNoHandler) {
			t.Fatalf("upload: err = %v, want ErrNoHandler", err)
		}
		if _, err := cli.OpenStream(context.Background(), srv.Addr(), "nope", nil); !errors.Is(err, ErrNoHandler) {
			t.Fatalf("download: err = %v, want ErrNoHandler", err)
		}
	})
}

// A reader that closes early, or whose context ends, cancels the server's handler.
func TestStreamCancel(t *testing.T) {
	srv := newNode(t, Config{})
	cli := newNode(t, Config{})
	handlerErr := make(chan error, 2)
	srv.HandleDownload("endless", func(ctx context.Context, header []byte, w io.Writer) error {
		buf := make([]byte, 32<<10)
		for {
			if _, err := w.Write(buf); err != nil {
				handlerErr <- err
				return err
			}
			if ctx.Err() != nil {
				handlerErr <- ctx.Err()
				return ctx.Err()
			}
		}
	})
	t.Run("close early", func(t *testing.T) {
		rc, err := cli.OpenStream(context.Background(), srv.Addr(), "endless", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(rc, make([]byte, 1<<20)); err != nil {
			t.Fatal(err)
		}
		_ = rc.Close()
		select {
		case <-handlerErr:
		case <-time.After(10 * time.Second):
			t.Fatal("handler still writing after the reader closed")
		}
	})
	t.Run("context deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		rc, err := cli.OpenStream(ctx, srv.Addr(), "endless", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		_, err = io.Copy(io.Discard, rc)
		if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want ErrTimeout", err)
		}
		select {
		case <-handlerErr:
		case <-time.After(10 * time.Second):
			t.Fatal("handler still writing after the reader's deadline")
		}
	})
}

// Transfers that end cleanly (including handler errors and early replies) leave their
// connection for the next transfer; an idle connection the server dropped is not reused.
func TestStreamConnectionReuse(t *testing.T) {
	srv := newNode(t, Config{StreamIdleTimeout: 2 * time.Second})
	cli := newNode(t, Config{})
	srv.HandleStream("put", func(_ context.Context, _ []byte, body io.Reader) ([]byte, error) {
		n, err := io.Copy(io.Discard, body)
		return fmt.Append(nil, n), err
	})
	srv.HandleStream("reject", func(context.Context, []byte, io.Reader) ([]byte, error) {
		return nil, codedErr{"Rejected"}
	})
	srv.HandleDownload("get", func(_ context.Context, h []byte, w io.Writer) error {
		if len(h) > 0 {
			return codedErr{"NoSuchKey"}
		}
		_, err := w.Write(make([]byte, 100<<10))
		return err
	})
	ctx := context.Background()
	for i := range 10 {
		resp, err := cli.CallStream(ctx, srv.Addr(), "put", nil, bytes.NewReader(make([]byte, 200<<10)))
		if err != nil || string(resp) != fmt.Sprint(200<<10) {
			t.Fatalf("upload %d: %s %v", i, resp, err)
		}
		if _, err := cli.CallStream(ctx, srv.Addr(), "reject", nil, newPattern(1, 8<<20)); err == nil {
			t.Fatalf("reject %d: no error", i)
		}
		rc, err := cli.OpenStream(ctx, srv.Addr(), "get", nil)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, rc); err != nil || n != 100<<10 {
			t.Fatalf("download %d: %d %v", i, n, err)
		}
		_ = rc.Close()
		if _, err := cli.OpenStream(ctx, srv.Addr(), "get", []byte("missing")); err == nil {
			t.Fatalf("download of a missing key %d: no error", i)
		}
	}
	if n := cli.dials.Load(); n != 1 {
		t.Fatalf("40 sequential transfers dialled %d connections, want 1 reused", n)
	}
	// The server drops the idle connection after its StreamIdleTimeout; the client notices and
	// the next transfer dials afresh.
	testutil.WaitUntil(t, 10*time.Second, "the server to drop the idle connection", func() bool { return cli.numConns() == 0 })
	if _, err := cli.CallStream(ctx, srv.Addr(), "put", nil, bytes.NewReader([]byte("after idle"))); err != nil {
		t.Fatalf("upload after the idle connection was dropped: %v", err)
	}
}

// A transfer on a pooled connection that the server has just closed (the client not having
// noticed yet) is retried on a fresh connection.
func TestStreamStaleIdleConnection(t *testing.T) {
	srv := newNode(t, Config{})
	cli := newNode(t, Config{})
	srv.HandleStream("put", func(_ context.Context, _ []byte, body io.Reader) ([]byte, error) {
		_, err := io.Copy(io.Discard, body)
		return []byte("ok"), err
	})
	ctx := context.Background()
	if _, err := cli.CallStream(ctx, srv.Addr(), "put", nil, bytes.NewReader(nil)); err != nil {
		t.Fatal(err)
	}
	// Close the server's side of every connection behind the client's back.
	srv.mu.Lock()
	var conns []*trackedConn
	for c := range srv.conns {
		conns = append(conns, c)
	}
	srv.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
	for i := range 5 {
		if resp, err := cli.CallStream(ctx, srv.Addr(), "put", nil, bytes.NewReader([]byte("x"))); err != nil || string(resp) != "ok" {
			t.Fatalf("upload %d after the server dropped its connections: %q %v", i, resp, err)
		}
	}
}

// burst runs n concurrent uploads whose handlers all wait for each other (so n connections
// are in use at once), and fails the test on any error.
func burst(t *testing.T, cli, srv *Transport, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	errs := make(chan error, n)
	for range n {
		go func() {
			resp, err := cli.CallStream(ctx, srv.Addr(), "barrier", nil, bytes.NewReader(make([]byte, 10<<10)))
			if err == nil && string(resp) != "ok" {
				err = fmt.Errorf("reply %q", resp)
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// barrierHandler reads the body, then waits until n handlers are running at once.
func barrierHandler(n int) StreamHandler {
	var mu sync.Mutex
	arrived := 0
	gate := make(chan struct{})
	return func(ctx context.Context, _ []byte, body io.Reader) ([]byte, error) {
		if _, err := io.Copy(io.Discard, body); err != nil {
			return nil, err
		}
		mu.Lock()
		arrived++
		g := gate
		if arrived == n {
			close(gate)
			arrived, gate = 0, make(chan struct{})
		}
		mu.Unlock()
		select {
		case <-g:
			return []byte("ok"), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (t *Transport) numIdle() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, l := range t.idle {
		n += len(l)
	}
	return n
}

// A burst of concurrent transfers dials one connection per transfer in flight; the bursts after
// it reuse those connections (no dial, no accept). When the burst is over, the idle connections
// expire and close on both sides, and nothing stays behind (goleak in TestMain checks the
// goroutines).
func TestStreamBurstReusesConnections(t *testing.T) {
	const n = 24
	srv := newNode(t, Config{})
	// Idle connections expire after 5s: long enough for each burst to start within it on a
	// loaded machine, short enough to wait for.
	cli := newNode(t, Config{StreamIdleTimeout: 10 * time.Second})
	srv.HandleStream("barrier", barrierHandler(n))
	burst(t, cli, srv, n)
	if d := cli.dials.Load(); d != n {
		t.Fatalf("first burst of %d transfers dialled %d connections, want %d", n, d, n)
	}
	if idle := cli.numIdle(); idle != n {
		t.Fatalf("%d idle connections after the burst, want %d", idle, n)
	}
	for round := range 5 {
		burst(t, cli, srv, n)
		if d := cli.dials.Load(); d != n {
			t.Fatalf("burst %d dialled again: %d dials in all, want %d", round+2, d, n)
		}
	}
	if c := cli.numConns(); c != n {
		t.Fatalf("client has %d connections open, want %d", c, n)
	}
	// Unused, they expire after StreamIdleTimeout/2 (5s): closed and off the list, on both sides.
	testutil.WaitUntil(t, 20*time.Second, "idle connections to expire", func() bool {
		return cli.numConns() == 0 && cli.numIdle() == 0 && srv.numConns() == 0
	})
	cli.mu.Lock()
	lists := len(cli.idle)
	cli.mu.Unlock()
	if lists != 0 {
		t.Fatalf("%d idle lists left after expiry", lists)
	}
	// And the next transfer dials afresh.
	burst(t, cli, srv, n)
	if d := cli.dials.Load(); d != 2*n {
		t.Fatalf("burst after expiry: %d dials in all, want %d", d, 2*n)
	}
}

// The idle list is bounded: a burst wider than MaxIdleStreams keeps that many and closes the
// rest.
func TestStreamIdleBound(t *testing.T) {
	const n, keep = 12, 5
	srv := newNode(t, Config{})
	cli := newNode(t, Config{MaxIdleStreams: keep})
	srv.HandleStream("barrier", barrierHandler(n))
	burst(t, cli, srv, n)
	if idle := cli.numIdle(); idle != keep {
		t.Fatalf("%d idle connections, want the bound %d", idle, keep)
	}
	testutil.WaitUntil(t, 10*time.Second, "the connections over the bound to close", func() bool {
		return cli.numConns() == keep && srv.numConns() == keep
	})
	burst(t, cli, srv, n)
	if d := cli.dials.Load(); d != n+(n-keep) {
		t.Fatalf("second burst: %d dials in all, want %d (%d reused)", d, n+(n-keep), keep)
	}
}

// writeCounter counts the writes to connections (one MetricBytesSent report per write).
type writeCounter struct {
	Metrics
	n atomic.Int64
}

func (w *writeCounter) Counter(name string, d float64) {
	if name == MetricBytesSent {
		w.n.Add(1)
	}
}

// A body of one chunk goes out in one write (open, data and end frames together) on a pooled
// connection; a longer one streams frame by frame. A body whose reader fails with
// io.ErrUnexpectedEOF is a failed body, not a short one: the handler sees the abort.
func TestStreamSmallBodyOneWrite(t *testing.T) {
	wc := &writeCounter{Metrics: newRecMetrics(t)}
	srv := newNode(t, Config{})
	cli := newNode(t, Config{Metrics: wc})
	got := make(chan error, 1)
	srv.HandleStream("put", func(_ context.Context, _ []byte, body io.Reader) ([]byte, error) {
		n, err := io.Copy(io.Discard, body)
		got <- err
		return fmt.Append(nil, n), err
	})
	ctx := context.Background()
	upload := func(body io.Reader) (string, error) {
		resp, err := cli.CallStream(ctx, srv.Addr(), "put", []byte("h"), body)
		if herr := <-got; err == nil && herr != nil {
			t.Fatalf("handler: %v", herr)
		}
		return string(resp), err
	}
	if _, err := upload(bytes.NewReader(nil)); err != nil { // dials the connection
		t.Fatal(err)
	}
	for _, c := range []struct {
		size   int
		writes int64
	}{{0, 1}, {4 << 10, 1}, {streamChunkSize, 3}, {streamChunkSize + 1, 4}, {3*streamChunkSize + 5, 6}} {
		before := wc.n.Load()
		resp, err := upload(newPattern(1, int64(c.size)))
		if err != nil || resp != fmt.Sprint(c.size) {
			t.Fatalf("upload of %d bytes: %q %v", c.size, resp, err)
		}
		if w := wc.n.Load() - before; w != c.writes {
			t.Errorf("upload of %d bytes took %d writes, want %d", c.size, w, c.writes)
		}
	}
	if d := cli.dials.Load(); d != 1 {
		t.Fatalf("%d dials, want 1", d)
	}
	_, err := cli.CallStream(ctx, srv.Addr(), "put", nil, &failingReader{n: 1000, err: io.ErrUnexpectedEOF})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("caller: err = %v, want the body's error", err)
	}
	if herr := <-got; !errors.Is(herr, ErrStreamAborted) {
		t.Fatalf("handler: err = %v, want ErrStreamAborted", herr)
	}
}
