package vfs

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
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
// a short write writes half). An open file is matched by its current name: Faulty follows the
// renames made through it. Wrap a Mem to combine faults with Crash. Safe for concurrent use.
type Faulty struct {
	inner FS

	mu       sync.Mutex
	faults   []*faultState
	failures int
	open     map[*faultyFile]struct{} // files not closed yet, renamed along with their names
}

type faultState struct {
	Fault
	seen, hits int
}

// NewFaulty returns a Faulty over inner with no faults injected.
func NewFaulty(inner FS) *Faulty {
	return &Faulty{inner: inner, open: map[*faultyFile]struct{}{}}
}

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
	return f.checkLocked(op, paths...)
}

// checkFile is check for an operation on an open file, under its current name.
func (f *Faulty) checkFile(op Op, ff *faultyFile) (*Fault, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.checkLocked(op, ff.path), ff.path
}

func (f *Faulty) checkLocked(op Op, paths ...string) *Fault {
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
	ff := &faultyFile{File: inner, fs: f, path: filepath.Clean(name)}
	f.mu.Lock()
	f.open[ff] = struct{}{}
	f.mu.Unlock()
	return ff, nil
}

func (f *Faulty) Rename(oldpath, newpath string) error {
	if ft := f.check(OpRename, oldpath, newpath); ft != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: ft.err()}
	}
	if err := f.inner.Rename(oldpath, newpath); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	oldpath, newpath = filepath.Clean(oldpath), filepath.Clean(newpath)
	for ff := range f.open {
		if ff.path == oldpath {
			ff.path = newpath
		}
	}
	return nil
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
	fs   *Faulty
	path string // the file's current name; guarded by fs.mu
}

// fault returns the error for operation op (named opName in the error) if a fault selects it.
func (f *faultyFile) fault(op Op, opName string) (*Fault, error) {
	ft, path := f.fs.checkFile(op, f)
	if ft == nil {
		return nil, nil
	}
	return ft, &fs.PathError{Op: opName, Path: path, Err: ft.err()}
}

func (f *faultyFile) Write(p []byte) (int, error) {
	if ft, err := f.fault(OpWrite, "write"); ft != nil {
		n := 0
		if ft.Short {
			n, _ = f.File.Write(p[:len(p)/2])
		}
		return n, err
	}
	return f.File.Write(p)
}

func (f *faultyFile) WriteAt(p []byte, off int64) (int, error) {
	if ft, err := f.fault(OpWrite, "write"); ft != nil {
		n := 0
		if ft.Short {
			n, _ = f.File.WriteAt(p[:len(p)/2], off)
		}
		return n, err
	}
	return f.File.WriteAt(p, off)
}

func (f *faultyFile) WriteVAt(bufs [][]byte, off int64) (int, error) {
	if ft, err := f.fault(OpWrite, "pwritev"); ft != nil {
		n := 0
		if ft.Short {
			n, _ = f.File.WriteVAt(firstBytes(bufs, totalLen(bufs)/2), off)
		}
		return n, err
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
	if ft, err := f.fault(OpRead, "read"); ft != nil {
		return 0, err
	}
	return f.File.ReadAt(p, off)
}

func (f *faultyFile) Sync() error {
	if ft, err := f.fault(OpSync, "sync"); ft != nil {
		return err
	}
	return f.File.Sync()
}

func (f *faultyFile) Datasync() error {
	if ft, err := f.fault(OpSync, "fdatasync"); ft != nil {
		return err
	}
	return f.File.Datasync()
}

func (f *faultyFile) Truncate(size int64) error {
	if ft, err := f.fault(OpTruncate, "truncate"); ft != nil {
		return err
	}
	return f.File.Truncate(size)
}

func (f *faultyFile) Allocate(size int64) error {
	if ft, err := f.fault(OpTruncate, "fallocate"); ft != nil {
		return err
	}
	return f.File.Allocate(size)
}

func (f *faultyFile) Close() error {
	f.fs.mu.Lock()
	delete(f.fs.open, f)
	f.fs.mu.Unlock()
	return f.File.Close()
}
