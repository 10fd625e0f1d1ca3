package wal

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

// File names inside the WAL directory.
const (
	segSuffix = ".wal"
	spareName = "next.spare"
	// recycleSuffix names compacted segments kept for reuse as spares (see Log.recycle).
	recycleSuffix = ".recycle"
	headName      = "head"
	stableName    = "stable"
	lockName      = "LOCK"
	tmpSuffix     = ".tmp"
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
var zeros = make([]byte, fillChunk)

// fillChunk is the size of the writes that zero-fill a segment through the page cache. The
// kernel sizes page-cache folios after the writes that create them, and every later small
// append walks all the block buffers of the folio it lands in: 1 MiB fill writes made
// ext4_block_write_begin 2.6% of the CPU profile of 128-byte appends, 64 KiB writes 0.2%.
const fillChunk = 64 << 10

// fillStep is how many bytes of zeros a segment fill writes between two fdatasyncs (see
// zeroFill); a multiple of fillChunk.
const fillStep = 1 << 20

// largeBatch is the average batch size from which the next segment is fallocated instead of
// zero-filled (see prepareSpare).
const largeBatch = 64 << 10

// pageSize is the page-cache granularity that appends are padded to (see StoreLogs).
const pageSize = 4096

// pageEnd rounds off up to a multiple of pageSize.
func pageEnd(off int64) int64 { return (off + pageSize - 1) &^ (pageSize - 1) }

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

// maxIovecs is the most buffers one pwritev call takes (IOV_MAX on Linux).
const maxIovecs = 1024

// pwritev writes the concatenation of bufs at off, with one pwritev(2) call per maxIovecs
// buffers (one call in practice), continuing after short writes. iov is scratch space and is
// returned for reuse.
func pwritev(f *os.File, bufs [][]byte, off int64, iov []syscall.Iovec) ([]syscall.Iovec, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return iov, err
	}
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
	if cerr != nil {
		return iov[:0], cerr
	}
	return iov[:0], werr
}
