package vfs

import (
	"io"
	"io/fs"
	"os"
	"sync"
)

// Op is a kind of file-system operation; Fault.Ops is a set of them.
type Op uint16

const (
	OpOpen     Op = 1 << iota // FS.OpenFile, FS.Lock
	OpRead                    // File.ReadAt, FS.ReadDir
	OpWrite                   // File.Write, File.WriteAt, File.WriteVAt
	OpSync                    // File.Sync, File.Datasync
	OpSyncDir                 // FS.SyncDir
	OpRename                  // FS.Rename (the fault's Path is matched against both names)
	OpRemove                  // FS.Remove
	OpTruncate                // File.Truncate, File.Allocate
	OpMkdir                   // FS.MkdirAll
)

// Fault selects operations that Faulty makes fail.
//
// The Nth matching write, for example: Fault{Ops: OpWrite, After: N-1, Count: 1}. A full disk
// from now on: Fault{Ops: OpWrite | OpTruncate, Err: ErrNoSpace}.
type Fault struct {
	// Ops are the operations the fault applies to.
	Ops Op
	// Path selects the files it applies to (see MatchBase); nil means every file.
	Path func(path string) bool
	// After is how many matching operations succeed before the first one fails.
	After int
	// Count is how many operations fail before the fault is spent; 0 means every matching
	// operation after the first After fails, until Reset.
	Count int
	// Err is the error a failing operation returns, wrapped in an *fs.PathError (or, for a
	// rename, an *os.LinkError) as the OS would; nil means ErrIO.
	Err error
	// Short makes a failing write a torn one: it writes the first half of its bytes (rounded
	// down) before it returns the error. Other operations ignore it.
	Short bool
}

// Faulty is an FS that passes every operation to an inner FS, except the operations that an
// injected Fault selects: those fail without reaching the inner FS (a failing sync syncs nothing;
// a short write writes half). Wrap a Mem to combine faults with Crash. Safe for concurrent use.
type Faulty struct {
	inner FS

	mu       sync.Mutex
	faults   []*faultState
	failures int
}

type faultState struct {
	Fault
	seen, hits int
}

// NewFaulty returns a Faulty over inner with no faults injected.
func NewFaulty(inner FS) *Faulty { return &Faulty{inner: inner} }

// Inject adds a fault. Faults are checked in the order they were injected; an operation fails
// with the first one that selects it.
func (f *Faulty) Inject(ft Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, &faultState{Fault: ft})
}

// Reset removes every fault: from now on every operation reaches the inner FS.
func (f *Faulty) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = nil
}

// Failures returns how many operations have failed by a fault so far.
func (f *Faulty) Failures() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failures
}

// check returns the fault that makes operation op on paths fail, or nil.
func (f *Faulty) check(op Op, paths ...string) *Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, st := range f.faults {
		if st.Ops&op == 0 || !st.matches(paths) || (st.Count > 0 && st.hits >= st.Count) {
			continue
		}
		st.seen++
		if st.seen <= st.After {
			continue
		}
		st.hits++
		f.failures++
		return &st.Fault
	}
	return nil
}

func (st *faultState) matches(paths []string) bool {
	if st.Path == nil {
		return true
	}
	for _, p := range paths {
		if st.Path(p) {
			return true
		}
	}
	return false
}

func (ft *Fault) err() error {
	if ft.Err == nil {
		return ErrIO
	}
	return ft.Err
}

func (f *Faulty) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	if ft := f.check(OpOpen, name); ft != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: ft.err()}
	}
	inner, err := f.inner.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultyFile{File: inner, fs: f}, nil
}

func (f *Faulty) Rename(oldpath, newpath string) error {
	if ft := f.check(OpRename, oldpath, newpath); ft != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: ft.err()}
	}
	return f.inner.Rename(oldpath, newpath)
}

func (f *Faulty) Remove(name string) error {
	if ft := f.check(OpRemove, name); ft != nil {
		return &fs.PathError{Op: "remove", Path: name, Err: ft.err()}
	}
	return f.inner.Remove(name)
}

func (f *Faulty) MkdirAll(dir string, perm fs.FileMode) error {
	if ft := f.check(OpMkdir, dir); ft != nil {
		return &fs.PathError{Op: "mkdir", Path: dir, Err: ft.err()}
	}
	return f.inner.MkdirAll(dir, perm)
}

func (f *Faulty) ReadDir(dir string) ([]fs.DirEntry, error) {
	if ft := f.check(OpRead, dir); ft != nil {
		return nil, &fs.PathError{Op: "readdirent", Path: dir, Err: ft.err()}
	}
	return f.inner.ReadDir(dir)
}

func (f *Faulty) SyncDir(dir string) error {
	if ft := f.check(OpSyncDir, dir); ft != nil {
		return &fs.PathError{Op: "sync", Path: dir, Err: ft.err()}
	}
	return f.inner.SyncDir(dir)
}

func (f *Faulty) Lock(name string) (io.Closer, error) {
	if ft := f.check(OpOpen, name); ft != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: ft.err()}
	}
	return f.inner.Lock(name)
}

// faultyFile checks every write, sync, truncate and read of one file against its Faulty. It does
// not implement syscall.Conn, so that every read goes through ReadAt.
type faultyFile struct {
	File
	fs *Faulty
}

func (f *faultyFile) fail(op string, ft *Fault) error {
	return &fs.PathError{Op: op, Path: f.Name(), Err: ft.err()}
}

func (f *faultyFile) Write(p []byte) (int, error) {
	if ft := f.fs.check(OpWrite, f.Name()); ft != nil {
		n := 0
		if ft.Short {
			n, _ = f.File.Write(p[:len(p)/2])
		}
		return n, f.fail("write", ft)
	}
	return f.File.Write(p)
}

func (f *faultyFile) WriteAt(p []byte, off int64) (int, error) {
	if ft := f.fs.check(OpWrite, f.Name()); ft != nil {
		n := 0
		if ft.Short {
			n, _ = f.File.WriteAt(p[:len(p)/2], off)
		}
		return n, f.fail("write", ft)
	}
	return f.File.WriteAt(p, off)
}

func (f *faultyFile) WriteVAt(bufs [][]byte, off int64) (int, error) {
	if ft := f.fs.check(OpWrite, f.Name()); ft != nil {
		n := 0
		if ft.Short {
			n, _ = f.File.WriteVAt(firstBytes(bufs, totalLen(bufs)/2), off)
		}
		return n, f.fail("pwritev", ft)
	}
	return f.File.WriteVAt(bufs, off)
}

func totalLen(bufs [][]byte) int {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	return n
}

// firstBytes returns buffers holding the first n bytes of bufs.
func firstBytes(bufs [][]byte, n int) [][]byte {
	var out [][]byte
	for _, b := range bufs {
		if n == 0 {
			break
		}
		b = b[:min(len(b), n)]
		out = append(out, b)
		n -= len(b)
	}
	return out
}

func (f *faultyFile) ReadAt(p []byte, off int64) (int, error) {
	if ft := f.fs.check(OpRead, f.Name()); ft != nil {
		return 0, f.fail("read", ft)
	}
	return f.File.ReadAt(p, off)
}

func (f *faultyFile) Sync() error {
	if ft := f.fs.check(OpSync, f.Name()); ft != nil {
		return f.fail("sync", ft)
	}
	return f.File.Sync()
}

func (f *faultyFile) Datasync() error {
	if ft := f.fs.check(OpSync, f.Name()); ft != nil {
		return f.fail("fdatasync", ft)
	}
	return f.File.Datasync()
}

func (f *faultyFile) Truncate(size int64) error {
	if ft := f.fs.check(OpTruncate, f.Name()); ft != nil {
		return f.fail("truncate", ft)
	}
	return f.File.Truncate(size)
}

func (f *faultyFile) Allocate(size int64) error {
	if ft := f.fs.check(OpTruncate, f.Name()); ft != nil {
		return f.fail("fallocate", ft)
	}
	return f.File.Allocate(size)
}
