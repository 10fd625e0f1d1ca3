package s3

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/iam"
	"github.com/nebulaio/nebulaio/internal/authlimit"
)

// Authorization: what a principal may do (see doc.go, "Identities and access").

// scope is what an action's resource names.
type scope uint8

const (
	scopeService scope = iota // every bucket: arn:aws:s3:::* (ListBuckets)
	scopeBucket               // arn:aws:s3:::bucket
	scopeObject               // arn:aws:s3:::bucket/key
)

// opAction is the IAM action an operation needs.
type opAction struct {
	action  string // "s3:GetObject"
	version string // the action when the request names a version (?versionId=), if different
	scope   scope
	// inHandler: the handler authorizes, because the resource is known only once the body is
	// read — the form's key (PostObject), each key listed (DeleteObjects). Nothing else may
	// happen before it does.
	inHandler bool
}

// opActions maps every operation the router dispatches to the one action it needs (and its
// version variant). A test derives the operations from the router and fails on any without an
// entry here, so no operation can skip authorization. A copy also needs s3:GetObject (or
// s3:GetObjectVersion) on its source; a request with x-amz-bypass-governance-retention: true
// also needs s3:BypassGovernanceRetention on the object.
var opActions = map[string]opAction{
	"ListBuckets":                     {action: "s3:ListAllMyBuckets", scope: scopeService},
	"CreateBucket":                    {action: "s3:CreateBucket", scope: scopeBucket},
	"DeleteBucket":                    {action: "s3:DeleteBucket", scope: scopeBucket},
	"HeadBucket":                      {action: "s3:ListBucket", scope: scopeBucket},
	"ListObjects":                     {action: "s3:ListBucket", scope: scopeBucket},
	"ListObjectsV2":                   {action: "s3:ListBucket", scope: scopeBucket},
	"ListObjectVersions":              {action: "s3:ListBucketVersions", scope: scopeBucket},
	"ListMultipartUploads":            {action: "s3:ListBucketMultipartUploads", scope: scopeBucket},
	"GetBucketLocation":               {action: "s3:GetBucketLocation", scope: scopeBucket},
	"GetBucketVersioning":             {action: "s3:GetBucketVersioning", scope: scopeBucket},
	"PutBucketVersioning":             {action: "s3:PutBucketVersioning", scope: scopeBucket},
	"GetBucketAcl":                    {action: "s3:GetBucketAcl", scope: scopeBucket},
	"PutBucketAcl":                    {action: "s3:PutBucketAcl", scope: scopeBucket},
	"GetBucketTagging":                {action: "s3:GetBucketTagging", scope: scopeBucket},
	"PutBucketTagging":                {action: "s3:PutBucketTagging", scope: scopeBucket},
	"DeleteBucketTagging":             {action: "s3:PutBucketTagging", scope: scopeBucket},
	"GetObjectLockConfiguration":      {action: "s3:GetBucketObjectLockConfiguration", scope: scopeBucket},
	"PutObjectLockConfiguration":      {action: "s3:PutBucketObjectLockConfiguration", scope: scopeBucket},
	"GetBucketLifecycleConfiguration": {action: "s3:GetLifecycleConfiguration", scope: scopeBucket},
	"PutBucketLifecycleConfiguration": {action: "s3:PutLifecycleConfiguration", scope: scopeBucket},
	"DeleteBucketLifecycle":           {action: "s3:PutLifecycleConfiguration", scope: scopeBucket},
	"GetBucketCors":                   {action: "s3:GetBucketCORS", scope: scopeBucket},
	"PutBucketCors":                   {action: "s3:PutBucketCORS", scope: scopeBucket},
	"DeleteBucketCors":                {action: "s3:PutBucketCORS", scope: scopeBucket},
	"GetBucketPolicy":                 {action: "s3:GetBucketPolicy", scope: scopeBucket},
	"PutBucketPolicy":                 {action: "s3:PutBucketPolicy", scope: scopeBucket},
	"DeleteBucketPolicy":              {action: "s3:DeleteBucketPolicy", scope: scopeBucket},
	"GetBucketPolicyStatus":           {action: "s3:GetBucketPolicyStatus", scope: scopeBucket},
	"GetPublicAccessBlock":            {action: "s3:GetBucketPublicAccessBlock", scope: scopeBucket},
	"PutPublicAccessBlock":            {action: "s3:PutBucketPublicAccessBlock", scope: scopeBucket},
	"DeletePublicAccessBlock":         {action: "s3:PutBucketPublicAccessBlock", scope: scopeBucket},
	"GetBucketEncryption":             {action: "s3:GetEncryptionConfiguration", scope: scopeBucket},
	"PutBucketEncryption":             {action: "s3:PutEncryptionConfiguration", scope: scopeBucket},
	"DeleteBucketEncryption":          {action: "s3:PutEncryptionConfiguration", scope: scopeBucket},
	"DeleteObjects":                   {action: "s3:DeleteObject", version: "s3:DeleteObjectVersion", scope: scopeObject, inHandler: true},
	"PostObject":                      {action: "s3:PutObject", scope: scopeObject, inHandler: true},
	"PutObject":                       {action: "s3:PutObject", scope: scopeObject},
	"CopyObject":                      {action: "s3:PutObject", scope: scopeObject},
	"CreateMultipartUpload":           {action: "s3:PutObject", scope: scopeObject},
	"UploadPart":                      {action: "s3:PutObject", scope: scopeObject},
	"UploadPartCopy":                  {action: "s3:PutObject", scope: scopeObject},
	"CompleteMultipartUpload":         {action: "s3:PutObject", scope: scopeObject},
	"AbortMultipartUpload":            {action: "s3:AbortMultipartUpload", scope: scopeObject},
	"ListParts":                       {action: "s3:ListMultipartUploadParts", scope: scopeObject},
	"GetObject":                       {action: "s3:GetObject", version: "s3:GetObjectVersion", scope: scopeObject},
	"HeadObject":                      {action: "s3:GetObject", version: "s3:GetObjectVersion", scope: scopeObject},
	"GetObjectAttributes":             {action: "s3:GetObjectAttributes", version: "s3:GetObjectVersionAttributes", scope: scopeObject},
	"GetObjectAcl":                    {action: "s3:GetObjectAcl", version: "s3:GetObjectVersionAcl", scope: scopeObject},
	"GetObjectTagging":                {action: "s3:GetObjectTagging", version: "s3:GetObjectVersionTagging", scope: scopeObject},
	"PutObjectTagging":                {action: "s3:PutObjectTagging", version: "s3:PutObjectVersionTagging", scope: scopeObject},
	"DeleteObjectTagging":             {action: "s3:DeleteObjectTagging", version: "s3:DeleteObjectVersionTagging", scope: scopeObject},
	"GetObjectRetention":              {action: "s3:GetObjectRetention", scope: scopeObject},
	"PutObjectRetention":              {action: "s3:PutObjectRetention", scope: scopeObject},
	"GetObjectLegalHold":              {action: "s3:GetObjectLegalHold", scope: scopeObject},
	"PutObjectLegalHold":              {action: "s3:PutObjectLegalHold", scope: scopeObject},
	"DeleteObject":                    {action: "s3:DeleteObject", version: "s3:DeleteObjectVersion", scope: scopeObject},
}

// listOps are the operations whose requests carry s3:prefix and s3:delimiter.
var listOps = map[string]bool{"ListObjects": true, "ListObjectsV2": true, "ListObjectVersions": true, "ListMultipartUploads": true}

// authorize checks, before the handler runs, that the request's principal may do its
// operation. Operations authorized in their handler (opAction.inHandler) pass here.
func (h *handler) authorize(rq *request) error {
	a, ok := opActions[rq.op]
	if !ok {
		return ErrInternal.with("operation %s has no IAM action", rq.op) // TestEveryRoutedOperationHasAnAction
	}
	if a.inHandler {
		return nil
	}
	action := a.action
	if a.version != "" && rq.q.Has("versionId") {
		action = a.version
	}
	if err := h.allow(rq, action, rq.bucket, rq.key, a.scope); err != nil {
		return err
	}
	if v := rq.r.Header.Get("X-Amz-Bypass-Governance-Retention"); strings.EqualFold(v, "true") && a.scope == scopeObject {
		return h.allow(rq, "s3:BypassGovernanceRetention", rq.bucket, rq.key, scopeObject)
	}
	return nil
}

// allowKey authorizes one object of a request whose handler authorizes (DeleteObjects,
// PostObject): the operation's action, its version variant when versioned is set.
func (h *handler) allowKey(rq *request, key string, versioned bool) error {
	a := opActions[rq.op]
	action := a.action
	if versioned && a.version != "" {
		action = a.version
	}
	return h.allow(rq, action, rq.bucket, key, scopeObject)
}

// allowSource authorizes reading a copy's source.
func (h *handler) allowSource(rq *request, bucket, key, versionID string) error {
	action := "s3:GetObject"
	if versionID != "" {
		action = "s3:GetObjectVersion"
	}
	return h.allow(rq, action, bucket, key, scopeObject)
}

// allow decides one action on one resource for the request's principal: the root principal
// may do anything; otherwise an explicit Deny in the user's policies, the bucket policy or the
// bucket's canned ACL refuses, an Allow in any of them allows, and nothing refuses
// (AccessDenied either way).
func (h *handler) allow(rq *request, action, bucket, key string, sc scope) error {
	if rq.who.Kind == iam.Root {
		return nil
	}
	resource := iam.AllBucketsARN
	switch sc {
	case scopeBucket:
		resource = iam.BucketARN(bucket)
	case scopeObject:
		resource = iam.ObjectARN(bucket, key)
	}
	req := &iam.Request{Principal: rq.who, Action: action, Resource: resource, Context: h.conditionContext(rq)}
	decision := iam.NoDecision
	combine := func(d iam.Decision) {
		if d > decision {
			decision = d // Denied > Allowed > NoDecision
		}
	}
	if rq.who.Kind == iam.User {
		ps, err := h.identityPolicies(rq)
		if err != nil {
			return err
		}
		combine(iam.Evaluate(req, ps...))
	}
	if sc != scopeService {
		d, err := h.bucketDecision(rq, bucket, req)
		if err != nil {
			return err
		}
		combine(d)
	}
	if decision != iam.Allowed {
		h.m.Counter(MetricAccessDenied, 1)
		return ErrAccessDenied.with("Access Denied: %s is not allowed to perform %s on %s", describe(rq.who), action, resource)
	}
	return nil
}

func describe(p iam.Principal) string {
	switch p.Kind {
	case iam.Anonymous:
		return "an anonymous request"
	case iam.User:
		return "user " + p.User
	}
	return "root"
}

// conditionContext is the request's values of the condition keys: aws:SourceIp (the peer's
// address), aws:SecureTransport, and for listings s3:prefix and s3:delimiter ("" when the
// request has none).
func (h *handler) conditionContext(rq *request) map[string]string {
	ctx := map[string]string{
		iam.KeySourceIP:        authlimit.Addr(rq.r),
		iam.KeySecureTransport: fmt.Sprint(rq.r.TLS != nil),
	}
	if ip := net.ParseIP(ctx[iam.KeySourceIP]); ip == nil {
		delete(ctx, iam.KeySourceIP)
	}
	if listOps[rq.op] {
		ctx[iam.KeyPrefix] = rq.q.Get("prefix")
		ctx[iam.KeyDelimiter] = rq.q.Get("delimiter")
	}
	return ctx
}

// identityPolicies are the policies attached to the request's user, parsed (once a request).
// A policy deleted meanwhile is skipped; one that no longer parses is an InternalError: its
// denies cannot be known, so nothing is allowed.
func (h *handler) identityPolicies(rq *request) ([]*iam.Policy, error) {
	if rq.policies != nil || rq.user == nil {
		return rq.policies, nil
	}
	out := make([]*iam.Policy, 0, len(rq.user.Policies))
	for _, name := range rq.user.Policies {
		info, err := h.b.IAMPolicy(name)
		if errors.Is(err, &fsm.Error{Code: fsm.CodeNoSuchPolicy}) {
			continue
		}
		if err != nil {
			return nil, err
		}
		p, err := h.cache.parse("", info.Document)
		if err != nil {
			return nil, fmt.Errorf("s3: policy %q attached to user %q: %w", name, rq.user.Name, err)
		}
		out = append(out, p)
	}
	rq.policies = out
	return out, nil
}

// bucketDecision evaluates the bucket's policy and canned ACL, with its public access block:
// IgnorePublicAcls drops a public canned ACL's grants, RestrictPublicBuckets turns what a
// public policy allows an anonymous request into no decision (its denies still count). A
// bucket that does not exist has neither.
func (h *handler) bucketDecision(rq *request, bucket string, req *iam.Request) (iam.Decision, error) {
	acc, err := h.b.BucketAccess(bucket)
	if errors.Is(err, &fsm.Error{Code: fsm.CodeNoSuchBucket}) {
		return iam.NoDecision, nil
	}
	if err != nil {
		return iam.NoDecision, err
	}
	pab := acc.PublicAccessBlock
	out := iam.NoDecision
	if acc.Policy != "" {
		p, err := h.cache.parse(bucket, acc.Policy)
		if err != nil {
			return iam.NoDecision, fmt.Errorf("s3: the policy of bucket %q: %w", bucket, err)
		}
		out = p.Evaluate(req)
		if out == iam.Allowed && rq.who.Kind == iam.Anonymous && pab.RestrictPublicBuckets && p.IsPublic() {
			out = iam.NoDecision
		}
	}
	if acc.ACL != "" && !(pab.IgnorePublicACLs && iam.PublicACL(acc.ACL)) && out != iam.Denied {
		acl, err := iam.CannedACL(bucket, acc.ACL)
		if err != nil {
			return iam.NoDecision, err
		}
		if acl.Evaluate(req) == iam.Allowed {
			out = iam.Allowed
		}
	}
	return out, nil
}

// policyCache keeps parsed policy documents (identity policies under bucket "", bucket
// policies under their bucket), so that a request does not parse JSON. It is bounded: when
// full it starts over.
type policyCache struct {
	mu sync.Mutex
	m  map[[2]string]*iam.Policy // guarded by mu
}

const maxCachedPolicies = 1024

func (c *policyCache) parse(bucket, doc string) (*iam.Policy, error) {
	k := [2]string{bucket, doc}
	c.mu.Lock()
	p, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	var err error
	if bucket == "" {
		p, err = iam.ParseIdentityPolicy([]byte(doc))
	} else {
		p, err = iam.ParseBucketPolicy(bucket, []byte(doc))
	}
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedPolicies {
		c.m = make(map[[2]string]*iam.Policy)
	}
	c.m[k] = p
	c.mu.Unlock()
	return p, nil
}
