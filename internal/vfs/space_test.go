package vfs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestSpaceOS: statfs of a real directory reports a non-empty file system with Free ≤ Total, and
// the wrappers pass it on.
func TestSpaceOS(t *testing.T) {
	dir := t.TempDir()
	for name, fsys := range map[string]FS{"os": OS, "nosync(os)": NoSync(OS), "faulty(os)": NewFaulty(OS)} {
		sp, err := DiskSpace(fsys, dir)
		if err != nil || sp.Total == 0 || sp.Free > sp.Total {
			t.Fatalf("%s: DiskSpace = %+v, %v", name, sp, err)
		}
	}
	if _, err := DiskSpace(OS, filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("DiskSpace of a missing path: %v", err)
	}
}

// TestMemCapacity: a Mem with a capacity behaves as a small disk: growth past it stores what fits
// and fails with ErrNoSpace, rewriting allocated bytes still works, removing a file frees its
// bytes, and Space reports what is left.
func TestMemCapacity(t *testing.T) {
	m := NewMem()
	if _, err := DiskSpace(m, "/"); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Space without a capacity: %v, want ErrUnsupported", err)
	}
	m.SetCapacity(10)
	must(t, m.MkdirAll("/d", 0o755))
	f, err := m.OpenFile("/d/a", os.O_RDWR|os.O_CREATE, 0o644)
	must(t, err)
	write(t, f, []byte("123456"))
	if sp, err := DiskSpace(NewFaulty(m), "/d"); err != nil || sp != (Space{Total: 10, Free: 4}) {
		t.Fatalf("Space = %+v, %v; want 10 total, 4 free", sp, err)
	}
	n, err := f.Write([]byte("789abc"))
	if n != 4 || !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Write past the capacity: %d, %v; want 4 bytes and ErrNoSpace", n, err)
	}
	if n, err := f.WriteAt([]byte("xyz"), 20); n != 0 || !errors.Is(err, ErrNoSpace) {
		t.Fatalf("WriteAt past the end of a full disk: %d, %v", n, err)
	}
	if n, err := f.WriteAt([]byte("ABCDEFGHIJ"), 0); n != 10 || err != nil {
		t.Fatalf("rewriting allocated bytes on a full disk: %d, %v", n, err)
	}
	g, err := m.OpenFile("/d/b", os.O_RDWR|os.O_CREATE, 0o644)
	must(t, err)
	if err := g.Allocate(1); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Allocate on a full disk: %v", err)
	}
	if n, err := g.WriteVAt([][]byte{[]byte("x")}, 0); n != 0 || !errors.Is(err, ErrNoSpace) {
		t.Fatalf("WriteVAt on a full disk: %d, %v", n, err)
	}
	must(t, m.Remove("/d/a")) // frees its 10 bytes, though f is still open
	if m.Used() != 0 {
		t.Fatalf("Used after removing the only file: %d", m.Used())
	}
	must(t, g.Allocate(4))
	write(t, f, []byte("written to a removed file does not count"))
	if m.Used() != 4 {
		t.Fatalf("Used = %d, want 4", m.Used())
	}
	// Renaming over a file frees the replaced one; the crash image keeps the capacity.
	h, err := m.OpenFile("/d/c", os.O_RDWR|os.O_CREATE, 0o644)
	must(t, err)
	write(t, h, []byte("cc"))
	must(t, h.Sync())
	must(t, m.Rename("/d/c", "/d/b"))
	must(t, m.SyncDir("/d"))
	if m.Used() != 2 {
		t.Fatalf("Used after renaming over a 4-byte file: %d, want 2", m.Used())
	}
	c := m.Crash()
	if sp, err := c.Space("/"); err != nil || sp != (Space{Total: 10, Free: 8}) {
		t.Fatalf("Space after Crash = %+v, %v", sp, err)
	}
}
