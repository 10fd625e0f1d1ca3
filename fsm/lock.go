package fsm

import (
	"time"
)

// Object lock (WORM): see doc.go, "Object lock". Every check is made here, when an event is
// applied, against the replicated state and the time the event carries, so no node and no
// race can bypass it.

// Limits of a bucket's default retention (S3's: 100 years).
const (
	MaxRetentionDays  = 36500
	MaxRetentionYears = 100
)

// PutObjectLockConfiguration enables object lock on a bucket, if it is not on yet, and sets its
// default retention (zero DefaultRetention: none). Rejections: NoSuchBucket;
// InvalidBucketState when object lock is off and versioning is not Enabled; InvalidArgument for
// a default retention without a valid mode or without exactly one of Days and Years, or over
// MaxRetentionDays / MaxRetentionYears. Result.Bucket is the bucket after the change.
type PutObjectLockConfiguration struct {
	Bucket           string
	DefaultRetention DefaultRetention
}

// PutObjectRetention sets (or, with a zero Retention, removes) the retention of one version
// (VersionID "": the current one). An active retention (RetainUntil after Now) may be
// extended, or turned from GOVERNANCE to COMPLIANCE, at any time; shortening or removing it, or
// turning COMPLIANCE into GOVERNANCE, is AccessDenied — except for a GOVERNANCE retention with
// BypassGovernance. Rejections: NoSuchBucket; InvalidRequest when the bucket has no object
// lock; NoSuchKey, NoSuchVersion, MethodNotAllowed (a delete marker); InvalidArgument for an
// unknown mode or a RetainUntil not after Now. Result.Object is the version after the change.
type PutObjectRetention struct {
	Bucket           string
	Key              string
	VersionID        string
	Retention        Retention
	BypassGovernance bool
	Now              int64 // the request time (Unix ns): whether a retention is active is judged at it
}

// PutObjectLegalHold sets the legal hold of one version (VersionID "": the current one) to
// LegalHoldOn or LegalHoldOff. Rejections as PutObjectRetention's; InvalidArgument for another
// Status.
type PutObjectLegalHold struct {
	Bucket    string
	Key       string
	VersionID string
	Status    string
}

func (ev *PutObjectLockConfiguration) encodeBody(e *encoder) {
	e.str("bucket", ev.Bucket)
	e.str("mode", ev.DefaultRetention.Mode)
	e.uvarint(uint64(ev.DefaultRetention.Days))
	e.uvarint(uint64(ev.DefaultRetention.Years))
}

func (ev *PutObjectLockConfiguration) decodeBody(d *decoder) {
	ev.Bucket = d.str("bucket")
	ev.DefaultRetention = DefaultRetention{Mode: d.str("mode"), Days: d.u32v("days"), Years: d.u32v("years")}
}

func (ev *PutObjectRetention) encodeBody(e *encoder) {
	e.str("bucket", ev.Bucket)
	e.str("key", ev.Key)
	e.str("version id", ev.VersionID)
	e.str("mode", ev.Retention.Mode)
	e.i64(ev.Retention.RetainUntil)
	e.bool(ev.BypassGovernance)
	e.i64(ev.Now)
}

func (ev *PutObjectRetention) decodeBody(d *decoder) {
	ev.Bucket = d.str("bucket")
	ev.Key = d.str("key")
	ev.VersionID = d.str("version id")
	ev.Retention = Retention{Mode: d.str("mode"), RetainUntil: d.i64("retain until")}
	ev.BypassGovernance = d.bool("bypass governance")
	ev.Now = d.i64("now")
}

func (ev *PutObjectLegalHold) encodeBody(e *encoder) {
	e.str("bucket", ev.Bucket)
	e.str("key", ev.Key)
	e.str("version id", ev.VersionID)
	e.str("status", ev.Status)
}

func (ev *PutObjectLegalHold) decodeBody(d *decoder) {
	ev.Bucket = d.str("bucket")
	ev.Key = d.str("key")
	ev.VersionID = d.str("version id")
	ev.Status = d.str("status")
}

// LockedAt reports whether version o may not be removed at now (Unix ns) without bypassing
// governance: it is under legal hold, or its retention lasts past now.
func (o *ObjectInfo) LockedAt(now int64) bool {
	return o.LegalHold == LegalHoldOn || o.Retention.Mode != "" && o.Retention.RetainUntil > now
}

// protection is the reason version o may not be removed at now (nil: it may): a legal hold,
// or a retention in force — a GOVERNANCE one unless bypass.
func protection(o *ObjectInfo, now int64, bypass bool) *Error {
	if o.LegalHold == LegalHoldOn {
		return newErr(CodeAccessDenied, "Access Denied because object protected by object lock: version %s of %q is under legal hold", o.VersionID, o.Key)
	}
	if o.Retention.Mode == "" || o.Retention.RetainUntil <= now {
		return nil
	}
	if o.Retention.Mode == LockGovernance && bypass {
		return nil
	}
	return newErr(CodeAccessDenied, "Access Denied because object protected by object lock: version %s of %q is retained in %s mode until %s",
		o.VersionID, o.Key, o.Retention.Mode, time.Unix(0, o.Retention.RetainUntil).UTC().Format(time.RFC3339))
}

// missingLock is S3's answer to lock settings on a bucket without object lock.
func missingLock(bucket string) *Error {
	return newErr(CodeInvalidRequest, "Bucket is missing Object Lock Configuration (bucket %q)", bucket)
}

// checkLockRequest checks the object lock a write asks for (PutObject, CreateMultipartUpload)
// in bucket b at time now.
func checkLockRequest(b *BucketInfo, r Retention, hold string, now int64) *Error {
	if !hasLock(r, hold) {
		return nil
	}
	if !b.ObjectLock {
		return missingLock(b.Name)
	}
	if err := checkRetention(r, now); err != nil {
		return err
	}
	if hold != "" && hold != LegalHoldOn && hold != LegalHoldOff {
		return newErr(CodeInvalidArgument, "Legal Hold must be either of 'ON' or 'OFF', not %q", hold)
	}
	return nil
}

// checkRetention checks a retention to set at now: a mode with a date after now, or neither.
func checkRetention(r Retention, now int64) *Error {
	switch r.Mode {
	case "":
		if r.RetainUntil != 0 {
			return newErr(CodeInvalidArgument, "a retain-until date needs a retention mode")
		}
	case LockGovernance, LockCompliance:
		if r.RetainUntil <= now {
			return newErr(CodeInvalidArgument, "The retain until date must be in the future!")
		}
	default:
		return newErr(CodeInvalidArgument, "Unknown wormMode directive: retention mode %q (GOVERNANCE or COMPLIANCE)", r.Mode)
	}
	return nil
}

// withDefaultRetention gives o, a new version in bucket b, the bucket's default retention from
// its ModTime when it asks for no retention itself.
func withDefaultRetention(b *BucketInfo, o *objectRec) {
	d := b.DefaultRetention
	if !b.ObjectLock || d.Mode == "" || o.Retention.Mode != "" || o.DeleteMarker {
		return
	}
	o.Retention = Retention{Mode: d.Mode, RetainUntil: d.until(o.ModTime)}
}

// until is the end of a default retention that starts at t (Unix ns): Days of 24 hours, or
// Years calendar years in UTC.
func (d DefaultRetention) until(t int64) int64 {
	if d.Years > 0 {
		return time.Unix(0, t).UTC().AddDate(int(d.Years), 0, 0).UnixNano()
	}
	return t + int64(d.Days)*int64(24*time.Hour)
}

// ValidateDefaultRetention checks a bucket's default retention: zero (none), or a mode with
// exactly one of Days and Years within S3's limits. Errors are InvalidArgument (the S3 layer
// answers MalformedXML for what its schema refuses first).
func ValidateDefaultRetention(d DefaultRetention) *Error {
	if d == (DefaultRetention{}) {
		return nil
	}
	switch {
	case d.Mode != LockGovernance && d.Mode != LockCompliance:
		return newErr(CodeInvalidArgument, "default retention mode %q: GOVERNANCE or COMPLIANCE", d.Mode)
	case d.Days > 0 && d.Years > 0:
		return newErr(CodeInvalidArgument, "a default retention has Days or Years, not both")
	case d.Days == 0 && d.Years == 0:
		return newErr(CodeInvalidArgument, "Default retention period must be a positive integer value")
	case d.Days > MaxRetentionDays || d.Years > MaxRetentionYears:
		return newErr(CodeInvalidArgument, "Default retention period is too large (at most %d days or %d years)", MaxRetentionDays, MaxRetentionYears)
	}
	return nil
}

func (f *FSM) putObjectLockConfiguration(ev *PutObjectLockConfiguration) *Result {
	b, ok := f.res.bucket(ev.Bucket)
	if !ok {
		return reject(CodeNoSuchBucket, "bucket %q does not exist", ev.Bucket)
	}
	if !b.ObjectLock && b.Versioning != VersioningEnabled {
		return reject(CodeInvalidBucketState, "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration")
	}
	if err := ValidateDefaultRetention(ev.DefaultRetention); err != nil {
		return &Result{Err: err}
	}
	nb := *b
	nb.ObjectLock, nb.DefaultRetention = true, ev.DefaultRetention
	f.res.buckets.ReplaceOrInsert(&nb)
	f.set(bucketKey(nb.Name), &nb)
	out := nb
	return &Result{Bucket: &out}
}

// lockTarget finds the version a retention or legal hold change names, in a bucket with object
// lock.
func (f *FSM) lockTarget(bucket, key, vid string) (*objectRec, *Error) {
	b, ok := f.res.bucket(bucket)
	if !ok {
		return nil, newErr(CodeNoSuchBucket, "bucket %q does not exist", bucket)
	}
	if !b.ObjectLock {
		return nil, missingLock(bucket)
	}
	rec, _, err := f.locateVersion(bucket, key, vid)
	if err != nil {
		return nil, err
	}
	if rec.DeleteMarker {
		return nil, versionMarkerErr(vid, &rec.ObjectInfo)
	}
	return rec, nil
}

// storeVersion replaces a version's record by n (same identity) and returns it as a result.
func (f *FSM) storeVersion(n *objectRec) *Result {
	if err := f.recordFits(func(e *encoder) { writeObjectRec(e, n) }); err != nil {
		return &Result{Err: err}
	}
	f.set(n.key(), n)
	out := n.ObjectInfo.clone()
	return &Result{Object: &out}
}

func (f *FSM) putObjectRetention(ev *PutObjectRetention) *Result {
	rec, err := f.lockTarget(ev.Bucket, ev.Key, ev.VersionID)
	if err != nil {
		return &Result{Err: err}
	}
	nr := ev.Retention
	if nr != (Retention{}) {
		if err := checkRetention(nr, ev.Now); err != nil {
			return &Result{Err: err}
		}
	}
	cur := rec.Retention
	if cur.Mode != "" && cur.RetainUntil > ev.Now {
		weaker := nr.Mode == "" || nr.RetainUntil < cur.RetainUntil || cur.Mode == LockCompliance && nr.Mode != LockCompliance
		if weaker && (cur.Mode == LockCompliance || !ev.BypassGovernance) {
			hint := " (or changed with x-amz-bypass-governance-retention: true)"
			if cur.Mode == LockCompliance {
				hint = ""
			}
			return reject(CodeAccessDenied, "Access Denied: version %s of %q is retained in %s mode until %s; it can only be extended%s",
				rec.VersionID, rec.Key, cur.Mode, time.Unix(0, cur.RetainUntil).UTC().Format(time.RFC3339), hint)
		}
	}
	n := *rec
	n.Retention = nr
	return f.storeVersion(&n)
}

func (f *FSM) putObjectLegalHold(ev *PutObjectLegalHold) *Result {
	if ev.Status != LegalHoldOn && ev.Status != LegalHoldOff {
		return reject(CodeInvalidArgument, "Legal Hold must be either of 'ON' or 'OFF', not %q", ev.Status)
	}
	rec, err := f.lockTarget(ev.Bucket, ev.Key, ev.VersionID)
	if err != nil {
		return &Result{Err: err}
	}
	n := *rec
	n.LegalHold = ev.Status
	return f.storeVersion(&n)
}

// replacedNull returns the version a write of a new current version into bucket b would
// remove (a null version, when versioning is not Enabled), nil if none. head is the key's
// current version.
func (f *FSM) replacedNull(b *BucketInfo, head *objectRec) *objectRec {
	if head == nil || b.Versioning == VersioningEnabled {
		return nil
	}
	if head.isNull() {
		return head
	}
	if at, ok := head.nullAt, head.hasNull; ok {
		if rec, found := f.get(versionKey(head.Bucket, head.Key, at)); found {
			return rec.(*objectRec)
		}
	}
	return nil
}

// checkReplace refuses a write of a new current version over head at now when it would remove
// a locked null version. (A bucket with object lock is always versioning-enabled, where a
// write removes nothing; this holds the line should that ever change.)
func (f *FSM) checkReplace(b *BucketInfo, head *objectRec, now int64) *Error {
	if old := f.replacedNull(b, head); old != nil {
		return protection(&old.ObjectInfo, now, false)
	}
	return nil
}
