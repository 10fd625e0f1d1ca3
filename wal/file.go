package wal

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/nebulaio/nebulaio/internal/vfs"
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
	tmpSuffix     = vfs.TempSuffix
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
func writeZeros(f vfs.File, from, to int64) error {
	for off := from; off < to; {
		n := min(int64(len(zeros)), to-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return err
		}
		off += n
	}
	return nil
}
