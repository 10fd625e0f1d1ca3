package fsm

import (
	"bytes"
	"errors"
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
	// parent is the raft snapshot ID of the newest snapshot that persisted successfully (or
	// the Source of the stream last restored); "" means the next snapshot must be full.
	parent string
	// gen numbers Snapshot() calls and restores; only the newest generation may move parent.
	gen uint64
	// outstanding counts snapshots taken and not yet released. A snapshot taken while
	// another is outstanding is full, since its delta base is not yet known to be durable.
	outstanding int
}

// fsmSnapshot is a point-in-time view: btree clones, the applied index, and (for a delta) the
// keys changed since the parent.
type fsmSnapshot struct {
	f       *FSM
	st      *state
	applied uint64
	gen     uint64
	parent  string              // "" → full stream
	dirty   map[string]struct{} // delta only; owned by this snapshot

	once      sync.Once
	persisted bool // guarded by f.snapMu
}

// Snapshot captures the state for Persist: cheap clones of the trees, and the set of changed
// keys (a fresh set starts for the next snapshot).
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &fsmSnapshot{f: f, st: f.st.clone(), applied: f.applied}
	dirty := f.dirty
	f.dirty = map[string]struct{}{}

	f.snapMu.Lock()
	defer f.snapMu.Unlock()
	f.chain.gen++
	s.gen = f.chain.gen
	if f.chain.parent != "" && f.chain.outstanding == 0 {
		s.parent = f.chain.parent
		s.dirty = dirty
		s.dirty[metaKey] = struct{}{}
	}
	f.chain.outstanding++
	return s, nil
}

// Persist writes the snapshot to sink as a snapshot stream: KindDelta with Parent = the
// previous persisted snapshot, or KindFull when there is none. Any failure cancels the sink
// and makes the next snapshot full.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	start := time.Now()
	m := s.f.metrics
	n, err := s.write(sink)
	if err != nil {
		_ = sink.Cancel()
	} else if cerr := sink.Close(); cerr != nil {
		err = fmt.Errorf("fsm: closing snapshot sink: %w", cerr)
	}
	s.f.snapMu.Lock()
	if err == nil {
		s.persisted = true
		if s.gen == s.f.chain.gen {
			s.f.chain.parent = sink.ID()
		}
	} else if s.gen == s.f.chain.gen {
		s.f.chain.parent = ""
	}
	s.f.snapMu.Unlock()
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

// Release ends the snapshot. One released without a successful Persist loses its changed
// keys, so the next snapshot is full.
func (s *fsmSnapshot) Release() {
	s.once.Do(func() {
		s.f.snapMu.Lock()
		defer s.f.snapMu.Unlock()
		s.f.chain.outstanding--
		if !s.persisted && s.gen == s.f.chain.gen && s.f.chain.parent != "" {
			s.f.chain.parent = ""
			s.f.metrics.Counter(MetricSnapshotFailed, 1)
		}
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
	put := func(key string, value []byte, err error) error {
		if err != nil {
			return err
		}
		n++
		return sw.Put([]byte(key), value)
	}
	if s.parent != "" {
		err = s.writeDelta(sw, put, &n)
	} else {
		err = s.writeFull(put)
	}
	if err != nil {
		return n, fmt.Errorf("fsm: writing snapshot: %w", err)
	}
	if err := sw.Close(); err != nil {
		return n, fmt.Errorf("fsm: closing snapshot stream: %w", err)
	}
	return n, nil
}

type putFunc func(key string, value []byte, err error) error

func (s *fsmSnapshot) writeFull(put putFunc) error {
	if err := put(metaKey, encodeMeta(s.applied), nil); err != nil {
		return err
	}
	var err error
	s.st.buckets.Ascend(func(b *BucketInfo) bool {
		v, e := encodeBucket(b)
		err = put(bucketKey(b.Name), v, e)
		return err == nil
	})
	if err != nil {
		return err
	}
	s.st.objects.Ascend(func(o *ObjectInfo) bool {
		v, e := encodeObject(o)
		err = put(objectKey(o.Bucket, o.Key), v, e)
		return err == nil
	})
	if err != nil {
		return err
	}
	s.st.uploads.Ascend(func(u *UploadInfo) bool {
		v, e := encodeUpload(u)
		err = put(uploadKey(u.Bucket, u.Key, u.UploadID), v, e)
		return err == nil
	})
	if err != nil {
		return err
	}
	s.st.parts.Ascend(func(p *partRec) bool {
		v, e := encodePart(p)
		err = put(partKey(p.bucket, p.key, p.uploadID, p.PartNumber), v, e)
		return err == nil
	})
	if err != nil {
		return err
	}
	s.st.nodes.Ascend(func(nd *NodeInfo) bool {
		v, e := encodeNodeRecord(nd)
		err = put(nodeKey(nd.ID), v, e)
		return err == nil
	})
	if err != nil {
		return err
	}
	s.st.settings.Ascend(func(p *Pair) bool {
		v, e := encodeSetting(p)
		err = put(settingKey(p.Key), v, e)
		return err == nil
	})
	return err
}

// writeDelta writes the changed keys in order: a put with the current value, or a tombstone
// for a key that no longer exists.
func (s *fsmSnapshot) writeDelta(sw *snapshot.StreamWriter, put putFunc, n *int) error {
	keys := make([]string, 0, len(s.dirty))
	for k := range s.dirty {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v, found, err := s.st.lookup(k, s.applied)
		if err != nil {
			return err
		}
		if found {
			err = put(k, v, nil)
		} else {
			*n++
			err = sw.Delete([]byte(k))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// lookup returns the record encoding of one snapshot key in st, or found=false.
func (st *state) lookup(k string, applied uint64) (v []byte, found bool, err error) {
	pk, err := parseKey([]byte(k))
	if err != nil {
		return nil, false, err
	}
	switch pk.prefix {
	case prefixMeta:
		return encodeMeta(applied), true, nil
	case prefixBucket:
		if b, ok := st.bucket(pk.parts[0]); ok {
			v, err = encodeBucket(b)
			return v, true, err
		}
	case prefixObject:
		if o, ok := st.object(pk.parts[0], pk.parts[1]); ok {
			v, err = encodeObject(o)
			return v, true, err
		}
	case prefixUpload:
		if u, ok := st.upload(pk.parts[0], pk.parts[1], pk.parts[2]); ok {
			v, err = encodeUpload(u)
			return v, true, err
		}
	case prefixPart:
		probe := &partRec{bucket: pk.parts[0], key: pk.parts[1], uploadID: pk.parts[2], PartInfo: PartInfo{PartNumber: pk.part}}
		if p, ok := st.parts.Get(probe); ok {
			v, err = encodePart(p)
			return v, true, err
		}
	case prefixNode:
		if nd, ok := st.nodes.Get(&NodeInfo{ID: pk.parts[0]}); ok {
			v, err = encodeNodeRecord(nd)
			return v, true, err
		}
	case prefixSetting:
		if p, ok := st.settings.Get(&Pair{Key: pk.parts[0]}); ok {
			v, err = encodeSetting(p)
			return v, true, err
		}
	}
	return nil, false, nil
}

// Restore replaces the whole state with a KindFull snapshot stream. On any error the state
// is left as it was. The stream's Source (the snapshot it was read from) becomes the parent
// of the next delta snapshot; without a Source the next snapshot is full.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	start := time.Now()
	sr, err := snapshot.NewStreamReader(rc)
	if err != nil {
		return fmt.Errorf("fsm: restore: %w", err)
	}
	h := sr.Header()
	if h.Kind != snapshot.KindFull {
		return fmt.Errorf("%w: got %s", ErrSnapshotKind, h.Kind)
	}
	st, refs, applied, err := readFull(sr)
	if err != nil {
		return fmt.Errorf("fsm: restore: %w", err)
	}
	f.mu.Lock()
	f.st, f.refs, f.applied = st, refs, applied
	f.dirty = map[string]struct{}{}
	f.snapMu.Lock()
	f.chain.gen++
	f.chain.parent = h.Source
	f.snapMu.Unlock()
	f.mu.Unlock()
	f.metrics.Observe(MetricRestoreSeconds, time.Since(start).Seconds())
	f.reportState()
	return nil
}

// errKeyMismatch: a record whose identity does not match the key it is stored under.
var errKeyMismatch = fmt.Errorf("%w: record does not match its key", ErrCorrupt)

func readFull(sr *snapshot.StreamReader) (*state, map[string]int, uint64, error) {
	st := newState()
	refs := map[string]int{}
	var applied uint64
	sawMeta := false
	for {
		k, v, _, err := sr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, 0, err
		}
		pk, err := parseKey(k)
		if err != nil {
			return nil, nil, 0, err
		}
		var got string
		switch pk.prefix {
		case prefixMeta:
			applied, err = decodeMeta(v)
			got, sawMeta = metaKey, true
		case prefixBucket:
			var b *BucketInfo
			if b, err = decodeBucket(v); err == nil {
				st.buckets.ReplaceOrInsert(b)
				got = bucketKey(b.Name)
			}
		case prefixObject:
			var o *ObjectInfo
			if o, err = decodeObject(v); err == nil {
				st.objects.ReplaceOrInsert(o)
				got = objectKey(o.Bucket, o.Key)
				for _, b := range o.Blobs {
					refs[b.ID]++
				}
			}
		case prefixUpload:
			var u *UploadInfo
			if u, err = decodeUpload(v); err == nil {
				st.uploads.ReplaceOrInsert(u)
				got = uploadKey(u.Bucket, u.Key, u.UploadID)
			}
		case prefixPart:
			var p *partRec
			if p, err = decodePart(v); err == nil {
				st.parts.ReplaceOrInsert(p)
				got = partKey(p.bucket, p.key, p.uploadID, p.PartNumber)
				for _, b := range p.Blobs {
					refs[b.ID]++
				}
			}
		case prefixNode:
			var nd *NodeInfo
			if nd, err = decodeNodeRecord(v); err == nil {
				st.nodes.ReplaceOrInsert(nd)
				got = nodeKey(nd.ID)
			}
		case prefixSetting:
			var p *Pair
			if p, err = decodeSetting(v); err == nil {
				st.settings.ReplaceOrInsert(p)
				got = settingKey(p.Key)
			}
		}
		if err != nil {
			return nil, nil, 0, fmt.Errorf("key %q: %w", k, err)
		}
		if !bytes.Equal([]byte(got), k) {
			return nil, nil, 0, fmt.Errorf("key %q: %w", k, errKeyMismatch)
		}
	}
	if !sawMeta {
		return nil, nil, 0, fmt.Errorf("%w: snapshot has no meta record", ErrCorrupt)
	}
	return st, refs, applied, nil
}
