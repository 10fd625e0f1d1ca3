package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nebulaio/nebulaio/internal/testutil"
)

type codedErr struct{ code string }

func (e codedErr) Error() string   { return "coded failure " + e.code }
func (e codedErr) RPCCode() string { return e.code }

func TestCallRoundTrip(t *testing.T) {
	srv := newNode(t, Config{})
	cli := newNode(t, Config{})
	srv.Handle("echo", echo)
	srv.Handle("fail", func(context.Context, []byte) ([]byte, error) { return nil, errors.New("plain failure") })
	srv.Handle("coded", func(context.Context, []byte) ([]byte, error) {
		return nil, fmt.Errorf("wrapped: %w", codedErr{"NotLeader"})
	})
	srv.Handle("big", func(_ context.Context, req []byte) ([]byte, error) { return make([]byte, 2<<20), nil })

	tests := []struct {
		name     string
		method   string
		req      []byte
		want     []byte
		wantLen  int
		wantErr  error
		wantCode string
	}{
		{name: "echo", method: "echo", req: []byte("hello"), want: []byte("hello")},
		{name: "empty", method: "echo", req: nil, want: []byte{}},
		{name: "large request", method: "echo", req: bytes.Repeat([]byte{7}, 1<<20), want: bytes.Repeat([]byte{7}, 1<<20)},
		{name: "large reply", method: "big", wantLen: 2 << 20},
		{name: "handler error", method: "fail", wantCode: "", wantErr: &RemoteError{}},
		{name: "coded error", method: "coded", wantCode: "NotLeader", wantErr: &RemoteError{}},
		{name: "no handler", method: "nope", wantErr: ErrNoHandler},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := cli.Call(context.Background(), srv.Addr(), tc.method, tc.req)
			switch want := tc.wantErr.(type) {
			case nil:
				if err != nil {
					t.Fatalf("Call: %v", err)
				}
				if tc.want != nil && !bytes.Equal(resp, tc.want) {
					t.Fatalf("reply %d bytes, want %d", len(resp), len(tc.want))
				}
				if tc.wantLen != 0 && len(resp) != tc.wantLen {
					t.Fatalf("reply %d bytes, want %d", len(resp), tc.wantLen)
				}
			case *RemoteError:
				var re *RemoteError
				if !errors.As(err, &re) {
					t.Fatalf("err = %v, want *RemoteError", err)
				}
				if re.Code != tc.wantCode {
					t.Fatalf("code %q, want %q", re.Code, tc.wantCode)
				}
			default:
				if !errors.Is(err, want) {
					t.Fatalf("err = %v, want %v", err, want)
				}
			}
		})
	}
}

func TestCallFrameTooLarge(t *testing.T) {
	srv := newNode(t, Config{MaxFrameSize: 64 << 10})
	cli := newNode(t, Config{MaxFrameSize: 64 << 10})
	srv.Handle("echo", echo)
	srv.Handle("big", func(context.Context, []byte) ([]byte, error) { return make([]byte, 128<<10), nil })
	if _, err := cli.Call(context.Background(), srv.Addr(), "echo", make([]byte, 128<<10)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversized request: err = %v, want ErrFrameTooLarge", err)
	}
	var re *RemoteError
	if _, err := cli.Call(context.Background(), srv.Addr(), "big", nil); !errors.As(err, &re) || re.Code != "transport.reply_too_large" {
		t.Fatalf("oversized reply: err = %v, want RemoteError transport.reply_too_large", err)
	}
	if _, err := cli.Call(context.Background(), srv.Addr(), "echo", []byte("still fine")); err != nil {
		t.Fatalf("call after oversized ones: %v", err)
	}
}

// Hundreds of concurrent calls share the small pool: no connection per request.
func TestCallConcurrentFewConnections(t *testing.T) {
	srv := newNode(t, Config{})
	cli := newNode(t, Config{PoolSize: 2})
	var inHandler, maxIn atomic.Int64
	srv.Handle("echo", func(ctx context.Context, req []byte) ([]byte, error) {
		n := inHandler.Add(1)
		defer inHandler.Add(-1)
		for {
			m := maxIn.Load()
			if n <= m || maxIn.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(time.Millisecond) // simulated work, so calls overlap on the wire
		return req, nil
	})
	const calls = 500
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := []byte(fmt.Sprintf("req-%d", i))
			resp, err := cli.Call(context.Background(), srv.Addr(), "echo", req)
			if err == nil && !bytes.Equal(resp, req) {
				err = fmt.Errorf("call %d got reply %q", i, resp)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := cli.numConns(); n < 1 || n > 2 {
		t.Fatalf("client holds %d connections for %d calls, want 1..2", n, calls)
	}
	if n := srv.numConns(); n > 2 {
		t.Fatalf("server accepted %d connections for %d calls, want <= 2", n, calls)
	}
	if maxIn.Load() < 10 {
		t.Fatalf("at most %d calls ran at once: requests are not pipelined", maxIn.Load())
	}
}

// A slow call does not hold back later ones on the same connection: replies come out of order.
func TestCallOutOfOrder(t *testing.T) {
	srv := newNode(t, Config{})
	cli := newNode(t, Config{PoolSize: 1})
	release := make(chan struct{})
	srv.Handle("slow", func(ctx context.Context, req []byte) ([]byte, error) {
		select {
		case <-release:
			return []byte("slow done"), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	srv.Handle("echo", echo)
	slow := make(chan error, 1)
	go func() {
		resp, err := cli.Call(context.Background(), srv.Addr(), "slow", nil)
		if err == nil && string(resp) != "slow done" {
			err = fmt.Errorf("slow reply %q", resp)
		}
		slow <- err
	}()
	for i := range 20 {
		resp, err := cli.Call(context.Background(), srv.Addr(), "echo", []byte{byte(i)})
		if err != nil || len(resp) != 1 || resp[0] != byte(i) {
			t.Fatalf("fast call %d: %v %v", i, resp, err)
		}
	}
	select {
	case err := <-slow:
		t.Fatalf("slow call finished before release: %v", err)
	default:
	}
	close(release)
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
	if n := cli.numConns(); n != 1 {
		t.Fatalf("client holds %d connections, want 1", n)
	}
}

func TestCallTimeout(t *testing.T) {
	srv := newNode(t, Config{})
	cli := newNode(t, Config{CallTimeout: 150 * time.Millisecond})
	handlerDone := make(chan error, 2)
	srv.Handle("block", func(ctx context.Context, req []byte) ([]byte, error) {
		<-ctx.Done() // the caller's deadline travels with the request; a cancel frame follows
		handlerDone <- ctx.Err()
		return nil, ctx.Err()
	})
	srv.Handle("echo", echo)

	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		min  time.Duration
	}{
		{name: "ctx deadline", ctx: func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 100*time.Millisecond)
		}, min: 100 * time.Millisecond},
		{name: "default CallTimeout", ctx: func() (context.Context, context.CancelFunc) {
			return context.Background(), func() {}
		}, min: 150 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			ctx, cancel := tc.ctx()
			defer cancel()
			_, err := cli.Call(ctx, srv.Addr(), "block", nil)
			if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want ErrTimeout and DeadlineExceeded", err)
			}
			if el := time.Since(start); el < tc.min || el > tc.min+5*time.Second {
				t.Fatalf("returned after %v, want about %v", el, tc.min)
			}
			select {
			case <-handlerDone:
			case <-time.After(5 * time.Second):
				t.Fatal("handler context was not cancelled after the caller timed out")
			}
		})
	}
	// The connection survived the timeouts.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Call(ctx, srv.Addr(), "echo", []byte("x")); err != nil {
		t.Fatalf("call after timeouts: %v", err)
	}

	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-time.After(20 * time.Millisecond); cancel() }()
		_, err := cli.Call(ctx, srv.Addr(), "block", nil)
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		<-handlerDone
	})
}

// A peer that dies mid-call fails the pending call with ErrConnLost; later calls are
// ErrUnreachable, and calls to other peers are not held up meanwhile.
func TestPeerDiesMidCall(t *testing.T) {
	srv := newNode(t, Config{})
	other := newNode(t, Config{})
	cli := newNode(t, Config{})
	entered := make(chan struct{})
	srv.Handle("block", func(ctx context.Context, req []byte) ([]byte, error) {
		close(entered)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	other.Handle("echo", echo)
	res := make(chan error, 1)
	go func() {
		_, err := cli.Call(context.Background(), srv.Addr(), "block", nil)
		res <- err
	}()
	<-entered
	addr := srv.Addr()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-res:
		if !errors.Is(err, ErrConnLost) {
			t.Fatalf("pending call: err = %v, want ErrConnLost", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("pending call not failed after the peer died")
	}
	// The client notices the other pooled connection closing too (EOF); then calls fail to dial.
	testutil.WaitUntil(t, 5*time.Second, "pool to drop the dead peer's connections", func() bool { return cli.numConns() == 0 })
	if _, err := cli.Call(context.Background(), addr, "block", nil); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("call to dead peer: err = %v, want ErrUnreachable", err)
	}
	if _, err := cli.Call(context.Background(), other.Addr(), "echo", []byte("hi")); err != nil {
		t.Fatalf("call to live peer: %v", err)
	}
}

// A peer that accepts TCP but never answers (a black hole) costs each caller its own deadline and
// never blocks calls to other peers.
func TestSlowPeerDoesNotBlockOthers(t *testing.T) {
	hole, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := hole.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // never read, never answered
			mu.Unlock()
		}
	}()
	defer func() {
		hole.Close()
		<-done
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	}()
	good := newNode(t, Config{})
	good.Handle("echo", echo)
	cli := newNode(t, Config{})

	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			if _, err := cli.Call(ctx, hole.Addr().String(), "echo", nil); !errors.Is(err, ErrTimeout) {
				t.Errorf("call to black hole: err = %v, want ErrTimeout", err)
			}
		}()
	}
	start := time.Now()
	for i := range 50 {
		if _, err := cli.Call(context.Background(), good.Addr(), "echo", []byte{byte(i)}); err != nil {
			t.Fatalf("call to good peer: %v", err)
		}
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("50 calls to the good peer took %v while another peer hung", el)
	}
	wg.Wait()
}

func TestCloseFailsPendingCalls(t *testing.T) {
	srv := newNode(t, Config{})
	cli := newNode(t, Config{})
	entered := make(chan struct{}, 10)
	srv.Handle("block", func(ctx context.Context, req []byte) ([]byte, error) {
		entered <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	})
	const n = 10
	res := make(chan error, n)
	for range n {
		go func() {
			_, err := cli.Call(context.Background(), srv.Addr(), "block", nil)
			res <- err
		}()
	}
	for range n {
		<-entered
	}
	if err := cli.Close(); err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := <-res; !errors.Is(err, ErrClosed) {
			t.Fatalf("pending call after Close: err = %v, want ErrClosed", err)
		}
	}
	if _, err := cli.Call(context.Background(), srv.Addr(), "block", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after Close: err = %v, want ErrClosed", err)
	}
	if cli.numConns() != 0 {
		t.Fatalf("%d connections left open after Close", cli.numConns())
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero", Config{}, true},
		{"small frame", Config{MaxFrameSize: 10}, false},
		{"negative timeout", Config{CallTimeout: -1}, false},
		{"pool too big", Config{PoolSize: 1000}, false},
		{"long advertise", Config{AdvertiseAddr: string(make([]byte, 300))}, false},
		{"server TLS without client TLS", Config{TLS: &tls.Config{}}, false},
		{"client TLS only", Config{ClientTLS: &tls.Config{}}, true},
	}
	for _, tc := range tests {
		if err := tc.cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestHandleRegistration(t *testing.T) {
	tr := newNode(t, Config{})
	tr.Handle("m", echo)
	tr.HandleStream("m", func(context.Context, []byte, io.Reader) ([]byte, error) { return nil, nil })
	tr.HandleDownload("m", func(context.Context, []byte, io.Writer) error { return nil })
	tests := []struct {
		name string
		f    func()
	}{
		{"duplicate", func() { tr.Handle("m", echo) }},
		{"duplicate stream", func() {
			tr.HandleStream("m", func(context.Context, []byte, io.Reader) ([]byte, error) { return nil, nil })
		}},
		{"duplicate download", func() { tr.HandleDownload("m", func(context.Context, []byte, io.Writer) error { return nil }) }},
		{"nil handler", func() { tr.Handle("n", nil) }},
		{"empty method", func() { tr.Handle("", echo) }},
		{"long method", func() { tr.Handle(string(make([]byte, 256)), echo) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			tc.f()
		})
	}
	if _, err := tr.Call(context.Background(), tr.Addr(), "", nil); err == nil {
		t.Fatal("Call with an empty method succeeded")
	}
}

// A handler that relays a *RemoteError from another node keeps its code.
func TestRemoteErrorRelay(t *testing.T) {
	a := newNode(t, Config{})
	b := newNode(t, Config{})
	c := newNode(t, Config{})
	c.Handle("leaf", func(context.Context, []byte) ([]byte, error) { return nil, codedErr{"NotLeader"} })
	b.Handle("relay", func(ctx context.Context, req []byte) ([]byte, error) {
		return c.Call(ctx, c.Addr(), "leaf", req)
	})
	_, err := a.Call(context.Background(), b.Addr(), "relay", nil)
	var re *RemoteError
	if !errors.As(err, &re) || re.Code != "NotLeader" || re.RPCCode() != "NotLeader" {
		t.Fatalf("err = %v, want RemoteError with code NotLeader", err)
	}
	if want := "coded failure NotLeader"; !bytes.Contains([]byte(re.Message), []byte(want)) {
		t.Fatalf("message %q lost %q", re.Message, want)
	}
}

// TestCancelEndsHandshakeWithHungPeer: a peer that accepts TCP connections and never answers
// the handshake holds a call only until its context is cancelled, not for HandshakeTimeout.
func TestCancelEndsHandshakeWithHungPeer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		ln.Close()
		<-done
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	}()
	tr := newNode(t, Config{HandshakeTimeout: 20 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err = tr.CallStream(ctx, ln.Addr().String(), "m", nil, bytes.NewReader([]byte("x")))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("CallStream to a hung peer: %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("cancelled after 200ms, returned after %s", d)
	}
}
