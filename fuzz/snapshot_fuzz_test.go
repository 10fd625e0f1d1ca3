package fuzz

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/nebulaio/nebulaio/snapshot"
)

// snapGolden is a small store (a full snapshot and a delta of it) held in memory: the file
// bytes and the state each snapshot must open to.
type snapGolden struct {
	files  map[string][]byte
	states map[string]map[string]string // snapshot ID -> key -> value
	stream []byte                       // a valid delta stream
	man    string                       // the delta snapshot's manifest file
	base   string                       // its base run file
	delta  string                       // its delta run file
}

var (
	snapGoldenOnce sync.Once
	snapGoldenVal  *snapGolden
	snapGoldenErr  error
)

func goldenSnapshots() (*snapGolden, error) {
	snapGoldenOnce.Do(func() { snapGoldenVal, snapGoldenErr = buildGolden() })
	return snapGoldenVal, snapGoldenErr
}

func buildGolden() (*snapGolden, error) {
	dir, err := os.MkdirTemp("", "fuzz-snapshot-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	s, err := snapshot.NewStore(dir, snapshot.Options{ChunkSize: 4096, DisableAutoCompaction: true})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	g := &snapGolden{files: map[string][]byte{}, states: map[string]map[string]string{}}
	full := map[string]string{}
	for i := 0; i < 400; i++ {
		full[fmt.Sprintf("bucket-%d/obj-%04d", i%3, i)] = strings.Repeat(fmt.Sprint(i%10), i%40)
	}
	persist := func(index uint64, h snapshot.StreamHeader, st map[string]string, deleted []string) (string, []byte, error) {
		var buf bytes.Buffer
		sw, err := snapshot.NewStreamWriter(&buf, h)
		if err != nil {
			return "", nil, err
		}
		keys := make([]string, 0, len(st)+len(deleted))
		for k := range st {
			keys = append(keys, k)
		}
		keys = append(keys, deleted...)
		sort.Strings(keys)
		for _, k := range keys {
			if v, ok := st[k]; ok {
				err = sw.Put([]byte(k), []byte(v))
			} else {
				err = sw.Delete([]byte(k))
			}
			if err != nil {
				return "", nil, err
			}
		}
		if err := sw.Close(); err != nil {
			return "", nil, err
		}
		sink, err := s.Create(raft.SnapshotVersionMax, index, 1, raft.Configuration{}, 1, nil)
		if err != nil {
			return "", nil, err
		}
		if _, err := sink.Write(buf.Bytes()); err != nil {
			return "", nil, err
		}
		return sink.ID(), buf.Bytes(), sink.Close()
	}
	id1, _, err := persist(10, snapshot.StreamHeader{Kind: snapshot.KindFull}, full, nil)
	if err != nil {
		return nil, err
	}
	g.states[id1] = full
	next := map[string]string{}
	changes := map[string]string{}
	var deleted []string
	for k, v := range full {
		next[k] = v
	}
	for i := 0; i < 400; i += 9 {
		k := fmt.Sprintf("bucket-%d/obj-%04d", i%3, i)
		if i%2 == 0 {
			delete(next, k)
			deleted = append(deleted, k)
		} else {
			next[k], changes[k] = "changed", "changed"
		}
	}
	id2, stream, err := persist(20, snapshot.StreamHeader{Kind: snapshot.KindDelta, Parent: id1}, changes, deleted)
	if err != nil {
		return nil, err
	}
	g.states[id2] = next
	g.stream = stream
	g.man = id2 + ".manifest"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var runs []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		g.files[e.Name()] = b
		if strings.HasPrefix(e.Name(), "run-") {
			runs = append(runs, e.Name())
		}
	}
	sort.Strings(runs) // sequence order: the base was written first
	if len(runs) != 2 {
		return nil, fmt.Errorf("golden store has runs %v", runs)
	}
	g.base, g.delta = runs[0], runs[1]
	return g, nil
}

// damage XORs patch into b at a position chosen by off (from the end when the top bit is
// set), or truncates b when patch is empty.
func damage(b []byte, off uint32, patch []byte) []byte {
	b = bytes.Clone(b)
	if len(b) == 0 {
		return b
	}
	pos := int(off & 0x7fffffff % uint32(len(b)))
	if off&0x80000000 != 0 {
		pos = len(b) - 1 - pos
	}
	if len(patch) == 0 {
		return b[:pos]
	}
	for i, p := range patch {
		b[(pos+i)%len(b)] ^= p
	}
	return b
}

// FuzzSnapshotDecode damages a manifest, a run (chunks, index, footer) or a logical stream,
// then decodes it through the public API. It must never panic, and whatever it returns
// without an error must be exactly the original data.
func FuzzSnapshotDecode(f *testing.F) {
	f.Add(byte(0), uint32(20), []byte{0x01})          // manifest JSON
	f.Add(byte(1), uint32(30), []byte{0xff})          // base run, first chunk
	f.Add(byte(1), uint32(0x80000000+10), []byte{1})  // base run footer
	f.Add(byte(2), uint32(0x80000000+40), []byte{4})  // delta run index
	f.Add(byte(3), uint32(12), []byte{0x10, 0x20})    // stream record
	f.Add(byte(2), uint32(0x80000000+3), []byte(nil)) // delta run cut short
	f.Fuzz(func(t *testing.T, target byte, off uint32, patch []byte) {
		g, err := goldenSnapshots()
		if err != nil {
			t.Fatalf("golden: %v", err)
		}
		if target%4 == 3 {
			checkStream(t, damage(g.stream, off, patch), g.stream)
			return
		}
		name := []string{g.man, g.base, g.delta}[target%4]
		dir := t.TempDir()
		for n, b := range g.files {
			if n == name {
				b = damage(b, off, patch)
			}
			if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		s, err := snapshot.NewStore(dir, snapshot.Options{DisableAutoCompaction: true, Retain: 10})
		if err != nil {
			return
		}
		defer s.Close()
		metas, err := s.List()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range metas {
			want, ok := g.states[m.ID]
			if !ok {
				t.Fatalf("listed unknown snapshot %q", m.ID)
			}
			checkOpen(t, s, m.ID, want)
			checkReader(t, s, m.ID, want)
		}
	})
}

// checkStream decodes b: an error is fine; success must reproduce the original records.
func checkStream(t *testing.T, b, orig []byte) {
	got, err := decodeAll(bytes.NewReader(b))
	if err != nil {
		return
	}
	want, err := decodeAll(bytes.NewReader(orig))
	if err != nil {
		t.Fatalf("golden stream: %v", err)
	}
	if got != want {
		t.Fatalf("damaged stream decoded to different data without an error")
	}
}

// decodeAll renders a stream as text: header, then one line per record.
func decodeAll(r io.Reader) (string, error) {
	sr, err := snapshot.NewStreamReader(r)
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%+v\n", sr.Header())
	for {
		k, v, del, err := sr.Next()
		if errors.Is(err, io.EOF) {
			return sb.String(), nil
		}
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&sb, "%q %q %v\n", k, v, del)
	}
}

func checkOpen(t *testing.T, s *snapshot.Store, id string, want map[string]string) {
	meta, rc, err := s.Open(id)
	if err != nil {
		return
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return
	}
	if int64(len(b)) != meta.Size {
		t.Fatalf("Open(%s) returned %d bytes, meta.Size %d", id, len(b), meta.Size)
	}
	sr, err := snapshot.NewStreamReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("Open(%s) returned a stream that does not decode: %v", id, err)
	}
	n := 0
	for {
		k, v, del, err := sr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Open(%s) returned a stream that does not decode: %v", id, err)
		}
		if w, ok := want[string(k)]; del || !ok || w != string(v) {
			t.Fatalf("Open(%s): wrong record %q=%q without an error", id, k, v)
		}
		n++
	}
	if n != len(want) {
		t.Fatalf("Open(%s): %d records without an error, want %d", id, n, len(want))
	}
}

func checkReader(t *testing.T, s *snapshot.Store, id string, want map[string]string) {
	r, err := s.Reader(id)
	if err != nil {
		return
	}
	defer r.Close()
	for k, w := range want {
		v, ok, err := r.Get([]byte(k))
		if err == nil && (!ok || string(v) != w) {
			t.Fatalf("Get(%s) in %s = %q, %v without an error; want %q", k, id, v, ok, w)
		}
	}
	n := 0
	err = r.Iterate(nil, nil, func(k, v []byte) bool {
		if w, ok := want[string(k)]; !ok || w != string(v) {
			t.Fatalf("Iterate in %s: wrong record %q=%q", id, k, v)
		}
		n++
		return true
	})
	if err == nil && n != len(want) {
		t.Fatalf("Iterate in %s: %d records without an error, want %d", id, n, len(want))
	}
}
