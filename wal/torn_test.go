package wal

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
)

const tornSeed = 7

// layout describes where a record lives on disk.
type layout struct {
	path       string
	start, end int64
}

// recordAt opens dir and reports the file range of the record for index.
func recordAt(t *testing.T, dir string, opts Options, index uint64) layout {
	t.Helper()
	l := openT(t, dir, opts)
	defer l.Close()
	l.mu.RLock()
	defer l.mu.RUnlock()
	s := l.findSegment(index)
	start, end := s.recordSpan(index)
	return layout{s.path, start, end}
}

// writeTornFixture writes entries 1..5 and 6..8 (two batches) into one segment, and returns the
// layout of entry 8, the last record.
func writeTornFixture(t *testing.T, dir string, opts Options) layout {
	t.Helper()
	l := openT(t, dir, opts)
	mustStore(t, l, genBatch(tornSeed, 1, 5, 200))
	last := genBatch(tornSeed, 6, 3, 200)
	last[2].Data = []byte("the last record of the last batch, which a crash tears")
	mustStore(t, l, last)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return recordAt(t, dir, opts, 8)
}

// copyDir copies the regular files of src into a new temporary directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestTornTail damages the last record at every offset, three ways, and checks that recovery
// keeps exactly the seven whole records before it, and that the log then appends and reopens.
func TestTornTail(t *testing.T) {
	opts := testOpts()
	opts.SegmentSize = 8 << 10
	opts.NoSync = true // the damage is applied to closed files; sync adds nothing here
	fixture := t.TempDir()
	lay := writeTornFixture(t, fixture, opts)
	name := filepath.Base(lay.path)

	damages := []struct {
		name  string
		apply func(b []byte, off int64) []byte
	}{
		{"truncate", func(b []byte, off int64) []byte { return b[:off] }},
		{"zero-from", func(b []byte, off int64) []byte { clear(b[off:lay.end]); return b }},
		{"flip", func(b []byte, off int64) []byte { b[off] ^= 0x5a; return b }},
	}
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			for off := lay.start; off < lay.end; off++ {
				dir := copyDir(t, fixture)
				p := filepath.Join(dir, name)
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, d.apply(b, off), 0o644); err != nil {
					t.Fatal(err)
				}
				l, err := Open(dir, opts)
				if err != nil {
					t.Fatalf("offset %d: Open: %v", off, err)
				}
				checkRange(t, l, tornSeed, 1, 7, 200)
				// the log continues where the whole records end
				mustStore(t, l, genBatch(tornSeed, 8, 2, 200))
				l.Close()
				l = openT(t, dir, opts)
				checkRange(t, l, tornSeed, 1, 9, 200)
				l.Close()
				os.RemoveAll(dir)
			}
		})
	}
}

// TestDamage maps damage to each part of the directory to the outcome recovery must give.
func TestDamage(t *testing.T) {
	opts := testOpts()
	opts.SegmentSize = 4 << 10
	opts.CompressAbove = -1
	// 40 entries of ~300 bytes over several 4 KiB segments, written in batches of 4.
	fixture := t.TempDir()
	l := openT(t, fixture, opts)
	for i := uint64(1); i <= 40; i += 4 {
		mustStore(t, l, fixedBatch(i, 4, 300))
	}
	l.mu.RLock()
	nsegs := len(l.segs)
	sealed := l.segs[0]
	sealedPath, sealedOff := filepath.Base(sealed.path), int64(sealed.offsets[2])
	act := l.segs[nsegs-1]
	actPath := filepath.Base(act.path)
	actEarly := int64(act.offsets[0]) // first batch of the active segment, a later batch follows
	l.mu.RUnlock()
	l.Close()
	if nsegs < 3 || len(act.offsets) < 8 {
		t.Fatalf("fixture has %d segments, %d entries in the last; want >= 3 and >= 8", nsegs, len(act.offsets))
	}

	type outcome int
	const (
		opens outcome = iota
		openFails
		readFails // Open succeeds (the footer is trusted), GetLog reports the damage
	)
	cases := []struct {
		name    string
		file    string
		damage  func(b []byte) []byte
		want    outcome
		wantErr error
		offset  int64 // expected CorruptError offset, -1 to skip
		readIdx uint64
	}{
		{name: "sealed record flipped, footer intact", file: sealedPath,
			damage: flipAt(sealedOff + recHeaderSize + 10), want: readFails, wantErr: ErrCorrupt, offset: sealedOff, readIdx: 3},
		{name: "sealed record flipped, footer lost", file: sealedPath,
			damage: func(b []byte) []byte { b = flipAt(sealedOff + recHeaderSize + 10)(b); b[len(b)-1] ^= 1; return b },
			want:   openFails, wantErr: ErrCorrupt, offset: sealedOff},
		{name: "sealed footer lost only", file: sealedPath,
			damage: func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, want: opens},
		{name: "sealed segment cut short", file: sealedPath,
			damage: func(b []byte) []byte { return b[:sealedOff+5] }, want: openFails, wantErr: ErrCorrupt, offset: sealedOff},
		{name: "segment header flipped", file: sealedPath,
			damage: flipAt(9), want: openFails, wantErr: ErrCorrupt, offset: 0},
		{name: "segment from a newer version", file: sealedPath,
			damage: func(b []byte) []byte {
				binary.LittleEndian.PutUint16(b[4:6], formatVersion+1)
				binary.LittleEndian.PutUint32(b[28:32], crc(b[0:28]))
				return b
			}, want: openFails, wantErr: ErrNewerFormat, offset: -1},
		{name: "active segment, early batch flipped", file: actPath,
			damage: flipAt(actEarly + recHeaderSize + 3), want: openFails, wantErr: ErrCorrupt, offset: actEarly},
		{name: "head file garbage", file: headName,
			damage: func(b []byte) []byte { return []byte("garbage in the head file") }, want: openFails, wantErr: ErrCorrupt, offset: 0},
		{name: "stable file garbage", file: stableName,
			damage: func(b []byte) []byte { return []byte("NWST garbage") }, want: openFails, wantErr: ErrCorrupt, offset: 0},
	}
	// give the fixture a stable file
	l = openT(t, fixture, opts)
	if err := l.SetUint64([]byte("CurrentTerm"), 3); err != nil {
		t.Fatal(err)
	}
	l.Close()

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t, fixture)
			p := filepath.Join(dir, tc.file)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, tc.damage(b), 0o644); err != nil {
				t.Fatal(err)
			}
			l, err := Open(dir, opts)
			switch tc.want {
			case openFails:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Open = %v, want %v", err, tc.wantErr)
				}
				checkCorruptError(t, err, p, tc.offset)
				return
			case opens:
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				defer l.Close()
				checkFixed(t, l, 1, 40, 300)
			case readFails:
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				defer l.Close()
				var got raft.Log
				err := l.GetLog(tc.readIdx, &got)
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("GetLog(%d) = %v, want %v", tc.readIdx, err, tc.wantErr)
				}
				checkCorruptError(t, err, p, tc.offset)
			}
		})
	}
}

func checkCorruptError(t *testing.T, err error, path string, offset int64) {
	t.Helper()
	if offset < 0 {
		return
	}
	var ce *CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v is not a *CorruptError", err)
	}
	if ce.File != path || ce.Offset != offset {
		t.Fatalf("CorruptError names %s at %d, want %s at %d", ce.File, ce.Offset, path, offset)
	}
}

func flipAt(off int64) func([]byte) []byte {
	return func(b []byte) []byte { b[off] ^= 0x20; return b }
}

// fixedBatch returns n entries from index from whose data is size bytes derived from the index.
func fixedBatch(from uint64, n, size int) []*raft.Log {
	out := make([]*raft.Log, n)
	for k := range out {
		i := from + uint64(k)
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(i*31 + uint64(j)*7)
		}
		out[k] = &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: data}
	}
	return out
}

func checkFixed(t testing.TB, l *Log, first, last uint64, size int) {
	t.Helper()
	f, _ := l.FirstIndex()
	la, _ := l.LastIndex()
	if f != first || la != last {
		t.Fatalf("range [%d, %d], want [%d, %d]", f, la, first, last)
	}
	for i := first; i <= last && first != 0; i++ {
		var got raft.Log
		if err := l.GetLog(i, &got); err != nil {
			t.Fatalf("GetLog(%d): %v", i, err)
		}
		if d := diffLog(fixedBatch(i, 1, size)[0], &got); d != "" {
			t.Fatal(d)
		}
	}
}
