package snapshot

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// inspectFixture is a store with a full snapshot and a delta on it, closed, and its IDs.
func inspectFixture(t *testing.T) (dir, full, delta string) {
	t.Helper()
	dir = t.TempDir()
	s, err := NewStore(dir, Options{ChunkSize: 4096, Retain: 5})
	if err != nil {
		t.Fatal(err)
	}
	st := state{}
	for i := 0; i < 1000; i++ {
		st[fmt.Sprintf("key-%05d", i)] = strings.Repeat(fmt.Sprintf("value %d ", i%7), 8)
	}
	if full, err = persist(t, s, 10, func(w io.Writer) error { return writeFull(w, st) }); err != nil {
		t.Fatal(err)
	}
	next := st.clone()
	next["key-00007"] = "changed"
	delete(next, "key-00008")
	if delta, err = persist(t, s, 20, func(w io.Writer) error { return writeDelta(w, full, st, next) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, full, delta
}

func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		fi, _ := e.Info()
		out = append(out, fmt.Sprintf("%s %d %d", e.Name(), fi.Size(), fi.ModTime().UnixNano()))
	}
	return out
}

// TestInspectHealthyStore: both snapshots are listed newest first with their runs (the delta
// names the base and its delta run), every run with its kind, chunks, records and a
// compression ratio above 1 for compressible records, no problems, progress to the total, and
// the directory unchanged.
func TestInspectHealthyStore(t *testing.T) {
	dir, full, delta := inspectFixture(t)
	before := listFiles(t, dir)
	var done, total int64
	rep, err := Inspect(dir, InspectOptions{Progress: func(d, tot int64) { done, total = d, tot }})
	if err != nil {
		t.Fatal(err)
	}
	if after := listFiles(t, dir); !slices.Equal(before, after) {
		t.Fatalf("Inspect changed the directory:\n%v\n%v", before, after)
	}
	if len(rep.Problems) != 0 || done != total || total != rep.Bytes {
		t.Fatalf("problems %v, progress %d of %d, %d bytes", rep.Problems, done, total, rep.Bytes)
	}
	if len(rep.Snapshots) != 2 || rep.Snapshots[0].ID != delta || rep.Snapshots[1].ID != full ||
		len(rep.Snapshots[0].Runs) != 2 || len(rep.Snapshots[1].Runs) != 1 || rep.Snapshots[0].Runs[0] != rep.Snapshots[1].Runs[0] {
		t.Fatalf("snapshots %+v", rep.Snapshots)
	}
	if len(rep.Runs) != 2 {
		t.Fatalf("runs %+v", rep.Runs)
	}
	base, d := rep.Runs[0], rep.Runs[1]
	if base.Kind != "base" || base.Records != 1000 || base.Chunks < 10 || len(base.Snapshots) != 2 || base.Ratio() <= 2 {
		t.Fatalf("base run %+v (ratio %.2f)", base, base.Ratio())
	}
	if d.Kind != "delta" || d.Records != 2 || d.Tombstones != 1 || !slices.Equal(d.Snapshots, []string{delta}) {
		t.Fatalf("delta run %+v", d)
	}
	if rep.Ratio() <= 1 {
		t.Fatalf("store ratio %.2f", rep.Ratio())
	}
}

// TestInspectFindsDamage: damage to a chunk, a run's footer, a manifest, a missing run: each
// is reported with its file, and each is damage the store itself refuses (NewStore sets the
// manifest aside, or reading the snapshot fails). A run no manifest names is listed as such,
// not as a problem.
func TestInspectFindsDamage(t *testing.T) {
	fixture, full, delta := inspectFixture(t)
	rep, err := Inspect(fixture, InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	base, deltaRun := rep.Runs[0].File, rep.Runs[1].File
	for _, tc := range []struct {
		name   string
		damage func(dir string)
		file   string
		says   string
	}{
		{"flipped chunk byte", func(dir string) { flipByte(t, filepath.Join(dir, base), 100) }, base, "chunk"},
		{"truncated run", func(dir string) { truncate(t, filepath.Join(dir, deltaRun), 10) }, deltaRun, "footer"},
		{"flipped manifest byte", func(dir string) { flipByte(t, filepath.Join(dir, delta+manifestSuffix), 30) }, delta + manifestSuffix, "checksum"},
		{"missing run", func(dir string) {
			if err := os.Remove(filepath.Join(dir, deltaRun)); err != nil {
				t.Fatal(err)
			}
		}, delta + manifestSuffix, "does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			copyFiles(t, fixture, dir)
			tc.damage(dir)
			rep, err := Inspect(dir, InspectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Problems) != 1 || rep.Problems[0].File != tc.file || !strings.Contains(rep.Problems[0].String(), tc.says) {
				t.Fatalf("problems %v; want one in %s saying %q", rep.Problems, tc.file, tc.says)
			}
			if p := rep.Problems[0]; !errors.Is(p.Err, ErrCorrupt) && !errors.Is(p.Err, ErrTruncated) && !errors.Is(p.Err, os.ErrNotExist) {
				t.Fatalf("problem %v wraps neither ErrCorrupt nor ErrTruncated", p)
			}
			// The store refuses the same damage: the snapshot is set aside or cannot be read.
			s, err := NewStore(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			refused := 0
			for _, id := range []string{full, delta} {
				if _, err := openState(t, s, id); err != nil {
					refused++
				}
			}
			if refused == 0 {
				t.Fatal("the store reads every snapshot despite the damage")
			}
		})
	}

	// An orphan run (a crash between writing a run and its manifest): listed, named by no
	// snapshot, not a problem.
	dir := t.TempDir()
	copyFiles(t, fixture, dir)
	b, err := os.ReadFile(filepath.Join(dir, deltaRun))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, runName(99)), b, 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err = Inspect(dir, InspectOptions{})
	if err != nil || len(rep.Problems) != 0 || len(rep.Runs) != 3 || len(rep.Runs[2].Snapshots) != 0 {
		t.Fatalf("orphan run: %v, %+v", err, rep)
	}
}

func flipByte(t *testing.T, path string, off int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x08
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func truncate(t *testing.T, path string, by int64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()-by); err != nil {
		t.Fatal(err)
	}
}

func copyFiles(t *testing.T, src, dst string) {
	t.Helper()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
