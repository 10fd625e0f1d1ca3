package wal

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

// File names inside the WAL directory.
const (
	segSuffix  = ".wal"
	spareName  = "next.spare"
	headName   = "head"
	stableName = "stable"
	lockName   = "LOCK"
	tmpSuffix  = ".tmp"
)

func segName(first uint64) string { return fmt.Sprintf("%020d%s", first, segSuffix) }

// parseSegName returns the first index encoded in a segment file name.
func parseSegName(name string) (uint64, bool) {
	if !strings.HasSuffix(name, segSuffix) || len(name) != 20+len(segSuffix) {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(name, segSuffix), 10, 64)
	return n, err == nil
}

// zeros is a shared read-only block used to zero-fill files.
var zeros = make([]byte, 1<<20)

// largeBatch is the average batch size from which the next segment is fallocated instead of
// zero-filled (see prepareSpare).
const largeBatch = 64 << 10

// directAlign is the alignment O_DIRECT needs for buffers, offsets and lengths.
const directAlign = 4096

// directZeros is a read-only 1 MiB block of zeros aligned for O_DIRECT writes.
var directZeros = func() []byte {
	b := make([]byte, 1<<20+directAlign)
	off := directAlign - int(uintptr(unsafe.Pointer(&b[0]))&(directAlign-1))
	if off == directAlign {
		off = 0
	}
	return b[off : off+1<<20 : off+1<<20]
}()

// writeZeros writes zeros over [from, to) of f.
func writeZeros(f *os.File, from, to int64) error {
	for off := from; off < to; {
		n := min(int64(len(zeros)), to-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return err
		}
		off += n
	}
	return nil
}

// fdatasync flushes f's data and the metadata needed to read it back (not mtime).
func fdatasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if serr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return serr
}

// syncDir fsyncs a directory so that creates, renames and unlinks in it are durable.
func syncDir(dir string) error {
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

// lockDir takes an exclusive advisory lock on dir/LOCK so two processes never open one log.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if err == syscall.EWOULDBLOCK {
			return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
		}
		return nil, err
	}
	return f, nil
}
