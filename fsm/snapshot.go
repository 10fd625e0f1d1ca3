package fsm

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/nebulaio/nebulaio/snapshot"
)

var (
	_ raft.FSMSnapshot = (*fsmSnapshot)(nil)
)

// chainState tracks which raft snapshot the next delta can be based on. Guarded by
// FSM.snapMu.
type chainState struct {
	// parent is the raft snapshot ID whose state is the FSM's base (set when the base is
	// switched to a persisted snapshot, or by a restore); "" means the next snapshot must be
	// full (none yet, a persist failed, or the newest snapshot was released unpersisted).
	parent string
	// gen numbers Snapshot() calls and restores; a failure clears parent only if it is the
	// newest generation's.
	gen uint64
	// outstanding counts snapshots taken and not yet released. A snapshot taken while
	// another is outstanding is full (raft never overlaps them; the rule keeps the chain
	// simple to reason about), and Apply's back-pressure waits only while one is.
	outstanding int
}

// fsmSnapshot is a point-in-time view: the frozen trees the snapshot covers, a reference on
// the base they lie on, the applied index and the counts.
type fsmSnapshot struct {
	f        *FSM
	frozen   []*frozenTree // oldest first
	seq      uint64        // the newest frozen tree covered
	base     *baseView
	applied  uint64
	counts   counts
	restores uint64 // f.restores when taken
	gen      uint64
	parent   string // "" → full stream

	once      sync.Once
	persisted bool // guarded by f.snapMu
}

// Snapshot freezes the dirty tree (a fresh one takes the next changes) and captures the
// frozen trees and the base for Persist: no copying, O(1) in the size of the state.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dirty.Len() > 0 {
		f.seq++
		f.frozen = append(f.frozen, &frozenTree{t: f.dirty, seq: f.seq, bytes: f.dirtyBytes})
		f.frozenLen += f.dirty.Len()
		f.frozenBytes += f.dirtyBytes
		f.dirty, f.dirtyBytes = newTree(), 0
	}
	f.writtenBytes = 0
	f.base.acquire()
	s := &fsmSnapshot{
		f: f, frozen: slices.Clone(f.frozen), seq: f.seq, base: f.base,
		applied: f.applied, counts: f.counts.clone(), restores: f.restores,
	}
	f.snapMu.Lock()
	defer f.snapMu.Unlock()
	f.chain.gen++
	s.gen = f.chain.gen
	if f.chain.parent != "" && f.chain.outstanding == 0 {
		s.parent = f.chain.parent
	}
	f.chain.outstanding++
	return s, nil
}

// Persist writes the snapshot to sink as a snapshot stream: KindDelta with Parent = the
// snapshot the base is, or KindFull. Any failure cancels the sink and makes the next
// snapshot full. Once the sink is closed, the FSM switches its base to the new snapshot
// (see switchBase).
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	start := time.Now()
	f := s.f
	m := f.metrics
	n, err := s.write(sink)
	if err != nil {
		_ = sink.Cancel()
	} else if cerr := sink.Close(); cerr != nil {
		err = fmt.Errorf("fsm: closing snapshot sink: %w", cerr)
	}
	var rd *snapshot.Reader
	var updates []cacheUpdate
	if err == nil && f.store != nil {
		// A sink of another store (not raft's) has no runs here; the base stays.
		if rd, _ = f.store.Reader(sink.ID()); rd != nil {
			var uerr error
			if updates, uerr = s.cacheUpdates(); uerr != nil {
				_ = rd.Close() // cannot happen (every record was encoded for the stream); no switch
				rd = nil
			}
		}
	}
	f.mu.Lock()
	f.snapMu.Lock()
	if err == nil {
		s.persisted = true
		if s.restores == f.restores && s.seq >= f.baseSeq && (f.store == nil || rd != nil) {
			f.switchBase(s.seq, rd, updates)
			rd = nil
			f.chain.parent = sink.ID()
		}
	} else if s.gen == f.chain.gen {
		f.chain.parent = ""
	}
	f.finishedLocked()
	f.snapMu.Unlock()
	f.mu.Unlock()
	if rd != nil {
		_ = rd.Close()
	}
	f.reportState()
	if err != nil {
		m.Counter(MetricSnapshotFailed, 1)
		return err
	}
	m.Observe(MetricSnapshotSeconds, time.Since(start).Seconds())
	m.Counter(MetricSnapshotKeysTotal, float64(n))
	if s.parent == "" {
		m.Counter(MetricSnapshotFullTotal, 1)
	} else {
		m.Counter(MetricSnapshotDelta, 1)
	}
	return nil
}

// cacheUpdate is one change of a frozen tree for the cache: a record's encoding, or nil for a
// deletion.
type cacheUpdate struct {
	seq uint64 // of the frozen tree
	key string
	val []byte
}

// cacheUpdates encodes the cacheable changes of the snapshot's frozen trees, oldest first,
// before Persist takes the lock to switch (inline blobs' bytes as removals: see below).
func (s *fsmSnapshot) cacheUpdates() ([]cacheUpdate, error) {
	var out []cacheUpdate
	var err error
	for _, ft := range s.frozen {
		ft.t.Ascend(func(e *entry) bool {
			if !cacheable(e.key) {
				return true
			}
			u := cacheUpdate{seq: ft.seq, key: e.key}
			// An inline blob's bytes are not put: they would double the frozen trees' inline
			// bytes until the switch, and churn a cache bounded in bytes; a removal keeps a
			// cached copy from outliving the record (blob IDs are never reused anyway).
			if e.rec != nil && e.key[0] != prefixBlobData {
				if u.val, err = encodeValue(e.rec); err != nil {
					return false
				}
			}
			out = append(out, u)
			return true
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// switchBase makes the state persisted up to frozen tree seq the new base: with a store, the
// runs of rd, the persisted changes (updates, from cacheUpdates) going into the cache as clean
// records — the newest writes are the likeliest reads; without one, the base tree with those
// changes applied (copy-on-write, so readers of the old tree are undisturbed). The frozen trees
// it covers are dropped. The logical state does not change, so a reader can never see an
// older one. The caller holds f.mu for writing.
func (f *FSM) switchBase(seq uint64, rd *snapshot.Reader, updates []cacheUpdate) {
	n := 0
	for n < len(f.frozen) && f.frozen[n].seq <= seq {
		n++
	}
	covered := f.frozen[:n]
	var nb *baseView
	if rd != nil {
		nb = newRunBase(rd)
		// A fill of a value read from the old runs must not land after the updates below.
		f.cache.newEpoch(false)
		for _, u := range updates {
			switch {
			case u.seq <= f.baseSeq: // a tree an earlier switch applied already
			case u.val == nil:
				f.cache.remove(u.key)
			default:
				f.cache.put(u.key, u.val)
			}
		}
	} else {
		t := f.base.tree.Clone()
		for _, ft := range covered {
			ft.t.Ascend(func(e *entry) bool {
				if e.rec == nil {
					t.Delete(e)
				} else {
					t.ReplaceOrInsert(e)
				}
				return true
			})
		}
		nb = newTreeBase(t)
	}
	for _, ft := range covered {
		f.frozenLen -= ft.t.Len()
		f.frozenBytes -= ft.bytes
	}
	f.frozen = slices.Clone(f.frozen[n:])
	f.baseSeq = seq
	old := f.base
	f.base = nb
	old.release()
	f.publishDirtyLocked()
}

// cacheable reports whether a key's records go through the cache (the resident kinds never
// do: their trees are complete).
func cacheable(key string) bool {
	switch key[0] {
	case prefixObject, prefixUpload, prefixPart, prefixVersion, prefixBucketTags, prefixLifecycle, prefixCors, prefixEncryption, prefixBlobData:
		return true
	}
	return false
}

// finishedLocked wakes Apply calls waiting in throttle. The caller holds snapMu.
func (f *FSM) finishedLocked() {
	close(f.snapDone)
	f.snapDone = make(chan struct{})
}

// Release ends the snapshot. One released without a successful Persist makes the next
// snapshot full if it was the newest.
func (s *fsmSnapshot) Release() {
	s.once.Do(func() {
		f := s.f
		f.snapMu.Lock()
		f.chain.outstanding--
		if !s.persisted && s.gen == f.chain.gen && f.chain.parent != "" {
			f.chain.parent = ""
			f.metrics.Counter(MetricSnapshotFailed, 1)
		}
		f.finishedLocked()
		f.snapMu.Unlock()
		s.base.release()
	})
}

// write encodes the stream; it returns the number of records written.
func (s *fsmSnapshot) write(w io.Writer) (int, error) {
	h := snapshot.StreamHeader{Kind: snapshot.KindFull}
	if s.parent != "" {
		h = snapshot.StreamHeader{Kind: snapshot.KindDelta, Parent: s.parent}
	}
	sw, err := snapshot.NewStreamWriter(w, h)
	if err != nil {
		return 0, fmt.Errorf("fsm: snapshot stream: %w", err)
	}
	var n int
	err = s.records(s.parent != "", func(key string, value []byte, tomb bool) error {
		n++
		if tomb {
			return sw.Delete([]byte(key))
		}
		return sw.Put([]byte(key), value)
	})
	if err != nil {
		return n, fmt.Errorf("fsm: writing snapshot: %w", err)
	}
	if err := sw.Close(); err != nil {
		return n, fmt.Errorf("fsm: closing snapshot stream: %w", err)
	}
	return n, nil
}

// records calls emit for the snapshot's records in key order, the meta record first: for a
// delta, the frozen trees' changes (tombstones included); for a full stream, the frozen trees
// merged over the whole base.
func (s *fsmSnapshot) records(delta bool, emit func(key string, value []byte, tomb bool) error) error {
	if err := emit(metaKey, encodeMeta(s.applied, &s.counts), false); err != nil {
		return err
	}
	v := &view{dirty: newTree(), frozen: s.frozen, base: s.base}
	if delta {
		v.base = newTreeBase(newTree())
	}
	it := v.iter(metaKey+"\x00", "", delta, true)
	defer it.close()
	for it.next() {
		var value []byte
		if !it.tomb {
			value = it.raw
			if value == nil {
				var err error
				if value, err = encodeValue(it.rec); err != nil {
					return err
				}
			}
		}
		if err := emit(it.key, value, it.tomb); err != nil {
			return err
		}
	}
	return it.err
}

// writeFull emits the full state (tests and tools).
func (s *fsmSnapshot) writeFull(put putFunc) error {
	return s.records(false, func(key string, value []byte, _ bool) error { return put(key, value, nil) })
}

type putFunc func(key string, value []byte, err error) error

// Restore replaces the whole state with a snapshot. A stream from the attached store's Open
// (raft restoring at start or installing a snapshot from the leader) is not read at all: the
// FSM opens a Reader on that snapshot and takes its runs as its base, loading only the meta
// record and the resident kinds. Any other stream must be KindFull and is loaded into memory.
// On any error the state is left as it was. The snapshot's ID (or the stream's Source)
// becomes the parent of the next delta snapshot; without one the next snapshot is full.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	start := time.Now()
	if src := sourceOf(rc); src != nil && f.store != nil && src.Store() == f.store {
		if rd, err := f.store.Reader(src.SnapshotID()); err == nil {
			if err := f.restoreRuns(rd); err != nil {
				_ = rd.Close()
				return err
			}
			f.metrics.Observe(MetricRestoreSeconds, time.Since(start).Seconds())
			f.reportState()
			return nil
		}
		// The snapshot went away between Open and here: read the stream instead.
	}
	sr, err := snapshot.NewStreamReader(rc)
	if err != nil {
		return fmt.Errorf("fsm: restore: %w", err)
	}
	h := sr.Header()
	if h.Kind != snapshot.KindFull {
		return fmt.Errorf("%w: got %s", ErrSnapshotKind, h.Kind)
	}
	t, res, c, applied, err := readFull(sr)
	if err != nil {
		return fmt.Errorf("fsm: restore: %w", err)
	}
	f.install(newTreeBase(t), res, c, applied, h.Source)
	f.metrics.Observe(MetricRestoreSeconds, time.Since(start).Seconds())
	f.reportState()
	return nil
}

// sourceOf finds a snapshot.Source in rc or in the readers it wraps (raft wraps the stream
// in a counting reader that implements raft.ReadCloserWrapper).
func sourceOf(rc io.ReadCloser) snapshot.Source {
	for i := 0; i < 8 && rc != nil; i++ {
		if s, ok := rc.(snapshot.Source); ok {
			return s
		}
		w, ok := rc.(raft.ReadCloserWrapper)
		if !ok {
			return nil
		}
		rc = w.WrappedReadCloser()
	}
	return nil
}

// install replaces the state; the old base is released once its readers are done.
func (f *FSM) install(b *baseView, res *resident, c counts, applied uint64, parent string) {
	f.mu.Lock()
	f.res, f.counts, f.applied = res, c, applied
	f.dirty, f.frozen, f.frozenLen = newTree(), nil, 0
	f.dirtyBytes, f.frozenBytes, f.writtenBytes = 0, 0, 0
	f.baseSeq = f.seq
	f.restores++
	old := f.base
	f.base = b
	old.release()
	if f.cache != nil {
		f.cache.newEpoch(true)
	}
	f.publishDirtyLocked()
	f.snapMu.Lock()
	f.chain.gen++
	f.chain.parent = parent
	f.snapMu.Unlock()
	f.mu.Unlock()
}

// restoreRuns makes the snapshot rd reads the base: only its meta record and its resident
// records are read. A meta record of version 1 carries no counts: they are recounted from the
// object and upload keys (one pass over those ranges, nothing kept).
func (f *FSM) restoreRuns(rd *snapshot.Reader) error {
	fail := func(err error) error { return fmt.Errorf("fsm: restore from snapshot %s: %w", rd.ID(), err) }
	raw, ok, err := rd.Get([]byte(metaKey))
	if err != nil {
		return fail(err)
	}
	if !ok {
		return fail(fmt.Errorf("%w: snapshot has no meta record", ErrCorrupt))
	}
	meta, err := decodeMetaRecord(raw)
	if err != nil {
		return fail(err)
	}
	res := newResident()
	for _, r := range [][2]byte{{prefixBucket, prefixObject}, {prefixNode, prefixSetting + 1}, {prefixMember, prefixMember + 1}} {
		it := rd.Iter([]byte{r[0]}, []byte{r[1]})
		for it.Next() {
			rec, err := decodeChecked(it.Key(), it.Value())
			if err != nil {
				it.Close()
				return fail(err)
			}
			res.add(rec)
		}
		it.Close()
		if err := it.Err(); err != nil {
			return fail(err)
		}
	}
	c := meta.counts
	if !meta.hasCounts {
		if c, err = recount(rd); err != nil {
			return fail(err)
		}
	}
	f.install(newRunBase(rd), res, c, meta.applied, rd.ID())
	return nil
}

// recount counts the objects and uploads of every bucket from their keys.
func recount(rd *snapshot.Reader) (counts, error) {
	c := newCounts()
	it := rd.Scan([]byte{prefixObject}, []byte{prefixUpload + 1})
	defer it.Close()
	for it.Next() {
		k := it.Key()
		bucket, _, ok := component(string(k), 1)
		if !ok {
			return c, fmt.Errorf("%w: bad key %q", ErrCorrupt, k)
		}
		if k[0] == prefixObject {
			c.addObjects(bucket, 1)
		} else {
			c.addUploads(bucket, 1)
		}
	}
	return c, it.Err()
}

// errKeyMismatch: a record whose identity does not match the key it is stored under.
var errKeyMismatch = fmt.Errorf("%w: record does not match its key", ErrCorrupt)

// decodeChecked decodes a snapshot record and checks that it is stored under its own key.
func decodeChecked(k, v []byte) (any, error) {
	if len(k) == 0 {
		return nil, fmt.Errorf("%w: empty snapshot key", ErrCorrupt)
	}
	if _, err := parseKey(k); err != nil {
		return nil, err
	}
	rec, err := decodeValue(k[0], v)
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", k, err)
	}
	if !bytes.Equal([]byte(recordKey(rec)), k) {
		return nil, fmt.Errorf("key %q: %w", k, errKeyMismatch)
	}
	return rec, nil
}

// readFull loads a full stream into a tree of every record, the resident trees and the
// counts (checked against a version 2 meta record).
func readFull(sr *snapshot.StreamReader) (*tree, *resident, counts, uint64, error) {
	t := newTree()
	res := newResident()
	meta, c, err := scanFull(sr, func(key, _ []byte, rec any) error {
		if rec != nil { // not the meta record
			t.ReplaceOrInsert(&entry{key: string(key), rec: rec})
			res.add(rec)
		}
		return nil
	})
	if err != nil {
		return nil, nil, c, 0, err
	}
	return t, res, c, meta.applied, nil
}

func sameCounts(a, b counts) bool {
	if a.objects != b.objects || a.uploads != b.uploads || len(a.byBucket) != len(b.byBucket) {
		return false
	}
	for k, v := range a.byBucket {
		if b.byBucket[k] != v {
			return false
		}
	}
	return true
}
