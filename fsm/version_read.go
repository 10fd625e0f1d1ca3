package fsm

import "fmt"

// ObjectVersion returns one version of an object: the current version when versionID is ""
// (as Object), else the version it names ("null": the null version). Errors (as *Error):
// NoSuchBucket; NoSuchKey (versionID "" and no current version, or it is a delete marker:
// DeleteMarker set); NoSuchVersion; MethodNotAllowed when the version is a delete marker
// (DeleteMarker, VersionID and LastModified set); InvalidArgument for an ID that cannot name
// a version. The object's Tags are its tags (GetObjectTagging).
func (f *FSM) ObjectVersion(bucket, key, versionID string) (ObjectInfo, error) {
	if versionID == "" {
		return f.Object(bucket, key)
	}
	if err := checkVersionID(versionID); err != nil {
		return ObjectInfo{}, err
	}
	noVersion := newErr(CodeNoSuchVersion, "key %q has no version %s", key, versionID)
	at, byID := parseVersionID(versionID)
	keys := [2]string{objectKey(bucket, key)}
	var out [2]readRec
	// The head says where the null version is; a read of the head and that place together
	// whose head no longer points there (a write came between) is done again.
	for n := 1 + btoi(byID); ; n = 2 {
		if n == 2 {
			keys[1] = versionKey(bucket, key, at)
		}
		if err := f.readGetInto(f.bucketCheck(bucket), keys[:n], out[:n]); err != nil {
			return ObjectInfo{}, err
		}
		if !out[0].found {
			return ObjectInfo{}, noVersion
		}
		head := out[0].rec.(*objectRec)
		if head.VersionID == versionID {
			return versionInfo(head, out[0].fresh)
		}
		if !byID {
			if !head.hasNull {
				return ObjectInfo{}, noVersion
			}
			if n == 1 || head.nullAt != at {
				at = head.nullAt
				continue
			}
		}
		if !out[1].found || out[1].rec.(*objectRec).VersionID != versionID {
			return ObjectInfo{}, noVersion
		}
		return versionInfo(out[1].rec.(*objectRec), out[1].fresh)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// versionInfo returns a version asked for by its ID: MethodNotAllowed for a delete marker.
func versionInfo(r *objectRec, fresh bool) (ObjectInfo, error) {
	if r.DeleteMarker {
		return ObjectInfo{}, markerErr(CodeMethodNotAllowed, &r.ObjectInfo)
	}
	return r.info(fresh), nil
}

// VersionListParams selects a page of ListObjectVersions.
type VersionListParams struct {
	Prefix    string
	Delimiter string
	// KeyMarker and VersionIDMarker: list the versions after version VersionIDMarker of key
	// KeyMarker (in the listing's order: keys ascending, each key's versions newest first);
	// with no VersionIDMarker, after every version of KeyMarker. A VersionIDMarker needs a
	// KeyMarker, and must be a valid version ID (InvalidArgument). A "null" marker when the key
	// has no null version any more resumes at the next key.
	KeyMarker       string
	VersionIDMarker string
	MaxKeys         int // as ListParams.MaxKeys; versions, delete markers and common prefixes count
}

// ObjectVersion is one entry of a ListObjectVersions page: a version or a delete marker
// (ObjectInfo.DeleteMarker), and whether it is the key's current version.
type ObjectVersion struct {
	ObjectInfo
	IsLatest bool
}

// VersionListResult is one page of ListObjectVersions.
type VersionListResult struct {
	// Versions holds versions and delete markers in the listing's order (S3's XML lists
	// them as <Version> and <DeleteMarker> elements in this order).
	Versions       []ObjectVersion
	CommonPrefixes []string
	IsTruncated    bool
	// NextKeyMarker and NextVersionIDMarker are the last entry of a truncated page (a
	// common prefix has no version ID): pass them as KeyMarker and VersionIDMarker.
	NextKeyMarker       string
	NextVersionIDMarker string
}

// ListObjectVersions returns the versions of the objects of bucket: keys in order, each key's
// versions newest first (the current one first, IsLatest), delete markers included. Prefix,
// Delimiter and the markers work as in ListUploads. An unversioned bucket answers its objects,
// each the null version. Like ListObjects it merges the tiers in key order without loading the
// bucket or filling the cache: it walks the current versions and the noncurrent ones side by
// side.
func (f *FSM) ListObjectVersions(bucket string, p VersionListParams) (VersionListResult, error) {
	limit, err := pageSize(p.MaxKeys)
	if err != nil {
		return VersionListResult{}, err
	}
	var after vorder // the first version to list of KeyMarker is older than this
	var afterNull bool
	switch {
	case p.VersionIDMarker == "":
	case p.KeyMarker == "":
		return VersionListResult{}, newErr(CodeInvalidArgument, "a version-id-marker needs a key-marker")
	case p.VersionIDMarker == NullVersionID:
		afterNull = true
	default:
		var ok bool
		if after, ok = parseVersionID(p.VersionIDMarker); !ok {
			return VersionListResult{}, newErr(CodeInvalidArgument, "invalid version-id-marker %q", p.VersionIDMarker)
		}
	}
	f.mu.RLock()
	if _, ok := f.res.bucket(bucket); !ok {
		f.mu.RUnlock()
		return VersionListResult{}, newErr(CodeNoSuchBucket, "bucket %q does not exist", bucket)
	}
	v := f.readViewLocked()
	f.mu.RUnlock()
	defer v.close()

	w := versionWalk{p: p, limit: limit, after: after, afterNull: afterNull, v: v, bucket: bucket}
	if err := w.run(); err != nil {
		return VersionListResult{}, err
	}
	return w.res, nil
}

// versionWalk is one ListObjectVersions: two iterators over the view, the heads and the
// noncurrent versions, both in key order.
type versionWalk struct {
	p                VersionListParams
	limit            int
	after            vorder
	afterNull        bool
	v                *view
	bucket           string
	res              VersionListResult
	lastKey, lastVID string
}

func (w *versionWalk) run() error {
	seek := w.p.Prefix
	if w.p.KeyMarker > seek {
		seek = w.p.KeyMarker
	}
	headEnd := keyEnd(objectSeek(w.bucket, w.p.Prefix))
	histEnd := keyEnd(versionSeek(w.bucket, w.p.Prefix))
	for done := false; !done; {
		var err error
		done, seek, err = w.scan(seek, headEnd, histEnd)
		if err != nil {
			return err
		}
	}
	if w.res.IsTruncated {
		w.res.NextKeyMarker, w.res.NextVersionIDMarker = w.lastKey, w.lastVID
	}
	return nil
}

// scan walks from seek; it returns done=false and the next seek when it stopped at a common
// prefix.
func (w *versionWalk) scan(seek, headEnd, histEnd string) (done bool, next string, err error) {
	heads := w.v.iter(objectSeek(w.bucket, seek), headEnd, false, false)
	defer heads.close()
	hist := w.v.iter(versionSeek(w.bucket, seek), histEnd, false, false)
	defer hist.close()
	headSkip, histSkip := len(objectSeek(w.bucket, "")), len(versionSeek(w.bucket, ""))
	histOK := hist.next()
	for heads.next() {
		key, ok := objectKeyAt(heads, headSkip)
		if !ok {
			return true, "", fmt.Errorf("%w: bad object key %q", ErrCorrupt, heads.key)
		}
		if key < w.p.KeyMarker || key == w.p.KeyMarker && w.p.VersionIDMarker == "" {
			continue
		}
		entry, isPrefix := rollUp(key, w.p.Prefix, w.p.Delimiter)
		if isPrefix {
			if entry <= w.p.KeyMarker {
				if n, ok := prefixEnd(entry); ok {
					return false, n, nil
				}
				return true, "", nil
			}
			if w.full() {
				return true, "", nil
			}
			w.res.CommonPrefixes = append(w.res.CommonPrefixes, entry)
			w.lastKey, w.lastVID = entry, ""
			if n, ok := prefixEnd(entry); ok {
				return false, n, nil
			}
			return true, "", nil
		}
		rec, err := heads.record()
		if err != nil {
			return true, "", err
		}
		head := rec.(*objectRec)
		from, skipKey := w.startOf(key, head)
		// The noncurrent versions of keys before this one (skipped keys) are passed over.
		for histOK {
			hk, _, ok := component(hist.key, histSkip)
			if !ok {
				return true, "", fmt.Errorf("%w: bad version key %q", ErrCorrupt, hist.key)
			}
			if hk >= key {
				break
			}
			histOK = hist.next()
		}
		if skipKey {
			continue
		}
		if from == nil || head.order.less(*from) {
			if w.full() {
				return true, "", nil
			}
			w.add(head, heads.rec != nil, true)
		}
		for histOK {
			hk, _, _ := component(hist.key, histSkip)
			if hk != key {
				break
			}
			rec, err := hist.record()
			if err != nil {
				return true, "", err
			}
			r := rec.(*objectRec)
			if from == nil || r.order.less(*from) {
				if w.full() {
					return true, "", nil
				}
				w.add(r, hist.rec != nil, false)
			}
			histOK = hist.next()
		}
	}
	if heads.err != nil {
		return true, "", heads.err
	}
	return true, "", hist.err
}

// startOf returns, for the key named by the markers, the order its listing continues below
// (nil: from its newest version), or skip when none of its versions is listed.
func (w *versionWalk) startOf(key string, head *objectRec) (from *vorder, skip bool) {
	if key != w.p.KeyMarker || w.p.VersionIDMarker == "" {
		return nil, false
	}
	if !w.afterNull {
		return &w.after, false
	}
	at, ok := head.nullOrder()
	if !ok {
		return nil, true
	}
	return &at, false
}

// full reports whether the page is full; the caller has one more entry, so it is truncated.
func (w *versionWalk) full() bool {
	if len(w.res.Versions)+len(w.res.CommonPrefixes) < w.limit {
		return false
	}
	w.res.IsTruncated = true
	return true
}

func (w *versionWalk) add(r *objectRec, shared, latest bool) {
	o := r.ObjectInfo
	if shared {
		o = o.clone() // shared with the tree: the caller gets a copy
	}
	w.res.Versions = append(w.res.Versions, ObjectVersion{ObjectInfo: o, IsLatest: latest})
	w.lastKey, w.lastVID = r.Key, r.VersionID
}
