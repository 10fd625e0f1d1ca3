package s3

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/httpapi/sigv4"
	"github.com/nebulaio/nebulaio/iam"
)

type owner struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName"`
}

type listAllMyBucketsResult struct {
	XMLName           xml.Name      `xml:"ListAllMyBucketsResult"`
	Xmlns             string        `xml:"xmlns,attr"`
	Owner             owner         `xml:"Owner"`
	Buckets           []bucketEntry `xml:"Buckets>Bucket"`
	ContinuationToken string        `xml:"ContinuationToken,omitempty"`
	Prefix            string        `xml:"Prefix,omitempty"`
}

type bucketEntry struct {
	Name         string `xml:"Name"`
	CreationDate string `xml:"CreationDate"`
	BucketRegion string `xml:"BucketRegion,omitempty"`
}

// s3Time formats t as S3's XML timestamps do.
func s3Time(ns int64) string { return time.Unix(0, ns).UTC().Format("2006-01-02T15:04:05.000Z") }

// listBuckets answers every bucket in name order, or a page of max-buckets (1..10000) with a
// ContinuationToken (the page's last name, base64url) to pass back; prefix filters by name.
func (h *handler) listBuckets(rq *request) error {
	p := fsm.BucketListParams{Prefix: rq.q.Get("prefix")}
	if v, ok := rq.q["max-buckets"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > fsm.MaxBuckets {
			return ErrInvalidArgument.with("max-buckets must be an integer from 1 to %d, not %q", fsm.MaxBuckets, v[0])
		}
		p.MaxBuckets = n
	}
	if tok, ok := rq.q["continuation-token"]; ok {
		name, err := base64.RawURLEncoding.Strict().DecodeString(tok[0])
		if err != nil || len(name) == 0 || EncodeContinuationToken(string(name)) != tok[0] {
			return ErrInvalidArgument.with("The continuation token provided is incorrect")
		}
		p.ContinuationToken = string(name)
	}
	if err := h.b.Sync(rq.r.Context()); err != nil {
		return err
	}
	page, err := h.b.ListBuckets(p)
	if err != nil {
		return err
	}
	res := listAllMyBucketsResult{Xmlns: s3Namespace, Owner: owner{ID: rq.auth.AccessKey, DisplayName: rq.auth.AccessKey}, Prefix: p.Prefix}
	res.Buckets = []bucketEntry{}
	for _, b := range page.Buckets {
		res.Buckets = append(res.Buckets, bucketEntry{Name: b.Name, CreationDate: s3Time(b.Created), BucketRegion: h.bucketRegion(b)})
	}
	if page.ContinuationToken != "" {
		res.ContinuationToken = EncodeContinuationToken(page.ContinuationToken)
	}
	return writeXML(rq, res)
}

type createBucketConfiguration struct {
	XMLName            xml.Name `xml:"CreateBucketConfiguration"`
	LocationConstraint string   `xml:"LocationConstraint"`
}

// Location constraint errors.
var (
	// ErrInvalidLocationConstraint: a LocationConstraint that is not a region name.
	ErrInvalidLocationConstraint = &Error{"InvalidLocationConstraint", http.StatusBadRequest, "The specified location-constraint is not valid."}
	// ErrIllegalLocationConstraint: a LocationConstraint other than the region the request was
	// sent to (S3's regional endpoints answer this).
	ErrIllegalLocationConstraint = &Error{"IllegalLocationConstraintException", http.StatusBadRequest, "The location constraint is incompatible for the region specific endpoint this request was sent to."}
)

// bucketRegionFor decides the region of a new bucket from its LocationConstraint, as S3
// answers: the constraint must name the region of the endpoint the request was sent to —
// with StrictRegion Options.Region, otherwise the region the request was signed for (or
// Options.Region). Another region is IllegalLocationConstraintException, except that an
// endpoint in us-east-1 (S3's global endpoint, which could create the bucket elsewhere)
// answers InvalidLocationConstraint: this store has no other region to put it in. No
// constraint means the endpoint's region. The constraint is stored unless it is
// Options.Region ("" means Options.Region).
func (h *handler) bucketRegionFor(rq *request, lc string) (string, error) {
	if lc == "" {
		return "", nil
	}
	if !validRegionName(lc) {
		return "", ErrInvalidLocationConstraint.with("The specified location-constraint %q is not valid.", lc)
	}
	endpoint := h.region
	if !h.strict && rq.auth.Region != "" {
		endpoint = rq.auth.Region
	}
	switch {
	case lc == h.region:
		return "", nil
	case lc == endpoint:
		return lc, nil
	case endpoint == sigv4.DefaultRegion:
		return "", ErrInvalidLocationConstraint.with("The specified location-constraint %q is not valid: this endpoint creates buckets in %s.", lc, h.region)
	}
	return "", ErrIllegalLocationConstraint.with("The %s location constraint is incompatible for the region specific endpoint this request was sent to (%s).", lc, endpoint)
}

// validRegionName accepts region names ("eu-central-1", "EU", "us-gov-west-1"): letters,
// digits and dashes, at most 64 bytes.
func validRegionName(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// bucketRegion is the region a bucket is in: Options.Region, or with StrictRegion off the
// LocationConstraint it was created with.
func (h *handler) bucketRegion(b fsm.BucketInfo) string {
	if b.Region != "" && !h.strict {
		return b.Region
	}
	return h.region
}

func (h *handler) createBucket(rq *request) error {
	body, err := readXMLBody(rq)
	if err != nil {
		return err
	}
	var cfg createBucketConfiguration
	if len(body) > 0 {
		if err := xml.Unmarshal(body, &cfg); err != nil {
			return ErrMalformedXML.with("CreateBucketConfiguration: %v", err)
		}
	}
	region, err := h.bucketRegionFor(rq, strings.TrimSpace(cfg.LocationConstraint))
	if err != nil {
		return err
	}
	lock, err := bucketLockHeader(rq.r.Header)
	if err != nil {
		return err
	}
	acl, err := cannedACLHeader(rq)
	if err != nil {
		return err
	}
	if iam.PublicACL(acl) { // what fsm.PutBucketACL would refuse once the bucket exists
		return ErrAccessDenied.with("new buckets block public ACLs (BlockPublicAcls): create the bucket, delete or change its public access block, then PutBucketAcl %s", acl)
	}
	if _, err := h.propose(rq, &fsm.CreateBucket{Name: rq.bucket, Owner: rq.auth.AccessKey, Created: h.now().UnixNano(),
		Region: region, ObjectLock: lock}); err != nil {
		return err
	}
	// A second event: CreateBucket carries no ACL. If it fails, the bucket exists, private.
	if acl != "" && acl != iam.ACLPrivate {
		if _, err := h.propose(rq, &fsm.PutBucketACL{Bucket: rq.bucket, ACL: acl}); err != nil {
			return err
		}
	}
	rq.w.Header().Set("Location", "/"+rq.bucket)
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *handler) deleteBucket(rq *request) error {
	if _, err := h.propose(rq, &fsm.DeleteBucket{Name: rq.bucket}); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

// bucketExists waits for a linearizable view and checks the bucket.
func (h *handler) bucketExists(rq *request) error {
	_, err := h.syncedBucket(rq)
	return err
}

// syncedBucket waits for a linearizable view and reads the request's bucket.
func (h *handler) syncedBucket(rq *request) (fsm.BucketInfo, error) {
	if err := h.b.Sync(rq.r.Context()); err != nil {
		return fsm.BucketInfo{}, err
	}
	return h.b.Bucket(rq.bucket)
}

func (h *handler) headBucket(rq *request) error {
	b, err := h.syncedBucket(rq)
	if err != nil {
		return err
	}
	rq.w.Header().Set("x-amz-bucket-region", h.bucketRegion(b))
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

type locationConstraint struct {
	XMLName xml.Name `xml:"LocationConstraint"`
	Xmlns   string   `xml:"xmlns,attr"`
	Value   string   `xml:",chardata"`
}

func (h *handler) getBucketLocation(rq *request) error {
	b, err := h.syncedBucket(rq)
	if err != nil {
		return err
	}
	loc := h.bucketRegion(b)
	if loc == sigv4.DefaultRegion {
		loc = "" // S3 reports the default region as an empty constraint
	}
	return writeXML(rq, locationConstraint{Xmlns: s3Namespace, Value: loc})
}

type grantee struct {
	XMLNS       string `xml:"xmlns:xsi,attr"`
	Type        string `xml:"xsi:type,attr"`
	ID          string `xml:"ID,omitempty"`
	DisplayName string `xml:"DisplayName,omitempty"`
	URI         string `xml:"URI,omitempty"` // Type Group
}

type grant struct {
	Grantee    grantee `xml:"Grantee"`
	Permission string  `xml:"Permission"`
}

type accessControlPolicy struct {
	XMLName xml.Name `xml:"AccessControlPolicy"`
	Xmlns   string   `xml:"xmlns,attr"`
	Owner   owner    `xml:"Owner"`
	Grants  []grant  `xml:"AccessControlList>Grant"`
}

// getACL answers the bucket's canned ACL as grants (the same for its objects): the owner has
// FULL_CONTROL, and public-read, public-read-write and authenticated-read add their groups.
func (h *handler) getACL(rq *request) error {
	b, err := h.syncedBucket(rq)
	if err != nil {
		return err
	}
	if rq.key != "" {
		vid, err := versionParam(rq)
		if err != nil {
			return err
		}
		o, err := h.b.ObjectVersion(rq.bucket, rq.key, vid)
		if err != nil {
			return err
		}
		h.setVersionHeader(rq.w.Header(), rq.bucket, &o)
	}
	o := owner{ID: b.Owner, DisplayName: b.Owner}
	acc, err := h.b.BucketAccess(rq.bucket)
	if err != nil {
		return err
	}
	return writeXML(rq, accessControlPolicy{Xmlns: s3Namespace, Owner: o, Grants: cannedGrants(o, acc.ACL)})
}

// readXMLBody reads a small request body (bounded by maxXMLBody) and checks its Content-MD5.
func readXMLBody(rq *request) ([]byte, error) {
	want, err := contentMD5(rq.r.Header)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(rq.body, maxXMLBody+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxXMLBody {
		return nil, ErrMalformedXML.with("request body over %d bytes", maxXMLBody)
	}
	if sum := md5.Sum(b); want != nil && !bytes.Equal(sum[:], want) {
		return nil, ErrBadDigest
	}
	return b, nil
}

// requireIntegrity: S3 requires an integrity check of the bodies of DeleteObjects and of the
// configuration PUTs (object lock, retention, legal hold, lifecycle, CORS): Content-MD5 or an
// x-amz-checksum-* header, which the AWS SDKs always send there.
func requireIntegrity(rq *request) error {
	if _, ok := rq.auth.ChecksumAlgorithm(); !ok && rq.r.Header.Get("Content-Md5") == "" {
		return ErrInvalidRequest.with("Missing required header for this request: Content-MD5 (or an x-amz-checksum-* header)")
	}
	return nil
}

// readConfigXML reads a configuration document into v: integrity header required, every
// element one of allowed (another one is MalformedXML, or NotImplemented when unsupported
// names it: a feature not offered, rather than ignored), then unmarshalled.
func readConfigXML(rq *request, v any, allowed []string, unsupported map[string]string) error {
	if err := requireIntegrity(rq); err != nil {
		return err
	}
	body, err := readXMLBody(rq)
	if err != nil {
		return err
	}
	dec := xml.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return ErrMalformedXML.with("%v", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if what, ok := unsupported[se.Name.Local]; ok {
			return ErrNotImplemented.with("%s (<%s>) is not implemented", what, se.Name.Local)
		}
		if !slices.Contains(allowed, se.Name.Local) {
			return ErrMalformedXML.with("unexpected element <%s>", se.Name.Local)
		}
	}
	if err := xml.Unmarshal(body, v); err != nil {
		return ErrMalformedXML.with("%v", err)
	}
	return nil
}

// propose replicates ev and turns an FSM rejection into an error. Blobs the event freed are
// deleted by every storage node's data plane as it applies the event, not here.
func (h *handler) propose(rq *request, ev fsm.Event) (*fsm.Result, error) {
	res, err := h.b.Propose(rq.r.Context(), ev)
	if err != nil {
		return nil, err
	}
	if res == nil {
		return nil, errors.New("s3: propose returned no result")
	}
	if res.Err != nil {
		return res, res.Err
	}
	return res, nil
}
