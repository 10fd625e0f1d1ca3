package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"sort"

	"github.com/nebulaio/nebulaio/internal/vfs"
)

// The stable-state file "stable" holds raft's StableStore keys in two slots written in turn,
// in place, so that a Set never allocates disk space: raft panics when it cannot save its term
// or vote, and a node must come up (and vote) on a full disk. See "Stable-state file" in doc.go.
//
//	file: slot 0 at offset 0, slot 1 at offset slotSize (slotSize = file size / 2, a power of
//	two from 4 KiB); the state with sequence s is in slot s % 2.
//
//	slot
//	0       4       6       8               16      20      24
//	+-------+-------+-------+---------------+-------+-------+---------------------+---------+
//	| magic |version| rsvd  | sequence      | len   | crc   | payload (len bytes) | unused  |
//	+-------+-------+-------+---------------+-------+-------+---------------------+---------+
//	magic "NWSS", version 1; crc is CRC32C of bytes 0..20 and of the payload. The payload is
//	the whole key set in the stable-state encoding below (which, alone in the file, was the
//	file format before the slots: Open still reads such a file and rewrites it in slots).
//
//	stable-state encoding
//	0       4       6       8       12      16
//	+-------+-------+-------+-------+-------+---------------------------+
//	| magic |version| rsvd  | count | crc   | count entries ...         |
//	+-------+-------+-------+-------+-------+---------------------------+
//	entry: kind (1 byte: 1 = bytes, 2 = uint64) | key length (uint32) | key |
//	       value length (uint32) | value
//	crc is CRC32C of bytes 0..12 and of everything after byte 16.
const (
	stableMagic      = "NWST"
	stableHeaderSize = 16
	kindBytes        = 1
	kindUint64       = 2
	maxStableFile    = 64 << 20

	stableSlotMagic   = "NWSS"
	stableSlotHeader  = 24
	stableSlotVersion = 1
	minStableSlot     = 4 << 10
	maxStableSlot     = maxStableFile / 2
)

func encodeStable(kv map[string][]byte, kvInt map[string]uint64) []byte {
	b := make([]byte, stableHeaderSize, 256)
	appendEntry := func(kind byte, k string, v []byte) {
		b = append(b, kind)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(k)))
		b = append(b, k...)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
	}
	for _, k := range sortedKeys(kv) {
		appendEntry(kindBytes, k, kv[k])
	}
	for _, k := range sortedKeys(kvInt) {
		appendEntry(kindUint64, k, binary.LittleEndian.AppendUint64(nil, kvInt[k]))
	}
	copy(b[0:4], stableMagic)
	binary.LittleEndian.PutUint16(b[4:6], formatVersion)
	binary.LittleEndian.PutUint32(b[8:12], uint32(len(kv)+len(kvInt)))
	binary.LittleEndian.PutUint32(b[12:16], stableCRC(b))
	return b
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func stableCRC(b []byte) uint32 {
	c := crc(b[0:12])
	return crcUpdate(c, b[stableHeaderSize:])
}

// decodeStable parses a stable-state file, bounding every length by the bytes that remain.
func decodeStable(path string, b []byte) (map[string][]byte, map[string]uint64, error) {
	if len(b) < stableHeaderSize || string(b[0:4]) != stableMagic {
		return nil, nil, corruptf(path, 0, "bad stable-state header")
	}
	if v := binary.LittleEndian.Uint16(b[4:6]); v > formatVersion {
		return nil, nil, fmt.Errorf("%w: %s has version %d", ErrNewerFormat, path, v)
	}
	if stableCRC(b) != binary.LittleEndian.Uint32(b[12:16]) {
		return nil, nil, corruptf(path, 12, "stable-state checksum mismatch")
	}
	count := binary.LittleEndian.Uint32(b[8:12])
	kv, kvInt := map[string][]byte{}, map[string]uint64{}
	off := stableHeaderSize
	field := func() ([]byte, bool) {
		if len(b)-off < 4 {
			return nil, false
		}
		n := int(binary.LittleEndian.Uint32(b[off:]))
		off += 4
		if n > len(b)-off {
			return nil, false
		}
		v := b[off : off+n : off+n]
		off += n
		return v, true
	}
	for i := uint32(0); i < count; i++ {
		start := off
		if off >= len(b) {
			return nil, nil, corruptf(path, int64(start), "entry %d missing", i)
		}
		kind := b[off]
		off++
		k, ok1 := field()
		v, ok2 := field()
		if !ok1 || !ok2 {
			return nil, nil, corruptf(path, int64(start), "entry %d truncated", i)
		}
		switch kind {
		case kindBytes:
			kv[string(k)] = append([]byte{}, v...)
		case kindUint64:
			if len(v) != 8 {
				return nil, nil, corruptf(path, int64(start), "entry %d: uint64 of %d bytes", i, len(v))
			}
			kvInt[string(k)] = binary.LittleEndian.Uint64(v)
		default:
			return nil, nil, corruptf(path, int64(start), "entry %d: unknown kind %d", i, kind)
		}
	}
	if off != len(b) {
		return nil, nil, corruptf(path, int64(off), "trailing bytes")
	}
	return kv, kvInt, nil
}

// stableSlotSize returns the slot size that holds an encoded state of n bytes with room to
// grow: the smallest power of two from minStableSlot that is at least twice the need.
func stableSlotSize(n int) int64 {
	size := int64(minStableSlot)
	for size < 2*int64(stableSlotHeader+n) {
		size *= 2
	}
	return size
}

// encodeStableSlot returns the slot bytes (header and payload, without the unused rest).
func encodeStableSlot(seq uint64, payload []byte) []byte {
	b := make([]byte, stableSlotHeader, stableSlotHeader+len(payload))
	copy(b[0:4], stableSlotMagic)
	binary.LittleEndian.PutUint16(b[4:6], stableSlotVersion)
	binary.LittleEndian.PutUint64(b[8:16], seq)
	binary.LittleEndian.PutUint32(b[16:20], uint32(len(payload)))
	b = append(b, payload...)
	binary.LittleEndian.PutUint32(b[20:24], crcUpdate(crc(b[0:20]), payload))
	return b
}

// decodeStableSlot returns the sequence and payload of a slot, ok=false when it does not verify
// (never written, torn, damaged), or ErrNewerFormat for a valid slot of a newer version.
func decodeStableSlot(path string, b []byte) (seq uint64, payload []byte, ok bool, err error) {
	if len(b) < stableSlotHeader || string(b[0:4]) != stableSlotMagic {
		return 0, nil, false, nil
	}
	n := binary.LittleEndian.Uint32(b[16:20])
	if uint64(n) > uint64(len(b)-stableSlotHeader) {
		return 0, nil, false, nil
	}
	payload = b[stableSlotHeader : stableSlotHeader+int(n)]
	if crcUpdate(crc(b[0:20]), payload) != binary.LittleEndian.Uint32(b[20:24]) {
		return 0, nil, false, nil
	}
	if v := binary.LittleEndian.Uint16(b[4:6]); v > stableSlotVersion {
		return 0, nil, false, fmt.Errorf("%w: %s has a slot of version %d", ErrNewerFormat, path, v)
	}
	return binary.LittleEndian.Uint64(b[8:16]), payload, true, nil
}

// loadStable reads the stable-state file and leaves it open for Set: a missing file, or one in
// the format before the slots, is (re)written in slots first, so that no later Set allocates.
func (l *Log) loadStable() error {
	l.kv, l.kvInt = map[string][]byte{}, map[string]uint64{}
	b, err := l.readStable()
	if err != nil {
		return err
	}
	switch {
	case b == nil: // a new log
		return l.createStable(encodeStable(l.kv, l.kvInt), 1)
	case len(b) >= 4 && string(b[0:4]) == stableMagic: // the format before the slots
		kv, kvInt, err := decodeStable(l.stable, b)
		if err != nil {
			return err
		}
		l.kv, l.kvInt = kv, kvInt
		if err := l.createStable(b, 1); err != nil {
			return fmt.Errorf("wal: rewrite the stable-state file in slots: %w", err)
		}
		return nil
	}
	kv, kvInt, seq, size, err := decodeStableSlots(l.stable, b)
	if err != nil {
		return err
	}
	l.kv, l.kvInt, l.stableSeq = kv, kvInt, seq
	f, err := l.fs.OpenFile(l.stable, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("wal: open stable state: %w", err)
	}
	l.stableF, l.stableSlot = f, size
	return nil
}

// decodeStableSlots picks the newest valid slot of a slotted stable-state file and decodes
// it; it returns the state, its sequence and the slot size.
func decodeStableSlots(path string, b []byte) (kv map[string][]byte, kvInt map[string]uint64, seq uint64, size int64, err error) {
	size = int64(len(b)) / 2
	if int64(len(b)) != 2*size || size < minStableSlot || size > maxStableSlot || size&(size-1) != 0 {
		return nil, nil, 0, 0, corruptf(path, 0, "stable-state file of %d bytes is not two slots", len(b))
	}
	found := false
	for i := int64(0); i < 2; i++ {
		s, payload, ok, err := decodeStableSlot(path, b[i*size:(i+1)*size])
		if err != nil {
			return nil, nil, 0, 0, err
		}
		if !ok || s%2 != uint64(i) || (found && s < seq) {
			continue
		}
		k, ki, err := decodeStable(path, payload)
		if err != nil { // the slot's CRC held: this is damage, not a torn write
			return nil, nil, 0, 0, corruptf(path, i*size, "stable-state slot %d: %v", i, err)
		}
		kv, kvInt, seq, found = k, ki, s, true
	}
	if !found {
		return nil, nil, 0, 0, corruptf(path, 0, "no valid stable-state slot")
	}
	return kv, kvInt, seq, size, nil
}

// readStable returns the stable-state file's bytes, nil if there is none.
func (l *Log) readStable() ([]byte, error) {
	f, err := l.fs.OpenFile(l.stable, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("wal: open stable state: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("wal: stat stable state: %w", err)
	}
	if st.Size() > maxStableFile {
		return nil, corruptf(l.stable, 0, "stable-state file of %d bytes", st.Size())
	}
	b := make([]byte, st.Size())
	if n, err := f.ReadAt(b, 0); n < len(b) {
		return nil, fmt.Errorf("wal: read stable state: %w", err)
	}
	return b, nil
}

// createStable replaces the stable-state file with a new one of two slots sized for payload,
// payload in the slot of seq, atomically (vfs.WriteFile), and opens it for Set. It allocates
// the whole file, by writing every byte: later Sets only overwrite it.
func (l *Log) createStable(payload []byte, seq uint64) error {
	size := stableSlotSize(len(payload))
	if size > maxStableSlot {
		return fmt.Errorf("wal: stable state of %d bytes exceeds %d", len(payload), maxStableSlot-stableSlotHeader)
	}
	img := make([]byte, 2*size)
	copy(img[int64(seq%2)*size:], encodeStableSlot(seq, payload))
	if err := vfs.WriteFile(l.fs, l.stable, img, 0o644); err != nil {
		return fmt.Errorf("wal: write stable state: %w", err)
	}
	f, err := l.fs.OpenFile(l.stable, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("wal: open stable state: %w", err)
	}
	if l.stableF != nil {
		l.stableF.Close()
	}
	l.stableF, l.stableSlot, l.stableSeq = f, size, seq
	return nil
}

// writeStable makes kv and kvInt the durable stable state. Caller holds smu. It writes the slot
// that does not hold the newest state and fdatasyncs it: a crash or a torn write leaves the
// newest state intact in the other slot, and the write allocates nothing. After a failure the
// next call writes the same slot again (a failed sync is never trusted). A state that outgrew
// its slot is written to a new, larger file instead (vfs.WriteFile; this allocates).
func (l *Log) writeStable(kv map[string][]byte, kvInt map[string]uint64) error {
	payload := encodeStable(kv, kvInt)
	seq := l.stableSeq + 1
	if int64(stableSlotHeader+len(payload)) > l.stableSlot {
		return l.createStable(payload, seq)
	}
	if _, err := l.stableF.WriteAt(encodeStableSlot(seq, payload), int64(seq%2)*l.stableSlot); err != nil {
		return fmt.Errorf("wal: write stable state: %w", err)
	}
	if err := l.stableF.Datasync(); err != nil {
		return fmt.Errorf("wal: sync stable state: %w", err)
	}
	l.stableSeq = seq
	return nil
}

func (l *Log) stableOpen() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	return nil
}

// Set durably stores val under key (StableStore). A nil val removes the key.
func (l *Log) Set(key []byte, val []byte) error {
	l.smu.Lock()
	defer l.smu.Unlock()
	if err := l.stableOpen(); err != nil {
		return err
	}
	kv := maps.Clone(l.kv)
	if val == nil {
		delete(kv, string(key)) // as raft's InmemStore: a nil value reads back as not found
	} else {
		kv[string(key)] = append([]byte{}, val...)
	}
	if err := l.writeStable(kv, l.kvInt); err != nil {
		return err
	}
	l.kv = kv
	return nil
}

// Get returns the value stored under key, or ErrKeyNotFound (whose text is "not found", which
// raft checks for) if it was never Set. Values set with SetUint64 live apart, as in raft's
// InmemStore.
func (l *Log) Get(key []byte) ([]byte, error) {
	l.smu.Lock()
	defer l.smu.Unlock()
	if err := l.stableOpen(); err != nil {
		return nil, err
	}
	v, ok := l.kv[string(key)]
	if !ok {
		return nil, ErrKeyNotFound
	}
	return append([]byte{}, v...), nil
}

// SetUint64 durably stores val under key (StableStore).
func (l *Log) SetUint64(key []byte, val uint64) error {
	l.smu.Lock()
	defer l.smu.Unlock()
	if err := l.stableOpen(); err != nil {
		return err
	}
	kvInt := maps.Clone(l.kvInt)
	kvInt[string(key)] = val
	if err := l.writeStable(l.kv, kvInt); err != nil {
		return err
	}
	l.kvInt = kvInt
	return nil
}

// GetUint64 returns the value stored under key, or 0 and no error if it was never set.
func (l *Log) GetUint64(key []byte) (uint64, error) {
	l.smu.Lock()
	defer l.smu.Unlock()
	if err := l.stableOpen(); err != nil {
		return 0, err
	}
	return l.kvInt[string(key)], nil
}
