package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/nebulaio/nebulaio/dataplane/blob"
	"github.com/nebulaio/nebulaio/wal"
)

// counters records the counters a package reports.
type counters struct {
	mu sync.Mutex
	m  map[string]float64
}

func (c *counters) Counter(name string, d float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]float64{}
	}
	c.m[name] += d
}
func (c *counters) Gauge(string, float64)   {}
func (c *counters) Observe(string, float64) {}
func (c *counters) get(name string) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[name]
}

// TestTearWALTailIsATornTail: the real WAL, reopened after tearWALTail, reports a torn tail
// truncated and keeps every entry that was stored, and the next append goes where the torn
// record was.
func TestTearWALTailIsATornTail(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	l, err := wal.Open(dir, wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var logs []*raft.Log
	for i := uint64(1); i <= 20; i++ {
		logs = append(logs, &raft.Log{Index: i, Term: 3, Type: raft.LogCommand, Data: bytes.Repeat([]byte{byte(i)}, int(i)*100)})
	}
	for _, batch := range [][]*raft.Log{logs[:7], logs[7:]} {
		if err := l.StoreLogs(batch); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	torn, err := tearWALTail(dir)
	if err != nil {
		t.Fatal(err)
	}
	if torn.lastIndex != 20 {
		t.Fatalf("tearWALTail found last index %d, want 20", torn.lastIndex)
	}

	m := &counters{}
	l, err = wal.Open(dir, wal.Options{Metrics: m})
	if err != nil {
		t.Fatalf("Open after a torn tail: %v", err)
	}
	defer l.Close()
	if got := m.get(wal.MetricTornTailsTotal); got != 1 {
		t.Fatalf("%s = %v after Open, want 1: the WAL did not see a torn tail", wal.MetricTornTailsTotal, got)
	}
	if last, _ := l.LastIndex(); last != 20 {
		t.Fatalf("LastIndex = %d after recovery, want 20", last)
	}
	for _, want := range logs {
		var got raft.Log
		if err := l.GetLog(want.Index, &got); err != nil || !bytes.Equal(got.Data, want.Data) {
			t.Fatalf("entry %d after recovery: %v (data equal: %v)", want.Index, err, bytes.Equal(got.Data, want.Data))
		}
	}
	if err := l.StoreLogs([]*raft.Log{{Index: 21, Term: 4, Type: raft.LogCommand, Data: []byte("after")}}); err != nil {
		t.Fatalf("append after recovery: %v", err)
	}
}

// TestFlipByteIsCaught: the real blob store, reading a blob in which flipByte inverted a data
// byte, returns ErrCorrupt and counts the detection; findBlobHolding finds the blob by its
// value's header.
func TestFlipByteIsCaught(t *testing.T) {
	dataDir := t.TempDir()
	m := &counters{}
	s, err := blob.Open(filepath.Join(dataDir, "blobs"), blob.Options{Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	val := makeValue("u/w0/1", "w0-1", 200<<10)
	other := makeValue("u/w0/2", "w0-2", 1000)
	for id, v := range map[string][]byte{"blob-a": val, "blob-b": other} {
		if _, err := s.Put(context.Background(), id, bytes.NewReader(v), blob.Expect{Size: int64(len(v))}); err != nil {
			t.Fatal(err)
		}
	}

	path, err := findBlobHolding(dataDir, []byte(valueHeader("u/w0/1", "w0-1", len(val))))
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != "blob-a" {
		t.Fatalf("findBlobHolding found %s, want blob-a", path)
	}
	if err := flipByte(path, 1000); err != nil {
		t.Fatal(err)
	}
	r, _, err := s.Open("blob-a")
	if err == nil {
		_, err = io.ReadAll(r)
		r.Close()
	}
	if !errors.Is(err, blob.ErrCorrupt) {
		t.Fatalf("reading the flipped blob: %v, want ErrCorrupt", err)
	}
	if m.get(metricBlobCorrupt) < 1 {
		t.Fatalf("%s not counted", metricBlobCorrupt)
	}
}
