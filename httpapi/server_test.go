package httpapi

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serve runs srv on a loopback port for the test and returns its address.
func serve(t *testing.T, srv *http.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// sendHead opens a connection and sends a PUT's headers announcing a body of size bytes,
// followed by the first bytes of that body.
func sendHead(t *testing.T, addr string, size int, first string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "PUT /x HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n%s", size, first)
	return c
}

// readResponse reads one response from c within limit; it fails the test if none comes.
func readResponse(t *testing.T, c net.Conn, limit time.Duration) (*http.Response, time.Duration) {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(limit))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no response within %s: %v", limit, err)
	}
	resp.Body.Close()
	return resp, time.Since(start)
}

// TestStreamingServerBoundsBodyTheHandlerNeverReads is issue 22's slow body: a handler that
// answers without reading the body (S3: NoSuchBucket, AccessDenied) had net/http drain the
// body before writing the response, with no deadline, so a client that sent the headers and
// then stalled held the connection forever and never got its answer.
func TestStreamingServerBoundsBodyTheHandlerNeverReads(t *testing.T) {
	t.Parallel()
	const read = 300 * time.Millisecond
	addr := serve(t, NewStreamingServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such bucket", http.StatusNotFound)
	}), Timeouts{Read: read, Write: read}))
	c := sendHead(t, addr, 100, "0123456789")
	resp, took := readResponse(t, c, 10*read)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("status %d", resp.StatusCode)
	}
	t.Logf("answered after %s", took)
	// The rest of the body never came, so the connection cannot be reused: it is closed.
	_ = c.SetReadDeadline(time.Now().Add(10 * read))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("connection not closed after the response: %v", err)
	}
}

// bodyResult is what a test handler saw reading the body.
type bodyResult struct {
	n    int
	err  error
	took time.Duration
}

// readingServer serves a handler that reads the whole body and reports what happened.
func readingServer(t *testing.T, to Timeouts) (string, chan bodyResult) {
	results := make(chan bodyResult, 1)
	addr := serve(t, NewStreamingServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		b, err := io.ReadAll(r.Body)
		results <- bodyResult{len(b), err, time.Since(start)}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%d", len(b))
	}), to))
	return addr, results
}

func waitBody(t *testing.T, results chan bodyResult, limit time.Duration) bodyResult {
	t.Helper()
	select {
	case r := <-results:
		return r
	case <-time.After(limit):
		t.Fatalf("handler still reading the body after %s", limit)
	}
	return bodyResult{}
}

// isTimeout reports a network timeout, as the S3 layer tests it to answer RequestTimeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestStreamingServerCutsOffStalledBody: a client that stops sending mid-body is cut off about
// one read timeout after its last byte, with a timeout error the handler can map.
func TestStreamingServerCutsOffStalledBody(t *testing.T) {
	t.Parallel()
	const read = 300 * time.Millisecond
	addr, results := readingServer(t, Timeouts{Read: read, Write: read})
	sendHead(t, addr, 1000, "partial")
	r := waitBody(t, results, 20*read)
	if !isTimeout(r.err) || r.n != len("partial") {
		t.Fatalf("handler read %d bytes, error %v; want 7 and a timeout", r.n, r.err)
	}
	if r.took < read {
		t.Fatalf("cut off after %s, before the read timeout %s", r.took, read)
	}
}

// TestStreamingServerCutsOffTricklingBody: a client that keeps sending a byte now and then, so
// that no single read ever stalls for a whole read timeout, is cut off all the same.
func TestStreamingServerCutsOffTricklingBody(t *testing.T) {
	t.Parallel()
	const read = 400 * time.Millisecond
	addr, results := readingServer(t, Timeouts{Read: read, Write: read})
	c := sendHead(t, addr, 1<<20, "x")
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(read / 4):
				if _, err := c.Write([]byte("x")); err != nil {
					return
				}
			}
		}
	}()
	r := waitBody(t, results, 20*read)
	if !errors.Is(r.err, ErrSlowBody) || !isTimeout(r.err) {
		t.Fatalf("handler read %d bytes, error %v; want ErrSlowBody, a timeout", r.n, r.err)
	}
	t.Logf("cut off after %s and %d bytes", r.took, r.n)
	resp, _ := readResponse(t, c, 10*read)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// TestStreamingServerDoesNotCapLongTransfers: a body and a response that each take many times
// the timeouts, but keep moving, go through whole.
func TestStreamingServerDoesNotCapLongTransfers(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	const chunk, chunks = 64 << 10, 20 // one chunk every timeout/3: 10 timeouts in all
	addr, results := readingServer(t, Timeouts{Read: timeout, Write: timeout})
	pr, pw := io.Pipe()
	go func() {
		for i := 0; i < chunks; i++ {
			time.Sleep(timeout / 3)
			if _, err := pw.Write([]byte(strings.Repeat("y", chunk))); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPut, "http://"+addr+"/x", pr)
	req.ContentLength = chunk * chunks
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	r := waitBody(t, results, 5*time.Second) // already sent: the handler reports before answering
	if r.err != nil || resp.StatusCode != http.StatusOK || string(b) != fmt.Sprint(chunk*chunks) {
		t.Fatalf("upload: handler %d bytes err %v; answer %d %q", r.n, r.err, resp.StatusCode, b)
	}
	if r.took < 3*timeout {
		t.Fatalf("upload took %s: not long enough to prove anything", r.took)
	}

	// And a slow but steady download.
	addr = serve(t, NewStreamingServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < chunks; i++ {
			time.Sleep(timeout / 3)
			if _, err := w.Write([]byte(strings.Repeat("z", chunk))); err != nil {
				return
			}
		}
	}), Timeouts{Read: timeout, Write: timeout}))
	start := time.Now()
	resp, err = http.Get("http://" + addr + "/x")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != chunk*chunks {
		t.Fatalf("download: %d bytes, %v after %s", n, err, time.Since(start))
	}
}

// TestStreamingServerCutsOffStalledReader: a client that stops reading the response makes the
// handler's writes fail about one write timeout later.
func TestStreamingServerCutsOffStalledReader(t *testing.T) {
	t.Parallel()
	const write = 300 * time.Millisecond
	done := make(chan error, 1)
	addr := serve(t, NewStreamingServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 64<<10)
		for {
			if _, err := w.Write(buf); err != nil {
				done <- err
				return
			}
		}
	}), Timeouts{Read: write, Write: write}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /x HTTP/1.1\r\nHost: test\r\n\r\n")
	select {
	case err := <-done:
		if !isTimeout(err) {
			t.Fatalf("write error %v, want a timeout", err)
		}
	case <-time.After(30 * write):
		t.Fatal("writes to a client that reads nothing never failed")
	}
}

// TestServerBoundsWholeRequest: the admin listener's server bounds headers, body and response
// as a whole.
func TestServerBoundsWholeRequest(t *testing.T) {
	t.Parallel()
	const read = 300 * time.Millisecond
	addr := serve(t, NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	}), Timeouts{Read: read, Write: 10 * read}))
	c := sendHead(t, addr, 100, "0123456789")
	resp, took := readResponse(t, c, 20*read)
	if resp.StatusCode != http.StatusBadRequest || took > 10*read {
		t.Fatalf("stalled admin body: status %d after %s", resp.StatusCode, took)
	}
	// Headers that never finish: the connection is closed.
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	fmt.Fprintf(c2, "GET / HTTP/1.1\r\nHost: te")
	_ = c2.SetReadDeadline(time.Now().Add(20 * read))
	if _, err := c2.Read(make([]byte, 512)); err == nil || isTimeout(err) {
		t.Fatalf("unfinished headers: %v, want the server to close the connection", err)
	}
}
