package s3

import (
	"errors"
	"net/url"
	"testing"
)

func TestRoute(t *testing.T) {
	cases := []struct {
		method, bucket, key, query string
		copy                       bool
		op                         string
		err                        *Error
	}{
		{"GET", "", "", "", false, "ListBuckets", nil},
		{"PUT", "", "", "", false, "Unknown", ErrMethodNotAllowed},
		{"PUT", "b", "", "", false, "CreateBucket", nil},
		{"DELETE", "b", "", "", false, "DeleteBucket", nil},
		{"HEAD", "b", "", "", false, "HeadBucket", nil},
		{"GET", "b", "", "location", false, "GetBucketLocation", nil},
		{"GET", "b", "", "versioning", false, "GetBucketVersioning", nil},
		{"GET", "b", "", "acl", false, "GetBucketAcl", nil},
		{"GET", "b", "", "uploads&prefix=a", false, "ListMultipartUploads", nil},
		{"GET", "b", "", "list-type=2&x-id=ListObjectsV2", false, "ListObjectsV2", nil},
		{"GET", "b", "", "marker=a", false, "ListObjects", nil},
		{"POST", "b", "", "delete", false, "DeleteObjects", nil},
		{"PUT", "b", "", "policy", false, "PutBucketPolicy", nil},
		{"PUT", "b", "k", "", false, "PutObject", nil},
		{"PUT", "b", "k", "x-id=PutObject", true, "CopyObject", nil},
		{"PUT", "b", "k", "partNumber=1&uploadId=u", false, "UploadPart", nil},
		{"PUT", "b", "k", "partNumber=1&uploadId=u", true, "UploadPartCopy", nil},
		{"PUT", "b", "k", "uploadId=u", false, "UploadPart", ErrInvalidArgument},
		{"PUT", "b", "k", "tagging", false, "PutObjectTagging", nil},
		{"GET", "b", "k", "tagging&versionId=null", false, "GetObjectTagging", nil},
		{"DELETE", "b", "k", "tagging", false, "DeleteObjectTagging", nil},
		{"PUT", "b", "", "tagging", false, "PutBucketTagging", nil},
		{"GET", "b", "", "tagging", false, "GetBucketTagging", nil},
		{"DELETE", "b", "", "tagging", false, "DeleteBucketTagging", nil},
		{"PUT", "b", "", "versioning", false, "PutBucketVersioning", nil},
		{"GET", "b", "", "versions&key-marker=a&version-id-marker=null", false, "ListObjectVersions", nil},
		{"GET", "b", "k", "attributes", false, "GetObjectAttributes", nil},
		{"GET", "", "", "max-buckets=1&continuation-token=x&prefix=a", false, "ListBuckets", nil},
		{"GET", "b", "k", "response-content-type=a%2Fb&versionId=null", false, "GetObject", nil},
		{"GET", "b", "k", "versionId=3", false, "GetObject", nil},
		{"PUT", "b", "k", "versionId=3", false, "PutObject", ErrInvalidArgument},
		{"GET", "b", "k", "tagging&acl", false, "GetObjectAcl", ErrNotImplemented},
		{"PUT", "b", "", "acl", false, "PutBucketAcl", nil},
		{"PUT", "b", "k", "acl", false, "PutObjectAcl", ErrNotImplemented},
		{"GET", "b", "", "lifecycle", false, "GetBucketLifecycleConfiguration", nil},
		{"DELETE", "b", "", "lifecycle", false, "DeleteBucketLifecycle", nil},
		{"PUT", "b", "", "cors", false, "PutBucketCors", nil},
		{"PUT", "b", "k", "retention&versionId=null", false, "PutObjectRetention", nil},
		{"GET", "b", "k", "legal-hold", false, "GetObjectLegalHold", nil},
		{"PUT", "b", "", "object-lock", false, "PutObjectLockConfiguration", nil},
		{"DELETE", "b", "", "object-lock", false, "DeleteBucket", ErrNotImplemented},
		{"PUT", "b", "", "lifecycle&cors", false, "PutBucketLifecycleConfiguration", ErrNotImplemented},
		{"GET", "b", "", "logging", false, "Unknown", ErrNotImplemented},
		{"POST", "b", "", "", false, "PostObject", ErrMalformedPOSTRequest},
		{"GET", "b", "k", "uploadId=u", false, "ListParts", nil},
		{"GET", "b", "k", "acl", false, "GetObjectAcl", nil},
		{"GET", "b", "k", "partNumber=2", false, "GetObject", nil},
		{"HEAD", "b", "k", "", false, "HeadObject", nil},
		{"DELETE", "b", "k", "", false, "DeleteObject", nil},
		{"DELETE", "b", "k", "uploadId=u", false, "AbortMultipartUpload", nil},
		{"POST", "b", "k", "uploads", false, "CreateMultipartUpload", nil},
		{"POST", "b", "k", "uploadId=u", false, "CompleteMultipartUpload", nil},
		{"POST", "b", "k", "select&select-type=2", false, "Unknown", ErrNotImplemented},
		{"PATCH", "b", "k", "", false, "Unknown", ErrMethodNotAllowed},
	}
	for _, tc := range cases {
		q, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		op, fn, err := route(tc.method, tc.bucket, tc.key, q, tc.copy)
		if op != tc.op {
			t.Errorf("%s /%s/%s?%s: op %s, want %s", tc.method, tc.bucket, tc.key, tc.query, op, tc.op)
		}
		if _, ok := opMetrics[op]; !ok {
			t.Errorf("op %s has no metric", op)
		}
		switch {
		case tc.err == nil && (err != nil || fn == nil):
			t.Errorf("%s /%s/%s?%s: %v", tc.method, tc.bucket, tc.key, tc.query, err)
		case tc.err != nil && !errors.Is(err, tc.err):
			t.Errorf("%s /%s/%s?%s: error %v, want %s", tc.method, tc.bucket, tc.key, tc.query, err, tc.err.Code)
		}
	}
}

func TestParseRange(t *testing.T) {
	cases := []struct {
		spec          string
		size          int64
		start, length int64
		partial       bool
		err           bool
	}{
		{"", 10, 0, 10, false, false},
		{"bytes=0-4", 10, 0, 5, true, false},
		{"bytes=5-", 10, 5, 5, true, false},
		{"bytes=-3", 10, 7, 3, true, false},
		{"bytes=-30", 10, 0, 10, true, false},
		{"bytes=8-100", 10, 8, 2, true, false},
		{"bytes=10-", 10, 0, 0, false, true},
		{"bytes=-0", 10, 0, 0, false, true},
		{"bytes=0-0", 0, 0, 0, false, true},
		{"bytes=5-2", 10, 0, 10, false, false},
		{"bytes=0-1,3-4", 10, 0, 10, false, false},
		{"items=0-1", 10, 0, 10, false, false},
		{"bytes=x-1", 10, 0, 10, false, false},
	}
	for _, tc := range cases {
		s, l, p, err := parseRange(tc.spec, tc.size)
		if (err != nil) != tc.err || (err == nil && (s != tc.start || l != tc.length || p != tc.partial)) {
			t.Errorf("parseRange(%q, %d) = %d, %d, %v, %v", tc.spec, tc.size, s, l, p, err)
		}
	}
}

func TestCheckKey(t *testing.T) {
	for key, ok := range map[string]bool{
		"a": true, "a/b/c": true, "..a/b..": true, "./a": true, "é/ü": true,
		"..": false, "a/../b": false, "a/..": false, "a\x00b": false, "a\xffb": false,
		string(make([]byte, 1024)): false, // NUL
	} {
		if err := checkKey(key); (err == nil) != ok {
			t.Errorf("checkKey(%q) = %v", key, err)
		}
	}
	long := make([]byte, 1025)
	for i := range long {
		long[i] = 'k'
	}
	if err := checkKey(string(long)); !errors.Is(err, ErrKeyTooLong) {
		t.Errorf("1025-byte key: %v", err)
	}
	if err := checkKey(string(long[:1024])); err != nil {
		t.Errorf("1024-byte key: %v", err)
	}
}
