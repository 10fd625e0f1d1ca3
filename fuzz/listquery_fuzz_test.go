package fuzz

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/httpapi/s3"
)

var (
	listFSMOnce sync.Once
	listFSM     *fsm.FSM
	listKeys    []string
)

// listFixture is a small FSM with one bucket of keys chosen to exercise delimiters,
// prefixes and markers.
func listFixture(tb testing.TB) *fsm.FSM {
	listFSMOnce.Do(func() {
		f := fsm.New(fsm.Options{})
		idx := uint64(0)
		apply := func(ev fsm.Event) {
			b, err := fsm.Encode(ev)
			if err != nil {
				panic(err)
			}
			idx++
			if res := f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: b}).(*fsm.Result); res.Err != nil {
				panic(res.Err)
			}
		}
		apply(&fsm.CreateBucket{Name: "fuzz", Owner: "o"})
		for _, d := range []string{"", "a/", "a/b/", "a/b/c/", "b/", "é/", "a%2F/", "x y/", "\xff/"} {
			for i := 0; i < 4; i++ {
				k := fmt.Sprintf("%sk%d", d, i)
				listKeys = append(listKeys, k)
				apply(&fsm.PutObject{Bucket: "fuzz", Key: k, ETag: "e"})
			}
		}
		sort.Strings(listKeys)
		listFSM = f
	})
	return listFSM
}

// FuzzListQuery parses arbitrary ListObjects/ListObjectsV2 query strings. Properties: never a
// panic; every error is an *s3.Error with a 4xx status; an accepted query has a page size in
// range, a continuation token that re-encodes to the one sent, and, run against a small FSM,
// yields a page of at most max-keys sorted entries, each after the marker and under the prefix.
func FuzzListQuery(f *testing.F) {
	for _, s := range []string{
		"", "list-type=2", "list-type=2&prefix=a%2F&delimiter=%2F", "list-type=2&max-keys=0",
		"list-type=2&continuation-token=YS9i&start-after=a", "marker=a%2Fk1&delimiter=k&max-keys=3",
		"list-type=2&encoding-type=url&fetch-owner=true", "max-keys=-1", "list-type=3", "prefix=%FF",
		"list-type=2&continuation-token=%21%21", "delimiter=%2F&prefix=&marker=b%2F",
	} {
		f.Add(s)
	}
	fs := listFixture(f)
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return // the handler answers InvalidArgument before parsing list parameters
		}
		lq, err := s3.ParseListQuery(q)
		if err != nil {
			var ae *s3.Error
			if !errors.As(err, &ae) || ae.Code == "" || ae.Status < 400 || ae.Status >= 500 {
				t.Fatalf("ParseListQuery(%q): error %v is not a 4xx S3 error", raw, err)
			}
			if ae.Status != http.StatusBadRequest {
				t.Fatalf("ParseListQuery(%q): status %d", raw, ae.Status)
			}
			return
		}
		if lq.MaxKeys < -1 || lq.MaxKeys > fsm.DefaultMaxKeys {
			t.Fatalf("MaxKeys %d out of range", lq.MaxKeys)
		}
		if lq.Continuation != "" && s3.EncodeContinuationToken(lq.Continuation) != lq.RawToken {
			t.Fatalf("token %q decodes to %q, which re-encodes differently", lq.RawToken, lq.Continuation)
		}
		if lq.MaxKeys == 0 {
			return
		}
		page, err := fs.ListObjects("fuzz", fsm.ListParams{
			Prefix: lq.Prefix, Delimiter: lq.Delimiter, Marker: lq.Marker,
			ContinuationToken: lq.Continuation, MaxKeys: max(lq.MaxKeys, 0),
		})
		if err != nil {
			t.Fatalf("ListObjects of an accepted query: %v", err)
		}
		limit := lq.MaxKeys
		if limit < 0 {
			limit = fsm.DefaultMaxKeys
		}
		entries := len(page.Contents) + len(page.CommonPrefixes)
		if entries > limit {
			t.Fatalf("%d entries, max-keys %d", entries, limit)
		}
		marker := lq.Marker
		if lq.Continuation != "" {
			marker = lq.Continuation
		}
		for i, o := range page.Contents {
			if !strings.HasPrefix(o.Key, lq.Prefix) || o.Key <= marker || (i > 0 && o.Key <= page.Contents[i-1].Key) {
				t.Fatalf("key %q: prefix %q marker %q", o.Key, lq.Prefix, marker)
			}
		}
		for _, p := range page.CommonPrefixes {
			if !strings.HasPrefix(p, lq.Prefix) || lq.Delimiter == "" || !strings.HasSuffix(p, lq.Delimiter) {
				t.Fatalf("common prefix %q: prefix %q delimiter %q", p, lq.Prefix, lq.Delimiter)
			}
		}
		if page.IsTruncated && entries != limit {
			t.Fatalf("truncated page of %d entries, limit %d", entries, limit)
		}
	})
}
