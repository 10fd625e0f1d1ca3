package vfs

import (
	"errors"
	"io/fs"
	"syscall"
)

// Space is what a file system reports of its size, as statfs(2) does.
type Space struct {
	// Total is the size of the file system in bytes.
	Total uint64
	// Free is how many bytes an unprivileged process may still allocate (statfs f_bavail: the
	// blocks reserved for root do not count).
	Free uint64
}

// SpaceFS is an FS that can report the space of the file system holding a path. OS always can;
// Mem can once it has a capacity (SetCapacity); Faulty and NoSync can when the FS they wrap can.
// It is apart from FS so that the seam stays small: only callers that budget space (the data
// plane's free-space reserve) need it, through DiskSpace.
type SpaceFS interface {
	Space(path string) (Space, error)
}

// DiskSpace returns the space of the file system holding path, or an error wrapping
// errors.ErrUnsupported when fsys cannot tell.
func DiskSpace(fsys FS, path string) (Space, error) {
	if s, ok := fsys.(SpaceFS); ok {
		return s.Space(path)
	}
	return Space{}, &fs.PathError{Op: "statfs", Path: path, Err: errors.ErrUnsupported}
}

// Space is statfs(2) of path.
func (osFS) Space(path string) (Space, error) {
	var st syscall.Statfs_t
	for {
		err := syscall.Statfs(path, &st)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return Space{}, &fs.PathError{Op: "statfs", Path: path, Err: err}
		}
		break
	}
	bs := uint64(st.Bsize) //nolint:gosec // a block size is positive
	return Space{Total: st.Blocks * bs, Free: st.Bavail * bs}, nil
}

// Space passes on the inner FS's answer.
func (n noSyncFS) Space(path string) (Space, error) { return DiskSpace(n.FS, path) }

// Space passes on the inner FS's answer (no fault applies to it).
func (f *Faulty) Space(path string) (Space, error) { return DiskSpace(f.inner, path) }

// SetCapacity makes m a file system of n bytes (0: unlimited, the default). Once the bytes of its
// files would exceed the capacity, a write stores what fits and fails with ErrNoSpace, and an
// Allocate that does not fit fails whole, as on a full disk; rewriting bytes a file already has
// always succeeds, as rewriting allocated blocks does. Space then reports the capacity and what
// is left. Only the bytes of files that have a name count (a removed file frees its bytes at
// once, even while open), byte for byte: Mem has no blocks and no metadata overhead. Truncate
// never fails for space (it makes a sparse file on a real disk) but its bytes count.
func (m *Mem) SetCapacity(n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.capacity = n
}

// Used returns the bytes of the files that have a name.
func (m *Mem) Used() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.used
}

// Space reports the capacity set by SetCapacity and what is left of it; without a capacity it
// fails with errors.ErrUnsupported.
func (m *Mem) Space(path string) (Space, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.crashed {
		return Space{}, pathErr("statfs", path, ErrCrashed)
	}
	if m.capacity <= 0 {
		return Space{}, pathErr("statfs", path, errors.ErrUnsupported)
	}
	free := max(m.capacity-m.used, 0)
	return Space{Total: uint64(m.capacity), Free: uint64(free)}, nil //nolint:gosec // both are positive
}
