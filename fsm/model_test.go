package fsm

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/nebulaio/nebulaio/snapshot"
)

// TestModelTieredFSM drives an FSM that keeps only its changed records and a 100-record
// cache in memory against vmodel: random puts, deletes, gets and listings over 2,000 keys in
// two buckets — b-1 unversioned, b-2 switched between versioning enabled and suspended, with
// deletes and reads by version ID and version listings — with snapshots persisted in the background (some failing) whenever the FSM
// asks or at random, compactions, restarts (a new FSM on the reopened store, restored from
// the newest snapshot's runs and replaying the log after it) and snapshot installs on a
// follower (the newest snapshot streamed into a second store; the follower restores it,
// replays, and carries on as the FSM under test). Every operation's result is compared
// with the map as it happens; the whole state is compared regularly and after every restart
// and install.
func TestModelTieredFSM(t *testing.T) {
	for seed := uint64(1); seed <= 2; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			m := newModelRun(t, seed)
			defer m.close()
			m.run(2500)
		})
	}
}

const (
	modelCache    = 100
	modelMaxDirty = 64
)

var modelBuckets = []string{"b-1", "b-2"}

type modelRun struct {
	t     *testing.T
	rng   *rand.Rand
	dir   string
	store *snapshot.Store
	f     *FSM
	log   [][]byte
	keys  []string
	model *vmodel
	// clock is the time of the candidate version IDs (the proposer's clock).
	clock   int64
	pending chan error // a background persist, nil when none
	fails   bool       // the pending persist was made to fail
	stats   map[string]int
}

func modelStoreOptions() snapshot.Options {
	return snapshot.Options{ChunkSize: 4096, CompactMaxDeltas: 2, Retain: 2, CacheBytes: 64 << 10}
}

func newModelRun(t *testing.T, seed uint64) *modelRun {
	m := &modelRun{t: t, rng: rand.New(rand.NewPCG(seed, 99)), model: newVModel(modelBuckets...), stats: map[string]int{}}
	for i := 0; i < 2000; i++ {
		k := fmt.Sprintf("d%d/s%d/k%04d", i%4, i%7, i)
		switch i % 97 {
		case 0:
			k += "\x00nul"
		case 1:
			k += "\xff"
		}
		m.keys = append(m.keys, k)
	}
	m.openStore(filepath.Join(t.TempDir(), "leader"))
	m.f = m.newFSM(m.store)
	for _, b := range modelBuckets {
		m.apply(&CreateBucket{Name: b, Owner: "o"})
	}
	return m
}

func (m *modelRun) openStore(dir string) {
	s, err := snapshot.NewStore(dir, modelStoreOptions())
	if err != nil {
		m.t.Fatal(err)
	}
	m.dir, m.store = dir, s
}

func (m *modelRun) newFSM(s *snapshot.Store) *FSM {
	return New(Options{Snapshots: s, CacheSize: modelCache, MaxDirty: modelMaxDirty})
}

func (m *modelRun) close() {
	m.wait()
	_ = m.store.Close()
}

func (m *modelRun) apply(ev Event) *Result {
	m.t.Helper()
	b, err := Encode(ev)
	if err != nil {
		m.t.Fatal(err)
	}
	m.log = append(m.log, b)
	res := m.f.Apply(&raft.Log{Index: uint64(len(m.log)), Term: 1, Type: raft.LogCommand, Data: b}).(*Result)
	return res
}

func (m *modelRun) run(steps int) {
	for step := 0; step < steps; step++ {
		select {
		case <-m.f.SnapshotWanted():
			m.stats["wanted"]++
			m.snapshot()
		default:
		}
		switch r := m.rng.IntN(112); {
		case r >= 100:
			m.versionOp(r - 100)
		case r < 38:
			m.put()
		case r < 52:
			m.del()
		case r < 56:
			m.delMany()
		case r < 76:
			m.get()
		case r < 91:
			m.list()
		case r < 94:
			m.snapshot()
		case r < 97:
			if err := m.store.Compact(); err != nil {
				m.t.Fatalf("Compact: %v", err)
			}
		case r < 99:
			m.restart()
		default:
			m.install()
		}
		if _, objects, _ := m.f.Counts(); objects != m.objects() {
			m.t.Fatalf("step %d: Counts says %d objects, model %d", step, objects, m.objects())
		}
		if step%250 == 249 {
			m.compareAll(fmt.Sprintf("step %d", step))
		}
	}
	m.compareAll("end")
	m.t.Logf("ops: %v", m.stats)
	for _, op := range []string{"wanted", "persisted", "persist-failed", "restart", "install", "versioning",
		"delete-version", "get-version", "list-versions", "noncurrent", "get-inline"} {
		if m.stats[op] == 0 {
			m.t.Errorf("the run never did %s", op)
		}
	}
}

// objects is what Counts reports: keys with any version.
func (m *modelRun) objects() int { return m.model.heads() }

// pick draws a key: half the time from a hot set of 40 keys, so that cached records are
// overwritten, deleted and read again across snapshots.
func (m *modelRun) pick() (bucket, key string) {
	bucket = modelBuckets[m.rng.IntN(len(modelBuckets))]
	if m.rng.IntN(2) == 0 {
		return bucket, m.keys[(m.rng.IntN(40)*37)%len(m.keys)]
	}
	return bucket, m.keys[m.rng.IntN(len(m.keys))]
}

// candidate is a version ID candidate from the proposer's clock, one in eight from a clock
// behind.
func (m *modelRun) candidate() (string, vorder) {
	m.clock += 10
	o := vorder{time: uint64(m.clock), rand: m.rng.Uint64()}
	if m.rng.IntN(8) == 0 {
		o.time -= 25
	}
	return o.id(), o
}

// isInlineID reports a blob the model wrote inline: its bytes are its version's ETag.
func isInlineID(id string) bool { return strings.HasPrefix(id, "inline-") }

// storeFreed checks the blobs the model says an event freed against its result: the store
// blobs are FreedBlobs, in order; the inline ones are gone from BlobData.
func (m *modelRun) storeFreed(what string, res *Result, freed []string) {
	m.t.Helper()
	var store []string
	for _, id := range freed {
		if !isInlineID(id) {
			store = append(store, id)
		} else if _, err := m.f.BlobData(id); !errors.Is(err, ErrNoSuchBlob) {
			m.t.Fatalf("%s: freed inline blob %s still has data (%v)", what, id, err)
		}
	}
	if !slices.Equal(res.FreedBlobs, store) {
		m.t.Fatalf("%s: freed %v, want %v", what, res.FreedBlobs, store)
	}
}

// checkBlob checks an object's blob against the model's version, its bytes for an inline one.
func (m *modelRun) checkBlob(what string, o ObjectInfo, want mver) {
	m.t.Helper()
	if len(o.Blobs) != 1 || o.Blobs[0].ID != want.blob || o.Blobs[0].Inline != isInlineID(want.blob) || o.Blobs[0].Data != nil {
		m.t.Fatalf("%s: blobs %+v, want %s", what, o.Blobs, want.blob)
	}
	if isInlineID(want.blob) {
		if data, err := m.f.BlobData(want.blob); err != nil || string(data) != want.etag {
			m.t.Fatalf("%s: inline bytes %q %v, want %q", what, data, err, want.etag)
		}
		m.stats["get-inline"]++
	}
}

func (m *modelRun) put() {
	bucket, key := m.pick()
	idx := len(m.log) + 1
	etag, blob := fmt.Sprintf("e%d", idx), fmt.Sprintf("blob-%d", idx)
	bs := blobs(blob)
	if m.rng.IntN(3) == 0 { // a small object, its bytes in the event
		blob = fmt.Sprintf("inline-%d", idx)
		bs = []Blob{inl(blob, etag)}
	}
	vid, cand := m.candidate()
	res := m.apply(&PutObject{Bucket: bucket, Key: key, ETag: etag, Size: uint64(idx), Blobs: bs, VersionID: vid})
	v, want := m.model.write(bucket, key, cand, mver{etag: etag, blob: blob})
	if res.Err != nil || res.Object.VersionID != v.vid {
		m.t.Fatalf("put %s/%q: %+v %+v, want %s", bucket, key, res.Err, res.Object, v.vid)
	}
	m.storeFreed(fmt.Sprintf("put %s/%q", bucket, key), res, want)
	m.stats["put"]++
	if len(m.model.keys[bucket][key]) > 1 {
		m.stats["noncurrent"]++
	}
}

func (m *modelRun) del() {
	bucket, key := m.pick()
	vid, cand := m.candidate()
	res := m.apply(&DeleteObject{Bucket: bucket, Key: key, MarkerVersionID: vid, ModTime: m.clock})
	v, freed, ok := m.model.deleteCurrent(bucket, key, cand, mver{})
	switch {
	case !ok && (res.Err == nil || res.Err.Code != CodeNoSuchKey):
		m.t.Fatalf("delete of missing %s/%q: %+v", bucket, key, res.Err)
	case ok && (res.Err != nil || res.Object.VersionID != v.vid || res.Object.DeleteMarker != v.marker):
		m.t.Fatalf("delete %s/%q: %+v %+v, want %+v", bucket, key, res.Err, res.Object, v)
	case ok:
		m.storeFreed(fmt.Sprintf("delete %s/%q", bucket, key), res, freed)
	}
	m.stats["delete"]++
}

func (m *modelRun) delMany() {
	bucket, _ := m.pick()
	keys := []string{m.keys[m.rng.IntN(len(m.keys))], m.keys[m.rng.IntN(len(m.keys))], m.keys[m.rng.IntN(len(m.keys))]}
	vids := []string{"", "", m.pickVersion(bucket, keys[2])}
	mvid, cand := m.candidate()
	res := m.apply(&DeleteObjects{Bucket: bucket, Keys: keys, VersionIDs: vids, MarkerVersionID: mvid, ModTime: m.clock})
	var freed []string
	for i, k := range keys {
		_, fr, ok := m.model.deleteEntry(bucket, k, vids[i], cand)
		if ok != (res.Deleted[i].Err == nil) {
			m.t.Fatalf("delete objects %q version %q: %+v, model has it %v", k, vids[i], res.Deleted[i], ok)
		}
		freed = append(freed, fr...)
	}
	m.storeFreed("delete objects", res, freed)
}

func (m *modelRun) get() {
	bucket, key := m.pick()
	o, err := m.f.Object(bucket, key)
	want, ok := m.model.current(bucket, key)
	switch {
	case (!ok || want.marker) && !errors.Is(err, &Error{Code: CodeNoSuchKey}):
		m.t.Fatalf("get of missing %s/%q: %+v %v", bucket, key, o, err)
	case ok && !want.marker && (err != nil || o.ETag != want.etag):
		m.t.Fatalf("get %s/%q: %+v %v, want %v", bucket, key, o, err, want)
	case ok && !want.marker:
		m.checkBlob(fmt.Sprintf("get %s/%q", bucket, key), o, want)
	}
	m.stats["get"]++
}

// pickVersion draws a version ID of key: usually one it has, else "null" or one it has not.
func (m *modelRun) pickVersion(bucket, key string) string {
	vs := m.model.keys[bucket][key]
	switch r := m.rng.IntN(8); {
	case r < 6 && len(vs) > 0:
		return vs[m.rng.IntN(len(vs))].vid
	case r == 6:
		return NullVersionID
	}
	return vorder{time: uint64(m.rng.Int64N(m.clock + 1)), rand: 1}.id()
}

// versionOp is one of the operations of versions: switching b-2's versioning, deleting and
// reading a version by ID, a page of the version listing.
func (m *modelRun) versionOp(r int) {
	bucket, key := m.pick()
	switch {
	case r == 0:
		status := []string{VersioningEnabled, VersioningSuspended}[m.rng.IntN(2)]
		if res := m.apply(&SetBucketVersioning{Bucket: "b-2", Status: status}); res.Err != nil {
			m.t.Fatal(res.Err)
		}
		m.model.versioning["b-2"] = status
		m.stats["versioning"]++
	case r < 5:
		vid := m.pickVersion(bucket, key)
		res := m.apply(&DeleteObject{Bucket: bucket, Key: key, VersionID: vid})
		v, freed, ok := m.model.deleteVersion(bucket, key, vid)
		switch {
		case !ok && (res.Err == nil || res.Err.Code != CodeNoSuchVersion):
			m.t.Fatalf("delete of missing version %s of %s/%q: %+v", vid, bucket, key, res.Err)
		case ok && (res.Err != nil || res.Object.VersionID != vid || res.Object.DeleteMarker != v.marker):
			m.t.Fatalf("delete version %s of %s/%q: %+v %+v, want %+v", vid, bucket, key, res.Err, res.Object, v)
		case ok:
			m.storeFreed(fmt.Sprintf("delete version %s of %s/%q", vid, bucket, key), res, freed)
		}
		m.stats["delete-version"]++
	case r < 9:
		vid := m.pickVersion(bucket, key)
		o, err := m.f.ObjectVersion(bucket, key, vid)
		v, ok := m.model.version(bucket, key, vid)
		switch {
		case !ok && !errors.Is(err, &Error{Code: CodeNoSuchVersion}):
			m.t.Fatalf("get of missing version %s of %s/%q: %+v %v", vid, bucket, key, o, err)
		case ok && v.marker && !errors.Is(err, &Error{Code: CodeMethodNotAllowed}):
			m.t.Fatalf("get of marker %s of %s/%q: %+v %v", vid, bucket, key, o, err)
		case ok && !v.marker && (err != nil || o.ETag != v.etag || o.VersionID != vid):
			m.t.Fatalf("get version %s of %s/%q: %+v %v, want %+v", vid, bucket, key, o, err, v)
		case ok && !v.marker:
			m.checkBlob(fmt.Sprintf("get version %s of %s/%q", vid, bucket, key), o, v)
		}
		m.stats["get-version"]++
	default:
		prefix := []string{"", "d1/", "d2/s3/", "d0/s0/k00"}[m.rng.IntN(4)]
		delim := []string{"", "/"}[m.rng.IntN(2)]
		p := VersionListParams{Prefix: prefix, Delimiter: delim, MaxKeys: 1 + m.rng.IntN(40)}
		all := m.model.listVersions(bucket, prefix, delim)
		// Start after a random entry of the listing, as a client holding its markers would.
		from := 0
		if len(all) > 0 && m.rng.IntN(2) == 0 {
			e := all[m.rng.IntN(len(all))]
			p.KeyMarker, p.VersionIDMarker = e.key, e.vid
			if e.prefix != "" {
				p.KeyMarker, p.VersionIDMarker = e.prefix, ""
			}
			from = slices.IndexFunc(all, func(x ventry) bool { return x == e }) + 1
		}
		res, err := m.f.ListObjectVersions(bucket, p)
		if err != nil {
			m.t.Fatalf("list versions %+v: %v", p, err)
		}
		want := all[from:]
		trunc := len(want) > p.MaxKeys
		if trunc {
			want = want[:p.MaxKeys]
		}
		if got := entriesOf(res); !slices.Equal(got, want) || res.IsTruncated != trunc {
			m.t.Fatalf("list versions %s %+v:\n got %+v %v\nwant %+v %v", bucket, p, got, res.IsTruncated, want, trunc)
		}
		m.stats["list-versions"]++
	}
}

func (m *modelRun) sortedKeys(bucket string) []string { return m.model.visible(bucket) }

func (m *modelRun) list() {
	bucket, key := m.pick()
	p := ListParams{
		Prefix:    []string{"", "d1/", "d2/s3/", "d0/s0/k00", "d3/s6/k1"}[m.rng.IntN(5)],
		Delimiter: []string{"", "/", "/"}[m.rng.IntN(3)],
		MaxKeys:   1 + m.rng.IntN(60),
	}
	if m.rng.IntN(2) == 0 {
		p.Marker = key
	}
	res, err := m.f.ListObjects(bucket, p)
	if err != nil {
		m.t.Fatalf("list %+v: %v", p, err)
	}
	want, wantPrefix, trunc := listModel(m.sortedKeys(bucket), p.Prefix, p.Delimiter, p.Marker, p.MaxKeys)
	var got []string
	var gotPrefix []bool
	ci, pi := 0, 0
	for ci < len(res.Contents) || pi < len(res.CommonPrefixes) {
		if pi == len(res.CommonPrefixes) || (ci < len(res.Contents) && res.Contents[ci].Key < res.CommonPrefixes[pi]) {
			o := res.Contents[ci]
			if cur, _ := m.model.current(bucket, o.Key); o.ETag != cur.etag {
				m.t.Fatalf("list: %q has ETag %s, model %s", o.Key, o.ETag, cur.etag)
			}
			got, gotPrefix = append(got, o.Key), append(gotPrefix, false)
			ci++
		} else {
			got, gotPrefix = append(got, res.CommonPrefixes[pi]), append(gotPrefix, true)
			pi++
		}
	}
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotPrefix, wantPrefix) || res.IsTruncated != trunc {
		m.t.Fatalf("list %s %+v:\n got %q %v\nwant %q %v", bucket, p, got, res.IsTruncated, want, trunc)
	}
	m.stats["list"]++
}

// snapshot takes a snapshot on the apply goroutine (as raft does) and persists it in the
// background, one at a time; one in eight persists fails.
func (m *modelRun) snapshot() {
	m.wait()
	snap, err := m.f.Snapshot()
	if err != nil {
		m.t.Fatal(err)
	}
	sink, err := m.store.Create(1, uint64(len(m.log)), 1, raft.Configuration{}, 0, nil)
	if err != nil {
		m.t.Fatal(err)
	}
	var s raft.SnapshotSink = sink
	m.fails = m.rng.IntN(8) == 0
	if m.fails {
		s = &failingSink{SnapshotSink: sink}
	}
	done := make(chan error, 1)
	m.pending = done
	go func() {
		defer snap.Release()
		done <- snap.Persist(s)
	}()
}

// wait waits for the background persist.
func (m *modelRun) wait() {
	if m.pending == nil {
		return
	}
	err := <-m.pending
	m.pending = nil
	if m.fails != (err != nil) {
		m.t.Fatalf("persist: %v (injected failure %v)", err, m.fails)
	}
	if err != nil {
		m.stats["persist-failed"]++
	} else {
		m.stats["persisted"]++
	}
}

// wrapped is a reader wrapper like raft's counting reader.
type wrapped struct{ io.ReadCloser }

func (w wrapped) WrappedReadCloser() io.ReadCloser { return w.ReadCloser }

// restoreNewest restores a new FSM on store from its newest snapshot and replays the log
// after it; nil if the store has no snapshot yet.
func (m *modelRun) restoreNewest(store *snapshot.Store) *FSM {
	metas, err := store.List()
	if err != nil {
		m.t.Fatal(err)
	}
	if len(metas) == 0 {
		return nil
	}
	_, rc, err := store.Open(metas[0].ID)
	if err != nil {
		m.t.Fatal(err)
	}
	f := m.newFSM(store)
	if err := f.Restore(wrapped{rc}); err != nil {
		m.t.Fatalf("restore %s: %v", metas[0].ID, err)
	}
	f.mu.RLock()
	onRuns := f.base.rd != nil
	f.mu.RUnlock()
	if !onRuns || f.AppliedIndex() != metas[0].Index {
		m.t.Fatalf("restored FSM: on runs %v, applied %d, snapshot at %d", onRuns, f.AppliedIndex(), metas[0].Index)
	}
	for i := metas[0].Index; i < uint64(len(m.log)); i++ {
		f.Apply(&raft.Log{Index: i + 1, Term: 1, Type: raft.LogCommand, Data: m.log[i]})
	}
	return f
}

// restart reopens the store and restores a new FSM from it.
func (m *modelRun) restart() {
	m.wait()
	if err := m.store.Close(); err != nil {
		m.t.Fatal(err)
	}
	m.openStore(m.dir)
	if f := m.restoreNewest(m.store); f != nil {
		m.f = f
		m.compareAll("after restart")
		m.stats["restart"]++
	} else {
		// Nothing persisted yet: the old FSM goes on with the reopened store's snapshots.
		m.f.store = m.store
	}
}

// install sends the newest snapshot to a follower with its own store (as raft's
// InstallSnapshot does: the stream Open returns, written into the follower's sink), which
// restores it, replays the log and becomes the FSM under test.
func (m *modelRun) install() {
	m.wait()
	metas, err := m.store.List()
	if err != nil || len(metas) == 0 {
		return
	}
	meta, rc, err := m.store.Open(metas[0].ID)
	if err != nil {
		m.t.Fatal(err)
	}
	dir := filepath.Join(m.t.TempDir(), fmt.Sprintf("follower-%d", len(m.log)))
	fs, err := snapshot.NewStore(dir, modelStoreOptions())
	if err != nil {
		m.t.Fatal(err)
	}
	sink, err := fs.Create(1, meta.Index, meta.Term, meta.Configuration, meta.ConfigurationIndex, nil)
	if err != nil {
		m.t.Fatal(err)
	}
	n, err := io.Copy(sink, rc)
	rc.Close()
	if err != nil || n != meta.Size {
		m.t.Fatalf("install copy: %d of %d bytes, %v", n, meta.Size, err)
	}
	if err := sink.Close(); err != nil {
		m.t.Fatal(err)
	}
	f := m.restoreNewest(fs)
	_ = m.store.Close()
	m.dir, m.store, m.f = dir, fs, f
	m.compareAll("after install")
	m.stats["install"]++
}

// compareAll compares the whole state with the model: a paged listing of each bucket in
// order, a point read of every key of the universe, the invariants and the memory bounds.
func (m *modelRun) compareAll(when string) {
	m.t.Helper()
	for _, b := range modelBuckets {
		want := m.sortedKeys(b)
		var got []string
		p := ListParams{MaxKeys: 1 + m.rng.IntN(300)}
		for {
			res, err := m.f.ListObjects(b, p)
			if err != nil {
				m.t.Fatalf("%s: list %s: %v", when, b, err)
			}
			for _, o := range res.Contents {
				if cur, _ := m.model.current(b, o.Key); o.ETag != cur.etag {
					m.t.Fatalf("%s: %s/%q has ETag %s, model %s", when, b, o.Key, o.ETag, cur.etag)
				}
				got = append(got, o.Key)
			}
			if !res.IsTruncated {
				break
			}
			p.ContinuationToken = res.NextMarker
		}
		if !slices.Equal(got, want) {
			m.t.Fatalf("%s: bucket %s lists %d keys, model %d", when, b, len(got), len(want))
		}
		for i := 0; i < len(m.keys); i += 7 {
			k := m.keys[i]
			o, err := m.f.Object(b, k)
			if w, ok := m.model.current(b, k); (ok && !w.marker) != (err == nil) || err == nil && o.ETag != w.etag {
				m.t.Fatalf("%s: get %s/%q: %v %v, model %v", when, b, k, o.ETag, err, w)
			}
		}
		if got, want := walkVersions(m.t, m.f, b, "", "", 1+m.rng.IntN(300)), m.model.listVersions(b, "", ""); !slices.Equal(got, want) {
			m.t.Fatalf("%s: bucket %s lists %d versions, model %d", when, b, len(got), len(want))
		}
	}
	checkInvariants(m.t, m.f)
	if n := m.f.cache.size(); n > modelCache {
		m.t.Fatalf("%s: the cache holds %d records, bound %d", when, n, modelCache)
	}
}

// TestReadsNeverGoBack: while one goroutine applies ever newer versions of 40 keys and
// snapshots persist in the background (each switching the FSM to new runs, with frequent
// compactions and an 8-record cache), readers check that no key's version they read ever
// goes back, by point reads and by listings.
func TestReadsNeverGoBack(t *testing.T) {
	store, err := snapshot.NewStore(t.TempDir(), snapshot.Options{ChunkSize: 4096, CompactMaxDeltas: 1, CacheBytes: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	a := &applier{t: t, f: New(Options{Snapshots: store, CacheSize: 8, MaxDirty: 64})}
	a.must(bkt)
	const keys = 40
	key := func(i int) string { return fmt.Sprintf("k%02d", i) }
	version := func(etag string) int {
		var v int
		fmt.Sscanf(etag, "v%d", &v)
		return v
	}
	stop := make(chan struct{})
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			seen := make([]int, keys)
			rng := rand.New(rand.NewPCG(uint64(r), 7))
			check := func(i, v int, how string) bool {
				if v < seen[i] {
					errs <- fmt.Errorf("reader %d: %s of %s saw version %d after %d", r, how, key(i), v, seen[i])
					return false
				}
				seen[i] = v
				return true
			}
			for {
				select {
				case <-stop:
					return
				default:
				}
				if rng.IntN(4) > 0 {
					i := rng.IntN(keys)
					o, err := a.f.Object("bkt", key(i))
					if err != nil && !errors.Is(err, &Error{Code: CodeNoSuchKey}) {
						errs <- err
						return
					}
					if !check(i, version(o.ETag), "get") {
						return
					}
					continue
				}
				res, err := a.f.ListObjects("bkt", ListParams{})
				if err != nil {
					errs <- err
					return
				}
				for _, o := range res.Contents {
					var i int
					fmt.Sscanf(o.Key, "k%d", &i)
					if !check(i, version(o.ETag), "list") {
						return
					}
				}
			}
		}(r)
	}
	var pending chan error
	wait := func() {
		if pending != nil {
			if err := <-pending; err != nil {
				t.Error(err)
			}
			pending = nil
		}
	}
	for v := 1; v <= 2000; v++ {
		a.must(&PutObject{Bucket: "bkt", Key: key(v % keys), ETag: fmt.Sprintf("v%d", v), Blobs: blobs(fmt.Sprint(v))})
		select {
		case <-a.f.SnapshotWanted():
			wait()
			snap, err := a.f.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			pending = make(chan error, 1)
			go func(index uint64, done chan error) {
				sink, err := store.Create(1, index, 1, raft.Configuration{}, 0, nil)
				if err == nil {
					err = snap.Persist(sink)
				}
				snap.Release()
				done <- err
			}(a.index, pending)
		default:
		}
	}
	wait()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	a.f.mu.RLock()
	onRuns := a.f.base.rd != nil
	a.f.mu.RUnlock()
	if !onRuns {
		t.Fatal("the FSM never switched to snapshot runs")
	}
}

// TestReadAcrossSwitch: a point read that left the lock to read the runs while the FSM
// switched to newer runs answers the state it started from, and does not put that (now
// stale) value in the cache: the next read sees the newer one.
func TestReadAcrossSwitch(t *testing.T) {
	store, err := snapshot.NewStore(t.TempDir(), snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	a := &applier{t: t, f: New(Options{Snapshots: store, CacheSize: 4})}
	a.must(bkt, &PutObject{Bucket: "bkt", Key: "k", ETag: "v1"})
	storeSnapshot(t, store, a.f, a.index)
	a.f.cache.remove(objectKey("bkt", "k")) // cold: the next read goes to the runs
	a.f.readHook = func() {
		a.f.readHook = nil
		a.must(&PutObject{Bucket: "bkt", Key: "k", ETag: "v2"})
		storeSnapshot(t, store, a.f, a.index)
		a.f.cache.remove(objectKey("bkt", "k")) // as if evicted since
	}
	if o, err := a.f.Object("bkt", "k"); err != nil || o.ETag != "v1" {
		t.Fatalf("read across the switch: %+v %v, want v1 (the state when it started)", o, err)
	}
	if o, err := a.f.Object("bkt", "k"); err != nil || o.ETag != "v2" {
		t.Fatalf("read after the switch: %+v %v, want v2", o, err)
	}
}
