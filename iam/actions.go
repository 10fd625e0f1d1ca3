package iam

import "strings"

// S3Actions lists the action names of Amazon S3's authorization reference that a policy may
// name, NebulaIO's own operations' actions among them. A policy's Action or NotAction pattern
// must match at least one of them (a typo such as "s3:GetObjcet" is refused rather than
// silently matching nothing); naming an action of an operation NebulaIO does not implement is
// allowed, so that policies written for AWS keep working.
var S3Actions = []string{
	"s3:AbortMultipartUpload", "s3:BypassGovernanceRetention", "s3:CreateAccessPoint", "s3:CreateBucket",
	"s3:CreateJob", "s3:DeleteAccessPoint", "s3:DeleteAccessPointPolicy", "s3:DeleteBucket",
	"s3:DeleteBucketOwnershipControls", "s3:DeleteBucketPolicy", "s3:DeleteBucketWebsite", "s3:DeleteJobTagging",
	"s3:DeleteObject", "s3:DeleteObjectTagging", "s3:DeleteObjectVersion", "s3:DeleteObjectVersionTagging",
	"s3:DescribeJob", "s3:GetAccelerateConfiguration", "s3:GetAccessPoint", "s3:GetAccessPointPolicy",
	"s3:GetAccountPublicAccessBlock", "s3:GetAnalyticsConfiguration", "s3:GetBucketAcl", "s3:GetBucketCORS",
	"s3:GetBucketLocation", "s3:GetBucketLogging", "s3:GetBucketNotification", "s3:GetBucketObjectLockConfiguration",
	"s3:GetBucketOwnershipControls", "s3:GetBucketPolicy", "s3:GetBucketPolicyStatus", "s3:GetBucketPublicAccessBlock",
	"s3:GetBucketRequestPayment", "s3:GetBucketTagging", "s3:GetBucketVersioning", "s3:GetBucketWebsite",
	"s3:GetEncryptionConfiguration", "s3:GetIntelligentTieringConfiguration", "s3:GetInventoryConfiguration",
	"s3:GetLifecycleConfiguration", "s3:GetMetricsConfiguration", "s3:GetObject", "s3:GetObjectAcl",
	"s3:GetObjectAttributes", "s3:GetObjectLegalHold", "s3:GetObjectRetention", "s3:GetObjectTagging",
	"s3:GetObjectTorrent", "s3:GetObjectVersion", "s3:GetObjectVersionAcl", "s3:GetObjectVersionAttributes",
	"s3:GetObjectVersionForReplication", "s3:GetObjectVersionTagging", "s3:GetObjectVersionTorrent",
	"s3:GetReplicationConfiguration", "s3:ListAccessPoints", "s3:ListAllMyBuckets", "s3:ListBucket",
	"s3:ListBucketMultipartUploads", "s3:ListBucketVersions", "s3:ListJobs", "s3:ListMultipartUploadParts",
	"s3:ObjectOwnerOverrideToBucketOwner", "s3:PutAccelerateConfiguration", "s3:PutAccessPointPolicy",
	"s3:PutAccountPublicAccessBlock", "s3:PutAnalyticsConfiguration", "s3:PutBucketAcl", "s3:PutBucketCORS",
	"s3:PutBucketLogging", "s3:PutBucketNotification", "s3:PutBucketObjectLockConfiguration",
	"s3:PutBucketOwnershipControls", "s3:PutBucketPolicy", "s3:PutBucketPublicAccessBlock",
	"s3:PutBucketRequestPayment", "s3:PutBucketTagging", "s3:PutBucketVersioning", "s3:PutBucketWebsite",
	"s3:PutEncryptionConfiguration", "s3:PutIntelligentTieringConfiguration", "s3:PutInventoryConfiguration",
	"s3:PutLifecycleConfiguration", "s3:PutMetricsConfiguration", "s3:PutObject", "s3:PutObjectAcl",
	"s3:PutObjectLegalHold", "s3:PutObjectRetention", "s3:PutObjectTagging", "s3:PutObjectVersionAcl",
	"s3:PutObjectVersionTagging", "s3:PutReplicationConfiguration", "s3:ReplicateDelete", "s3:ReplicateObject",
	"s3:ReplicateTags", "s3:RestoreObject", "s3:UpdateJobPriority", "s3:UpdateJobStatus",
}

// IsS3Action reports whether name is one of S3Actions (case-insensitively, as AWS compares
// action names).
func IsS3Action(name string) bool {
	for _, a := range S3Actions {
		if strings.EqualFold(a, name) {
			return true
		}
	}
	return false
}

// checkActionPattern returns an error for an action pattern that is not "*" and not an s3:
// pattern matching at least one known action.
func checkActionPattern(p string) error {
	if p == "*" {
		return nil
	}
	if len(p) < 3 || !strings.EqualFold(p[:3], "s3:") {
		return perr("action %q: only s3: actions are supported", p)
	}
	for _, a := range S3Actions {
		if match(p, a, true) {
			return nil
		}
	}
	return perr("action %q matches no S3 action", p)
}
