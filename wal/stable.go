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

// The stable-state file "stable" holds raft's StableStore keys. It is rewritten whole on every
// Set or SetUint64: written to "stable.tmp", fsynced, renamed over "stable", and the directory
// fsynced (vfs.WriteFile), so a crash leaves either the old or the new file.
//
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

// loadStable reads the stable-state file if it exists.
func (l *Log) loadStable() error {
	l.kv, l.kvInt = map[string][]byte{}, map[string]uint64{}
	f, err := l.fs.OpenFile(l.stable, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("wal: open stable state: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("wal: stat stable state: %w", err)
	}
	if st.Size() > maxStableFile {
		return corruptf(l.stable, 0, "stable-state file of %d bytes", st.Size())
	}
	b := make([]byte, st.Size())
	if n, err := f.ReadAt(b, 0); n < len(b) {
		return fmt.Errorf("wal: read stable state: %w", err)
	}
	kv, kvInt, err := decodeStable(l.stable, b)
	if err != nil {
		return err
	}
	l.kv, l.kvInt = kv, kvInt
	return nil
}

// writeStable atomically replaces the stable-state file. Caller holds smu.
func (l *Log) writeStable(kv map[string][]byte, kvInt map[string]uint64) error {
	if err := vfs.WriteFile(l.fs, l.stable, encodeStable(kv, kvInt), 0o644); err != nil {
		return fmt.Errorf("wal: write stable state: %w", err)
	}
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
