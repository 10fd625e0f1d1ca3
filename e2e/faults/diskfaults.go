package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// The disk faults act on a stopped node's files the way a crash or a rotting disk would. They
// are written from the documented formats (wal/doc.go, dataplane/blob/doc.go), not with the
// packages' own code, and their tests check that the real packages see exactly what is
// intended: a torn tail, a checksum failure.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errNoSpace is a full file system (errors.Is matches a *PathError holding it).
var errNoSpace = syscall.ENOSPC

// WAL segment layout (wal/doc.go): a 32-byte header, then records of a 44-byte header and a
// body; an all-zero record header ends the records.
const (
	walSegmentHeader = 32
	walRecordHeader  = 44
)

// tornTail describes what tearWALTail did.
type tornTail struct {
	segment   string
	offset    int64  // where the torn record starts (the end of the last whole record)
	lastIndex uint64 // index of the last whole record
}

// tearWALTail writes, after the last whole record of the newest segment in walDir, the first
// part of a record that was being appended when the power went: a valid header for the next
// index (bodyLen 4 KiB) followed by only a part of its body. That is the state a crash during
// an append leaves (the append had not been synced, so it was never acknowledged); recovery
// must truncate it and keep everything before it. Removing or damaging a record that was
// synced instead would be losing acknowledged data, a fault raft does not claim to survive.
func tearWALTail(walDir string) (tornTail, error) {
	segs, err := filepath.Glob(filepath.Join(walDir, "*.wal"))
	if err != nil || len(segs) == 0 {
		return tornTail{}, fmt.Errorf("no WAL segment in %s (%v)", walDir, err)
	}
	sort.Strings(segs) // names are the zero-padded first index
	seg := segs[len(segs)-1]
	f, err := os.OpenFile(seg, os.O_RDWR, 0)
	if err != nil {
		return tornTail{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return tornTail{}, err
	}
	off := int64(walSegmentHeader)
	var last [walRecordHeader]byte
	var found bool
	hdr := make([]byte, walRecordHeader)
	for off+walRecordHeader <= st.Size() {
		if _, err := f.ReadAt(hdr, off); err != nil {
			return tornTail{}, err
		}
		if bytes.Equal(hdr, make([]byte, walRecordHeader)) {
			break
		}
		if crc32.Checksum(hdr[4:], castagnoli) != binary.LittleEndian.Uint32(hdr[0:]) {
			return tornTail{}, fmt.Errorf("%s: record header at %d does not verify: not a clean end of log", seg, off)
		}
		if hdr[13]&4 != 0 { // an index record: the segment is sealed
			return tornTail{}, fmt.Errorf("%s is sealed (index footer at %d): not the active segment", seg, off)
		}
		copy(last[:], hdr)
		found = true
		off += walRecordHeader + int64(binary.LittleEndian.Uint32(hdr[4:]))
	}
	if !found {
		return tornTail{}, fmt.Errorf("%s holds no record", seg)
	}
	if off+walRecordHeader+4096 > st.Size() {
		return tornTail{}, fmt.Errorf("%s: no room after the last record (at %d of %d)", seg, off, st.Size())
	}
	index := binary.LittleEndian.Uint64(last[16:])
	// The torn record: the next index in the same term, a batch start, a 4 KiB body of which
	// only 1 KiB reached the disk (the rest reads back as the preallocated zeros).
	body := bytes.Repeat([]byte{0xA5}, 4096)
	rec := make([]byte, walRecordHeader)
	binary.LittleEndian.PutUint32(rec[4:], uint32(len(body)))
	binary.LittleEndian.PutUint32(rec[8:], crc32.Checksum(body, castagnoli))
	rec[12] = last[12] // type
	rec[13] = 2        // first record of a batch
	binary.LittleEndian.PutUint64(rec[16:], index+1)
	copy(rec[24:32], last[24:32]) // term
	copy(rec[32:40], last[32:40]) // appendedAt
	binary.LittleEndian.PutUint32(rec[0:], crc32.Checksum(rec[4:], castagnoli))
	if _, err := f.WriteAt(append(rec, body[:1024]...), off); err != nil {
		return tornTail{}, err
	}
	if err := f.Sync(); err != nil {
		return tornTail{}, err
	}
	return tornTail{segment: seg, offset: off, lastIndex: index}, nil
}

// Blob file layout (dataplane/blob/doc.go): a 96-byte header, then blocks of data each
// followed by its CRC32C.
const blobHeader = 96

// blobFiles lists the published blob files under a node's data_dir.
func blobFiles(dataDir string) ([]string, error) {
	root := filepath.Join(dataDir, "blobs", "blobs")
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			out = append(out, p)
		}
		return nil
	})
	return out, err
}

// findBlobHolding returns the blob file under dataDir whose data starts with the bytes want
// (a value's header is unique to its key and version).
func findBlobHolding(dataDir string, want []byte) (string, error) {
	files, err := blobFiles(dataDir)
	if err != nil {
		return "", err
	}
	buf := make([]byte, blobHeader+len(want))
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			continue // freed meanwhile
		}
		n, _ := f.ReadAt(buf, 0)
		f.Close()
		if n == len(buf) && bytes.Equal(buf[blobHeader:], want) {
			return p, nil
		}
	}
	return "", fmt.Errorf("no blob in %s starts with %q (%d files)", dataDir, want, len(files))
}

// flipByte inverts one data byte of a blob file in place: off bytes into the data (which must
// be within its first block, after the value's header).
func flipByte(path string, off int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, blobHeader+off); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	b[0] ^= 0xFF
	if _, err := f.WriteAt(b, blobHeader+off); err != nil {
		return err
	}
	return f.Sync()
}

// fillDisk writes path until the file system holding it is full (ENOSPC) and returns the bytes
// written.
func fillDisk(path string) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var total int64
	for _, size := range []int{1 << 20, 4096, 1} {
		buf := make([]byte, size)
		for {
			n, err := f.Write(buf)
			total += int64(n)
			if err != nil {
				if errors.Is(err, errNoSpace) {
					break
				}
				return total, err
			}
		}
	}
	return total, f.Sync()
}

// isMountPoint reports whether dir is listed in /proc/mounts.
func isMountPoint(dir string) bool {
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == dir {
			return true
		}
	}
	return false
}
