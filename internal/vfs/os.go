package vfs

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// OS is the operating system's file system (Linux: fdatasync, fallocate, pwritev, flock).
var OS FS = osFS{}

type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &osFile{File: f}, nil
}

func (osFS) Rename(oldpath, newpath string) error        { return os.Rename(oldpath, newpath) }
func (osFS) Remove(name string) error                    { return os.Remove(name) }
func (osFS) MkdirAll(dir string, perm fs.FileMode) error { return os.MkdirAll(dir, perm) }
func (osFS) ReadDir(dir string) ([]fs.DirEntry, error)   { return os.ReadDir(dir) }

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Lock takes flock(2) LOCK_EX|LOCK_NB on the named file; closing the returned file releases it.
func (osFS) Lock(name string) (io.Closer, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := control(f, func(fd int) error { return syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB) }); err != nil {
		f.Close()
		if err == syscall.EWOULDBLOCK {
			return nil, fmt.Errorf("%w: %s", ErrLocked, name)
		}
		return nil, &fs.PathError{Op: "flock", Path: name, Err: err}
	}
	return f, nil
}

// osFile is an *os.File (whose SyscallConn RawConn finds) with the three operations os lacks.
type osFile struct {
	*os.File
}

// control runs fn on f's descriptor, retrying it while it is interrupted.
func control(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		for {
			if ferr = fn(int(fd)); ferr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return ferr
}

func (f *osFile) Datasync() error {
	if err := control(f.File, syscall.Fdatasync); err != nil {
		return &fs.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
	}
	return nil
}

func (f *osFile) Allocate(size int64) error {
	if err := control(f.File, func(fd int) error { return syscall.Fallocate(fd, 0, 0, size) }); err != nil {
		return &fs.PathError{Op: "fallocate", Path: f.Name(), Err: err}
	}
	return nil
}

// maxIovecs is the most buffers one pwritev call takes (IOV_MAX on Linux).
const maxIovecs = 1024

// iovecs holds WriteVAt's scratch (*[]syscall.Iovec), shared by every file, so that a write
// allocates no iovec array (a scratch per file would be allocated again for every new segment).
var iovecs = sync.Pool{New: func() any { return new([]syscall.Iovec) }}

// WriteVAt writes bufs with one pwritev(2) call per maxIovecs buffers (one call in practice),
// continuing after short writes.
func (f *osFile) WriteVAt(bufs [][]byte, off int64) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	scratch := iovecs.Get().(*[]syscall.Iovec)
	iov := *scratch
	var werr error
	cerr := rc.Control(func(fd uintptr) {
		for len(bufs) > 0 {
			iov = iov[:0]
			for _, b := range bufs {
				if len(iov) == maxIovecs {
					break
				}
				if len(b) > 0 {
					v := syscall.Iovec{Base: &b[0]}
					v.SetLen(len(b))
					iov = append(iov, v)
				}
			}
			if len(iov) == 0 {
				return
			}
			// the offset goes in two words (low, high); a 64-bit kernel ignores the high one
			n, _, e := syscall.Syscall6(syscall.SYS_PWRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)), uintptr(off), uintptr(uint64(off)>>32), 0)
			if e == syscall.EINTR {
				continue
			}
			if e != 0 {
				werr = e
				return
			}
			if n == 0 {
				werr = io.ErrShortWrite
				return
			}
			off += int64(n)
			for n > 0 { // drop what was written
				if k := uintptr(len(bufs[0])); n >= k {
					n -= k
					bufs = bufs[1:]
				} else {
					bufs[0] = bufs[0][n:]
					n = 0
				}
			}
			for len(bufs) > 0 && len(bufs[0]) == 0 {
				bufs = bufs[1:]
			}
		}
	})
	clear(iov[:cap(iov)]) // drop the references to the callers' buffers
	*scratch = iov[:0]
	iovecs.Put(scratch)
	written := total
	for _, b := range bufs { // what is left was not written
		written -= len(b)
	}
	if cerr != nil {
		return written, cerr
	}
	if werr != nil {
		return written, &fs.PathError{Op: "pwritev", Path: f.Name(), Err: werr}
	}
	return written, nil
}
