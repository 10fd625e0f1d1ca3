package fsm

import (
	"fmt"
	"strings"
)

// DefaultMaxKeys is the page size of ListObjects and ListUploads when none is asked for, and
// the largest page they return.
const DefaultMaxKeys = 1000

// ListParams selects a page of ListObjects (V1 and V2 alike).
type ListParams struct {
	Prefix    string
	Delimiter string
	// Marker (V1) or StartAfter (V2): list entries strictly after it.
	Marker string
	// ContinuationToken (V2), if set, replaces Marker. It is the NextMarker of the previous
	// page, verbatim: the HTTP layer may encode it (base64) to keep it opaque to clients.
	ContinuationToken string
	// MaxKeys bounds Contents plus CommonPrefixes: 0 means DefaultMaxKeys, larger values are
	// capped to it, negative is InvalidArgument.
	MaxKeys int
}

// ListResult is one page of ListObjects.
type ListResult struct {
	Contents       []ObjectInfo
	CommonPrefixes []string
	IsTruncated    bool
	// NextMarker is the last entry (key or common prefix) of a truncated page; pass it as
	// Marker or ContinuationToken to get the next page. "" when not truncated.
	NextMarker string
}

// ListObjects returns the objects of bucket in key order: the current versions that are not
// delete markers (a key whose current version is a marker is not listed, and does not make
// a common prefix). With a Delimiter, keys that
// contain it after Prefix are rolled up into one common prefix (Prefix up to and including
// the first Delimiter) each. The entries (keys and common prefixes, in order) strictly
// greater than the marker are returned, up to MaxKeys. A common prefix costs one seek: the
// scan jumps past every key below it. The listing merges the in-memory tiers with the
// snapshot runs in key order; it neither loads the bucket nor fills the cache.
func (f *FSM) ListObjects(bucket string, p ListParams) (ListResult, error) {
	limit, err := pageSize(p.MaxKeys)
	if err != nil {
		return ListResult{}, err
	}
	marker := p.Marker
	if p.ContinuationToken != "" {
		marker = p.ContinuationToken
	}
	f.mu.RLock()
	b, ok := f.res.bucket(bucket)
	if !ok {
		f.mu.RUnlock()
		return ListResult{}, newErr(CodeNoSuchBucket, "bucket %q does not exist", bucket)
	}
	// Only a bucket whose versioning was ever set can hold delete markers.
	markers := b.Versioning != ""
	v := f.readViewLocked()
	f.mu.RUnlock()
	defer v.close()

	var res ListResult
	last := ""
	seek := p.Prefix
	if marker > seek {
		seek = marker
	}
	skip := len(objectSeek(bucket, "")) // the key's component starts here in a snapshot key
	end := keyEnd(objectSeek(bucket, p.Prefix))
	for done := false; !done; {
		done = true
		it := v.iter(objectSeek(bucket, seek), end, false, false)
		for it.next() {
			key, ok := objectKeyAt(it, skip)
			if !ok {
				it.close()
				return ListResult{}, fmt.Errorf("%w: bad object key %q", ErrCorrupt, it.key)
			}
			if key <= marker {
				continue
			}
			var rec any
			if markers {
				if rec, err = it.record(); err != nil {
					it.close()
					return ListResult{}, err
				}
				if rec.(*objectRec).DeleteMarker {
					continue
				}
			}
			entry, isPrefix := rollUp(key, p.Prefix, p.Delimiter)
			if isPrefix && entry <= marker {
				// The marker is inside this common prefix: already listed.
				f.seekPast(entry, &seek, &done)
				break
			}
			if len(res.Contents)+len(res.CommonPrefixes) == limit {
				res.IsTruncated = true
				break
			}
			last = entry
			if !isPrefix {
				if rec == nil {
					if rec, err = it.record(); err != nil {
						it.close()
						return ListResult{}, err
					}
				}
				o := rec.(*objectRec).ObjectInfo
				if it.rec != nil {
					o = o.clone() // shared with the tree: the caller gets a copy
				}
				res.Contents = append(res.Contents, o)
				continue
			}
			res.CommonPrefixes = append(res.CommonPrefixes, entry)
			f.seekPast(entry, &seek, &done)
			break
		}
		it.close()
		if it.err != nil {
			return ListResult{}, it.err
		}
	}
	if res.IsTruncated {
		res.NextMarker = last
	}
	return res, nil
}

// objectKeyAt returns the object key of the iterator's current entry, whose snapshot key
// holds it from byte skip on.
func objectKeyAt(it *mergedIter, skip int) (string, bool) {
	if o, ok := it.rec.(*objectRec); ok {
		return o.Key, true
	}
	k, _, ok := component(it.key, skip)
	return k, ok
}

// seekPast ends the current scan and asks for a new one from the first key after every key
// that starts with prefix (none if there is no such key).
func (f *FSM) seekPast(prefix string, seek *string, done *bool) bool {
	if next, ok := prefixEnd(prefix); ok {
		*seek = next
		*done = false
	}
	return false
}

// rollUp returns the common prefix key belongs to, or key itself.
func rollUp(key, prefix, delim string) (string, bool) {
	if delim == "" {
		return key, false
	}
	if i := strings.Index(key[len(prefix):], delim); i >= 0 {
		return key[:len(prefix)+i+len(delim)], true
	}
	return key, false
}

// prefixEnd returns the smallest string greater than every string that starts with p, or
// false if there is none (p is all 0xFF bytes).
func prefixEnd(p string) (string, bool) {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xFF {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

func pageSize(n int) (int, error) {
	switch {
	case n < 0:
		return 0, newErr(CodeInvalidArgument, "max keys %d is negative", n)
	case n == 0 || n > DefaultMaxKeys:
		return DefaultMaxKeys, nil
	}
	return n, nil
}

// UploadListParams selects a page of ListUploads.
type UploadListParams struct {
	Prefix    string
	Delimiter string
	// KeyMarker and UploadIDMarker: list uploads after (KeyMarker, UploadIDMarker); with no
	// UploadIDMarker, after every upload of KeyMarker. A common prefix is after the marker
	// when it is greater than KeyMarker.
	KeyMarker      string
	UploadIDMarker string
	MaxUploads     int // as ListParams.MaxKeys
}

// UploadListResult is one page of ListUploads. Uploads of one key are in upload ID order.
type UploadListResult struct {
	Uploads            []UploadInfo
	CommonPrefixes     []string
	IsTruncated        bool
	NextKeyMarker      string
	NextUploadIDMarker string
}

// ListUploads returns the open multipart uploads of bucket in (key, upload ID) order.
func (f *FSM) ListUploads(bucket string, p UploadListParams) (UploadListResult, error) {
	limit, err := pageSize(p.MaxUploads)
	if err != nil {
		return UploadListResult{}, err
	}
	f.mu.RLock()
	if _, ok := f.res.bucket(bucket); !ok {
		f.mu.RUnlock()
		return UploadListResult{}, newErr(CodeNoSuchBucket, "bucket %q does not exist", bucket)
	}
	v := f.readViewLocked()
	f.mu.RUnlock()
	defer v.close()
	// after reports whether (key, id) is past the marker.
	after := func(key, id string) bool {
		if key != p.KeyMarker {
			return key > p.KeyMarker
		}
		return p.UploadIDMarker != "" && id > p.UploadIDMarker
	}
	var res UploadListResult
	var lastKey, lastID string
	seek := p.Prefix
	if p.KeyMarker > seek {
		seek = p.KeyMarker
	}
	end := keyEnd(uploadSeek(bucket, p.Prefix))
	for done := false; !done; {
		done = true
		it := v.iter(uploadSeek(bucket, seek), end, false, false)
		for it.next() {
			rec, err := it.record()
			if err != nil {
				it.close()
				return UploadListResult{}, err
			}
			u := rec.(*UploadInfo)
			if !after(u.Key, u.UploadID) {
				continue
			}
			entry, isPrefix := rollUp(u.Key, p.Prefix, p.Delimiter)
			if isPrefix && entry <= p.KeyMarker {
				f.seekPast(entry, &seek, &done)
				break
			}
			if len(res.Uploads)+len(res.CommonPrefixes) == limit {
				res.IsTruncated = true
				break
			}
			if !isPrefix {
				res.Uploads = append(res.Uploads, u.clone())
				lastKey, lastID = u.Key, u.UploadID
				continue
			}
			res.CommonPrefixes = append(res.CommonPrefixes, entry)
			lastKey, lastID = entry, ""
			f.seekPast(entry, &seek, &done)
			break
		}
		it.close()
		if it.err != nil {
			return UploadListResult{}, it.err
		}
	}
	if res.IsTruncated {
		res.NextKeyMarker, res.NextUploadIDMarker = lastKey, lastID
	}
	return res, nil
}

// PartListParams selects a page of ListParts.
type PartListParams struct {
	PartNumberMarker uint32 // list parts with a greater number
	MaxParts         int    // 0 means DefaultMaxKeys; capped to it; negative is InvalidArgument
}

// PartListResult is one page of ListParts.
type PartListResult struct {
	Parts                []PartInfo
	IsTruncated          bool
	NextPartNumberMarker uint32
}

// ListParts returns the parts of one upload in part-number order: NoSuchBucket,
// NoSuchUpload when absent.
func (f *FSM) ListParts(bucket, key, uploadID string, p PartListParams) (PartListResult, error) {
	limit, err := pageSize(p.MaxParts)
	if err != nil {
		return PartListResult{}, err
	}
	f.mu.RLock()
	if _, ok := f.res.bucket(bucket); !ok {
		f.mu.RUnlock()
		return PartListResult{}, newErr(CodeNoSuchBucket, "bucket %q does not exist", bucket)
	}
	v := f.readViewLocked()
	f.mu.RUnlock()
	defer v.close()
	if _, ok, err := v.get(uploadKey(bucket, key, uploadID)); err != nil {
		return PartListResult{}, err
	} else if !ok {
		return PartListResult{}, newErr(CodeNoSuchUpload, "upload %q of key %q does not exist", uploadID, key)
	}
	var res PartListResult
	if p.PartNumberMarker >= MaxPartNumber {
		return res, nil
	}
	prefix := partsOf(bucket, key, uploadID)
	it := v.iter(partKey(bucket, key, uploadID, p.PartNumberMarker+1), keyEnd(prefix), false, false)
	defer it.close()
	for it.next() {
		if len(res.Parts) == limit {
			res.IsTruncated = true
			break
		}
		rec, err := it.record()
		if err != nil {
			return PartListResult{}, err
		}
		res.Parts = append(res.Parts, rec.(*partRec).PartInfo.clone())
	}
	if it.err != nil {
		return PartListResult{}, it.err
	}
	if res.IsTruncated {
		res.NextPartNumberMarker = res.Parts[len(res.Parts)-1].PartNumber
	}
	return res, nil
}

// MaxBuckets is the largest page of ListBuckets (S3's max-buckets limit).
const MaxBuckets = 10000

// BucketListParams selects a page of ListBuckets.
type BucketListParams struct {
	Prefix string // only buckets whose names start with it
	// ContinuationToken: list buckets whose names are greater. It is the previous page's
	// ContinuationToken verbatim (the HTTP layer may encode it).
	ContinuationToken string
	// MaxBuckets bounds the page: 0 means no bound (every bucket), 1..MaxBuckets a page,
	// anything else is InvalidArgument.
	MaxBuckets int
	Owner      string // only buckets of this owner; "" for every owner
}

// BucketListResult is one page of ListBuckets.
type BucketListResult struct {
	Buckets []BucketInfo
	// ContinuationToken is set when more buckets follow: the last name of this page.
	ContinuationToken string
}

// ListBuckets returns a page of buckets in name order.
func (f *FSM) ListBuckets(p BucketListParams) (BucketListResult, error) {
	if p.MaxBuckets < 0 || p.MaxBuckets > MaxBuckets {
		return BucketListResult{}, newErr(CodeInvalidArgument, "max buckets %d outside 1..%d", p.MaxBuckets, MaxBuckets)
	}
	from := p.Prefix
	if p.ContinuationToken >= from {
		from = p.ContinuationToken + "\x00"
	}
	var res BucketListResult
	f.mu.RLock()
	defer f.mu.RUnlock()
	f.res.buckets.AscendGreaterOrEqual(&BucketInfo{Name: from}, func(b *BucketInfo) bool {
		if !strings.HasPrefix(b.Name, p.Prefix) {
			return false
		}
		if p.Owner != "" && b.Owner != p.Owner {
			return true
		}
		if p.MaxBuckets > 0 && len(res.Buckets) == p.MaxBuckets {
			res.ContinuationToken = res.Buckets[len(res.Buckets)-1].Name
			return false
		}
		res.Buckets = append(res.Buckets, *b)
		return true
	})
	return res, nil
}
