package vfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// implementations returns every FS with a fresh root directory for the contract test.
func implementations(t *testing.T) map[string]func() (FS, string) {
	return map[string]func() (FS, string){
		"os":          func() (FS, string) { return OS, t.TempDir() },
		"nosync(os)":  func() (FS, string) { return NoSync(OS), t.TempDir() },
		"faulty(os)":  func() (FS, string) { return NewFaulty(OS), t.TempDir() },
		"mem":         func() (FS, string) { return NewMem(), "/data" },
		"faulty(mem)": func() (FS, string) { return NewFaulty(NewMem()), "/data" },
		"nosync(mem)": func() (FS, string) { return NoSync(NewMem()), "/data" },
	}
}

// TestContract runs the same sequence of operations on every implementation: they must agree
// with the OS on results and errors.
func TestContract(t *testing.T) {
	for name, mk := range implementations(t) {
		t.Run(name, func(t *testing.T) {
			fsys, root := mk()
			dir := filepath.Join(root, "a", "b")
			must(t, fsys.MkdirAll(dir, 0o755))
			must(t, fsys.MkdirAll(dir, 0o755)) // exists: fine
			p := filepath.Join(dir, "f")

			if _, err := fsys.OpenFile(p, os.O_RDONLY, 0); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("open missing: %v, want ErrNotExist", err)
			}
			f, err := fsys.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
			must(t, err)
			if _, err := fsys.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644); !errors.Is(err, fs.ErrExist) {
				t.Fatalf("O_EXCL on existing file: %v, want ErrExist", err)
			}
			write(t, f, []byte("hello "))
			write(t, f, []byte("world"))
			if _, err := f.WriteAt([]byte("W"), 6); err != nil {
				t.Fatal(err)
			}
			n, err := f.WriteVAt([][]byte{[]byte("!"), nil, []byte("??")}, 11)
			if n != 3 || err != nil {
				t.Fatalf("WriteVAt: %d, %v", n, err)
			}
			must(t, f.Datasync())
			must(t, f.Sync())
			buf := make([]byte, 20)
			n, err = f.ReadAt(buf, 0)
			if n != 14 || !errors.Is(err, io.EOF) || string(buf[:n]) != "hello World!??" {
				t.Fatalf("ReadAt: %d %v %q", n, err, buf[:n])
			}
			must(t, f.Truncate(5))
			must(t, f.Allocate(8))
			st, err := f.Stat()
			must(t, err)
			if st.Size() != 8 || st.IsDir() {
				t.Fatalf("Stat after Truncate(5)+Allocate(8): size %d dir %v", st.Size(), st.IsDir())
			}
			if f.Name() != p {
				t.Fatalf("Name %q, want %q", f.Name(), p)
			}
			must(t, f.Close())
			if b, err := ReadFile(fsys, p); err != nil || !bytes.Equal(b, []byte("hello\x00\x00\x00")) {
				t.Fatalf("ReadFile: %q %v", b, err)
			}

			must(t, WriteFile(fsys, filepath.Join(dir, "g"), []byte("one"), 0o644))
			must(t, WriteFile(fsys, filepath.Join(dir, "g"), []byte("two"), 0o644))
			if b, _ := ReadFile(fsys, filepath.Join(dir, "g")); string(b) != "two" {
				t.Fatalf("WriteFile replaced with %q", b)
			}
			tf, err := CreateTemp(fsys, dir, "put-*.tmp")
			must(t, err)
			must(t, tf.Close())
			if ok, _ := filepath.Match(filepath.Join(dir, "put-*.tmp"), tf.Name()); !ok {
				t.Fatalf("CreateTemp name %q", tf.Name())
			}
			must(t, fsys.Rename(p, filepath.Join(dir, "h")))
			must(t, fsys.Remove(tf.Name()))
			must(t, fsys.SyncDir(dir))
			if got := names(t, fsys, dir); !slices.Equal(got, []string{"g", "h"}) {
				t.Fatalf("ReadDir: %v", got)
			}
			if got := names(t, fsys, filepath.Join(root, "a")); !slices.Equal(got, []string{"b"}) {
				t.Fatalf("ReadDir of parent: %v", got)
			}
			if err := fsys.Remove(filepath.Join(dir, "nope")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("Remove missing: %v", err)
			}

			l, err := fsys.Lock(filepath.Join(dir, "LOCK"))
			must(t, err)
			if _, err := fsys.Lock(filepath.Join(dir, "LOCK")); !errors.Is(err, ErrLocked) {
				t.Fatalf("second Lock: %v, want ErrLocked", err)
			}
			must(t, l.Close())
			l, err = fsys.Lock(filepath.Join(dir, "LOCK"))
			must(t, err)
			must(t, l.Close())
		})
	}
}

// TestMemCrash: what Crash keeps is exactly what was synced under a synced name.
func TestMemCrash(t *testing.T) {
	m := NewMem()
	must(t, m.MkdirAll("/d", 0o755))
	create := func(name, data string, syncFile bool) File {
		f, err := m.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
		must(t, err)
		write(t, f, []byte(data))
		if syncFile {
			must(t, f.Sync())
		}
		return f
	}
	create("/d/durable", "kept", true).Close()
	create("/d/renamed", "r", true).Close()
	create("/d/removed", "x", true).Close()
	grow := create("/d/grown", "base", true)
	must(t, m.SyncDir("/d"))

	write(t, grow, []byte("+unsynced")) // written after the last sync: lost
	create("/d/nosync", "lost", false)  // name synced below, data never
	create("/d/both", "synced data and name", true)
	must(t, m.SyncDir("/d"))
	create("/d/late", "synced data, name created after the dir sync", true)
	must(t, m.Rename("/d/renamed", "/d/renamed2"))
	must(t, m.Remove("/d/removed"))

	c := m.Crash()
	want := map[string]string{"durable": "kept", "renamed": "r", "removed": "x", "grown": "base", "nosync": "", "both": "synced data and name"}
	got := map[string]string{}
	for _, n := range names(t, c, "/d") {
		b, err := ReadFile(c, "/d/"+n)
		must(t, err)
		got[n] = string(b)
	}
	if !maps.Equal(got, want) {
		t.Fatalf("after Crash:\n got %q\nwant %q", got, want)
	}
	if _, err := grow.Write([]byte("z")); !errors.Is(err, ErrCrashed) {
		t.Fatalf("write on a file of the crashed Mem: %v, want ErrCrashed", err)
	}
	if err := m.Remove("/d/durable"); !errors.Is(err, ErrCrashed) {
		t.Fatalf("Remove on the crashed Mem: %v, want ErrCrashed", err)
	}
	if _, err := ReadFile(c, "/d/durable"); err != nil {
		t.Fatalf("the crashed Mem changed the new one: %v", err)
	}
}

// TestFaulty table-tests the fault selection: which operation fails, with what, and what
// reaches the inner file system.
func TestFaulty(t *testing.T) {
	cases := []struct {
		name      string
		fault     Fault
		do        func(fsys FS, f File) error // runs after "/d/f" is created with "0123456789"
		wantErr   error
		wantData  string // the contents of /d/f afterwards
		wantFails int
	}{
		{
			name:  "third write fails with ENOSPC",
			fault: Fault{Ops: OpWrite, After: 2, Count: 1, Err: ErrNoSpace},
			do: func(fsys FS, f File) error {
				for i, s := range []string{"a", "b", "c", "d"} {
					if _, err := f.WriteAt([]byte(s), int64(i)); err != nil && i != 2 {
						t.Errorf("write %d: %v", i, err)
					} else if i == 2 && err == nil {
						t.Errorf("write 2 succeeded")
					}
				}
				_, err := f.WriteAt([]byte("X"), 9)
				return err
			},
			wantData: "ab2d45678X", wantFails: 1,
		},
		{
			name:     "sticky EIO on sync",
			fault:    Fault{Ops: OpSync},
			do:       func(fsys FS, f File) error { _ = f.Sync(); return f.Datasync() },
			wantErr:  ErrIO,
			wantData: "0123456789", wantFails: 2,
		},
		{
			name:  "short write writes half",
			fault: Fault{Ops: OpWrite, Short: true, Count: 1},
			do: func(fsys FS, f File) error {
				n, err := f.WriteVAt([][]byte{[]byte("ab"), []byte("cdef")}, 2)
				if n != 3 {
					t.Errorf("short WriteVAt wrote %d, want 3", n)
				}
				return err
			},
			wantErr:  ErrIO,
			wantData: "01abc56789", wantFails: 1,
		},
		{
			name:  "rename matched by its target name",
			fault: Fault{Ops: OpRename, Path: MatchBase("*.final"), Err: ErrNoSpace},
			do: func(fsys FS, f File) error {
				if err := fsys.Rename("/d/f", "/d/g"); err != nil {
					t.Errorf("rename to g: %v", err)
				}
				return fsys.Rename("/d/g", "/d/f.final")
			},
			wantErr:  ErrNoSpace,
			wantData: "", wantFails: 1, // /d/f was renamed away
		},
		{
			name:  "an open file is matched by the name it was renamed to",
			fault: Fault{Ops: OpSync, Path: MatchBase("*.final")},
			do: func(fsys FS, f File) error {
				if err := f.Sync(); err != nil {
					t.Errorf("sync before the rename: %v", err)
				}
				if err := fsys.Rename("/d/f", "/d/f.final"); err != nil {
					t.Errorf("rename: %v", err)
				}
				err := f.Sync()
				var pe *fs.PathError
				if errors.As(err, &pe) && pe.Path != "/d/f.final" {
					t.Errorf("error names %q, want the current name", pe.Path)
				}
				return err
			},
			wantErr:  ErrIO,
			wantData: "", wantFails: 1,
		},
		{
			name:      "path predicate spares other files",
			fault:     Fault{Ops: OpWrite | OpSync, Path: MatchBase("other")},
			do:        func(fsys FS, f File) error { _, err := f.WriteAt([]byte("zz"), 0); return errors.Join(err, f.Sync()) },
			wantData:  "zz23456789",
			wantFails: 0,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fsys := NewFaulty(NewMem())
			must(t, fsys.MkdirAll("/d", 0o755))
			f, err := fsys.OpenFile("/d/f", os.O_RDWR|os.O_CREATE, 0o644)
			must(t, err)
			write(t, f, []byte("0123456789"))
			fsys.Inject(tc.fault)
			err = tc.do(fsys, f)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			var pe *fs.PathError
			var le *os.LinkError
			if err != nil && !errors.As(err, &pe) && !errors.As(err, &le) {
				t.Fatalf("err %T is neither *fs.PathError nor *os.LinkError", err)
			}
			if got := fsys.Failures(); got != tc.wantFails {
				t.Fatalf("Failures() = %d, want %d", got, tc.wantFails)
			}
			fsys.Reset()
			b, _ := ReadFile(fsys, "/d/f")
			if string(b) != tc.wantData {
				t.Fatalf("contents %q, want %q", b, tc.wantData)
			}
		})
	}
}

// TestNoSpaceIsTheErrno: the sentinel matches the OS's own ENOSPC and survives wrapping.
func TestNoSpaceIsTheErrno(t *testing.T) {
	fsys := NewFaulty(OS)
	fsys.Inject(Fault{Ops: OpWrite, Err: ErrNoSpace})
	f, err := fsys.OpenFile(filepath.Join(t.TempDir(), "f"), os.O_RDWR|os.O_CREATE, 0o644)
	must(t, err)
	defer f.Close()
	_, err = f.Write([]byte("x"))
	wrapped := errors.Join(errors.New("context"), err)
	if !errors.Is(wrapped, ErrNoSpace) || !errors.Is(wrapped, syscall.ENOSPC) || errors.Is(wrapped, ErrIO) {
		t.Fatalf("%v: Is(ErrNoSpace) %v, Is(ENOSPC) %v", wrapped, errors.Is(wrapped, ErrNoSpace), errors.Is(wrapped, syscall.ENOSPC))
	}
}

// TestCrashAfterFailedSync: a sync that fails syncs nothing, so Crash loses the write.
func TestCrashAfterFailedSync(t *testing.T) {
	m := NewMem()
	fsys := NewFaulty(m)
	must(t, fsys.MkdirAll("/d", 0o755))
	f, err := fsys.OpenFile("/d/f", os.O_RDWR|os.O_CREATE, 0o644)
	must(t, err)
	write(t, f, []byte("durable"))
	must(t, f.Sync())
	must(t, fsys.SyncDir("/d"))
	fsys.Inject(Fault{Ops: OpSync})
	write(t, f, []byte(" and not"))
	if err := f.Sync(); !errors.Is(err, ErrIO) {
		t.Fatalf("Sync: %v", err)
	}
	if b, _ := ReadFile(m.Crash(), "/d/f"); string(b) != "durable" {
		t.Fatalf("after the crash %q, want %q", b, "durable")
	}
}

func TestMemRefusesUnknownFlags(t *testing.T) {
	m := NewMem()
	if _, err := m.OpenFile("/f", os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644); err == nil {
		t.Fatal("O_APPEND accepted; Mem does not implement it")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, f File, b []byte) {
	t.Helper()
	if n, err := f.Write(b); n != len(b) || err != nil {
		t.Fatalf("Write: %d, %v", n, err)
	}
}

func names(t *testing.T, fsys FS, dir string) []string {
	t.Helper()
	ents, err := fsys.ReadDir(dir)
	must(t, err)
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}
