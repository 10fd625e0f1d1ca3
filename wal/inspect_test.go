package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// inspectFixture writes a log of several segments (entries 1..300 in batches of 10, many
// compressed, then 301..305), deletes entries below 41 from the front, sets raft's stable
// keys, and closes it.
func inspectFixture(t *testing.T) (dir string, opts Options) {
	t.Helper()
	dir, opts = t.TempDir(), testOpts()
	opts.RecycleSegments = -1 // compacted segments are unlinked, so none lingers as *.recycle
	l := openT(t, dir, opts)
	for i := uint64(1); i <= 300; i += 10 {
		mustStore(t, l, genBatch(tornSeed, i, 10, 1500))
	}
	mustStore(t, l, genBatch(tornSeed, 301, 5, 500))
	if err := l.DeleteRange(1, 40); err != nil {
		t.Fatal(err)
	}
	if err := l.SetUint64([]byte("CurrentTerm"), 7); err != nil {
		t.Fatal(err)
	}
	if err := l.Set([]byte("LastVoteCand"), []byte("n2")); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, opts
}

// listDir is every file of dir with its size and modification time.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %d %d", e.Name(), fi.Size(), fi.ModTime().UnixNano()))
	}
	return out
}

// TestInspectHealthyLog: Inspect of a healthy log reports what Open serves — the first and
// last index, contiguous segments, sealed ones with their footers, compressed records, the
// head and raft's stable state — reports progress to the end, finds no problem and changes
// nothing in the directory.
func TestInspectHealthyLog(t *testing.T) {
	dir, opts := inspectFixture(t)
	before := listDir(t, dir)
	var done, total int64
	rep, err := Inspect(dir, InspectOptions{Progress: func(d, tot int64) { done, total = d, tot }})
	if err != nil {
		t.Fatal(err)
	}
	if after := listDir(t, dir); !slices.Equal(before, after) {
		t.Fatalf("Inspect changed the directory:\n%v\n%v", before, after)
	}
	if len(rep.Problems) != 0 {
		t.Fatalf("problems in a healthy log: %v", rep.Problems)
	}
	l := openT(t, dir, opts)
	first, _ := l.FirstIndex()
	last, _ := l.LastIndex()
	l.Close()
	if rep.FirstIndex != first || rep.LastIndex != last || rep.Head != 41 {
		t.Fatalf("report says %d..%d head %d, Open serves %d..%d", rep.FirstIndex, rep.LastIndex, rep.Head, first, last)
	}
	if rep.Stable.CurrentTerm != 7 || rep.Stable.LastVoteCand != "n2" {
		t.Fatalf("stable state %+v", rep.Stable)
	}
	if len(rep.Segments) < 3 || done != total || total != rep.Bytes {
		t.Fatalf("%d segments, progress %d of %d, %d bytes", len(rep.Segments), done, total, rep.Bytes)
	}
	compressed := 0
	for i, s := range rep.Segments {
		sealed := i < len(rep.Segments)-1
		if s.Sealed != sealed || s.Records == 0 || s.DataEnd > s.Size || s.FirstTerm == 0 || s.LastTerm < s.FirstTerm {
			t.Fatalf("segment %d: %+v", i, s)
		}
		compressed += s.Compressed
	}
	if compressed == 0 {
		t.Fatal("no compressed record reported")
	}
}

// TestInspectAgreesWithOpen damages a log in the ways the WAL's recovery distinguishes and
// checks that Inspect reports the damage with its file and offset, and calls it corruption
// exactly when the log refuses it: Open fails, or (damage inside a sealed segment, which Open
// does not read when the segment's footer holds) reading the damaged entry fails with
// ErrCorrupt. A torn tail, which Open truncates, is only a torn tail.
func TestInspectAgreesWithOpen(t *testing.T) {
	fixture, opts := inspectFixture(t)
	flip := func(off int64) func([]byte) []byte {
		return func(b []byte) []byte { b[off] ^= 0x20; return b }
	}
	// Where entries live, from the healthy log.
	mid := recordAt(t, fixture, opts, 150)
	tail := recordAt(t, fixture, opts, 305)
	before := recordAt(t, fixture, opts, 300) // the last record of the batch before the last
	if before.path != tail.path {
		t.Fatalf("fixture: the last two batches are not in one segment (%s, %s)", before.path, tail.path)
	}
	for _, tc := range []struct {
		name   string
		file   string // base name of the file to damage ("" to delete mid's segment)
		damage func([]byte) []byte
		offset int64
		torn   bool
		read   uint64 // an entry whose read must fail when Open succeeds
	}{
		{"flipped body byte in a sealed segment", filepath.Base(mid.path), flip(mid.end - 3), mid.start, false, 150},
		{"flipped header byte in a sealed segment", filepath.Base(mid.path), flip(mid.start + 20), mid.start, false, 150},
		{"segment header", filepath.Base(mid.path), flip(2), 0, false, 0},
		{"torn last record", filepath.Base(tail.path), func(b []byte) []byte {
			clear(b[tail.start+recHeaderSize : tail.end]) // the record's body never reached the disk
			return b
		}, tail.start, true, 0},
		{"damaged record with a later batch after it", filepath.Base(tail.path), flip(before.end - 3), before.start, false, 0},
		{"missing segment", "", nil, 8, false, 0},
		{"stable state, both slots", stableName, func(b []byte) []byte {
			b[30] ^= 1
			b[len(b)/2+30] ^= 1
			return b
		}, 0, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t, fixture)
			target := filepath.Join(dir, tc.file)
			if tc.file == "" {
				target = filepath.Join(dir, filepath.Base(mid.path))
				if err := os.Remove(target); err != nil {
					t.Fatal(err)
				}
			} else {
				b, err := os.ReadFile(target)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(target, tc.damage(b), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			rep, err := Inspect(dir, InspectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Problems) != 1 {
				t.Fatalf("problems %v, want one", rep.Problems)
			}
			p := rep.Problems[0]
			if tc.file == "" { // the gap is reported on the segment after the missing one
				target = ""
			}
			if (target != "" && p.File != target) || (tc.offset >= 0 && p.Offset != tc.offset) || p.Torn != tc.torn {
				t.Fatalf("problem %v; want file %s offset %d torn %v", p, target, tc.offset, tc.torn)
			}
			if !strings.Contains(p.String(), filepath.Base(p.File)) {
				t.Fatalf("%q does not name the file", p.String())
			}
			l, openErr := Open(dir, opts)
			refused := openErr != nil
			if openErr == nil {
				if tc.read != 0 {
					var e raft.Log
					refused = errors.Is(l.GetLog(tc.read, &e), ErrCorrupt)
				}
				if last, _ := l.LastIndex(); tc.torn && last != 304 {
					t.Fatalf("after the torn tail Open serves up to %d, want 304", last)
				}
				l.Close()
			}
			if rep.Corrupt() != refused {
				t.Fatalf("Inspect says corrupt=%v; Open says %v, the read refused: %v", rep.Corrupt(), openErr, refused)
			}
		})
	}
}
