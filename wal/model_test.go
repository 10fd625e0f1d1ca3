package wal

import (
	"errors"
	"os"
	"testing"

	"github.com/hashicorp/raft"
	"pgregory.net/rapid"
)

// modelMachine runs the same operations against a Log and raft.InmemStore and requires identical
// answers, errors included. Operations are the ones raft issues to a monotonic store: appends
// that continue the log (any index when empty), prefix, suffix and whole-log deletes; plus
// close/reopen and the StableStore.
type modelMachine struct {
	dir   string
	opts  Options
	log   *Log
	model *raft.InmemStore
	seed  uint64
}

func (m *modelMachine) bounds() (uint64, uint64) {
	f, _ := m.model.FirstIndex()
	l, _ := m.model.LastIndex()
	return f, l
}

func (m *modelMachine) Store(t *rapid.T) {
	first, last := m.bounds()
	start := last + 1
	if first == 0 {
		start = rapid.Uint64Range(1, 5000).Draw(t, "start")
	}
	n := rapid.IntRange(1, 24).Draw(t, "n")
	maxSize := rapid.SampledFrom([]int{0, 64, 700, 3000}).Draw(t, "maxSize")
	batch := genBatch(m.seed, start, n, maxSize)
	if err := m.log.StoreLogs(batch); err != nil {
		t.Fatalf("StoreLogs(%d, n=%d): %v", start, n, err)
	}
	if err := m.model.StoreLogs(batch); err != nil {
		t.Fatal(err)
	}
}

func (m *modelMachine) StoreOutOfOrder(t *rapid.T) {
	first, last := m.bounds()
	if first == 0 {
		t.Skip("empty log accepts any index")
	}
	bad := rapid.SampledFrom([]uint64{last, last + 2, first}).Draw(t, "bad")
	err := m.log.StoreLogs(genBatch(m.seed, bad, 1, 10))
	if !errors.Is(err, ErrOutOfOrder) {
		t.Fatalf("StoreLogs(%d) on [%d, %d] = %v, want ErrOutOfOrder", bad, first, last, err)
	}
}

func (m *modelMachine) Get(t *rapid.T) {
	first, last := m.bounds()
	lo := uint64(0)
	if first > 2 {
		lo = first - 2
	}
	idx := rapid.Uint64Range(lo, last+2).Draw(t, "idx")
	var want, got raft.Log
	werr := m.model.GetLog(idx, &want)
	gerr := m.log.GetLog(idx, &got)
	if (werr == nil) != (gerr == nil) || (werr != nil && !errors.Is(gerr, werr)) {
		t.Fatalf("GetLog(%d): err %v, model %v", idx, gerr, werr)
	}
	if werr == nil {
		if d := diffLog(&want, &got); d != "" {
			t.Fatal(d)
		}
	}
}

func (m *modelMachine) DeletePrefix(t *rapid.T) {
	first, last := m.bounds()
	if first == 0 || first == last {
		t.Skip("needs two entries")
	}
	max := rapid.Uint64Range(first, last-1).Draw(t, "max")
	min := rapid.Uint64Range(first-min(first-1, 3), first).Draw(t, "min")
	m.deleteBoth(t, min, max)
}

func (m *modelMachine) DeleteSuffix(t *rapid.T) {
	first, last := m.bounds()
	if first == 0 || first == last {
		t.Skip("needs two entries")
	}
	min := rapid.Uint64Range(first+1, last).Draw(t, "min")
	max := rapid.Uint64Range(last, last+3).Draw(t, "max")
	m.deleteBoth(t, min, max)
}

func (m *modelMachine) DeleteAll(t *rapid.T) {
	first, last := m.bounds()
	if first == 0 {
		t.Skip("empty")
	}
	m.deleteBoth(t, first, last+rapid.Uint64Range(0, 2).Draw(t, "over"))
}

func (m *modelMachine) deleteBoth(t *rapid.T, min, max uint64) {
	if err := m.log.DeleteRange(min, max); err != nil {
		t.Fatalf("DeleteRange(%d, %d): %v", min, max, err)
	}
	if err := m.model.DeleteRange(min, max); err != nil {
		t.Fatal(err)
	}
}

func (m *modelMachine) Reopen(t *rapid.T) {
	if err := m.log.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	l, err := Open(m.dir, m.opts)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	m.log = l
}

func (m *modelMachine) Stable(t *rapid.T) {
	key := []byte(rapid.SampledFrom([]string{"CurrentTerm", "LastVoteTerm", "LastVoteCand", "x"}).Draw(t, "key"))
	switch rapid.IntRange(0, 3).Draw(t, "op") {
	case 0:
		v := rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "val")
		if err := m.log.Set(key, v); err != nil {
			t.Fatal(err)
		}
		m.model.Set(key, v)
	case 1:
		v := rapid.Uint64().Draw(t, "u")
		if err := m.log.SetUint64(key, v); err != nil {
			t.Fatal(err)
		}
		m.model.SetUint64(key, v)
	case 2:
		got, gerr := m.log.Get(key)
		want, werr := m.model.Get(key)
		if (gerr == nil) != (werr == nil) || (werr != nil && gerr.Error() != werr.Error()) || string(got) != string(want) {
			t.Fatalf("Get(%s) = %q, %v; model %q, %v", key, got, gerr, want, werr)
		}
	case 3:
		got, gerr := m.log.GetUint64(key)
		want, werr := m.model.GetUint64(key)
		if gerr != nil || werr != nil || got != want {
			t.Fatalf("GetUint64(%s) = %d, %v; model %d, %v", key, got, gerr, want, werr)
		}
	}
}

// Check runs after every step.
func (m *modelMachine) Check(t *rapid.T) {
	wf, wl := m.bounds()
	gf, _ := m.log.FirstIndex()
	gl, _ := m.log.LastIndex()
	if gf != wf || gl != wl {
		t.Fatalf("range [%d, %d], model [%d, %d]", gf, gl, wf, wl)
	}
	checkInvariants(t, m.log)
}

func TestModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		dir, err := os.MkdirTemp("", "wal-model-*")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		opts := testOpts()
		opts.SegmentSize = rapid.SampledFrom([]int64{4 << 10, 16 << 10}).Draw(t, "segSize")
		opts.CacheEntries = rapid.SampledFrom([]int{-1, 8, 0}).Draw(t, "cache")
		m := &modelMachine{dir: dir, opts: opts, model: raft.NewInmemStore(), seed: rapid.Uint64().Draw(t, "seed")}
		m.log, err = Open(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { m.log.Close() }()
		t.Repeat(rapid.StateMachineActions(m))
	})
}
