package vfs

import (
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// FS is the file system under a storage package. Paths are OS paths (filepath); each method
// behaves as the os function of the same name unless its comment says otherwise. See doc.go for
// what each method guarantees about durability.
type FS interface {
	// OpenFile opens name with os.O_* flags (O_RDONLY, O_WRONLY, O_RDWR, O_CREATE, O_EXCL,
	// O_TRUNC; implementations may refuse others) and, when it creates the file, perm.
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	// Rename renames oldpath to newpath, atomically replacing newpath if it exists: a reader
	// (and recovery after a crash) sees the old file or the new one under newpath, never a mix.
	// The new name is durable only after SyncDir of newpath's directory (and the removal of the
	// old name after SyncDir of oldpath's).
	Rename(oldpath, newpath string) error
	// Remove removes the named file or empty directory; durable after SyncDir of its directory.
	Remove(name string) error
	// MkdirAll creates dir and any missing parents.
	MkdirAll(dir string, perm fs.FileMode) error
	// ReadDir returns the entries of dir sorted by name.
	ReadDir(dir string) ([]fs.DirEntry, error)
	// SyncDir makes every create, rename and remove in dir so far durable (fsync of the
	// directory).
	SyncDir(dir string) error
	// Lock creates the named file if needed and takes an exclusive lock on it, held until the
	// returned Closer is closed (or the process exits). It returns an error wrapping ErrLocked
	// when another holder has the lock.
	Lock(name string) (io.Closer, error)
}

// File is an open file. ReadAt, WriteAt and WriteVAt may be called concurrently with each
// other; Write (which advances the file offset) by one goroutine at a time.
type File interface {
	io.Writer   // writes at the file offset, which starts at 0
	io.ReaderAt // returns io.EOF with fewer bytes at the end of the file
	io.WriterAt
	io.Closer
	// WriteVAt writes the concatenation of bufs at off (pwritev), continuing after partial
	// writes, and returns the bytes written: all of them, or fewer with an error. It may
	// reslice the elements of bufs (never the bytes they hold).
	WriteVAt(bufs [][]byte, off int64) (int, error)
	// Name returns the path the file was opened with.
	Name() string
	// Stat returns the file's size, mode and modification time.
	Stat() (fs.FileInfo, error)
	// Truncate changes the file's size; bytes added read as zeros.
	Truncate(size int64) error
	// Allocate reserves disk space for [0, size) (fallocate, mode 0): later writes there do not
	// run out of space and the size grows to at least size; bytes added read as zeros. An error
	// means nothing may be assumed reserved (callers can write zeros instead).
	Allocate(size int64) error
	// Sync makes the file's data and metadata durable (fsync).
	Sync() error
	// Datasync makes the file's data durable, and the metadata needed to read it back (its
	// size), but not its times (fdatasync).
	Datasync() error
}

// Errors. ErrNoSpace and ErrIO are the errno values themselves, so errors.Is(err, ErrNoSpace)
// is true for a full disk reported by the OS and for one injected by Faulty alike, through any
// chain of %w wrapping.
var (
	// ErrNoSpace is syscall.ENOSPC: the device (or the quota) is full.
	ErrNoSpace error = syscall.ENOSPC
	// ErrIO is syscall.EIO: the device failed the operation. Faulty injects it by default.
	ErrIO error = syscall.EIO
	// ErrLocked is wrapped by Lock when another holder has the lock.
	ErrLocked = errors.New("vfs: locked by another holder")
	// ErrCrashed is returned by every operation on a Mem (and on its open files) after Crash.
	ErrCrashed = errors.New("vfs: file system crashed")
)

// TempSuffix is the suffix WriteFile writes under before renaming; packages remove leftover
// files with it when they open.
const TempSuffix = ".tmp"

// ReadFile returns the contents of the named file.
func ReadFile(fsys FS, name string) ([]byte, error) {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	b := make([]byte, st.Size())
	n, err := f.ReadAt(b, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b[:n], nil
}

// WriteFile atomically and durably replaces the named file with data: it writes name+TempSuffix,
// fsyncs it, renames it over name and fsyncs the directory. After a crash at any point, name
// holds the old bytes or the new ones, and a leftover temporary file may exist. When WriteFile
// returns an error before the rename, the temporary file is removed and name is unchanged; an
// error from the final directory fsync leaves name replaced but perhaps not durably.
func WriteFile(fsys FS, name string, data []byte, perm fs.FileMode) error {
	tmp := name + TempSuffix
	f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsys.Rename(tmp, name)
	}
	if err != nil {
		_ = fsys.Remove(tmp)
		return err
	}
	return fsys.SyncDir(filepath.Dir(name))
}

// CreateTemp creates a new file in dir, opened for reading and writing with mode 0600, whose name
// is pattern with its last "*" replaced by a random string (appended if there is no "*"), as
// os.CreateTemp does.
func CreateTemp(fsys FS, dir, pattern string) (File, error) {
	prefix, suffix := pattern, ""
	if i := strings.LastIndexByte(pattern, '*'); i >= 0 {
		prefix, suffix = pattern[:i], pattern[i+1:]
	}
	for try := 0; ; try++ {
		name := filepath.Join(dir, prefix+strconv.FormatUint(uint64(rand.Uint32()), 10)+suffix)
		f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if !errors.Is(err, fs.ErrExist) || try == 1000 {
			return f, err
		}
	}
}

// MatchBase returns a path predicate for Fault.Path: true when the last element of the path
// matches one of the filepath.Match patterns (for example "*.wal" or "next.spare").
func MatchBase(patterns ...string) func(path string) bool {
	return func(path string) bool {
		base := filepath.Base(path)
		for _, p := range patterns {
			if ok, _ := filepath.Match(p, base); ok {
				return true
			}
		}
		return false
	}
}

// NoSync returns fsys with File.Sync, File.Datasync and SyncDir turned into no-ops. For tests and
// benchmarks that trade durability for speed (wal.Options.NoSync): a crash loses data.
func NoSync(fsys FS) FS { return noSyncFS{fsys} }

type noSyncFS struct{ FS }

func (n noSyncFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := n.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return noSyncFile{f}, nil
}

func (noSyncFS) SyncDir(string) error { return nil }

type noSyncFile struct{ File }

func (noSyncFile) Sync() error     { return nil }
func (noSyncFile) Datasync() error { return nil }

// SyscallConn passes on the inner file's descriptor, if it has one (see RawConn).
func (f noSyncFile) SyscallConn() (syscall.RawConn, error) { return RawConn(f.File) }

// RawConn returns the OS descriptor behind f, for reads that a File cannot express (the WAL maps
// a segment read-only to verify it in place). It fails with errors.ErrUnsupported for files that
// have none (Mem, Faulty): callers then read through ReadAt.
func RawConn(f File) (syscall.RawConn, error) {
	if c, ok := f.(syscall.Conn); ok {
		return c.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}
