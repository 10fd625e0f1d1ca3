package fsm

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// Digest is a fingerprint of the whole replicated state at one applied index.
type Digest struct {
	// Applied is the index of the newest entry the state reflects.
	Applied uint64
	// Records is the number of records hashed (buckets, objects, versions, uploads, parts,
	// nodes, settings, ...).
	Records int
	// Sum is SHA-256 over every record in key order: its key and its canonical encoding, each
	// preceded by its length.
	Sum [32]byte
}

// Digest fingerprints the state at one point in time (a view, as WalkBlobs reads), through
// every tier: memory and the snapshot runs beyond the cache. Two FSMs that applied the same
// log to the same index have equal digests, whatever their cache sizes and snapshot history,
// because each record is hashed in its canonical encoding (not the bytes a run happens to
// hold). Tests compare the nodes of a cluster with it; it reads the whole state, so it is not
// for a hot path.
func (f *FSM) Digest(ctx context.Context) (Digest, error) {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	write := func(b []byte) {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(b)))])
		h.Write(b)
	}
	var d Digest
	applied, err := f.eachRecord(ctx, func(key string, value []byte) error {
		write([]byte(key))
		write(value)
		d.Records++
		return nil
	})
	if err != nil {
		return Digest{}, err
	}
	d.Applied = applied
	h.Sum(d.Sum[:0])
	return d, nil
}

// eachRecord calls fn with every record of the state (the meta record excluded) in key order,
// in its canonical encoding, at one point in time; it returns the applied index of that state.
func (f *FSM) eachRecord(ctx context.Context, fn func(key string, value []byte) error) (uint64, error) {
	f.mu.RLock()
	v := f.readViewLocked()
	applied := f.applied
	f.mu.RUnlock()
	defer v.close()
	it := v.iter(metaKey+"\x00", "", false, true)
	defer it.close()
	for it.next() {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		rec, err := it.record()
		if err != nil {
			return 0, err
		}
		value, err := encodeValue(rec)
		if err != nil {
			return 0, fmt.Errorf("fsm: encoding %q: %w", it.key, err)
		}
		if err := fn(it.key, value); err != nil {
			return 0, err
		}
	}
	return applied, it.err
}
