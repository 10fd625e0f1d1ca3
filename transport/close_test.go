package transport

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Close with every kind of traffic in flight leaves no goroutine behind and fails what is
// pending with ErrClosed.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t)
	srv, err := New(Config{BindAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	cli, err := New(Config{BindAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{}, 4)
	srv.Handle("block", func(ctx context.Context, _ []byte) ([]byte, error) {
		entered <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	})
	srv.HandleStream("put", func(ctx context.Context, _ []byte, body io.Reader) ([]byte, error) {
		entered <- struct{}{}
		_, err := io.Copy(io.Discard, body)
		return nil, err
	})
	srv.HandleDownload("get", func(ctx context.Context, _ []byte, w io.Writer) error {
		for ctx.Err() == nil {
			if _, err := w.Write(make([]byte, 1024)); err != nil {
				return err
			}
		}
		return ctx.Err()
	})
	// An inbound raft connection nobody accepts, and one accepted.
	rc, err := cli.RaftLayer().Dial(raftAddr(srv.Addr()), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := cli.RaftLayer().Dial(raftAddr(srv.Addr()), time.Second); err != nil {
		t.Fatal(err)
	}
	accepted, err := srv.RaftLayer().Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer accepted.Close()

	results := make(chan error, 3)
	go func() {
		_, err := cli.Call(context.Background(), srv.Addr(), "block", nil)
		results <- err
	}()
	go func() {
		_, err := cli.CallStream(context.Background(), srv.Addr(), "put", nil, zeroReader{})
		results <- err
	}()
	dl, err := cli.OpenStream(context.Background(), srv.Addr(), "get", nil)
	if err != nil {
		t.Fatal(err)
	}
	<-entered
	<-entered
	if err := cli.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-results; !errors.Is(err, ErrClosed) {
			t.Errorf("in flight at Close: err = %v, want ErrClosed", err)
		}
	}
	if _, err := io.Copy(io.Discard, dl); err == nil {
		t.Error("download went on after Close")
	}
	_ = dl.Close()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.RaftLayer().Accept(); !errors.Is(err, ErrClosed) {
		t.Errorf("Accept after Close: %v, want ErrClosed", err)
	}
	if _, err := cli.RaftLayer().Dial(raftAddr(srv.Addr()), time.Second); !errors.Is(err, ErrClosed) {
		t.Errorf("Dial after Close: %v, want ErrClosed", err)
	}
}

// The raft layer carries bytes both ways; Faults refuses raft dials and cuts raft connections.
func TestRaftLayerFaults(t *testing.T) {
	f := &Faults{}
	a := newNode(t, Config{Faults: f})
	b := newNode(t, Config{Faults: f})
	if got := a.RaftLayer().Addr().String(); got != a.Addr() {
		t.Fatalf("RaftLayer().Addr() = %s, want %s", got, a.Addr())
	}
	c, err := a.RaftLayer().Dial(raftAddr(b.Addr()), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := b.RaftLayer().Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("read %q, %v", buf, err)
	}

	f.Partition(a.Addr())
	_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := s.Read(buf); err == nil {
		t.Fatal("raft connection not cut by Partition")
	} else if ne := (net.Error)(nil); errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("raft connection stalled instead of being cut")
	}
	if _, err := a.RaftLayer().Dial(raftAddr(b.Addr()), time.Second); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("raft dial across partition: err = %v, want ErrUnreachable", err)
	}
	f.Heal()
	c2, err := b.RaftLayer().Dial(raftAddr(a.Addr()), time.Second)
	if err != nil {
		t.Fatalf("raft dial after Heal: %v", err)
	}
	defer c2.Close()
	s2, err := a.RaftLayer().Accept()
	if err != nil {
		t.Fatal(err)
	}
	_ = s2.Close()
}
