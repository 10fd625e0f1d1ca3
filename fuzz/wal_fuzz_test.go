package fuzz

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/nebulaio/nebulaio/wal"
)

// FuzzWALRecovery writes entries, damages the segment files as the fuzzer chooses (a truncation
// and byte flips), and reopens. Recovery must not panic or hang, and must either fail with a
// corruption error or return a prefix of what was written, every entry byte-identical (a damaged
// record in a sealed segment may instead fail its read with ErrCorrupt).
//
// Inputs: seed picks the entries; batches how many StoreLogs calls; truncFile/truncAt pick a
// segment and the offset to cut it at (truncAt 0: no cut); flips is a list of 6-byte edits
// (segment selector, uint32 offset, xor byte).
func FuzzWALRecovery(f *testing.F) {
	f.Add(uint64(1), uint8(6), uint8(0), uint32(0), []byte{})
	f.Add(uint64(2), uint8(12), uint8(255), uint32(5000), []byte{})
	f.Add(uint64(3), uint8(12), uint8(0), uint32(0), []byte{0, 0x40, 0, 0, 0, 0x01})
	f.Fuzz(func(t *testing.T, seed uint64, batches uint8, truncFile uint8, truncAt uint32, flips []byte) {
		if len(flips) > 6*32 {
			flips = flips[:6*32]
		}
		dir := t.TempDir()
		opts := wal.Options{SegmentSize: 4 << 10, CompressAbove: 300, NoSync: true}
		l, err := wal.Open(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(seed, 0))
		var written []*raft.Log
		next := uint64(1)
		for b := 0; b < int(batches%24)+1; b++ {
			batch := make([]*raft.Log, 1+r.IntN(6))
			for k := range batch {
				data := make([]byte, r.IntN(900))
				if r.IntN(2) == 0 {
					for j := range data {
						data[j] = byte(r.Uint32())
					}
				} else {
					for j := range data {
						data[j] = byte('a' + j%5)
					}
				}
				batch[k] = &raft.Log{Index: next, Term: 1 + next/10, Type: raft.LogCommand, Data: data}
				next++
			}
			if err := l.StoreLogs(batch); err != nil {
				t.Fatal(err)
			}
			written = append(written, batch...)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}

		segs := segmentFiles(t, dir)
		if truncAt > 0 {
			p := segs[int(truncFile)%len(segs)]
			if st, err := os.Stat(p); err == nil && int64(truncAt) < st.Size() {
				os.Truncate(p, int64(truncAt))
			}
		}
		for len(flips) >= 6 {
			p := segs[int(flips[0])%len(segs)]
			off := int64(binary.LittleEndian.Uint32(flips[1:5]))
			x := flips[5]
			flips = flips[6:]
			b, err := os.ReadFile(p)
			if err != nil || len(b) == 0 || x == 0 {
				continue
			}
			b[off%int64(len(b))] ^= x
			os.WriteFile(p, b, 0o644)
		}

		type result struct {
			l   *wal.Log
			err error
		}
		done := make(chan result, 1)
		go func() {
			l, err := wal.Open(dir, opts)
			done <- result{l, err}
		}()
		var res result
		select {
		case res = <-done:
		case <-time.After(20 * time.Second):
			t.Fatal("Open hung")
		}
		if res.err != nil {
			if !errors.Is(res.err, wal.ErrCorrupt) {
				t.Fatalf("Open failed without a corruption error: %v", res.err)
			}
			if !strings.Contains(res.err.Error(), dir) {
				t.Fatalf("corruption error does not name the file: %v", res.err)
			}
			return
		}
		l = res.l
		defer l.Close()
		first, _ := l.FirstIndex()
		last, _ := l.LastIndex()
		if last > uint64(len(written)) || (last > 0 && first != 1) {
			t.Fatalf("recovered [%d, %d] of [1, %d]: not a prefix", first, last, len(written))
		}
		for i := first; i <= last && last > 0; i++ {
			var got raft.Log
			err := l.GetLog(i, &got)
			if errors.Is(err, wal.ErrCorrupt) {
				continue
			}
			if err != nil {
				t.Fatalf("GetLog(%d): %v", i, err)
			}
			want := written[i-1]
			if got.Index != want.Index || got.Term != want.Term || got.Type != want.Type || !bytes.Equal(got.Data, want.Data) {
				t.Fatalf("GetLog(%d) returned an entry that was not written", i)
			}
		}
		// a recovered log accepts the next entry
		if err := l.StoreLogs([]*raft.Log{{Index: last + 1, Term: 99, Data: []byte("after")}}); err != nil && last > 0 {
			t.Fatalf("StoreLogs after recovery: %v", err)
		}
	})
}

func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.wal"))
	if err != nil || len(m) == 0 {
		t.Fatalf("no segments in %s: %v", dir, err)
	}
	sort.Strings(m)
	return m
}
