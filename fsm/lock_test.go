package fsm

import (
	"bytes"
	"errors"
	"flag"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

var updateGoldenGovernance = flag.Bool("update-governance", false, "write testdata/golden-records-governance.snap (a new file only)")

const day = int64(24 * time.Hour)

// governanceEvents is one event of every type added with object lock, lifecycle and CORS, and
// one of every older type at each body version those features added.
func governanceEvents() []Event {
	vid := NewVersionID(5, 6)
	return []Event{
		&CreateBucket{Name: "locked", Owner: "alice", Created: 1, ObjectLock: true},
		&CreateBucket{Name: "locked", Owner: "alice", Created: 1, Region: "eu-west-1", ObjectLock: true},
		&PutObject{Bucket: "locked", Key: "k", Size: 1, ETag: "e", ModTime: 2, VersionID: vid,
			Retention: Retention{Mode: LockCompliance, RetainUntil: 99}, LegalHold: LegalHoldOn},
		&PutObject{Bucket: "locked", Key: "k", LegalHold: LegalHoldOff},
		&DeleteObject{Bucket: "locked", Key: "k", VersionID: vid, ModTime: 3, BypassGovernance: true},
		&DeleteObjects{Bucket: "locked", Keys: []string{"k"}, VersionIDs: []string{vid}, ModTime: 3, BypassGovernance: true},
		&CreateMultipartUpload{Bucket: "locked", Key: "m", UploadID: "u", Initiated: 4,
			Retention: Retention{Mode: LockGovernance, RetainUntil: 9}},
		&CreateMultipartUpload{Bucket: "locked", Key: "m", UploadID: "u", ChecksumAlgorithm: "CRC32", LegalHold: LegalHoldOn},
		&PutObjectLockConfiguration{Bucket: "locked", DefaultRetention: DefaultRetention{Mode: LockGovernance, Days: 30}},
		&PutObjectLockConfiguration{Bucket: "locked"},
		&PutObjectRetention{Bucket: "locked", Key: "k", VersionID: vid, Retention: Retention{Mode: LockGovernance, RetainUntil: 7},
			BypassGovernance: true, Now: 6},
		&PutObjectLegalHold{Bucket: "locked", Key: "k", VersionID: vid, Status: LegalHoldOn},
		&PutBucketLifecycle{Bucket: "locked", Rules: []LifecycleRule{
			{ID: "logs", Enabled: true, Filter: LifecycleFilter{Form: FilterAnd, Prefix: "logs/", Tags: []Pair{{"a", "1"}, {"b", ""}},
				HasSizeGreaterThan: true, SizeGreaterThan: 0, HasSizeLessThan: true, SizeLessThan: 1 << 40},
				ExpirationDays: 30, NoncurrentDays: 7, NewerNoncurrentVersions: 3},
			{ID: "old", Filter: LifecycleFilter{Form: FilterPrefixLegacy, Prefix: "tmp/"}, ExpirationDate: 86400e9, AbortDays: 1},
			{ID: "markers", Enabled: true, Filter: LifecycleFilter{Form: FilterSingle}, ExpiredObjectDeleteMarker: true},
		}},
		&PutBucketLifecycle{Bucket: "locked"},
		&PutBucketCors{Bucket: "locked", Rules: []CORSRule{
			{ID: "web", AllowedOrigins: []string{"https://*.example.com"}, AllowedMethods: []string{"GET", "PUT"},
				AllowedHeaders: []string{"*"}, ExposeHeaders: []string{"ETag"}, MaxAgeSeconds: 3600},
			{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}, MaxAgeSeconds: -1},
		}},
		&LifecycleExpire{Bucket: "locked", Now: 10, Day: day, MarkerVersionID: vid, Targets: []ExpireTarget{
			{Action: ExpireCurrent, Key: "k", VersionID: vid, RuleID: "logs"}, {Action: ExpireUpload, Key: "m", VersionID: "u", RuleID: "old"}}},
	}
}

// TestGovernanceEventVersions: the old types that gained object lock fields are written at the
// version those need, and only then; a body at that version with them empty is refused.
func TestGovernanceEventVersions(t *testing.T) {
	for _, tc := range []struct {
		ev  Event
		ver uint8
	}{
		{&CreateBucket{Name: "b", ObjectLock: true}, 3},
		{&PutObject{Bucket: "b", LegalHold: LegalHoldOn}, 3},
		{&DeleteObject{Bucket: "b", BypassGovernance: true}, 3},
		{&DeleteObjects{Bucket: "b", BypassGovernance: true}, 3},
		{&CreateMultipartUpload{Bucket: "b", Retention: Retention{Mode: LockGovernance, RetainUntil: 1}}, 4},
		{&PutObject{Bucket: "b", Tags: []Pair{{"t", ""}}}, 2},
		{&DeleteObject{Bucket: "b", ModTime: 1}, 2},
	} {
		b, err := Encode(tc.ev)
		if err != nil || b[1] != tc.ver {
			t.Fatalf("%s: version %d (%v), want %d", tc.ev.Type(), b[1], err, tc.ver)
		}
	}
	checkNoncanonical(t, []noncanonicalEvent{
		{&CreateBucket{Name: "b", Region: "r"}, 3, []byte{0}},                   // object lock off
		{&PutObject{Bucket: "b", Tags: []Pair{{"t", ""}}}, 3, make([]byte, 10)}, // empty mode, until, hold
		{&DeleteObject{Bucket: "b", ModTime: 1}, 3, []byte{0}},                  // no bypass
		{&CreateMultipartUpload{Bucket: "b", ChecksumType: "x"}, 4, make([]byte, 10)},
	})
	bad, _ := Encode(&CreateBucket{Name: "b", ObjectLock: true})
	bad[len(bad)-1] = 2 // a boolean that is neither 0 nor 1
	if _, err := Decode(bad); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("boolean 2: %v", err)
	}
}

// lockBucket creates bucket "worm" with object lock and returns an applier; t0 is its creation.
func lockBucket(t *testing.T) *applier {
	a := newApplier(t)
	a.must(&CreateBucket{Name: "worm", Owner: "o", Created: 1, ObjectLock: true})
	return a
}

func lput(key, blob string, at int64, r Retention, hold string) *PutObject {
	return &PutObject{Bucket: "worm", Key: key, ETag: md5hex(blob), Size: 1, Blobs: blobs(blob), ModTime: at,
		VersionID: NewVersionID(at, 3), Retention: r, LegalHold: hold}
}

// TestObjectLockBucket: a bucket created with object lock is versioning-enabled for good;
// object lock can be turned on later only on a versioning-enabled bucket, and a default
// retention must be well formed.
func TestObjectLockBucket(t *testing.T) {
	a := lockBucket(t)
	b, _ := a.f.Bucket("worm")
	if !b.ObjectLock || b.Versioning != VersioningEnabled {
		t.Fatalf("bucket %+v", b)
	}
	if res := a.apply(&SetBucketVersioning{Bucket: "worm", Status: VersioningSuspended}); code(res.Err) != CodeInvalidBucketState {
		t.Fatalf("suspend a lock bucket: %+v", res.Err)
	}
	a.must(&CreateBucket{Name: "plain", Owner: "o"})
	if res := a.apply(&PutObjectLockConfiguration{Bucket: "plain"}); code(res.Err) != CodeInvalidBucketState {
		t.Fatalf("lock on an unversioned bucket: %+v", res.Err)
	}
	held := lput("k", "x", 2, Retention{}, LegalHoldOn)
	held.Bucket = "plain"
	if res := a.apply(held); code(res.Err) != CodeInvalidRequest {
		t.Fatalf("legal hold on a bucket without lock: %+v", res.Err)
	}
	a.must(&SetBucketVersioning{Bucket: "plain", Status: VersioningEnabled},
		&PutObjectLockConfiguration{Bucket: "plain", DefaultRetention: DefaultRetention{Mode: LockCompliance, Years: 1}})
	if b, _ := a.f.Bucket("plain"); !b.ObjectLock || b.DefaultRetention.Years != 1 {
		t.Fatalf("bucket %+v", b)
	}
	for _, d := range []DefaultRetention{{Mode: "WORM", Days: 1}, {Mode: LockGovernance}, {Mode: LockGovernance, Days: 1, Years: 1},
		{Mode: LockGovernance, Days: MaxRetentionDays + 1}, {Days: 1}} {
		if res := a.apply(&PutObjectLockConfiguration{Bucket: "worm", DefaultRetention: d}); code(res.Err) != CodeInvalidArgument {
			t.Fatalf("default %+v: %+v", d, res.Err)
		}
	}
	checkInvariants(t, a.f)
	restoreAndCompare(t, a.f)
}

// TestObjectLockDelete: a retained or held version survives every delete; deleting the key
// still adds a marker; GOVERNANCE yields to the bypass, COMPLIANCE and legal holds do not;
// once the retention ends, the version can go.
func TestObjectLockDelete(t *testing.T) {
	a := lockBucket(t)
	gov := a.apply(lput("g", "g1", 10, Retention{Mode: LockGovernance, RetainUntil: 100}, "")).Object.VersionID
	comp := a.apply(lput("c", "c1", 10, Retention{Mode: LockCompliance, RetainUntil: 100}, "")).Object.VersionID
	held := a.apply(lput("h", "h1", 10, Retention{}, LegalHoldOn)).Object.VersionID
	del := func(key, vid string, at int64, bypass bool) *Result {
		return a.apply(&DeleteObject{Bucket: "worm", Key: key, VersionID: vid, MarkerVersionID: NewVersionID(at, 9), ModTime: at, BypassGovernance: bypass})
	}
	for _, tc := range []struct {
		key, vid string
		bypass   bool
	}{{"g", gov, false}, {"c", comp, false}, {"c", comp, true}, {"h", held, true}} {
		if res := del(tc.key, tc.vid, 50, tc.bypass); code(res.Err) != CodeAccessDenied || len(res.FreedBlobs) != 0 {
			t.Fatalf("delete %s (bypass %v): %+v", tc.key, tc.bypass, res)
		}
	}
	res := a.apply(&DeleteObjects{Bucket: "worm", Keys: []string{"g", "c", "h"}, VersionIDs: []string{gov, comp, held}, ModTime: 50})
	for _, d := range res.Deleted {
		if code(d.Err) != CodeAccessDenied {
			t.Fatalf("DeleteObjects %s: %+v", d.Key, d.Err)
		}
	}
	// Deleting the key is allowed: a marker on top, the locked version kept.
	if res := del("c", "", 50, false); res.Err != nil || !res.Object.DeleteMarker {
		t.Fatalf("delete the key: %+v", res)
	}
	if _, err := a.f.ObjectVersion("worm", "c", comp); err != nil {
		t.Fatalf("locked version gone: %v", err)
	}
	if res := del("g", gov, 50, true); res.Err != nil || !slices1(res.FreedBlobs, "g1") {
		t.Fatalf("bypass governance: %+v", res)
	}
	if res := del("c", comp, 100, false); res.Err != nil {
		t.Fatalf("after the retention: %+v", res.Err)
	}
	a.must(&PutObjectLegalHold{Bucket: "worm", Key: "h", Status: LegalHoldOff})
	if res := del("h", held, 51, false); res.Err != nil {
		t.Fatalf("after the hold is lifted: %+v", res.Err)
	}
	checkInvariants(t, a.f)
}

func slices1(got []string, want string) bool { return len(got) == 1 && got[0] == want }

// TestObjectRetentionChanges: COMPLIANCE only extends; GOVERNANCE is shortened, removed or
// weakened only with the bypass, but may always be extended or made COMPLIANCE; an expired
// retention is anyone's; retention needs a bucket with lock and a live version.
func TestObjectRetentionChanges(t *testing.T) {
	a := lockBucket(t)
	vid := a.apply(lput("k", "b1", 10, Retention{Mode: LockGovernance, RetainUntil: 100}, "")).Object.VersionID
	set := func(r Retention, bypass bool, now int64) *Error {
		return a.apply(&PutObjectRetention{Bucket: "worm", Key: "k", VersionID: vid, Retention: r, BypassGovernance: bypass, Now: now}).Err
	}
	steps := []struct {
		r      Retention
		bypass bool
		now    int64
		want   string
	}{
		{Retention{Mode: LockGovernance, RetainUntil: 90}, false, 20, CodeAccessDenied}, // shorten
		{Retention{}, false, 20, CodeAccessDenied},                                      // remove
		{Retention{Mode: LockGovernance, RetainUntil: 200}, false, 20, ""},              // extend
		{Retention{Mode: LockGovernance, RetainUntil: 150}, true, 20, ""},               // shorten with bypass
		{Retention{Mode: LockGovernance, RetainUntil: 15}, true, 20, CodeInvalidArgument},
		{Retention{Mode: "WORM", RetainUntil: 300}, true, 20, CodeInvalidArgument},
		{Retention{Mode: LockCompliance, RetainUntil: 150}, false, 20, ""}, // to COMPLIANCE, same date
		{Retention{Mode: LockGovernance, RetainUntil: 400}, true, 20, CodeAccessDenied},
		{Retention{Mode: LockCompliance, RetainUntil: 149}, true, 20, CodeAccessDenied},
		{Retention{}, true, 20, CodeAccessDenied},
		{Retention{Mode: LockCompliance, RetainUntil: 300}, false, 20, ""}, // extend
		{Retention{}, false, 300, ""},                                      // expired: removable
	}
	for i, s := range steps {
		if got := set(s.r, s.bypass, s.now); code(got) != s.want {
			t.Fatalf("step %d %+v bypass %v: %v, want %q", i, s.r, s.bypass, got, s.want)
		}
	}
	if o, _ := a.f.ObjectVersion("worm", "k", vid); o.Retention != (Retention{}) {
		t.Fatalf("retention left %+v", o.Retention)
	}
	m := a.apply(&DeleteObject{Bucket: "worm", Key: "k", MarkerVersionID: NewVersionID(30, 1), ModTime: 30}).Object.VersionID
	if res := a.apply(&PutObjectRetention{Bucket: "worm", Key: "k", VersionID: m, Retention: Retention{Mode: LockGovernance, RetainUntil: 99}, Now: 31}); code(res.Err) != CodeMethodNotAllowed {
		t.Fatalf("retention of a marker: %+v", res.Err)
	}
	if res := a.apply(&PutObjectLegalHold{Bucket: "worm", Key: "k", VersionID: vid, Status: "on"}); code(res.Err) != CodeInvalidArgument {
		t.Fatalf("legal hold %q: %+v", "on", res.Err)
	}
	a.must(&CreateBucket{Name: "plain", Owner: "o"}, &PutObject{Bucket: "plain", Key: "k", ETag: md5hex("p"), Blobs: blobs("p")})
	if res := a.apply(&PutObjectLegalHold{Bucket: "plain", Key: "k", Status: LegalHoldOn}); code(res.Err) != CodeInvalidRequest {
		t.Fatalf("legal hold without lock: %+v", res.Err)
	}
	checkInvariants(t, a.f)
}

// TestDefaultRetention: new versions without a mode of their own get the bucket's default from
// their creation (days of 24 h, calendar years); explicit settings win; multipart completions
// get it at completion, with the upload's own settings kept.
func TestDefaultRetention(t *testing.T) {
	a := lockBucket(t)
	a.must(&PutObjectLockConfiguration{Bucket: "worm", DefaultRetention: DefaultRetention{Mode: LockCompliance, Days: 2}})
	o := a.apply(lput("d", "d1", 10*day, Retention{}, LegalHoldOn)).Object
	if o.Retention != (Retention{Mode: LockCompliance, RetainUntil: 12 * day}) || o.LegalHold != LegalHoldOn {
		t.Fatalf("default days: %+v %s", o.Retention, o.LegalHold)
	}
	o = a.apply(lput("e", "e1", 10*day, Retention{Mode: LockGovernance, RetainUntil: 10*day + 1}, "")).Object
	if o.Retention.Mode != LockGovernance || o.Retention.RetainUntil != 10*day+1 {
		t.Fatalf("explicit retention: %+v", o.Retention)
	}
	a.must(&PutObjectLockConfiguration{Bucket: "worm", DefaultRetention: DefaultRetention{Mode: LockGovernance, Years: 1}})
	at := time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC).UnixNano()
	want := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano() // Go's AddDate normalises Feb 29
	if o := a.apply(lput("y", "y1", at, Retention{}, "")).Object; o.Retention.RetainUntil != want {
		t.Fatalf("default years: %v", time.Unix(0, o.Retention.RetainUntil).UTC())
	}
	a.must(&CreateMultipartUpload{Bucket: "worm", Key: "mp", UploadID: "u1", Initiated: at, LegalHold: LegalHoldOn},
		&PutPart{Bucket: "worm", Key: "mp", UploadID: "u1", PartNumber: 1, Size: 1, ETag: md5hex("p"), Blobs: blobs("p1")})
	res := a.apply(&CompleteMultipartUpload{Bucket: "worm", Key: "mp", UploadID: "u1", Parts: []CompletedPart{{1, md5hex("p")}},
		ModTime: at + day, VersionID: NewVersionID(at+day, 1)})
	if res.Err != nil || res.Object.LegalHold != LegalHoldOn || res.Object.Retention.Mode != LockGovernance ||
		res.Object.Retention.RetainUntil != time.Unix(0, at+day).UTC().AddDate(1, 0, 0).UnixNano() {
		t.Fatalf("completion: %+v", res)
	}
	if res := a.apply(&CreateMultipartUpload{Bucket: "worm", Key: "mp", UploadID: "u2", Initiated: at,
		Retention: Retention{Mode: LockCompliance, RetainUntil: at}}); code(res.Err) != CodeInvalidArgument {
		t.Fatalf("a retain-until date not in the future: %+v", res.Err)
	}
	checkInvariants(t, a.f)
	restoreAndCompare(t, a.f)
}

// restoreAndCompare restores f's snapshot into a new FSM that reads every record back from the
// snapshot's runs, and checks it holds the same state.
func restoreAndCompare(t *testing.T, f *FSM) {
	t.Helper()
	checkInvariants(t, restoreCopy(t, f))
}

// TestGovernanceRecordVersions: the records that hold object lock settings are written at their
// new versions and only then, and refuse non-canonical or out-of-range lock fields.
func TestGovernanceRecordVersions(t *testing.T) {
	b, _ := encodeBucket(&BucketInfo{Name: "b", Owner: "o", Versioning: VersioningEnabled, ObjectLock: true})
	if b[0] != 4 {
		t.Fatalf("bucket with lock: version %d", b[0])
	}
	if got, err := decodeBucket(b); err != nil || !got.ObjectLock || got.Region != "" {
		t.Fatalf("%+v %v", got, err)
	}
	b[len(b)-4] = 0 // the lock flag
	if _, err := decodeBucket(b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("version 4 without the lock flag: %v", err)
	}
	plain := &objectRec{ObjectInfo: ObjectInfo{Bucket: "b", Key: "k", VersionID: NewVersionID(1, 1)}, order: vorder{1, 1}}
	v2, _ := encodeObjectRec(plain)
	locked := *plain
	locked.LegalHold = LegalHoldOff
	v3, _ := encodeObjectRec(&locked)
	if v2[0] != 2 || v3[0] != 3 || !bytes.Equal(v3[1:len(v2)], v2[1:]) {
		t.Fatalf("object records: versions %d, %d; the version 3 body must extend the version 2 body", v2[0], v3[0])
	}
	for _, tail := range [][]byte{{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {3, 0, 0, 0, 0, 0, 0, 0, 1, 0}, {0, 0, 0, 0, 0, 0, 0, 0, 1, 1}, {1, 0, 0, 0, 0, 0, 0, 0, 1, 3}} {
		bad := append(append([]byte{3}, v2[1:]...), tail...)
		if _, err := decodeObjectRec(bad, false); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("lock fields % x: %v", tail, err)
		}
	}
	u, _ := encodeUpload(&UploadInfo{Bucket: "b", Key: "k", UploadID: "u", Retention: Retention{Mode: LockCompliance, RetainUntil: 5}})
	if got, err := decodeUpload(u); u[0] != 4 || err != nil || got.Retention.RetainUntil != 5 || got.ChecksumType != "" {
		t.Fatalf("upload with lock: version %d, %+v %v", u[0], got, err)
	}
}

// TestResultCodecVersion4: results embedding a record of object lock travel as 0xB4; 0xB3
// refuses them.
func TestResultCodecVersion4(t *testing.T) {
	var c ResultCodec
	for _, r := range []*Result{
		{Bucket: &BucketInfo{Name: "b", Owner: "o", Versioning: VersioningEnabled, ObjectLock: true,
			DefaultRetention: DefaultRetention{Mode: LockGovernance, Days: 3}}},
		{Object: &ObjectInfo{Bucket: "b", Key: "k", VersionID: NewVersionID(3, 4), Retention: Retention{Mode: LockCompliance, RetainUntil: 9}, LegalHold: LegalHoldOn}},
		{Upload: &UploadInfo{Bucket: "b", Key: "k", UploadID: "u", LegalHold: LegalHoldOn}},
	} {
		b := checkResultLayout(t, r, resultMagicV4)
		b[0] = resultMagicV3
		if _, err := c.DecodeResult(b); err == nil {
			t.Fatalf("%+v decoded under 0xB3", r)
		}
	}
	r := &Result{Deleted: []DeleteResult{{Key: "k", VersionID: NewVersionID(1, 1), Err: &Error{Code: CodeAccessDenied, Message: "locked"}}}}
	if b := checkResultLayout(t, r, resultMagicV2); b == nil {
		t.Fatal("no encoding")
	}
}

// goldenGovernanceState applies a fixed history touching every record and encoding added with
// object lock, lifecycle and CORS.
func goldenGovernanceState(t *testing.T) *applier {
	a := newApplier(t)
	a.must(&CreateBucket{Name: "vault", Owner: "alice", Created: 1, ObjectLock: true},
		&PutObjectLockConfiguration{Bucket: "vault", DefaultRetention: DefaultRetention{Mode: LockGovernance, Days: 30}},
		&PutObject{Bucket: "vault", Key: "db/wal-1", ETag: md5hex("w1"), Size: 2, Blobs: blobs("w1"), ModTime: 2, VersionID: NewVersionID(2, 1)},
		&PutObject{Bucket: "vault", Key: "db/wal-2", ETag: md5hex("w2"), Size: 2, Blobs: blobs("w2"), ModTime: 3, VersionID: NewVersionID(3, 1),
			Retention: Retention{Mode: LockCompliance, RetainUntil: 1e18}, LegalHold: LegalHoldOn},
		&PutObjectLegalHold{Bucket: "vault", Key: "db/wal-1", Status: LegalHoldOff},
		&CreateMultipartUpload{Bucket: "vault", Key: "db/base", UploadID: "u1", Initiated: 4, LegalHold: LegalHoldOn},
		&CreateBucket{Name: "site", Owner: "bob", Created: 5, Region: "eu-west-1", ObjectLock: true},
		&PutBucketLifecycle{Bucket: "vault", Rules: governanceEvents()[12].(*PutBucketLifecycle).Rules},
		&PutBucketCors{Bucket: "site", Rules: governanceEvents()[14].(*PutBucketCors).Rules})
	return a
}

// TestGoldenSnapshotGovernance pins the record encodings of object lock, lifecycle and CORS.
func TestGoldenSnapshotGovernance(t *testing.T) {
	g := checkGolden(t, filepath.Join("testdata", "golden-records-governance.snap"), goldenGovernanceState(t), *updateGoldenGovernance, "-update-governance")
	for _, kind := range []byte{prefixLifecycle, prefixCors} {
		if countKind(t, g, kind) != 1 {
			t.Fatalf("the golden state has no record of kind %#x", kind)
		}
	}
	o, err := g.Object("vault", "db/wal-1")
	if err != nil || o.Retention != (Retention{Mode: LockGovernance, RetainUntil: 2 + 30*day}) || o.LegalHold != LegalHoldOff {
		t.Fatalf("restored %+v %v", o, err)
	}
	rules, err := g.BucketLifecycle("vault")
	if err != nil || !reflect.DeepEqual(rules, governanceEvents()[12].(*PutBucketLifecycle).Rules) {
		t.Fatalf("lifecycle %+v %v", rules, err)
	}
	if b, _ := g.Bucket("site"); b.Region != "eu-west-1" || !b.ObjectLock {
		t.Fatalf("bucket %+v", b)
	}
}
