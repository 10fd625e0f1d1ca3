package wal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// testOpts are small segments and a low compression threshold, so that tests rotate and
// compress often. Sync stays on unless a test turns it off.
func testOpts() Options {
	return Options{SegmentSize: 16 << 10, CompressAbove: 512}
}

func openT(t testing.TB, dir string, opts Options) *Log {
	t.Helper()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return l
}

// genLog returns the deterministic entry for index i: its size, contents (some compressible),
// term, type, extensions and timestamp all derive from i and seed, so a verifier can regenerate
// exactly what a writer stored.
func genLog(seed, i uint64, maxSize int) *raft.Log {
	r := rand.New(rand.NewPCG(seed, i))
	size := r.IntN(maxSize + 1)
	data := make([]byte, size)
	if r.IntN(2) == 0 {
		for j := range data {
			data[j] = byte(r.Uint32())
		}
	} else {
		for j := range data {
			data[j] = "abcdefgh"[(j/7)%8]
		}
	}
	var ext []byte
	if r.IntN(4) == 0 {
		ext = binary.LittleEndian.AppendUint64(nil, r.Uint64())
	}
	var at time.Time
	if r.IntN(3) != 0 {
		at = time.Unix(1_700_000_000+int64(i), int64(r.IntN(1e9)))
	}
	return &raft.Log{Index: i, Term: 1 + i/100, Type: raft.LogType(r.IntN(6)), Data: data, Extensions: ext, AppendedAt: at}
}

func genBatch(seed, from uint64, n, maxSize int) []*raft.Log {
	out := make([]*raft.Log, n)
	for k := range out {
		out[k] = genLog(seed, from+uint64(k), maxSize)
	}
	return out
}

// diffLog describes how got differs from want, or returns "".
func diffLog(want, got *raft.Log) string {
	switch {
	case want.Index != got.Index:
		return fmt.Sprintf("index %d != %d", got.Index, want.Index)
	case want.Term != got.Term:
		return fmt.Sprintf("index %d: term %d != %d", want.Index, got.Term, want.Term)
	case want.Type != got.Type:
		return fmt.Sprintf("index %d: type %v != %v", want.Index, got.Type, want.Type)
	case !bytes.Equal(want.Data, got.Data):
		return fmt.Sprintf("index %d: data differs (%d vs %d bytes)", want.Index, len(got.Data), len(want.Data))
	case !bytes.Equal(want.Extensions, got.Extensions):
		return fmt.Sprintf("index %d: extensions differ", want.Index)
	case !want.AppendedAt.Equal(got.AppendedAt):
		return fmt.Sprintf("index %d: appendedAt %v != %v", want.Index, got.AppendedAt, want.AppendedAt)
	}
	return ""
}

func mustStore(t testing.TB, l *Log, logs []*raft.Log) {
	t.Helper()
	if err := l.StoreLogs(logs); err != nil {
		t.Fatalf("StoreLogs(%d..): %v", logs[0].Index, err)
	}
}

// checkRange asserts FirstIndex/LastIndex and the content of every entry.
func checkRange(t testing.TB, l *Log, seed, first, last uint64, maxSize int) {
	t.Helper()
	f, _ := l.FirstIndex()
	la, _ := l.LastIndex()
	if f != first || la != last {
		t.Fatalf("range [%d, %d], want [%d, %d]", f, la, first, last)
	}
	if first == 0 {
		return
	}
	for i := first; i <= last; i++ {
		var got raft.Log
		if err := l.GetLog(i, &got); err != nil {
			t.Fatalf("GetLog(%d): %v", i, err)
		}
		if d := diffLog(genLog(seed, i, maxSize), &got); d != "" {
			t.Fatal(d)
		}
	}
}

// checkInvariants verifies the in-memory structure: contiguous segments, offsets increasing,
// first/last consistent with the segments. Tests only: it walks every segment.
func checkInvariants(t interface {
	Helper()
	Fatalf(string, ...any)
}, l *Log) {
	t.Helper()
	l.mu.RLock()
	defer l.mu.RUnlock()
	if len(l.segs) == 0 {
		if l.first != 0 || l.last != 0 {
			t.Fatalf("no segments but range [%d, %d]", l.first, l.last)
		}
		return
	}
	for i, s := range l.segs {
		if len(s.offsets) == 0 {
			t.Fatalf("segment %s is empty", s.path)
		}
		if i+1 < len(l.segs) && s.lastIndex()+1 != l.segs[i+1].first {
			t.Fatalf("segment %s ends at %d, next starts at %d", s.path, s.lastIndex(), l.segs[i+1].first)
		}
		if i+1 < len(l.segs) && !s.sealed {
			t.Fatalf("segment %s not sealed", s.path)
		}
		for k := 1; k < len(s.offsets); k++ {
			if s.offsets[k] <= s.offsets[k-1] {
				t.Fatalf("segment %s offsets not increasing at %d", s.path, k)
			}
		}
		if int64(s.offsets[len(s.offsets)-1]) >= s.end {
			t.Fatalf("segment %s end %d before last record", s.path, s.end)
		}
	}
	if l.first < l.segs[0].first || l.first > l.segs[0].lastIndex() || l.last != l.segs[len(l.segs)-1].lastIndex() {
		t.Fatalf("range [%d, %d] does not match segments", l.first, l.last)
	}
}
