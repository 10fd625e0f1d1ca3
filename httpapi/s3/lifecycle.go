package s3

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/nebulaio/nebulaio/fsm"
)

// Lifecycle configuration: the XML of Put/Get/DeleteBucketLifecycleConfiguration, mapped to
// fsm.LifecycleRule (which the FSM validates and evaluates, and package lifecycle runs), and
// the x-amz-expiration header.

type lifecycleConfiguration struct {
	XMLName xml.Name           `xml:"LifecycleConfiguration"`
	Xmlns   string             `xml:"xmlns,attr,omitempty"`
	Rules   []lifecycleRuleXML `xml:"Rule"`
}

type lifecycleRuleXML struct {
	ID                             string                 `xml:"ID,omitempty"`
	Prefix                         *string                `xml:"Prefix"` // the deprecated rule-level prefix
	Filter                         *lifecycleFilterXML    `xml:"Filter"`
	Status                         string                 `xml:"Status"`
	Expiration                     *lifecycleExpiration   `xml:"Expiration"`
	NoncurrentVersionExpiration    *noncurrentExpiration  `xml:"NoncurrentVersionExpiration"`
	AbortIncompleteMultipartUpload *abortIncompleteUpload `xml:"AbortIncompleteMultipartUpload"`
}

type lifecycleFilterXML struct {
	Prefix                *string          `xml:"Prefix"`
	Tag                   *tag             `xml:"Tag"`
	ObjectSizeGreaterThan *int64           `xml:"ObjectSizeGreaterThan"`
	ObjectSizeLessThan    *int64           `xml:"ObjectSizeLessThan"`
	And                   *lifecycleAndXML `xml:"And"`
}

type lifecycleAndXML struct {
	Prefix                *string `xml:"Prefix"`
	Tags                  []tag   `xml:"Tag"`
	ObjectSizeGreaterThan *int64  `xml:"ObjectSizeGreaterThan"`
	ObjectSizeLessThan    *int64  `xml:"ObjectSizeLessThan"`
}

type lifecycleExpiration struct {
	Date                      string `xml:"Date,omitempty"`
	Days                      *int64 `xml:"Days"`
	ExpiredObjectDeleteMarker *bool  `xml:"ExpiredObjectDeleteMarker"`
}

type noncurrentExpiration struct {
	NoncurrentDays          *int64 `xml:"NoncurrentDays"`
	NewerNoncurrentVersions *int64 `xml:"NewerNoncurrentVersions"`
}

type abortIncompleteUpload struct {
	DaysAfterInitiation *int64 `xml:"DaysAfterInitiation"`
}

var (
	lifecycleElements = []string{"LifecycleConfiguration", "Rule", "ID", "Prefix", "Filter", "Status", "Tag", "Key", "Value",
		"And", "ObjectSizeGreaterThan", "ObjectSizeLessThan", "Expiration", "Date", "Days", "ExpiredObjectDeleteMarker",
		"NoncurrentVersionExpiration", "NoncurrentDays", "NewerNoncurrentVersions", "AbortIncompleteMultipartUpload",
		"DaysAfterInitiation"}
	lifecycleUnsupported = map[string]string{
		"Transition":                  "lifecycle transitions (STANDARD is the only storage class)",
		"NoncurrentVersionTransition": "lifecycle transitions (STANDARD is the only storage class)",
	}
)

func (h *handler) putBucketLifecycle(rq *request) error {
	var cfg lifecycleConfiguration
	if err := readConfigXML(rq, &cfg, lifecycleElements, lifecycleUnsupported); err != nil {
		return err
	}
	if len(cfg.Rules) == 0 {
		return ErrMalformedXML.with("a LifecycleConfiguration holds at least one Rule")
	}
	rules := make([]fsm.LifecycleRule, 0, len(cfg.Rules))
	for i := range cfg.Rules {
		r, err := cfg.Rules[i].rule()
		if err != nil {
			return err
		}
		rules = append(rules, r)
	}
	if ferr := fsm.ValidateLifecycle(rules); ferr != nil {
		return ferr
	}
	if _, err := h.propose(rq, &fsm.PutBucketLifecycle{Bucket: rq.bucket, Rules: rules}); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *handler) getBucketLifecycle(rq *request) error {
	if err := h.bucketExists(rq); err != nil {
		return err
	}
	rules, err := h.b.BucketLifecycle(rq.bucket)
	if err != nil {
		return err
	}
	out := lifecycleConfiguration{Xmlns: s3Namespace}
	for i := range rules {
		out.Rules = append(out.Rules, ruleXML(&rules[i]))
	}
	return writeXML(rq, out)
}

func (h *handler) deleteBucketLifecycle(rq *request) error {
	if _, err := h.propose(rq, &fsm.PutBucketLifecycle{Bucket: rq.bucket}); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

// positive reads a count element that must be a positive integer.
func positive(name, rule string, v *int64) (uint32, error) {
	if *v <= 0 || *v > fsm.MaxLifecycleDays {
		return 0, ErrInvalidArgument.with("rule %q: '%s' must be a positive integer (at most %d)", rule, name, fsm.MaxLifecycleDays)
	}
	return uint32(*v), nil
}

// rule maps one Rule element to the FSM's rule; the checks that need the whole rule are
// fsm.ValidateLifecycle's.
func (x *lifecycleRuleXML) rule() (fsm.LifecycleRule, error) {
	r := fsm.LifecycleRule{ID: x.ID}
	if r.ID == "" {
		r.ID = randomRuleID() // S3 names a rule sent without an ID
	}
	switch x.Status {
	case "Enabled":
		r.Enabled = true
	case "Disabled":
	default:
		return r, ErrMalformedXML.with("rule %q: Status must be Enabled or Disabled, not %.20q", r.ID, x.Status)
	}
	var err error
	switch {
	case x.Prefix != nil && x.Filter != nil:
		return r, ErrMalformedXML.with("rule %q: a rule has Filter or Prefix, not both", r.ID)
	case x.Prefix != nil:
		r.Filter = fsm.LifecycleFilter{Form: fsm.FilterPrefixLegacy, Prefix: *x.Prefix}
	case x.Filter != nil:
		if r.Filter, err = x.Filter.filter(r.ID); err != nil {
			return r, err
		}
	default:
		return r, ErrMalformedXML.with("rule %q: a rule needs a Filter (or a Prefix)", r.ID)
	}
	if e := x.Expiration; e != nil {
		if e.Days != nil {
			if r.ExpirationDays, err = positive("Days", r.ID, e.Days); err != nil {
				return r, err
			}
		}
		if e.Date != "" {
			t, perr := time.Parse(time.RFC3339, strings.TrimSpace(e.Date))
			if perr != nil {
				if t, perr = time.Parse("2006-01-02", strings.TrimSpace(e.Date)); perr != nil {
					return r, ErrInvalidArgument.with("rule %q: 'Date' %.40q is not an ISO 8601 date", r.ID, e.Date)
				}
			}
			if t = t.UTC(); t.Hour() != 0 || t.Minute() != 0 || t.Second() != 0 || t.Nanosecond() != 0 {
				return r, ErrInvalidArgument.with("rule %q: 'Date' must be at midnight GMT", r.ID)
			}
			r.ExpirationDate = t.UnixNano()
		}
		r.ExpiredObjectDeleteMarker = e.ExpiredObjectDeleteMarker != nil && *e.ExpiredObjectDeleteMarker
		if e.Days == nil && e.Date == "" && e.ExpiredObjectDeleteMarker == nil {
			return r, ErrMalformedXML.with("rule %q: Expiration needs Days, Date or ExpiredObjectDeleteMarker", r.ID)
		}
	}
	if n := x.NoncurrentVersionExpiration; n != nil {
		if n.NoncurrentDays == nil {
			return r, ErrMalformedXML.with("rule %q: NoncurrentVersionExpiration needs NoncurrentDays", r.ID)
		}
		if r.NoncurrentDays, err = positive("NoncurrentDays", r.ID, n.NoncurrentDays); err != nil {
			return r, err
		}
		if n.NewerNoncurrentVersions != nil {
			if v := *n.NewerNoncurrentVersions; v < 1 || v > fsm.MaxNewerNoncurrent {
				return r, ErrInvalidArgument.with("rule %q: NewerNoncurrentVersions must be 1..%d", r.ID, fsm.MaxNewerNoncurrent)
			}
			r.NewerNoncurrentVersions = uint32(*n.NewerNoncurrentVersions)
		}
	}
	if a := x.AbortIncompleteMultipartUpload; a != nil {
		if a.DaysAfterInitiation == nil {
			return r, ErrMalformedXML.with("rule %q: AbortIncompleteMultipartUpload needs DaysAfterInitiation", r.ID)
		}
		if r.AbortDays, err = positive("DaysAfterInitiation", r.ID, a.DaysAfterInitiation); err != nil {
			return r, err
		}
	}
	return r, nil
}

// filter maps a Filter element: at most one condition, or And with any.
func (x *lifecycleFilterXML) filter(id string) (fsm.LifecycleFilter, error) {
	f := fsm.LifecycleFilter{Form: fsm.FilterSingle}
	n := 0
	if x.Prefix != nil {
		f.Prefix, n = *x.Prefix, n+1
	}
	var tags []fsm.Pair
	if x.Tag != nil {
		tags, n = []fsm.Pair{{Key: x.Tag.Key, Value: x.Tag.Value}}, n+1
	}
	gt, lt := x.ObjectSizeGreaterThan, x.ObjectSizeLessThan
	if gt != nil {
		n++
	}
	if lt != nil {
		n++
	}
	if a := x.And; a != nil {
		n++
		f.Form = fsm.FilterAnd
		if a.Prefix != nil {
			f.Prefix = *a.Prefix
		}
		for _, t := range a.Tags {
			tags = append(tags, fsm.Pair{Key: t.Key, Value: t.Value})
		}
		gt, lt = a.ObjectSizeGreaterThan, a.ObjectSizeLessThan
	}
	if n > 1 {
		return f, ErrMalformedXML.with("rule %q: a Filter holds one of Prefix, Tag, ObjectSizeGreaterThan, ObjectSizeLessThan or And", id)
	}
	for _, s := range []struct {
		v    *int64
		has  *bool
		size *uint64
	}{{gt, &f.HasSizeGreaterThan, &f.SizeGreaterThan}, {lt, &f.HasSizeLessThan, &f.SizeLessThan}} {
		if s.v == nil {
			continue
		}
		if *s.v < 0 {
			return f, ErrInvalidArgument.with("rule %q: an object size must not be negative", id)
		}
		*s.has, *s.size = true, uint64(*s.v)
	}
	var err error
	f.Tags, err = normalizeTags(tags, fsm.MaxBucketTags)
	return f, err
}

// ruleXML renders a stored rule as it was given.
func ruleXML(r *fsm.LifecycleRule) lifecycleRuleXML {
	x := lifecycleRuleXML{ID: r.ID, Status: "Disabled"}
	if r.Enabled {
		x.Status = "Enabled"
	}
	f := &r.Filter
	prefix := f.Prefix
	size := func(has bool, v uint64) *int64 {
		if !has {
			return nil
		}
		n := int64(v)
		return &n
	}
	switch f.Form {
	case fsm.FilterPrefixLegacy:
		x.Prefix = &prefix
	case fsm.FilterAnd:
		a := &lifecycleAndXML{ObjectSizeGreaterThan: size(f.HasSizeGreaterThan, f.SizeGreaterThan), ObjectSizeLessThan: size(f.HasSizeLessThan, f.SizeLessThan)}
		if prefix != "" {
			a.Prefix = &prefix
		}
		for _, t := range f.Tags {
			a.Tags = append(a.Tags, tag{Key: t.Key, Value: t.Value})
		}
		x.Filter = &lifecycleFilterXML{And: a}
	default:
		fx := &lifecycleFilterXML{ObjectSizeGreaterThan: size(f.HasSizeGreaterThan, f.SizeGreaterThan), ObjectSizeLessThan: size(f.HasSizeLessThan, f.SizeLessThan)}
		switch {
		case len(f.Tags) == 1:
			fx.Tag = &tag{Key: f.Tags[0].Key, Value: f.Tags[0].Value}
		case fx.ObjectSizeGreaterThan == nil && fx.ObjectSizeLessThan == nil:
			fx.Prefix = &prefix
		}
		x.Filter = fx
	}
	if r.ExpirationDays > 0 || r.ExpirationDate != 0 || r.ExpiredObjectDeleteMarker {
		e := &lifecycleExpiration{}
		if r.ExpirationDays > 0 {
			d := int64(r.ExpirationDays)
			e.Days = &d
		}
		if r.ExpirationDate != 0 {
			e.Date = time.Unix(0, r.ExpirationDate).UTC().Format("2006-01-02T15:04:05.000Z")
		}
		if r.ExpiredObjectDeleteMarker {
			t := true
			e.ExpiredObjectDeleteMarker = &t
		}
		x.Expiration = e
	}
	if r.NoncurrentDays > 0 {
		d := int64(r.NoncurrentDays)
		x.NoncurrentVersionExpiration = &noncurrentExpiration{NoncurrentDays: &d}
		if r.NewerNoncurrentVersions > 0 {
			n := int64(r.NewerNoncurrentVersions)
			x.NoncurrentVersionExpiration.NewerNoncurrentVersions = &n
		}
	}
	if r.AbortDays > 0 {
		d := int64(r.AbortDays)
		x.AbortIncompleteMultipartUpload = &abortIncompleteUpload{DaysAfterInitiation: &d}
	}
	return x
}

// randomRuleID names a rule sent without an ID.
func randomRuleID() string {
	var b [15]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("s3: crypto/rand failed: " + err.Error()) // unreachable on Linux
	}
	return base32.StdEncoding.EncodeToString(b[:])
}

// setExpiration sets x-amz-expiration on the answer about o, a bucket's current version, when
// a lifecycle rule will expire it: S3's form, expiry-date="<HTTP date>", rule-id="<id>".
func (h *handler) setExpiration(hd http.Header, bucket string, o *fsm.ObjectInfo) {
	if o == nil || o.DeleteMarker {
		return
	}
	rules, err := h.b.BucketLifecycle(bucket)
	var fe *fsm.Error
	if err != nil {
		if !errors.As(err, &fe) {
			h.log.Warn().Err(err).Str("bucket", bucket).Msg("s3: lifecycle rules unreadable; no x-amz-expiration")
		}
		return
	}
	if due, id, ok := fsm.Expiration(rules, o, int64(h.day)); ok {
		hd.Set("x-amz-expiration", fmt.Sprintf(`expiry-date="%s", rule-id="%s"`,
			time.Unix(0, due).UTC().Format(http.TimeFormat), strings.ReplaceAll(id, `"`, `\"`)))
	}
}
