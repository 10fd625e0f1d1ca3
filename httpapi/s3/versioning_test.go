package s3

import (
	"bytes"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func setVersioning(t *testing.T, c *s3.Client, bucket string, status types.BucketVersioningStatus) {
	t.Helper()
	if _, err := c.PutBucketVersioning(ctxT(t), &s3.PutBucketVersioningInput{Bucket: aws.String(bucket),
		VersioningConfiguration: &types.VersioningConfiguration{Status: status}}); err != nil {
		t.Fatalf("PutBucketVersioning %s: %v", status, err)
	}
}

func getVersion(t *testing.T, c *s3.Client, bucket, key, vid string) (string, *s3.GetObjectOutput) {
	t.Helper()
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if vid != "" {
		in.VersionId = aws.String(vid)
	}
	out, err := c.GetObject(ctxT(t), in)
	if err != nil {
		t.Fatalf("GetObject %s/%s?versionId=%s: %v", bucket, key, vid, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), out
}

// listAllVersions pages through ListObjectVersions with max-keys per page and returns
// "key@version" for versions and "key@version(marker)" for delete markers, in listing order,
// with the latest one of each key suffixed by "*".
func listAllVersions(t *testing.T, c *s3.Client, bucket string, maxKeys int32) []string {
	t.Helper()
	var out []string
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), MaxKeys: aws.Int32(maxKeys)}
	for page := 0; ; page++ {
		if page > 10000 {
			t.Fatal("ListObjectVersions does not end")
		}
		res, err := c.ListObjectVersions(ctxT(t), in)
		if err != nil {
			t.Fatalf("ListObjectVersions: %v", err)
		}
		// The SDK splits versions and markers; the wire order is keys ascending, each key's
		// versions newest first, which ordering by (key, ModTime desc) restores.
		type ent struct {
			s    string
			key  string
			at   int64
			vid  string
			last bool
		}
		var es []ent
		for _, v := range res.Versions {
			s := aws.ToString(v.Key) + "@" + aws.ToString(v.VersionId)
			if aws.ToBool(v.IsLatest) {
				s += "*"
			}
			es = append(es, ent{s: s, key: aws.ToString(v.Key), at: v.LastModified.UnixNano(), vid: aws.ToString(v.VersionId)})
		}
		for _, m := range res.DeleteMarkers {
			s := aws.ToString(m.Key) + "@" + aws.ToString(m.VersionId) + "(marker)"
			if aws.ToBool(m.IsLatest) {
				s += "*"
			}
			es = append(es, ent{s: s, key: aws.ToString(m.Key), at: m.LastModified.UnixNano(), vid: aws.ToString(m.VersionId)})
		}
		if n := len(es); int32(n) > maxKeys {
			t.Fatalf("page of %d entries with max-keys %d", n, maxKeys)
		}
		sort.SliceStable(es, func(i, j int) bool {
			if es[i].key != es[j].key {
				return es[i].key < es[j].key
			}
			return es[i].at > es[j].at
		})
		for _, e := range es {
			out = append(out, e.s)
		}
		if !aws.ToBool(res.IsTruncated) {
			return out
		}
		in.KeyMarker, in.VersionIdMarker = res.NextKeyMarker, res.NextVersionIdMarker
	}
}

// TestVersionedLifecycle: enable versioning, overwrite, read old versions, delete (a marker),
// see the marker's headers on GET, HEAD and GET by its version, restore by copying an old
// version, and remove versions for good.
func TestVersionedLifecycle(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	c := n.client()
	mustCreateBucket(t, c, "ver")
	ctx := ctxT(t)

	gv, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String("ver")})
	if err != nil || gv.Status != "" {
		t.Fatalf("new bucket: versioning %q, %v", gv.Status, err)
	}
	pre := mustPut(t, c, "ver", "k", []byte("before"))
	if pre.VersionId != nil {
		t.Fatalf("unversioned PUT reported version %q", *pre.VersionId)
	}
	setVersioning(t, c, "ver", types.BucketVersioningStatusEnabled)
	gv, err = c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String("ver")})
	if err != nil || gv.Status != types.BucketVersioningStatusEnabled {
		t.Fatalf("versioning %q, %v", gv.Status, err)
	}
	v1 := aws.ToString(mustPut(t, c, "ver", "k", []byte("one")).VersionId)
	v2 := aws.ToString(mustPut(t, c, "ver", "k", []byte("two")).VersionId)
	if v1 == "" || v2 == "" || v1 == v2 || v1 == "null" || v2 < v1 {
		t.Fatalf("version ids %q then %q: want distinct, ordered, not null", v1, v2)
	}
	for vid, want := range map[string]string{"": "two", v1: "one", v2: "two", "null": "before"} {
		body, out := getVersion(t, c, "ver", "k", vid)
		wantID := vid
		if vid == "" {
			wantID = v2
		}
		if body != want || aws.ToString(out.VersionId) != wantID {
			t.Fatalf("GET versionId=%q: %q version %q, want %q version %q", vid, body, aws.ToString(out.VersionId), want, wantID)
		}
	}
	h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("ver"), Key: aws.String("k"), VersionId: aws.String(v1)})
	if err != nil || aws.ToInt64(h.ContentLength) != 3 || aws.ToString(h.VersionId) != v1 {
		t.Fatalf("HEAD v1: %+v %v", h, err)
	}

	del, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("ver"), Key: aws.String("k")})
	if err != nil || !aws.ToBool(del.DeleteMarker) || aws.ToString(del.VersionId) == "" {
		t.Fatalf("DELETE: marker %v version %q, %v", aws.ToBool(del.DeleteMarker), aws.ToString(del.VersionId), err)
	}
	marker := aws.ToString(del.VersionId)
	// GET and HEAD of the key: 404 naming the marker; GET of the marker's version: 405.
	for _, m := range []string{"GET", "HEAD"} {
		resp, body := rawRequest(t, n.srv.URL, m, "/ver/k", nil, nil, zeroTime, testSK)
		if resp.StatusCode != 404 || resp.Header.Get("x-amz-delete-marker") != "true" || resp.Header.Get("x-amz-version-id") != marker ||
			resp.Header.Get("Last-Modified") == "" {
			t.Fatalf("%s of a deleted key: %d %v %s", m, resp.StatusCode, resp.Header, body)
		}
		if m == "GET" && errorCode(t, body) != "NoSuchKey" {
			t.Fatalf("GET of a deleted key: %s", body)
		}
		resp, body = rawRequest(t, n.srv.URL, m, "/ver/k?versionId="+marker, nil, nil, zeroTime, testSK)
		if resp.StatusCode != 405 || resp.Header.Get("x-amz-delete-marker") != "true" || resp.Header.Get("x-amz-version-id") != marker {
			t.Fatalf("%s of a marker's version: %d %v %s", m, resp.StatusCode, resp.Header, body)
		}
		if m == "GET" && errorCode(t, body) != "MethodNotAllowed" {
			t.Fatalf("GET of a marker's version: %s", body)
		}
	}
	if got := listAllVersions(t, c, "ver", 1000); strings.Join(got, " ") != fmt.Sprintf("k@%s(marker)* k@%s k@%s k@null", marker, v2, v1) {
		t.Fatalf("versions after delete: %v", got)
	}

	// Restore v1 by copying it onto its key.
	cp, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("ver"), Key: aws.String("k"),
		CopySource: aws.String("ver/k?versionId=" + v1)})
	if err != nil || aws.ToString(cp.CopySourceVersionId) != v1 || aws.ToString(cp.VersionId) <= marker {
		t.Fatalf("restore by copy: source %q new %q, %v", aws.ToString(cp.CopySourceVersionId), aws.ToString(cp.VersionId), err)
	}
	if body, _ := getVersion(t, c, "ver", "k", ""); body != "one" {
		t.Fatalf("after restore: %q", body)
	}
	// A copy of the current version onto itself, without new metadata, is still refused.
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("ver"), Key: aws.String("k"), CopySource: aws.String("ver/k")})
	wantCode(t, err, "InvalidRequest", 400)

	// Permanent deletes of versions: the marker, then v2; a missing version is 204.
	for _, vid := range []string{marker, v2, "0123456789abcdef0123456789abcdef"} {
		d, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("ver"), Key: aws.String("k"), VersionId: aws.String(vid)})
		if err != nil {
			t.Fatalf("DELETE versionId=%s: %v", vid, err)
		}
		if vid == marker && (!aws.ToBool(d.DeleteMarker) || aws.ToString(d.VersionId) != marker) {
			t.Fatalf("DELETE of the marker's version: marker %v version %q", aws.ToBool(d.DeleteMarker), aws.ToString(d.VersionId))
		}
		if vid == v2 && (aws.ToBool(d.DeleteMarker) || aws.ToString(d.VersionId) != v2) {
			t.Fatalf("DELETE of v2: marker %v version %q", aws.ToBool(d.DeleteMarker), aws.ToString(d.VersionId))
		}
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("ver"), Key: aws.String("k"), VersionId: aws.String(v2)})
	wantCode(t, err, "NoSuchVersion", 404)
	restored := aws.ToString(cp.VersionId)
	if got := listAllVersions(t, c, "ver", 1000); strings.Join(got, " ") != fmt.Sprintf("k@%s* k@%s k@null", restored, v1) {
		t.Fatalf("versions at the end: %v", got)
	}
	// Versioning never goes back to unversioned.
	resp, body := rawRequest(t, n.srv.URL, "PUT", "/ver?versioning", []byte(`<VersioningConfiguration><Status>Off</Status></VersioningConfiguration>`), nil, zeroTime, testSK)
	if resp.StatusCode != 400 || errorCode(t, body) != "MalformedXML" {
		t.Fatalf("versioning Off: %d %s", resp.StatusCode, body)
	}
}

// TestSuspendedNullVersion: a suspended bucket writes, overwrites and deletes the null
// version; the versions made while enabled stay.
func TestSuspendedNullVersion(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	c := n.client()
	mustCreateBucket(t, c, "susp")
	setVersioning(t, c, "susp", types.BucketVersioningStatusEnabled)
	kept := aws.ToString(mustPut(t, c, "susp", "k", []byte("kept")).VersionId)
	setVersioning(t, c, "susp", types.BucketVersioningStatusSuspended)
	for _, body := range []string{"null one", "null two"} {
		if v := aws.ToString(mustPut(t, c, "susp", "k", []byte(body)).VersionId); v != "null" {
			t.Fatalf("suspended PUT: version %q, want null", v)
		}
	}
	if got := listAllVersions(t, c, "susp", 1000); strings.Join(got, " ") != "k@null* k@"+kept {
		t.Fatalf("versions: %v", got)
	}
	if body, _ := getVersion(t, c, "susp", "k", "null"); body != "null two" {
		t.Fatalf("null version: %q", body)
	}
	blobs := n.blobCount()
	if blobs != 2 {
		t.Fatalf("%d blobs, want 2 (the kept version and the null one)", blobs)
	}
	d, err := c.DeleteObject(ctxT(t), &s3.DeleteObjectInput{Bucket: aws.String("susp"), Key: aws.String("k")})
	if err != nil || !aws.ToBool(d.DeleteMarker) || aws.ToString(d.VersionId) != "null" {
		t.Fatalf("suspended DELETE: marker %v version %q, %v", aws.ToBool(d.DeleteMarker), aws.ToString(d.VersionId), err)
	}
	if got := listAllVersions(t, c, "susp", 1000); strings.Join(got, " ") != "k@null(marker)* k@"+kept {
		t.Fatalf("versions after delete: %v", got)
	}
	if got := n.blobCount(); got != 1 {
		t.Fatalf("%d blobs after the null version was replaced by a marker, want 1", got)
	}
	if body, _ := getVersion(t, c, "susp", "k", kept); body != "kept" {
		t.Fatalf("kept version: %q", body)
	}
}

// TestDeleteObjectsVersions: DeleteObjects with and without VersionId entries reports the
// markers it made and the versions it removed.
func TestDeleteObjectsVersions(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	c := n.client()
	mustCreateBucket(t, c, "dov")
	setVersioning(t, c, "dov", types.BucketVersioningStatusEnabled)
	a1 := aws.ToString(mustPut(t, c, "dov", "a", []byte("a1")).VersionId)
	a2 := aws.ToString(mustPut(t, c, "dov", "a", []byte("a2")).VersionId)
	mustPut(t, c, "dov", "b", []byte("b"))
	out, err := c.DeleteObjects(ctxT(t), &s3.DeleteObjectsInput{Bucket: aws.String("dov"), Delete: &types.Delete{Objects: []types.ObjectIdentifier{
		{Key: aws.String("a"), VersionId: aws.String(a1)},
		{Key: aws.String("b")},
		{Key: aws.String("a"), VersionId: aws.String("0123456789abcdef0123456789abcdef")},
		{Key: aws.String("c"), VersionId: aws.String("bad")},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]types.DeletedObject{}
	for _, d := range out.Deleted {
		got[aws.ToString(d.Key)+"@"+aws.ToString(d.VersionId)] = d
	}
	if d, ok := got["a@"+a1]; !ok || aws.ToBool(d.DeleteMarker) {
		t.Fatalf("a@v1: %+v", out.Deleted)
	}
	d, ok := got["b@"]
	if !ok || !aws.ToBool(d.DeleteMarker) || aws.ToString(d.DeleteMarkerVersionId) == "" {
		t.Fatalf("b: want a marker, got %+v", d)
	}
	if _, ok := got["a@0123456789abcdef0123456789abcdef"]; !ok {
		t.Fatalf("a missing version not reported deleted: %+v", out.Deleted)
	}
	if len(out.Errors) != 1 || aws.ToString(out.Errors[0].Code) != "InvalidArgument" {
		t.Fatalf("errors: %+v", out.Errors)
	}
	// Deleting the marker by its version ID reports it as a marker.
	out, err = c.DeleteObjects(ctxT(t), &s3.DeleteObjectsInput{Bucket: aws.String("dov"), Delete: &types.Delete{Objects: []types.ObjectIdentifier{
		{Key: aws.String("b"), VersionId: d.DeleteMarkerVersionId}}}})
	if err != nil || len(out.Deleted) != 1 || !aws.ToBool(out.Deleted[0].DeleteMarker) ||
		aws.ToString(out.Deleted[0].DeleteMarkerVersionId) != aws.ToString(d.DeleteMarkerVersionId) {
		t.Fatalf("delete of a marker version: %+v %v", out, err)
	}
	if body := mustGet(t, c, "dov", "b"); string(body) != "b" {
		t.Fatalf("b after its marker went: %q", body)
	}
	if got := listAllVersions(t, c, "dov", 1000); strings.Join(got, " ") != "a@"+a2+"* b@"+aws.ToString(mustHeadVersion(t, c, "dov", "b"))+"*" {
		t.Fatalf("versions: %v", got)
	}
}

func mustHeadVersion(t *testing.T, c *s3.Client, bucket, key string) *string {
	t.Helper()
	h, err := c.HeadObject(ctxT(t), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	return h.VersionId
}

// TestListObjectVersionsPaging: every page size walks the same listing; prefix, delimiter and
// encoding-type work; an unversioned bucket lists null versions.
func TestListObjectVersionsPaging(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	c := n.client()
	mustCreateBucket(t, c, "plain")
	mustPut(t, c, "plain", "x", []byte("x"))
	mustPut(t, c, "plain", "y", []byte("y"))
	if got := listAllVersions(t, c, "plain", 1); strings.Join(got, " ") != "x@null* y@null*" {
		t.Fatalf("unversioned bucket: %v", got)
	}

	mustCreateBucket(t, c, "pages")
	setVersioning(t, c, "pages", types.BucketVersioningStatusEnabled)
	var want []string
	for _, k := range []string{"a", "d/1", "d/2", "k y", "z"} {
		var ids []string
		for i := range 4 {
			ids = append(ids, aws.ToString(mustPut(t, c, "pages", k, []byte(fmt.Sprint(k, i))).VersionId))
		}
		for i := len(ids) - 1; i >= 0; i-- {
			s := k + "@" + ids[i]
			if i == len(ids)-1 {
				s += "*"
			}
			want = append(want, s)
		}
	}
	for _, size := range []int32{1, 3, 7, 1000} {
		if got := listAllVersions(t, c, "pages", size); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("max-keys %d:\n got %v\nwant %v", size, got, want)
		}
	}
	res, err := c.ListObjectVersions(ctxT(t), &s3.ListObjectVersionsInput{Bucket: aws.String("pages"), Delimiter: aws.String("/")})
	if err != nil || len(res.CommonPrefixes) != 1 || aws.ToString(res.CommonPrefixes[0].Prefix) != "d/" || len(res.Versions) != 12 {
		t.Fatalf("delimiter: %+v %v", res, err)
	}
	res, err = c.ListObjectVersions(ctxT(t), &s3.ListObjectVersionsInput{Bucket: aws.String("pages"), Prefix: aws.String("d/")})
	if err != nil || len(res.Versions) != 8 {
		t.Fatalf("prefix: %d versions, %v", len(res.Versions), err)
	}
	// encoding-type=url: keys come back encoded (the SDK decodes them).
	resp, body := rawRequest(t, n.srv.URL, "GET", "/pages?versions&encoding-type=url&prefix=k", nil, nil, zeroTime, testSK)
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("<Key>k+y</Key>")) || !bytes.Contains(body, []byte("<EncodingType>url</EncodingType>")) {
		t.Fatalf("encoding-type=url: %d %s", resp.StatusCode, body)
	}
	// The first entry of a key is IsLatest; markers are <DeleteMarker> elements in order.
	if _, err := c.DeleteObject(ctxT(t), &s3.DeleteObjectInput{Bucket: aws.String("pages"), Key: aws.String("a")}); err != nil {
		t.Fatal(err)
	}
	_, body = rawRequest(t, n.srv.URL, "GET", "/pages?versions&prefix=a", nil, nil, zeroTime, testSK)
	if i, j := bytes.Index(body, []byte("<DeleteMarker>")), bytes.Index(body, []byte("<Version>")); i < 0 || j < i ||
		bytes.Count(body, []byte("<IsLatest>true</IsLatest>")) != 1 {
		t.Fatalf("marker listing: %s", body)
	}
}

// TestMultipartVersionsAndPartCopy: a completion makes a version and reports its ID; an
// UploadPartCopy copies the version it names.
func TestMultipartVersionsAndPartCopy(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{minPartSize: 1})
	c := n.client()
	mustCreateBucket(t, c, "mpv")
	setVersioning(t, c, "mpv", types.BucketVersioningStatusEnabled)
	old := aws.ToString(mustPut(t, c, "mpv", "src", []byte("old bytes")).VersionId)
	mustPut(t, c, "mpv", "src", []byte("new bytes"))
	ctx := ctxT(t)
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("mpv"), Key: aws.String("dst")})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("mpv"), Key: aws.String("dst"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), CopySource: aws.String("mpv/src?versionId=" + old)})
	if err != nil || aws.ToString(pc.CopySourceVersionId) != old {
		t.Fatalf("UploadPartCopy: %+v %v", pc, err)
	}
	done, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("mpv"), Key: aws.String("dst"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: pc.CopyPartResult.ETag}}}})
	if err != nil || aws.ToString(done.VersionId) == "" || aws.ToString(done.VersionId) == "null" {
		t.Fatalf("Complete: version %q, %v", aws.ToString(done.VersionId), err)
	}
	if body, out := getVersion(t, c, "mpv", "dst", ""); body != "old bytes" || aws.ToString(out.VersionId) != aws.ToString(done.VersionId) {
		t.Fatalf("completed object: %q version %q", body, aws.ToString(out.VersionId))
	}
}

// TestObjectTagging: tags on PUT, multipart and copy; Get/Put/DeleteObjectTagging by version;
// x-amz-tagging-count; S3's limits; bucket tagging.
func TestObjectTagging(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	c := n.client()
	ctx := ctxT(t)
	mustCreateBucket(t, c, "tags")
	setVersioning(t, c, "tags", types.BucketVersioningStatusEnabled)
	p1, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("tags"), Key: aws.String("k"), Body: strings.NewReader("1"),
		Tagging: aws.String("color=blue&Shape=round%20one")})
	if err != nil {
		t.Fatal(err)
	}
	tagsOf := func(vid string) string {
		t.Helper()
		in := &s3.GetObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("k")}
		if vid != "" {
			in.VersionId = aws.String(vid)
		}
		out, err := c.GetObjectTagging(ctx, in)
		if err != nil {
			t.Fatalf("GetObjectTagging %s: %v", vid, err)
		}
		var s []string
		for _, tg := range out.TagSet {
			s = append(s, aws.ToString(tg.Key)+"="+aws.ToString(tg.Value))
		}
		return strings.Join(s, ",")
	}
	if got := tagsOf(""); got != "Shape=round one,color=blue" {
		t.Fatalf("tags from x-amz-tagging: %q", got)
	}
	_, g := getVersion(t, c, "tags", "k", "")
	if aws.ToInt32(g.TagCount) != 2 {
		t.Fatalf("GET x-amz-tagging-count: %d", aws.ToInt32(g.TagCount))
	}
	if resp, _ := rawRequest(t, n.srv.URL, "HEAD", "/tags/k", nil, nil, zeroTime, testSK); resp.Header.Get("x-amz-tagging-count") != "2" {
		t.Fatalf("HEAD x-amz-tagging-count: %v", resp.Header)
	}
	v1 := aws.ToString(p1.VersionId)
	mustPut(t, c, "tags", "k", []byte("2"))
	if got := tagsOf(""); got != "" {
		t.Fatalf("a new version has no tags, got %q", got)
	}
	if _, err := c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("k"), VersionId: aws.String(v1),
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("only"), Value: aws.String("v1")}}}}); err != nil {
		t.Fatal(err)
	}
	if got := tagsOf(v1); got != "only=v1" {
		t.Fatalf("tags of v1: %q", got)
	}
	if _, err := c.DeleteObjectTagging(ctx, &s3.DeleteObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("k"), VersionId: aws.String(v1)}); err != nil {
		t.Fatal(err)
	}
	if got := tagsOf(v1); got != "" {
		t.Fatalf("tags of v1 after delete: %q", got)
	}

	// Limits: 11 tags, a 129-character key, a 257-character value, aws: keys, duplicates.
	var eleven []types.Tag
	for i := range 11 {
		eleven = append(eleven, types.Tag{Key: aws.String(fmt.Sprint("t", i)), Value: aws.String("v")})
	}
	for name, set := range map[string][]types.Tag{
		"11 tags":    eleven,
		"long key":   {{Key: aws.String(strings.Repeat("k", 129)), Value: aws.String("v")}},
		"long value": {{Key: aws.String("k"), Value: aws.String(strings.Repeat("v", 257))}},
		"aws: key":   {{Key: aws.String("aws:x"), Value: aws.String("v")}},
		"duplicate":  {{Key: aws.String("k"), Value: aws.String("1")}, {Key: aws.String("k"), Value: aws.String("2")}},
	} {
		_, err := c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("k"), Tagging: &types.Tagging{TagSet: set}})
		if apiCode(err) != "InvalidTag" || httpStatus(err) != 400 {
			t.Fatalf("%s: %v", name, err)
		}
	}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("tags"), Key: aws.String("k2"), Body: strings.NewReader("x"),
		Tagging: aws.String("a=1&a=2")})
	wantCode(t, err, "InvalidTag", 400)
	ten := eleven[:10]
	if _, err := c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("k"), Tagging: &types.Tagging{TagSet: ten}}); err != nil {
		t.Fatalf("10 tags: %v", err)
	}

	// Copy: tags follow with COPY (the default), are replaced with REPLACE.
	if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("tags"), Key: aws.String("copy"), CopySource: aws.String("tags/k")}); err != nil {
		t.Fatal(err)
	}
	out, err := c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("copy")})
	if err != nil || len(out.TagSet) != 10 {
		t.Fatalf("COPY directive: %d tags, %v", len(out.TagSet), err)
	}
	if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("tags"), Key: aws.String("copy"), CopySource: aws.String("tags/k"),
		TaggingDirective: types.TaggingDirectiveReplace, Tagging: aws.String("new=1")}); err != nil {
		t.Fatal(err)
	}
	out, err = c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("copy")})
	if err != nil || len(out.TagSet) != 1 || aws.ToString(out.TagSet[0].Key) != "new" {
		t.Fatalf("REPLACE directive: %+v, %v", out.TagSet, err)
	}
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("tags"), Key: aws.String("copy"), CopySource: aws.String("tags/k"), Tagging: aws.String("x=1")})
	wantCode(t, err, "InvalidArgument", 400)

	// Multipart: x-amz-tagging on CreateMultipartUpload tags the object.
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("tags"), Key: aws.String("mp"), Tagging: aws.String("mp=yes")})
	if err != nil {
		t.Fatal(err)
	}
	part, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("tags"), Key: aws.String("mp"), UploadId: up.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("p")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("tags"), Key: aws.String("mp"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}}}); err != nil {
		t.Fatal(err)
	}
	out, err = c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("mp")})
	if err != nil || len(out.TagSet) != 1 || aws.ToString(out.TagSet[0].Value) != "yes" {
		t.Fatalf("multipart tags: %+v, %v", out.TagSet, err)
	}

	// Bucket tagging.
	_, err = c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: aws.String("tags")})
	wantCode(t, err, "NoSuchTagSet", 404)
	if _, err := c.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: aws.String("tags"),
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("team"), Value: aws.String("storage")}}}}); err != nil {
		t.Fatal(err)
	}
	bt, err := c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: aws.String("tags")})
	if err != nil || len(bt.TagSet) != 1 || aws.ToString(bt.TagSet[0].Value) != "storage" {
		t.Fatalf("bucket tags: %+v %v", bt, err)
	}
	if _, err := c.DeleteBucketTagging(ctx, &s3.DeleteBucketTaggingInput{Bucket: aws.String("tags")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: aws.String("tags")})
	wantCode(t, err, "NoSuchTagSet", 404)
}

// rawResponseHead sends a signed request over a fresh connection and returns the response's
// status line and header lines exactly as the server wrote them (net/http would canonicalise
// the names).
func rawResponseHead(t *testing.T, base, method, path string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	req := signedRequest(t, base, method, path, nil, nil)
	req.Close = true
	conn, err := dialer.DialContext(ctxT(t), "tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	head, _, _ := strings.Cut(string(b), "\r\n\r\n")
	return head + "\r\n"
}

// TestExactMetadata: user metadata names come back as stored (lower case, not canonicalised),
// and Expires, Content-Encoding, Content-Language, Content-Disposition and Cache-Control byte
// for byte, on GET, HEAD and after copies with COPY and REPLACE.
func TestExactMetadata(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	c := n.client()
	mustCreateBucket(t, c, "meta")
	hdr := map[string]string{
		"X-Amz-Meta-Color": "blue", "x-amz-meta-camelCase": "Value With Case",
		"Expires": "Wed, 01 Dec 2094 16:00:00 GMT", "Content-Encoding": "deflate, gzip",
		"Content-Language": "de-CH, en;q=0.5", "Content-Disposition": `attachment; filename="a b.txt"`,
		"Cache-Control": "max-age=60, no-transform", "Content-Type": "text/plain; charset=utf-8",
	}
	if resp, body := rawRequest(t, n.srv.URL, "PUT", "/meta/k", []byte("data"), hdr, zeroTime, testSK); resp.StatusCode != 200 {
		t.Fatalf("PUT: %d %s", resp.StatusCode, body)
	}
	want := []string{
		"\r\nx-amz-meta-color: blue\r\n", "\r\nx-amz-meta-camelcase: Value With Case\r\n",
		"\r\nExpires: Wed, 01 Dec 2094 16:00:00 GMT\r\n", "\r\nContent-Encoding: deflate, gzip\r\n",
		"\r\nContent-Language: de-CH, en;q=0.5\r\n", "\r\nContent-Disposition: attachment; filename=\"a b.txt\"\r\n",
		"\r\nCache-Control: max-age=60, no-transform\r\n",
	}
	check := func(what, path string) {
		t.Helper()
		for _, m := range []string{"GET", "HEAD"} {
			head := rawResponseHead(t, n.srv.URL, m, path)
			for _, w := range want {
				if !strings.Contains(head, w) {
					t.Errorf("%s %s (%s): missing %q", m, path, what, strings.TrimSpace(w))
				}
			}
			if t.Failed() {
				t.Fatalf("response head:\n%s", head)
			}
		}
	}
	check("PUT", "/meta/k")
	if resp, body := rawRequest(t, n.srv.URL, "PUT", "/meta/copied", nil, map[string]string{"X-Amz-Copy-Source": "meta/k"}, zeroTime, testSK); resp.StatusCode != 200 {
		t.Fatalf("copy: %d %s", resp.StatusCode, body)
	}
	check("copy with COPY", "/meta/copied")
	repl := map[string]string{"X-Amz-Copy-Source": "meta/k", "X-Amz-Metadata-Directive": "REPLACE", "X-Amz-Meta-Other": "x",
		"Expires": "Thu, 02 Dec 2094 16:00:00 GMT", "Content-Encoding": "br"}
	if resp, body := rawRequest(t, n.srv.URL, "PUT", "/meta/replaced", nil, repl, zeroTime, testSK); resp.StatusCode != 200 {
		t.Fatalf("copy REPLACE: %d %s", resp.StatusCode, body)
	}
	head := rawResponseHead(t, n.srv.URL, "HEAD", "/meta/replaced")
	if !strings.Contains(head, "\r\nx-amz-meta-other: x\r\n") || strings.Contains(head, "x-amz-meta-color") ||
		!strings.Contains(head, "\r\nExpires: Thu, 02 Dec 2094 16:00:00 GMT\r\n") || !strings.Contains(head, "\r\nContent-Encoding: br\r\n") {
		t.Fatalf("REPLACE: %s", head)
	}
	// Through the SDK as well (it lower-cases names itself): the values round-trip.
	h, err := c.HeadObject(ctxT(t), &s3.HeadObjectInput{Bucket: aws.String("meta"), Key: aws.String("k")})
	if err != nil || h.Metadata["camelcase"] != "Value With Case" || aws.ToString(h.ContentEncoding) != "deflate, gzip" || aws.ToString(h.ExpiresString) != "Wed, 01 Dec 2094 16:00:00 GMT" {
		t.Fatalf("SDK HEAD: %+v %v", h, err)
	}
	// aws-chunked framing is not the object's encoding: the TLS client streams aws-chunked.
	if _, err := n.tlsClient().PutObject(ctxT(t), &s3.PutObjectInput{Bucket: aws.String("meta"), Key: aws.String("chunked"),
		Body: io.NopCloser(strings.NewReader("zz")), ContentEncoding: aws.String("gzip")}); err != nil {
		t.Fatal(err)
	}
	if head := rawResponseHead(t, n.srv.URL, "HEAD", "/meta/chunked"); !strings.Contains(head, "\r\nContent-Encoding: gzip\r\n") {
		t.Fatalf("aws-chunked upload: %s", head)
	}
}
