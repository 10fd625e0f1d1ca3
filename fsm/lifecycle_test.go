package fsm

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"
)

// TestLifecycleDue: S3 rounds "creation + days" up to the next midnight UTC; a shorter day
// rounds to its own multiples.
func TestLifecycleDue(t *testing.T) {
	at := func(s string) int64 {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm.UnixNano()
	}
	for _, tc := range []struct {
		base string
		days uint32
		day  int64
		want int64
	}{
		{"2014-01-15T10:30:00Z", 3, day, at("2014-01-19T00:00:00Z")}, // S3's own example
		{"2014-01-15T00:00:00Z", 1, day, at("2014-01-16T00:00:00Z")},
		{"1970-01-01T00:00:01Z", 1, int64(time.Second), 2e9 + 0},
		{"1970-01-01T00:00:01.5Z", 2, int64(time.Second), 4e9},
	} {
		if got := LifecycleDue(at(tc.base), tc.days, tc.day); got != tc.want {
			t.Errorf("%s + %d days of %v: %v, want %v", tc.base, tc.days, time.Duration(tc.day), time.Unix(0, got).UTC(), time.Unix(0, tc.want).UTC())
		}
	}
	if got := LifecycleDue(math.MaxInt64-5, 1, day); got != math.MaxInt64 {
		t.Errorf("overflow: %d", got)
	}
	if got := LifecycleDue(-day-1, 0, day); got != -day {
		t.Errorf("before the epoch: %d", got)
	}
}

func TestLifecycleFilterMatches(t *testing.T) {
	f := LifecycleFilter{Form: FilterAnd, Prefix: "logs/", Tags: []Pair{{"env", "dev"}},
		HasSizeGreaterThan: true, SizeGreaterThan: 10, HasSizeLessThan: true, SizeLessThan: 20}
	tags := []Pair{{"env", "dev"}, {"x", "y"}}
	for _, tc := range []struct {
		key  string
		size uint64
		tags []Pair
		want bool
	}{
		{"logs/a", 15, tags, true},
		{"log/a", 15, tags, false},
		{"logs/a", 10, tags, false}, // strictly greater
		{"logs/a", 20, tags, false}, // strictly less
		{"logs/a", 15, []Pair{{"env", "prod"}}, false},
		{"logs/a", 15, nil, false},
	} {
		if got := f.Matches(tc.key, tc.size, tc.tags); got != tc.want {
			t.Errorf("%q %d %v: %v", tc.key, tc.size, tc.tags, got)
		}
	}
	if !(&LifecycleFilter{Form: FilterSingle}).Matches("anything", 0, nil) {
		t.Error("an empty filter matches everything")
	}
}

func TestValidateLifecycle(t *testing.T) {
	ok := LifecycleRule{ID: "r", Enabled: true, ExpirationDays: 1, Filter: LifecycleFilter{Form: FilterSingle}}
	with := func(f func(r *LifecycleRule)) []LifecycleRule { r := ok; f(&r); return []LifecycleRule{r} }
	for _, tc := range []struct {
		name  string
		rules []LifecycleRule
		want  string
	}{
		{"valid", []LifecycleRule{ok}, ""},
		{"no rules", nil, CodeMalformedXML},
		{"duplicate id", []LifecycleRule{ok, ok}, CodeInvalidArgument},
		{"empty id", with(func(r *LifecycleRule) { r.ID = "" }), CodeInvalidArgument},
		{"no action", with(func(r *LifecycleRule) { r.ExpirationDays = 0 }), CodeInvalidRequest},
		{"days and date", with(func(r *LifecycleRule) { r.ExpirationDate = 86400e9 }), CodeMalformedXML},
		{"marker and days", with(func(r *LifecycleRule) { r.ExpiredObjectDeleteMarker = true }), CodeInvalidArgument},
		{"tags and marker", with(func(r *LifecycleRule) {
			r.ExpirationDays, r.ExpiredObjectDeleteMarker, r.Filter.Tags = 0, true, []Pair{{"a", "b"}}
		}), CodeInvalidRequest},
		{"size and abort", with(func(r *LifecycleRule) { r.AbortDays, r.Filter.HasSizeLessThan, r.Filter.SizeLessThan = 1, true, 5 }), CodeInvalidRequest},
		{"sizes crossed", with(func(r *LifecycleRule) {
			r.Filter = LifecycleFilter{Form: FilterAnd, HasSizeGreaterThan: true, SizeGreaterThan: 9, HasSizeLessThan: true, SizeLessThan: 9}
		}), CodeInvalidArgument},
		{"two conditions without And", with(func(r *LifecycleRule) { r.Filter.Prefix, r.Filter.Tags = "p", []Pair{{"a", "b"}} }), CodeMalformedXML},
		{"newer without days", with(func(r *LifecycleRule) { r.NewerNoncurrentVersions = 1 }), CodeInvalidArgument},
		{"too many days", with(func(r *LifecycleRule) { r.ExpirationDays = MaxLifecycleDays + 1 }), CodeInvalidArgument},
		{"bad tag", with(func(r *LifecycleRule) { r.Filter = LifecycleFilter{Form: FilterAnd, Tags: []Pair{{"aws:x", ""}}} }), CodeInvalidTag},
	} {
		if got := code(ValidateLifecycle(tc.rules)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// expire proposes one LifecycleExpire target at now (days of 24 h) and returns its outcome.
func expire(a *applier, bucket string, now int64, tg ExpireTarget) (*Result, DeleteResult) {
	res := a.apply(&LifecycleExpire{Bucket: bucket, Now: now, Day: day, MarkerVersionID: NewVersionID(now, 5), Targets: []ExpireTarget{tg}})
	if res.Err != nil || len(res.Deleted) != 1 {
		a.t.Fatalf("LifecycleExpire: %+v", res)
	}
	return res, res.Deleted[0]
}

// TestLifecycleExpireCurrent: an expired current version is deleted as DeleteObject would (a
// marker in an enabled bucket, gone in an unversioned one); a target that is not due, no longer
// current, or whose rule went is left alone.
func TestLifecycleExpireCurrent(t *testing.T) {
	a := newApplier(t)
	a.must(verBkt, enable(VersioningEnabled), &CreateBucket{Name: "flat", Owner: "o"},
		&PutBucketLifecycle{Bucket: "ver", Rules: []LifecycleRule{{ID: "tmp", Enabled: true, Filter: LifecycleFilter{Form: FilterSingle, Prefix: "tmp/"}, ExpirationDays: 1}}},
		&PutBucketLifecycle{Bucket: "flat", Rules: []LifecycleRule{{ID: "all", Enabled: true, Filter: LifecycleFilter{Form: FilterSingle}, ExpirationDate: 10 * day}}})
	v := a.apply(vput("tmp/a", "a1", day+1)).Object.VersionID
	a.must(vput("keep/b", "b1", day+1), &PutObject{Bucket: "flat", Key: "f", ETag: md5hex("f"), Blobs: blobs("f1"), ModTime: 1})
	if _, d := expire(a, "ver", 3*day-1, ExpireTarget{ExpireCurrent, "tmp/a", v, "tmp"}); code(d.Err) != CodePreconditionFailed {
		t.Fatalf("before it is due: %+v", d)
	}
	if _, d := expire(a, "ver", 3*day, ExpireTarget{ExpireCurrent, "keep/b", "x", "tmp"}); code(d.Err) != CodePreconditionFailed {
		t.Fatalf("not matched by the rule: %+v", d)
	}
	if _, d := expire(a, "ver", 3*day, ExpireTarget{ExpireCurrent, "tmp/a", v, "nope"}); code(d.Err) != CodePreconditionFailed {
		t.Fatalf("unknown rule: %+v", d)
	}
	res, d := expire(a, "ver", 3*day, ExpireTarget{ExpireCurrent, "tmp/a", v, "tmp"})
	if d.Err != nil || !d.DeleteMarker || len(res.FreedBlobs) != 0 {
		t.Fatalf("expired: %+v", res)
	}
	if _, err := a.f.ObjectVersion("ver", "tmp/a", v); err != nil {
		t.Fatalf("the expired version is kept as noncurrent: %v", err)
	}
	if _, d := expire(a, "ver", 3*day, ExpireTarget{ExpireCurrent, "tmp/a", v, "tmp"}); code(d.Err) != CodePreconditionFailed {
		t.Fatalf("twice: %+v", d)
	}
	if _, d := expire(a, "flat", 10*day-1, ExpireTarget{ExpireCurrent, "f", NullVersionID, "all"}); code(d.Err) != CodePreconditionFailed {
		t.Fatalf("before the date: %+v", d)
	}
	if res, d := expire(a, "flat", 10*day, ExpireTarget{ExpireCurrent, "f", NullVersionID, "all"}); d.Err != nil || !slices.Equal(res.FreedBlobs, []string{"f1"}) {
		t.Fatalf("unversioned expiry: %+v", res)
	}
	a.must(&PutBucketLifecycle{Bucket: "ver"})
	if _, err := a.f.BucketLifecycle("ver"); code(asErr(err)) != CodeNoSuchLifecycleConfiguration {
		t.Fatalf("deleted configuration: %v", err)
	}
	checkInvariants(t, a.f)
}

// TestLifecycleExpireNoncurrent: noncurrent versions go NoncurrentDays after their successor
// was written, the NewerNoncurrentVersions newest kept; object lock wins over the rule.
func TestLifecycleExpireNoncurrent(t *testing.T) {
	a := newApplier(t)
	a.must(&CreateBucket{Name: "ver", Owner: "o", ObjectLock: true},
		&PutBucketLifecycle{Bucket: "ver", Rules: []LifecycleRule{{ID: "nc", Enabled: true, Filter: LifecycleFilter{Form: FilterSingle},
			NoncurrentDays: 2, NewerNoncurrentVersions: 1}}})
	var ids []string
	for i := int64(1); i <= 4; i++ {
		p := vput("k", "k"+string(rune('0'+i)), i*day)
		if i == 1 {
			p.LegalHold = LegalHoldOn
		}
		ids = append(ids, a.apply(p).Object.VersionID)
	}
	// ids[3] is current; ids[2] noncurrent since day 4 and the newest noncurrent (kept);
	// ids[1] since day 3, due on day 5; ids[0] under legal hold.
	if _, d := expire(a, "ver", 10*day, ExpireTarget{ExpireNoncurrent, "k", ids[2], "nc"}); code(d.Err) != CodePreconditionFailed {
		t.Fatalf("the newest noncurrent version is kept: %+v", d)
	}
	if _, d := expire(a, "ver", 5*day-1, ExpireTarget{ExpireNoncurrent, "k", ids[1], "nc"}); code(d.Err) != CodePreconditionFailed {
		t.Fatalf("before it is due: %+v", d)
	}
	if res, d := expire(a, "ver", 5*day, ExpireTarget{ExpireNoncurrent, "k", ids[1], "nc"}); d.Err != nil || !slices.Equal(res.FreedBlobs, []string{"k2"}) {
		t.Fatalf("due: %+v", res)
	}
	if _, d := expire(a, "ver", 10*day, ExpireTarget{ExpireNoncurrent, "k", ids[0], "nc"}); code(d.Err) != CodeAccessDenied {
		t.Fatalf("legal hold: %+v", d)
	}
	if _, d := expire(a, "ver", 10*day, ExpireTarget{ExpireNoncurrent, "k", ids[3], "nc"}); code(d.Err) != CodePreconditionFailed {
		t.Fatalf("the current version: %+v", d)
	}
	checkInvariants(t, a.f)
}

// TestLifecycleExpireMarkersAndUploads: a delete marker that is its key's only version goes;
// uploads are aborted DaysAfterInitiation days after they began.
func TestLifecycleExpireMarkersAndUploads(t *testing.T) {
	a := newApplier(t)
	a.must(verBkt, enable(VersioningEnabled), &PutBucketLifecycle{Bucket: "ver", Rules: []LifecycleRule{
		{ID: "dm", Enabled: true, Filter: LifecycleFilter{Form: FilterSingle}, ExpiredObjectDeleteMarker: true, AbortDays: 1},
		{ID: "days", Enabled: true, Filter: LifecycleFilter{Form: FilterPrefixLegacy, Prefix: "d"}, ExpirationDays: 3},
	}})
	v := a.apply(vput("k", "k1", 1)).Object.VersionID
	m := a.apply(vdel("k", 2)).Object.VersionID
	if _, d := expire(a, "ver", 3, ExpireTarget{ExpireDeleteMarker, "k", m, "dm"}); code(d.Err) != CodePreconditionFailed {
		t.Fatalf("a marker with versions behind it: %+v", d)
	}
	a.must(&DeleteObject{Bucket: "ver", Key: "k", VersionID: v, ModTime: 3})
	if _, d := expire(a, "ver", 3, ExpireTarget{ExpireDeleteMarker, "k", m, "dm"}); d.Err != nil {
		t.Fatalf("a lone marker: %+v", d)
	}
	if _, err := a.f.ObjectVersion("ver", "k", m); code(asErr(err)) != CodeNoSuchVersion {
		t.Fatalf("marker still there: %v", err)
	}
	dm := a.apply(vdel("d/x", 4)).Object.VersionID
	if _, d := expire(a, "ver", 3*day, ExpireTarget{ExpireDeleteMarker, "d/x", dm, "days"}); code(d.Err) != CodePreconditionFailed {
		t.Fatalf("a marker younger than Days: %+v", d)
	}
	if _, d := expire(a, "ver", 4*day, ExpireTarget{ExpireDeleteMarker, "d/x", dm, "days"}); d.Err != nil {
		t.Fatalf("a marker as old as Days: %+v", d)
	}
	a.must(&CreateMultipartUpload{Bucket: "ver", Key: "big", UploadID: "u1", Initiated: day / 2},
		&PutPart{Bucket: "ver", Key: "big", UploadID: "u1", PartNumber: 1, ETag: md5hex("p"), Blobs: blobs("p1")})
	if _, d := expire(a, "ver", 2*day-1, ExpireTarget{ExpireUpload, "big", "u1", "dm"}); code(d.Err) != CodePreconditionFailed {
		t.Fatalf("a young upload: %+v", d)
	}
	if res, d := expire(a, "ver", 2*day, ExpireTarget{ExpireUpload, "big", "u1", "dm"}); d.Err != nil || !slices.Equal(res.FreedBlobs, []string{"p1"}) {
		t.Fatalf("abort: %+v", res)
	}
	if res := a.apply(&LifecycleExpire{Bucket: "ver", Day: 0}); code(res.Err) != CodeInvalidArgument {
		t.Fatalf("a zero day: %+v", res.Err)
	}
	checkInvariants(t, a.f)
}

// TestCorsConfiguration: CORS rules are stored as given, read back, removed with the bucket or
// by an empty configuration.
func TestCorsConfiguration(t *testing.T) {
	a := newApplier(t)
	rules := governanceEvents()[14].(*PutBucketCors).Rules
	a.must(verBkt, &PutBucketCors{Bucket: "ver", Rules: rules})
	got, err := a.f.BucketCors("ver")
	if err != nil || len(got) != 2 || got[0].MaxAgeSeconds != 3600 || got[1].AllowedOrigins[0] != "*" {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := Encode(&PutBucketCors{Bucket: "ver", Rules: make([]CORSRule, MaxCORSRules+1)}); !errors.Is(err, ErrInvalidEvent) {
		t.Fatalf("too many rules: %v", err)
	}
	a.must(&PutBucketLifecycle{Bucket: "ver", Rules: governanceEvents()[12].(*PutBucketLifecycle).Rules}, &DeleteBucket{Name: "ver"})
	if countKind(t, a.f, prefixCors)+countKind(t, a.f, prefixLifecycle) != 0 {
		t.Fatal("configurations outlive their bucket")
	}
	a.must(verBkt)
	if _, err := a.f.BucketCors("ver"); code(asErr(err)) != CodeNoSuchCORSConfiguration {
		t.Fatalf("a new bucket of the same name: %v", err)
	}
}
