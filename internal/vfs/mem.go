package vfs

import (
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"syscall"
	"time"
)

// Mem is an in-memory FS that remembers what is durable, so that Crash can throw away what a
// power cut may lose. It keeps, per file, its current bytes and the bytes as of its last Sync or
// Datasync, and per directory its current names and the names as of its last SyncDir. Crash
// models the harshest outcome the storage packages' crash models allow: every write not followed
// by a sync of its file is lost, and every create, rename and remove not followed by SyncDir of
// its directory is undone. Directories themselves are durable as soon as MkdirAll creates them.
// For tests; safe for concurrent use (one lock for everything).
type Mem struct {
	mu      sync.Mutex
	dirs    map[string]*memDir // by cleaned path
	locks   map[string]bool
	crashed bool

	capacity int64 // bytes; 0 is unlimited (SetCapacity, space.go)
	used     int64 // bytes of the inodes that have a name (linked)
}

type memDir struct {
	files  map[string]*memInode // current names
	synced map[string]*memInode // names as of the last SyncDir
}

type memInode struct {
	data   []byte
	synced []byte // data as of the last Sync or Datasync
	mtime  time.Time
	linked bool // it has a name: its bytes count in Mem.used
}

// NewMem returns an empty Mem whose root directories "/" and "." exist.
func NewMem() *Mem {
	m := &Mem{dirs: map[string]*memDir{}, locks: map[string]bool{}}
	m.dirs["/"] = newMemDir()
	m.dirs["."] = newMemDir()
	return m
}

func newMemDir() *memDir {
	return &memDir{files: map[string]*memInode{}, synced: map[string]*memInode{}}
}

// Crash returns the file system as it would be found after a power cut now: only synced bytes
// under durable names (see Mem). From then on m and every file open on it fail with ErrCrashed,
// so code still running against it cannot change what the returned Mem holds.
func (m *Mem) Crash() *Mem {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.crashed = true
	n := NewMem()
	n.capacity = m.capacity
	for p, d := range m.dirs {
		nd := newMemDir()
		for name, ino := range d.synced {
			c := &memInode{data: slices.Clone(ino.synced), synced: slices.Clone(ino.synced), mtime: ino.mtime, linked: true}
			nd.files[name], nd.synced[name] = c, c
			n.used += int64(len(c.data))
		}
		n.dirs[p] = nd
	}
	return n
}

func pathErr(op, path string, err error) error { return &fs.PathError{Op: op, Path: path, Err: err} }

// lookup splits name into its directory and base; it returns the directory or an error.
// Caller holds mu.
func (m *Mem) lookup(op, name string) (*memDir, string, error) {
	if m.crashed {
		return nil, "", pathErr(op, name, ErrCrashed)
	}
	name = filepath.Clean(name)
	d := m.dirs[filepath.Dir(name)]
	if d == nil {
		return nil, "", pathErr(op, name, syscall.ENOENT)
	}
	return d, filepath.Base(name), nil
}

// memFlags are the OpenFile flags Mem implements; it refuses others.
const memFlags = os.O_WRONLY | os.O_RDWR | os.O_CREATE | os.O_EXCL | os.O_TRUNC

func (m *Mem) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if flag&^memFlags != 0 {
		return nil, pathErr("open", name, fmt.Errorf("vfs: Mem does not implement open flags %#x", flag&^memFlags))
	}
	d, base, err := m.lookup("open", name)
	if err != nil {
		return nil, err
	}
	if m.dirs[filepath.Clean(name)] != nil {
		return nil, pathErr("open", name, syscall.EISDIR)
	}
	ino := d.files[base]
	switch {
	case ino != nil && flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL:
		return nil, pathErr("open", name, syscall.EEXIST)
	case ino == nil && flag&os.O_CREATE == 0:
		return nil, pathErr("open", name, syscall.ENOENT)
	case ino == nil:
		ino = &memInode{mtime: time.Now(), linked: true}
		d.files[base] = ino
	case flag&os.O_TRUNC != 0:
		m.resize(ino, 0)
		ino.mtime = time.Now()
	}
	return &memFile{m: m, ino: ino, name: name, flag: flag}, nil
}

func (m *Mem) Rename(oldpath, newpath string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	od, ob, err := m.lookup("rename", oldpath)
	if err != nil {
		return err
	}
	nd, nb, err := m.lookup("rename", newpath)
	if err != nil {
		return err
	}
	ino := od.files[ob]
	if ino == nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: syscall.ENOENT}
	}
	if old := nd.files[nb]; old != nil && old != ino {
		m.unlink(old)
	}
	delete(od.files, ob)
	nd.files[nb] = ino
	return nil
}

func (m *Mem) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, base, err := m.lookup("remove", name)
	if err != nil {
		return err
	}
	if ino := d.files[base]; ino != nil {
		m.unlink(ino)
		delete(d.files, base)
		return nil
	}
	p := filepath.Clean(name)
	sub := m.dirs[p]
	if sub == nil {
		return pathErr("remove", name, syscall.ENOENT)
	}
	if len(sub.files) > 0 || len(m.subdirs(p)) > 0 {
		return pathErr("remove", name, syscall.ENOTEMPTY)
	}
	delete(m.dirs, p)
	return nil
}

// subdirs returns the names of the directories directly under p. Caller holds mu.
func (m *Mem) subdirs(p string) []string {
	var out []string
	for q := range m.dirs {
		if q != p && filepath.Dir(q) == p {
			out = append(out, filepath.Base(q))
		}
	}
	return out
}

func (m *Mem) MkdirAll(dir string, perm fs.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.crashed {
		return pathErr("mkdir", dir, ErrCrashed)
	}
	var missing []string
	for p := filepath.Clean(dir); m.dirs[p] == nil; p = filepath.Dir(p) {
		if parent := m.dirs[filepath.Dir(p)]; parent != nil && parent.files[filepath.Base(p)] != nil {
			return pathErr("mkdir", p, syscall.ENOTDIR)
		}
		missing = append(missing, p)
	}
	for _, p := range missing {
		m.dirs[p] = newMemDir()
	}
	return nil
}

func (m *Mem) ReadDir(dir string) ([]fs.DirEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.crashed {
		return nil, pathErr("readdirent", dir, ErrCrashed)
	}
	p := filepath.Clean(dir)
	d := m.dirs[p]
	if d == nil {
		return nil, pathErr("open", dir, syscall.ENOENT)
	}
	var out []fs.DirEntry
	for name, ino := range d.files {
		out = append(out, fs.FileInfoToDirEntry(memInfo{name: name, size: int64(len(ino.data)), mtime: ino.mtime}))
	}
	for _, name := range m.subdirs(p) {
		out = append(out, fs.FileInfoToDirEntry(memInfo{name: name, dir: true}))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

func (m *Mem) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.crashed {
		return pathErr("sync", dir, ErrCrashed)
	}
	d := m.dirs[filepath.Clean(dir)]
	if d == nil {
		return pathErr("open", dir, syscall.ENOENT)
	}
	d.synced = maps.Clone(d.files)
	return nil
}

// Lock creates the named file if needed and locks it in this Mem (a Mem returned by Crash holds
// no locks).
func (m *Mem) Lock(name string) (io.Closer, error) {
	f, err := m.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	f.Close()
	m.mu.Lock()
	defer m.mu.Unlock()
	p := filepath.Clean(name)
	if m.locks[p] {
		return nil, fmt.Errorf("%w: %s", ErrLocked, name)
	}
	m.locks[p] = true
	return memLock{m: m, path: p}, nil
}

type memLock struct {
	m    *Mem
	path string
}

func (l memLock) Close() error {
	l.m.mu.Lock()
	defer l.m.mu.Unlock()
	delete(l.m.locks, l.path)
	return nil
}

// memFile is a file open on a Mem. Its inode stays readable and writable after the name is
// removed, as on POSIX.
type memFile struct {
	m      *Mem
	ino    *memInode
	name   string
	flag   int
	off    int64 // Write's offset
	closed bool
}

// Access a memFile operation needs.
const (
	accessAny = iota
	accessRead
	accessWrite
)

// check returns why op cannot run on f, if it cannot. Caller holds f.m.mu.
func (f *memFile) check(op string, access int) error {
	readOnly := f.flag&(os.O_WRONLY|os.O_RDWR) == 0
	switch {
	case f.m.crashed:
		return pathErr(op, f.name, ErrCrashed)
	case f.closed:
		return pathErr(op, f.name, os.ErrClosed)
	case access == accessWrite && readOnly, access == accessRead && f.flag&os.O_WRONLY != 0:
		return pathErr(op, f.name, syscall.EBADF)
	}
	return nil
}

func (f *memFile) Name() string { return f.name }

func (f *memFile) Write(p []byte) (int, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.check("write", accessWrite); err != nil {
		return 0, err
	}
	n, err := f.m.writeAt(f, p, f.off)
	f.off += int64(n)
	return n, err
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.check("write", accessWrite); err != nil {
		return 0, err
	}
	return f.m.writeAt(f, p, off)
}

func (f *memFile) WriteVAt(bufs [][]byte, off int64) (int, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.check("pwritev", accessWrite); err != nil {
		return 0, err
	}
	n := 0
	for _, b := range bufs {
		k, err := f.m.writeAt(f, b, off+int64(n))
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// writeAt writes p at off in f's inode: all of it, or as much as the capacity allows and an
// ErrNoSpace error. Caller holds m.mu.
func (m *Mem) writeAt(f *memFile, p []byte, off int64) (int, error) {
	ino := f.ino
	var err error
	if end := off + int64(len(p)); end > int64(len(ino.data)) {
		if limit, ok := m.limit(ino); ok && end > limit {
			err = pathErr("write", f.name, ErrNoSpace)
			if off >= limit {
				return 0, err
			}
			p, end = p[:limit-off], limit
		}
		m.resize(ino, end)
	}
	copy(ino.data[off:], p)
	ino.mtime = time.Now()
	return len(p), err
}

// limit is the length ino may grow to before the capacity is reached; ok is false when nothing
// limits it. Caller holds m.mu.
func (m *Mem) limit(ino *memInode) (n int64, ok bool) {
	if m.capacity <= 0 || !ino.linked {
		return 0, false
	}
	return int64(len(ino.data)) + max(m.capacity-m.used, 0), true
}

// resize sets the inode's length, keeping m.used in step. Caller holds m.mu.
func (m *Mem) resize(ino *memInode, size int64) {
	if ino.linked {
		m.used += size - int64(len(ino.data))
	}
	if size <= int64(len(ino.data)) {
		ino.data = ino.data[:size]
		return
	}
	ino.data = append(ino.data, make([]byte, size-int64(len(ino.data)))...)
}

// unlink marks an inode that lost its name: its bytes no longer count. Caller holds m.mu.
func (m *Mem) unlink(ino *memInode) {
	if ino.linked {
		m.used -= int64(len(ino.data))
		ino.linked = false
	}
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.check("read", accessRead); err != nil {
		return 0, err
	}
	if off >= int64(len(f.ino.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.ino.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Stat() (fs.FileInfo, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.check("stat", accessAny); err != nil {
		return nil, err
	}
	return memInfo{name: filepath.Base(f.name), size: int64(len(f.ino.data)), mtime: f.ino.mtime}, nil
}

func (f *memFile) Truncate(size int64) error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.check("truncate", accessWrite); err != nil {
		return err
	}
	f.m.resize(f.ino, size)
	f.ino.mtime = time.Now()
	return nil
}

func (f *memFile) Allocate(size int64) error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.check("fallocate", accessWrite); err != nil {
		return err
	}
	if size > int64(len(f.ino.data)) {
		if limit, ok := f.m.limit(f.ino); ok && size > limit {
			return pathErr("fallocate", f.name, ErrNoSpace)
		}
		f.m.resize(f.ino, size)
	}
	return nil
}

func (f *memFile) Sync() error { return f.sync("sync") }

func (f *memFile) Datasync() error { return f.sync("fdatasync") }

func (f *memFile) sync(op string) error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.check(op, accessAny); err != nil {
		return err
	}
	f.ino.synced = slices.Clone(f.ino.data)
	return nil
}

func (f *memFile) Close() error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if f.closed {
		return pathErr("close", f.name, os.ErrClosed)
	}
	f.closed = true
	return nil
}

// memInfo describes a Mem file or directory (fs.FileInfo).
type memInfo struct {
	name  string
	size  int64
	dir   bool
	mtime time.Time
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) ModTime() time.Time { return i.mtime }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }
func (i memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}

// Stop is how a test ends a store's run on a Mem before reopening it: a Restart (the process
// exits; everything written survives, as in the page cache) or a PowerCut (Crash: only what
// was made durable survives).
type Stop int

const (
	Restart Stop = iota
	PowerCut
)

// Stops lists both, for tests that check each end state.
var Stops = []Stop{Restart, PowerCut}

func (s Stop) String() string {
	if s == PowerCut {
		return "power-cut"
	}
	return "restart"
}

// Apply returns the file system to reopen the store on: m itself after a Restart, m.Crash()
// after a PowerCut.
func (s Stop) Apply(m *Mem) FS {
	if s == PowerCut {
		return m.Crash()
	}
	return m
}
