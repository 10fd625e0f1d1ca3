package fsm

import (
	"fmt"
	"sync/atomic"

	"github.com/nebulaio/nebulaio/snapshot"
)

// The tiers of the state, newest first (see DESIGN.md, "Tiers"):
//
//	dirty    the entries changed since the last Snapshot(): a btree, tombstones included
//	frozen   the dirty trees of snapshots taken but not yet switched into the base, newest
//	         last; immutable
//	base     the clean state: a complete btree (tree), or the runs of a persisted snapshot
//	         (rd) with the entry cache in front of them
//
// A key's record is the one in the first tier that holds the key; a tombstone there means
// the key does not exist.

// frozenTree is a dirty tree frozen by Snapshot(); seq numbers them in order.
type frozenTree struct {
	t     *tree
	seq   uint64
	bytes int64 // the inline bytes it holds (see FSM.dirtyBytes)
}

// baseView is the clean state under the dirty and frozen trees. It is immutable; a switch
// replaces it. Readers that use it outside the FSM lock hold a reference, and the last
// release of a replaced view closes its snapshot reader.
type baseView struct {
	tree *tree            // complete mode: every clean entry (no tombstones)
	rd   *snapshot.Reader // run mode: the newest persisted snapshot this FSM is based on
	refs atomic.Int64
}

func newTreeBase(t *tree) *baseView {
	b := &baseView{tree: t}
	b.refs.Store(1)
	return b
}

func newRunBase(rd *snapshot.Reader) *baseView {
	b := &baseView{rd: rd}
	b.refs.Store(1)
	return b
}

func (b *baseView) acquire() { b.refs.Add(1) }

func (b *baseView) release() {
	if b.refs.Add(-1) == 0 && b.rd != nil {
		_ = b.rd.Close()
	}
}

// runGet reads key from the base's runs and decodes it; raw is the record's encoding.
func (b *baseView) runGet(key string) (rec any, raw []byte, found bool, err error) {
	raw, ok, err := b.rd.Get([]byte(key))
	if err != nil || !ok {
		return nil, nil, false, err
	}
	if rec, err = decodeValue(key[0], raw); err != nil {
		return nil, nil, false, fmt.Errorf("fsm: record %q in snapshot %s: %w", key, b.rd.ID(), err)
	}
	return rec, raw, true, nil
}

// memGet looks key up in the tiers held in memory; decided=false means that only the base's
// runs can answer. A record from a tree is shared (never to be modified); one decoded from the
// cache is fresh. The caller holds f.mu (read or write).
func (f *FSM) memGet(key string) (rec any, found, decided, fresh bool, err error) {
	if e, ok := f.dirty.Get(&entry{key: key}); ok {
		return e.rec, e.rec != nil, true, false, nil
	}
	return f.memGetBelowDirty(key)
}

// memGetBelowDirty is memGet without the dirty tree.
func (f *FSM) memGetBelowDirty(key string) (rec any, found, decided, fresh bool, err error) {
	probe := &entry{key: key}
	for i := len(f.frozen) - 1; i >= 0; i-- {
		if e, ok := f.frozen[i].t.Get(probe); ok {
			return e.rec, e.rec != nil, true, false, nil
		}
	}
	if f.base.tree != nil {
		if e, ok := f.base.tree.Get(probe); ok {
			return e.rec, true, true, false, nil
		}
		return nil, false, true, false, nil
	}
	if raw, ok := f.cache.get(key); ok {
		if rec, err = decodeValue(key[0], raw); err != nil {
			return nil, false, true, false, fmt.Errorf("fsm: cached record %q: %w", key, err)
		}
		return rec, true, true, true, nil
	}
	return nil, false, false, false, nil
}

// get returns the current record of key for Apply, which holds f.mu for writing: the base
// cannot change under it. A run that cannot be read makes the replica unable to apply the
// log deterministically, so it panics (raft restarts from the snapshot and log; a damaged
// run needs an operator).
func (f *FSM) get(key string) (any, bool) { return f.lookup(key, f.memGet) }

// getBelowDirty is get for a key whose dirty entry the caller has just replaced: the record it
// had before, from the tiers below.
func (f *FSM) getBelowDirty(key string) (any, bool) { return f.lookup(key, f.memGetBelowDirty) }

func (f *FSM) lookup(key string, mem func(string) (any, bool, bool, bool, error)) (any, bool) {
	rec, found, decided, _, err := mem(key)
	if err == nil && !decided {
		rec, _, found, err = f.base.runGet(key)
	}
	if err != nil {
		panic(fmt.Sprintf("fsm: apply cannot read the snapshot runs: %v", err))
	}
	return rec, found
}

func (f *FSM) upload(bucket, key, id string) (*UploadInfo, bool) {
	rec, ok := f.get(uploadKey(bucket, key, id))
	if !ok {
		return nil, false
	}
	return rec.(*UploadInfo), true
}

func (f *FSM) part(bucket, key, id string, n uint32) (*partRec, bool) {
	rec, ok := f.get(partKey(bucket, key, id, n))
	if !ok {
		return nil, false
	}
	return rec.(*partRec), true
}

// readGet returns the current record of key for a reader: under f.mu held for reading, check
// (which may reject, e.g. NoSuchBucket) and then the memory tiers; then, without the lock, the
// base's runs, whose answer fills the cache unless the runs were switched meanwhile.
// The answer is the state at the moment the lock was held. A fresh record is the caller's; any
// other is shared and must be copied before it is handed out.
func (f *FSM) readGet(key string, check func() error) (rec any, found, fresh bool, err error) {
	keys := [1]string{key}
	var out [1]readRec
	err = f.readGetInto(check, keys[:], out[:])
	return out[0].rec, out[0].found, out[0].fresh, err
}

// readRec is one answer of readGetInto.
type readRec struct {
	rec          any
	found, fresh bool
	pending      bool // only the base's runs can answer
}

// readGetInto is readGet of several keys at once: the answers (out[i] for keys[i]) are all of
// the state at one moment, the one when the lock was held.
func (f *FSM) readGetInto(check func() error, keys []string, out []readRec) error {
	f.mu.RLock()
	if err := check(); err != nil {
		f.mu.RUnlock()
		return err
	}
	undecided := 0
	for i, k := range keys {
		rec, found, decided, fresh, err := f.memGet(k)
		if err != nil {
			f.mu.RUnlock()
			return err
		}
		out[i] = readRec{rec: rec, found: found, fresh: fresh, pending: !decided}
		if !decided {
			undecided++
		}
	}
	if undecided == 0 {
		f.mu.RUnlock()
		return nil
	}
	b := f.base
	b.acquire()
	epoch := f.cache.currentEpoch()
	f.mu.RUnlock()
	defer b.release()
	if f.readHook != nil {
		f.readHook()
	}
	for i, k := range keys {
		if !out[i].pending {
			continue
		}
		rec, raw, found, err := b.runGet(k)
		if err != nil {
			return err
		}
		if found && cacheable(k) {
			f.cache.fill(k, raw, epoch)
		}
		out[i] = readRec{rec: rec, found: found, fresh: true}
	}
	return nil
}

// view is a consistent state for a read that walks key ranges without holding the FSM lock:
// a clone of the dirty tree, the frozen trees and a referenced base.
type view struct {
	dirty  *tree
	frozen []*frozenTree
	base   *baseView
	owned  bool // the view holds a reference on base and a clone of dirty
}

// readViewLocked takes a view; the caller holds f.mu for reading and calls close when done.
// Clone mutates the cloned tree's copy-on-write context, so clones by concurrent readers are
// serialised by cloneMu (Apply, the only other user of that field, holds f.mu for writing).
func (f *FSM) readViewLocked() *view {
	f.cloneMu.Lock()
	d := f.dirty.Clone()
	f.cloneMu.Unlock()
	f.base.acquire()
	return &view{dirty: d, frozen: append([]*frozenTree(nil), f.frozen...), base: f.base, owned: true}
}

// applyView is the live state for Apply (f.mu held for writing): no clone, no reference.
// Ranges read from it must be collected before the first mutation.
func (f *FSM) applyView() *view {
	return &view{dirty: f.dirty, frozen: f.frozen, base: f.base}
}

func (v *view) close() {
	if v.owned {
		v.base.release()
		v.owned = false
	}
}

// get is a point read in the view (no cache: the cache follows the current base, which may
// be newer than the view's).
func (v *view) get(key string) (any, bool, error) {
	probe := &entry{key: key}
	if e, ok := v.dirty.Get(probe); ok {
		return e.rec, e.rec != nil, nil
	}
	for i := len(v.frozen) - 1; i >= 0; i-- {
		if e, ok := v.frozen[i].t.Get(probe); ok {
			return e.rec, e.rec != nil, nil
		}
	}
	if v.base.tree != nil {
		e, ok := v.base.tree.Get(probe)
		if !ok {
			return nil, false, nil
		}
		return e.rec, true, nil
	}
	rec, _, found, err := v.base.runGet(key)
	return rec, found, err
}

// iter walks [lo, hi) of the view in key order ("" hi: no bound). With tombstones the
// deletions of the memory tiers are returned too (rec == nil, tomb set). long reads the runs
// ahead in parallel (whole-state scans).
func (v *view) iter(lo, hi string, tombstones, long bool) *mergedIter {
	m := &mergedIter{tombstones: tombstones}
	m.trees = append(m.trees, newTreeSrc(v.dirty, lo, hi))
	for i := len(v.frozen) - 1; i >= 0; i-- {
		m.trees = append(m.trees, newTreeSrc(v.frozen[i].t, lo, hi))
	}
	if v.base.tree != nil {
		m.trees = append(m.trees, newTreeSrc(v.base.tree, lo, hi))
	} else if v.base.rd != nil {
		var end []byte
		if hi != "" {
			end = []byte(hi)
		}
		var it *snapshot.Iter
		if long {
			it = v.base.rd.Scan([]byte(lo), end)
		} else {
			it = v.base.rd.Iter([]byte(lo), end)
		}
		m.run = &runSrc{it: it}
		m.run.advance()
	}
	m.advance = make([]bool, len(m.trees))
	return m
}

// treeSrc pulls the entries of a tree in [from, hi) in batches (google/btree has no cursor).
// The tree must not change while it is read.
type treeSrc struct {
	t    *tree
	hi   string
	buf  []*entry
	i    int
	from string
	more bool
}

const treeBatch = 64

func newTreeSrc(t *tree, lo, hi string) *treeSrc {
	s := &treeSrc{t: t, hi: hi, from: lo, more: true}
	s.fill()
	return s
}

func (s *treeSrc) fill() {
	s.buf, s.i = s.buf[:0], 0
	if !s.more {
		return
	}
	s.more = false
	s.t.AscendGreaterOrEqual(&entry{key: s.from}, func(e *entry) bool {
		if s.hi != "" && e.key >= s.hi {
			return false
		}
		if len(s.buf) == treeBatch {
			s.more = true
			return false
		}
		s.buf = append(s.buf, e)
		return true
	})
	if s.more {
		s.from = s.buf[len(s.buf)-1].key + "\x00"
	}
}

func (s *treeSrc) head() *entry {
	if s.i < len(s.buf) {
		return s.buf[s.i]
	}
	return nil
}

func (s *treeSrc) next() {
	s.i++
	if s.i >= len(s.buf) {
		s.fill()
	}
}

// runSrc is the base runs' iterator; raw is valid until the next advance.
type runSrc struct {
	it  *snapshot.Iter
	ok  bool
	key string
	raw []byte
}

func (r *runSrc) advance() {
	r.ok = r.it.Next()
	if r.ok {
		r.key = string(r.it.Key())
		r.raw = r.it.Value()
	}
}

// mergedIter merges the tiers of a view: for equal keys the newest tier wins; a winning
// tombstone hides the key (or is returned, with tombstones set). The current item is valid
// until the next call to next.
type mergedIter struct {
	trees      []*treeSrc // newest first
	run        *runSrc    // oldest; nil if none
	tombstones bool

	advance []bool // sources that returned the current key, moved on at the next call
	runAdv  bool

	key  string
	rec  any    // the record from a memory tier, or nil
	raw  []byte // the encoded record from the runs, or nil
	tomb bool
	err  error
}

func (m *mergedIter) next() bool {
	for m.err == nil {
		for i, adv := range m.advance {
			if adv {
				m.trees[i].next()
				m.advance[i] = false
			}
		}
		if m.runAdv {
			m.run.advance()
			m.runAdv = false
		}
		if m.run != nil && !m.run.ok && m.run.it.Err() != nil {
			m.err = m.run.it.Err()
			return false
		}
		win := -1
		for i, s := range m.trees {
			if e := s.head(); e != nil && (win < 0 || e.key < m.trees[win].head().key) {
				win = i
			}
		}
		useRun := m.run != nil && m.run.ok && (win < 0 || m.run.key < m.trees[win].head().key)
		if win < 0 && !useRun {
			return false
		}
		if useRun {
			m.key, m.rec, m.raw, m.tomb = m.run.key, nil, m.run.raw, false
			m.runAdv = true
			return true
		}
		e := m.trees[win].head()
		m.key, m.rec, m.raw, m.tomb = e.key, e.rec, nil, e.rec == nil
		for i := win; i < len(m.trees); i++ {
			if h := m.trees[i].head(); h != nil && h.key == e.key {
				m.advance[i] = true
			}
		}
		if m.run != nil && m.run.ok && m.run.key == e.key {
			m.runAdv = true
		}
		if !m.tomb || m.tombstones {
			return true
		}
	}
	return false
}

// record returns the current record, decoding it if it came from the runs.
func (m *mergedIter) record() (any, error) {
	if m.rec != nil || m.raw == nil {
		return m.rec, nil
	}
	rec, err := decodeValue(m.key[0], m.raw)
	if err != nil {
		return nil, fmt.Errorf("fsm: record %q in the snapshot runs: %w", m.key, err)
	}
	return rec, nil
}

func (m *mergedIter) close() {
	if m.run != nil {
		m.run.it.Close()
	}
}
