package s3

import (
	"encoding/xml"
	"errors"
	"net/http"
	"strings"

	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/iam"
)

// Bucket access settings: bucket policies, canned ACLs and the public access block (see
// doc.go, "Identities and access"). The FSM stores them; authorization (authz.go) reads them.

// ErrMalformedPolicy: a bucket policy that does not parse or uses what the subset does not
// support (the message names the element).
var ErrMalformedPolicy = &Error{"MalformedPolicy", http.StatusBadRequest, "Policies must be valid JSON and the first byte must be '{'"}

const xsiNamespace = "http://www.w3.org/2001/XMLSchema-instance"

// Group grantees of canned ACLs.
const (
	groupAllUsers           = "http://acs.amazonaws.com/groups/global/AllUsers"
	groupAuthenticatedUsers = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
)

// cannedGrants lists the grants of a canned ACL ("" private) for the owner o.
func cannedGrants(o owner, acl string) []grant {
	gs := []grant{{Grantee: grantee{XMLNS: xsiNamespace, Type: "CanonicalUser", ID: o.ID, DisplayName: o.DisplayName}, Permission: "FULL_CONTROL"}}
	group := func(uri, perm string) grant {
		return grant{Grantee: grantee{XMLNS: xsiNamespace, Type: "Group", URI: uri}, Permission: perm}
	}
	switch acl {
	case iam.ACLPublicRead:
		gs = append(gs, group(groupAllUsers, "READ"))
	case iam.ACLPublicReadWrite:
		gs = append(gs, group(groupAllUsers, "READ"), group(groupAllUsers, "WRITE"))
	case iam.ACLAuthenticatedRead:
		gs = append(gs, group(groupAuthenticatedUsers, "READ"))
	}
	return gs
}

// cannedACLHeader returns the request's x-amz-acl ("" when absent), refusing one that is not
// a bucket canned ACL.
func cannedACLHeader(rq *request) (string, error) {
	acl := strings.TrimSpace(rq.r.Header.Get("X-Amz-Acl"))
	if acl == "" {
		return "", nil
	}
	if _, err := iam.CannedACL(rq.bucket, acl); err != nil {
		if errors.Is(err, iam.ErrUnknownACL) {
			return "", ErrNotImplemented.with("x-amz-acl %q is not implemented (supported: %s)", acl, strings.Join(iam.CannedACLs, ", "))
		}
		return "", err
	}
	return acl, nil
}

// putBucketACL sets the bucket's canned ACL from x-amz-acl. An ACL document in the body
// (grants to canonical users) is not implemented.
func (h *handler) putBucketACL(rq *request) error {
	acl, err := cannedACLHeader(rq)
	if err != nil {
		return err
	}
	body, err := readXMLBody(rq)
	if err != nil {
		return err
	}
	switch {
	case len(strings.TrimSpace(string(body))) > 0:
		return ErrNotImplemented.with("ACL documents are not implemented: set a canned ACL with x-amz-acl (%s)", strings.Join(iam.CannedACLs, ", "))
	case acl == "":
		return ErrInvalidRequest.with("PutBucketAcl needs the x-amz-acl header (%s)", strings.Join(iam.CannedACLs, ", "))
	}
	if _, err := h.propose(rq, &fsm.PutBucketACL{Bucket: rq.bucket, ACL: acl}); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *handler) putBucketPolicy(rq *request) error {
	b, err := readXMLBody(rq) // small and Content-MD5-checked, like the XML bodies
	if err != nil {
		return err
	}
	p, err := iam.ParseBucketPolicy(rq.bucket, b)
	if err != nil {
		return ErrMalformedPolicy.with("%v", err)
	}
	if _, err := h.propose(rq, &fsm.PutBucketPolicy{Bucket: rq.bucket, Policy: string(b), Public: p.IsPublic()}); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

// syncedAccess waits for a linearizable view and reads the bucket's access settings.
func (h *handler) syncedAccess(rq *request) (fsm.BucketAccess, error) {
	if err := h.b.Sync(rq.r.Context()); err != nil {
		return fsm.BucketAccess{}, err
	}
	return h.b.BucketAccess(rq.bucket)
}

func (h *handler) getBucketPolicy(rq *request) error {
	acc, err := h.syncedAccess(rq)
	if err != nil {
		return err
	}
	if acc.Policy == "" {
		return errNoSuchBucketPolicy
	}
	rq.w.Header().Set("Content-Type", "application/json")
	rq.w.WriteHeader(http.StatusOK)
	_, err = rq.w.Write([]byte(acc.Policy))
	return err
}

var errNoSuchBucketPolicy = &Error{fsm.CodeNoSuchBucketPolicy, http.StatusNotFound, "The bucket policy does not exist"}

func (h *handler) deleteBucketPolicy(rq *request) error {
	if _, err := h.propose(rq, &fsm.PutBucketPolicy{Bucket: rq.bucket}); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

type policyStatus struct {
	XMLName  xml.Name `xml:"PolicyStatus"`
	Xmlns    string   `xml:"xmlns,attr"`
	IsPublic bool     `xml:"IsPublic"`
}

// getBucketPolicyStatus answers whether the bucket's policy is public (iam.Policy.IsPublic),
// NoSuchBucketPolicy when it has none, as S3 does.
func (h *handler) getBucketPolicyStatus(rq *request) error {
	acc, err := h.syncedAccess(rq)
	if err != nil {
		return err
	}
	if acc.Policy == "" {
		return errNoSuchBucketPolicy
	}
	return writeXML(rq, policyStatus{Xmlns: s3Namespace, IsPublic: acc.PolicyPublic})
}

type publicAccessBlockConfiguration struct {
	XMLName               xml.Name `xml:"PublicAccessBlockConfiguration"`
	Xmlns                 string   `xml:"xmlns,attr,omitempty"`
	BlockPublicAcls       *bool    `xml:"BlockPublicAcls"`
	IgnorePublicAcls      *bool    `xml:"IgnorePublicAcls"`
	BlockPublicPolicy     *bool    `xml:"BlockPublicPolicy"`
	RestrictPublicBuckets *bool    `xml:"RestrictPublicBuckets"`
}

func (h *handler) getPublicAccessBlock(rq *request) error {
	acc, err := h.syncedAccess(rq)
	if err != nil {
		return err
	}
	c := acc.PublicAccessBlock
	if !c.Configured {
		return &Error{fsm.CodeNoSuchPublicAccessBlockConfiguration, http.StatusNotFound, "The public access block configuration was not found"}
	}
	return writeXML(rq, publicAccessBlockConfiguration{Xmlns: s3Namespace, BlockPublicAcls: &c.BlockPublicACLs,
		IgnorePublicAcls: &c.IgnorePublicACLs, BlockPublicPolicy: &c.BlockPublicPolicy, RestrictPublicBuckets: &c.RestrictPublicBuckets})
}

// putPublicAccessBlock sets the four switches; one left out of the document is false, as S3
// does.
func (h *handler) putPublicAccessBlock(rq *request) error {
	body, err := readXMLBody(rq)
	if err != nil {
		return err
	}
	var in publicAccessBlockConfiguration
	if err := xml.Unmarshal(body, &in); err != nil {
		return ErrMalformedXML.with("PublicAccessBlockConfiguration: %v", err)
	}
	val := func(b *bool) bool { return b != nil && *b }
	c := fsm.PublicAccessBlock{Configured: true, BlockPublicACLs: val(in.BlockPublicAcls), IgnorePublicACLs: val(in.IgnorePublicAcls),
		BlockPublicPolicy: val(in.BlockPublicPolicy), RestrictPublicBuckets: val(in.RestrictPublicBuckets)}
	if _, err := h.propose(rq, &fsm.PutPublicAccessBlock{Bucket: rq.bucket, Config: c}); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *handler) deletePublicAccessBlock(rq *request) error {
	if _, err := h.propose(rq, &fsm.PutPublicAccessBlock{Bucket: rq.bucket}); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}
