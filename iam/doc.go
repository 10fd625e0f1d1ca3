// Package iam is NebulaIO's identities and access vocabulary, free of HTTP and of raft: the
// subset of the AWS IAM policy language S3 tools use (parse, evaluate, judge public), the
// canned ACLs as policies, the sealing of users' secret keys, and the rules of names and keys.
// The FSM stores what this package produces (sealed secrets, policy documents); the S3 layer
// evaluates requests with it; the admin API creates users and policies with it.
//
// # Policy language subset
//
// A document is {"Version", "Id", "Statement"}; Version 2012-10-17 or 2008-10-17 (the
// default, as AWS). A statement has Sid, Effect (Allow or Deny), Action or NotAction, Resource
// or NotResource, Condition, and in bucket policies Principal. Refused, naming the element
// (ErrMalformedPolicy): unknown elements, NotPrincipal, policy variables (${...}), actions that
// are not s3: or match no S3 action (a typo never silently matches nothing), resources that
// are not S3 ARNs, a bucket policy resource outside its bucket or "*", a Principal in an
// identity policy or none in a bucket policy, principals other than "*", {"AWS": "*"},
// arn:aws:iam::<account>:root and arn:aws:iam::<account>:user/<name> (a user of this store; the
// account number is not checked: a store is one account), unsupported condition operators or
// keys. Wildcards: '*' any run, '?' one character; actions compare case-insensitively,
// resources and condition values exactly.
//
// Conditions: StringEquals, StringNotEquals, StringEqualsIgnoreCase, StringNotEqualsIgnoreCase,
// StringLike, StringNotLike, IpAddress, NotIpAddress, Bool, Null, each with ...IfExists (but
// Null); keys aws:SourceIp (IP or CIDR values), aws:SecureTransport (Bool), s3:prefix and
// s3:delimiter (present on listings only). Operators within a block, and keys within an
// operator, must all hold; any value of a key's list may match. A key absent from the request
// fails the condition, except for the negated operators, ...IfExists and Null.
//
// Evaluation (Evaluate) is AWS's within one account: an explicit Deny anywhere wins, then an
// Allow anywhere, else no decision (refused). IsPublic: an Allow to everyone not narrowed by
// an aws:SourceIp range of at least /8 (IPv4) or /32 (IPv6).
//
// # Canned ACLs
//
// A bucket's canned ACL covers the bucket and every object in it (NebulaIO keeps no object
// ACLs); CannedACL gives its grants as a policy, with the actions AWS maps to the READ and
// WRITE permissions: public-read lets everyone s3:ListBucket, s3:ListBucketVersions and
// s3:ListBucketMultipartUploads on the bucket, s3:GetObject and s3:GetObjectVersion on its
// objects; public-read-write adds s3:PutObject, s3:DeleteObject and s3:AbortMultipartUpload;
// authenticated-read grants public-read's to every signed request (this store's users);
// private grants nothing.
//
// # Sealed secrets
//
// SigV4 verification needs the secret key itself (it is an HMAC key), so it cannot be hashed.
// It is sealed with AES-256-GCM under a key derived (HKDF-SHA256, info "nebulaio iam secret
// sealing key v1") from the 32-byte master key (iam.master_key, or DeriveMasterKey of the
// cluster secret), which every node holds and nothing replicates:
//
//	+---------+-------------+-------------+-------------------------------------+
//	| version | key id      | nonce       | ciphertext ‖ GCM tag (16 bytes)     |
//	| u8 = 1  | 4 bytes     | 12 bytes    | len(secret) + 16 bytes              |
//	+---------+-------------+-------------+-------------------------------------+
//
// The key id (HKDF, info "nebulaio iam key id v1") names the master key without revealing it,
// so a node given another master key says so (ErrUnknownKey) instead of failing signatures.
// The additional data is "nebulaio iam user secret v1" ‖ 0 ‖ user ‖ 0 ‖ access key: a sealed
// secret copied into another user's record does not open. A Keyring may hold older master
// keys to open what they sealed while it seals with the newest (rotation: see
// docs/security.md).
package iam
