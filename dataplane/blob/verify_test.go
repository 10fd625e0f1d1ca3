package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestVerifyDirNamesEveryDamagedBlob: a store's directory with good blobs (empty, one block,
// several blocks) and blobs damaged in each way a disk or an operator can damage them (a
// flipped data byte, a flipped header byte, a truncated file) and files that are not blobs
// where blobs live (one in the wrong fan-out directory, a stray name): VerifyDir reports exactly the damaged blobs (ErrCorrupt) and the stray
// file, counts the good ones, reports progress up to the total, and changes nothing.
func TestVerifyDirNamesEveryDamagedBlob(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{BlockSize: minBlockSize})
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[string]int{"empty": 0, "small": 100, "multi": 3*minBlockSize + 17, "flipdata": 2 * minBlockSize,
		"fliphdr": 500, "cut": minBlockSize + 1, "moved": 300}
	var good int64
	for id, n := range sizes {
		data := bytes.Repeat([]byte(id[:1]), n)
		if _, err := s.Put(context.Background(), id, bytes.NewReader(data), Expect{Size: int64(n)}); err != nil {
			t.Fatal(err)
		}
		if id == "empty" || id == "small" || id == "multi" {
			good += int64(n)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	damage := func(id string, f func(path string, b []byte) []byte) {
		p := s.path(id)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f(p, b), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	damage("flipdata", func(_ string, b []byte) []byte { b[headerSize+minBlockSize+9] ^= 1; return b })
	damage("fliphdr", func(_ string, b []byte) []byte { b[20] ^= 0x80; return b })
	damage("cut", func(_ string, b []byte) []byte { return b[:len(b)-3] })
	// A blob moved to a fan-out directory that is not its own, and a file that is no blob.
	wrong := "00"
	if fanout("moved") == wrong {
		wrong = "01"
	}
	moved := filepath.Join(dir, "blobs", wrong, "moved")
	if err := os.MkdirAll(filepath.Dir(moved), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(s.path("moved"), moved); err != nil {
		t.Fatal(err)
	}
	stray := filepath.Join(filepath.Dir(s.path("small")), "not a blob")
	if err := os.WriteFile(stray, []byte("x"), 0o640); err != nil {
		t.Fatal(err)
	}
	before := snapshotDir(t, dir)

	var last, total int64
	calls := 0
	rep, err := VerifyDir(dir, VerifyOptions{Progress: func(d, tot int64) { last, total = d, tot; calls++ }})
	if err != nil {
		t.Fatal(err)
	}
	var bad []string
	for _, p := range rep.Problems {
		if p.ID == "" {
			if (p.Path != stray && p.Path != moved) || !errors.Is(p.Err, errStray) {
				t.Errorf("unexpected stray problem %v", p)
			}
			continue
		}
		if !errors.Is(p.Err, ErrCorrupt) || !strings.Contains(p.String(), p.ID) {
			t.Errorf("problem %v does not wrap ErrCorrupt or name its blob", p)
		}
		bad = append(bad, p.ID)
	}
	slices.Sort(bad)
	if want := []string{"cut", "flipdata", "fliphdr"}; !slices.Equal(bad, want) {
		t.Fatalf("damaged blobs reported %v, want %v (report %+v)", bad, want, rep)
	}
	if rep.Blobs != len(sizes)-1 || rep.DataBytes != good || len(rep.Problems) != 5 {
		t.Fatalf("report %+v: want %d blobs, %d good bytes, 5 problems", rep, len(sizes)-1, good)
	}
	if calls != rep.Blobs || last != total || total != rep.FileBytes {
		t.Fatalf("progress: %d calls ending at %d of %d, report %d file bytes", calls, last, total, rep.FileBytes)
	}
	if after := snapshotDir(t, dir); !slices.Equal(before, after) {
		t.Fatalf("VerifyDir changed the directory:\n%v\n%v", before, after)
	}

	if _, err := VerifyDir(t.TempDir(), VerifyOptions{}); !errors.Is(err, ErrNotStore) {
		t.Fatalf("VerifyDir of an empty directory: %v, want ErrNotStore", err)
	}
}

// snapshotDir lists every file under dir with its size and modification time.
func snapshotDir(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		out = append(out, fmt.Sprintf("%s %d %d", p, fi.Size(), fi.ModTime().UnixNano()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
