package fsm

import "strings"

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

// ListObjects returns the objects of bucket in key order. With a Delimiter, keys that
// contain it after Prefix are rolled up into one common prefix (Prefix up to and including
// the first Delimiter) each. The entries (keys and common prefixes, in order) strictly
// greater than the marker are returned, up to MaxKeys. A common prefix costs one tree seek:
// the scan jumps past every key below it.
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
	defer f.mu.RUnlock()
	if _, ok := f.st.bucket(bucket); !ok {
		return ListResult{}, newErr(CodeNoSuchBucket, "bucket %q does not exist", bucket)
	}
	var res ListResult
	last := ""
	seek := p.Prefix
	if marker > seek {
		seek = marker
	}
	for done := false; !done; {
		done = true
		f.st.objects.AscendGreaterOrEqual(&ObjectInfo{Bucket: bucket, Key: seek}, func(o *ObjectInfo) bool {
			if o.Bucket != bucket || !strings.HasPrefix(o.Key, p.Prefix) {
				return false
			}
			if o.Key <= marker {
				return true
			}
			entry, isPrefix := rollUp(o.Key, p.Prefix, p.Delimiter)
			if isPrefix && entry <= marker {
				// The marker is inside this common prefix: already listed.
				return f.seekPast(entry, &seek, &done)
			}
			if len(res.Contents)+len(res.CommonPrefixes) == limit {
				res.IsTruncated = true
				return false
			}
			last = entry
			if !isPrefix {
				res.Contents = append(res.Contents, o.clone())
				return true
			}
			res.CommonPrefixes = append(res.CommonPrefixes, entry)
			return f.seekPast(entry, &seek, &done)
		})
	}
	if res.IsTruncated {
		res.NextMarker = last
	}
	return res, nil
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
	defer f.mu.RUnlock()
	if _, ok := f.st.bucket(bucket); !ok {
		return UploadListResult{}, newErr(CodeNoSuchBucket, "bucket %q does not exist", bucket)
	}
	// after reports whether (key, id) is past the marker.
	after := func(key, id string) bool {
		if key != p.KeyMarker {
			return key > p.KeyMarker
		}
		return p.UploadIDMarker != "" && id > p.UploadIDMarker
	}
	var res UploadListResult
	var lastKey, lastID string
	seek := UploadInfo{Bucket: bucket, Key: p.Prefix}
	if p.KeyMarker > seek.Key {
		seek.Key = p.KeyMarker
	}
	for done := false; !done; {
		done = true
		f.st.uploads.AscendGreaterOrEqual(&seek, func(u *UploadInfo) bool {
			if u.Bucket != bucket || !strings.HasPrefix(u.Key, p.Prefix) {
				return false
			}
			if !after(u.Key, u.UploadID) {
				return true
			}
			entry, isPrefix := rollUp(u.Key, p.Prefix, p.Delimiter)
			if isPrefix && entry <= p.KeyMarker {
				var k string
				f.seekPast(entry, &k, &done)
				seek = UploadInfo{Bucket: bucket, Key: k}
				return false
			}
			if len(res.Uploads)+len(res.CommonPrefixes) == limit {
				res.IsTruncated = true
				return false
			}
			if !isPrefix {
				res.Uploads = append(res.Uploads, u.clone())
				lastKey, lastID = u.Key, u.UploadID
				return true
			}
			res.CommonPrefixes = append(res.CommonPrefixes, entry)
			lastKey, lastID = entry, ""
			var k string
			f.seekPast(entry, &k, &done)
			seek = UploadInfo{Bucket: bucket, Key: k}
			return false
		})
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
	defer f.mu.RUnlock()
	if _, ok := f.st.bucket(bucket); !ok {
		return PartListResult{}, newErr(CodeNoSuchBucket, "bucket %q does not exist", bucket)
	}
	if _, ok := f.st.upload(bucket, key, uploadID); !ok {
		return PartListResult{}, newErr(CodeNoSuchUpload, "upload %q of key %q does not exist", uploadID, key)
	}
	var res PartListResult
	if p.PartNumberMarker >= MaxPartNumber {
		return res, nil
	}
	probe := &partRec{bucket: bucket, key: key, uploadID: uploadID, PartInfo: PartInfo{PartNumber: p.PartNumberMarker + 1}}
	f.st.parts.AscendGreaterOrEqual(probe, func(pr *partRec) bool {
		if pr.bucket != bucket || pr.key != key || pr.uploadID != uploadID {
			return false
		}
		if len(res.Parts) == limit {
			res.IsTruncated = true
			return false
		}
		res.Parts = append(res.Parts, pr.PartInfo.clone())
		return true
	})
	if res.IsTruncated {
		res.NextPartNumberMarker = res.Parts[len(res.Parts)-1].PartNumber
	}
	return res, nil
}
