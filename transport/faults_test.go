package transport

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/nebulaio/nebulaio/internal/testutil"
)

// Partition cuts existing connections and refuses new ones in both directions, whether the two
// nodes share one Faults or each has its own with the same partition; Heal restores traffic.
func TestFaultsPartitionAndHeal(t *testing.T) {
	tests := []struct {
		name   string
		shared bool
	}{
		{name: "shared Faults", shared: true},
		{name: "Faults per node"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fa, fb := &Faults{}, &Faults{}
			if tc.shared {
				fb = fa
			}
			a := newNode(t, Config{Faults: fa})
			b := newNode(t, Config{Faults: fb})
			a.Handle("echo", echo)
			b.Handle("echo", echo)
			block := make(chan struct{})
			b.Handle("block", func(ctx context.Context, _ []byte) ([]byte, error) {
				close(block)
				<-ctx.Done()
				return nil, ctx.Err()
			})
			ctx := context.Background()
			if _, err := a.Call(ctx, b.Addr(), "echo", nil); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Call(ctx, a.Addr(), "echo", nil); err != nil {
				t.Fatal(err)
			}
			pending := make(chan error, 1)
			go func() {
				_, err := a.Call(ctx, b.Addr(), "block", nil)
				pending <- err
			}()
			<-block

			// Partition b in b's Faults only: a's side learns of it through the cut connections and
			// the preamble check on b's listener.
			fb.Partition(b.Addr())
			select {
			case err := <-pending:
				if !errors.Is(err, ErrConnLost) {
					t.Fatalf("call in flight across the partition: err = %v, want ErrConnLost", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("call in flight across the partition was not cut")
			}
			// With a Faults per node, a learns of the cut when its connections read EOF: a call
			// racing that would be "lost", not "unreachable". Wait for a to notice.
			testutil.WaitUntil(t, 5*time.Second, "a to see its connections to b cut", func() bool { return a.numConns() == 0 })
			for _, dir := range []struct {
				from, to *Transport
				want     error
			}{{a, b, ErrUnreachable}, {b, a, ErrUnreachable}} {
				_, err := dir.from.Call(ctx, dir.to.Addr(), "echo", nil)
				if !errors.Is(err, dir.want) {
					t.Fatalf("%s → %s: err = %v, want %v", dir.from.Addr(), dir.to.Addr(), err, dir.want)
				}
			}
			fb.Heal()
			for _, dir := range [][2]*Transport{{a, b}, {b, a}} {
				if _, err := dir[0].Call(ctx, dir[1].Addr(), "echo", []byte("again")); err != nil {
					t.Fatalf("after Heal %s → %s: %v", dir[0].Addr(), dir[1].Addr(), err)
				}
			}
		})
	}
}

func TestFaultsPartitionSides(t *testing.T) {
	f := &Faults{}
	f.Partition("a", "b")
	tests := []struct {
		x, y    string
		blocked bool
	}{
		{"a", "b", false}, {"a", "c", true}, {"c", "d", false}, {"b", "d", true},
	}
	for _, tc := range tests {
		if got := f.blocked(tc.x, tc.y); got != tc.blocked {
			t.Errorf("blocked(%s, %s) = %v, want %v", tc.x, tc.y, got, tc.blocked)
		}
	}
	f.Partition("b") // b moves to a side of its own
	if !f.blocked("a", "b") || f.blocked("a", "a") {
		t.Error("second Partition did not make a new side")
	}
	f.Heal()
	if f.blocked("a", "c") {
		t.Error("Heal left a partition")
	}
	var nilFaults *Faults
	if nilFaults.blocked("a", "b") || nilFaults.dropNow("a", "b") || nilFaults.linkDelay("a", "b") != 0 {
		t.Error("nil Faults injects faults")
	}
}

func TestFaultsDelayAndDrop(t *testing.T) {
	f := &Faults{}
	a := newNode(t, Config{Faults: f})
	b := newNode(t, Config{Faults: f})
	b.Handle("echo", echo)
	b.HandleStream("put", func(ctx context.Context, _ []byte, body io.Reader) ([]byte, error) {
		_, err := io.Copy(io.Discard, body)
		return nil, err
	})
	ctx := context.Background()
	if _, err := a.Call(ctx, b.Addr(), "echo", nil); err != nil {
		t.Fatal(err)
	}

	f.Delay(b.Addr(), 100*time.Millisecond)
	start := time.Now()
	if _, err := a.Call(ctx, b.Addr(), "echo", nil); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 200*time.Millisecond {
		t.Fatalf("delayed round trip took %v, want >= 200ms (request and reply each delayed)", el)
	}
	f.Delay(b.Addr(), 0)

	f.DropRate(b.Addr(), 1)
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err := a.Call(cctx, b.Addr(), "echo", nil)
	cancel()
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("dropped call: err = %v, want ErrTimeout", err)
	}
	if _, err := a.CallStream(ctx, b.Addr(), "put", nil, io.LimitReader(zeroReader{}, 1<<20)); !errors.Is(err, ErrConnLost) && !errors.Is(err, ErrUnreachable) {
		t.Fatalf("stream with drops: err = %v, want ErrConnLost or ErrUnreachable", err)
	}
	f.DropRate(b.Addr(), 0)
	if _, err := a.Call(ctx, b.Addr(), "echo", nil); err != nil {
		t.Fatalf("after removing drops: %v", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
