package iam

import "fmt"

// Canned ACLs a bucket may have (x-amz-acl on CreateBucket and PutBucketAcl). NebulaIO keeps
// no ACL documents and no object ACLs: a bucket's canned ACL is a set of grants on the bucket
// and every object in it, evaluated like bucket policy statements.
const (
	ACLPrivate           = "private"
	ACLPublicRead        = "public-read"
	ACLPublicReadWrite   = "public-read-write"
	ACLAuthenticatedRead = "authenticated-read"
)

// CannedACLs lists the canned ACLs a bucket may have.
var CannedACLs = []string{ACLPrivate, ACLPublicRead, ACLPublicReadWrite, ACLAuthenticatedRead}

// ErrUnknownACL is returned by CannedACL for a name outside CannedACLs.
var ErrUnknownACL = fmt.Errorf("iam: canned ACL not supported for buckets (supported: %s, %s, %s, %s)",
	ACLPrivate, ACLPublicRead, ACLPublicReadWrite, ACLAuthenticatedRead)

// CannedACL returns the grants of bucket's canned ACL acl as a policy ("" and private grant
// nothing: nil):
//
//	public-read         everyone (anonymous included): the bucket READ permission's actions on the
//	                    bucket (s3:ListBucket, s3:ListBucketVersions, s3:ListBucketMultipartUploads)
//	                    and the object READ permission's on its objects (s3:GetObject, s3:GetObjectVersion)
//	public-read-write   as public-read, and the bucket WRITE permission's on its objects
//	                    (s3:PutObject, s3:DeleteObject, s3:AbortMultipartUpload)
//	authenticated-read  every signed request (this store's users): as public-read
func CannedACL(bucket, acl string) (*Policy, error) {
	var who Principals
	read := []string{"s3:GetObject", "s3:GetObjectVersion"}
	switch acl {
	case "", ACLPrivate:
		return nil, nil
	case ACLPublicRead:
		who.Any = true
	case ACLPublicReadWrite:
		who.Any = true
		read = append(read, "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload")
	case ACLAuthenticatedRead:
		who.Authenticated = true
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnknownACL, acl)
	}
	return &Policy{Version: Version2012, bucket: bucket, Statements: []Statement{
		{Sid: acl + "-bucket", Effect: Allow, Principals: &who, Actions: []string{"s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads"}, Resources: []string{arnS3 + bucket}},
		{Sid: acl + "-objects", Effect: Allow, Principals: &who, Actions: read, Resources: []string{arnS3 + bucket + "/*"}},
	}}, nil
}

// PublicACL reports whether a canned ACL grants access to anonymous requests.
func PublicACL(acl string) bool { return acl == ACLPublicRead || acl == ACLPublicReadWrite }

// BucketARN and ObjectARN name S3 resources as policies do.
func BucketARN(bucket string) string      { return arnS3 + bucket }
func ObjectARN(bucket, key string) string { return arnS3 + bucket + "/" + key }

// AllBucketsARN is the resource of ListAllMyBuckets (ListBuckets).
const AllBucketsARN = arnS3 + "*"
