package fsm

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// sampleEvents returns one fully populated event of every type.
func sampleEvents() []Event {
	meta := ObjectMeta{
		ContentType: "text/plain", ContentEncoding: "gzip", ContentDisposition: "inline",
		CacheControl: "no-cache", UserMetadata: []Pair{{"a", "1"}, {"b", "2"}},
	}
	blobs := []Blob{{ID: "blob-1", Size: 10, Nodes: []string{"n1", "n2"}}, {ID: "blob-2", Size: 0}}
	return []Event{
		&CreateBucket{Name: "photos", Owner: "alice", Created: 1700000000000000000},
		&DeleteBucket{Name: "photos"},
		&PutObject{Bucket: "photos", Key: "a/b.txt", Size: 10, ETag: "9e107d9d372bb6826bd81d3542a419d6",
			Meta: meta, Checksums: []Pair{{"CRC32C", "abc="}, {"SHA256", "def="}}, Blobs: blobs,
			ModTime: -5, VersionID: "v1"},
		&DeleteObject{Bucket: "photos", Key: "a/b.txt"},
		&DeleteObjects{Bucket: "photos", Keys: []string{"x", "y", "x"}},
		&CreateMultipartUpload{Bucket: "photos", Key: "big", UploadID: "u1", Initiated: 42, Meta: meta},
		&PutPart{Bucket: "photos", Key: "big", UploadID: "u1", PartNumber: 3, Size: 5 << 20,
			ETag: "9e107d9d372bb6826bd81d3542a419d6", Checksums: []Pair{{"CRC32", "x"}}, Blobs: blobs, ModTime: 7},
		&CompleteMultipartUpload{Bucket: "photos", Key: "big", UploadID: "u1",
			Parts: []CompletedPart{{1, `"aa"`}, {2, "bb"}}, MinPartSize: 1, ETag: "cc-2", ModTime: 9, VersionID: "v"},
		&AbortMultipartUpload{Bucket: "photos", Key: "big", UploadID: "u1"},
		&RegisterNode{Node: NodeInfo{ID: "node-1", Role: "hybrid", Addresses: []Pair{{"raft", "127.0.0.1:9003"}, {"s3", "127.0.0.1:9000"}}}},
		&RetireNode{ID: "node-1"},
		&SetSetting{Key: "gc.delay", Value: "1h"},
		&SetBucketVersioning{Bucket: "photos", Status: VersioningEnabled},
		&PutObjectTagging{Bucket: "photos", Key: "a/b.txt", VersionID: NewVersionID(5, 6), Tags: []Pair{{"k", "v"}, {"k2", ""}}},
		&PutBucketTagging{Bucket: "photos", Tags: []Pair{{"team", "x"}}},
		&MemberChange{ID: "node-2", Op: MemberDrain, At: 1700000000000000000},
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	seen := map[EventType]bool{}
	all := append(append(append(sampleEvents(), interopEvents()...), governanceEvents()...), encryptionEvents()...)
	for _, ev := range append(all, &CreateBucket{}, &PutObject{}, &CompleteMultipartUpload{}) {
		t.Run(ev.Type().String(), func(t *testing.T) {
			b, err := Encode(ev)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if b[0] != byte(ev.Type()) || b[1] != versionOf(ev) {
				t.Fatalf("header % x, want type %d version %d", b[:2], ev.Type(), versionOf(ev))
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(normalize(got), normalize(ev)) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", got, ev)
			}
			again, err := Encode(got)
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("re-encode differs (err %v)", err)
			}
			seen[ev.Type()] = true
		})
	}
	for typ := range typeNames {
		if !seen[typ] {
			t.Errorf("no sample event of type %s", typ)
		}
	}
}

// normalize re-encodes and decodes so that nil and empty slices compare equal.
func normalize(ev Event) Event {
	b, err := Encode(ev)
	if err != nil {
		panic(err)
	}
	out, err := Decode(b)
	if err != nil {
		panic(err)
	}
	return out
}

func TestEncodeRejects(t *testing.T) {
	long := strings.Repeat("k", maxString+1)
	tests := []struct {
		name string
		ev   Event
	}{
		{"nil event", nil},
		{"string over limit", &CreateBucket{Name: long}},
		{"unsorted metadata", &PutObject{Meta: ObjectMeta{UserMetadata: []Pair{{"b", ""}, {"a", ""}}}}},
		{"duplicate checksum", &PutObject{Checksums: []Pair{{"a", ""}, {"a", ""}}}},
		{"unsorted addresses", &RegisterNode{Node: NodeInfo{Addresses: []Pair{{"z", ""}, {"a", ""}}}}},
		{"too many delete keys", &DeleteObjects{Keys: make([]string, maxDeleteKeys+1)}},
		{"too many parts", &CompleteMultipartUpload{Parts: make([]CompletedPart, MaxPartNumber+1)}},
		{"too many replicas", &PutObject{Blobs: []Blob{{Nodes: make([]string, maxBlobNodes+1)}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Encode(tc.ev); !errors.Is(err, ErrInvalidEvent) {
				t.Fatalf("Encode: %v, want ErrInvalidEvent", err)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	valid, err := Encode(&PutObject{Bucket: "b", Key: "k", Meta: ObjectMeta{UserMetadata: []Pair{{"a", "1"}, {"b", "2"}}}})
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), valid...)) }
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"type only", []byte{byte(TypePutObject)}, ErrTruncated},
		{"unknown type", []byte{0, 1}, ErrUnknownType},
		{"unknown type 200", []byte{200, 1, 0}, ErrUnknownType},
		{"version 0", []byte{byte(TypeDeleteBucket), 0, 1, 'a'}, ErrUnknownVersion},
		{"version 2", []byte{byte(TypeDeleteBucket), 2, 1, 'a'}, ErrUnknownVersion},
		{"trailing byte", append(append([]byte(nil), valid...), 0), ErrCorrupt},
		{"string past end", []byte{byte(TypeDeleteBucket), 1, 5, 'a'}, ErrTruncated},
		{"huge string length", []byte{byte(TypeDeleteBucket), 1, 0xff, 0xff, 0xff, 0xff, 0x0f}, ErrCorrupt},
		{"varint overflow", []byte{byte(TypeDeleteBucket), 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, ErrCorrupt},
		{"non-minimal varint", []byte{byte(TypeDeleteBucket), 1, 0x81, 0x00, 'a'}, ErrCorrupt},
		{"huge count", []byte{byte(TypeDeleteObjects), 1, 1, 'b', 0xff, 0xff, 0x03}, ErrCorrupt},
		{"count past end", []byte{byte(TypeDeleteObjects), 1, 1, 'b', 5, 0}, ErrTruncated},
		{"unsorted pairs", mutate(func(b []byte) []byte {
			i := bytes.Index(b, []byte{1, 'a', 1, '1', 1, 'b'})
			b[i+1], b[i+5] = 'b', 'a'
			return b
		}), ErrCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := Decode(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode = %v, %v; want %v", ev, err, tc.want)
			}
		})
	}
	// Every proper prefix of a valid encoding is truncated, never accepted.
	for _, ev := range sampleEvents() {
		b, _ := Encode(ev)
		for n := 0; n < len(b); n++ {
			if _, err := Decode(b[:n]); !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s cut at %d: %v", ev.Type(), n, err)
			}
		}
	}
}

func TestSortedPairs(t *testing.T) {
	got := SortedPairs(map[string]string{"b": "2", "a": "1", "c": "3"})
	want := []Pair{{"a", "1"}, {"b", "2"}, {"c", "3"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v", got)
	}
	if SortedPairs(nil) != nil {
		t.Fatal("nil map should give nil")
	}
}

func TestSnapshotKeysOrderAndParse(t *testing.T) {
	// Escaped components keep tuple order even with NUL bytes in strings.
	tuples := [][2]string{{"a", ""}, {"a", "\x00"}, {"a", "\x00\x00"}, {"a", "\x00a"}, {"a", "a"}, {"a", "a\x00"}, {"a", "b"}, {"a\x00", ""}, {"ab", ""}}
	var prev string
	for i, tp := range tuples {
		k := objectKey(tp[0], tp[1])
		if i > 0 && k <= prev {
			t.Fatalf("key of %q not after key of %q", tp, tuples[i-1])
		}
		prev = k
		pk, err := parseKey([]byte(k))
		if err != nil || pk.prefix != prefixObject || pk.parts[0] != tp[0] || pk.parts[1] != tp[1] {
			t.Fatalf("parse %q: %+v %v", k, pk, err)
		}
	}
	pk, err := parseKey([]byte(partKey("b", "k\x00", "u", 77)))
	if err != nil || pk.part != 77 || pk.parts[1] != "k\x00" {
		t.Fatalf("part key: %+v %v", pk, err)
	}
	for _, bad := range []string{"", "\x09", "\x02abc", "\x02a\x00\x07", "\x02a\x00\x01x", "\x05a\x00\x01b\x00\x01c\x00\x01\x00"} {
		if _, err := parseKey([]byte(bad)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("parseKey(%q) = %v, want ErrCorrupt", bad, err)
		}
	}
}

// extendedEvents are events that need version 2 of their type's body, each with one of the
// version 2 fields set.
func extendedEvents() []Event {
	vid := NewVersionID(1700000000000000000, 0xfeed)
	return []Event{
		&PutObject{Bucket: "b", Key: "k", Meta: ObjectMeta{ContentLanguage: "en"}},
		&PutObject{Bucket: "b", Key: "k", Meta: ObjectMeta{Expires: "0"}},
		&PutObject{Bucket: "b", Key: "k", Tags: []Pair{{"a", ""}}, VersionID: vid},
		&PutObject{Bucket: "b", Key: "k", IfMatch: `"x"`},
		&PutObject{Bucket: "b", Key: "k", IfNoneMatch: "*", Blobs: []Blob{{ID: "x"}}},
		&DeleteObject{Bucket: "b", Key: "k", VersionID: vid},
		&DeleteObject{Bucket: "b", Key: "k", MarkerVersionID: vid},
		&DeleteObject{Bucket: "b", Key: "k", ModTime: -1},
		&DeleteObjects{Bucket: "b", Keys: []string{"a", "b"}, VersionIDs: []string{"", vid}},
		&DeleteObjects{Bucket: "b", Keys: []string{"a"}, MarkerVersionID: vid, ModTime: 3},
		&CreateMultipartUpload{Bucket: "b", Key: "k", UploadID: "u", Tags: []Pair{{"t", "v"}}},
		&CreateMultipartUpload{Bucket: "b", Key: "k", UploadID: "u", Meta: ObjectMeta{ContentLanguage: "fr"}},
		&CompleteMultipartUpload{Bucket: "b", Key: "k", UploadID: "u", IfNoneMatch: "*"},
		&CompleteMultipartUpload{Bucket: "b", Key: "k", UploadID: "u", IfMatch: "e"},
	}
}

// TestEventVersion2: an event that version 1 cannot hold is written at version 2 and reads
// back identically; the same event without its version 2 fields is written at version 1,
// byte for byte as before versions existed; a version 2 encoding whose new fields are all
// empty is not canonical and is refused; a version past the type's newest is unknown.
func TestEventVersion2(t *testing.T) {
	for _, ev := range extendedEvents() {
		b, err := Encode(ev)
		if err != nil {
			t.Fatalf("%s: %v", ev.Type(), err)
		}
		if b[1] != eventVersionExt {
			t.Fatalf("%s %+v written at version %d", ev.Type(), ev, b[1])
		}
		got, err := Decode(b)
		if err != nil || !reflect.DeepEqual(normalize(got), normalize(ev)) {
			t.Fatalf("%s round trip: %+v %v", ev.Type(), got, err)
		}
		if again, _ := Encode(got); !bytes.Equal(again, b) {
			t.Fatalf("%s re-encodes differently", ev.Type())
		}
		// The version 1 body alone, relabelled version 2 with empty new fields.
		plain := newEvent(ev.Type())
		d := decoder{b: b[2:]}
		plain.decodeBody(&d)
		v1, err := Encode(plain)
		if err != nil || v1[1] != eventVersion {
			t.Fatalf("%s without its new fields: version %d, %v", ev.Type(), v1[1], err)
		}
		e := encoder{b: append([]byte{byte(ev.Type()), eventVersionExt}, v1[2:]...)}
		plain.(extended).encodeExt(&e)
		if _, err := Decode(e.b); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: a version 2 encoding of a version 1 event decoded: %v", ev.Type(), err)
		}
		b[1] = newestVersion(ev) + 1
		if _, err := Decode(b); !errors.Is(err, ErrUnknownVersion) {
			t.Fatalf("%s version %d: %v", ev.Type(), b[1], err)
		}
	}
	// Types refuse the version after their newest: version 2 for those that have none,
	// version 3 for CreateBucket (whose version 2 came with client interop).
	for _, ev := range []Event{&CreateBucket{Name: "x"}, &SetBucketVersioning{Bucket: "x"}, &PutPart{}} {
		b, _ := Encode(ev)
		b[1] = newestVersion(ev) + 1
		if _, err := Decode(b); !errors.Is(err, ErrUnknownVersion) {
			t.Fatalf("%s version %d: %v", ev.Type(), b[1], err)
		}
	}
}

// TestOldEventsDecode reads the event encodings committed as fuzz seeds before versions
// existed: they decode, and mean what they meant (PutObject's version id field is still the
// field it was; an unversioned bucket ignores it).
func TestOldEventsDecode(t *testing.T) {
	dir := filepath.Join("..", "fuzz", "testdata", "fuzz", "FuzzEventDecode")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitN(string(raw), "\n", 3)
		if len(lines) < 2 || !strings.HasPrefix(lines[1], "[]byte(") {
			t.Fatalf("%s: not a fuzz seed", e.Name())
		}
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		if s[1] != eventVersion {
			continue // a seed added with version 2
		}
		ev, err := Decode([]byte(s))
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		if again, err := Encode(ev); err != nil || string(again) != s {
			t.Fatalf("%s does not re-encode to its bytes: %v", e.Name(), err)
		}
		n++
	}
	if n < 13 {
		t.Fatalf("only %d version 1 seeds", n)
	}
	a := newApplier(t)
	a.must(bkt)
	if o := mustResult(t, a, &PutObject{Bucket: "bkt", Key: "k", VersionID: "v1"}).Object; o.VersionID != NullVersionID {
		t.Fatalf("an unversioned write got version %q", o.VersionID)
	}
}
