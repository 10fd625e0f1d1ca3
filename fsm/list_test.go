package fsm

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/nebulaio/nebulaio/snapshot"
)

// listModel is ListObjects over a sorted slice: roll keys up into common prefixes, keep the
// entries after the marker, cut at max.
func listModel(keys []string, prefix, delim, marker string, max int) (entries []string, isPrefix []bool, truncated bool) {
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		e, p := k, false
		if delim != "" {
			if i := strings.Index(k[len(prefix):], delim); i >= 0 {
				e, p = k[:len(prefix)+i+len(delim)], true
			}
		}
		if e <= marker || (len(entries) > 0 && entries[len(entries)-1] == e) {
			continue
		}
		entries, isPrefix = append(entries, e), append(isPrefix, p)
	}
	if len(entries) > max {
		return entries[:max], isPrefix[:max], true
	}
	return entries, isPrefix, false
}

func randomKeys(r *rand.Rand, n int, alphabet string) []string {
	set := map[string]bool{}
	for len(set) < n {
		b := make([]byte, 1+r.IntN(8))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		set[string(b)] = true
	}
	keys := make([]string, 0, n)
	for k := range set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// tiered spreads a's state over every tier: it persists a snapshot into a store (the FSM then
// reads its records from the runs, with no cache), then removes the keys del picks — half of
// them in a frozen tree (a snapshot taken and not persisted, released at cleanup), half in
// the dirty tree — and returns the keys left.
func tiered(t *testing.T, a *applier, bucket string, keys []string, del func(i int) bool, remove func(key string) Event) []string {
	t.Helper()
	store, err := snapshot.NewStore(t.TempDir(), snapshot.Options{ChunkSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	a.f.AttachSnapshots(store)
	storeSnapshot(t, store, a.f, a.index)
	var left, second []string
	for i, k := range keys {
		switch {
		case !del(i):
			left = append(left, k)
		case i%2 == 0:
			a.must(remove(k))
		default:
			second = append(second, k)
		}
	}
	snap, err := a.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(snap.Release)
	for _, k := range second {
		a.must(remove(k))
	}
	a.f.mu.RLock()
	defer a.f.mu.RUnlock()
	if a.f.base.rd == nil || len(a.f.frozen) != 1 || a.f.dirty.Len() == 0 {
		t.Fatalf("state not spread over the tiers: runs %v, %d frozen, %d dirty", a.f.base.rd != nil, len(a.f.frozen), a.f.dirty.Len())
	}
	return left
}

func TestListObjectsAgainstModel(t *testing.T) {
	for _, mode := range []string{"memory", "tiered"} {
		t.Run("state="+mode, func(t *testing.T) { testListObjectsAgainstModel(t, mode == "tiered") })
	}
}

func testListObjectsAgainstModel(t *testing.T, spread bool) {
	const alphabet = "ab/c-\x00\xff"
	r := rand.New(rand.NewPCG(1, 2))
	keys := randomKeys(r, 3000, alphabet)
	a := newApplier(t)
	a.must(bkt, &CreateBucket{Name: "aaa"}, &CreateBucket{Name: "zzz"})
	// Neighbouring buckets must not leak into the listing.
	a.must(&PutObject{Bucket: "aaa", Key: "a"}, &PutObject{Bucket: "zzz", Key: "a"})
	for _, k := range keys {
		a.must(&PutObject{Bucket: "bkt", Key: k, Size: uint64(len(k))})
	}
	if spread {
		keys = tiered(t, a, "bkt", keys, func(i int) bool { return i%5 == 0 },
			func(k string) Event { return &DeleteObject{Bucket: "bkt", Key: k} })
	}
	str := func(maxLen int) *rapid.Generator[string] {
		return rapid.StringOfN(rapid.SampledFrom([]rune(alphabet)), 0, maxLen, -1)
	}
	rapid.Check(t, func(t *rapid.T) {
		prefix := rapid.OneOf(str(3), rapid.Just("")).Draw(t, "prefix")
		delim := rapid.SampledFrom([]string{"", "/", "-", "ab", "\x00", "\xff"}).Draw(t, "delim")
		marker := rapid.OneOf(rapid.Just(""), str(5), rapid.SampledFrom(keys)).Draw(t, "marker")
		max := rapid.IntRange(0, 1200).Draw(t, "max")
		useToken := rapid.Bool().Draw(t, "token")
		effMax := max
		if effMax == 0 || effMax > DefaultMaxKeys {
			effMax = DefaultMaxKeys
		}
		// Page through the whole listing from marker; it must equal the model.
		var got []string
		var gotPrefix []bool
		cur := marker
		for page := 0; ; page++ {
			p := ListParams{Prefix: prefix, Delimiter: delim, MaxKeys: max, Marker: cur}
			if useToken && page > 0 {
				p = ListParams{Prefix: prefix, Delimiter: delim, MaxKeys: max, Marker: "ignored", ContinuationToken: cur}
			}
			res, err := a.f.ListObjects("bkt", p)
			if err != nil {
				t.Fatalf("ListObjects: %v", err)
			}
			want, wantPrefix, wantTrunc := listModel(keys, prefix, delim, cur, effMax)
			var page1 []string
			var page1Prefix []bool
			// Contents and CommonPrefixes are each sorted; merge to compare with the model.
			ci, pi := 0, 0
			for ci < len(res.Contents) || pi < len(res.CommonPrefixes) {
				if pi == len(res.CommonPrefixes) || (ci < len(res.Contents) && res.Contents[ci].Key < res.CommonPrefixes[pi]) {
					page1, page1Prefix = append(page1, res.Contents[ci].Key), append(page1Prefix, false)
					ci++
				} else {
					page1, page1Prefix = append(page1, res.CommonPrefixes[pi]), append(page1Prefix, true)
					pi++
				}
			}
			if !reflect.DeepEqual(page1, want) || !reflect.DeepEqual(page1Prefix, wantPrefix) || res.IsTruncated != wantTrunc {
				t.Fatalf("page %d after %q: got %q (truncated %v)\nwant %q (truncated %v)", page, cur, page1, res.IsTruncated, want, wantTrunc)
			}
			got, gotPrefix = append(got, page1...), append(gotPrefix, page1Prefix...)
			if !res.IsTruncated {
				if res.NextMarker != "" {
					t.Fatalf("NextMarker %q on the last page", res.NextMarker)
				}
				break
			}
			if res.NextMarker != page1[len(page1)-1] {
				t.Fatalf("NextMarker %q, last entry %q", res.NextMarker, page1[len(page1)-1])
			}
			cur = res.NextMarker
		}
		want, wantPrefix, _ := listModel(keys, prefix, delim, marker, len(keys)+1)
		if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotPrefix, wantPrefix) {
			t.Fatalf("paged listing differs from the model: %d entries, want %d", len(got), len(want))
		}
	})
}

func TestListObjectsErrors(t *testing.T) {
	a := newApplier(t)
	a.must(bkt)
	if _, err := a.f.ListObjects("nope", ListParams{}); !errors.Is(err, &Error{Code: CodeNoSuchBucket}) {
		t.Fatalf("missing bucket: %v", err)
	}
	if _, err := a.f.ListObjects("bkt", ListParams{MaxKeys: -1}); !errors.Is(err, &Error{Code: CodeInvalidArgument}) {
		t.Fatalf("negative max keys: %v", err)
	}
	res, err := a.f.ListObjects("bkt", ListParams{})
	if err != nil || len(res.Contents) != 0 || res.IsTruncated {
		t.Fatalf("empty bucket: %+v %v", res, err)
	}
}

func TestPrefixEnd(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{{"a/", "a0", true}, {"a\xff", "b", true}, {"\xff\xff", "", false}, {"", "", false}}
	for _, tc := range tests {
		if got, ok := prefixEnd(tc.in); got != tc.want || ok != tc.ok {
			t.Errorf("prefixEnd(%q) = %q, %v", tc.in, got, ok)
		}
	}
}

// uploadModel lists (key, id) pairs after the marker, rolling keys into common prefixes.
func uploadModel(ups [][2]string, p UploadListParams, max int) (entries []string, truncated bool) {
	for _, u := range ups {
		if !strings.HasPrefix(u[0], p.Prefix) {
			continue
		}
		if u[0] < p.KeyMarker || (u[0] == p.KeyMarker && (p.UploadIDMarker == "" || u[1] <= p.UploadIDMarker)) {
			continue
		}
		e := u[0] + "|" + u[1]
		if p.Delimiter != "" {
			if i := strings.Index(u[0][len(p.Prefix):], p.Delimiter); i >= 0 {
				cp := u[0][:len(p.Prefix)+i+len(p.Delimiter)]
				if cp <= p.KeyMarker || (len(entries) > 0 && entries[len(entries)-1] == cp+"|") {
					continue
				}
				e = cp + "|"
			}
		}
		entries = append(entries, e)
	}
	if len(entries) > max {
		return entries[:max], true
	}
	return entries, false
}

func TestListUploadsAgainstModel(t *testing.T) {
	for _, mode := range []string{"memory", "tiered"} {
		t.Run("state="+mode, func(t *testing.T) { testListUploadsAgainstModel(t, mode == "tiered") })
	}
}

func testListUploadsAgainstModel(t *testing.T, spread bool) {
	r := rand.New(rand.NewPCG(3, 4))
	keys := randomKeys(r, 300, "ab/")
	a := newApplier(t)
	a.must(bkt)
	var ups [][2]string
	for i, k := range keys {
		for j := 0; j <= i%3; j++ {
			id := fmt.Sprintf("u%d", r.IntN(1000))
			if a.apply(&CreateMultipartUpload{Bucket: "bkt", Key: k, UploadID: id}).Err == nil {
				ups = append(ups, [2]string{k, id})
			}
		}
	}
	slices.SortFunc(ups, func(x, y [2]string) int { return strings.Compare(x[0]+"\x00"+x[1], y[0]+"\x00"+y[1]) })
	if spread {
		enc := make([]string, len(ups))
		for i, u := range ups {
			enc[i] = u[0] + "\x00" + u[1]
		}
		left := tiered(t, a, "bkt", enc, func(i int) bool { return i%3 == 1 }, func(e string) Event {
			k, id, _ := strings.Cut(e, "\x00")
			return &AbortMultipartUpload{Bucket: "bkt", Key: k, UploadID: id}
		})
		ups = ups[:0]
		for _, e := range left {
			k, id, _ := strings.Cut(e, "\x00")
			ups = append(ups, [2]string{k, id})
		}
	}
	rapid.Check(t, func(t *rapid.T) {
		p := UploadListParams{
			Prefix:     rapid.SampledFrom([]string{"", "a", "a/", "b/b", "/"}).Draw(t, "prefix"),
			Delimiter:  rapid.SampledFrom([]string{"", "/"}).Draw(t, "delim"),
			MaxUploads: rapid.IntRange(1, 40).Draw(t, "max"),
		}
		if rapid.Bool().Draw(t, "marker") {
			u := rapid.SampledFrom(ups).Draw(t, "from")
			p.KeyMarker = u[0]
			if rapid.Bool().Draw(t, "idmarker") {
				p.UploadIDMarker = u[1]
			}
		}
		for {
			res, err := a.f.ListUploads("bkt", p)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			ui, ci := 0, 0
			for ui < len(res.Uploads) || ci < len(res.CommonPrefixes) {
				if ci == len(res.CommonPrefixes) || (ui < len(res.Uploads) && res.Uploads[ui].Key < res.CommonPrefixes[ci]) {
					got = append(got, res.Uploads[ui].Key+"|"+res.Uploads[ui].UploadID)
					ui++
				} else {
					got = append(got, res.CommonPrefixes[ci]+"|")
					ci++
				}
			}
			want, trunc := uploadModel(ups, p, p.MaxUploads)
			if !reflect.DeepEqual(got, want) || trunc != res.IsTruncated {
				t.Fatalf("params %+v:\n got %q %v\nwant %q %v", p, got, res.IsTruncated, want, trunc)
			}
			if !res.IsTruncated {
				break
			}
			p.KeyMarker, p.UploadIDMarker = res.NextKeyMarker, res.NextUploadIDMarker
		}
	})
}

func TestListParts(t *testing.T) {
	for _, mode := range []string{"memory", "tiered"} {
		t.Run("state="+mode, func(t *testing.T) { testListParts(t, mode == "tiered") })
	}
}

func testListParts(t *testing.T, spread bool) {
	a := newApplier(t)
	a.must(bkt, upload, &CreateMultipartUpload{Bucket: "bkt", Key: "big", UploadID: "u2"},
		&CreateMultipartUpload{Bucket: "bkt", Key: "big", UploadID: "u0"})
	want := []uint32{1, 3, 5, 9, 10000}
	for _, n := range want {
		a.must(&PutPart{Bucket: "bkt", Key: "big", UploadID: "u1", PartNumber: n, ETag: md5hex(fmt.Sprint(n))})
	}
	for _, id := range []string{"u0", "u2"} { // neighbours of u1 in key order
		a.must(&PutPart{Bucket: "bkt", Key: "big", UploadID: id, PartNumber: 2, ETag: md5hex("2")})
	}
	if spread {
		// The parts so far go to the runs; part 2 then lands in a frozen tree, part 4 in the
		// dirty tree, and the neighbouring uploads are aborted (tombstones around u1's parts).
		store, err := snapshot.NewStore(t.TempDir(), snapshot.Options{ChunkSize: 4096})
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		a.f.AttachSnapshots(store)
		storeSnapshot(t, store, a.f, a.index)
		a.must(&PutPart{Bucket: "bkt", Key: "big", UploadID: "u1", PartNumber: 2, ETag: md5hex("2")},
			&AbortMultipartUpload{Bucket: "bkt", Key: "big", UploadID: "u0"})
		snap, err := a.f.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		defer snap.Release()
		a.must(&PutPart{Bucket: "bkt", Key: "big", UploadID: "u1", PartNumber: 4, ETag: md5hex("4")},
			&AbortMultipartUpload{Bucket: "bkt", Key: "big", UploadID: "u2"})
		want = []uint32{1, 2, 3, 4, 5, 9, 10000}
	}
	var got []uint32
	p := PartListParams{MaxParts: 2}
	for pages := 0; ; pages++ {
		res, err := a.f.ListParts("bkt", "big", "u1", p)
		if err != nil {
			t.Fatal(err)
		}
		for _, pt := range res.Parts {
			got = append(got, pt.PartNumber)
		}
		if !res.IsTruncated {
			if pages != (len(want)-1)/2 {
				t.Fatalf("%d pages", pages+1)
			}
			break
		}
		p.PartNumberMarker = res.NextPartNumberMarker
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parts %v, want %v", got, want)
	}
	if res, _ := a.f.ListParts("bkt", "big", "u1", PartListParams{PartNumberMarker: 10000}); len(res.Parts) != 0 {
		t.Fatalf("after the last part: %+v", res)
	}
	if _, err := a.f.ListParts("bkt", "big", "nope", PartListParams{}); !errors.Is(err, &Error{Code: CodeNoSuchUpload}) {
		t.Fatalf("missing upload: %v", err)
	}
}

func BenchmarkListObjects(b *testing.B) {
	a := newApplier(b)
	a.must(bkt)
	const dirs, perDir = 100, 1000
	for d := 0; d < dirs; d++ {
		for i := 0; i < perDir; i++ {
			a.must(&PutObject{Bucket: "bkt", Key: fmt.Sprintf("dir%03d/obj%05d", d, i)})
		}
	}
	for _, bc := range []struct {
		name string
		p    ListParams
	}{
		{"mode=flat/max=1000", ListParams{}},
		{"mode=delimiter/dirs=100", ListParams{Delimiter: "/"}},
		{"mode=prefix/max=100", ListParams{Prefix: "dir050/", MaxKeys: 100}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				res, err := a.f.ListObjects("bkt", bc.p)
				if err != nil || len(res.Contents)+len(res.CommonPrefixes) == 0 {
					b.Fatalf("%+v %v", res, err)
				}
			}
		})
	}
}
