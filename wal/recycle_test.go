package wal

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// recycledFiles lists the *.recycle files in dir.
func recycledFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+recycleSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// TestRecycledSegments: front compaction keeps compacted segments as *.recycle files (up to
// RecycleSegments), the next rotations reuse those very files (zero-filled again), and the log
// reads back exactly what was written, before and after a reopen.
func TestRecycledSegments(t *testing.T) {
	dir := t.TempDir()
	const keep = 4
	opts := Options{SegmentSize: 64 << 10, CompressAbove: -1, CacheEntries: -1, RecycleSegments: keep}
	l := openT(t, dir, opts)
	const size = 1000
	last := uint64(0)
	store := func(n int) {
		for range n {
			mustStore(t, l, fixedBatch(last+1, 10, size))
			last += 10
		}
	}
	store(60) // ~600 KiB: nine or more segments
	if len(l.segs) < 8 {
		t.Fatalf("%d segments, want >= 8", len(l.segs))
	}
	kept := map[uint64]bool{}
	for _, s := range l.segs[:keep] {
		kept[inode(t, s.path)] = true
	}
	dropped := l.segs[:keep+2]
	cut := l.segs[keep+2].first
	if err := l.DeleteRange(1, cut-1); err != nil {
		t.Fatal(err)
	}
	l.reapWG.Wait()
	for _, s := range dropped {
		if _, err := os.Stat(s.path); !os.IsNotExist(err) {
			t.Fatalf("compacted segment %s still there: %v", s.path, err)
		}
	}
	files := recycledFiles(t, dir)
	if len(files) != keep {
		t.Fatalf("%d files kept for reuse, want %d", len(files), keep)
	}
	for _, f := range files {
		if !kept[inode(t, f)] {
			t.Fatalf("%s is not one of the oldest compacted segments", f)
		}
	}

	reused := func() int {
		n := 0
		for _, s := range l.segs {
			if kept[inode(t, s.path)] {
				n++
			}
		}
		return n
	}
	for i := 0; reused() < keep; i++ { // each kept file becomes a segment
		if i == 200 {
			t.Fatalf("%d segments reuse kept files after %d more batches, want %d", reused(), i, keep)
		}
		store(1)
	}
	if left := recycledFiles(t, dir); len(left) != 0 {
		t.Fatalf("not reused: %v", left)
	}
	checkInvariants(t, l)
	checkFixed(t, l, cut, last, size)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openT(t, dir, opts)
	defer l.Close()
	checkFixed(t, l, cut, last, size)
	store(3)
	checkFixed(t, l, cut, last, size)
}

// TestRecycleCrashStates: what a crash can leave behind while a segment is recycled. A sealed
// segment's old contents as a *.recycle file (renamed by the reaper) or as next.spare with its
// first page zeroed (renamed by takeRecycled, fill not done) are never read as entries.
func TestRecycleCrashStates(t *testing.T) {
	for _, name := range []string{"00000000000000000007" + recycleSuffix, spareName} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{SegmentSize: 64 << 10, CompressAbove: -1, CacheEntries: -1}
			l := openT(t, dir, opts)
			last := uint64(0)
			for len(l.segs) < 3 {
				mustStore(t, l, fixedBatch(last+1, 10, 1000))
				last += 10
			}
			l.reapWG.Wait()
			old, err := os.ReadFile(l.segs[1].path) // a sealed segment with a valid header
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if name == spareName {
				clear(old[:pageSize])
			}
			if err := os.WriteFile(filepath.Join(dir, name), old, 0o644); err != nil {
				t.Fatal(err)
			}
			l = openT(t, dir, opts)
			defer l.Close()
			checkInvariants(t, l)
			checkFixed(t, l, 1, last, 1000)
			for range 20 { // rotates onto the leftover (recycled) or a new spare
				mustStore(t, l, fixedBatch(last+1, 10, 1000))
				last += 10
			}
			checkInvariants(t, l)
			checkFixed(t, l, 1, last, 1000)
			if left := recycledFiles(t, dir); len(left) != 0 {
				t.Fatalf("not reused: %v", left)
			}
		})
	}
}

// TestRecycleLimits: a negative RecycleSegments keeps nothing; Open removes kept files beyond
// the limit and files whose name is not a number.
func TestRecycleLimits(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 64 << 10, CompressAbove: -1, RecycleSegments: -1}
	l := openT(t, dir, opts)
	last := uint64(0)
	for len(l.segs) < 4 {
		mustStore(t, l, fixedBatch(last+1, 10, 1000))
		last += 10
	}
	cut := l.segs[3].first
	if err := l.DeleteRange(1, cut-1); err != nil {
		t.Fatal(err)
	}
	l.reapWG.Wait()
	if got := recycledFiles(t, dir); len(got) != 0 {
		t.Fatalf("RecycleSegments -1 kept %v", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"1", "2", "3", "x"} {
		if err := os.WriteFile(filepath.Join(dir, name+recycleSuffix), []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	opts.RecycleSegments = 2
	l = openT(t, dir, opts)
	defer l.Close()
	if got := recycledFiles(t, dir); len(got) != 2 {
		t.Fatalf("Open kept %v, want 2 files", got)
	}
	checkFixed(t, l, cut, last, 1000)
}
