package fsm

import (
	"fmt"
	"testing"

	"github.com/hashicorp/raft"
	"pgregory.net/rapid"

	"github.com/nebulaio/nebulaio/snapshot"
)

// lockRun drives an FSM with random object lock, delete, retention, lifecycle and leader
// change events and checks, around every event, that no protected version went missing and no
// active retention was weakened without the right to.
type lockRun struct {
	t     *rapid.T
	a     *applier
	store *snapshot.Store
	clock int64
	blobs int
}

const (
	lockBkt = "vault"
	lockDay = int64(10) // lifecycle days of 10 ns: rules fall due within a run
)

var lockKeys = []string{"a", "b", "c/d"}

// version is one version as the invariants see it.
type lockVersion struct {
	key string
	ObjectInfo
}

// versionsNow lists every version of the bucket with its lock settings.
func (r *lockRun) versionsNow() map[string]lockVersion {
	res, err := r.a.f.ListObjectVersions(lockBkt, VersionListParams{MaxKeys: 1000})
	if err != nil || res.IsTruncated {
		r.t.Fatalf("ListObjectVersions: %v (truncated %v)", err, res.IsTruncated)
	}
	out := map[string]lockVersion{}
	for _, v := range res.Versions {
		out[v.Key+"@"+v.VersionID] = lockVersion{key: v.Key, ObjectInfo: v.ObjectInfo}
	}
	return out
}

// tick advances the proposer clock, sometimes from a node whose clock is behind.
func (r *lockRun) tick() int64 {
	r.clock += int64(rapid.IntRange(0, 12).Draw(r.t, "elapsed"))
	if rapid.IntRange(0, 5).Draw(r.t, "behind") == 0 {
		return max(r.clock-int64(rapid.IntRange(1, 8).Draw(r.t, "skew")), 0)
	}
	return r.clock
}

// apply applies ev, proposed at now with bypass, and checks the lock invariants against the
// versions before and after it.
func (r *lockRun) apply(ev Event, now int64, bypass bool) *Result {
	before := r.versionsNow()
	res := r.a.apply(ev)
	after := r.versionsNow()
	for id, v := range before {
		w, kept := after[id]
		if !kept {
			if err := protection(&v.ObjectInfo, now, bypass); err != nil {
				r.t.Fatalf("%s at %d (bypass %v) removed protected version %s: %v", ev.Type(), now, bypass, id, err)
			}
			continue
		}
		if v.LegalHold != w.LegalHold {
			if _, ok := ev.(*PutObjectLegalHold); !ok {
				r.t.Fatalf("%s changed the legal hold of %s", ev.Type(), id)
			}
		}
		cur, next := v.Retention, w.Retention
		if cur == next || cur.Mode == "" || cur.RetainUntil <= now {
			continue
		}
		weaker := next.Mode == "" || next.RetainUntil < cur.RetainUntil || cur.Mode == LockCompliance && next.Mode != LockCompliance
		if weaker && (cur.Mode == LockCompliance || !bypass) {
			r.t.Fatalf("%s at %d (bypass %v) weakened the retention of %s: %+v -> %+v", ev.Type(), now, bypass, id, cur, next)
		}
	}
	checkInvariants(r.t, r.a.f)
	return res
}

// pick returns a version ID of key to aim at: an existing one mostly, else "null" or junk.
func (r *lockRun) pick(key string) string {
	var ids []string
	for _, v := range r.versionsNow() {
		if v.key == key {
			ids = append(ids, v.VersionID)
		}
	}
	ids = append(ids, NullVersionID, NewVersionID(1, 1))
	return rapid.SampledFrom(ids).Draw(r.t, "version")
}

func (r *lockRun) retention(now int64) Retention {
	switch rapid.IntRange(0, 3).Draw(r.t, "mode") {
	case 1:
		return Retention{Mode: LockGovernance, RetainUntil: now + int64(rapid.IntRange(-3, 60).Draw(r.t, "until"))}
	case 2:
		return Retention{Mode: LockCompliance, RetainUntil: now + int64(rapid.IntRange(-3, 60).Draw(r.t, "until"))}
	}
	return Retention{}
}

// lifecycleRun proposes what a runner could: random targets of every action and rule.
func (r *lockRun) lifecycleRun(now int64) {
	var targets []ExpireTarget
	for i := rapid.IntRange(1, 6).Draw(r.t, "targets"); i > 0; i-- {
		key := rapid.SampledFrom(lockKeys).Draw(r.t, "key")
		targets = append(targets, ExpireTarget{
			Action: uint8(rapid.IntRange(1, 4).Draw(r.t, "action")), Key: key, VersionID: r.pick(key),
			RuleID: rapid.SampledFrom([]string{"expire", "markers", "none"}).Draw(r.t, "rule"),
		})
	}
	r.apply(&LifecycleExpire{Bucket: lockBkt, Now: now, Day: lockDay, MarkerVersionID: NewVersionID(now, 4), Targets: targets}, now, false)
}

// leaderChange hands the state to a new FSM as a new leader gets it: from a snapshot (stored
// and read back from its runs), or by replaying the whole log; either must equal the old one.
func (r *lockRun) leaderChange() {
	g := New(Options{Snapshots: r.store, CacheSize: 1})
	if rapid.Bool().Draw(r.t, "replay") {
		for i, b := range r.a.log {
			res, _ := g.Apply(&raft.Log{Index: uint64(i + 1), Term: 1, Type: raft.LogCommand, Data: b}).(*Result)
			if fmt.Sprint(res.Err) != fmt.Sprint(r.a.res[i].Err) {
				r.t.Fatalf("replay of entry %d: %v, first applied as %v", i+1, res.Err, r.a.res[i].Err)
			}
		}
	} else {
		id := storeSnapshot(r.t, r.store, r.a.f, r.a.index)
		_, rc, err := r.store.Open(id)
		if err != nil {
			r.t.Fatal(err)
		}
		if err := g.Restore(wrapped{rc}); err != nil {
			r.t.Fatal(err)
		}
	}
	checkSameState(r.t, g, r.a.f)
	r.a.f = g
}

// TestObjectLockNeverLost: no sequence of puts (with retention, legal hold and default
// retention), deletes of keys and versions (DeleteObject, DeleteObjects, with and without the
// governance bypass), retention and legal hold changes, lifecycle runs and leader changes
// removes a version while it is protected, or weakens a retention it may not: the check is made
// around every event against the event's own time.
func TestObjectLockNeverLost(t *testing.T) {
	base := t.TempDir()
	rapid.Check(t, func(rt *rapid.T) {
		store, done := rapidStore(rt, base, snapshot.Options{ChunkSize: 4096})
		defer done()
		r := &lockRun{t: rt, a: newApplier(rt), store: store}
		r.a.f = New(Options{Snapshots: store, CacheSize: 2})
		r.a.must(&CreateBucket{Name: lockBkt, Owner: "o", ObjectLock: true},
			&PutBucketLifecycle{Bucket: lockBkt, Rules: []LifecycleRule{
				{ID: "expire", Enabled: true, Filter: LifecycleFilter{Form: FilterSingle}, ExpirationDays: 1, NoncurrentDays: 1, AbortDays: 1},
				{ID: "markers", Enabled: true, Filter: LifecycleFilter{Form: FilterSingle, Prefix: "c/"}, ExpiredObjectDeleteMarker: true},
			}})
		for i := rapid.IntRange(1, 60).Draw(rt, "steps"); i > 0; i-- {
			key := rapid.SampledFrom(lockKeys).Draw(rt, "key")
			bypass := rapid.Bool().Draw(rt, "bypass")
			now := r.tick()
			switch op := rapid.IntRange(0, 11).Draw(rt, "op"); op {
			case 0, 1, 2:
				r.blobs++
				b := fmt.Sprintf("blob-%d", r.blobs)
				hold := rapid.SampledFrom([]string{"", "", LegalHoldOn, LegalHoldOff}).Draw(rt, "hold")
				r.apply(&PutObject{Bucket: lockBkt, Key: key, ETag: md5hex(b), Size: 1, Blobs: blobs(b), ModTime: now,
					VersionID: NewVersionID(now, uint64(r.blobs)), Retention: r.retention(now), LegalHold: hold}, now, false)
			case 3:
				r.apply(&DeleteObject{Bucket: lockBkt, Key: key, MarkerVersionID: NewVersionID(now, 7), ModTime: now, BypassGovernance: bypass}, now, bypass)
			case 4, 5:
				r.apply(&DeleteObject{Bucket: lockBkt, Key: key, VersionID: r.pick(key), MarkerVersionID: NewVersionID(now, 7),
					ModTime: now, BypassGovernance: bypass}, now, bypass)
			case 6:
				k2 := rapid.SampledFrom(lockKeys).Draw(rt, "key2")
				r.apply(&DeleteObjects{Bucket: lockBkt, Keys: []string{key, k2}, VersionIDs: []string{r.pick(key), r.pick(k2)},
					MarkerVersionID: NewVersionID(now, 8), ModTime: now, BypassGovernance: bypass}, now, bypass)
			case 7:
				r.apply(&PutObjectRetention{Bucket: lockBkt, Key: key, VersionID: r.pick(key), Retention: r.retention(now),
					BypassGovernance: bypass, Now: now}, now, bypass)
			case 8:
				r.apply(&PutObjectLegalHold{Bucket: lockBkt, Key: key, VersionID: r.pick(key),
					Status: rapid.SampledFrom([]string{LegalHoldOn, LegalHoldOff}).Draw(rt, "status")}, now, false)
			case 9:
				d := DefaultRetention{}
				if rapid.Bool().Draw(rt, "default") {
					d = DefaultRetention{Mode: rapid.SampledFrom([]string{LockGovernance, LockCompliance}).Draw(rt, "default mode"), Days: 1}
				}
				r.apply(&PutObjectLockConfiguration{Bucket: lockBkt, DefaultRetention: d}, now, false)
				if res := r.apply(&SetBucketVersioning{Bucket: lockBkt, Status: VersioningSuspended}, now, false); res.Err == nil {
					rt.Fatal("versioning suspended on a bucket with object lock")
				}
			case 10:
				r.lifecycleRun(now)
			case 11:
				r.leaderChange()
			}
		}
	})
}
