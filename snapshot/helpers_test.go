package snapshot

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"testing"

	"github.com/hashicorp/raft"
)

// state is a test model: key -> value.
type state map[string]string

func (st state) clone() state {
	c := make(state, len(st))
	for k, v := range st {
		c[k] = v
	}
	return c
}

func (st state) sortedKeys() []string {
	ks := make([]string, 0, len(st))
	for k := range st {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// writeFull writes st as a KindFull stream.
func writeFull(w io.Writer, st state) error {
	sw, err := NewStreamWriter(w, StreamHeader{Kind: KindFull})
	if err != nil {
		return err
	}
	for _, k := range st.sortedKeys() {
		if err := sw.Put([]byte(k), []byte(st[k])); err != nil {
			return err
		}
	}
	return sw.Close()
}

// writeDelta writes the changes from old to cur as a KindDelta stream of parent.
func writeDelta(w io.Writer, parent string, old, cur state) error {
	sw, err := NewStreamWriter(w, StreamHeader{Kind: KindDelta, Parent: parent})
	if err != nil {
		return err
	}
	keys := map[string]bool{}
	for k := range old {
		keys[k] = true
	}
	for k := range cur {
		keys[k] = true
	}
	all := make([]string, 0, len(keys))
	for k := range keys {
		all = append(all, k)
	}
	sort.Strings(all)
	for _, k := range all {
		ov, inOld := old[k]
		nv, inCur := cur[k]
		switch {
		case inCur && (!inOld || ov != nv):
			err = sw.Put([]byte(k), []byte(nv))
		case !inCur && inOld:
			err = sw.Delete([]byte(k))
		}
		if err != nil {
			return err
		}
	}
	return sw.Close()
}

// readState decodes a stream into a state, checking it is a KindFull stream.
func readState(r io.Reader) (state, StreamHeader, error) {
	sr, err := NewStreamReader(r)
	if err != nil {
		return nil, StreamHeader{}, err
	}
	st := state{}
	for {
		k, v, tomb, err := sr.Next()
		if errors.Is(err, io.EOF) {
			return st, sr.Header(), nil
		}
		if err != nil {
			return nil, sr.Header(), err
		}
		if tomb {
			return nil, sr.Header(), fmt.Errorf("tombstone in %v stream", sr.Header().Kind)
		}
		st[string(k)] = string(v)
	}
}

// persist creates a snapshot at index with write as its Persist, returning the sink ID.
func persist(t testing.TB, s *Store, index uint64, write func(io.Writer) error) (string, error) {
	t.Helper()
	sk, err := s.Create(raft.SnapshotVersionMax, index, 1, raft.Configuration{}, 1, nil)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := write(sk); err != nil {
		_ = sk.Cancel()
		return "", err
	}
	return sk.ID(), sk.Close()
}

// openState opens id and decodes the whole stream, checking meta.Size and the Source.
func openState(t testing.TB, s *Store, id string) (state, error) {
	t.Helper()
	meta, rc, err := s.Open(id)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != meta.Size {
		t.Fatalf("Open(%s): meta.Size %d, stream has %d bytes", id, meta.Size, len(b))
	}
	st, h, err := readState(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	if h.Kind != KindFull || h.Source != id || h.Parent != "" {
		t.Fatalf("Open(%s): header %+v", id, h)
	}
	return st, nil
}

func equalState(a, b state) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d keys vs %d keys", len(a), len(b))
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return fmt.Errorf("key %q: %q vs %q (present %v)", k, v, w, ok)
		}
	}
	return nil
}
