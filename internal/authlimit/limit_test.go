package authlimit

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestLimiter(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := New(Config{Burst: 3, Rate: 0.5, Now: c.now})
	for i := range 3 {
		if ok, _ := l.Allow("10.0.0.1"); !ok {
			t.Fatalf("refused after %d failures, burst 3", i)
		}
		l.Fail("10.0.0.1")
	}
	ok, wait := l.Allow("10.0.0.1")
	if ok || wait != 2*time.Second {
		t.Fatalf("after the burst: ok %v, retry after %v (want 2s at 0.5/s)", ok, wait)
	}
	if ok, _ := l.Allow("10.0.0.2"); !ok {
		t.Fatal("another address is refused")
	}
	c.add(time.Second)
	if ok, wait := l.Allow("10.0.0.1"); ok || wait != time.Second {
		t.Fatalf("half-way: %v %v", ok, wait)
	}
	c.add(time.Second)
	if ok, _ := l.Allow("10.0.0.1"); !ok {
		t.Fatal("a token came back and the address is still refused")
	}
	l.Fail("10.0.0.1")
	if ok, _ := l.Allow("10.0.0.1"); ok {
		t.Fatal("one failure after refilling one token is allowed")
	}
}

func TestLimiterBounded(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := New(Config{Burst: 2, Rate: 1, MaxAddrs: 10, Now: c.now})
	for i := range 10 {
		l.Fail(fmt.Sprintf("10.0.0.%d", i))
	}
	l.Fail("10.0.0.0") // 10.0.0.0 is now empty, the others have one token left
	c.add(time.Second) // the others are full again: idle
	l.Fail("10.0.1.1")
	if n := l.Len(); n != 2 {
		t.Fatalf("%d addresses tracked after eviction, want 2 (the busy one and the new one)", n)
	}
	for i := range 50 {
		l.Fail(fmt.Sprintf("10.1.0.%d", i))
	}
	if n := l.Len(); n > 10 {
		t.Fatalf("%d addresses tracked, limit 10", n)
	}
}

func TestAddr(t *testing.T) {
	for in, want := range map[string]string{"10.0.0.1:4000": "10.0.0.1", "[::1]:80": "::1", "pipe": "pipe"} {
		if got := Addr(&http.Request{RemoteAddr: in}); got != want {
			t.Errorf("Addr(%q) = %q", in, got)
		}
	}
}
