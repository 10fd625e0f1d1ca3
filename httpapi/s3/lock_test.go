package s3

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func lockBucket(t *testing.T, c *s3.Client, name string) {
	t.Helper()
	if _, err := c.CreateBucket(ctxT(t), &s3.CreateBucketInput{Bucket: aws.String(name), ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
		t.Fatalf("CreateBucket %s with object lock: %v", name, err)
	}
}

func deleteVersion(t *testing.T, c *s3.Client, bucket, key string, vid *string, bypass bool) error {
	t.Helper()
	in := &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: vid}
	if bypass {
		in.BypassGovernanceRetention = aws.Bool(true)
	}
	_, err := c.DeleteObject(ctxT(t), in)
	return err
}

// TestObjectLockBucketConfiguration: a bucket created with object lock is versioned for good;
// its configuration and default retention round trip; a versioned bucket can get object lock
// later, an unversioned one cannot; malformed configurations get S3's codes.
func TestObjectLockBucketConfiguration(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	c := n.client()
	lockBucket(t, c, "vault")
	v, err := c.GetBucketVersioning(ctxT(t), &s3.GetBucketVersioningInput{Bucket: aws.String("vault")})
	if err != nil || v.Status != types.BucketVersioningStatusEnabled {
		t.Fatalf("versioning of a lock bucket: %+v %v", v, err)
	}
	_, err = c.PutBucketVersioning(ctxT(t), &s3.PutBucketVersioningInput{Bucket: aws.String("vault"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusSuspended}})
	wantCode(t, err, "InvalidBucketState", 409)
	got, err := c.GetObjectLockConfiguration(ctxT(t), &s3.GetObjectLockConfigurationInput{Bucket: aws.String("vault")})
	if err != nil || got.ObjectLockConfiguration.ObjectLockEnabled != types.ObjectLockEnabledEnabled || got.ObjectLockConfiguration.Rule != nil {
		t.Fatalf("lock configuration %+v %v", got, err)
	}
	put := func(bucket string, rule *types.ObjectLockRule) error {
		_, err := c.PutObjectLockConfiguration(ctxT(t), &s3.PutObjectLockConfigurationInput{Bucket: aws.String(bucket),
			ObjectLockConfiguration: &types.ObjectLockConfiguration{ObjectLockEnabled: types.ObjectLockEnabledEnabled, Rule: rule}})
		return err
	}
	if err := put("vault", &types.ObjectLockRule{DefaultRetention: &types.DefaultRetention{Mode: types.ObjectLockRetentionModeCompliance, Years: aws.Int32(2)}}); err != nil {
		t.Fatal(err)
	}
	got, err = c.GetObjectLockConfiguration(ctxT(t), &s3.GetObjectLockConfigurationInput{Bucket: aws.String("vault")})
	if err != nil || got.ObjectLockConfiguration.Rule.DefaultRetention.Mode != types.ObjectLockRetentionModeCompliance ||
		aws.ToInt32(got.ObjectLockConfiguration.Rule.DefaultRetention.Years) != 2 || got.ObjectLockConfiguration.Rule.DefaultRetention.Days != nil {
		t.Fatalf("default retention %+v %v", got.ObjectLockConfiguration.Rule, err)
	}
	mustCreateBucket(t, c, "plain")
	_, err = c.GetObjectLockConfiguration(ctxT(t), &s3.GetObjectLockConfigurationInput{Bucket: aws.String("plain")})
	wantCode(t, err, "ObjectLockConfigurationNotFoundError", 404)
	wantCode(t, put("plain", nil), "InvalidBucketState", 409)
	setVersioning(t, c, "plain", types.BucketVersioningStatusEnabled)
	if err := put("plain", nil); err != nil {
		t.Fatalf("object lock on a versioned bucket: %v", err)
	}
	wantCode(t, put("vault", &types.ObjectLockRule{DefaultRetention: &types.DefaultRetention{Mode: types.ObjectLockRetentionModeGovernance, Days: aws.Int32(0)}}), "InvalidArgument", 400)
	wantCode(t, put("vault", &types.ObjectLockRule{DefaultRetention: &types.DefaultRetention{Mode: types.ObjectLockRetentionModeGovernance, Days: aws.Int32(1), Years: aws.Int32(1)}}), "MalformedXML", 400)
	wantCode(t, put("vault", &types.ObjectLockRule{DefaultRetention: &types.DefaultRetention{Mode: "WORM", Days: aws.Int32(1)}}), "MalformedXML", 400)
	md5sum := func(b []byte) string { s := md5.Sum(b); return base64.StdEncoding.EncodeToString(s[:]) }
	for _, doc := range []string{
		`<ObjectLockConfiguration><ObjectLockEnabled>Disabled</ObjectLockEnabled></ObjectLockConfiguration>`,
		`<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule/></ObjectLockConfiguration>`,
		`<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Unknown/></ObjectLockConfiguration>`,
	} {
		resp, out := rawRequest(t, n.srv.URL, "PUT", "/vault?object-lock", []byte(doc), map[string]string{"Content-MD5": md5sum([]byte(doc))}, zeroTime, testSK)
		if resp.StatusCode != 400 || errorCode(t, out) != "MalformedXML" {
			t.Errorf("%s: %d %s", doc, resp.StatusCode, out)
		}
	}
	if got, _ := c.GetObjectLockConfiguration(ctxT(t), &s3.GetObjectLockConfigurationInput{Bucket: aws.String("vault")}); aws.ToInt32(got.ObjectLockConfiguration.Rule.DefaultRetention.Years) != 2 {
		t.Fatal("a refused configuration changed the bucket")
	}
}

// TestObjectLockProtectsVersions: retention and legal hold set by headers, by the bucket's
// default and by PutObjectRetention/PutObjectLegalHold keep a version from every delete; a
// delete of the key adds a marker; GOVERNANCE yields to the bypass header, COMPLIANCE and legal
// holds do not; a retention ends on time.
func TestObjectLockProtectsVersions(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	c := n.client()
	lockBucket(t, c, "vault")
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	comp, err := c.PutObject(ctxT(t), &s3.PutObjectInput{Bucket: aws.String("vault"), Key: aws.String("backup"), Body: bytes.NewReader([]byte("one")),
		ObjectLockMode: types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: aws.Time(until)})
	if err != nil {
		t.Fatal(err)
	}
	head, err := c.HeadObject(ctxT(t), &s3.HeadObjectInput{Bucket: aws.String("vault"), Key: aws.String("backup")})
	if err != nil || head.ObjectLockMode != types.ObjectLockModeCompliance || !aws.ToTime(head.ObjectLockRetainUntilDate).Equal(until) {
		t.Fatalf("HEAD lock headers: %v %v %v", head.ObjectLockMode, head.ObjectLockRetainUntilDate, err)
	}
	wantCode(t, deleteVersion(t, c, "vault", "backup", comp.VersionId, false), "AccessDenied", 403)
	wantCode(t, deleteVersion(t, c, "vault", "backup", comp.VersionId, true), "AccessDenied", 403)
	d, err := c.DeleteObject(ctxT(t), &s3.DeleteObjectInput{Bucket: aws.String("vault"), Key: aws.String("backup")})
	if err != nil || !aws.ToBool(d.DeleteMarker) {
		t.Fatalf("delete of a locked key: %+v %v", d, err)
	}
	_, err = c.PutObjectRetention(ctxT(t), &s3.PutObjectRetentionInput{Bucket: aws.String("vault"), Key: aws.String("backup"), VersionId: comp.VersionId,
		Retention: &types.ObjectLockRetention{Mode: types.ObjectLockRetentionModeCompliance, RetainUntilDate: aws.Time(until.Add(-time.Minute))}, BypassGovernanceRetention: aws.Bool(true)})
	wantCode(t, err, "AccessDenied", 403)
	if _, err := c.PutObjectRetention(ctxT(t), &s3.PutObjectRetentionInput{Bucket: aws.String("vault"), Key: aws.String("backup"), VersionId: comp.VersionId,
		Retention: &types.ObjectLockRetention{Mode: types.ObjectLockRetentionModeCompliance, RetainUntilDate: aws.Time(until.Add(time.Hour))}}); err != nil {
		t.Fatalf("extend a COMPLIANCE retention: %v", err)
	}
	r, err := c.GetObjectRetention(ctxT(t), &s3.GetObjectRetentionInput{Bucket: aws.String("vault"), Key: aws.String("backup"), VersionId: comp.VersionId})
	if err != nil || !aws.ToTime(r.Retention.RetainUntilDate).Equal(until.Add(time.Hour)) {
		t.Fatalf("GetObjectRetention %+v %v", r, err)
	}

	// GOVERNANCE by the bucket default: the bypass lets it go.
	if _, err := c.PutObjectLockConfiguration(ctxT(t), &s3.PutObjectLockConfigurationInput{Bucket: aws.String("vault"),
		ObjectLockConfiguration: &types.ObjectLockConfiguration{ObjectLockEnabled: types.ObjectLockEnabledEnabled,
			Rule: &types.ObjectLockRule{DefaultRetention: &types.DefaultRetention{Mode: types.ObjectLockRetentionModeGovernance, Days: aws.Int32(1)}}}}); err != nil {
		t.Fatal(err)
	}
	gov := mustPut(t, c, "vault", "gov", []byte("g"))
	r, err = c.GetObjectRetention(ctxT(t), &s3.GetObjectRetentionInput{Bucket: aws.String("vault"), Key: aws.String("gov")})
	if err != nil || r.Retention.Mode != types.ObjectLockRetentionModeGovernance || time.Until(aws.ToTime(r.Retention.RetainUntilDate)) < 23*time.Hour {
		t.Fatalf("default retention: %+v %v", r, err)
	}
	wantCode(t, deleteVersion(t, c, "vault", "gov", gov.VersionId, false), "AccessDenied", 403)
	_, err = c.PutObjectRetention(ctxT(t), &s3.PutObjectRetentionInput{Bucket: aws.String("vault"), Key: aws.String("gov"), Retention: &types.ObjectLockRetention{}})
	wantCode(t, err, "AccessDenied", 403)
	if err := deleteVersion(t, c, "vault", "gov", gov.VersionId, true); err != nil {
		t.Fatalf("delete with the bypass: %v", err)
	}

	// Legal hold: no bypass; DeleteObjects reports each refusal.
	held, err := c.PutObject(ctxT(t), &s3.PutObjectInput{Bucket: aws.String("vault"), Key: aws.String("held"), Body: bytes.NewReader([]byte("h")),
		ObjectLockMode: types.ObjectLockModeGovernance, ObjectLockRetainUntilDate: aws.Time(time.Now().Add(2 * time.Second)),
		ObjectLockLegalHoldStatus: types.ObjectLockLegalHoldStatusOn})
	if err != nil {
		t.Fatal(err)
	}
	lh, err := c.GetObjectLegalHold(ctxT(t), &s3.GetObjectLegalHoldInput{Bucket: aws.String("vault"), Key: aws.String("held")})
	if err != nil || lh.LegalHold.Status != types.ObjectLockLegalHoldStatusOn {
		t.Fatalf("GetObjectLegalHold %+v %v", lh, err)
	}
	del, err := c.DeleteObjects(ctxT(t), &s3.DeleteObjectsInput{Bucket: aws.String("vault"), BypassGovernanceRetention: aws.Bool(true),
		Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("held"), VersionId: held.VersionId}, {Key: aws.String("backup"), VersionId: comp.VersionId}}}})
	if err != nil || len(del.Errors) != 2 || aws.ToString(del.Errors[0].Code) != "AccessDenied" || aws.ToString(del.Errors[1].Code) != "AccessDenied" {
		t.Fatalf("DeleteObjects of locked versions: %+v %v", del, err)
	}
	if _, err := c.PutObjectLegalHold(ctxT(t), &s3.PutObjectLegalHoldInput{Bucket: aws.String("vault"), Key: aws.String("held"),
		LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOff}}); err != nil {
		t.Fatal(err)
	}
	// The two-second retention ends on its own (polled: the server's clock decides).
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		err := deleteVersion(t, c, "vault", "held", held.VersionId, false)
		if err == nil {
			break
		}
		wantCode(t, err, "AccessDenied", 403)
		if time.Now().After(deadline) {
			t.Fatal("the version is still protected 20s after its retention ended")
		}
	}
	if _, err := c.GetObject(ctxT(t), &s3.GetObjectInput{Bucket: aws.String("vault"), Key: aws.String("backup"), VersionId: comp.VersionId}); err != nil {
		t.Fatalf("the COMPLIANCE version: %v", err)
	}
}

// TestObjectLockWrites: copies and multipart uploads take lock headers; the settings are
// refused on a bucket without object lock and when malformed.
func TestObjectLockWrites(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{minPartSize: 1})
	c := n.client()
	lockBucket(t, c, "vault")
	mustCreateBucket(t, c, "plain")
	mustPut(t, c, "plain", "src", []byte("source"))
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	cp, err := c.CopyObject(ctxT(t), &s3.CopyObjectInput{Bucket: aws.String("vault"), Key: aws.String("copy"), CopySource: aws.String("plain/src"),
		ObjectLockMode: types.ObjectLockModeGovernance, ObjectLockRetainUntilDate: aws.Time(until), ObjectLockLegalHoldStatus: types.ObjectLockLegalHoldStatusOn})
	if err != nil {
		t.Fatal(err)
	}
	head, err := c.HeadObject(ctxT(t), &s3.HeadObjectInput{Bucket: aws.String("vault"), Key: aws.String("copy")})
	if err != nil || head.ObjectLockLegalHoldStatus != types.ObjectLockLegalHoldStatusOn || head.ObjectLockMode != types.ObjectLockModeGovernance {
		t.Fatalf("copy: %+v %v", head, err)
	}
	wantCode(t, deleteVersion(t, c, "vault", "copy", cp.VersionId, true), "AccessDenied", 403)

	up, err := c.CreateMultipartUpload(ctxT(t), &s3.CreateMultipartUploadInput{Bucket: aws.String("vault"), Key: aws.String("mp"),
		ObjectLockMode: types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: aws.Time(until)})
	if err != nil {
		t.Fatal(err)
	}
	part, err := c.UploadPart(ctxT(t), &s3.UploadPartInput{Bucket: aws.String("vault"), Key: aws.String("mp"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("part"))})
	if err != nil {
		t.Fatal(err)
	}
	done, err := c.CompleteMultipartUpload(ctxT(t), &s3.CompleteMultipartUploadInput{Bucket: aws.String("vault"), Key: aws.String("mp"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag, ChecksumCRC32: part.ChecksumCRC32}}}})
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, deleteVersion(t, c, "vault", "mp", done.VersionId, true), "AccessDenied", 403)

	_, err = c.PutObject(ctxT(t), &s3.PutObjectInput{Bucket: aws.String("plain"), Key: aws.String("k"), Body: bytes.NewReader(nil),
		ObjectLockMode: types.ObjectLockModeGovernance, ObjectLockRetainUntilDate: aws.Time(until)})
	wantCode(t, err, "InvalidRequest", 400)
	_, err = c.PutObject(ctxT(t), &s3.PutObjectInput{Bucket: aws.String("vault"), Key: aws.String("k"), Body: bytes.NewReader(nil),
		ObjectLockMode: types.ObjectLockModeGovernance, ObjectLockRetainUntilDate: aws.Time(time.Now().Add(-time.Minute))})
	wantCode(t, err, "InvalidArgument", 400)
	_, err = c.GetObjectRetention(ctxT(t), &s3.GetObjectRetentionInput{Bucket: aws.String("plain"), Key: aws.String("src")})
	wantCode(t, err, "InvalidRequest", 400)
	mustPut(t, c, "vault", "free", []byte("f"))
	_, err = c.GetObjectRetention(ctxT(t), &s3.GetObjectRetentionInput{Bucket: aws.String("vault"), Key: aws.String("free")})
	wantCode(t, err, "NoSuchObjectLockConfiguration", 404)
	_, err = c.GetObjectLegalHold(ctxT(t), &s3.GetObjectLegalHoldInput{Bucket: aws.String("vault"), Key: aws.String("free")})
	wantCode(t, err, "NoSuchObjectLockConfiguration", 404)
	for _, hdr := range []map[string]string{
		{"X-Amz-Object-Lock-Mode": "WORM", "X-Amz-Object-Lock-Retain-Until-Date": "2099-01-01T00:00:00Z"},
		{"X-Amz-Object-Lock-Mode": "GOVERNANCE", "X-Amz-Object-Lock-Retain-Until-Date": "next year"},
		{"X-Amz-Object-Lock-Legal-Hold": "on"},
	} {
		resp, out := rawRequest(t, n.srv.URL, "PUT", "/vault/bad", []byte("x"), hdr, zeroTime, testSK)
		if resp.StatusCode != 400 || errorCode(t, out) != "InvalidArgument" {
			t.Errorf("%v: %d %s", hdr, resp.StatusCode, out)
		}
	}
	resp, out := rawRequest(t, n.srv.URL, "DELETE", "/vault/free", nil, map[string]string{"X-Amz-Bypass-Governance-Retention": "maybe"}, zeroTime, testSK)
	if resp.StatusCode != 400 || errorCode(t, out) != "InvalidArgument" {
		t.Errorf("bypass maybe: %d %s", resp.StatusCode, out)
	}
}
