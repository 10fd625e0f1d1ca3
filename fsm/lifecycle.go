package fsm

import (
	"math"
	"strings"
	"unicode/utf8"
)

// Lifecycle rules: a bucket's configuration (a record under prefixLifecycle), the rules'
// evaluation (shared by the FSM, the leader's runner in package lifecycle and the S3 layer's
// x-amz-expiration), and LifecycleExpire, the event that carries out what the rules say. See
// doc.go, "Lifecycle".

// Limits of a lifecycle configuration (S3's where it has them).
const (
	MaxLifecycleRules   = 1000
	MaxLifecycleRuleID  = 255
	MaxLifecycleDays    = 100000 // keeps every due time within int64 for any day length up to 24h
	MaxNewerNoncurrent  = 100
	MaxExpireTargets    = 1000 // targets of one LifecycleExpire
	maxLifecycleTagsAnd = MaxBucketTags
)

// Filter forms: how a rule's filter was written, so that it reads back as it was given.
const (
	// FilterPrefixLegacy: <Rule><Prefix> (the deprecated form, prefix only).
	FilterPrefixLegacy uint8 = 0
	// FilterSingle: <Filter> with at most one condition (an empty Filter matches everything).
	FilterSingle uint8 = 1
	// FilterAnd: <Filter><And> with any number of conditions.
	FilterAnd uint8 = 2
)

// LifecycleFilter selects the versions and uploads a rule applies to: every condition set must
// hold (keys starting with Prefix; every tag in Tags; a size strictly above SizeGreaterThan
// and strictly below SizeLessThan when their Has* flag is set).
type LifecycleFilter struct {
	Form               uint8
	Prefix             string
	Tags               []Pair // sorted, unique
	HasSizeGreaterThan bool
	SizeGreaterThan    uint64
	HasSizeLessThan    bool
	SizeLessThan       uint64
}

// LifecycleRule is one rule of a bucket's lifecycle configuration (S3's LifecycleRule). Days
// are lifecycle days: 24 hours in production, shorter in tests (the LifecycleExpire event and
// readers carry the length).
type LifecycleRule struct {
	ID      string
	Enabled bool
	Filter  LifecycleFilter
	// Expiration of current versions: ExpirationDays after a version's creation, or from
	// ExpirationDate (Unix ns) on; a current version that expires is deleted as DeleteObject
	// without a version ID deletes it (a delete marker in a versioned bucket). With
	// ExpirationDays, a delete marker that is its key's only version is removed once it is
	// that old too; ExpiredObjectDeleteMarker removes such markers at once.
	ExpirationDays            uint32
	ExpirationDate            int64
	ExpiredObjectDeleteMarker bool
	// NoncurrentDays: noncurrent versions are removed that many days after they became
	// noncurrent (their successor's creation), keeping the NewerNoncurrentVersions newest.
	NoncurrentDays          uint32
	NewerNoncurrentVersions uint32
	// AbortDays: multipart uploads are aborted that many days after their initiation.
	AbortDays uint32
}

// ValidateLifecycle checks a configuration against S3's rules (the S3 layer maps what its XML
// schema refuses first to MalformedXML): at most MaxLifecycleRules rules with unique IDs of
// 1..255 characters, each with at least one action; Days and Date not together, nor with
// ExpiredObjectDeleteMarker; a tag or size filter neither with ExpiredObjectDeleteMarker nor
// with AbortDays; NewerNoncurrentVersions only with NoncurrentDays; sizes ordered. Errors are
// InvalidArgument or InvalidRequest, as S3's.
func ValidateLifecycle(rules []LifecycleRule) *Error {
	if len(rules) == 0 {
		return newErr(CodeMalformedXML, "a lifecycle configuration has at least one rule")
	}
	if len(rules) > MaxLifecycleRules {
		return newErr(CodeInvalidArgument, "%d lifecycle rules, at most %d allowed", len(rules), MaxLifecycleRules)
	}
	ids := make(map[string]bool, len(rules)) // lookups only
	for i := range rules {
		r := &rules[i]
		if err := validateRule(r); err != nil {
			return err
		}
		if ids[r.ID] {
			return newErr(CodeInvalidArgument, "Rule ID must be unique. Found same ID for more than one rule: %q", r.ID)
		}
		ids[r.ID] = true
	}
	return nil
}

func validateRule(r *LifecycleRule) *Error {
	f := &r.Filter
	switch {
	case r.ID == "" || len(r.ID) > MaxLifecycleRuleID || !utf8.ValidString(r.ID):
		return newErr(CodeInvalidArgument, "rule ID %.40q: 1 to %d characters", r.ID, MaxLifecycleRuleID)
	case f.Form > FilterAnd:
		return newErr(CodeInvalidArgument, "rule %q: unknown filter form %d", r.ID, f.Form)
	case f.Form == FilterPrefixLegacy && (len(f.Tags) > 0 || f.HasSizeGreaterThan || f.HasSizeLessThan):
		return newErr(CodeInvalidArgument, "rule %q: a rule-level Prefix has no other conditions", r.ID)
	case f.Form == FilterSingle && f.conditions() > 1:
		return newErr(CodeMalformedXML, "rule %q: a Filter holds one condition; use And for more", r.ID)
	case f.HasSizeGreaterThan && f.HasSizeLessThan && f.SizeGreaterThan >= f.SizeLessThan:
		return newErr(CodeInvalidArgument, "rule %q: ObjectSizeGreaterThan must be less than ObjectSizeLessThan", r.ID)
	case r.ExpirationDays == 0 && r.ExpirationDate == 0 && !r.ExpiredObjectDeleteMarker && r.NoncurrentDays == 0 && r.AbortDays == 0:
		return newErr(CodeInvalidRequest, "rule %q: At least one action needs to be specified in a rule", r.ID)
	case r.ExpirationDays > 0 && r.ExpirationDate != 0:
		return newErr(CodeMalformedXML, "rule %q: Expiration has Days or Date, not both", r.ID)
	case r.ExpiredObjectDeleteMarker && (r.ExpirationDays > 0 || r.ExpirationDate != 0):
		return newErr(CodeInvalidArgument, "rule %q: ExpiredObjectDeleteMarker cannot be specified with Days or Date in a Lifecycle Expiration Policy", r.ID)
	case r.ExpirationDate < 0:
		return newErr(CodeInvalidArgument, "rule %q: Date before 1970", r.ID)
	case r.ExpirationDays > MaxLifecycleDays || r.NoncurrentDays > MaxLifecycleDays || r.AbortDays > MaxLifecycleDays:
		return newErr(CodeInvalidArgument, "rule %q: days over %d", r.ID, MaxLifecycleDays)
	case r.NewerNoncurrentVersions > 0 && r.NoncurrentDays == 0:
		return newErr(CodeInvalidArgument, "rule %q: NewerNoncurrentVersions needs NoncurrentDays", r.ID)
	case r.NewerNoncurrentVersions > MaxNewerNoncurrent:
		return newErr(CodeInvalidArgument, "rule %q: NewerNoncurrentVersions must be 1..%d", r.ID, MaxNewerNoncurrent)
	case len(f.Tags) > 0 && r.ExpiredObjectDeleteMarker:
		return newErr(CodeInvalidRequest, "rule %q: Tag-based filter cannot be used with ExpiredObjectDeleteMarker", r.ID)
	case (len(f.Tags) > 0 || f.HasSizeGreaterThan || f.HasSizeLessThan) && r.AbortDays > 0:
		return newErr(CodeInvalidRequest, "rule %q: AbortIncompleteMultipartUpload cannot be specified with a Tag or object size filter", r.ID)
	}
	return checkTags(f.Tags, maxLifecycleTagsAnd)
}

// conditions counts the filter's conditions.
func (f *LifecycleFilter) conditions() int {
	n := len(f.Tags)
	if f.Prefix != "" {
		n++
	}
	if f.HasSizeGreaterThan {
		n++
	}
	if f.HasSizeLessThan {
		n++
	}
	return n
}

// Matches reports whether the filter selects a version with this key, size and tags.
func (f *LifecycleFilter) Matches(key string, size uint64, tags []Pair) bool {
	if !strings.HasPrefix(key, f.Prefix) {
		return false
	}
	if f.HasSizeGreaterThan && size <= f.SizeGreaterThan || f.HasSizeLessThan && size >= f.SizeLessThan {
		return false
	}
	for _, want := range f.Tags {
		found := false
		for _, t := range tags {
			if t == want {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// matchesVersion applies the filter to a version (a delete marker has size 0 and no tags).
func (r *LifecycleRule) matchesVersion(o *ObjectInfo) bool {
	return r.Enabled && r.Filter.Matches(o.Key, o.Size, o.Tags)
}

// LifecycleDue is when something dated base (Unix ns) is days lifecycle days old, S3's way:
// base plus the days, rounded up to the next multiple of day since the epoch (midnight UTC when
// day is 24 hours). It saturates at math.MaxInt64.
func LifecycleDue(base int64, days uint32, day int64) int64 {
	if day <= 0 {
		return math.MaxInt64
	}
	add := int64(days) * day // days ≤ MaxLifecycleDays keeps this in range for day ≤ 24h
	if add/day != int64(days) || base > math.MaxInt64-add-day {
		return math.MaxInt64
	}
	t := base + add
	if r := t % day; r > 0 {
		t += day - r
	} else if r < 0 {
		t -= r
	}
	return t
}

// CurrentDue is when the rule expires o, a current version that is not a delete marker (ok
// false if it never does).
func (r *LifecycleRule) CurrentDue(o *ObjectInfo, day int64) (int64, bool) {
	if o.DeleteMarker || !r.matchesVersion(o) {
		return 0, false
	}
	switch {
	case r.ExpirationDays > 0:
		return LifecycleDue(o.ModTime, r.ExpirationDays, day), true
	case r.ExpirationDate != 0:
		return r.ExpirationDate, true
	}
	return 0, false
}

// MarkerDue is when the rule removes m, a delete marker that is its key's only version: at
// once with ExpiredObjectDeleteMarker, when ExpirationDays old otherwise.
func (r *LifecycleRule) MarkerDue(m *ObjectInfo, day int64) (int64, bool) {
	if !m.DeleteMarker || !r.matchesVersion(m) {
		return 0, false
	}
	switch {
	case r.ExpiredObjectDeleteMarker:
		return m.ModTime, true
	case r.ExpirationDays > 0:
		return LifecycleDue(m.ModTime, r.ExpirationDays, day), true
	}
	return 0, false
}

// NoncurrentDue is when the rule removes o, a noncurrent version that became noncurrent at
// since (its successor's creation) and has newer noncurrent versions newer than it.
func (r *LifecycleRule) NoncurrentDue(o *ObjectInfo, since int64, newer int, day int64) (int64, bool) {
	if r.NoncurrentDays == 0 || newer < int(r.NewerNoncurrentVersions) || !r.matchesVersion(o) {
		return 0, false
	}
	return LifecycleDue(since, r.NoncurrentDays, day), true
}

// UploadDue is when the rule aborts u.
func (r *LifecycleRule) UploadDue(u *UploadInfo, day int64) (int64, bool) {
	if r.AbortDays == 0 || !r.Enabled || !r.Filter.Matches(u.Key, 0, nil) {
		return 0, false
	}
	return LifecycleDue(u.Initiated, r.AbortDays, day), true
}

// Expiration is when the rules expire o, a current version (S3's x-amz-expiration): the
// earliest due time of the enabled rules that expire it, and that rule's ID.
func Expiration(rules []LifecycleRule, o *ObjectInfo, day int64) (due int64, ruleID string, ok bool) {
	for i := range rules {
		if d, yes := rules[i].CurrentDue(o, day); yes && (!ok || d < due) {
			due, ruleID, ok = d, rules[i].ID, true
		}
	}
	return due, ruleID, ok
}

// PutBucketLifecycle replaces a bucket's lifecycle configuration; no Rules removes it
// (DeleteBucketLifecycle). Rejections: NoSuchBucket; ValidateLifecycle's.
type PutBucketLifecycle struct {
	Bucket string
	Rules  []LifecycleRule
}

// Expiry actions of an ExpireTarget.
const (
	// ExpireCurrent: the current version VersionID has expired; it is deleted as DeleteObject
	// without a version ID deletes it.
	ExpireCurrent uint8 = 1
	// ExpireNoncurrent: the noncurrent version VersionID is removed for good.
	ExpireNoncurrent uint8 = 2
	// ExpireDeleteMarker: the delete marker VersionID, its key's only version, is removed.
	ExpireDeleteMarker uint8 = 3
	// ExpireUpload: the multipart upload VersionID (its upload ID) is aborted.
	ExpireUpload uint8 = 4
)

// ExpireTarget is one thing a lifecycle rule says is due.
type ExpireTarget struct {
	Action    uint8
	Key       string
	VersionID string // the version, or for ExpireUpload the upload ID
	RuleID    string
}

// LifecycleExpire carries out lifecycle rules: the leader's runner proposes it with the
// targets it found due. Apply judges each target again against the state and the rule as they
// are when the event applies, at Now with days of Day nanoseconds, so a target that is no
// longer due (the rule changed or went, the version changed, a newer version arrived) is left
// alone, and a version under object lock is never removed: each target's outcome is one entry
// of Result.Deleted (Key; VersionID the target's; DeleteMarker and DeleteMarkerVersionID for a
// marker made), with PreconditionFailed when it is not due, AccessDenied when it is locked.
// Only a missing bucket or a bad Day rejects the whole event. Markers made get the candidate
// MarkerVersionID (raised per key as needed) and Now as their time.
type LifecycleExpire struct {
	Bucket          string
	Now             int64
	Day             int64
	MarkerVersionID string
	Targets         []ExpireTarget
}

func (ev *PutBucketLifecycle) encodeBody(e *encoder) {
	e.str("bucket", ev.Bucket)
	encodeRules(e, ev.Rules)
}

func (ev *PutBucketLifecycle) decodeBody(d *decoder) {
	ev.Bucket = d.str("bucket")
	ev.Rules = decodeRules(d)
}

func (ev *LifecycleExpire) encodeBody(e *encoder) {
	e.str("bucket", ev.Bucket)
	e.i64(ev.Now)
	e.i64(ev.Day)
	e.str("marker version id", ev.MarkerVersionID)
	e.count("targets", len(ev.Targets), MaxExpireTargets)
	for _, t := range ev.Targets {
		e.u8(t.Action)
		e.str("key", t.Key)
		e.str("version id", t.VersionID)
		e.str("rule id", t.RuleID)
	}
}

func (ev *LifecycleExpire) decodeBody(d *decoder) {
	ev.Bucket = d.str("bucket")
	ev.Now = d.i64("now")
	ev.Day = d.i64("day")
	ev.MarkerVersionID = d.str("marker version id")
	if n := d.count("targets", MaxExpireTargets, 4); n > 0 {
		ev.Targets = make([]ExpireTarget, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			ev.Targets = append(ev.Targets, ExpireTarget{Action: d.u8("action"), Key: d.str("key"),
				VersionID: d.str("version id"), RuleID: d.str("rule id")})
		}
	}
}

// Rule encoding (events and the lifecycle record):
//
//	string id, u8 flags (1 enabled, 2 expired object delete marker, 4 size greater than set,
//	8 size less than set), u8 filter form, string prefix, pairs tags,
//	[flag 4: uvarint size greater than], [flag 8: uvarint size less than],
//	uvarint expiration days, i64 expiration date, uvarint noncurrent days,
//	uvarint newer noncurrent versions, uvarint abort days
const (
	ruleEnabled   = 1
	ruleEODM      = 2
	ruleSizeGT    = 4
	ruleSizeLT    = 8
	ruleFlagsAll  = ruleEnabled | ruleEODM | ruleSizeGT | ruleSizeLT
	minRuleLength = 13 // the smallest encoded rule, for the decoder's count bound
)

func encodeRules(e *encoder, rules []LifecycleRule) {
	e.count("lifecycle rules", len(rules), MaxLifecycleRules)
	for i := range rules {
		r := &rules[i]
		var flags uint8
		for _, b := range []struct {
			set  bool
			flag uint8
		}{{r.Enabled, ruleEnabled}, {r.ExpiredObjectDeleteMarker, ruleEODM}, {r.Filter.HasSizeGreaterThan, ruleSizeGT}, {r.Filter.HasSizeLessThan, ruleSizeLT}} {
			if b.set {
				flags |= b.flag
			}
		}
		if !r.Filter.HasSizeGreaterThan && r.Filter.SizeGreaterThan != 0 || !r.Filter.HasSizeLessThan && r.Filter.SizeLessThan != 0 {
			e.fail("rule %q: a size without its flag", r.ID)
		}
		e.str("rule id", r.ID)
		e.u8(flags)
		e.u8(r.Filter.Form)
		e.str("prefix", r.Filter.Prefix)
		e.pairs("filter tags", r.Filter.Tags)
		if r.Filter.HasSizeGreaterThan {
			e.uvarint(r.Filter.SizeGreaterThan)
		}
		if r.Filter.HasSizeLessThan {
			e.uvarint(r.Filter.SizeLessThan)
		}
		e.uvarint(uint64(r.ExpirationDays))
		e.i64(r.ExpirationDate)
		e.uvarint(uint64(r.NoncurrentDays))
		e.uvarint(uint64(r.NewerNoncurrentVersions))
		e.uvarint(uint64(r.AbortDays))
	}
}

func decodeRules(d *decoder) []LifecycleRule {
	n := d.count("lifecycle rules", MaxLifecycleRules, minRuleLength)
	if n == 0 {
		return nil
	}
	out := make([]LifecycleRule, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		r := LifecycleRule{ID: d.str("rule id")}
		flags := d.u8("rule flags")
		if flags&^ruleFlagsAll != 0 {
			d.fail("rule flags %#x", flags)
		}
		r.Enabled, r.ExpiredObjectDeleteMarker = flags&ruleEnabled != 0, flags&ruleEODM != 0
		r.Filter.Form = d.u8("filter form")
		r.Filter.Prefix = d.str("prefix")
		r.Filter.Tags = d.pairs("filter tags")
		if flags&ruleSizeGT != 0 {
			r.Filter.HasSizeGreaterThan, r.Filter.SizeGreaterThan = true, d.uvarint("size greater than")
		}
		if flags&ruleSizeLT != 0 {
			r.Filter.HasSizeLessThan, r.Filter.SizeLessThan = true, d.uvarint("size less than")
		}
		r.ExpirationDays = d.u32v("expiration days")
		r.ExpirationDate = d.i64("expiration date")
		r.NoncurrentDays = d.u32v("noncurrent days")
		r.NewerNoncurrentVersions = d.u32v("newer noncurrent versions")
		r.AbortDays = d.u32v("abort days")
		out = append(out, r)
	}
	return out
}

func cloneRules(rules []LifecycleRule) []LifecycleRule {
	out := make([]LifecycleRule, len(rules))
	for i, r := range rules {
		r.Filter.Tags = clonePairs(r.Filter.Tags)
		out[i] = r
	}
	return out
}

// bucketLifecycle is a bucket's lifecycle configuration (prefixLifecycle), version 1: string
// bucket, the rules.
type bucketLifecycle struct {
	Bucket string
	Rules  []LifecycleRule
}

func lifecycleKey(bucket string) string { return keyOf(prefixLifecycle, bucket) }

func encodeLifecycle(l *bucketLifecycle) ([]byte, error) {
	e := startRecord()
	e.str("bucket", l.Bucket)
	encodeRules(e, l.Rules)
	return e.b, e.err
}

func decodeLifecycle(v []byte) (*bucketLifecycle, error) {
	d := openRecord(v)
	l := &bucketLifecycle{Bucket: d.str("bucket"), Rules: decodeRules(d)}
	if d.err == nil && len(l.Rules) == 0 {
		d.fail("lifecycle record without rules")
	}
	return l, d.finish()
}

func (f *FSM) putBucketLifecycle(ev *PutBucketLifecycle) *Result {
	b, ok := f.res.bucket(ev.Bucket)
	if !ok {
		return reject(CodeNoSuchBucket, "bucket %q does not exist", ev.Bucket)
	}
	var rec any
	if len(ev.Rules) > 0 {
		if err := ValidateLifecycle(ev.Rules); err != nil {
			return &Result{Err: err}
		}
		rec = &bucketLifecycle{Bucket: b.Name, Rules: cloneRules(ev.Rules)}
	}
	return f.setBucketRecord(b, lifecycleKey(b.Name), rec)
}

// BucketLifecycle returns a bucket's lifecycle rules: NoSuchBucket, or
// NoSuchLifecycleConfiguration when it has none.
func (f *FSM) BucketLifecycle(bucket string) ([]LifecycleRule, error) {
	rec, _, err := f.readBucketRecord(bucket, lifecycleKey(bucket),
		newErr(CodeNoSuchLifecycleConfiguration, "The lifecycle configuration does not exist (bucket %q)", bucket))
	if err != nil {
		return nil, err
	}
	return cloneRules(rec.(*bucketLifecycle).Rules), nil
}

func (f *FSM) lifecycleExpire(ev *LifecycleExpire) *Result {
	b, ok := f.res.bucket(ev.Bucket)
	if !ok {
		return reject(CodeNoSuchBucket, "bucket %q does not exist", ev.Bucket)
	}
	if ev.Day <= 0 {
		return reject(CodeInvalidArgument, "a lifecycle day of %d ns", ev.Day)
	}
	var rules []LifecycleRule
	if rec, ok := f.get(lifecycleKey(b.Name)); ok {
		rules = rec.(*bucketLifecycle).Rules
	}
	res := &Result{Deleted: make([]DeleteResult, 0, len(ev.Targets))}
	for _, t := range ev.Targets {
		dr := DeleteResult{Key: t.Key, VersionID: t.VersionID}
		var rule *LifecycleRule
		for i := range rules {
			if rules[i].ID == t.RuleID && rules[i].Enabled {
				rule = &rules[i]
			}
		}
		var removed [][]Blob
		var made *objectRec
		switch {
		case rule == nil:
			dr.Err = newErr(CodePreconditionFailed, "no enabled lifecycle rule %q", t.RuleID)
		case checkKey(t.Key) != nil:
			dr.Err = checkKey(t.Key)
		default:
			made, removed, dr.Err = f.expireTarget(b, rule, t, ev)
		}
		if made != nil {
			dr.DeleteMarker, dr.DeleteMarkerVersionID = true, made.VersionID
		}
		res.FreedBlobs = f.freedBlobs(res.FreedBlobs, nil, removed...)
		res.Deleted = append(res.Deleted, dr)
	}
	return res
}

// expireTarget carries out one target if it is due: it returns the delete marker it made, if
// any, and the blobs it released.
func (f *FSM) expireTarget(b *BucketInfo, rule *LifecycleRule, t ExpireTarget, ev *LifecycleExpire) (*objectRec, [][]Blob, *Error) {
	notDue := func(why string) *Error {
		return newErr(CodePreconditionFailed, "%s of %q is not due under rule %q: %s", t.VersionID, t.Key, rule.ID, why)
	}
	switch t.Action {
	case ExpireCurrent:
		head := f.head(b.Name, t.Key)
		if head == nil || head.DeleteMarker || head.VersionID != t.VersionID {
			return nil, nil, notDue("not the current version")
		}
		if due, ok := rule.CurrentDue(&head.ObjectInfo, ev.Day); !ok || ev.Now < due {
			return nil, nil, notDue("not expired")
		}
		o, removed, err := f.deleteCurrent(b, t.Key, ev.MarkerVersionID, ev.Now)
		if err != nil {
			return nil, nil, err
		}
		if o.DeleteMarker {
			return o, removed, nil
		}
		return nil, removed, nil
	case ExpireNoncurrent:
		rec, head, err := f.locateVersion(b.Name, t.Key, t.VersionID)
		if err != nil {
			return nil, nil, err
		}
		if rec == head {
			return nil, nil, notDue("the current version")
		}
		since, newer := f.noncurrentSince(head, rec)
		if due, ok := rule.NoncurrentDue(&rec.ObjectInfo, since, newer, ev.Day); !ok || ev.Now < due {
			return nil, nil, notDue("not noncurrent long enough, or among the newest kept")
		}
		return f.expireVersion(b, t, ev.Now)
	case ExpireDeleteMarker:
		head := f.head(b.Name, t.Key)
		if head == nil || !head.DeleteMarker || head.VersionID != t.VersionID {
			return nil, nil, notDue("not the current delete marker")
		}
		if f.newestNoncurrent(b.Name, t.Key) != nil {
			return nil, nil, notDue("the key has other versions")
		}
		if due, ok := rule.MarkerDue(&head.ObjectInfo, ev.Day); !ok || ev.Now < due {
			return nil, nil, notDue("not expired")
		}
		return f.expireVersion(b, t, ev.Now)
	case ExpireUpload:
		u, ok := f.upload(b.Name, t.Key, t.VersionID)
		if !ok {
			return nil, nil, newErr(CodeNoSuchUpload, "upload %q of key %q does not exist", t.VersionID, t.Key)
		}
		if due, ok := rule.UploadDue(u, ev.Day); !ok || ev.Now < due {
			return nil, nil, notDue("not old enough")
		}
		return nil, f.removeUpload(u, f.uploadParts(u.Bucket, u.Key, u.UploadID)), nil
	}
	return nil, nil, newErr(CodeInvalidArgument, "unknown lifecycle action %d", t.Action)
}

// expireVersion removes version t.VersionID for good unless object lock protects it at now.
func (f *FSM) expireVersion(b *BucketInfo, t ExpireTarget, now int64) (*objectRec, [][]Blob, *Error) {
	rec, err := f.removeVersion(b.Name, t.Key, t.VersionID, now, false)
	if err != nil {
		return nil, nil, err
	}
	return nil, [][]Blob{rec.Blobs}, nil
}

// noncurrentSince returns when rec, a noncurrent version of head's key, became noncurrent (the
// creation of the version right after it) and how many noncurrent versions are newer than
// it. It reads the key's noncurrent versions down to rec.
func (f *FSM) noncurrentSince(head, rec *objectRec) (since int64, newer int) {
	since = head.ModTime
	it := f.applyView().iter(versionsOf(rec.Bucket, rec.Key), keyEnd(versionsOf(rec.Bucket, rec.Key)), false, false)
	defer it.close()
	for it.next() {
		r, err := it.record()
		if err != nil {
			panic("fsm: apply cannot read the snapshot runs: " + err.Error())
		}
		v := r.(*objectRec)
		if v.order == rec.order {
			return since, newer
		}
		since = v.ModTime
		newer++
	}
	if it.err != nil {
		panic("fsm: apply cannot read the snapshot runs: " + it.err.Error())
	}
	return since, newer
}
