package s3

import (
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nebulaio/nebulaio/fsm"
)

// Object lock (WORM): bucket configuration, per-version retention and legal hold, the request
// headers that set them on a write, and the response headers that report them. Every check
// that protects a version is the FSM's (see fsm/doc.go, "Object lock").

// Object lock request headers.
const (
	hdrLockMode      = "X-Amz-Object-Lock-Mode"
	hdrLockUntil     = "X-Amz-Object-Lock-Retain-Until-Date"
	hdrLegalHold     = "X-Amz-Object-Lock-Legal-Hold"
	hdrBypass        = "X-Amz-Bypass-Governance-Retention"
	hdrBucketLockOn  = "X-Amz-Bucket-Object-Lock-Enabled"
	errMissingConfig = "Bucket is missing Object Lock Configuration"
)

// lockTime formats a retain-until date as S3 does (ISO 8601, milliseconds, UTC).
func lockTime(ns int64) string { return s3Time(ns) }

// parseLockTime reads an ISO 8601 retain-until date. Sub-millisecond digits round up, so a
// date read back (in milliseconds) is never earlier than the one retained.
func parseLockTime(v string) (int64, bool) {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(v))
	if err != nil {
		return 0, false
	}
	ns := t.UnixNano()
	if r := ns % int64(time.Millisecond); r > 0 {
		ns += int64(time.Millisecond) - r
	}
	return ns, true
}

// lockFromHeaders reads the object lock a write asks for: x-amz-object-lock-mode and
// -retain-until-date (both or neither), -legal-hold. Whether the bucket allows them is the
// FSM's decision (InvalidRequest without object lock).
func lockFromHeaders(hd http.Header) (fsm.Retention, string, error) {
	var r fsm.Retention
	mode, until := hd.Get(hdrLockMode), hd.Get(hdrLockUntil)
	switch {
	case mode == "" && until == "":
	case mode == "" || until == "":
		return r, "", ErrInvalidArgument.with("x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied")
	default:
		if mode != fsm.LockGovernance && mode != fsm.LockCompliance {
			return r, "", ErrInvalidArgument.with("Unknown wormMode directive: x-amz-object-lock-mode %.40q (GOVERNANCE or COMPLIANCE)", mode)
		}
		ns, ok := parseLockTime(until)
		if !ok {
			return r, "", ErrInvalidArgument.with("The retain until date must be provided in ISO 8601 format: %.60q", until)
		}
		r = fsm.Retention{Mode: mode, RetainUntil: ns}
	}
	hold := hd.Get(hdrLegalHold)
	if hold != "" && hold != fsm.LegalHoldOn && hold != fsm.LegalHoldOff {
		return r, "", ErrInvalidArgument.with("Legal Hold must be either of 'ON' or 'OFF', not %.20q", hold)
	}
	return r, hold, nil
}

// bypassGovernance reads x-amz-bypass-governance-retention (true or false; absent is false).
// Any authenticated principal may bypass: NebulaIO has no per-user permissions (AWS requires
// s3:BypassGovernanceRetention too).
func bypassGovernance(hd http.Header) (bool, error) {
	v, ok := hd[hdrBypass]
	if !ok {
		return false, nil
	}
	b, err := strconv.ParseBool(strings.TrimSpace(v[0]))
	if err != nil {
		return false, ErrInvalidArgument.with("x-amz-bypass-governance-retention must be true or false, not %.20q", v[0])
	}
	return b, nil
}

// versionAndBypass reads the versionId parameter and x-amz-bypass-governance-retention.
func versionAndBypass(rq *request) (string, bool, error) {
	vid, err := versionParam(rq)
	if err != nil {
		return "", false, err
	}
	bypass, err := bypassGovernance(rq.r.Header)
	return vid, bypass, err
}

// bucketLockHeader reads x-amz-bucket-object-lock-enabled on CreateBucket.
func bucketLockHeader(hd http.Header) (bool, error) {
	v, ok := hd[hdrBucketLockOn]
	if !ok {
		return false, nil
	}
	b, err := strconv.ParseBool(strings.TrimSpace(v[0]))
	if err != nil {
		return false, ErrInvalidArgument.with("x-amz-bucket-object-lock-enabled must be true or false, not %.20q", v[0])
	}
	return b, nil
}

// setLockHeaders reports a version's object lock on GET and HEAD.
func setLockHeaders(hd http.Header, o *fsm.ObjectInfo) {
	if o.Retention.Mode != "" {
		hd.Set("x-amz-object-lock-mode", o.Retention.Mode)
		hd.Set("x-amz-object-lock-retain-until-date", lockTime(o.Retention.RetainUntil))
	}
	if o.LegalHold != "" {
		hd.Set("x-amz-object-lock-legal-hold", o.LegalHold)
	}
}

type defaultRetentionXML struct {
	Mode  string `xml:"Mode,omitempty"`
	Days  *int64 `xml:"Days,omitempty"`
	Years *int64 `xml:"Years,omitempty"`
}

type objectLockRuleXML struct {
	DefaultRetention *defaultRetentionXML `xml:"DefaultRetention"`
}

type objectLockConfiguration struct {
	XMLName           xml.Name           `xml:"ObjectLockConfiguration"`
	Xmlns             string             `xml:"xmlns,attr,omitempty"`
	ObjectLockEnabled string             `xml:"ObjectLockEnabled,omitempty"`
	Rule              *objectLockRuleXML `xml:"Rule"`
}

var objectLockElements = []string{"ObjectLockConfiguration", "ObjectLockEnabled", "Rule", "DefaultRetention", "Mode", "Days", "Years"}

// putObjectLockConfiguration enables object lock (a versioning-enabled bucket that has none
// gets it for good) and sets or clears its default retention.
func (h *handler) putObjectLockConfiguration(rq *request) error {
	var cfg objectLockConfiguration
	if err := readConfigXML(rq, &cfg, objectLockElements, nil); err != nil {
		return err
	}
	if cfg.ObjectLockEnabled != "Enabled" {
		return ErrMalformedXML.with("ObjectLockEnabled must be Enabled, not %.20q", cfg.ObjectLockEnabled)
	}
	var d fsm.DefaultRetention
	if cfg.Rule != nil {
		dr := cfg.Rule.DefaultRetention
		switch {
		case dr == nil:
			return ErrMalformedXML.with("Rule needs a DefaultRetention")
		case dr.Mode != fsm.LockGovernance && dr.Mode != fsm.LockCompliance:
			return ErrMalformedXML.with("DefaultRetention Mode must be GOVERNANCE or COMPLIANCE, not %.20q", dr.Mode)
		case (dr.Days == nil) == (dr.Years == nil):
			return ErrMalformedXML.with("DefaultRetention has Days or Years, exactly one of them")
		}
		d.Mode = dr.Mode
		n, p := dr.Days, &d.Days
		if dr.Years != nil {
			n, p = dr.Years, &d.Years
		}
		if *n <= 0 || *n > 1<<31 {
			return ErrInvalidArgument.with("Default retention period must be a positive integer value")
		}
		*p = uint32(*n)
	}
	if _, err := h.propose(rq, &fsm.PutObjectLockConfiguration{Bucket: rq.bucket, DefaultRetention: d}); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *handler) getObjectLockConfiguration(rq *request) error {
	b, err := h.syncedBucket(rq)
	if err != nil {
		return err
	}
	if !b.ObjectLock {
		return &Error{fsm.CodeObjectLockConfigurationNotFound, http.StatusNotFound, "Object Lock configuration does not exist for this bucket"}
	}
	out := objectLockConfiguration{Xmlns: s3Namespace, ObjectLockEnabled: "Enabled"}
	if d := b.DefaultRetention; d.Mode != "" {
		dr := &defaultRetentionXML{Mode: d.Mode}
		if d.Years > 0 {
			y := int64(d.Years)
			dr.Years = &y
		} else {
			n := int64(d.Days)
			dr.Days = &n
		}
		out.Rule = &objectLockRuleXML{DefaultRetention: dr}
	}
	return writeXML(rq, out)
}

type retentionXML struct {
	XMLName         xml.Name `xml:"Retention"`
	Xmlns           string   `xml:"xmlns,attr,omitempty"`
	Mode            string   `xml:"Mode,omitempty"`
	RetainUntilDate string   `xml:"RetainUntilDate,omitempty"`
}

type legalHoldXML struct {
	XMLName xml.Name `xml:"LegalHold"`
	Xmlns   string   `xml:"xmlns,attr,omitempty"`
	Status  string   `xml:"Status"`
}

// putObjectRetention sets, changes or (with an empty Retention) removes a version's retention;
// the FSM decides whether the change is allowed.
func (h *handler) putObjectRetention(rq *request) error {
	vid, bypass, err := versionAndBypass(rq)
	if err != nil {
		return err
	}
	var doc retentionXML
	if err := readConfigXML(rq, &doc, []string{"Retention", "Mode", "RetainUntilDate"}, nil); err != nil {
		return err
	}
	var r fsm.Retention
	switch {
	case doc.Mode == "" && doc.RetainUntilDate == "":
	case doc.Mode != fsm.LockGovernance && doc.Mode != fsm.LockCompliance:
		return ErrMalformedXML.with("Retention Mode must be GOVERNANCE or COMPLIANCE, not %.20q", doc.Mode)
	default:
		ns, ok := parseLockTime(doc.RetainUntilDate)
		if !ok {
			return ErrMalformedXML.with("RetainUntilDate %.40q is not an ISO 8601 date", doc.RetainUntilDate)
		}
		r = fsm.Retention{Mode: doc.Mode, RetainUntil: ns}
	}
	res, err := h.propose(rq, &fsm.PutObjectRetention{Bucket: rq.bucket, Key: rq.key, VersionID: vid, Retention: r,
		BypassGovernance: bypass, Now: h.now().UnixNano()})
	if err != nil {
		return err
	}
	h.setVersionHeader(rq.w.Header(), rq.bucket, res.Object)
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *handler) putObjectLegalHold(rq *request) error {
	vid, err := versionParam(rq)
	if err != nil {
		return err
	}
	var doc legalHoldXML
	if err := readConfigXML(rq, &doc, []string{"LegalHold", "Status"}, nil); err != nil {
		return err
	}
	if doc.Status != fsm.LegalHoldOn && doc.Status != fsm.LegalHoldOff {
		return ErrMalformedXML.with("LegalHold Status must be ON or OFF, not %.20q", doc.Status)
	}
	res, err := h.propose(rq, &fsm.PutObjectLegalHold{Bucket: rq.bucket, Key: rq.key, VersionID: vid, Status: doc.Status})
	if err != nil {
		return err
	}
	h.setVersionHeader(rq.w.Header(), rq.bucket, res.Object)
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

// lockedVersion reads the version a GetObjectRetention or GetObjectLegalHold names, in a bucket
// with object lock.
func (h *handler) lockedVersion(rq *request) (fsm.ObjectInfo, error) {
	vid, err := versionParam(rq)
	if err != nil {
		return fsm.ObjectInfo{}, err
	}
	b, err := h.syncedBucket(rq)
	if err != nil {
		return fsm.ObjectInfo{}, err
	}
	if !b.ObjectLock {
		return fsm.ObjectInfo{}, ErrInvalidRequest.with(errMissingConfig)
	}
	o, err := h.b.ObjectVersion(rq.bucket, rq.key, vid)
	if err != nil {
		return o, err
	}
	h.setVersionHeader(rq.w.Header(), rq.bucket, &o)
	return o, nil
}

var errNoLockConfig = &Error{fsm.CodeNoSuchObjectLockConfiguration, http.StatusNotFound, "The specified object does not have a ObjectLock configuration"}

func (h *handler) getObjectRetention(rq *request) error {
	o, err := h.lockedVersion(rq)
	if err != nil {
		return err
	}
	if o.Retention.Mode == "" {
		return errNoLockConfig
	}
	return writeXML(rq, retentionXML{Xmlns: s3Namespace, Mode: o.Retention.Mode, RetainUntilDate: lockTime(o.Retention.RetainUntil)})
}

func (h *handler) getObjectLegalHold(rq *request) error {
	o, err := h.lockedVersion(rq)
	if err != nil {
		return err
	}
	if o.LegalHold == "" {
		return errNoLockConfig
	}
	return writeXML(rq, legalHoldXML{Xmlns: s3Namespace, Status: o.LegalHold})
}
