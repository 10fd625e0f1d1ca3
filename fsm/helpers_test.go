package fsm

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"

	"github.com/hashicorp/raft"

	"github.com/nebulaio/nebulaio/snapshot"
)

// tb is the part of testing.TB that *rapid.T also has.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// applier feeds events to an FSM as consecutive raft log entries.
type applier struct {
	t     tb
	f     *FSM
	index uint64
	log   [][]byte  // log[i] is the entry at index i+1
	res   []*Result // res[i] is the result of log[i]
}

func newApplier(t tb) *applier { return &applier{t: t, f: New(Options{})} }

func (a *applier) apply(ev Event) *Result {
	a.t.Helper()
	b, err := Encode(ev)
	if err != nil {
		a.t.Fatalf("Encode %s: %v", ev.Type(), err)
	}
	a.index++
	a.log = append(a.log, b)
	res, ok := a.f.Apply(&raft.Log{Index: a.index, Term: 1, Type: raft.LogCommand, Data: b}).(*Result)
	if !ok || res == nil {
		a.t.Fatalf("Apply returned %T", res)
	}
	a.res = append(a.res, res)
	return res
}

// must applies ev and fails the test if it is rejected.
func (a *applier) must(evs ...Event) {
	a.t.Helper()
	for _, ev := range evs {
		if res := a.apply(ev); res.Err != nil {
			a.t.Fatalf("%s rejected: %v", ev.Type(), res.Err)
		}
	}
}

// rapidStore opens a snapshot store in a new directory under base for one rapid run; done
// closes it and removes the directory.
func rapidStore(t tb, base string, o snapshot.Options) (store *snapshot.Store, done func()) {
	t.Helper()
	dir, err := os.MkdirTemp(base, "store")
	if err != nil {
		t.Fatal(err)
	}
	if store, err = snapshot.NewStore(dir, o); err != nil {
		t.Fatal(err)
	}
	return store, func() { store.Close(); os.RemoveAll(dir) }
}

// stateMap is the whole state of f as snapshot key → record encoding (the meta record
// excluded), read through every tier: memory, cache and snapshot runs.
func stateMap(t tb, f *FSM) map[string]string {
	t.Helper()
	out := map[string]string{}
	if _, err := f.eachRecord(context.Background(), func(key string, value []byte) error {
		out[key] = string(value)
		return nil
	}); err != nil {
		t.Fatalf("stateMap: %v", err)
	}
	return out
}

func checkSameState(t tb, got, want *FSM) {
	t.Helper()
	gs, ws := stateMap(t, got), stateMap(t, want)
	if !maps.Equal(gs, ws) {
		t.Fatalf("state differs:\n%s", diffMaps(gs, ws))
	}
	if got.AppliedIndex() != want.AppliedIndex() {
		t.Fatalf("applied index %d, want %d", got.AppliedIndex(), want.AppliedIndex())
	}
	gb, go_, gu := got.Counts()
	wb, wo, wu := want.Counts()
	if gb != wb || go_ != wo || gu != wu {
		t.Fatalf("counts %d/%d/%d, want %d/%d/%d", gb, go_, gu, wb, wo, wu)
	}
}

func diffMaps(got, want map[string]string) string {
	s := ""
	for k, v := range want {
		if g, ok := got[k]; !ok {
			s += fmt.Sprintf("missing %q\n", k)
		} else if g != v {
			s += fmt.Sprintf("differs %q\n", k)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			s += fmt.Sprintf("extra %q\n", k)
		}
	}
	return s
}

// records decodes a stateMap.
func records(t tb, st map[string]string) []any {
	t.Helper()
	keys := slices.Sorted(maps.Keys(st))
	out := make([]any, 0, len(keys))
	for _, k := range keys {
		rec, err := decodeChecked([]byte(k), []byte(st[k]))
		if err != nil {
			t.Fatalf("record %q: %v", k, err)
		}
		out = append(out, rec)
	}
	return out
}

// blobsOf returns every store blob ID the objects and parts of a state reference (inline
// blobs are not the data plane's: FreedBlobs never lists them).
func blobsOf(t tb, st map[string]string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, rec := range records(t, st) {
		var bs []Blob
		switch r := rec.(type) {
		case *objectRec:
			bs = r.Blobs
		case *partRec:
			bs = r.Blobs
		}
		for _, b := range bs {
			if !b.Inline {
				out[b.ID] = true
			}
		}
	}
	return out
}

// checkFreed checks Result.FreedBlobs against the states before and after an event, given
// blob IDs unique per write (the data plane's contract): the freed IDs are exactly those
// referenced before and not after, each once.
func checkFreed(t tb, before, after map[string]string, res *Result) {
	t.Helper()
	b, a := blobsOf(t, before), blobsOf(t, after)
	want := map[string]bool{}
	for id := range b {
		if !a[id] {
			want[id] = true
		}
	}
	got := map[string]bool{}
	for _, id := range res.FreedBlobs {
		if got[id] {
			t.Fatalf("blob %s freed twice in %v", id, res.FreedBlobs)
		}
		got[id] = true
	}
	if !maps.Equal(got, want) {
		t.Fatalf("FreedBlobs %v, want %v", res.FreedBlobs, slices.Sorted(maps.Keys(want)))
	}
}

// checkFreedEvent is checkFreed for any outcome: a rejected PutObject or PutPart frees exactly
// its own blobs, any other rejection nothing.
func checkFreedEvent(t tb, before, after map[string]string, ev Event, res *Result) {
	t.Helper()
	if res.Err == nil {
		checkFreed(t, before, after, res)
		return
	}
	var own []string
	switch e := ev.(type) {
	case *PutObject:
		own = storeBlobIDs(e.Blobs)
	case *PutPart:
		own = storeBlobIDs(e.Blobs)
	}
	if !slices.Equal(res.FreedBlobs, own) {
		t.Fatalf("rejected %s (%v) freed %v, want %v", ev.Type(), res.Err, res.FreedBlobs, own)
	}
}

// checkInvariants verifies the cross-record invariants over every tier: every object and
// upload lives in an existing bucket, every part in an existing upload, the resident trees
// hold exactly the buckets, nodes and settings of the state, and the counts equal a recount.
func checkInvariants(t tb, f *FSM) {
	t.Helper()
	st := stateMap(t, f)
	recs := records(t, st)
	has := func(k string) bool { _, ok := st[k]; return ok }
	c := newCounts()
	var buckets, nodes, settings, members int
	// Inline bytes: a data record exists exactly while a record references its blob.
	inlineRefs, data := map[string]bool{}, map[string]bool{}
	refs := func(bs []Blob) {
		for _, b := range bs {
			if b.Inline {
				if b.Data != nil || len(b.Nodes) > 0 {
					t.Fatalf("inline blob %s with data or nodes in a record", b.ID)
				}
				inlineRefs[b.ID] = true
				if !has(blobDataKey(b.ID)) {
					t.Fatalf("inline blob %s has no data record", b.ID)
				}
			}
		}
	}
	for _, rec := range recs {
		switch r := rec.(type) {
		case *blobData:
			data[r.ID] = true
		case *BucketInfo:
			buckets++
		case *NodeInfo:
			nodes++
		case *Pair:
			settings++
		case *MemberState:
			members++
		case *objectRec:
			if !has(bucketKey(r.Bucket)) {
				t.Fatalf("object %s/%s in a missing bucket", r.Bucket, r.Key)
			}
			if !r.noncurrent {
				c.addObjects(r.Bucket, 1)
			}
			refs(r.Blobs)
			checkVersionInvariants(t, f, st, r)
		case *UploadInfo:
			if !has(bucketKey(r.Bucket)) {
				t.Fatalf("upload %s in a missing bucket %s", r.UploadID, r.Bucket)
			}
			c.addUploads(r.Bucket, 1)
		case *partRec:
			if !has(uploadKey(r.bucket, r.key, r.uploadID)) {
				t.Fatalf("part %d of a missing upload %s", r.PartNumber, r.uploadID)
			}
			refs(r.Blobs)
		}
	}
	for id := range data {
		if !inlineRefs[id] {
			t.Fatalf("data record of inline blob %s that no record references", id)
		}
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if !sameCounts(c, f.counts) {
		t.Fatalf("counts %+v, recount %+v", f.counts, c)
	}
	if f.res.buckets.Len() != buckets || f.res.nodes.Len() != nodes || f.res.settings.Len() != settings || f.res.members.Len() != members {
		t.Fatalf("resident trees hold %d buckets, %d nodes, %d settings, %d members; state %d, %d, %d, %d",
			f.res.buckets.Len(), f.res.nodes.Len(), f.res.settings.Len(), f.res.members.Len(), buckets, nodes, settings, members)
	}
	f.res.members.Ascend(func(m *MemberState) bool {
		if v, _ := encodeMemberRecord(m); st[memberKey(m.ID)] != string(v) {
			t.Fatalf("resident member %s differs from the state", m.ID)
		}
		return true
	})
	f.res.buckets.Ascend(func(b *BucketInfo) bool {
		if v, _ := encodeBucket(b); st[bucketKey(b.Name)] != string(v) {
			t.Fatalf("resident bucket %s differs from the state", b.Name)
		}
		return true
	})
	if n := int64(f.dirty.Len() + f.frozenLen); f.dirtyN.Load() != n {
		t.Fatalf("dirty count %d, trees hold %d", f.dirtyN.Load(), n)
	}
	var inlineBytes int64
	for _, tr := range append([]*tree{f.dirty}, func() (ts []*tree) {
		for _, ft := range f.frozen {
			ts = append(ts, ft.t)
		}
		return ts
	}()...) {
		tr.Ascend(func(e *entry) bool { inlineBytes += entryBytes(e.rec); return true })
	}
	if f.dirtyBytes+f.frozenBytes != inlineBytes || f.dirtyB.Load() != inlineBytes {
		t.Fatalf("dirty inline bytes %d+%d (published %d), trees hold %d", f.dirtyBytes, f.frozenBytes, f.dirtyB.Load(), inlineBytes)
	}
}

// countKind counts the records of one kind (a key prefix byte) in f's state.
func countKind(t tb, f *FSM, prefix byte) int {
	t.Helper()
	n := 0
	for k := range stateMap(t, f) {
		if k[0] == prefix {
			n++
		}
	}
	return n
}

// checkVersionInvariants checks one object record against the others: a noncurrent version
// has a head that is newer, a version ID that matches its order, and is no delete marker
// pointer holder; a head's null pointer names a stored noncurrent null version; an
// unversioned bucket holds only null versions at order zero and no noncurrent version.
func checkVersionInvariants(t tb, f *FSM, st map[string]string, r *objectRec) {
	t.Helper()
	if !r.isNull() && r.VersionID != r.order.id() {
		t.Fatalf("%s/%q: version id %s at order %v", r.Bucket, r.Key, r.VersionID, r.order)
	}
	if r.DeleteMarker && (len(r.Blobs) > 0 || r.Size != 0) {
		t.Fatalf("%s/%q: delete marker %s with data", r.Bucket, r.Key, r.VersionID)
	}
	f.mu.RLock()
	b, ok := f.res.bucket(r.Bucket)
	f.mu.RUnlock()
	if ok && b.Versioning == "" && (r.noncurrent || !r.isNull() || !r.order.isZero() || r.DeleteMarker) {
		t.Fatalf("%s/%q: version %s (noncurrent %v) in an unversioned bucket", r.Bucket, r.Key, r.VersionID, r.noncurrent)
	}
	if !r.noncurrent {
		if r.hasNull {
			v, ok := st[versionKey(r.Bucket, r.Key, r.nullAt)]
			if !ok {
				t.Fatalf("%s/%q: the head points at a null version that is not stored", r.Bucket, r.Key)
			}
			if n, err := decodeObjectRec([]byte(v), true); err != nil || !n.isNull() {
				t.Fatalf("%s/%q: the head's null pointer names %+v %v", r.Bucket, r.Key, n, err)
			}
		}
		return
	}
	if r.hasNull {
		t.Fatalf("%s/%q: noncurrent version %s holds a null pointer", r.Bucket, r.Key, r.VersionID)
	}
	hv, ok := st[objectKey(r.Bucket, r.Key)]
	if !ok {
		t.Fatalf("%s/%q: noncurrent version %s without a current one", r.Bucket, r.Key, r.VersionID)
	}
	h, err := decodeObjectRec([]byte(hv), false)
	if err != nil || !r.order.less(h.order) {
		t.Fatalf("%s/%q: noncurrent version %s not older than the current %s (%v)", r.Bucket, r.Key, r.VersionID, h.VersionID, err)
	}
	if r.isNull() && (!h.hasNull || h.nullAt != r.order) {
		t.Fatalf("%s/%q: the head does not point at the noncurrent null version", r.Bucket, r.Key)
	}
}
