package s3

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestEveryOperation sends every S3 operation doc.go's table marks 501 and checks that it
// answers NotImplemented and changes nothing: an operation NebulaIO does not do is never
// accepted and dropped.
func TestEveryOperation(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	c := n.client()
	mustCreateBucket(t, c, "ops")
	mustPut(t, c, "ops", "k", []byte("x"))
	body := []byte("<X/>")
	cases := []struct{ op, method, path string }{
		{"CreateBucketMetadataConfiguration", "POST", "/ops?metadataConfiguration"},
		{"CreateBucketMetadataTableConfiguration", "POST", "/ops?metadataTable"},
		{"CreateSession", "GET", "/ops?session"},
		{"GetBucketAccelerateConfiguration", "GET", "/ops?accelerate"},
		{"GetBucketAnalyticsConfiguration", "GET", "/ops?analytics&id=a"},
		{"GetBucketIntelligentTieringConfiguration", "GET", "/ops?intelligent-tiering&id=a"},
		{"GetBucketInventoryConfiguration", "GET", "/ops?inventory&id=a"},
		{"GetBucketLogging", "GET", "/ops?logging"},
		{"GetBucketMetadataConfiguration", "GET", "/ops?metadataConfiguration"},
		{"GetBucketMetadataTableConfiguration", "GET", "/ops?metadataTable"},
		{"GetBucketMetricsConfiguration", "GET", "/ops?metrics&id=a"},
		{"GetBucketNotificationConfiguration", "GET", "/ops?notification"},
		{"GetBucketOwnershipControls", "GET", "/ops?ownershipControls"},
		{"GetBucketReplication", "GET", "/ops?replication"},
		{"GetBucketRequestPayment", "GET", "/ops?requestPayment"},
		{"GetBucketWebsite", "GET", "/ops?website"},
		{"GetObjectTorrent", "GET", "/ops/k?torrent"},
		{"ListBucketAnalyticsConfigurations", "GET", "/ops?analytics"},
		{"ListBucketIntelligentTieringConfigurations", "GET", "/ops?intelligent-tiering"},
		{"ListBucketInventoryConfigurations", "GET", "/ops?inventory"},
		{"ListBucketMetricsConfigurations", "GET", "/ops?metrics"},
		{"ListBuckets with bucket-region", "GET", "/?bucket-region=us-east-1"},
		{"ListDirectoryBuckets", "GET", "/?max-directory-buckets=10"},
		{"PutBucketAccelerateConfiguration", "PUT", "/ops?accelerate"},
		{"PutBucketAcl", "PUT", "/ops?acl"},
		{"PutBucketAnalyticsConfiguration", "PUT", "/ops?analytics&id=a"},
		{"PutBucketIntelligentTieringConfiguration", "PUT", "/ops?intelligent-tiering&id=a"},
		{"PutBucketInventoryConfiguration", "PUT", "/ops?inventory&id=a"},
		{"PutBucketLogging", "PUT", "/ops?logging"},
		{"PutBucketMetricsConfiguration", "PUT", "/ops?metrics&id=a"},
		{"PutBucketNotificationConfiguration", "PUT", "/ops?notification"},
		{"PutBucketOwnershipControls", "PUT", "/ops?ownershipControls"},
		{"PutBucketReplication", "PUT", "/ops?replication"},
		{"PutBucketRequestPayment", "PUT", "/ops?requestPayment"},
		{"PutBucketWebsite", "PUT", "/ops?website"},
		{"PutObjectAcl", "PUT", "/ops/k?acl"},
		{"RenameObject", "PUT", "/ops/k?renameObject"},
		{"RestoreObject", "POST", "/ops/k?restore"},
		{"SelectObjectContent", "POST", "/ops/k?select&select-type=2"},
		{"UpdateBucketMetadataInventoryTableConfiguration", "PUT", "/ops?metadataInventoryTable"},
		{"UpdateBucketMetadataJournalTableConfiguration", "PUT", "/ops?metadataJournalTable"},
		{"WriteGetObjectResponse", "POST", "/WriteGetObjectResponse"},
		{"DeleteBucketAnalyticsConfiguration", "DELETE", "/ops?analytics&id=a"},
		{"DeleteBucketIntelligentTieringConfiguration", "DELETE", "/ops?intelligent-tiering&id=a"},
		{"DeleteBucketInventoryConfiguration", "DELETE", "/ops?inventory&id=a"},
		{"DeleteBucketMetadataConfiguration", "DELETE", "/ops?metadataConfiguration"},
		{"DeleteBucketMetadataTableConfiguration", "DELETE", "/ops?metadataTable"},
		{"DeleteBucketMetricsConfiguration", "DELETE", "/ops?metrics&id=a"},
		{"DeleteBucketOwnershipControls", "DELETE", "/ops?ownershipControls"},
		{"DeleteBucketReplication", "DELETE", "/ops?replication"},
		{"DeleteBucketWebsite", "DELETE", "/ops?website"},
	}
	for _, tc := range cases {
		var b []byte
		if tc.method == "PUT" || tc.method == "POST" {
			b = body
		}
		resp, out := rawRequest(t, n.srv.URL, tc.method, tc.path, b, nil, zeroTime, testSK)
		if resp.StatusCode != 501 || errorCode(t, out) != "NotImplemented" {
			t.Errorf("%s (%s %s): %d %s, want 501 NotImplemented", tc.op, tc.method, tc.path, resp.StatusCode, out)
		}
	}
	// Nothing changed: the bucket and its one object are as they were, and DELETE /ops (which
	// the refused DELETE /ops?... would have been) was not done.
	lo, err := c.ListObjectsV2(ctxT(t), &s3.ListObjectsV2Input{Bucket: aws.String("ops")})
	if err != nil || len(lo.Contents) != 1 {
		t.Fatalf("after the refused operations: %+v %v", lo, err)
	}
}

// TestDeleteBucketWithVersions: a versioned bucket is not empty while any version or delete
// marker remains.
func TestDeleteBucketWithVersions(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	c := n.client()
	mustCreateBucket(t, c, "vbk")
	setVersioning(t, c, "vbk", types.BucketVersioningStatusEnabled)
	v := mustPut(t, c, "vbk", "k", []byte("x")).VersionId
	d, err := c.DeleteObject(ctxT(t), &s3.DeleteObjectInput{Bucket: aws.String("vbk"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteBucket(ctxT(t), &s3.DeleteBucketInput{Bucket: aws.String("vbk")})
	wantCode(t, err, "BucketNotEmpty", 409)
	for _, vid := range []*string{v, d.VersionId} {
		if _, err := c.DeleteObject(ctxT(t), &s3.DeleteObjectInput{Bucket: aws.String("vbk"), Key: aws.String("k"), VersionId: vid}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.DeleteBucket(ctxT(t), &s3.DeleteBucketInput{Bucket: aws.String("vbk")}); err != nil {
		t.Fatalf("DeleteBucket once every version is gone: %v", err)
	}
	if got := n.blobCount(); got != 0 {
		t.Fatalf("%d blobs left", got)
	}
}
