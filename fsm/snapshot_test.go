package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/raft"
	"pgregory.net/rapid"

	"github.com/nebulaio/nebulaio/snapshot"
)

// memSink is a raft.SnapshotSink in memory that can fail its writes.
type memSink struct {
	bytes.Buffer
	id                string
	failWrite         bool
	closed, cancelled bool
}

func (s *memSink) ID() string { return s.id }
func (s *memSink) Write(p []byte) (int, error) {
	if s.failWrite {
		return 0, errors.New("injected write failure")
	}
	return s.Buffer.Write(p)
}
func (s *memSink) Close() error  { s.closed = true; return nil }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }

func header(t tb, b []byte) snapshot.StreamHeader {
	t.Helper()
	sr, err := snapshot.NewStreamReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("stream header: %v", err)
	}
	return sr.Header()
}

// persist takes a snapshot of f and persists it into a memSink with the given ID.
func persist(t tb, f *FSM, id string, fail bool) *memSink {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	sink := &memSink{id: id, failWrite: fail}
	err = snap.Persist(sink)
	if fail != (err != nil) {
		t.Fatalf("Persist error %v, injected failure %v", err, fail)
	}
	if fail != sink.cancelled || fail == sink.closed {
		t.Fatalf("sink closed %v cancelled %v", sink.closed, sink.cancelled)
	}
	return sink
}

func TestSnapshotChain(t *testing.T) {
	a := newApplier(t)
	a.must(bkt, putA)
	kind := func(s *memSink) string {
		h := header(t, s.Bytes())
		if h.Kind == snapshot.KindFull {
			return "full"
		}
		return "delta<" + h.Parent
	}
	steps := []struct {
		name string
		do   func() string
		want string
	}{
		{"first is full", func() string { return kind(persist(t, a.f, "s1", false)) }, "full"},
		{"then delta", func() string { return kind(persist(t, a.f, "s2", false)) }, "delta<s1"},
		{"failed persist", func() string { persist(t, a.f, "s3", true); return "" }, ""},
		{"full after failure", func() string { return kind(persist(t, a.f, "s4", false)) }, "full"},
		{"released unpersisted", func() string {
			snap, _ := a.f.Snapshot()
			snap.Release()
			return ""
		}, ""},
		{"full after unpersisted", func() string { return kind(persist(t, a.f, "s5", false)) }, "full"},
		{"overlapping snapshots", func() string {
			first, _ := a.f.Snapshot()
			s := kind(persist(t, a.f, "s6", false))
			first.Release()
			return s
		}, "full"},
		{"delta again", func() string { return kind(persist(t, a.f, "s7", false)) }, "delta<s6"},
		{"restore with source", func() string {
			var buf bytes.Buffer
			snap, _ := a.f.Snapshot()
			if err := snap.(*fsmSnapshot).writeFullWithSource(&buf, "src-9"); err != nil {
				t.Fatal(err)
			}
			snap.Release()
			if err := a.f.Restore(io.NopCloser(&buf)); err != nil {
				t.Fatal(err)
			}
			return kind(persist(t, a.f, "s8", false))
		}, "delta<src-9"},
	}
	for _, st := range steps {
		if got := st.do(); got != st.want {
			t.Fatalf("%s: got %q, want %q", st.name, got, st.want)
		}
	}
}

// writeFullWithSource writes a full stream as Store.Open would return it.
func (s *fsmSnapshot) writeFullWithSource(w io.Writer, source string) error {
	sw, err := snapshot.NewStreamWriter(w, snapshot.StreamHeader{Kind: snapshot.KindFull, Source: source})
	if err != nil {
		return err
	}
	if err := s.writeFull(func(k string, v []byte, err error) error {
		if err != nil {
			return err
		}
		return sw.Put([]byte(k), v)
	}); err != nil {
		return err
	}
	return sw.Close()
}

func TestDeltaContents(t *testing.T) {
	a := newApplier(t)
	a.must(bkt, putA, &PutObject{Bucket: "bkt", Key: "b"})
	persist(t, a.f, "s1", false)
	a.must(&DeleteObject{Bucket: "bkt", Key: "a"}, &PutObject{Bucket: "bkt", Key: "c"}, &SetSetting{Key: "x", Value: "1"})
	a.apply(&DeleteBucket{Name: "nope"}) // rejected: no key changes
	sink := persist(t, a.f, "s2", false)
	sr, err := snapshot.NewStreamReader(bytes.NewReader(sink.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		k, v, tomb, err := sr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case tomb:
			got = append(got, fmt.Sprintf("del %q", k))
		case string(k) == metaKey:
			idx, err := decodeMeta(v)
			if err != nil || idx != a.index {
				t.Fatalf("meta record: %d %v", idx, err)
			}
			got = append(got, "meta")
		default:
			got = append(got, fmt.Sprintf("put %q", k))
		}
	}
	want := []string{"meta", fmt.Sprintf("del %q", objectKey("bkt", "a")), fmt.Sprintf("put %q", objectKey("bkt", "c")), fmt.Sprintf("put %q", settingKey("x"))}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("delta records\n got %v\nwant %v", got, want)
	}
}

func TestRestoreRejects(t *testing.T) {
	a := newApplier(t)
	a.must(bkt, putA)
	full := persist(t, a.f, "s1", false).Bytes()
	a.must(&PutObject{Bucket: "bkt", Key: "z"})
	delta := persist(t, a.f, "s2", false).Bytes()

	stream := func(recs ...[2]string) []byte {
		var buf bytes.Buffer
		sw, _ := snapshot.NewStreamWriter(&buf, snapshot.StreamHeader{Kind: snapshot.KindFull})
		for _, r := range recs {
			if err := sw.Put([]byte(r[0]), []byte(r[1])); err != nil {
				t.Fatal(err)
			}
		}
		_ = sw.Close()
		return buf.Bytes()
	}
	bv, _ := encodeBucket(&BucketInfo{Name: "other"})
	noCounts := newCounts()
	meta := [2]string{metaKey, string(encodeMeta(3, &noCounts))}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"delta stream", delta, ErrSnapshotKind},
		{"truncated stream", full[:len(full)-3], snapshot.ErrTruncated},
		{"not a stream", []byte("hello world, not a snapshot"), snapshot.ErrBadHeader},
		{"no meta", stream([2]string{bucketKey("bkt"), string(bv)}), ErrCorrupt},
		{"record under the wrong key", stream(meta, [2]string{bucketKey("bkt"), string(bv)}), ErrCorrupt},
		{"unknown record version", stream(meta, [2]string{bucketKey("other"), "\x07" + string(bv[1:])}), ErrUnknownVersion},
		{"unknown key prefix", stream(meta, [2]string{"\x09x", "v"}), ErrCorrupt},
		{"trailing bytes in record", stream(meta, [2]string{bucketKey("other"), string(bv) + "x"}), ErrCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newApplier(t)
			g.must(&CreateBucket{Name: "keep"})
			before := stateMap(t, g.f)
			err := g.f.Restore(io.NopCloser(bytes.NewReader(tc.in)))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Restore: %v, want %v", err, tc.want)
			}
			if after := stateMap(t, g.f); !maps.Equal(before, after) || g.f.AppliedIndex() != g.index {
				t.Fatal("a failed restore changed the state")
			}
		})
	}
}

var blobSeq atomic.Int64

// eventGen draws events over a small universe so that preconditions both hold and fail.
func eventGen(t *rapid.T, label string) Event {
	bucket := rapid.SampledFrom([]string{"b-1", "b-2"}).Draw(t, label+"bucket")
	key := rapid.SampledFrom([]string{"a", "a/b", "a/c", "b", "c/d/e", "\x00", "z"}).Draw(t, label+"key")
	uid := rapid.SampledFrom([]string{"u1", "u2"}).Draw(t, label+"upload")
	blob := func() []Blob {
		// Blob IDs are unique per write, as the data plane makes them (doc.go, "Blob IDs").
		// Some are inline (their bytes in the event; doc.go, "Inline blobs").
		n := rapid.IntRange(0, 3).Draw(t, label+"blobs")
		out := make([]Blob, n)
		for i := range out {
			id := blobSeq.Add(1)
			if rapid.IntRange(0, 2).Draw(t, label+"inline") == 0 {
				out[i] = inl(fmt.Sprintf("inline-%d", id), fmt.Sprint(id))
			} else {
				out[i] = Blob{ID: fmt.Sprintf("blob-%d", id), Size: 1, Nodes: []string{"n1"}}
			}
		}
		return out
	}
	etags := []string{md5hex("1"), md5hex("2"), md5hex("3")}
	typ := rapid.IntRange(0, 24).Draw(t, label+"type")
	if typ == 24 { // cluster members: resident records, restored from the runs too
		return &MemberChange{ID: rapid.SampledFrom([]string{"n1", "n2"}).Draw(t, label+"member"),
			Op: MemberOp(rapid.IntRange(1, 7).Draw(t, label+"op")), At: rapid.Int64Range(1, 9).Draw(t, label+"at")}
	}
	if typ >= 18 {
		return versionEventGen(t, label, typ, bucket, key, blob)
	}
	if typ >= 5 && typ <= 8 || typ >= 12 {
		// Multipart events share a smaller key space, so that uploads, parts and
		// completions meet often enough to succeed.
		key = rapid.SampledFrom([]string{"m", "a/b"}).Draw(t, label+"mkey")
		if typ >= 12 {
			typ = []int{6, 6, 6, 7, 7, 5}[typ-12]
		}
	}
	switch typ {
	case 0:
		return &CreateBucket{Name: bucket, Owner: rapid.SampledFrom([]string{"o1", "o2"}).Draw(t, label+"owner"), Created: 1}
	case 1:
		return &DeleteBucket{Name: bucket}
	case 2:
		return &PutObject{Bucket: bucket, Key: key, Size: rapid.Uint64Range(0, 100).Draw(t, label+"size"),
			ETag: etags[0], Blobs: blob(), ModTime: rapid.Int64().Draw(t, label+"mtime"),
			Meta: ObjectMeta{ContentType: "x/y", UserMetadata: []Pair{{"k", key}}}}
	case 3:
		return &DeleteObject{Bucket: bucket, Key: key}
	case 4:
		return &DeleteObjects{Bucket: bucket, Keys: []string{key, "a", "zz"}}
	case 5:
		return &CreateMultipartUpload{Bucket: bucket, Key: key, UploadID: uid, Initiated: 3}
	case 6:
		n := rapid.IntRange(1, 3).Draw(t, label+"part")
		return &PutPart{Bucket: bucket, Key: key, UploadID: uid, PartNumber: uint32(n),
			Size: rapid.Uint64Range(0, 20).Draw(t, label+"psize"), ETag: etags[n-1], Blobs: blob()}
	case 7:
		var parts []CompletedPart
		for n := 1; n <= 3; n++ {
			if rapid.Bool().Draw(t, label+"use") {
				parts = append(parts, CompletedPart{uint32(n), etags[n-1]})
			}
		}
		return &CompleteMultipartUpload{Bucket: bucket, Key: key, UploadID: uid, Parts: parts, MinPartSize: 10}
	case 8:
		return &AbortMultipartUpload{Bucket: bucket, Key: key, UploadID: uid}
	case 9:
		return &RegisterNode{Node: NodeInfo{ID: rapid.SampledFrom([]string{"n1", "n2"}).Draw(t, label+"node"), Role: "hybrid"}}
	case 10:
		return &RetireNode{ID: rapid.SampledFrom([]string{"n1", "n2"}).Draw(t, label+"node")}
	case 11:
		k := rapid.SampledFrom([]string{key, SettingClusterID}).Draw(t, label+"setting")
		return &SetSetting{Key: k, Value: rapid.SampledFrom([]string{"", "v1", "v2"}).Draw(t, label+"value")}
	}
	panic("unreachable")
}

// versionEventGen draws the events of versions and tags; version IDs come from a small set so
// that deletes and tagging by version ID find their versions often.
func versionEventGen(t *rapid.T, label string, typ int, bucket, key string, blob func() []Blob) Event {
	vid := func(what string) string {
		return NewVersionID(int64(rapid.IntRange(0, 12).Draw(t, label+what)), 0)
	}
	some := func(what string) string {
		return rapid.SampledFrom([]string{"", NullVersionID, vid(what)}).Draw(t, label+what+"?")
	}
	tags := func() []Pair {
		return [][]Pair{nil, {{"a", "1"}}, {{"b", ""}, {"c", "3"}}}[rapid.IntRange(0, 2).Draw(t, label+"tags")]
	}
	switch typ {
	case 18:
		return &SetBucketVersioning{Bucket: bucket, Status: rapid.SampledFrom([]string{VersioningEnabled, VersioningSuspended, "Off"}).Draw(t, label+"status")}
	case 19:
		return &PutObject{Bucket: bucket, Key: key, ETag: md5hex(key), Blobs: blob(), VersionID: vid("vid"), Tags: tags(),
			Meta:        ObjectMeta{ContentLanguage: rapid.SampledFrom([]string{"", "en"}).Draw(t, label+"lang")},
			IfNoneMatch: rapid.SampledFrom([]string{"", "", "*"}).Draw(t, label+"inm"),
			IfMatch:     rapid.SampledFrom([]string{"", "", md5hex(key), "*"}).Draw(t, label+"im")}
	case 20:
		return &DeleteObject{Bucket: bucket, Key: key, VersionID: some("dvid"), MarkerVersionID: vid("mvid"), ModTime: 5}
	case 21:
		return &DeleteObjects{Bucket: bucket, Keys: []string{key, "a", key}, VersionIDs: []string{some("v1"), some("v2"), some("v3")},
			MarkerVersionID: vid("mvid"), ModTime: 6}
	case 22:
		return &PutObjectTagging{Bucket: bucket, Key: key, VersionID: some("tvid"), Tags: tags()}
	default:
		return &PutBucketTagging{Bucket: bucket, Tags: tags()}
	}
}

// TestSnapshotRestoreProperty applies random events, takes snapshots into a real
// snapshot.Store (full, then deltas; some persists fail), restores the newest on a fresh FSM
// and compares every index with the state at the time of that snapshot. The restored FSM
// then follows the same events and its next snapshot is a delta of the restored one.
func TestSnapshotRestoreProperty(t *testing.T) {
	base := t.TempDir()
	rapid.Check(t, func(rt *rapid.T) {
		store, done := rapidStore(rt, base, snapshot.Options{DisableAutoCompaction: rapid.Bool().Draw(rt, "nocompact")})
		defer done()
		a := newApplier(rt)
		// The FSM reads its clean records back from the store's runs with a tiny cache (-1:
		// every record read stays), or keeps everything in memory (-2).
		if cache := rapid.IntRange(-2, 3).Draw(rt, "cache"); cache > -2 {
			a.f = New(Options{Snapshots: store, CacheSize: cache})
		}
		expect := map[string]map[string]string{} // snapshot ID → state when taken
		expectIndex := map[string]uint64{}
		var newest string
		steps := rapid.IntRange(1, 120).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			if rapid.IntRange(0, 9).Draw(rt, "snap?") > 0 {
				before := stateMap(rt, a.f)
				ev := eventGen(rt, "")
				res := a.apply(ev)
				checkFreedEvent(rt, before, stateMap(rt, a.f), ev, res)
				checkInvariants(rt, a.f)
				continue
			}
			want := stateMap(rt, a.f)
			snap, err := a.f.Snapshot()
			if err != nil {
				rt.Fatal(err)
			}
			sink, err := store.Create(1, a.index, 1, raft.Configuration{}, 0, nil)
			if err != nil {
				rt.Fatal(err)
			}
			var s raft.SnapshotSink = sink
			fail := rapid.IntRange(0, 5).Draw(rt, "fail?") == 0
			if fail {
				s = &failingSink{SnapshotSink: sink}
			}
			err = snap.Persist(s)
			snap.Release()
			if fail != (err != nil) {
				rt.Fatalf("Persist: %v (injected failure %v)", err, fail)
			}
			if !fail {
				expect[sink.ID()] = want
				expectIndex[sink.ID()] = a.index
				newest = sink.ID()
			}
			// Events applied while a snapshot is outstanding must not leak into it.
		}
		// Determinism: the same log through ApplyBatch in random chunks gives the same
		// results and the same state.
		h := New(Options{})
		for i := 0; i < len(a.log); {
			n := rapid.IntRange(1, 16).Draw(rt, "batch")
			if i+n > len(a.log) {
				n = len(a.log) - i
			}
			logs := make([]*raft.Log, n)
			for j := range logs {
				logs[j] = &raft.Log{Index: uint64(i + j + 1), Type: raft.LogCommand, Data: a.log[i+j]}
			}
			for j, r := range h.ApplyBatch(logs) {
				if !reflect.DeepEqual(r, a.res[i+j]) {
					rt.Fatalf("entry %d: batch result %+v, single %+v", i+j+1, r, a.res[i+j])
				}
			}
			i += n
		}
		checkSameState(rt, h, a.f)
		if newest == "" {
			return
		}
		list, err := store.List()
		if err != nil || len(list) == 0 || list[0].ID != newest {
			rt.Fatalf("List: %v %v, newest persisted %s", list, err, newest)
		}
		_, rc, err := store.Open(newest)
		if err != nil {
			rt.Fatal(err)
		}
		g := New(Options{})
		if rapid.Bool().Draw(rt, "restore runs") {
			g = New(Options{Snapshots: store, CacheSize: 1}) // points at the runs, reads nothing
		}
		if err := g.Restore(rc); err != nil {
			rt.Fatalf("Restore %s: %v", newest, err)
		}
		got := stateMap(rt, g)
		if !maps.Equal(got, expect[newest]) {
			rt.Fatalf("restored state differs from the state at snapshot %s:\n%s", newest, diffMaps(got, expect[newest]))
		}
		// The restored FSM replays the rest of the log and must end identical to the
		// original, counts included (read from the meta record, kept by the replay).
		for i := expectIndex[newest]; i < a.index; i++ {
			g.Apply(&raft.Log{Index: i + 1, Type: raft.LogCommand, Data: a.log[i]})
		}
		checkSameState(rt, g, a.f)
		checkInvariants(rt, g)
		// Its first snapshot is a delta whose parent is the restored snapshot.
		var buf memSink
		buf.id = "next"
		snap, _ := g.Snapshot()
		if err := snap.Persist(&buf); err != nil {
			rt.Fatal(err)
		}
		snap.Release()
		if h := header(rt, buf.Bytes()); h.Kind != snapshot.KindDelta || h.Parent != newest {
			rt.Fatalf("snapshot after restore: %+v, want delta of %s", h, newest)
		}
	})
}

// failingSink fails every write; Persist must cancel the store's sink.
type failingSink struct {
	raft.SnapshotSink
}

func (s *failingSink) Write([]byte) (int, error) {
	return 0, errors.New("injected write failure")
}
