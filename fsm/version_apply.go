package fsm

import "strings"

// Apply's side of versions (see doc.go, "Versions"). Every function here runs under f.mu
// held for writing; those that mutate are called only once every precondition holds.

// head returns the current version of key, nil if the key has none.
func (f *FSM) head(bucket, key string) *objectRec {
	rec, ok := f.get(objectKey(bucket, key))
	if !ok {
		return nil
	}
	return rec.(*objectRec)
}

// newestNoncurrent returns the newest noncurrent version of key, nil if there is none.
func (f *FSM) newestNoncurrent(bucket, key string) *objectRec {
	if recs := f.scanForApply(versionsOf(bucket, key), 1); len(recs) > 0 {
		return recs[0].(*objectRec)
	}
	return nil
}

// candidateOrder reads a proposer's candidate version ID for a write into bucket b. An
// enabled bucket needs one; elsewhere an empty candidate orders the write by its mtime.
func candidateOrder(b *BucketInfo, id string, mtime int64) (vorder, *Error) {
	if id == "" {
		if b.Versioning == VersioningEnabled {
			return vorder{}, newErr(CodeInvalidArgument, "a write into versioning-enabled bucket %q needs a version id", b.Name)
		}
		return vorder{time: uint64(max(mtime, 0))}, nil
	}
	o, ok := parseVersionID(id)
	if !ok {
		return vorder{}, newErr(CodeInvalidArgument, "invalid version id %q", id)
	}
	return o, nil
}

// prepareVersion gives o (a null version so far) its order and version ID for a write over
// head (nil: the key has none) in bucket b, and checks that its record fits. It changes
// nothing.
func (f *FSM) prepareVersion(b *BucketInfo, o *objectRec, candidate string, head *objectRec) *Error {
	o.VersionID, o.order = NullVersionID, vorder{}
	if b.Versioning != "" {
		cand, err := candidateOrder(b, candidate, o.ModTime)
		if err != nil {
			return err
		}
		if o.order, err = nextOrder(cand, head); err != nil {
			return err
		}
		if b.Versioning == VersioningEnabled {
			o.VersionID = o.order.id()
		}
	}
	return f.recordFits(func(e *encoder) { writeObjectRec(e, o) })
}

// putVersion makes o, prepared by prepareVersion, the current version of its key, as the
// bucket's versioning says: unversioned, o replaces the head; enabled, the head becomes
// noncurrent; suspended, o replaces the null version wherever it is and a non-null head
// becomes noncurrent. It returns the blobs of the versions it removed.
func (f *FSM) putVersion(b *BucketInfo, o *objectRec, head *objectRec) [][]Blob {
	var removed [][]Blob
	o.noncurrent, o.nullAt, o.hasNull = false, vorder{}, false
	switch {
	case head == nil:
		f.counts.addObjects(o.Bucket, 1)
	case head.isNull() && b.Versioning != VersioningEnabled:
		removed = append(removed, head.Blobs)
	default:
		// The head is kept as a noncurrent version; o takes over its pointer to the null
		// version (or points at the head itself, if that is the null version) unless o is
		// the null version now.
		f.set(versionKey(head.Bucket, head.Key, head.order), head.asNoncurrent())
		if at, ok := head.nullOrder(); ok {
			if b.Versioning == VersioningEnabled {
				o.nullAt, o.hasNull = at, true
			} else {
				removed = append(removed, f.dropNoncurrent(o.Bucket, o.Key, at).Blobs)
			}
		}
	}
	f.set(objectKey(o.Bucket, o.Key), o)
	return removed
}

// dropNoncurrent removes the noncurrent version at order at, which must exist, and returns it.
func (f *FSM) dropNoncurrent(bucket, key string, at vorder) *objectRec {
	k := versionKey(bucket, key, at)
	rec, ok := f.get(k)
	if !ok {
		panic("fsm: a head points at a null version that is not stored: " + k)
	}
	f.set(k, nil)
	return rec.(*objectRec)
}

// deleteCurrent is a DeleteObject without a version ID of key in bucket b: unversioned, the
// object is removed (NoSuchKey if there is none); otherwise a delete marker becomes the
// current version (see putVersion). It returns the object removed or the marker made, and the
// blobs released.
func (f *FSM) deleteCurrent(b *BucketInfo, key, candidate string, mtime int64) (*objectRec, [][]Blob, *Error) {
	head := f.head(b.Name, key)
	if b.Versioning == "" {
		if head == nil {
			return nil, nil, newErr(CodeNoSuchKey, "key %q does not exist", key)
		}
		if err := protection(&head.ObjectInfo, mtime, false); err != nil {
			return nil, nil, err
		}
		f.removeHead(head)
		return head, [][]Blob{head.Blobs}, nil
	}
	m := &objectRec{ObjectInfo: ObjectInfo{Bucket: b.Name, Key: key, ModTime: mtime, DeleteMarker: true}}
	if err := f.checkReplace(b, head, mtime); err != nil {
		return nil, nil, err
	}
	if err := f.prepareVersion(b, m, candidate, head); err != nil {
		return nil, nil, err
	}
	return m, f.putVersion(b, m, head), nil
}

// locateVersion finds version vid of key ("" names the current version) and returns it with
// the key's head: NoSuchKey when vid is "" and the key has no current version; NoSuchVersion
// when it has no such version; InvalidArgument for an ID that cannot name one.
func (f *FSM) locateVersion(bucket, key, vid string) (rec, head *objectRec, err *Error) {
	head = f.head(bucket, key)
	if vid == "" {
		if head == nil {
			return nil, nil, newErr(CodeNoSuchKey, "key %q does not exist", key)
		}
		return head, head, nil
	}
	if err := checkVersionID(vid); err != nil {
		return nil, nil, err
	}
	noVersion := newErr(CodeNoSuchVersion, "key %q has no version %s", key, vid)
	if head == nil {
		return nil, nil, noVersion
	}
	if head.VersionID == vid {
		return head, head, nil
	}
	at, ok := parseVersionID(vid)
	if vid == NullVersionID {
		at, ok = head.nullAt, head.hasNull
	}
	if !ok || !at.less(head.order) {
		return nil, nil, noVersion
	}
	r, found := f.get(versionKey(bucket, key, at))
	if !found || r.(*objectRec).VersionID != vid {
		return nil, nil, noVersion
	}
	return r.(*objectRec), head, nil
}

// removeVersion removes version vid of key for good and returns it, unless object lock
// protects it at now (AccessDenied; bypass lifts a GOVERNANCE retention). When it was the
// current version, the newest noncurrent one takes its place; when it was the noncurrent null
// version, the head forgets where it was.
func (f *FSM) removeVersion(bucket, key, vid string, now int64, bypass bool) (*objectRec, *Error) {
	rec, head, err := f.locateVersion(bucket, key, vid)
	if err != nil {
		return nil, err
	}
	if err := protection(&rec.ObjectInfo, now, bypass); err != nil {
		return nil, err
	}
	if rec == head {
		f.dropHead(head)
		return rec, nil
	}
	f.set(rec.key(), nil)
	if rec.isNull() {
		f.set(objectKey(bucket, key), head.asHead(vorder{}, false))
	}
	return rec, nil
}

// dropHead removes a key's current version; the newest noncurrent version, if any, becomes
// current.
func (f *FSM) dropHead(head *objectRec) {
	next := f.newestNoncurrent(head.Bucket, head.Key)
	if next == nil {
		f.removeHead(head)
		return
	}
	f.set(next.key(), nil)
	f.set(objectKey(head.Bucket, head.Key), next.asHead(head.nullAt, head.hasNull))
}

// checkConditions evaluates a conditional write's If-Match and If-None-Match against the
// key's current version (nil: none). See PutObject.
func checkConditions(head *objectRec, ifMatch, ifNoneMatch string) *Error {
	live := head != nil && !head.DeleteMarker
	if ifMatch != "" {
		if !live {
			return newErr(CodeNoSuchKey, "If-Match: the key has no current object")
		}
		if !etagListed(ifMatch, head.ETag) {
			return newErr(CodePreconditionFailed, "If-Match %s: the current ETag is %q", ifMatch, head.ETag)
		}
	}
	switch ifNoneMatch {
	case "":
	case "*":
		if live {
			return newErr(CodePreconditionFailed, "If-None-Match *: key %q exists", head.Key)
		}
	default:
		return newErr(CodeInvalidArgument, "If-None-Match %q: only * is supported", ifNoneMatch)
	}
	return nil
}

// etagListed reports whether etag is in an If-Match list (comma-separated ETags, quoted or
// not, or "*").
func etagListed(list, etag string) bool {
	for _, e := range strings.Split(list, ",") {
		if e = strings.TrimSpace(e); e == "*" || trimETag(e) == trimETag(etag) {
			return true
		}
	}
	return false
}

func (f *FSM) setBucketVersioning(ev *SetBucketVersioning) *Result {
	b, ok := f.res.bucket(ev.Bucket)
	if !ok {
		return reject(CodeNoSuchBucket, "bucket %q does not exist", ev.Bucket)
	}
	if ev.Status != VersioningEnabled && ev.Status != VersioningSuspended {
		return reject(CodeInvalidArgument, "versioning status %q: want %s or %s", ev.Status, VersioningEnabled, VersioningSuspended)
	}
	if b.ObjectLock && ev.Status != VersioningEnabled {
		return reject(CodeInvalidBucketState, "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.")
	}
	nb := *b
	nb.Versioning = ev.Status
	f.res.buckets.ReplaceOrInsert(&nb)
	f.set(bucketKey(nb.Name), &nb)
	out := nb
	return &Result{Bucket: &out}
}
