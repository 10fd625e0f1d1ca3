package transport

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
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

// trailerBody is an upload body with a trailer: by default the SHA-256 of the bytes it yielded
// (computed while sending and known only at the end, as the dataplane's digests are), or fixed
// when set. It fails the test if CallStream asks for the trailer before the body's end or twice.
type trailerBody struct {
	t     testing.TB
	r     io.Reader
	h     hash.Hash
	fixed []byte // when non-nil, the trailer instead of the digest
	eof   bool
	calls int
}

func newTrailerBody(t testing.TB, r io.Reader, fixed []byte) *trailerBody {
	return &trailerBody{t: t, r: r, h: sha256.New(), fixed: fixed}
}

func (b *trailerBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.h.Write(p[:n])
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *trailerBody) Trailer() []byte {
	b.calls++
	if !b.eof || b.calls > 1 {
		b.t.Errorf("Trailer call %d, after io.EOF: %v; want one call after io.EOF", b.calls, b.eof)
	}
	if b.fixed != nil {
		return b.fixed
	}
	return b.h.Sum(nil)
}

var _ TrailerReader = (*trailerBody)(nil)

// trailerHandler reads the body (its size is the header) and replies with the number of bytes,
// their SHA-256, the trailer's SHA-256 and length, and whether it is nil. It checks that UploadTrailer is nil until
// the body returned io.EOF (even when every byte was read) and returns a copy.
func trailerHandler(_ context.Context, header []byte, body io.Reader) ([]byte, error) {
	var size int
	if _, err := fmt.Sscan(string(header), &size); err != nil {
		return nil, err
	}
	h := sha256.New()
	if _, err := io.CopyN(h, body, int64(size)); err != nil {
		return nil, err
	}
	if tr := UploadTrailer(body); tr != nil {
		return nil, fmt.Errorf("trailer %x before io.EOF", tr)
	}
	if n, err := body.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		return nil, fmt.Errorf("after %d bytes: read %d, %v; want io.EOF", size, n, err)
	}
	tr := UploadTrailer(body)
	if len(tr) > 0 {
		tr[0] ^= 0xff
		if again := UploadTrailer(body); bytes.Equal(again, tr) {
			return nil, errors.New("UploadTrailer returned the body's own slice, not a copy")
		}
		tr[0] ^= 0xff
	}
	if UploadTrailer(bytes.NewReader(nil)) != nil {
		return nil, errors.New("UploadTrailer of a reader that is not an upload body is not nil")
	}
	return fmt.Appendf(nil, "%d|%x|%s|%t", size, h.Sum(nil), trailerSum(tr), tr == nil), nil
}

// trailerSum is a short stand-in for a trailer in messages.
func trailerSum(tr []byte) string {
	return fmt.Sprintf("%d bytes %x", len(tr), sha256.Sum256(tr))
}

// A TrailerReader's trailer reaches the handler through UploadTrailer, on the one-write path
// and when the body streams; a body that is not one, or an empty trailer, gives nil. Every
// transfer runs on the same reused connection and sees its own trailer, never the one before
// (also after a handler replied early, while the trailer may have been in flight).
func TestStreamTrailer(t *testing.T) {
	for _, withTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%t", withTLS), func(t *testing.T) {
			var scfg, ccfg Config
			if withTLS {
				pki := newTestPKI(t)
				scfg.TLS, scfg.ClientTLS = pki.mutualTLS(t, "server")
				ccfg.TLS, ccfg.ClientTLS = pki.mutualTLS(t, "client")
			}
			srv := newNode(t, scfg)
			cli := newNode(t, ccfg)
			srv.HandleStream("put", trailerHandler)
			srv.HandleStream("reject", func(context.Context, []byte, io.Reader) ([]byte, error) {
				return nil, codedErr{"Rejected"}
			})
			largest := bytes.Repeat([]byte{0xa5}, MaxTrailerSize)
			const (
				plain  = iota // a bytes.Reader: no trailer
				digest        // the SHA-256 of the body
				fixed         // the case's trailer
			)
			for _, c := range []struct {
				name    string
				method  string
				size    int
				kind    int
				trailer []byte
			}{
				{name: "one chunk, digest", method: "put", size: 4 << 10, kind: digest},
				{name: "one chunk, no trailer after one", method: "put", size: 4 << 10, kind: plain},
				{name: "empty body, digest", method: "put", size: 0, kind: digest},
				{name: "exactly one chunk, digest", method: "put", size: streamChunkSize, kind: digest},
				{name: "300 KiB, digest", method: "put", size: 300 << 10, kind: digest},
				{name: "300 KiB, no trailer after one", method: "put", size: 300 << 10, kind: plain},
				{name: "one chunk, empty trailer", method: "put", size: 1000, kind: fixed, trailer: []byte{}},
				{name: "300 KiB, largest trailer", method: "put", size: 300 << 10, kind: fixed, trailer: largest},
				{name: "one chunk, other digest after the largest", method: "put", size: 10, kind: digest},
				{name: "early reply to one chunk", method: "reject", size: 4 << 10, kind: digest},
				{name: "one chunk, digest after an early reply to one", method: "put", size: 3000, kind: digest},
				{name: "early reply to 300 KiB", method: "reject", size: 300 << 10, kind: digest},
				{name: "300 KiB, digest after an early reply", method: "put", size: 300 << 10, kind: digest},
				{name: "early reply to 8 MiB", method: "reject", size: 8 << 20, kind: digest},
				{name: "one chunk, digest after an early reply", method: "put", size: 5000, kind: digest},
			} {
				t.Run(c.name, func(t *testing.T) {
					data := make([]byte, c.size)
					for i := range data {
						data[i] = byte(i*7 + c.size)
					}
					sum := sha256.Sum256(data)
					var body io.Reader = bytes.NewReader(data)
					want := fmt.Sprintf("%d|%x|%s|true", c.size, sum, trailerSum(nil))
					switch c.kind {
					case digest:
						body = newTrailerBody(t, body, nil)
						want = fmt.Sprintf("%d|%x|%s|false", c.size, sum, trailerSum(sum[:]))
					case fixed:
						body = newTrailerBody(t, body, c.trailer)
						want = fmt.Sprintf("%d|%x|%s|%t", c.size, sum, trailerSum(c.trailer), len(c.trailer) == 0)
					}
					resp, err := cli.CallStream(context.Background(), srv.Addr(), c.method, fmt.Append(nil, c.size), body)
					if c.method == "reject" {
						var re *RemoteError
						if !errors.As(err, &re) || re.Code != "Rejected" {
							t.Fatalf("err = %v, want RemoteError Rejected", err)
						}
						return
					}
					if err != nil || string(resp) != want {
						t.Fatalf("reply %q, %v; want %q", resp, err, want)
					}
				})
			}
			if d := cli.dials.Load(); d != 1 {
				t.Fatalf("%d dials, want every transfer on one reused connection", d)
			}
		})
	}
}

// A trailer over MaxTrailerSize fails the call before the end frame goes out: the handler sees
// the sender abort, and the connection, left at a frame boundary, carries the next transfer.
func TestStreamTrailerTooLong(t *testing.T) {
	srv, cli, handlerErr := discardPair(t)
	ctx := context.Background()
	for _, size := range []int{4 << 10, 300 << 10} {
		t.Run(fmt.Sprint("body=", size), func(t *testing.T) {
			body := newTrailerBody(t, bytes.NewReader(make([]byte, size)), make([]byte, MaxTrailerSize+1))
			_, err := cli.CallStream(ctx, srv.Addr(), "put", nil, body)
			herr := handlerResult(t, handlerErr)
			if !errors.Is(err, ErrFrameTooLarge) {
				t.Fatalf("caller: err = %v, want ErrFrameTooLarge", err)
			}
			if !errors.Is(herr, ErrStreamAborted) {
				t.Fatalf("handler: err = %v, want ErrStreamAborted", herr)
			}
			ok := newTrailerBody(t, bytes.NewReader(make([]byte, size)), []byte("fits"))
			resp, err := cli.CallStream(ctx, srv.Addr(), "put", nil, ok)
			if herr := handlerResult(t, handlerErr); err != nil || herr != nil || string(resp) != "ok" {
				t.Fatalf("next upload: %q %v; handler: %v", resp, err, herr)
			}
		})
	}
	if d := cli.dials.Load(); d != 1 {
		t.Fatalf("%d dials, want 1 (an aborted transfer leaves its connection reusable)", d)
	}
}

// The receiver bounds the end frame's payload: a longer one is a bad frame.
func TestStreamTrailerBadFrame(t *testing.T) {
	srv, cli, handlerErr := discardPair(t)
	end := encodeBytes(frameEnd, 0, make([]byte, MaxTrailerSize+1))
	sc, stop, err := cli.openStream(context.Background(), srv.Addr(), "put", frameUploadOpen, nil, end)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		stop()
		_ = sc.conn.Close()
	}()
	if herr := handlerResult(t, handlerErr); !errors.Is(herr, ErrConnLost) || !errors.Is(herr, ErrBadFrame) {
		t.Fatalf("handler: err = %v, want ErrConnLost and ErrBadFrame", herr)
	}
}

// discardPair starts a server whose "put" reads the body to its end, sends the body's error on
// handlerErr and replies "ok" (or that error), and a client.
func discardPair(t *testing.T) (srv, cli *Transport, handlerErr <-chan error) {
	srv = newNode(t, Config{})
	cli = newNode(t, Config{})
	errs := make(chan error, 1)
	srv.HandleStream("put", func(_ context.Context, _ []byte, body io.Reader) ([]byte, error) {
		_, err := io.Copy(io.Discard, body)
		errs <- err
		return []byte("ok"), err
	})
	return srv, cli, errs
}

// handlerResult returns what a handler sent on ch, failing the test if it sends nothing
// within 10s.
func handlerResult(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the handler did not finish")
		return nil
	}
}
