package wal

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRecoverInterruptedOperations rebuilds, file by file, what a crash can leave behind in the
// middle of a rotation or a compaction, and checks what Open makes of it.
func TestRecoverInterruptedOperations(t *testing.T) {
	opts := testOpts()
	opts.SegmentSize = 4 << 10
	opts.CompressAbove = -1

	t.Run("rename of a new segment lost", func(t *testing.T) {
		dir := t.TempDir()
		l := openT(t, dir, opts)
		for i := uint64(1); i <= 40; i += 4 {
			mustStore(t, l, fixedBatch(i, 4, 300))
		}
		l.mu.RLock()
		last := l.segs[len(l.segs)-1].path
		l.mu.RUnlock()
		l.Close()
		// the synced segment still carries the spare's name
		if err := os.Rename(last, filepath.Join(dir, spareName)); err != nil {
			t.Fatal(err)
		}
		l = openT(t, dir, opts)
		defer l.Close()
		checkFixed(t, l, 1, 40, 300)
		if _, err := os.Stat(last); err != nil {
			t.Fatalf("adopted spare not renamed to %s: %v", last, err)
		}
	})

	t.Run("unused spare", func(t *testing.T) {
		dir := t.TempDir()
		l := openT(t, dir, opts)
		mustStore(t, l, fixedBatch(1, 4, 300))
		l.Close()
		// a half-filled spare without a header
		if err := os.WriteFile(filepath.Join(dir, spareName), make([]byte, 1000), 0o644); err != nil {
			t.Fatal(err)
		}
		l = openT(t, dir, opts)
		defer l.Close()
		checkFixed(t, l, 1, 4, 300)
	})

	t.Run("unlinks after a compaction lost", func(t *testing.T) {
		dir := t.TempDir()
		l := openT(t, dir, opts)
		for i := uint64(1); i <= 40; i += 4 {
			mustStore(t, l, fixedBatch(i, 4, 300))
		}
		l.mu.RLock()
		firstSeg := l.segs[0].path
		l.mu.RUnlock()
		saved, err := os.ReadFile(firstSeg)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.DeleteRange(1, 30); err != nil {
			t.Fatal(err)
		}
		l.Close()
		if _, err := os.Stat(firstSeg); !os.IsNotExist(err) {
			t.Fatalf("compacted segment %s still present after Close: %v", firstSeg, err)
		}
		// the unlink did not survive the crash
		if err := os.WriteFile(firstSeg, saved, 0o644); err != nil {
			t.Fatal(err)
		}
		l = openT(t, dir, opts)
		defer l.Close()
		checkFixed(t, l, 31, 40, 300)
		if _, err := os.Stat(firstSeg); !os.IsNotExist(err) {
			t.Fatalf("Open kept segment %s below the head", firstSeg)
		}
	})

	t.Run("head write lost after a compaction", func(t *testing.T) {
		dir := t.TempDir()
		l := openT(t, dir, opts)
		for i := uint64(1); i <= 40; i += 4 {
			mustStore(t, l, fixedBatch(i, 4, 300))
		}
		l.Close()
		head, err := os.ReadFile(filepath.Join(dir, headName))
		if err != nil {
			t.Fatal(err)
		}
		l = openT(t, dir, opts)
		if err := l.DeleteRange(1, 2); err != nil { // within the first segment: no unlink
			t.Fatal(err)
		}
		l.Close()
		if err := os.WriteFile(filepath.Join(dir, headName), head, 0o644); err != nil {
			t.Fatal(err)
		}
		l = openT(t, dir, opts)
		defer l.Close()
		checkFixed(t, l, 1, 40, 300) // the deleted entries reappear, whole; no gap
	})
}
