package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/rs/zerolog"

	"github.com/nebulaio/nebulaio/lifecycle"
)

func putLifecycle(t *testing.T, c *s3.Client, bucket string, rules ...types.LifecycleRule) error {
	t.Helper()
	_, err := c.PutBucketLifecycleConfiguration(ctxT(t), &s3.PutBucketLifecycleConfigurationInput{Bucket: aws.String(bucket),
		LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: rules}})
	return err
}

// TestLifecycleConfiguration: every filter form and action round trips through the AWS SDK;
// what S3 refuses is refused with its code, transitions are NotImplemented, and a refused
// configuration leaves the stored one as it was.
func TestLifecycleConfiguration(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	c := n.client()
	mustCreateBucket(t, c, "logs")
	_, err := c.GetBucketLifecycleConfiguration(ctxT(t), &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String("logs")})
	wantCode(t, err, "NoSuchLifecycleConfiguration", 404)
	date := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	rules := []types.LifecycleRule{
		{ID: aws.String("tmp"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("tmp/")},
			Expiration: &types.LifecycleExpiration{Days: aws.Int32(7)}},
		{ID: aws.String("and"), Status: types.ExpirationStatusDisabled, Filter: &types.LifecycleRuleFilter{And: &types.LifecycleRuleAndOperator{
			Prefix: aws.String("logs/"), Tags: []types.Tag{{Key: aws.String("class"), Value: aws.String("debug")}},
			ObjectSizeGreaterThan: aws.Int64(0), ObjectSizeLessThan: aws.Int64(1 << 20)}},
			Expiration: &types.LifecycleExpiration{Date: aws.Time(date)}},
		{ID: aws.String("tag"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Tag: &types.Tag{Key: aws.String("k"), Value: aws.String("v")}},
			NoncurrentVersionExpiration: &types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(30), NewerNoncurrentVersions: aws.Int32(3)}},
		{ID: aws.String("size"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{ObjectSizeGreaterThan: aws.Int64(1 << 30)},
			Expiration: &types.LifecycleExpiration{Days: aws.Int32(1)}},
		{ID: aws.String("hygiene"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("")},
			Expiration:                     &types.LifecycleExpiration{ExpiredObjectDeleteMarker: aws.Bool(true)},
			AbortIncompleteMultipartUpload: &types.AbortIncompleteMultipartUpload{DaysAfterInitiation: aws.Int32(3)}},
	}
	if err := putLifecycle(t, c, "logs", rules...); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetBucketLifecycleConfiguration(ctxT(t), &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String("logs")})
	if err != nil || len(got.Rules) != len(rules) {
		t.Fatalf("GetBucketLifecycleConfiguration %+v %v", got, err)
	}
	for i, r := range got.Rules {
		w := rules[i]
		if aws.ToString(r.ID) != aws.ToString(w.ID) || r.Status != w.Status || fmt.Sprint(r.Filter) == "" {
			t.Fatalf("rule %d: %+v, want %+v", i, r, w)
		}
	}
	if f := got.Rules[1].Filter.And; f == nil || aws.ToString(f.Prefix) != "logs/" || len(f.Tags) != 1 || aws.ToInt64(f.ObjectSizeLessThan) != 1<<20 ||
		!aws.ToTime(got.Rules[1].Expiration.Date).Equal(date) {
		t.Fatalf("And filter: %+v %+v", f, got.Rules[1].Expiration)
	}
	if nc := got.Rules[2].NoncurrentVersionExpiration; aws.ToInt32(nc.NoncurrentDays) != 30 || aws.ToInt32(nc.NewerNoncurrentVersions) != 3 ||
		aws.ToString(got.Rules[2].Filter.Tag.Key) != "k" {
		t.Fatalf("noncurrent rule %+v", got.Rules[2])
	}
	if h := got.Rules[4]; !aws.ToBool(h.Expiration.ExpiredObjectDeleteMarker) || aws.ToInt32(h.AbortIncompleteMultipartUpload.DaysAfterInitiation) != 3 {
		t.Fatalf("hygiene rule %+v", h)
	}
	bad := []struct {
		name string
		rule types.LifecycleRule
		code string
	}{
		{"zero days", types.LifecycleRule{ID: aws.String("x"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("")},
			Expiration: &types.LifecycleExpiration{Days: aws.Int32(0)}}, "InvalidArgument"},
		{"date not at midnight", types.LifecycleRule{ID: aws.String("x"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("")},
			Expiration: &types.LifecycleExpiration{Date: aws.Time(date.Add(time.Hour))}}, "InvalidArgument"},
		{"marker with a tag filter", types.LifecycleRule{ID: aws.String("x"), Status: types.ExpirationStatusEnabled,
			Filter:     &types.LifecycleRuleFilter{Tag: &types.Tag{Key: aws.String("a"), Value: aws.String("b")}},
			Expiration: &types.LifecycleExpiration{ExpiredObjectDeleteMarker: aws.Bool(true)}}, "InvalidRequest"},
		{"no action", types.LifecycleRule{ID: aws.String("x"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("")}}, "InvalidRequest"},
		{"no filter", types.LifecycleRule{ID: aws.String("x"), Status: types.ExpirationStatusEnabled, Expiration: &types.LifecycleExpiration{Days: aws.Int32(1)}}, "MalformedXML"},
		{"transition", types.LifecycleRule{ID: aws.String("x"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("")},
			Transitions: []types.Transition{{Days: aws.Int32(30), StorageClass: types.TransitionStorageClassGlacier}}}, "NotImplemented"},
		{"noncurrent transition", types.LifecycleRule{ID: aws.String("x"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("")},
			NoncurrentVersionTransitions: []types.NoncurrentVersionTransition{{NoncurrentDays: aws.Int32(30), StorageClass: types.TransitionStorageClassGlacier}}}, "NotImplemented"},
		{"newer noncurrent out of range", types.LifecycleRule{ID: aws.String("x"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("")},
			NoncurrentVersionExpiration: &types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(1), NewerNoncurrentVersions: aws.Int32(101)}}, "InvalidArgument"},
		{"sizes crossed", types.LifecycleRule{ID: aws.String("x"), Status: types.ExpirationStatusEnabled,
			Filter:     &types.LifecycleRuleFilter{And: &types.LifecycleRuleAndOperator{ObjectSizeGreaterThan: aws.Int64(10), ObjectSizeLessThan: aws.Int64(5)}},
			Expiration: &types.LifecycleExpiration{Days: aws.Int32(1)}}, "InvalidArgument"},
	}
	for _, tc := range bad {
		if err := putLifecycle(t, c, "logs", tc.rule); apiCode(err) != tc.code {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
	wantCode(t, putLifecycle(t, c, "logs", rules[0], rules[0]), "InvalidArgument", 400) // the same ID twice
	for _, doc := range []string{
		`<LifecycleConfiguration></LifecycleConfiguration>`,
		`<LifecycleConfiguration><Rule><ID>a</ID><Status>On</Status><Filter/><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>`,
		`<LifecycleConfiguration><Rule><ID>a</ID><Status>Enabled</Status><Filter><Prefix>a</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>`,
		`<LifecycleConfiguration><Rule><ID>a</ID><Status>Enabled</Status><Filter/><Expiration><Days>1</Days></Expiration><Frobnicate/></Rule></LifecycleConfiguration>`,
	} {
		sum := md5.Sum([]byte(doc))
		resp, out := rawRequest(t, n.srv.URL, "PUT", "/logs?lifecycle", []byte(doc), map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(sum[:])}, zeroTime, testSK)
		if resp.StatusCode != 400 || errorCode(t, out) != "MalformedXML" {
			t.Errorf("%s: %d %s", doc, resp.StatusCode, out)
		}
	}
	// A rule without an ID gets one, and a legacy rule-level Prefix reads back as such.
	doc := `<LifecycleConfiguration><Rule><Prefix>old/</Prefix><Status>Enabled</Status><Expiration><Days>2</Days></Expiration></Rule></LifecycleConfiguration>`
	sum := md5.Sum([]byte(doc))
	if resp, out := rawRequest(t, n.srv.URL, "PUT", "/logs?lifecycle", []byte(doc), map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(sum[:])}, zeroTime, testSK); resp.StatusCode != 200 {
		t.Fatalf("legacy rule: %d %s", resp.StatusCode, out)
	}
	resp, out := rawRequest(t, n.srv.URL, "GET", "/logs?lifecycle", nil, nil, zeroTime, testSK)
	if resp.StatusCode != 200 || !strings.Contains(string(out), "<Rule><ID>") || !strings.Contains(string(out), "<Prefix>old/</Prefix><Status>") {
		t.Fatalf("legacy rule read back: %s", out)
	}
	if _, err := c.DeleteBucketLifecycle(ctxT(t), &s3.DeleteBucketLifecycleInput{Bucket: aws.String("logs")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetBucketLifecycleConfiguration(ctxT(t), &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String("logs")})
	wantCode(t, err, "NoSuchLifecycleConfiguration", 404)
}

// TestLifecycleExpiryEndToEnd runs the lifecycle runner against a node whose lifecycle day is
// a second: GET and HEAD announce the expiry (x-amz-expiration), then the current versions
// under the rule expire (a delete marker in a versioned bucket, gone in an unversioned one),
// noncurrent versions and old uploads go, a locked version stays, objects outside the rule are
// untouched, and the last-run summary says so.
func TestLifecycleExpiryEndToEnd(t *testing.T) {
	const lday = time.Second
	n := startNode(t, t.TempDir(), nodeOpts{lifecycleDay: lday})
	c := n.client()
	mustCreateBucket(t, c, "flat")
	lockBucket(t, c, "ver")
	rule := types.LifecycleRule{ID: aws.String("tmp-rule"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("tmp/")},
		Expiration:                     &types.LifecycleExpiration{Days: aws.Int32(2)},
		NoncurrentVersionExpiration:    &types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(1)},
		AbortIncompleteMultipartUpload: &types.AbortIncompleteMultipartUpload{DaysAfterInitiation: aws.Int32(1)}}
	for _, b := range []string{"flat", "ver"} {
		if err := putLifecycle(t, c, b, rule); err != nil {
			t.Fatal(err)
		}
	}
	mustPut(t, c, "flat", "tmp/a", []byte("a"))
	mustPut(t, c, "flat", "keep/b", []byte("b"))
	old := mustPut(t, c, "ver", "tmp/v", []byte("v1"))
	mustPut(t, c, "ver", "tmp/v", []byte("v2"))
	locked, err := c.PutObject(ctxT(t), &s3.PutObjectInput{Bucket: aws.String("ver"), Key: aws.String("tmp/locked"), Body: bytes.NewReader([]byte("l")),
		ObjectLockLegalHoldStatus: types.ObjectLockLegalHoldStatusOn})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, c, "ver", "tmp/locked", []byte("l2"))
	up, err := c.CreateMultipartUpload(ctxT(t), &s3.CreateMultipartUploadInput{Bucket: aws.String("ver"), Key: aws.String("tmp/upload")})
	if err != nil {
		t.Fatal(err)
	}
	head, err := c.HeadObject(ctxT(t), &s3.HeadObjectInput{Bucket: aws.String("flat"), Key: aws.String("tmp/a")})
	if err != nil || !strings.HasPrefix(aws.ToString(head.Expiration), `expiry-date="`) || !strings.HasSuffix(aws.ToString(head.Expiration), `", rule-id="tmp-rule"`) {
		t.Fatalf("x-amz-expiration on HEAD: %q %v", aws.ToString(head.Expiration), err)
	}
	// Two lifecycle days after the write, rounded up to a whole day: within [LastModified+2d,
	// LastModified+4d) since Last-Modified is the write time cut to the second.
	exp, err := http.ParseTime(strings.TrimSuffix(strings.TrimPrefix(aws.ToString(head.Expiration), `expiry-date="`), `", rule-id="tmp-rule"`))
	lm := aws.ToTime(head.LastModified)
	if err != nil || exp.Before(lm.Add(2*lday)) || !exp.Before(lm.Add(4*lday)) {
		t.Fatalf("expiry date %v for an object written at %v (%v)", exp, lm, err)
	}
	if h, _ := c.HeadObject(ctxT(t), &s3.HeadObjectInput{Bucket: aws.String("flat"), Key: aws.String("keep/b")}); h.Expiration != nil {
		t.Fatalf("x-amz-expiration on an object no rule expires: %q", aws.ToString(h.Expiration))
	}

	r := lifecycle.New(lifecycle.Config{Meta: n.fsm, Proposer: n.backend, Barrier: n.backend.Sync, IsLeader: n.eng.IsLeader,
		Day: lday, Interval: 100 * time.Millisecond, Logger: zerolog.Nop()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := c.HeadObject(ctxT(t), &s3.HeadObjectInput{Bucket: aws.String("flat"), Key: aws.String("tmp/a")})
		_, uerr := c.ListParts(ctxT(t), &s3.ListPartsInput{Bucket: aws.String("ver"), Key: aws.String("tmp/upload"), UploadId: up.UploadId})
		_, verr := c.HeadObject(ctxT(t), &s3.HeadObjectInput{Bucket: aws.String("ver"), Key: aws.String("tmp/v")})
		if httpStatus(err) == 404 && apiCode(uerr) == "NoSuchUpload" && httpStatus(verr) == 404 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not expired within 30s: %v / %v / %v", err, uerr, verr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := mustGet(t, c, "flat", "keep/b"); string(got) != "b" {
		t.Fatalf("an object outside the rule: %q", got)
	}
	vs, err := c.ListObjectVersions(ctxT(t), &s3.ListObjectVersionsInput{Bucket: aws.String("ver"), Prefix: aws.String("tmp/v")})
	if err != nil || len(vs.DeleteMarkers) != 1 {
		t.Fatalf("versions of tmp/v: %+v %v", vs, err)
	}
	for _, v := range vs.Versions {
		if aws.ToString(v.VersionId) == aws.ToString(old.VersionId) {
			// v1 became noncurrent when v2 was written; it goes a day after. Poll for it.
			waitGone(t, c, "ver", "tmp/v", old.VersionId)
		}
	}
	if _, err := c.HeadObject(ctxT(t), &s3.HeadObjectInput{Bucket: aws.String("ver"), Key: aws.String("tmp/locked"), VersionId: locked.VersionId}); err != nil {
		t.Fatalf("the version under legal hold: %v", err)
	}
	last, ok := r.LastRun()
	if !ok || last.Buckets != 2 || last.Examined == 0 {
		t.Fatalf("last run %+v", last)
	}
	var total lifecycle.Summary
	for deadline := time.Now().Add(10 * time.Second); total.Locked == 0; time.Sleep(50 * time.Millisecond) {
		total, _ = r.LastRun()
		if time.Now().After(deadline) {
			t.Fatalf("no pass counted the locked version: %+v", total)
		}
	}
}

// waitGone polls until version vid of key is gone (NoSuchVersion), failing after 30 seconds.
func waitGone(t *testing.T, c *s3.Client, bucket, key string, vid *string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, err := c.HeadObject(ctxT(t), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: vid})
		if httpStatus(err) == 404 {
			return
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && httpStatus(err) != 0 {
			t.Fatalf("HEAD version %s: %v", aws.ToString(vid), err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("version %s of %s not expired within 30s", aws.ToString(vid), key)
		}
	}
}
