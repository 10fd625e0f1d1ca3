package fsm

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/nebulaio/nebulaio/snapshot"
)

var verBkt = &CreateBucket{Name: "ver", Owner: "alice", Created: 1}

func enable(status string) *SetBucketVersioning {
	return &SetBucketVersioning{Bucket: "ver", Status: status}
}

// vput is a put of key in bucket "ver" with one blob and a candidate version ID at time t.
func vput(key, blob string, t int64) *PutObject {
	return &PutObject{Bucket: "ver", Key: key, ETag: md5hex(blob), Size: 1, Blobs: blobs(blob), ModTime: t,
		VersionID: NewVersionID(t, 7)}
}

func vdel(key string, t int64) *DeleteObject {
	return &DeleteObject{Bucket: "ver", Key: key, MarkerVersionID: NewVersionID(t, 9), ModTime: t}
}

// wantErr fails unless err is an *Error with the code (and, for markers, the marker fields).
func wantErr(t *testing.T, err error, code string, marker bool, vid string) *Error {
	t.Helper()
	var fe *Error
	if !errors.As(err, &fe) || fe.Code != code || fe.DeleteMarker != marker || marker && fe.VersionID != vid {
		t.Fatalf("error %#v, want %s (marker %v %s)", err, code, marker, vid)
	}
	return fe
}

// versions lists every version of bucket "ver" as "key@vid" (markers "key@vid(dm)", the
// current ones with a "*").
func versions(t *testing.T, f *FSM) []string {
	t.Helper()
	res, err := f.ListObjectVersions("ver", VersionListParams{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, v := range res.Versions {
		s := v.Key + "@" + v.VersionID
		if v.DeleteMarker {
			s += "(dm)"
		}
		if v.IsLatest {
			s += "*"
		}
		out = append(out, s)
	}
	return out
}

func mustResult(t *testing.T, a *applier, ev Event, freed ...string) *Result {
	t.Helper()
	res := a.apply(ev)
	if res.Err != nil {
		t.Fatalf("%s rejected: %v", ev.Type(), res.Err)
	}
	if !slices.Equal(res.FreedBlobs, freed) {
		t.Fatalf("%s freed %v, want %v", ev.Type(), res.FreedBlobs, freed)
	}
	checkInvariants(t, a.f)
	return res
}

// TestVersioningLifecycle walks one key through S3's versioning states: an object written
// before versioning becomes the null version; enabled writes add versions (a candidate from a
// clock behind is raised); a delete adds a marker that hides the key; deleting the marker
// brings the object back; a suspended write replaces the null version; a suspended delete
// makes a null marker; the bucket cannot be deleted while any version remains.
func TestVersioningLifecycle(t *testing.T) {
	a := newApplier(t)
	a.must(verBkt)
	v0 := mustResult(t, a, &PutObject{Bucket: "ver", Key: "k", ETag: md5hex("b0"), Blobs: blobs("b0"), ModTime: 5}).Object
	if v0.VersionID != NullVersionID {
		t.Fatalf("unversioned write: version %q", v0.VersionID)
	}
	if res := a.apply(enable("")); code(res.Err) != CodeInvalidArgument {
		t.Fatalf("versioning back to unversioned: %v", res.Err)
	}
	mustResult(t, a, enable(VersioningEnabled))
	if b, _ := a.f.Bucket("ver"); b.Versioning != VersioningEnabled {
		t.Fatalf("bucket %+v", b)
	}
	if res := a.apply(&PutObject{Bucket: "ver", Key: "k"}); code(res.Err) != CodeInvalidArgument {
		t.Fatalf("enabled write without a version id: %v", res.Err)
	}
	if res := a.apply(&PutObject{Bucket: "ver", Key: "k", VersionID: "v1"}); code(res.Err) != CodeInvalidArgument {
		t.Fatalf("malformed version id: %v", res.Err)
	}
	id1 := mustResult(t, a, vput("k", "b1", 100)).Object.VersionID // nothing freed: b0 stays
	if id1 != NewVersionID(100, 7) {
		t.Fatalf("version %s, want the candidate %s", id1, NewVersionID(100, 7))
	}
	id2 := mustResult(t, a, vput("k", "b2", 50)).Object.VersionID
	if id2 != NewVersionID(101, 7) {
		t.Fatalf("a candidate from a clock behind got %s, want %s (raised past %s)", id2, NewVersionID(101, 7), id1)
	}
	want := []string{"k@" + id2 + "*", "k@" + id1, "k@null"}
	if got := versions(t, a.f); !slices.Equal(got, want) {
		t.Fatalf("versions %v, want %v", got, want)
	}
	for vid, blob := range map[string]string{"": "b2", id2: "b2", id1: "b1", NullVersionID: "b0"} {
		if o, err := a.f.ObjectVersion("ver", "k", vid); err != nil || o.Blobs[0].ID != blob {
			t.Fatalf("version %q: %+v %v, want blob %s", vid, o, err, blob)
		}
	}
	if _, err := a.f.ObjectVersion("ver", "k", NewVersionID(99, 7)); err == nil {
		t.Fatal("a version that was never written was found")
	} else {
		wantErr(t, err, CodeNoSuchVersion, false, "")
	}
	if _, err := a.f.ObjectVersion("ver", "k", "bogus"); err == nil {
		t.Fatal("a malformed version id was accepted")
	} else {
		wantErr(t, err, CodeInvalidArgument, false, "")
	}

	m := mustResult(t, a, vdel("k", 200)).Object
	if !m.DeleteMarker || m.VersionID != NewVersionID(200, 9) || m.ModTime != 200 {
		t.Fatalf("delete made %+v", m)
	}
	_, err := a.f.Object("ver", "k")
	wantErr(t, err, CodeNoSuchKey, true, m.VersionID)
	fe := wantErr(t, func() error { _, err := a.f.ObjectVersion("ver", "k", m.VersionID); return err }(), CodeMethodNotAllowed, true, m.VersionID)
	if fe.LastModified != 200 {
		t.Fatalf("marker error %+v: LastModified", fe)
	}
	if l, _ := a.f.ListObjects("ver", ListParams{Delimiter: "/"}); len(l.Contents)+len(l.CommonPrefixes) != 0 {
		t.Fatalf("ListObjects shows a deleted key: %+v", l)
	}
	if got := versions(t, a.f); !slices.Equal(got, append([]string{"k@" + m.VersionID + "(dm)*", "k@" + id2}, want[1:]...)) {
		t.Fatalf("versions after the delete: %v", got)
	}
	// Deleting the marker by its version ID brings the object back.
	if r := mustResult(t, a, &DeleteObject{Bucket: "ver", Key: "k", VersionID: m.VersionID}).Object; !r.DeleteMarker {
		t.Fatalf("removed %+v, want the marker", r)
	}
	if o, err := a.f.Object("ver", "k"); err != nil || o.VersionID != id2 {
		t.Fatalf("after removing the marker: %+v %v", o, err)
	}

	mustResult(t, a, enable(VersioningSuspended))
	n := mustResult(t, a, vput("k", "b3", 300), "b0").Object // the old null version goes
	if n.VersionID != NullVersionID {
		t.Fatalf("suspended write: %q", n.VersionID)
	}
	if got, want := versions(t, a.f), []string{"k@null*", "k@" + id2, "k@" + id1}; !slices.Equal(got, want) {
		t.Fatalf("versions %v, want %v", got, want)
	}
	mustResult(t, a, vput("k", "b4", 301), "b3") // the null version is the current one
	dm := mustResult(t, a, vdel("k", 400), "b4").Object
	if !dm.DeleteMarker || dm.VersionID != NullVersionID {
		t.Fatalf("suspended delete made %+v", dm)
	}
	if got, want := versions(t, a.f), []string{"k@null(dm)*", "k@" + id2, "k@" + id1}; !slices.Equal(got, want) {
		t.Fatalf("versions %v, want %v", got, want)
	}
	if res := a.apply(&DeleteBucket{Name: "ver"}); code(res.Err) != CodeBucketNotEmpty {
		t.Fatalf("delete bucket holding versions: %v", res.Err)
	}
	mustResult(t, a, &DeleteObject{Bucket: "ver", Key: "k", VersionID: NullVersionID})
	mustResult(t, a, &DeleteObject{Bucket: "ver", Key: "k", VersionID: id2}, "b2")
	if o, err := a.f.Object("ver", "k"); err != nil || o.VersionID != id1 {
		t.Fatalf("after removing the newest versions: %+v %v", o, err)
	}
	if res := a.apply(&DeleteObject{Bucket: "ver", Key: "k", VersionID: id2}); code(res.Err) != CodeNoSuchVersion {
		t.Fatalf("second delete of a version: %v", res.Err)
	}
	mustResult(t, a, &DeleteObject{Bucket: "ver", Key: "k", VersionID: id1}, "b1")
	if _, objects, _ := a.f.Counts(); objects != 0 {
		t.Fatalf("%d objects left", objects)
	}
	mustResult(t, a, &DeleteBucket{Name: "ver"})
}

// TestVersionedMultipartAndDeleteObjects: a completion in an enabled bucket makes a version
// with the upload's tags and keeps the one before; DeleteObjects reports markers made and
// versions removed as S3's DeletedObject does.
func TestVersionedMultipartAndDeleteObjects(t *testing.T) {
	a := newApplier(t)
	a.must(verBkt, enable(VersioningEnabled), vput("big", "old", 10))
	tags := []Pair{{"project", "x"}}
	a.must(&CreateMultipartUpload{Bucket: "ver", Key: "big", UploadID: "u", Initiated: 1, Tags: tags},
		&PutPart{Bucket: "ver", Key: "big", UploadID: "u", PartNumber: 1, Size: 5, ETag: e1, Blobs: blobs("p1")})
	c := mustResult(t, a, &CompleteMultipartUpload{Bucket: "ver", Key: "big", UploadID: "u",
		Parts: []CompletedPart{{1, e1}}, ModTime: 20, VersionID: NewVersionID(20, 1)}).Object
	if c.VersionID != NewVersionID(20, 1) || !reflect.DeepEqual(c.Tags, tags) || c.PartsCount != 1 {
		t.Fatalf("completed %+v", c)
	}
	if got := versions(t, a.f); len(got) != 2 {
		t.Fatalf("versions %v", got)
	}
	old := NewVersionID(10, 7)
	res := mustResult(t, a, &DeleteObjects{Bucket: "ver", Keys: []string{"big", "big", "none", "big"},
		VersionIDs: []string{"", old, "", NewVersionID(1, 1)}, MarkerVersionID: NewVersionID(30, 3), ModTime: 30}, "old")
	want := []DeleteResult{
		{Key: "big", DeleteMarker: true, DeleteMarkerVersionID: NewVersionID(30, 3)},
		{Key: "big", VersionID: old},
		{Key: "none", DeleteMarker: true, DeleteMarkerVersionID: NewVersionID(30, 3)}, // S3 makes a marker for a missing key too
		{Key: "big", VersionID: NewVersionID(1, 1), Err: &Error{Code: CodeNoSuchVersion}},
	}
	for i := range want {
		g := res.Deleted[i]
		if g.Err != nil {
			g.Err = &Error{Code: g.Err.Code}
		}
		if !reflect.DeepEqual(g, want[i]) {
			t.Fatalf("entry %d: %+v, want %+v", i, res.Deleted[i], want[i])
		}
	}
	// Removing a marker by version through DeleteObjects reports it as one.
	res = mustResult(t, a, &DeleteObjects{Bucket: "ver", Keys: []string{"none"}, VersionIDs: []string{NewVersionID(30, 3)}})
	if d := res.Deleted[0]; d.Err != nil || !d.DeleteMarker || d.DeleteMarkerVersionID != NewVersionID(30, 3) {
		t.Fatalf("marker removed: %+v", d)
	}
	if _, err := Encode(&DeleteObjects{Bucket: "ver", Keys: []string{"a", "b"}, VersionIDs: []string{""}}); !errors.Is(err, ErrInvalidEvent) {
		t.Fatalf("version ids not matching the keys: %v", err)
	}
}

func TestTagging(t *testing.T) {
	a := newApplier(t)
	a.must(verBkt, enable(VersioningEnabled))
	tags := []Pair{{"a", "1"}, {"b", strings.Repeat("é", MaxTagValueLen)}}
	v1 := mustResult(t, a, &PutObject{Bucket: "ver", Key: "k", VersionID: NewVersionID(1, 0), Tags: tags}).Object
	v2 := mustResult(t, a, vput("k", "x", 2)).Object
	if o, _ := a.f.ObjectVersion("ver", "k", v1.VersionID); !reflect.DeepEqual(o.Tags, tags) {
		t.Fatalf("tags of v1: %v", o.Tags)
	}
	if o, _ := a.f.Object("ver", "k"); len(o.Tags) != 0 {
		t.Fatalf("tags of the current version: %v", o.Tags)
	}
	// Tagging by version changes that version only.
	r := mustResult(t, a, &PutObjectTagging{Bucket: "ver", Key: "k", VersionID: v1.VersionID, Tags: []Pair{{"c", "3"}}}).Object
	if r.VersionID != v1.VersionID || r.Tags[0].Key != "c" {
		t.Fatalf("tagging result %+v", r)
	}
	mustResult(t, a, &PutObjectTagging{Bucket: "ver", Key: "k", Tags: []Pair{{"cur", ""}}})
	if o, _ := a.f.Object("ver", "k"); o.VersionID != v2.VersionID || len(o.Tags) != 1 || o.Tags[0].Key != "cur" {
		t.Fatalf("current version after tagging: %+v", o)
	}
	mustResult(t, a, &PutObjectTagging{Bucket: "ver", Key: "k", VersionID: v1.VersionID}) // DeleteObjectTagging
	if o, _ := a.f.ObjectVersion("ver", "k", v1.VersionID); len(o.Tags) != 0 {
		t.Fatalf("tags after delete: %v", o.Tags)
	}
	long := strings.Repeat("k", MaxTagKeyLen+1)
	eleven := make([]Pair, MaxObjectTags+1)
	for i := range eleven {
		eleven[i] = Pair{fmt.Sprintf("t%02d", i), ""}
	}
	for name, bad := range map[string][]Pair{
		"too many": eleven, "long key": {{long, ""}}, "long value": {{"k", strings.Repeat("v", MaxTagValueLen+1)}},
		"empty key": {{"", "v"}}, "reserved prefix": {{"aws:x", "v"}}, "not utf-8": {{"k", "\xff"}},
	} {
		for _, ev := range []Event{&PutObject{Bucket: "ver", Key: "k", VersionID: NewVersionID(3, 0), Tags: bad},
			&PutObjectTagging{Bucket: "ver", Key: "k", Tags: bad}, &CreateMultipartUpload{Bucket: "ver", Key: "k", UploadID: "u", Tags: bad}} {
			if res := a.apply(ev); code(res.Err) != CodeInvalidTag {
				t.Errorf("%s with %s tags: %v", ev.Type(), name, res.Err)
			}
		}
	}
	m := mustResult(t, a, vdel("k", 10)).Object
	if res := a.apply(&PutObjectTagging{Bucket: "ver", Key: "k", Tags: tags}); code(res.Err) != CodeNoSuchKey || !res.Err.DeleteMarker {
		t.Fatalf("tagging under a marker: %+v", res.Err)
	}
	if res := a.apply(&PutObjectTagging{Bucket: "ver", Key: "k", VersionID: m.VersionID, Tags: tags}); code(res.Err) != CodeMethodNotAllowed {
		t.Fatalf("tagging a marker: %+v", res.Err)
	}
	if res := a.apply(&PutObjectTagging{Bucket: "ver", Key: "k", VersionID: NewVersionID(99, 0)}); code(res.Err) != CodeNoSuchVersion {
		t.Fatalf("tagging a missing version: %+v", res.Err)
	}

	// Bucket tags.
	if _, err := a.f.BucketTagging("ver"); err == nil {
		t.Fatal("tags of an untagged bucket")
	} else {
		wantErr(t, err, CodeNoSuchTagSet, false, "")
	}
	btags := []Pair{{"cost-center", "42"}, {"env", "prod"}}
	mustResult(t, a, &PutBucketTagging{Bucket: "ver", Tags: btags})
	if got, err := a.f.BucketTagging("ver"); err != nil || !reflect.DeepEqual(got, btags) {
		t.Fatalf("bucket tags %v %v", got, err)
	}
	fifty := make([]Pair, MaxBucketTags+1)
	for i := range fifty {
		fifty[i] = Pair{fmt.Sprintf("t%02d", i), ""}
	}
	if res := a.apply(&PutBucketTagging{Bucket: "ver", Tags: fifty}); code(res.Err) != CodeInvalidTag {
		t.Fatalf("51 bucket tags: %v", res.Err)
	}
	mustResult(t, a, &PutBucketTagging{Bucket: "ver"})
	if _, err := a.f.BucketTagging("ver"); err == nil {
		t.Fatal("tags after DeleteBucketTagging")
	}
	// A deleted bucket takes its tags with it: the same name made again has none.
	a.must(&CreateBucket{Name: "tagged"}, &PutBucketTagging{Bucket: "tagged", Tags: btags}, &DeleteBucket{Name: "tagged"})
	if n := countKind(t, a.f, prefixBucketTags); n != 0 {
		t.Fatalf("%d bucket tag records left", n)
	}
}

func TestNormalizeTags(t *testing.T) {
	got, err := NormalizeTags([]Pair{{"b", "2"}, {"a", "1"}}, MaxObjectTags)
	if err != nil || !reflect.DeepEqual(got, []Pair{{"a", "1"}, {"b", "2"}}) {
		t.Fatalf("NormalizeTags: %v %v", got, err)
	}
	if _, err := NormalizeTags([]Pair{{"a", "1"}, {"a", "2"}}, MaxObjectTags); code(err) != CodeInvalidTag {
		t.Fatalf("duplicate key: %v", err)
	}
	if got, err := NormalizeTags(nil, MaxObjectTags); got != nil || err != nil {
		t.Fatalf("no tags: %v %v", got, err)
	}
}

// TestConditionalWrites: If-None-Match and If-Match are judged against the current version
// when the event is applied; a rejected write changes nothing and frees its own blobs; a
// rejected completion leaves the upload and its parts in place.
func TestConditionalWrites(t *testing.T) {
	cur := md5hex("cur")
	put := func(key, ifMatch, ifNoneMatch string) *PutObject {
		return &PutObject{Bucket: "ver", Key: key, ETag: md5hex("new"), Blobs: blobs("new"), VersionID: NewVersionID(50, 0),
			IfMatch: ifMatch, IfNoneMatch: ifNoneMatch}
	}
	for _, versioning := range []string{"", VersioningEnabled} {
		setup := []Event{verBkt, &PutObject{Bucket: "ver", Key: "k", ETag: cur, Blobs: blobs("cur"), VersionID: NewVersionID(1, 0)}}
		marker := []Event{verBkt, enable(VersioningEnabled), vput("k", "cur", 1), vdel("k", 2)}
		if versioning != "" {
			setup = append([]Event{verBkt, enable(versioning)}, setup[1:]...)
		}
		tests := []struct {
			name  string
			setup []Event
			ev    Event
			code  string
		}{
			{"none-match, no key", setup, put("other", "", "*"), ""},
			{"none-match, key exists", setup, put("k", "", "*"), CodePreconditionFailed},
			{"none-match, current is a marker", marker, put("k", "", "*"), ""},
			{"none-match, not *", setup, put("k", "", `"`+cur+`"`), CodeInvalidArgument},
			{"match", setup, put("k", `"`+cur+`"`, ""), ""},
			{"match in a list", setup, put("k", `"abc", `+strings.ToUpper(cur), ""), ""},
			{"match any", setup, put("k", "*", ""), ""},
			{"match, other etag", setup, put("k", `"`+md5hex("x")+`"`, ""), CodePreconditionFailed},
			{"match, no key", setup, put("other", "*", ""), CodeNoSuchKey},
			{"match, current is a marker", marker, put("k", "*", ""), CodeNoSuchKey},
			{"complete, none-match, key exists", append(slices.Clone(setup), &CreateMultipartUpload{Bucket: "ver", Key: "k", UploadID: "u"},
				&PutPart{Bucket: "ver", Key: "k", UploadID: "u", PartNumber: 1, ETag: e1, Blobs: blobs("p")}),
				&CompleteMultipartUpload{Bucket: "ver", Key: "k", UploadID: "u", Parts: []CompletedPart{{1, e1}},
					VersionID: NewVersionID(60, 0), IfNoneMatch: "*"}, CodePreconditionFailed},
			{"complete, match", append(slices.Clone(setup), &CreateMultipartUpload{Bucket: "ver", Key: "k", UploadID: "u"},
				&PutPart{Bucket: "ver", Key: "k", UploadID: "u", PartNumber: 1, ETag: e1, Blobs: blobs("p")}),
				&CompleteMultipartUpload{Bucket: "ver", Key: "k", UploadID: "u", Parts: []CompletedPart{{1, e1}},
					VersionID: NewVersionID(60, 0), IfMatch: cur}, ""},
		}
		for _, tc := range tests {
			t.Run(fmt.Sprintf("versioning=%q/%s", versioning, tc.name), func(t *testing.T) {
				a := newApplier(t)
				a.must(tc.setup...)
				before := stateMap(t, a.f)
				res := a.apply(tc.ev)
				if code(res.Err) != tc.code {
					t.Fatalf("result %v, want %q", res.Err, tc.code)
				}
				checkFreedEvent(t, before, stateMap(t, a.f), tc.ev, res)
				if tc.code != "" {
					if after := stateMap(t, a.f); diffMaps(after, before) != "" {
						t.Fatalf("rejected write changed the state:\n%s", diffMaps(after, before))
					}
					if p, ok := tc.ev.(*PutObject); ok && !slices.Equal(res.FreedBlobs, []string{p.Blobs[0].ID}) {
						t.Fatalf("rejected put freed %v", res.FreedBlobs)
					}
				}
				checkInvariants(t, a.f)
			})
		}
	}
}

// TestConditionalWritesRace: writers racing through raft on one key. With If-None-Match: *
// exactly one of them creates it. With If-Match, each writer reads the current ETag and
// writes only if it is still current: the successful writes form one chain (each one's
// If-Match is the ETag of the version before it), so no update is lost.
func TestConditionalWritesRace(t *testing.T) {
	n := startRaft(t, raft.NewInmemStore(), t.TempDir(), true, false)
	defer n.stop(t)
	n.propose(t, verBkt)
	n.propose(t, enable(VersioningEnabled))
	propose := func(ev Event) (*Result, error) {
		b, err := Encode(ev)
		if err != nil {
			return nil, err
		}
		fut := n.r.Apply(b, 10*time.Second)
		if err := fut.Error(); err != nil {
			return nil, err
		}
		return fut.Response().(*Result), nil
	}
	const writers = 16
	type outcome struct {
		res *Result
		ev  *PutObject
		err error
	}
	out := make(chan outcome, writers*40)
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			blob := fmt.Sprintf("first-%d", w)
			ev := &PutObject{Bucket: "ver", Key: "once", ETag: md5hex(blob), Blobs: blobs(blob),
				VersionID: NewVersionID(time.Now().UnixNano(), uint64(w)), IfNoneMatch: "*"}
			res, err := propose(ev)
			out <- outcome{res, ev, err}
		}(w)
	}
	wg.Wait()
	wins := 0
	for i := 0; i < writers; i++ {
		o := <-out
		switch {
		case o.err != nil:
			t.Fatal(o.err)
		case o.res.Err == nil:
			wins++
		case o.res.Err.Code != CodePreconditionFailed || !slices.Equal(o.res.FreedBlobs, []string{o.ev.Blobs[0].ID}):
			t.Fatalf("a losing writer got %+v, freed %v", o.res.Err, o.res.FreedBlobs)
		}
	}
	if wins != 1 {
		t.Fatalf("%d writers created the key, want exactly 1", wins)
	}
	if l, _ := n.f.ListObjectVersions("ver", VersionListParams{Prefix: "once"}); len(l.Versions) != 1 {
		t.Fatalf("versions of the key: %+v", l.Versions)
	}

	// Compare-and-swap chains.
	first := n.propose(t, &PutObject{Bucket: "ver", Key: "cas", ETag: md5hex("cas-0"), Blobs: blobs("cas-0"), VersionID: NewVersionID(1, 0)})
	const attempts = 15
	for w := 0; w < writers/2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := 0; i < attempts; i++ {
				o, err := n.f.Object("ver", "cas")
				if err != nil {
					out <- outcome{err: err}
					return
				}
				blob := fmt.Sprintf("cas-%d-%d", w, i)
				ev := &PutObject{Bucket: "ver", Key: "cas", ETag: md5hex(blob), Blobs: blobs(blob),
					VersionID: NewVersionID(time.Now().UnixNano()-int64(rng.IntN(1000)), rng.Uint64()), IfMatch: `"` + o.ETag + `"`}
				res, err := propose(ev)
				out <- outcome{res, ev, err}
			}
		}(w)
	}
	wg.Wait()
	close(out)
	parent := map[string]string{} // version ID → the ETag its writer expected
	etags := map[string]string{first.Object.VersionID: first.Object.ETag}
	for o := range out {
		if o.err != nil {
			t.Fatal(o.err)
		}
		if o.res.Err != nil {
			if o.res.Err.Code != CodePreconditionFailed {
				t.Fatalf("CAS write: %v", o.res.Err)
			}
			continue
		}
		parent[o.res.Object.VersionID] = trimETag(o.ev.IfMatch)
		etags[o.res.Object.VersionID] = o.res.Object.ETag
	}
	l, err := n.f.ListObjectVersions("ver", VersionListParams{Prefix: "cas"})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Versions) != len(parent)+1 || len(parent) == 0 {
		t.Fatalf("%d versions for %d successful writes", len(l.Versions), len(parent))
	}
	// Newest first: each version's writer expected the ETag of the one after it.
	for i := 0; i+1 < len(l.Versions); i++ {
		v, prev := l.Versions[i], l.Versions[i+1]
		if parent[v.VersionID] != prev.ETag {
			t.Fatalf("version %s was written over ETag %s, but the version before it has %s: a lost update",
				v.VersionID, parent[v.VersionID], prev.ETag)
		}
	}
}

// TestExactMetadata: every metadata field is stored and returned byte for byte, through the
// event, the record, a snapshot and the runs; the version 2 fields make a version 2 record
// only when set.
func TestExactMetadata(t *testing.T) {
	meta := ObjectMeta{ContentType: "text/plain; charset=UTF-8", ContentEncoding: "deflate, gzip",
		ContentDisposition: `attachment; filename="a b.txt"`, CacheControl: "max-age=60,  no-transform",
		ContentLanguage: "de-CH, en", Expires: "Thu, 01 Dec 1994 16:00:00 GMT",
		UserMetadata: []Pair{{"color", "Blue"}, {"x-camel", "MiXeD  spaces "}}}
	a := newApplier(t)
	a.must(bkt, &PutObject{Bucket: "bkt", Key: "m", Meta: meta}, &PutObject{Bucket: "bkt", Key: "plain", Meta: ObjectMeta{ContentType: "a/b"}},
		&CreateMultipartUpload{Bucket: "bkt", Key: "mp", UploadID: "u", Meta: meta})
	check := func(f *FSM) {
		t.Helper()
		if o, err := f.Object("bkt", "m"); err != nil || !reflect.DeepEqual(o.Meta, meta) {
			t.Fatalf("metadata %+v %v\nwant %+v", o.Meta, err, meta)
		}
		if u, err := f.Upload("bkt", "mp", "u"); err != nil || !reflect.DeepEqual(u.Meta, meta) {
			t.Fatalf("upload metadata %+v %v", u.Meta, err)
		}
	}
	check(a.f)
	st := stateMap(t, a.f)
	if v := st[objectKey("bkt", "m")]; v[0] != recordVersionExt {
		t.Fatalf("object with the new fields: record version %d", v[0])
	}
	if v := st[objectKey("bkt", "plain")]; v[0] != recordVersion {
		t.Fatalf("object without them: record version %d", v[0])
	}
	g := restoreCopy(t, a.f)
	check(g)
}

// restoreCopy persists f into its snapshot store (a new one if it has none) and returns a new
// FSM restored from it with no cache: every record is read back from the runs.
func restoreCopy(t *testing.T, f *FSM) *FSM {
	t.Helper()
	store := f.store
	if store == nil {
		store = newTestStore(t)
	}
	id := storeSnapshot(t, store, f, f.AppliedIndex())
	_, rc, err := store.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	g := New(Options{Snapshots: store})
	if err := g.Restore(wrapped{rc}); err != nil {
		t.Fatal(err)
	}
	checkSameState(t, g, f)
	return g
}

func TestListBuckets(t *testing.T) {
	a := newApplier(t)
	names := []string{"alpha", "beta", "beta-2", "gamma", "zeta"}
	for i, n := range names {
		a.must(&CreateBucket{Name: n, Owner: []string{"o1", "o2"}[i%2]})
	}
	all := func(p BucketListParams) []string {
		var got []string
		for pages := 0; pages < 20; pages++ {
			res, err := a.f.ListBuckets(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range res.Buckets {
				got = append(got, b.Name)
			}
			if p.MaxBuckets > 0 && len(res.Buckets) > p.MaxBuckets {
				t.Fatalf("page of %d, max %d", len(res.Buckets), p.MaxBuckets)
			}
			if res.ContinuationToken == "" {
				return got
			}
			p.ContinuationToken = res.ContinuationToken
		}
		t.Fatal("paging does not end")
		return nil
	}
	for _, tc := range []struct {
		p    BucketListParams
		want []string
	}{
		{BucketListParams{}, names},
		{BucketListParams{MaxBuckets: 1}, names},
		{BucketListParams{MaxBuckets: 2, Prefix: "beta"}, []string{"beta", "beta-2"}},
		{BucketListParams{MaxBuckets: 2, Owner: "o1"}, []string{"alpha", "beta-2", "zeta"}},
		{BucketListParams{ContinuationToken: "beta"}, []string{"beta-2", "gamma", "zeta"}},
		{BucketListParams{Prefix: "q"}, nil},
	} {
		if got := all(tc.p); !slices.Equal(got, tc.want) {
			t.Errorf("%+v: %v, want %v", tc.p, got, tc.want)
		}
	}
	if res, _ := a.f.ListBuckets(BucketListParams{MaxBuckets: len(names)}); res.ContinuationToken != "" {
		t.Errorf("a page holding every bucket has a continuation token %q", res.ContinuationToken)
	}
	for _, bad := range []int{-1, MaxBuckets + 1} {
		if _, err := a.f.ListBuckets(BucketListParams{MaxBuckets: bad}); code(asErr(err)) != CodeInvalidArgument {
			t.Errorf("max buckets %d: %v", bad, err)
		}
	}
}

func asErr(err error) *Error {
	var fe *Error
	errors.As(err, &fe)
	return fe
}

// TestListObjectVersionsMarkers checks the marker rules against hand-written expectations:
// key-marker alone skips the key; with a version-id-marker the listing resumes after that
// version, also when it has been removed since; common prefixes are entries of their own.
func TestListObjectVersionsMarkers(t *testing.T) {
	a := newApplier(t)
	a.must(verBkt, vput("a", "a0", 1), enable(VersioningEnabled), vput("a", "a1", 2), vput("a", "a2", 3),
		vput("d/x", "x1", 4), vput("d/y", "y1", 5), vput("e", "e1", 6))
	id := func(t int64) string { return NewVersionID(t, 7) }
	list := func(p VersionListParams) ([]string, VersionListResult) {
		res, err := a.f.ListObjectVersions("ver", p)
		if err != nil {
			t.Fatalf("%+v: %v", p, err)
		}
		var out []string
		for _, e := range entriesOf(res) {
			if e.prefix != "" {
				out = append(out, e.prefix)
			} else {
				out = append(out, e.key+"@"+e.vid)
			}
		}
		return out, res
	}
	for _, tc := range []struct {
		p    VersionListParams
		want []string
	}{
		{VersionListParams{}, []string{"a@" + id(3), "a@" + id(2), "a@null", "d/x@" + id(4), "d/y@" + id(5), "e@" + id(6)}},
		{VersionListParams{Delimiter: "/"}, []string{"a@" + id(3), "a@" + id(2), "a@null", "d/", "e@" + id(6)}},
		{VersionListParams{KeyMarker: "a"}, []string{"d/x@" + id(4), "d/y@" + id(5), "e@" + id(6)}},
		{VersionListParams{KeyMarker: "a", VersionIDMarker: id(3)}, []string{"a@" + id(2), "a@null", "d/x@" + id(4), "d/y@" + id(5), "e@" + id(6)}},
		{VersionListParams{KeyMarker: "a", VersionIDMarker: NullVersionID}, []string{"d/x@" + id(4), "d/y@" + id(5), "e@" + id(6)}},
		// A version removed since the marker was handed out: resume at its place.
		{VersionListParams{KeyMarker: "a", VersionIDMarker: NewVersionID(2, 8)}, []string{"a@" + id(2), "a@null", "d/x@" + id(4), "d/y@" + id(5), "e@" + id(6)}},
		{VersionListParams{KeyMarker: "d/", Delimiter: "/"}, []string{"e@" + id(6)}},
		{VersionListParams{KeyMarker: "d/x", VersionIDMarker: id(4), Delimiter: "/"}, []string{"e@" + id(6)}},
		{VersionListParams{Prefix: "d/", KeyMarker: "d/x", VersionIDMarker: id(4)}, []string{"d/y@" + id(5)}},
	} {
		if got, _ := list(tc.p); !slices.Equal(got, tc.want) {
			t.Errorf("%+v:\n got %v\nwant %v", tc.p, got, tc.want)
		}
	}
	got, res := list(VersionListParams{MaxKeys: 4, Delimiter: "/"})
	if !res.IsTruncated || res.NextKeyMarker != "d/" || res.NextVersionIDMarker != "" || len(got) != 4 {
		t.Fatalf("page ending in a common prefix: %v %+v", got, res)
	}
	for _, p := range []VersionListParams{{VersionIDMarker: id(3)}, {KeyMarker: "a", VersionIDMarker: "nope"}, {MaxKeys: -1}} {
		if _, err := a.f.ListObjectVersions("ver", p); code(asErr(err)) != CodeInvalidArgument {
			t.Errorf("%+v: %v", p, err)
		}
	}
	if _, err := a.f.ListObjectVersions("nope", VersionListParams{}); code(asErr(err)) != CodeNoSuchBucket {
		t.Errorf("missing bucket: %v", err)
	}
}

// TestVersionsBeyondTheCache keeps 300 versions of 30 keys in snapshot runs behind a
// 4-record cache: reads by version ID, the version listing and a delete by version ID that
// promotes a noncurrent version all work from the runs, and a restore from those runs sees
// the same versions.
func TestVersionsBeyondTheCache(t *testing.T) {
	store := newTestStore(t)
	a := &applier{t: t, f: New(Options{Snapshots: store, CacheSize: 4})}
	a.must(verBkt, enable(VersioningEnabled))
	var ids []string
	for i := 0; i < 300; i++ {
		res := a.apply(vput(fmt.Sprintf("k%02d", i%30), fmt.Sprintf("b%03d", i), int64(i+1)))
		ids = append(ids, res.Object.VersionID)
	}
	storeSnapshot(t, store, a.f, a.index)
	if st := a.f.MemoryStats(); st.Dirty != 0 || st.Cached > 4 {
		t.Fatalf("memory %+v", st)
	}
	for _, i := range []int{0, 31, 150, 299} {
		if o, err := a.f.ObjectVersion("ver", fmt.Sprintf("k%02d", i%30), ids[i]); err != nil || o.Blobs[0].ID != fmt.Sprintf("b%03d", i) {
			t.Fatalf("version %d: %+v %v", i, o, err)
		}
	}
	if got := walkVersions(t, a.f, "ver", "", "", 7); len(got) != 300 {
		t.Fatalf("%d versions listed", len(got))
	}
	mustResult(t, a, &DeleteObject{Bucket: "ver", Key: "k05", VersionID: ids[275]}, "b275")
	if o, err := a.f.Object("ver", "k05"); err != nil || o.VersionID != ids[245] {
		t.Fatalf("after deleting the current version: %+v %v, want %s", o, err, ids[245])
	}
	g := restoreCopy(t, a.f)
	if got := walkVersions(t, g, "ver", "k0", "", 11); len(got) != 99 {
		t.Fatalf("restored: %d versions of k0*", len(got))
	}
	checkInvariants(t, g)
}

// newTestStore opens a snapshot store in a temporary directory, closed at the end of the test.
func newTestStore(t *testing.T) *snapshot.Store {
	t.Helper()
	s, err := snapshot.NewStore(t.TempDir(), snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
