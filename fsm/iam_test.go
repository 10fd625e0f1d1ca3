package fsm

import (
	"bytes"
	"errors"
	"flag"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/nebulaio/nebulaio/snapshot"
)

var updateGoldenIAM = flag.Bool("update-iam", false, "write testdata/golden-records-iam.snap (a new file only)")

// iamEvents is one populated event of every identities-and-access type (and the variants
// whose encoding differs: an empty list, a removed configuration).
func iamEvents() []Event {
	return []Event{
		&CreateUser{Name: "app", AccessKey: "NBAPPKEY000000000001", SealedSecret: "\x01sealed\x00bytes", Created: 10, Policies: []string{"read", "write"}},
		&CreateUser{Name: "bare", AccessKey: "NBBAREKEY00000000001", SealedSecret: "s", Created: -1},
		&DeleteUser{Name: "app"},
		&SetUserStatus{Name: "app", Disabled: true},
		&SetUserSecret{Name: "app", SealedSecret: "new", Updated: 11},
		&PutPolicy{Name: "read", Document: `{"Version":"2012-10-17"}`, Updated: 12},
		&DeletePolicy{Name: "read"},
		&AttachUserPolicy{User: "app", Policy: "read"},
		&DetachUserPolicy{User: "app", Policy: "read"},
		&PutBucketPolicy{Bucket: "web", Policy: `{"Statement":[]}`, Public: true},
		&PutBucketPolicy{Bucket: "web"},
		&PutPublicAccessBlock{Bucket: "web", Config: PublicAccessBlock{Configured: true, IgnorePublicACLs: true, RestrictPublicBuckets: true}},
		&PutPublicAccessBlock{Bucket: "web"},
		&PutBucketACL{Bucket: "web", ACL: ACLPublicRead},
	}
}

func TestIAMEventsRoundTrip(t *testing.T) {
	seen := map[EventType]bool{}
	for _, ev := range iamEvents() {
		b, err := Encode(ev)
		if err != nil {
			t.Fatalf("%s: %v", ev.Type(), err)
		}
		if b[0] != byte(ev.Type()) || b[1] != 1 {
			t.Fatalf("%s: header % x", ev.Type(), b[:2])
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", ev.Type(), err)
		}
		if !reflect.DeepEqual(normalize(got), normalize(ev)) {
			t.Fatalf("round trip:\n got %#v\nwant %#v", got, ev)
		}
		if again, _ := Encode(got); !bytes.Equal(again, b) {
			t.Fatalf("%s: re-encoding differs", ev.Type())
		}
		if ev.Type().String() != iamTypeNames[ev.Type()] {
			t.Fatalf("%s has no name", ev.Type())
		}
		seen[ev.Type()] = true
	}
	for typ := range iamTypeNames {
		if !seen[typ] {
			t.Errorf("no sample event of type %s", typ)
		}
	}
}

func TestIAMEventsRefused(t *testing.T) {
	// Encodings that are not canonical or not valid.
	for _, ev := range []Event{
		&CreateUser{Name: "a", Policies: []string{"b", "a"}},
		&CreateUser{Name: "a", Policies: []string{"a", "a"}},
		&CreateUser{Name: "a", Policies: make([]string, MaxUserPolicies+1)},
		&PutPublicAccessBlock{Bucket: "b", Config: PublicAccessBlock{BlockPublicACLs: true}},
	} {
		if _, err := Encode(ev); !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("Encode(%+v): %v", ev, err)
		}
	}
	good, _ := Encode(&PutPublicAccessBlock{Bucket: "b"})
	for _, bad := range [][]byte{
		append(good[:len(good)-1:len(good)-1], 0x20),               // an unknown switch
		append(good[:len(good)-1:len(good)-1], pabNotConfigured|1), // not configured and a switch
		{byte(TypeSetUserStatus), 1, 1, 'a', 2},                    // a boolean of 2
		{byte(TypeDeleteUser), 2, 1, 'a'},                          // an unknown version
	} {
		if _, err := Decode(bad); err == nil {
			t.Errorf("Decode(% x) accepted", bad)
		}
	}
}

// TestIAMApply walks the rules of each event, in order, on one FSM.
func TestIAMApply(t *testing.T) {
	a := newApplier(t)
	steps := []struct {
		ev   Event
		code string // "" accepted
	}{
		{&CreateUser{Name: "app", AccessKey: "K1", SealedSecret: "s1", Created: 1, Policies: []string{"read"}}, CodeNoSuchPolicy},
		{&PutPolicy{Name: "read", Document: "{}", Updated: 1}, ""},
		{&PutPolicy{Name: "empty", Updated: 1}, CodeInvalidArgument},
		{&PutPolicy{Name: "big", Document: strings.Repeat("x", MaxPolicyDocument+1)}, CodeInvalidArgument},
		{&CreateUser{Name: "app", AccessKey: "K1", SealedSecret: "s1", Created: 1, Policies: []string{"read"}}, ""},
		{&CreateUser{Name: "app", AccessKey: "K2", SealedSecret: "s", Created: 2}, CodeUserAlreadyExists},
		{&CreateUser{Name: "other", AccessKey: "K1", SealedSecret: "s", Created: 2}, CodeAccessKeyInUse},
		{&CreateUser{Name: "", AccessKey: "K3", SealedSecret: "s"}, CodeInvalidArgument},
		{&CreateUser{Name: "x", AccessKey: "K3"}, CodeInvalidArgument},
		{&CreateUser{Name: strings.Repeat("u", maxUserNameLen+1), AccessKey: "K3", SealedSecret: "s"}, CodeInvalidArgument},
		{&AttachUserPolicy{User: "app", Policy: "read"}, ""}, // again: no change
		{&AttachUserPolicy{User: "app", Policy: "write"}, CodeNoSuchPolicy},
		{&AttachUserPolicy{User: "nobody", Policy: "read"}, CodeNoSuchUser},
		{&DeletePolicy{Name: "read"}, CodePolicyInUse},
		{&DetachUserPolicy{User: "app", Policy: "read"}, ""},
		{&DetachUserPolicy{User: "app", Policy: "read"}, CodeNoSuchPolicy},
		{&DeletePolicy{Name: "read"}, ""},
		{&DeletePolicy{Name: "read"}, CodeNoSuchPolicy},
		{&SetUserStatus{Name: "app", Disabled: true}, ""},
		{&SetUserStatus{Name: "nobody"}, CodeNoSuchUser},
		{&SetUserSecret{Name: "app", SealedSecret: "s2", Updated: 5}, ""},
		{&SetUserSecret{Name: "app", Updated: 6}, CodeInvalidArgument},
		{&DeleteUser{Name: "app"}, ""},
		{&DeleteUser{Name: "app"}, CodeNoSuchUser},
		{&CreateUser{Name: "other", AccessKey: "K1", SealedSecret: "s", Created: 7}, ""}, // the key is free again
		// Bucket access.
		{&PutBucketPolicy{Bucket: "web", Policy: "{}"}, CodeNoSuchBucket},
		{&CreateBucket{Name: "web", Owner: "o", Created: 1}, ""},
		{&PutBucketPolicy{Bucket: "web", Policy: "{}", Public: true}, CodeAccessDenied}, // blocked by default
		{&PutBucketACL{Bucket: "web", ACL: ACLPublicRead}, CodeAccessDenied},
		{&PutBucketACL{Bucket: "web", ACL: "bucket-owner-full-control"}, CodeInvalidArgument},
		{&PutBucketACL{Bucket: "web", ACL: ACLAuthenticatedRead}, ""},
		{&PutBucketPolicy{Bucket: "web", Policy: "{}"}, ""}, // not public
		{&PutBucketPolicy{Bucket: "web", Policy: strings.Repeat("x", MaxPolicyDocument+1)}, CodeInvalidArgument},
		{&PutPublicAccessBlock{Bucket: "web", Config: PublicAccessBlock{Configured: true, BlockPublicACLs: true}}, ""},
		{&PutBucketPolicy{Bucket: "web", Policy: "{}", Public: true}, ""},
		{&PutBucketACL{Bucket: "web", ACL: ACLPublicReadWrite}, CodeAccessDenied},
		{&PutPublicAccessBlock{Bucket: "web"}, ""}, // deleted: nothing blocked
		{&PutBucketACL{Bucket: "web", ACL: ACLPublicReadWrite}, ""},
		{&PutPublicAccessBlock{Bucket: "nobucket"}, CodeNoSuchBucket},
	}
	for i, s := range steps {
		res := a.apply(s.ev)
		got := ""
		if res.Err != nil {
			got = res.Err.Code
		}
		if got != s.code {
			t.Fatalf("step %d %s: %v, want %q", i, s.ev.Type(), res.Err, s.code)
		}
	}
	f := a.f
	if _, err := f.User("app"); !errors.Is(err, &Error{Code: CodeNoSuchUser}) {
		t.Fatalf("deleted user: %v", err)
	}
	u, err := f.UserByAccessKey("K1")
	if err != nil || u.Name != "other" || u.SealedSecret != "s" || u.Created != 7 || u.Updated != 7 {
		t.Fatalf("user by key: %+v %v", u, err)
	}
	if _, err := f.UserByAccessKey("K2"); !errors.Is(err, &Error{Code: CodeNoSuchUser}) {
		t.Fatalf("unknown key: %v", err)
	}
	acc, err := f.BucketAccess("web")
	if err != nil || acc.Policy != "{}" || !acc.PolicyPublic || acc.ACL != ACLPublicReadWrite || acc.PublicAccessBlock.Configured {
		t.Fatalf("bucket access: %+v %v", acc, err)
	}
	if _, err := f.BucketAccess("nobucket"); !errors.Is(err, &Error{Code: CodeNoSuchBucket}) {
		t.Fatalf("missing bucket: %v", err)
	}
	// Back to the defaults: the record goes; a deleted bucket takes its record with it.
	a.must(&CreateBucket{Name: "tmp", Owner: "o", Created: 2}, &PutBucketACL{Bucket: "tmp", ACL: ACLAuthenticatedRead})
	if countKind(t, f, prefixBucketAccess) != 2 {
		t.Fatal("no access record for tmp")
	}
	a.must(&PutBucketACL{Bucket: "tmp", ACL: ACLPrivate})
	if countKind(t, f, prefixBucketAccess) != 1 {
		t.Fatal("a default access record is kept")
	}
	if acc, _ := f.BucketAccess("tmp"); acc.PublicAccessBlock != DefaultPublicAccessBlock || acc.ACL != "" {
		t.Fatalf("defaults: %+v", acc)
	}
	a.must(&PutBucketPolicy{Bucket: "web"}, &PutBucketACL{Bucket: "web", ACL: ACLPrivate}, &DeleteBucket{Name: "web"})
	if countKind(t, f, prefixBucketAccess) != 0 {
		t.Fatal("the deleted bucket's access record is left")
	}
	checkInvariants(t, f)
}

// goldenIAMState applies a fixed history touching every record kind of identities and access.
func goldenIAMState(t *testing.T) *applier {
	a := newApplier(t)
	a.must(&PutPolicy{Name: "read-a", Document: `{"Version":"2012-10-17","Statement":[]}`, Updated: 1},
		&PutPolicy{Name: "write-a", Document: `{}`, Updated: 2},
		&CreateUser{Name: "app", AccessKey: "NBAPPKEY000000000001", SealedSecret: "\x01\x00sealed", Created: 3, Policies: []string{"read-a", "write-a"}},
		&CreateUser{Name: "ops\x00x", AccessKey: "NBOPSKEY000000000001", SealedSecret: "s", Created: 4},
		&SetUserStatus{Name: "ops\x00x", Disabled: true},
		&CreateBucket{Name: "web", Owner: "o", Created: 5},
		&PutPublicAccessBlock{Bucket: "web", Config: PublicAccessBlock{Configured: true, BlockPublicACLs: true, RestrictPublicBuckets: true}},
		&PutBucketPolicy{Bucket: "web", Policy: `{"Statement":[]}`, Public: true},
		&CreateBucket{Name: "open", Owner: "o", Created: 6},
		&PutPublicAccessBlock{Bucket: "open"},
		&PutBucketACL{Bucket: "open", ACL: ACLPublicRead})
	return a
}

// TestGoldenSnapshotIAM pins the records of identities and access.
func TestGoldenSnapshotIAM(t *testing.T) {
	g := checkGolden(t, filepath.Join("testdata", "golden-records-iam.snap"), goldenIAMState(t), *updateGoldenIAM, "-update-iam")
	for _, kind := range []byte{prefixUser, prefixAccessKey, prefixPolicy, prefixBucketAccess} {
		if countKind(t, g, kind) == 0 {
			t.Fatalf("the golden state has no record of kind %#x", kind)
		}
	}
	users, err := g.Users()
	if err != nil || len(users) != 2 || users[0].Name != "app" || !users[1].Disabled || len(users[0].Policies) != 2 {
		t.Fatalf("users %+v %v", users, err)
	}
	pols, err := g.IAMPolicies()
	if err != nil || len(pols) != 2 || pols[1].Name != "write-a" {
		t.Fatalf("policies %+v %v", pols, err)
	}
}

// TestIAMFromRuns: users, policies and bucket access read back from a persisted snapshot's
// runs (nothing in memory), through every read method.
func TestIAMFromRuns(t *testing.T) {
	store, done := rapidStore(t, t.TempDir(), snapshot.Options{})
	defer done()
	src := goldenIAMState(t)
	id := storeSnapshot(t, store, src.f, src.index)
	_, rc, err := store.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	f := New(Options{Snapshots: store, CacheSize: 1})
	if err := f.Restore(rc); err != nil {
		t.Fatal(err)
	}
	checkSameState(t, f, src.f)
	u, err := f.UserByAccessKey("NBAPPKEY000000000001")
	if err != nil || u.Name != "app" || u.SealedSecret != "\x01\x00sealed" {
		t.Fatalf("%+v %v", u, err)
	}
	p, err := f.IAMPolicy("read-a")
	if err != nil || !strings.Contains(p.Document, "2012-10-17") {
		t.Fatalf("%+v %v", p, err)
	}
	acc, err := f.BucketAccess("open")
	if err != nil || acc.ACL != ACLPublicRead || acc.PublicAccessBlock.Configured {
		t.Fatalf("%+v %v", acc, err)
	}
	// Apply reads the runs too: a policy attached in the snapshot cannot be deleted.
	b, _ := Encode(&DeletePolicy{Name: "write-a"})
	if res := applyRaw(t, f, src.index+1, b); res.Err == nil || res.Err.Code != CodePolicyInUse {
		t.Fatalf("delete of an attached policy from the runs: %+v", res.Err)
	}
}

// TestIAMRecordsRefused: damaged records are refused on restore.
func TestIAMRecordsRefused(t *testing.T) {
	for _, bad := range []struct {
		prefix byte
		v      []byte
	}{
		{prefixBucketAccess, append(append([]byte{1, 1, 'b', 0, 0, 7}, "private"...), 0)}, // private is stored as ""
		{prefixBucketAccess, []byte{1, 1, 'b', 0, 1, 0, 0}},                               // public without a policy
		{prefixBucketAccess, []byte{1, 1, 'b', 0, 0, 0, 0x40}},                            // unknown switch
		{prefixUser, append([]byte{1, 1, 'u', 1, 'k', 1, 's', 0}, make([]byte, 16)...)},   // no policy list
		{prefixPolicy, []byte{2, 1, 'p', 0}},                                              // unknown version
		{0x2F, []byte{1}},                                                                 // unknown prefix
	} {
		if _, err := decodeValue(bad.prefix, bad.v); err == nil {
			t.Errorf("prefix %#x % x accepted", bad.prefix, bad.v)
		}
	}
	if _, err := decodeValue(prefixUser, append([]byte{1, 1, 'u', 1, 'k', 1, 's', 0}, append(make([]byte, 16), 0)...)); err != nil {
		t.Fatalf("a valid user record: %v", err)
	}
	if _, err := parseKey([]byte{0x2F, 'x', 0, 1}); err == nil {
		t.Fatal("unknown key prefix accepted")
	}
}

// applyRaw applies an encoded event to f as the log entry at index.
func applyRaw(t *testing.T, f *FSM, index uint64, b []byte) *Result {
	t.Helper()
	res, ok := f.Apply(&raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: b}).(*Result)
	if !ok {
		t.Fatal("Apply returned no *Result")
	}
	return res
}
