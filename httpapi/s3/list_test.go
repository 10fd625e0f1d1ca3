package s3

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/nebulaio/nebulaio/fsm"
)

// listModel computes the expected listing (keys and common prefixes, in order) from a sorted
// key set: the entries strictly after startAfter.
func listModel(keys []string, prefix, delim, startAfter string) (contents, prefixes []string, order []string) {
	seen := map[string]bool{}
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		entry, isPrefix := k, false
		if delim != "" {
			if i := strings.Index(k[len(prefix):], delim); i >= 0 {
				entry, isPrefix = k[:len(prefix)+i+len(delim)], true
			}
		}
		if entry <= startAfter || seen[entry] {
			continue
		}
		seen[entry] = true
		order = append(order, entry)
		if isPrefix {
			prefixes = append(prefixes, entry)
		} else {
			contents = append(contents, entry)
		}
	}
	return contents, prefixes, order
}

// seedKeys writes keys as empty objects straight through the backend (listing is what is
// under test, and thousands of SDK PUTs would dominate the run time).
func seedKeys(t *testing.T, n *node, bucket string, keys []string) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(keys))
	work := make(chan string)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range work {
				res, err := n.backend.Propose(ctxT(t), &fsm.PutObject{Bucket: bucket, Key: k, ETag: "d41d8cd98f00b204e9800998ecf8427e", ModTime: 1})
				if err == nil && res.Err != nil {
					err = res.Err
				}
				if err != nil {
					errs <- fmt.Errorf("%s: %w", k, err)
				}
			}
		}()
	}
	for _, k := range keys {
		work <- k
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestListingMatchesModel(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	c := n.client()
	mustCreateBucket(t, c, "list")
	var keys []string
	dirs := []string{"a/", "a/b/", "a/b/c/", "b/", "b+c/", "c d/", "é/", "z/", ""}
	for i := 0; i < 3000; i++ {
		d := dirs[i%len(dirs)]
		keys = append(keys, fmt.Sprintf("%sk%04d%s", d, i, []string{"", ".txt", "/x", " +&?=%"}[i%4]))
	}
	sort.Strings(keys)
	seedKeys(t, n, "list", keys)

	cases := []struct {
		prefix, delim, startAfter string
		maxKeys                   int32
	}{
		{"", "", "", 0},
		{"", "/", "", 0},
		{"a/", "/", "", 7},
		{"a/b/", "/", "a/b/c/", 100},
		{"", "/", "b/", 2},
		{"b", "/", "", 1},
		{"", "k", "", 333},
		{"nothing/", "/", "", 0},
		{"a/", "", "a/k2000", 999},
		{"c d/", "/", "", 50},
	}
	for _, tc := range cases {
		name := fmt.Sprintf("prefix=%q,delim=%q,after=%q,max=%d", tc.prefix, tc.delim, tc.startAfter, tc.maxKeys)
		t.Run("v2 "+name, func(t *testing.T) {
			wantC, wantP, _ := listModel(keys, tc.prefix, tc.delim, tc.startAfter)
			in := &s3.ListObjectsV2Input{Bucket: aws.String("list"), Prefix: aws.String(tc.prefix), EncodingType: types.EncodingTypeUrl}
			if tc.delim != "" {
				in.Delimiter = aws.String(tc.delim)
			}
			if tc.startAfter != "" {
				in.StartAfter = aws.String(tc.startAfter)
			}
			if tc.maxKeys > 0 {
				in.MaxKeys = aws.Int32(tc.maxKeys)
			}
			var gotC, gotP []string
			pages := 0
			p := s3.NewListObjectsV2Paginator(c, in)
			for p.HasMorePages() {
				out, err := p.NextPage(ctxT(t))
				if err != nil {
					t.Fatal(err)
				}
				pages++
				if lim := max(tc.maxKeys, 0); lim > 0 && len(out.Contents)+len(out.CommonPrefixes) > int(lim) {
					t.Fatalf("page of %d entries, max-keys %d", len(out.Contents)+len(out.CommonPrefixes), lim)
				}
				if int(aws.ToInt32(out.KeyCount)) != len(out.Contents)+len(out.CommonPrefixes) {
					t.Fatalf("KeyCount %d, %d entries", aws.ToInt32(out.KeyCount), len(out.Contents)+len(out.CommonPrefixes))
				}
				for _, o := range out.Contents {
					gotC = append(gotC, unescape(t, aws.ToString(o.Key)))
				}
				for _, cp := range out.CommonPrefixes {
					gotP = append(gotP, unescape(t, aws.ToString(cp.Prefix)))
				}
				if pages > 4000 {
					t.Fatal("paginator does not end")
				}
			}
			if !equalStrings(gotC, wantC) || !equalStrings(gotP, wantP) {
				t.Fatalf("got %d keys %d prefixes, want %d and %d\nkeys %v\nwant %v\nprefixes %v\nwant %v",
					len(gotC), len(gotP), len(wantC), len(wantP), head(gotC), head(wantC), head(gotP), head(wantP))
			}
		})
		t.Run("v1 "+name, func(t *testing.T) {
			_, _, wantOrder := listModel(keys, tc.prefix, tc.delim, tc.startAfter)
			var got []string
			marker := tc.startAfter
			for i := 0; ; i++ {
				in := &s3.ListObjectsInput{Bucket: aws.String("list"), Prefix: aws.String(tc.prefix), Marker: aws.String(marker)}
				if tc.delim != "" {
					in.Delimiter = aws.String(tc.delim)
				}
				if tc.maxKeys > 0 {
					in.MaxKeys = aws.Int32(tc.maxKeys)
				}
				out, err := c.ListObjects(ctxT(t), in)
				if err != nil {
					t.Fatal(err)
				}
				var page []string
				for _, o := range out.Contents {
					page = append(page, aws.ToString(o.Key))
				}
				for _, cp := range out.CommonPrefixes {
					page = append(page, aws.ToString(cp.Prefix))
				}
				sort.Strings(page) // V1 returns keys and prefixes in separate lists
				got = append(got, page...)
				if !aws.ToBool(out.IsTruncated) {
					break
				}
				marker = aws.ToString(out.NextMarker)
				if marker == "" || i > 4000 {
					t.Fatalf("truncated page without NextMarker")
				}
			}
			if !equalStrings(got, wantOrder) {
				t.Fatalf("got %d entries, want %d: %v vs %v", len(got), len(wantOrder), head(got), head(wantOrder))
			}
		})
	}

	t.Run("fetch-owner and max-keys=0", func(t *testing.T) {
		out, err := c.ListObjectsV2(ctxT(t), &s3.ListObjectsV2Input{Bucket: aws.String("list"), FetchOwner: aws.Bool(true), MaxKeys: aws.Int32(2)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Contents) != 2 || out.Contents[0].Owner == nil || aws.ToString(out.Contents[0].Owner.ID) != testAK {
			t.Fatalf("fetch-owner: %+v", out.Contents)
		}
		out, err = c.ListObjectsV2(ctxT(t), &s3.ListObjectsV2Input{Bucket: aws.String("list"), MaxKeys: aws.Int32(0)})
		if err != nil || len(out.Contents) != 0 || aws.ToBool(out.IsTruncated) {
			t.Fatalf("max-keys=0: %+v, %v", out, err)
		}
	})
	t.Run("errors", func(t *testing.T) {
		_, err := c.ListObjectsV2(ctxT(t), &s3.ListObjectsV2Input{Bucket: aws.String("list"), ContinuationToken: aws.String("!!not-a-token")})
		wantCode(t, err, "InvalidArgument", http.StatusBadRequest)
		_, err = c.ListObjectsV2(ctxT(t), &s3.ListObjectsV2Input{Bucket: aws.String("list"), MaxKeys: aws.Int32(-1)})
		wantCode(t, err, "InvalidArgument", http.StatusBadRequest)
		_, err = c.ListObjectsV2(ctxT(t), &s3.ListObjectsV2Input{Bucket: aws.String("no-such-bucket")})
		wantCode(t, err, "NoSuchBucket", http.StatusNotFound)
	})
}

func unescape(t *testing.T, s string) string {
	t.Helper()
	u, err := url.QueryUnescape(s)
	if err != nil {
		t.Fatalf("encoding-type=url value %q: %v", s, err)
	}
	return u
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func head(s []string) []string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}
