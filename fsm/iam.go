package fsm

import (
	"errors"
	"fmt"
	"slices"
)

// Identities and access (see doc.go, "Identities and access"): users with access keys, named
// identity policies attached to them, and each bucket's access settings (policy, canned ACL,
// public access block). The FSM stores what the proposer sealed and parsed; it neither
// decrypts secrets nor parses policy documents (package iam does, in the HTTP layer), but it
// enforces every rule that must hold whatever the order of concurrent proposals: unique names
// and access keys, no policy deleted while attached, and the public access block against a
// public policy or ACL.

// Event types of identities and access. They start at 40, away from the numbers other
// features take (which grow from 22): never reuse or renumber one.
const (
	TypeCreateUser           EventType = 40
	TypeDeleteUser           EventType = 41
	TypeSetUserStatus        EventType = 42
	TypeSetUserSecret        EventType = 43
	TypePutPolicy            EventType = 44
	TypeDeletePolicy         EventType = 45
	TypeAttachUserPolicy     EventType = 46
	TypeDetachUserPolicy     EventType = 47
	TypePutBucketPolicy      EventType = 48
	TypePutPublicAccessBlock EventType = 49
	TypePutBucketACL         EventType = 50
)

var iamTypeNames = map[EventType]string{
	TypeCreateUser: "CreateUser", TypeDeleteUser: "DeleteUser", TypeSetUserStatus: "SetUserStatus",
	TypeSetUserSecret: "SetUserSecret", TypePutPolicy: "PutPolicy", TypeDeletePolicy: "DeletePolicy",
	TypeAttachUserPolicy: "AttachUserPolicy", TypeDetachUserPolicy: "DetachUserPolicy",
	TypePutBucketPolicy: "PutBucketPolicy", TypePutPublicAccessBlock: "PutPublicAccessBlock",
	TypePutBucketACL: "PutBucketACL",
}

// Snapshot key prefixes of identities and access, from 0x20 for the same reason.
const (
	prefixUser         byte = 0x20 // (user name) → UserInfo
	prefixAccessKey    byte = 0x21 // (access key) → the user that holds it
	prefixPolicy       byte = 0x22 // (policy name) → PolicyInfo
	prefixBucketAccess byte = 0x23 // (bucket) → BucketAccess
)

// Limits of identities and access.
const (
	// MaxUserPolicies is the number of policies one user may have attached (AWS's quota).
	MaxUserPolicies = 20
	// MaxPolicyDocument bounds a policy document (identity or bucket): 20 KiB, AWS's limit
	// for bucket policies.
	MaxPolicyDocument = 20 << 10
	maxUserNameLen    = 64
	maxPolicyNameLen  = 128
	maxAccessKeyLen   = 128
	maxSealedLen      = 1024
)

// Error codes of identities and access (Result.Err.Code; the admin API maps them).
const (
	CodeNoSuchUser        = "NoSuchUser"
	CodeUserAlreadyExists = "UserAlreadyExists"
	CodeAccessKeyInUse    = "AccessKeyInUse" // another user (or a deleted one's record) holds it
	CodeNoSuchPolicy      = "NoSuchPolicy"   // no such policy, or not attached (detach)
	CodePolicyInUse       = "PolicyInUse"    // a policy still attached to a user
	CodeLimitExceeded     = "LimitExceeded"  // more than MaxUserPolicies attached
	// CodeNoSuchBucketPolicy: GetBucketPolicy of a bucket without one (S3's code).
	CodeNoSuchBucketPolicy = "NoSuchBucketPolicy"
	// CodeNoSuchPublicAccessBlockConfiguration: the bucket's public access block was deleted.
	CodeNoSuchPublicAccessBlockConfiguration = "NoSuchPublicAccessBlockConfiguration"
)

// Canned ACLs a bucket may have; the record stores "" for private.
const (
	ACLPrivate           = "private"
	ACLPublicRead        = "public-read"
	ACLPublicReadWrite   = "public-read-write"
	ACLAuthenticatedRead = "authenticated-read"
)

// UserInfo is a user: an access key, its sealed secret, whether it is disabled, and the names
// of the policies attached to it (sorted).
type UserInfo struct {
	Name         string
	AccessKey    string
	SealedSecret string // opaque to the FSM (iam.Keyring.Seal)
	Disabled     bool
	Policies     []string
	Created      int64 // Unix ns
	Updated      int64 // when the secret was last set (creation or rotation), Unix ns
}

func (u UserInfo) clone() UserInfo {
	u.Policies = slices.Clone(u.Policies)
	return u
}

// PolicyInfo is a named identity policy: its document as given (JSON).
type PolicyInfo struct {
	Name     string
	Document string
	Updated  int64 // Unix ns
}

// PublicAccessBlock is a bucket's block-public-access configuration (S3's four switches).
// Configured false is "no configuration" (DeletePublicAccessBlock): nothing is blocked.
type PublicAccessBlock struct {
	Configured            bool
	BlockPublicACLs       bool // refuse a public canned ACL
	IgnorePublicACLs      bool // a public canned ACL grants anonymous requests nothing
	BlockPublicPolicy     bool // refuse a public bucket policy
	RestrictPublicBuckets bool // a public bucket policy grants anonymous requests nothing
}

// DefaultPublicAccessBlock is the configuration of a bucket that never had one set: all four
// switches on, as AWS creates new buckets since April 2023.
var DefaultPublicAccessBlock = PublicAccessBlock{Configured: true, BlockPublicACLs: true, IgnorePublicACLs: true,
	BlockPublicPolicy: true, RestrictPublicBuckets: true}

// BucketAccess is a bucket's access settings. A bucket without a record has no policy, the
// private ACL and DefaultPublicAccessBlock.
type BucketAccess struct {
	Bucket            string
	Policy            string // the bucket policy document; "" none
	PolicyPublic      bool   // the proposer judged the policy public (iam.Policy.IsPublic)
	ACL               string // canned ACL; "" private
	PublicAccessBlock PublicAccessBlock
}

func (a *BucketAccess) isDefault() bool {
	return a.Policy == "" && a.ACL == "" && a.PublicAccessBlock == DefaultPublicAccessBlock
}

// CreateUser creates a user with its access key, its sealed secret and the policies listed
// (which must exist). Rejections: InvalidArgument (a name, key or secret empty or too long),
// UserAlreadyExists, AccessKeyInUse, NoSuchPolicy, LimitExceeded.
type CreateUser struct {
	Name         string
	AccessKey    string
	SealedSecret string
	Created      int64
	Policies     []string // sorted, unique
}

// DeleteUser deletes a user and frees its access key: NoSuchUser.
type DeleteUser struct{ Name string }

// SetUserStatus disables or enables a user: NoSuchUser.
type SetUserStatus struct {
	Name     string
	Disabled bool
}

// SetUserSecret replaces a user's secret (key rotation; the access key stays): NoSuchUser.
type SetUserSecret struct {
	Name         string
	SealedSecret string
	Updated      int64
}

// PutPolicy creates or replaces a named identity policy (users attached to it get the new
// document). InvalidArgument for an empty or too long name or document.
type PutPolicy struct {
	Name     string
	Document string
	Updated  int64
}

// DeletePolicy deletes a policy: NoSuchPolicy, or PolicyInUse while a user has it attached.
type DeletePolicy struct{ Name string }

// AttachUserPolicy attaches a policy to a user (again: no change). NoSuchUser, NoSuchPolicy,
// LimitExceeded.
type AttachUserPolicy struct{ User, Policy string }

// DetachUserPolicy detaches a policy from a user: NoSuchUser, NoSuchPolicy (not attached).
type DetachUserPolicy struct{ User, Policy string }

// PutBucketPolicy sets a bucket's policy; an empty Policy removes it. Public is the
// proposer's judgement of the document (iam.Policy.IsPublic). Rejections: NoSuchBucket,
// InvalidArgument (too long), AccessDenied (a public policy while the bucket's
// BlockPublicPolicy is on).
type PutBucketPolicy struct {
	Bucket string
	Policy string
	Public bool
}

// PutPublicAccessBlock sets a bucket's public access block; Config.Configured false removes it
// (DeletePublicAccessBlock). NoSuchBucket.
type PutPublicAccessBlock struct {
	Bucket string
	Config PublicAccessBlock
}

// PutBucketACL sets a bucket's canned ACL (ACLPrivate, ACLPublicRead, ACLPublicReadWrite or
// ACLAuthenticatedRead). Rejections: NoSuchBucket, InvalidArgument (another ACL),
// AccessDenied (a public ACL while the bucket's BlockPublicACLs is on).
type PutBucketACL struct{ Bucket, ACL string }

func (*CreateUser) Type() EventType           { return TypeCreateUser }
func (*DeleteUser) Type() EventType           { return TypeDeleteUser }
func (*SetUserStatus) Type() EventType        { return TypeSetUserStatus }
func (*SetUserSecret) Type() EventType        { return TypeSetUserSecret }
func (*PutPolicy) Type() EventType            { return TypePutPolicy }
func (*DeletePolicy) Type() EventType         { return TypeDeletePolicy }
func (*AttachUserPolicy) Type() EventType     { return TypeAttachUserPolicy }
func (*DetachUserPolicy) Type() EventType     { return TypeDetachUserPolicy }
func (*PutBucketPolicy) Type() EventType      { return TypePutBucketPolicy }
func (*PutPublicAccessBlock) Type() EventType { return TypePutPublicAccessBlock }
func (*PutBucketACL) Type() EventType         { return TypePutBucketACL }

// newIAMEvent returns an empty event of an identities-and-access type t, or nil.
func newIAMEvent(t EventType) Event {
	switch t {
	case TypeCreateUser:
		return &CreateUser{}
	case TypeDeleteUser:
		return &DeleteUser{}
	case TypeSetUserStatus:
		return &SetUserStatus{}
	case TypeSetUserSecret:
		return &SetUserSecret{}
	case TypePutPolicy:
		return &PutPolicy{}
	case TypeDeletePolicy:
		return &DeletePolicy{}
	case TypeAttachUserPolicy:
		return &AttachUserPolicy{}
	case TypeDetachUserPolicy:
		return &DetachUserPolicy{}
	case TypePutBucketPolicy:
		return &PutBucketPolicy{}
	case TypePutPublicAccessBlock:
		return &PutPublicAccessBlock{}
	case TypePutBucketACL:
		return &PutBucketACL{}
	}
	return nil
}

// Bodies (all version 1; doc.go has the table).

func (ev *CreateUser) encodeBody(e *encoder) {
	e.str("user name", ev.Name)
	e.str("access key", ev.AccessKey)
	e.str("sealed secret", ev.SealedSecret)
	e.i64(ev.Created)
	encodeNames(e, "policies", ev.Policies)
}

func (ev *CreateUser) decodeBody(d *decoder) {
	ev.Name, ev.AccessKey, ev.SealedSecret = d.str("user name"), d.str("access key"), d.str("sealed secret")
	ev.Created = d.i64("created")
	ev.Policies = decodeNames(d, "policies")
}

func (ev *DeleteUser) encodeBody(e *encoder) { e.str("user name", ev.Name) }
func (ev *DeleteUser) decodeBody(d *decoder) { ev.Name = d.str("user name") }

func (ev *SetUserStatus) encodeBody(e *encoder) {
	e.str("user name", ev.Name)
	e.bool(ev.Disabled)
}

func (ev *SetUserStatus) decodeBody(d *decoder) {
	ev.Name, ev.Disabled = d.str("user name"), d.bool("disabled")
}

func (ev *SetUserSecret) encodeBody(e *encoder) {
	e.str("user name", ev.Name)
	e.str("sealed secret", ev.SealedSecret)
	e.i64(ev.Updated)
}

func (ev *SetUserSecret) decodeBody(d *decoder) {
	ev.Name, ev.SealedSecret, ev.Updated = d.str("user name"), d.str("sealed secret"), d.i64("updated")
}

func (ev *PutPolicy) encodeBody(e *encoder) {
	e.str("policy name", ev.Name)
	e.str("policy document", ev.Document)
	e.i64(ev.Updated)
}

func (ev *PutPolicy) decodeBody(d *decoder) {
	ev.Name, ev.Document, ev.Updated = d.str("policy name"), d.str("policy document"), d.i64("updated")
}

func (ev *DeletePolicy) encodeBody(e *encoder) { e.str("policy name", ev.Name) }
func (ev *DeletePolicy) decodeBody(d *decoder) { ev.Name = d.str("policy name") }

func (ev *AttachUserPolicy) encodeBody(e *encoder) {
	e.str("user name", ev.User)
	e.str("policy name", ev.Policy)
}

func (ev *AttachUserPolicy) decodeBody(d *decoder) {
	ev.User, ev.Policy = d.str("user name"), d.str("policy name")
}

func (ev *DetachUserPolicy) encodeBody(e *encoder) {
	e.str("user name", ev.User)
	e.str("policy name", ev.Policy)
}

func (ev *DetachUserPolicy) decodeBody(d *decoder) {
	ev.User, ev.Policy = d.str("user name"), d.str("policy name")
}

func (ev *PutBucketPolicy) encodeBody(e *encoder) {
	e.str("bucket", ev.Bucket)
	e.str("bucket policy", ev.Policy)
	e.bool(ev.Public)
}

func (ev *PutBucketPolicy) decodeBody(d *decoder) {
	ev.Bucket, ev.Policy, ev.Public = d.str("bucket"), d.str("bucket policy"), d.bool("public")
}

func (ev *PutPublicAccessBlock) encodeBody(e *encoder) {
	e.str("bucket", ev.Bucket)
	writePAB(e, ev.Config)
}

func (ev *PutPublicAccessBlock) decodeBody(d *decoder) {
	ev.Bucket = d.str("bucket")
	ev.Config = readPAB(d)
}

func (ev *PutBucketACL) encodeBody(e *encoder) {
	e.str("bucket", ev.Bucket)
	e.str("acl", ev.ACL)
}

func (ev *PutBucketACL) decodeBody(d *decoder) { ev.Bucket, ev.ACL = d.str("bucket"), d.str("acl") }

// Names lists (a user's policies): sorted, unique, at most MaxUserPolicies.
func encodeNames(e *encoder, what string, names []string) {
	for i := 1; i < len(names); i++ {
		if names[i-1] >= names[i] {
			e.fail("%s not sorted or duplicate %q", what, names[i])
		}
	}
	e.strs(what, names, MaxUserPolicies)
}

func decodeNames(d *decoder, what string) []string {
	names := d.strs(what, MaxUserPolicies)
	for i := 1; i < len(names) && d.err == nil; i++ {
		if names[i-1] >= names[i] {
			d.fail("%s not sorted or duplicate %q", what, names[i])
		}
	}
	return names
}

// The public access block as one byte: 1 BlockPublicAcls, 2 IgnorePublicAcls, 4
// BlockPublicPolicy, 8 RestrictPublicBuckets; 16 alone: not configured.
const (
	pabBlockACLs     = 1
	pabIgnoreACLs    = 2
	pabBlockPolicy   = 4
	pabRestrict      = 8
	pabNotConfigured = 16
)

func writePAB(e *encoder, c PublicAccessBlock) {
	if !c.Configured {
		if c != (PublicAccessBlock{}) {
			e.fail("public access block %+v: switches set without a configuration", c)
		}
		e.u8(pabNotConfigured)
		return
	}
	var b uint8
	for _, s := range []struct {
		on  bool
		bit uint8
	}{{c.BlockPublicACLs, pabBlockACLs}, {c.IgnorePublicACLs, pabIgnoreACLs}, {c.BlockPublicPolicy, pabBlockPolicy}, {c.RestrictPublicBuckets, pabRestrict}} {
		if s.on {
			b |= s.bit
		}
	}
	e.u8(b)
}

func readPAB(d *decoder) PublicAccessBlock {
	b := d.u8("public access block")
	switch {
	case d.err != nil:
		return PublicAccessBlock{}
	case b == pabNotConfigured:
		return PublicAccessBlock{}
	case b > pabBlockACLs|pabIgnoreACLs|pabBlockPolicy|pabRestrict:
		d.fail("public access block %#x", b)
		return PublicAccessBlock{}
	}
	return PublicAccessBlock{Configured: true, BlockPublicACLs: b&pabBlockACLs != 0, IgnorePublicACLs: b&pabIgnoreACLs != 0,
		BlockPublicPolicy: b&pabBlockPolicy != 0, RestrictPublicBuckets: b&pabRestrict != 0}
}

// --- records ---

func userKey(name string) string           { return keyOf(prefixUser, name) }
func accessKeyKey(key string) string       { return keyOf(prefixAccessKey, key) }
func policyKey(name string) string         { return keyOf(prefixPolicy, name) }
func bucketAccessKey(bucket string) string { return keyOf(prefixBucketAccess, bucket) }

// accessKeyRec maps an access key to its user (prefixAccessKey).
type accessKeyRec struct{ AccessKey, User string }

// isIAMPrefix reports the key prefixes of this file (each record's identity is one string).
func isIAMPrefix(p byte) bool { return p >= prefixUser && p <= prefixBucketAccess }

// Records, version 1 (doc.go, "Snapshot key space"):
//
//	user           string name, string access key, string sealed secret, u8 disabled,
//	               i64 created, i64 updated, list (≤ 20, sorted, unique) of string policy
//	access key     string access key, string user name
//	policy         string name, string document, i64 updated
//	bucket access  string bucket, string policy, u8 public, string acl, u8 public access block
func encodeIAMValue(rec any) ([]byte, bool, error) {
	e := startRecord()
	switch r := rec.(type) {
	case *UserInfo:
		e.str("user name", r.Name)
		e.str("access key", r.AccessKey)
		e.str("sealed secret", r.SealedSecret)
		e.bool(r.Disabled)
		e.i64(r.Created)
		e.i64(r.Updated)
		encodeNames(e, "policies", r.Policies)
	case *accessKeyRec:
		e.str("access key", r.AccessKey)
		e.str("user name", r.User)
	case *PolicyInfo:
		e.str("policy name", r.Name)
		e.str("policy document", r.Document)
		e.i64(r.Updated)
	case *BucketAccess:
		e.str("bucket", r.Bucket)
		e.str("bucket policy", r.Policy)
		e.bool(r.PolicyPublic)
		e.str("acl", r.ACL)
		writePAB(e, r.PublicAccessBlock)
	default:
		return nil, false, nil
	}
	return e.b, true, e.err
}

func decodeIAMValue(prefix byte, v []byte) (any, error) {
	d := openRecord(v)
	var rec any
	switch prefix {
	case prefixUser:
		u := &UserInfo{Name: d.str("user name"), AccessKey: d.str("access key"), SealedSecret: d.str("sealed secret"),
			Disabled: d.bool("disabled"), Created: d.i64("created"), Updated: d.i64("updated")}
		u.Policies = decodeNames(d, "policies")
		rec = u
	case prefixAccessKey:
		rec = &accessKeyRec{AccessKey: d.str("access key"), User: d.str("user name")}
	case prefixPolicy:
		rec = &PolicyInfo{Name: d.str("policy name"), Document: d.str("policy document"), Updated: d.i64("updated")}
	case prefixBucketAccess:
		a := &BucketAccess{Bucket: d.str("bucket"), Policy: d.str("bucket policy"), PolicyPublic: d.bool("public"), ACL: d.str("acl")}
		a.PublicAccessBlock = readPAB(d)
		if d.err == nil && (a.ACL == ACLPrivate || a.ACL != "" && !validACL(a.ACL) || a.PolicyPublic && a.Policy == "") {
			d.fail("bucket access record %+v", a)
		}
		rec = a
	default:
		return nil, fmt.Errorf("%w: no record under prefix %#x", ErrCorrupt, prefix)
	}
	return rec, d.finish()
}

func iamRecordKey(rec any) string {
	switch r := rec.(type) {
	case *UserInfo:
		return userKey(r.Name)
	case *accessKeyRec:
		return accessKeyKey(r.AccessKey)
	case *PolicyInfo:
		return policyKey(r.Name)
	case *BucketAccess:
		return bucketAccessKey(r.Bucket)
	}
	return ""
}

// --- apply ---

func (f *FSM) applyIAM(ev Event) *Result {
	switch ev := ev.(type) {
	case *CreateUser:
		return f.createUser(ev)
	case *DeleteUser:
		return f.deleteUser(ev)
	case *SetUserStatus:
		return f.updateUser(ev.Name, func(u *UserInfo) *Error { u.Disabled = ev.Disabled; return nil })
	case *SetUserSecret:
		return f.updateUser(ev.Name, func(u *UserInfo) *Error {
			if err := checkLen("sealed secret", ev.SealedSecret, maxSealedLen); err != nil {
				return err
			}
			u.SealedSecret, u.Updated = ev.SealedSecret, ev.Updated
			return nil
		})
	case *PutPolicy:
		return f.putPolicy(ev)
	case *DeletePolicy:
		return f.deletePolicy(ev)
	case *AttachUserPolicy:
		if _, ok := f.iamPolicy(ev.Policy); !ok {
			return reject(CodeNoSuchPolicy, "policy %q does not exist", ev.Policy)
		}
		return f.updateUser(ev.User, func(u *UserInfo) *Error {
			i, found := slices.BinarySearch(u.Policies, ev.Policy)
			if found {
				return nil
			}
			if len(u.Policies) >= MaxUserPolicies {
				return newErr(CodeLimitExceeded, "user %q has %d policies attached, the limit", u.Name, MaxUserPolicies)
			}
			u.Policies = slices.Insert(u.Policies, i, ev.Policy)
			return nil
		})
	case *DetachUserPolicy:
		return f.updateUser(ev.User, func(u *UserInfo) *Error {
			i, found := slices.BinarySearch(u.Policies, ev.Policy)
			if !found {
				return newErr(CodeNoSuchPolicy, "policy %q is not attached to user %q", ev.Policy, u.Name)
			}
			u.Policies = slices.Delete(u.Policies, i, i+1)
			return nil
		})
	case *PutBucketPolicy:
		return f.updateBucketAccess(ev.Bucket, func(a *BucketAccess) *Error {
			if len(ev.Policy) > MaxPolicyDocument {
				return newErr(CodeInvalidArgument, "bucket policy is %d bytes, limit %d", len(ev.Policy), MaxPolicyDocument)
			}
			if ev.Policy != "" && ev.Public && a.PublicAccessBlock.BlockPublicPolicy {
				return newErr(CodeAccessDenied, "bucket %q blocks public policies (BlockPublicPolicy): this policy grants public access", ev.Bucket)
			}
			a.Policy, a.PolicyPublic = ev.Policy, ev.Public && ev.Policy != ""
			return nil
		})
	case *PutPublicAccessBlock:
		return f.updateBucketAccess(ev.Bucket, func(a *BucketAccess) *Error {
			a.PublicAccessBlock = ev.Config
			if !ev.Config.Configured {
				a.PublicAccessBlock = PublicAccessBlock{}
			}
			return nil
		})
	case *PutBucketACL:
		return f.updateBucketAccess(ev.Bucket, func(a *BucketAccess) *Error {
			if !validACL(ev.ACL) {
				return newErr(CodeInvalidArgument, "canned ACL %q is not supported for buckets", ev.ACL)
			}
			if publicACL(ev.ACL) && a.PublicAccessBlock.BlockPublicACLs {
				return newErr(CodeAccessDenied, "bucket %q blocks public ACLs (BlockPublicAcls): %s grants public access", ev.Bucket, ev.ACL)
			}
			a.ACL = ev.ACL
			if a.ACL == ACLPrivate {
				a.ACL = ""
			}
			return nil
		})
	}
	return reject(CodeInvalidEvent, "unhandled event type %s", ev.Type())
}

func validACL(acl string) bool {
	return acl == ACLPrivate || acl == ACLPublicRead || acl == ACLPublicReadWrite || acl == ACLAuthenticatedRead
}

func publicACL(acl string) bool { return acl == ACLPublicRead || acl == ACLPublicReadWrite }

func checkLen(what, s string, max int) *Error {
	if s == "" || len(s) > max {
		return newErr(CodeInvalidArgument, "%s must be 1..%d bytes", what, max)
	}
	return nil
}

func (f *FSM) iamUser(name string) (*UserInfo, bool) {
	rec, ok := f.get(userKey(name))
	if !ok {
		return nil, false
	}
	return rec.(*UserInfo), true
}

func (f *FSM) iamPolicy(name string) (*PolicyInfo, bool) {
	rec, ok := f.get(policyKey(name))
	if !ok {
		return nil, false
	}
	return rec.(*PolicyInfo), true
}

func (f *FSM) createUser(ev *CreateUser) *Result {
	for _, c := range []*Error{checkLen("user name", ev.Name, maxUserNameLen), checkLen("access key", ev.AccessKey, maxAccessKeyLen),
		checkLen("sealed secret", ev.SealedSecret, maxSealedLen)} {
		if c != nil {
			return &Result{Err: c}
		}
	}
	if _, ok := f.iamUser(ev.Name); ok {
		return reject(CodeUserAlreadyExists, "user %q already exists", ev.Name)
	}
	if _, ok := f.get(accessKeyKey(ev.AccessKey)); ok {
		return reject(CodeAccessKeyInUse, "access key %q is in use", ev.AccessKey)
	}
	if len(ev.Policies) > MaxUserPolicies {
		return reject(CodeLimitExceeded, "%d policies; the limit is %d", len(ev.Policies), MaxUserPolicies)
	}
	for _, p := range ev.Policies {
		if _, ok := f.iamPolicy(p); !ok {
			return reject(CodeNoSuchPolicy, "policy %q does not exist", p)
		}
	}
	u := &UserInfo{Name: ev.Name, AccessKey: ev.AccessKey, SealedSecret: ev.SealedSecret, Created: ev.Created,
		Updated: ev.Created, Policies: slices.Clone(ev.Policies)}
	f.set(userKey(u.Name), u)
	f.set(accessKeyKey(u.AccessKey), &accessKeyRec{AccessKey: u.AccessKey, User: u.Name})
	return &Result{}
}

func (f *FSM) deleteUser(ev *DeleteUser) *Result {
	u, ok := f.iamUser(ev.Name)
	if !ok {
		return reject(CodeNoSuchUser, "user %q does not exist", ev.Name)
	}
	f.set(userKey(u.Name), nil)
	f.set(accessKeyKey(u.AccessKey), nil)
	return &Result{}
}

// updateUser applies change to a copy of the user's record and stores it (records are never
// modified in place), unless change refuses.
func (f *FSM) updateUser(name string, change func(u *UserInfo) *Error) *Result {
	old, ok := f.iamUser(name)
	if !ok {
		return reject(CodeNoSuchUser, "user %q does not exist", name)
	}
	u := old.clone()
	if err := change(&u); err != nil {
		return &Result{Err: err}
	}
	f.set(userKey(u.Name), &u)
	return &Result{}
}

func (f *FSM) putPolicy(ev *PutPolicy) *Result {
	if err := checkLen("policy name", ev.Name, maxPolicyNameLen); err != nil {
		return &Result{Err: err}
	}
	if err := checkLen("policy document", ev.Document, MaxPolicyDocument); err != nil {
		return &Result{Err: err}
	}
	f.set(policyKey(ev.Name), &PolicyInfo{Name: ev.Name, Document: ev.Document, Updated: ev.Updated})
	return &Result{}
}

func (f *FSM) deletePolicy(ev *DeletePolicy) *Result {
	if _, ok := f.iamPolicy(ev.Name); !ok {
		return reject(CodeNoSuchPolicy, "policy %q does not exist", ev.Name)
	}
	var holder string
	err := f.eachIAM(f.applyView(), prefixUser, func(rec any) bool {
		u := rec.(*UserInfo)
		if _, found := slices.BinarySearch(u.Policies, ev.Name); found {
			holder = u.Name
			return false
		}
		return true
	})
	if err != nil {
		panic(fmt.Sprintf("fsm: apply cannot read the snapshot runs: %v", err)) // as lookup does
	}
	if holder != "" {
		return reject(CodePolicyInUse, "policy %q is attached to user %q: detach it first", ev.Name, holder)
	}
	f.set(policyKey(ev.Name), nil)
	return &Result{}
}

// updateBucketAccess applies change to a copy of a bucket's access record; a record that is
// back to the defaults is removed.
func (f *FSM) updateBucketAccess(bucket string, change func(a *BucketAccess) *Error) *Result {
	b, ok := f.res.bucket(bucket)
	if !ok {
		return reject(CodeNoSuchBucket, "bucket %q does not exist", bucket)
	}
	a := BucketAccess{Bucket: bucket, PublicAccessBlock: DefaultPublicAccessBlock}
	if rec, ok := f.get(bucketAccessKey(bucket)); ok {
		a = *rec.(*BucketAccess)
	}
	if err := change(&a); err != nil {
		return &Result{Err: err}
	}
	var rec any
	if !a.isDefault() {
		rec = &a
	}
	return f.setBucketRecord(b, bucketAccessKey(bucket), rec)
}

// eachIAM calls fn with every record under prefix in v, in key order, until fn returns false.
func (f *FSM) eachIAM(v *view, prefix byte, fn func(rec any) bool) error {
	lo := string([]byte{prefix})
	it := v.iter(lo, keyEnd(lo), false, false)
	defer it.close()
	for it.next() {
		rec, err := it.record()
		if err != nil {
			return err
		}
		if !fn(rec) {
			break
		}
	}
	return it.err
}

// --- reads ---

func noCheck() error { return nil }

// User returns a user: NoSuchUser.
func (f *FSM) User(name string) (UserInfo, error) {
	rec, found, _, err := f.readGet(userKey(name), noCheck)
	switch {
	case err != nil:
		return UserInfo{}, err
	case !found:
		return UserInfo{}, newErr(CodeNoSuchUser, "user %q does not exist", name)
	}
	return rec.(*UserInfo).clone(), nil
}

// UserByAccessKey returns the user that holds an access key: NoSuchUser when none does.
func (f *FSM) UserByAccessKey(accessKey string) (UserInfo, error) {
	rec, found, _, err := f.readGet(accessKeyKey(accessKey), noCheck)
	if err != nil {
		return UserInfo{}, err
	}
	if found {
		u, err := f.User(rec.(*accessKeyRec).User)
		if err == nil && u.AccessKey == accessKey {
			return u, nil
		}
		if err != nil && !isCode(err, CodeNoSuchUser) {
			return UserInfo{}, err
		}
	}
	return UserInfo{}, newErr(CodeNoSuchUser, "no user has access key %q", accessKey)
}

func isCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// Users returns every user, by name.
func (f *FSM) Users() ([]UserInfo, error) {
	var out []UserInfo
	err := f.readIAM(prefixUser, func(rec any) { out = append(out, rec.(*UserInfo).clone()) })
	return out, err
}

// IAMPolicy returns a named identity policy: NoSuchPolicy.
func (f *FSM) IAMPolicy(name string) (PolicyInfo, error) {
	rec, found, _, err := f.readGet(policyKey(name), noCheck)
	switch {
	case err != nil:
		return PolicyInfo{}, err
	case !found:
		return PolicyInfo{}, newErr(CodeNoSuchPolicy, "policy %q does not exist", name)
	}
	return *rec.(*PolicyInfo), nil
}

// IAMPolicies returns every named identity policy, by name.
func (f *FSM) IAMPolicies() ([]PolicyInfo, error) {
	var out []PolicyInfo
	err := f.readIAM(prefixPolicy, func(rec any) { out = append(out, *rec.(*PolicyInfo)) })
	return out, err
}

// BucketAccess returns a bucket's access settings (the defaults when none was set):
// NoSuchBucket.
func (f *FSM) BucketAccess(bucket string) (BucketAccess, error) {
	rec, found, _, err := f.readGet(bucketAccessKey(bucket), f.bucketCheck(bucket))
	switch {
	case err != nil:
		return BucketAccess{}, err
	case !found:
		return BucketAccess{Bucket: bucket, PublicAccessBlock: DefaultPublicAccessBlock}, nil
	}
	return *rec.(*BucketAccess), nil
}

func (f *FSM) readIAM(prefix byte, fn func(rec any)) error {
	f.mu.RLock()
	v := f.readViewLocked()
	f.mu.RUnlock()
	defer v.close()
	return f.eachIAM(v, prefix, func(rec any) bool { fn(rec); return true })
}
