package wal

import (
	"encoding/binary"
	"hash/crc32"
	"os"

	"github.com/nebulaio/nebulaio/internal/vfs"
)

// headFile persists the logical head (the first index not deleted from the front) in one of
// two 512-byte slots that are written alternately, so a torn write of one slot leaves the other.
//
//	slot (at offset 0 or 512)
//	0       4       8               16              24
//	+-------+-------+---------------+---------------+
//	| magic | crc   | sequence      | head index    |
//	+-------+-------+---------------+---------------+
//	crc is CRC32C of the magic and bytes 8..24.
type headFile struct {
	f    vfs.File
	path string
	seq  uint64
	head uint64
}

const (
	headMagic    = "NWHD"
	headSlotSize = 512
	headSlotLen  = 24
)

func encodeHeadSlot(b []byte, seq, head uint64) {
	copy(b[0:4], headMagic)
	binary.LittleEndian.PutUint64(b[8:16], seq)
	binary.LittleEndian.PutUint64(b[16:24], head)
	binary.LittleEndian.PutUint32(b[4:8], headSlotCRC(b))
}

func headSlotCRC(b []byte) uint32 {
	c := crc32.Update(0, castagnoli, b[0:4])
	return crc32.Update(c, castagnoli, b[8:24])
}

// decodeHeadSlot returns the slot's sequence and head, or ok=false if the slot is empty or torn.
func decodeHeadSlot(b []byte) (seq, head uint64, ok bool) {
	if len(b) < headSlotLen || string(b[0:4]) != headMagic {
		return 0, 0, false
	}
	if headSlotCRC(b) != binary.LittleEndian.Uint32(b[4:8]) {
		return 0, 0, false
	}
	return binary.LittleEndian.Uint64(b[8:16]), binary.LittleEndian.Uint64(b[16:24]), true
}

// openHead opens or creates the head file. A file with no valid slot but non-zero bytes is
// corruption; a missing or zero file means head 0.
func openHead(fsys vfs.FS, path string) (*headFile, bool, error) {
	f, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, false, err
	}
	h := &headFile{f: f, path: path}
	buf := make([]byte, 2*headSlotSize)
	n, err := f.ReadAt(buf, 0)
	if err != nil && n < len(buf) {
		// short file: new, or a crash before its first slot was synced
		buf = buf[:n]
	}
	created := n == 0
	var found bool
	for s := 0; s < 2; s++ {
		if len(buf) < s*headSlotSize+headSlotLen {
			continue
		}
		seq, head, ok := decodeHeadSlot(buf[s*headSlotSize:])
		if ok && (!found || seq > h.seq) {
			h.seq, h.head, found = seq, head, true
		}
	}
	if !found && !isZero(buf) {
		f.Close()
		return nil, false, corruptf(path, 0, "no valid head slot")
	}
	return h, created, nil
}

// set writes head into the older slot; with durable it also fdatasyncs the file.
func (h *headFile) set(head uint64, durable bool) error {
	seq := h.seq + 1
	var b [headSlotLen]byte
	encodeHeadSlot(b[:], seq, head)
	if _, err := h.f.WriteAt(b[:], int64(seq%2)*headSlotSize); err != nil {
		return err
	}
	if durable {
		if err := h.f.Datasync(); err != nil {
			return err
		}
	}
	h.seq, h.head = seq, head
	return nil
}
