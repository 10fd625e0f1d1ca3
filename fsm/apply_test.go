package fsm

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

func md5hex(s string) string { h := md5.Sum([]byte(s)); return hex.EncodeToString(h[:]) }

// multipartETag computes the S3 multipart ETag independently of the FSM.
func multipartETag(partETags ...string) string {
	var all []byte
	for _, e := range partETags {
		b, _ := hex.DecodeString(e)
		all = append(all, b...)
	}
	return fmt.Sprintf("%s-%d", md5hex(string(all)), len(partETags))
}

// member checks that f records want (its ID set to id) for member id, and lists it so.
func member(id string, want MemberState) func(*testing.T, *FSM, *Result) {
	want.ID = id
	return func(t *testing.T, f *FSM, _ *Result) {
		if got := f.Member(id); got != want {
			t.Fatalf("member %s: %+v, want %+v", id, got, want)
		}
		listed := false
		for _, m := range f.Members() {
			listed = listed || m == want
		}
		if listed == want.empty() {
			t.Fatalf("Members() = %+v with %+v", f.Members(), want)
		}
	}
}

func noMemberRecords(t *testing.T, f *FSM, _ *Result) {
	if n := countKind(t, f, prefixMember); n != 0 {
		t.Fatalf("%d member records left", n)
	}
}

func blobs(ids ...string) []Blob {
	out := make([]Blob, len(ids))
	for i, id := range ids {
		out[i] = Blob{ID: id, Size: 1, Nodes: []string{"n1"}}
	}
	return out
}

var (
	bkt    = &CreateBucket{Name: "bkt", Owner: "alice", Created: 1}
	putA   = &PutObject{Bucket: "bkt", Key: "a", Size: 3, ETag: md5hex("abc"), Blobs: blobs("a1", "a2"), ModTime: 5}
	upload = &CreateMultipartUpload{Bucket: "bkt", Key: "big", UploadID: "u1", Initiated: 2,
		Meta: ObjectMeta{ContentType: "video/mp4", UserMetadata: []Pair{{"k", "v"}}}}
	e1, e2, e3 = md5hex("one"), md5hex("two"), md5hex("three")
	part1      = &PutPart{Bucket: "bkt", Key: "big", UploadID: "u1", PartNumber: 1, Size: 6 << 20, ETag: e1, Blobs: blobs("p1")}
	part2      = &PutPart{Bucket: "bkt", Key: "big", UploadID: "u1", PartNumber: 2, Size: 6 << 20, ETag: e2, Blobs: blobs("p2")}
	part3      = &PutPart{Bucket: "bkt", Key: "big", UploadID: "u1", PartNumber: 3, Size: 10, ETag: e3, Blobs: blobs("p3")}
	smallPart2 = &PutPart{Bucket: "bkt", Key: "big", UploadID: "u1", PartNumber: 2, Size: 100, ETag: e2, Blobs: blobs("p2")}
)

func complete(parts ...CompletedPart) *CompleteMultipartUpload {
	return &CompleteMultipartUpload{Bucket: "bkt", Key: "big", UploadID: "u1", Parts: parts, ModTime: 9}
}

func TestApply(t *testing.T) {
	type check func(t *testing.T, f *FSM, res *Result)
	freed := func(want ...string) check {
		return func(t *testing.T, _ *FSM, res *Result) {
			if !reflect.DeepEqual(res.FreedBlobs, want) && !(len(want) == 0 && len(res.FreedBlobs) == 0) {
				t.Fatalf("FreedBlobs %v, want %v", res.FreedBlobs, want)
			}
		}
	}
	noObject := func(bucket, key string) check {
		return func(t *testing.T, f *FSM, _ *Result) {
			if _, err := f.Object(bucket, key); !errors.Is(err, &Error{Code: CodeNoSuchKey}) {
				t.Fatalf("object %s/%s still there: %v", bucket, key, err)
			}
		}
	}
	all := func(cs ...check) check {
		return func(t *testing.T, f *FSM, res *Result) {
			for _, c := range cs {
				c(t, f, res)
			}
		}
	}
	tests := []struct {
		name  string
		setup []Event
		ev    Event
		code  string // "" for success
		check check
	}{
		// buckets
		{name: "create bucket", ev: bkt, check: func(t *testing.T, f *FSM, res *Result) {
			if b, err := f.Bucket("bkt"); err != nil || b != *bkt.toInfo() || *res.Bucket != b {
				t.Fatalf("bucket %+v %v, result %+v", b, err, res.Bucket)
			}
		}},
		{name: "create bucket invalid name", ev: &CreateBucket{Name: "Bad_Name"}, code: CodeInvalidBucketName},
		{name: "create bucket short name", ev: &CreateBucket{Name: "ab"}, code: CodeInvalidBucketName},
		{name: "create bucket same owner", setup: []Event{bkt}, ev: bkt, code: CodeBucketAlreadyOwnedByYou},
		{name: "create bucket other owner", setup: []Event{bkt}, ev: &CreateBucket{Name: "bkt", Owner: "bob"}, code: CodeBucketAlreadyExists},
		{name: "delete bucket", setup: []Event{bkt}, ev: &DeleteBucket{Name: "bkt"}, check: func(t *testing.T, f *FSM, _ *Result) {
			if _, err := f.Bucket("bkt"); !errors.Is(err, &Error{Code: CodeNoSuchBucket}) {
				t.Fatalf("bucket still there: %v", err)
			}
		}},
		{name: "delete missing bucket", ev: &DeleteBucket{Name: "bkt"}, code: CodeNoSuchBucket},
		{name: "delete bucket with object", setup: []Event{bkt, putA}, ev: &DeleteBucket{Name: "bkt"}, code: CodeBucketNotEmpty},
		{name: "delete bucket with upload", setup: []Event{bkt, upload}, ev: &DeleteBucket{Name: "bkt"}, code: CodeBucketNotEmpty},
		{name: "delete bucket, other bucket busy", setup: []Event{bkt, &CreateBucket{Name: "bkt2"},
			&PutObject{Bucket: "bkt2", Key: "x"}, &CreateMultipartUpload{Bucket: "bkt2", Key: "y", UploadID: "u"}},
			ev: &DeleteBucket{Name: "bkt"}},

		// objects
		{name: "put object", setup: []Event{bkt}, ev: putA, check: func(t *testing.T, f *FSM, res *Result) {
			o, err := f.Object("bkt", "a")
			if err != nil || o.Size != 3 || o.ETag != putA.ETag || !reflect.DeepEqual(o.Blobs, putA.Blobs) || o.ModTime != 5 {
				t.Fatalf("object %+v %v", o, err)
			}
			if !reflect.DeepEqual(*res.Object, o) {
				t.Fatalf("result object %+v", res.Object)
			}
		}},
		{name: "put object no bucket", ev: putA, code: CodeNoSuchBucket},
		{name: "put object empty key", setup: []Event{bkt}, ev: &PutObject{Bucket: "bkt"}, code: CodeInvalidArgument},
		{name: "put object key too long", setup: []Event{bkt}, ev: &PutObject{Bucket: "bkt", Key: strings.Repeat("k", 1025)}, code: CodeKeyTooLong},
		{name: "put object replaces and frees", setup: []Event{bkt, putA},
			ev: &PutObject{Bucket: "bkt", Key: "a", Blobs: blobs("a2", "a3")}, check: freed("a1")},
		// Blob IDs are unique per write (doc.go, "Blob IDs"): what a replaced record held and
		// its successor does not is freed, each ID once.
		{name: "put object frees each blob once", setup: []Event{bkt, &PutObject{Bucket: "bkt", Key: "a", Blobs: blobs("a1", "a1", "a2")}},
			ev: &PutObject{Bucket: "bkt", Key: "a", Blobs: blobs("a2")}, check: freed("a1")},
		{name: "delete object", setup: []Event{bkt, putA}, ev: &DeleteObject{Bucket: "bkt", Key: "a"},
			check: all(freed("a1", "a2"), noObject("bkt", "a"))},
		{name: "delete missing object", setup: []Event{bkt}, ev: &DeleteObject{Bucket: "bkt", Key: "a"}, code: CodeNoSuchKey},
		{name: "delete object no bucket", ev: &DeleteObject{Bucket: "bkt", Key: "a"}, code: CodeNoSuchBucket},
		{name: "delete objects", setup: []Event{bkt, putA, &PutObject{Bucket: "bkt", Key: "b", Blobs: blobs("b1")}},
			ev: &DeleteObjects{Bucket: "bkt", Keys: []string{"b", "zz", "a", "b", ""}},
			check: all(freed("b1", "a1", "a2"), noObject("bkt", "a"), noObject("bkt", "b"), func(t *testing.T, _ *FSM, res *Result) {
				var codes []string
				for _, d := range res.Deleted {
					c := ""
					if d.Err != nil {
						c = d.Err.Code
					}
					codes = append(codes, d.Key+":"+c)
				}
				want := []string{"b:", "zz:NoSuchKey", "a:", "b:NoSuchKey", ":InvalidArgument"}
				if !reflect.DeepEqual(codes, want) {
					t.Fatalf("per-key results %v, want %v", codes, want)
				}
			})},
		{name: "delete objects no bucket", ev: &DeleteObjects{Bucket: "bkt", Keys: []string{"a"}}, code: CodeNoSuchBucket},

		// multipart
		{name: "create upload", setup: []Event{bkt}, ev: upload, check: func(t *testing.T, f *FSM, res *Result) {
			u, err := f.Upload("bkt", "big", "u1")
			if err != nil || u.Initiated != 2 || u.Meta.ContentType != "video/mp4" || !reflect.DeepEqual(*res.Upload, u) {
				t.Fatalf("upload %+v %v", u, err)
			}
		}},
		{name: "create upload no bucket", ev: upload, code: CodeNoSuchBucket},
		{name: "create upload duplicate id", setup: []Event{bkt, upload}, ev: upload, code: CodeInvalidArgument},
		{name: "create upload empty id", setup: []Event{bkt}, ev: &CreateMultipartUpload{Bucket: "bkt", Key: "k"}, code: CodeInvalidArgument},
		{name: "put part", setup: []Event{bkt, upload}, ev: part1, check: func(t *testing.T, f *FSM, res *Result) {
			l, err := f.ListParts("bkt", "big", "u1", PartListParams{})
			if err != nil || len(l.Parts) != 1 || l.Parts[0].ETag != e1 || res.Part.PartNumber != 1 {
				t.Fatalf("parts %+v %v", l, err)
			}
		}},
		{name: "put part replaces", setup: []Event{bkt, upload, part1},
			ev:    &PutPart{Bucket: "bkt", Key: "big", UploadID: "u1", PartNumber: 1, ETag: e2, Blobs: blobs("p1b")},
			check: freed("p1")},
		{name: "put part no upload", setup: []Event{bkt}, ev: part1, code: CodeNoSuchUpload},
		{name: "put part other key", setup: []Event{bkt, upload}, ev: &PutPart{Bucket: "bkt", Key: "other", UploadID: "u1", PartNumber: 1}, code: CodeNoSuchUpload},
		{name: "put part number 0", setup: []Event{bkt, upload}, ev: &PutPart{Bucket: "bkt", Key: "big", UploadID: "u1"}, code: CodeInvalidArgument},
		{name: "put part number 10001", setup: []Event{bkt, upload}, ev: &PutPart{Bucket: "bkt", Key: "big", UploadID: "u1", PartNumber: 10001}, code: CodeInvalidArgument},
		{name: "complete", setup: []Event{bkt, upload, part1, part2, part3, &PutObject{Bucket: "bkt", Key: "big", Blobs: blobs("old")}},
			ev: complete(CompletedPart{1, `"` + e1 + `"`}, CompletedPart{3, e3}),
			check: all(freed("p2", "old"), func(t *testing.T, f *FSM, res *Result) {
				o, err := f.Object("bkt", "big")
				want := ObjectInfo{Bucket: "bkt", Key: "big", Size: 6<<20 + 10, ETag: multipartETag(e1, e3),
					Meta: upload.Meta, Blobs: blobs("p1", "p3"), ModTime: 9, PartsCount: 2, VersionID: NullVersionID}
				if err != nil || !reflect.DeepEqual(o, want) || !reflect.DeepEqual(*res.Object, want) {
					t.Fatalf("object %+v %v\nwant %+v", o, err, want)
				}
				if _, err := f.Upload("bkt", "big", "u1"); !errors.Is(err, &Error{Code: CodeNoSuchUpload}) {
					t.Fatalf("upload still open: %v", err)
				}
				if n := countKind(t, f, prefixPart); n != 0 {
					t.Fatalf("%d parts left", n)
				}
			})},
		{name: "complete with matching etag", setup: []Event{bkt, upload, part1, part2},
			ev: &CompleteMultipartUpload{Bucket: "bkt", Key: "big", UploadID: "u1",
				Parts: []CompletedPart{{1, e1}, {2, e2}}, ETag: multipartETag(e1, e2)}},
		{name: "complete with wrong etag", setup: []Event{bkt, upload, part1, part2},
			ev: &CompleteMultipartUpload{Bucket: "bkt", Key: "big", UploadID: "u1",
				Parts: []CompletedPart{{1, e1}, {2, e2}}, ETag: multipartETag(e2, e1)}, code: CodeBadDigest},
		{name: "complete out of order", setup: []Event{bkt, upload, part1, part2}, ev: complete(CompletedPart{2, e2}, CompletedPart{1, e1}), code: CodeInvalidPartOrder},
		{name: "complete duplicate part", setup: []Event{bkt, upload, part1, part2}, ev: complete(CompletedPart{1, e1}, CompletedPart{1, e1}), code: CodeInvalidPartOrder},
		{name: "complete missing part", setup: []Event{bkt, upload, part1}, ev: complete(CompletedPart{1, e1}, CompletedPart{2, e2}), code: CodeInvalidPart},
		{name: "complete etag mismatch", setup: []Event{bkt, upload, part1, part2}, ev: complete(CompletedPart{1, e2}, CompletedPart{2, e2}), code: CodeInvalidPart},
		{name: "complete too small", setup: []Event{bkt, upload, part1, smallPart2, part3},
			ev: complete(CompletedPart{1, e1}, CompletedPart{2, e2}, CompletedPart{3, e3}), code: CodeEntityTooSmall},
		{name: "complete small last part", setup: []Event{bkt, upload, part1, smallPart2}, ev: complete(CompletedPart{1, e1}, CompletedPart{2, e2})},
		{name: "complete lowered minimum", setup: []Event{bkt, upload, smallPart2, part3},
			ev: &CompleteMultipartUpload{Bucket: "bkt", Key: "big", UploadID: "u1", Parts: []CompletedPart{{2, e2}, {3, e3}}, MinPartSize: 100}},
		{name: "complete no parts", setup: []Event{bkt, upload}, ev: complete(), code: CodeInvalidArgument},
		{name: "complete no upload", setup: []Event{bkt}, ev: complete(CompletedPart{1, e1}), code: CodeNoSuchUpload},
		{name: "complete non-md5 part etag", setup: []Event{bkt, upload, &PutPart{Bucket: "bkt", Key: "big", UploadID: "u1", PartNumber: 1, ETag: "xyz"}},
			ev: complete(CompletedPart{1, "xyz"}), code: CodeInvalidPart},
		{name: "abort", setup: []Event{bkt, upload, part1, part2}, ev: &AbortMultipartUpload{Bucket: "bkt", Key: "big", UploadID: "u1"},
			check: all(freed("p1", "p2"), func(t *testing.T, f *FSM, _ *Result) {
				if _, err := f.Upload("bkt", "big", "u1"); err == nil || countKind(t, f, prefixPart) != 0 {
					t.Fatalf("upload or parts left: %v, %d", err, countKind(t, f, prefixPart))
				}
			})},
		{name: "abort missing", setup: []Event{bkt}, ev: &AbortMultipartUpload{Bucket: "bkt", Key: "big", UploadID: "u1"}, code: CodeNoSuchUpload},

		// nodes and settings
		{name: "register node", ev: &RegisterNode{Node: NodeInfo{ID: "n1", Role: "hybrid", Addresses: []Pair{{"raft", "a:1"}}}},
			check: func(t *testing.T, f *FSM, _ *Result) {
				if n := f.Nodes(); len(n) != 1 || n[0].Addresses[0].Value != "a:1" {
					t.Fatalf("nodes %+v", n)
				}
			}},
		{name: "re-register node replaces", setup: []Event{&RegisterNode{Node: NodeInfo{ID: "n1", Role: "storage"}}},
			ev: &RegisterNode{Node: NodeInfo{ID: "n1", Role: "hybrid"}},
			check: func(t *testing.T, f *FSM, _ *Result) {
				if n := f.Nodes(); len(n) != 1 || n[0].Role != "hybrid" {
					t.Fatalf("nodes %+v", n)
				}
			}},
		{name: "register node empty id", ev: &RegisterNode{}, code: CodeInvalidArgument},
		{name: "retire node", setup: []Event{&RegisterNode{Node: NodeInfo{ID: "n1"}}}, ev: &RetireNode{ID: "n1"},
			check: func(t *testing.T, f *FSM, _ *Result) {
				if n := f.Nodes(); len(n) != 0 {
					t.Fatalf("nodes %+v", n)
				}
			}},
		{name: "retire missing node", ev: &RetireNode{ID: "n1"}, code: CodeNoSuchNode},
		{name: "set setting", ev: &SetSetting{Key: "k", Value: "v"}, check: func(t *testing.T, f *FSM, _ *Result) {
			if v, ok := f.Setting("k"); !ok || v != "v" || len(f.Settings()) != 1 {
				t.Fatalf("setting %q %v", v, ok)
			}
		}},
		{name: "clear setting", setup: []Event{&SetSetting{Key: "k", Value: "v"}}, ev: &SetSetting{Key: "k"},
			check: func(t *testing.T, f *FSM, _ *Result) {
				if _, ok := f.Setting("k"); ok {
					t.Fatal("setting still set")
				}
			}},
		{name: "setting empty key", ev: &SetSetting{Value: "v"}, code: CodeInvalidArgument},

		// cluster members (member.go)
		{name: "remove member", ev: &MemberChange{ID: "n2", Op: MemberRemove, At: 7}, check: member("n2", MemberState{RemovedAt: 7})},
		{name: "remove again keeps the first time", setup: []Event{&MemberChange{ID: "n2", Op: MemberRemove, At: 7}},
			ev: &MemberChange{ID: "n2", Op: MemberRemove, At: 9}, check: member("n2", MemberState{RemovedAt: 7})},
		{name: "readmit forgets every decision", setup: []Event{
			&MemberChange{ID: "n2", Op: MemberNonvoter, At: 3}, &MemberChange{ID: "n2", Op: MemberDrain, At: 4},
			&MemberChange{ID: "n2", Op: MemberRemove, At: 7}},
			ev: &MemberChange{ID: "n2", Op: MemberReadmit, At: 8}, check: all(member("n2", MemberState{}), noMemberRecords)},
		{name: "readmit a member not removed", ev: &MemberChange{ID: "n2", Op: MemberReadmit, At: 8}, code: CodeInvalidMemberState},
		{name: "demote records the intent", ev: &MemberChange{ID: "n2", Op: MemberNonvoter, At: 5},
			check: member("n2", MemberState{Voter: VoterNo, VoterAt: 5})},
		{name: "promote replaces a demote", setup: []Event{&MemberChange{ID: "n2", Op: MemberNonvoter, At: 5}},
			ev: &MemberChange{ID: "n2", Op: MemberVoter, At: 6}, check: member("n2", MemberState{Voter: VoterYes, VoterAt: 6})},
		{name: "demote a removed member", setup: []Event{&MemberChange{ID: "n2", Op: MemberRemove, At: 7}},
			ev: &MemberChange{ID: "n2", Op: MemberNonvoter, At: 8}, code: CodeInvalidMemberState},
		{name: "drain", ev: &MemberChange{ID: "n2", Op: MemberDrain, At: 5}, check: member("n2", MemberState{Drain: DrainDraining, DrainAt: 5})},
		{name: "drain again keeps the start", setup: []Event{&MemberChange{ID: "n2", Op: MemberDrain, At: 5}},
			ev: &MemberChange{ID: "n2", Op: MemberDrain, At: 6}, check: member("n2", MemberState{Drain: DrainDraining, DrainAt: 5})},
		{name: "drain a removed member", setup: []Event{&MemberChange{ID: "n2", Op: MemberRemove, At: 7}},
			ev: &MemberChange{ID: "n2", Op: MemberDrain, At: 8}, code: CodeInvalidMemberState},
		{name: "drained", setup: []Event{&MemberChange{ID: "n2", Op: MemberDrain, At: 5}},
			ev: &MemberChange{ID: "n2", Op: MemberDrained, At: 9}, check: member("n2", MemberState{Drain: DrainDrained, DrainAt: 9})},
		{name: "drained without a drain (cancelled meanwhile)", ev: &MemberChange{ID: "n2", Op: MemberDrained, At: 9}, code: CodeInvalidMemberState},
		{name: "undrain deletes an empty record", setup: []Event{&MemberChange{ID: "n2", Op: MemberDrain, At: 5}},
			ev: &MemberChange{ID: "n2", Op: MemberUndrain, At: 6}, check: all(member("n2", MemberState{}), noMemberRecords)},
		{name: "undrain keeps the voter intent", setup: []Event{&MemberChange{ID: "n2", Op: MemberNonvoter, At: 4}, &MemberChange{ID: "n2", Op: MemberDrain, At: 5}},
			ev: &MemberChange{ID: "n2", Op: MemberUndrain, At: 6}, check: member("n2", MemberState{Voter: VoterNo, VoterAt: 4})},
		{name: "undrain without a drain", ev: &MemberChange{ID: "n2", Op: MemberUndrain, At: 6}, code: CodeInvalidMemberState},
		{name: "member empty id", ev: &MemberChange{Op: MemberRemove, At: 1}, code: CodeInvalidArgument},
		{name: "member unknown op", ev: &MemberChange{ID: "n2", Op: 99, At: 1}, code: CodeInvalidArgument},
		{name: "set the cluster ID", ev: &SetSetting{Key: SettingClusterID, Value: "3f9a1c0e5b7d2a4f"}, check: func(t *testing.T, f *FSM, _ *Result) {
			if v, _ := f.Setting(SettingClusterID); v != "3f9a1c0e5b7d2a4f" {
				t.Fatalf("cluster ID %q", v)
			}
		}},
		{name: "the same cluster ID again", setup: []Event{&SetSetting{Key: SettingClusterID, Value: "3f9a1c0e5b7d2a4f"}},
			ev: &SetSetting{Key: SettingClusterID, Value: "3f9a1c0e5b7d2a4f"}},
		{name: "another cluster ID", setup: []Event{&SetSetting{Key: SettingClusterID, Value: "3f9a1c0e5b7d2a4f"}},
			ev: &SetSetting{Key: SettingClusterID, Value: "0000000000000000"}, code: CodeSettingImmutable},
		{name: "remove the cluster ID", setup: []Event{&SetSetting{Key: SettingClusterID, Value: "3f9a1c0e5b7d2a4f"}},
			ev: &SetSetting{Key: SettingClusterID}, code: CodeSettingImmutable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newApplier(t)
			a.must(tc.setup...)
			before := stateMap(t, a.f)
			b0, o0, u0 := a.f.Counts()
			res := a.apply(tc.ev)
			if tc.code == "" {
				if res.Err != nil {
					t.Fatalf("rejected: %v", res.Err)
				}
			} else {
				if res.Err == nil || res.Err.Code != tc.code {
					t.Fatalf("result %+v, want code %s", res.Err, tc.code)
				}
				after := stateMap(t, a.f)
				b1, o1, u1 := a.f.Counts()
				if !maps.Equal(before, after) || b0 != b1 || o0 != o1 || u0 != u1 {
					t.Fatalf("rejected event changed state:\n%s", diffMaps(after, before))
				}
			}
			if a.f.AppliedIndex() != a.index {
				t.Fatalf("applied index %d, want %d", a.f.AppliedIndex(), a.index)
			}
			if tc.check != nil {
				tc.check(t, a.f, res)
			}
		})
	}
}

func (ev *CreateBucket) toInfo() *BucketInfo {
	return &BucketInfo{Name: ev.Name, Owner: ev.Owner, Created: ev.Created}
}

func TestApplyRecordTooLarge(t *testing.T) {
	a := newApplier(t)
	a.must(bkt)
	big := strings.Repeat("v", maxString)
	var md []Pair
	for i := 0; len(md)*maxString <= maxRecordBytes; i++ {
		md = append(md, Pair{Key: fmt.Sprintf("k%04d", i), Value: big})
	}
	before := stateMap(t, a.f)
	res := a.apply(&PutObject{Bucket: "bkt", Key: "huge", Meta: ObjectMeta{UserMetadata: md}})
	if res.Err == nil || res.Err.Code != CodeEntityTooLarge {
		t.Fatalf("result %+v", res.Err)
	}
	if after := stateMap(t, a.f); !maps.Equal(before, after) {
		t.Fatal("rejected event changed state")
	}
	// Snapshots still work.
	persist(t, a.f, "s1", false)
}

func TestApplyUndecodableAndNonCommand(t *testing.T) {
	f := New(Options{})
	res, ok := f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: []byte{0xEE, 1}}).(*Result)
	if !ok || res.Err == nil || res.Err.Code != CodeInvalidEvent {
		t.Fatalf("undecodable entry: %+v", res)
	}
	if r := f.Apply(&raft.Log{Index: 2, Type: raft.LogConfiguration}); r != nil {
		t.Fatalf("configuration entry returned %v", r)
	}
	if f.AppliedIndex() != 2 {
		t.Fatalf("applied index %d", f.AppliedIndex())
	}
}

func TestApplyBatch(t *testing.T) {
	enc := func(ev Event) []byte { b, _ := Encode(ev); return b }
	logs := []*raft.Log{
		{Index: 10, Type: raft.LogCommand, Data: enc(bkt)},
		{Index: 11, Type: raft.LogConfiguration},
		{Index: 12, Type: raft.LogCommand, Data: enc(putA)},
		{Index: 13, Type: raft.LogCommand, Data: enc(bkt)},
	}
	f := New(Options{})
	out := f.ApplyBatch(logs)
	if len(out) != len(logs) {
		t.Fatalf("%d responses for %d logs", len(out), len(logs))
	}
	if r := out[0].(*Result); r.Err != nil || r.Bucket.Name != "bkt" {
		t.Fatalf("response 0: %+v", r)
	}
	if out[1] != nil {
		t.Fatalf("response 1: %v", out[1])
	}
	if r := out[2].(*Result); r.Err != nil || r.Object.Key != "a" {
		t.Fatalf("response 2: %+v", r)
	}
	if r := out[3].(*Result); r.Err == nil || r.Err.Code != CodeBucketAlreadyOwnedByYou {
		t.Fatalf("response 3: %+v", r)
	}
	if f.AppliedIndex() != 13 {
		t.Fatalf("applied index %d", f.AppliedIndex())
	}
	// The same entries one by one give the same state.
	g := New(Options{})
	for _, l := range logs {
		g.Apply(l)
	}
	checkSameState(t, g, f)
}

func TestReadsReturnCopies(t *testing.T) {
	a := newApplier(t)
	a.must(bkt, &PutObject{Bucket: "bkt", Key: "a", Blobs: blobs("x"), Meta: ObjectMeta{UserMetadata: []Pair{{"m", "1"}}}})
	o, _ := a.f.Object("bkt", "a")
	o.Blobs[0].ID = "mutated"
	o.Meta.UserMetadata[0].Value = "mutated"
	l, _ := a.f.ListObjects("bkt", ListParams{})
	l.Contents[0].Blobs[0].Nodes[0] = "mutated"
	again, _ := a.f.Object("bkt", "a")
	if again.Blobs[0].ID != "x" || again.Meta.UserMetadata[0].Value != "1" || again.Blobs[0].Nodes[0] != "n1" {
		t.Fatalf("caller's mutation reached the index: %+v", again)
	}
}

func TestErrorIs(t *testing.T) {
	err := error(newErr(CodeNoSuchKey, "key %q", "a"))
	if !errors.Is(err, &Error{Code: CodeNoSuchKey}) || errors.Is(err, &Error{Code: CodeNoSuchBucket}) {
		t.Fatal("errors.Is on *Error codes")
	}
	var e *Error
	if !errors.As(fmt.Errorf("wrapped: %w", err), &e) || e.Code != CodeNoSuchKey {
		t.Fatal("errors.As")
	}
}

// TestBucketNameRules: CreateBucket accepts exactly the names S3 accepts (issue 22: "a..b" and
// "192.168.1.1" were accepted).
func TestBucketNameRules(t *testing.T) {
	for name, valid := range map[string]bool{
		"abc": true, "my-bucket.v2": true, "1.2.3": true, "1.2.3.4.5": true, "a-b": true,
		strings.Repeat("a", 63): true, "xn-a": true, "s3alias": true, "bucket-s3alias1": true,
		"ab": false, strings.Repeat("a", 64): false, "Bad_Name": false, "UPPER": false,
		"-abc": false, "abc-": false, ".abc": false, "abc.": false, "a b": false,
		"a..b": false, "192.168.1.1": false, "999.1.1.1": false, "xn--bucket": false,
		"sthree-x": false, "amzn-s3-demo-x": false, "bucket-s3alias": false, "bucket--ol-s3": false,
		"bucket.mrap": false, "bucket--x-s3": false, "bucket--table-s3": false,
	} {
		res := newApplier(t).apply(&CreateBucket{Name: name, Owner: "alice"})
		if got := res.Err == nil; got != valid {
			t.Errorf("CreateBucket %q: accepted=%v (err %v), want %v", name, got, res.Err, valid)
		}
		if !valid && (res.Err == nil || res.Err.Code != CodeInvalidBucketName) {
			t.Errorf("CreateBucket %q: error %v, want %s", name, res.Err, CodeInvalidBucketName)
		}
	}
}
