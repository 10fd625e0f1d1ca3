package fsm

import (
	"sort"
	"strings"
	"unicode/utf8"
)

// S3's tag limits.
const (
	MaxObjectTags   = 10  // tags per object version
	MaxBucketTags   = 50  // tags per bucket
	MaxTagKeyLen    = 128 // characters (Unicode code points)
	MaxTagValueLen  = 256 // characters
	reservedTagsPfx = "aws:"
)

// NormalizeTags checks a tag set as a client sent it (any order) against S3's rules — at
// most limit tags (MaxObjectTags or MaxBucketTags), keys of 1..128 and values of 0..256
// characters of valid UTF-8, no key twice, no key starting with "aws:" — and returns it sorted
// by key, as events carry it. Any violation is InvalidTag.
func NormalizeTags(tags []Pair, limit int) ([]Pair, *Error) {
	if len(tags) == 0 {
		return nil, nil
	}
	out := clonePairs(tags)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	for i := 1; i < len(out); i++ {
		if out[i].Key == out[i-1].Key {
			return nil, newErr(CodeInvalidTag, "tag key %q appears twice", out[i].Key)
		}
	}
	if err := checkTags(out, limit); err != nil {
		return nil, err
	}
	return out, nil
}

// checkTags checks a sorted, unique tag set (events carry them so) against S3's limits.
func checkTags(tags []Pair, limit int) *Error {
	if len(tags) > limit {
		return newErr(CodeInvalidTag, "%d tags, at most %d allowed", len(tags), limit)
	}
	for _, t := range tags {
		switch {
		case t.Key == "" || !utf8.ValidString(t.Key) || utf8.RuneCountInString(t.Key) > MaxTagKeyLen:
			return newErr(CodeInvalidTag, "tag key %q: 1 to %d characters of UTF-8", t.Key, MaxTagKeyLen)
		case !utf8.ValidString(t.Value) || utf8.RuneCountInString(t.Value) > MaxTagValueLen:
			return newErr(CodeInvalidTag, "tag %q: the value has more than %d characters or is not UTF-8", t.Key, MaxTagValueLen)
		case strings.HasPrefix(t.Key, reservedTagsPfx):
			return newErr(CodeInvalidTag, "tag key %q: the prefix %s is reserved", t.Key, reservedTagsPfx)
		}
	}
	return nil
}

func (f *FSM) putObjectTagging(ev *PutObjectTagging) *Result {
	if _, ok := f.res.bucket(ev.Bucket); !ok {
		return reject(CodeNoSuchBucket, "bucket %q does not exist", ev.Bucket)
	}
	if err := checkTags(ev.Tags, MaxObjectTags); err != nil {
		return &Result{Err: err}
	}
	rec, _, err := f.locateVersion(ev.Bucket, ev.Key, ev.VersionID)
	if err != nil {
		return &Result{Err: err}
	}
	if rec.DeleteMarker {
		return &Result{Err: versionMarkerErr(ev.VersionID, &rec.ObjectInfo)}
	}
	n := *rec
	n.Tags = clonePairs(ev.Tags)
	if err := f.recordFits(func(e *encoder) { writeObjectRec(e, &n) }); err != nil {
		return &Result{Err: err}
	}
	f.set(n.key(), &n)
	out := n.ObjectInfo.clone()
	return &Result{Object: &out}
}

// versionMarkerErr is the error of a read or tagging of the marker m, asked for by version ID
// vid ("": the current version): NoSuchKey for the current version, MethodNotAllowed for a
// version named by its ID.
func versionMarkerErr(vid string, m *ObjectInfo) *Error {
	if vid == "" {
		return markerErr(CodeNoSuchKey, m)
	}
	return markerErr(CodeMethodNotAllowed, m)
}

func (f *FSM) putBucketTagging(ev *PutBucketTagging) *Result {
	b, ok := f.res.bucket(ev.Bucket)
	if !ok {
		return reject(CodeNoSuchBucket, "bucket %q does not exist", ev.Bucket)
	}
	if err := checkTags(ev.Tags, MaxBucketTags); err != nil {
		return &Result{Err: err}
	}
	var rec any
	if len(ev.Tags) > 0 {
		rec = &bucketTags{Bucket: b.Name, Tags: clonePairs(ev.Tags)}
	}
	return f.setBucketRecord(b, bucketTagsKey(b.Name), rec)
}

// setBucketRecord stores a configuration record of bucket b (tags, lifecycle, CORS) under key
// k, or removes it when rec is nil, and returns the bucket as the result. A record over its
// size limit is EntityTooLarge and changes nothing.
func (f *FSM) setBucketRecord(b *BucketInfo, k string, rec any) *Result {
	if rec == nil {
		if _, ok := f.get(k); ok {
			f.set(k, nil)
		}
	} else {
		v, err := encodeValue(rec)
		switch {
		case err != nil:
			return reject(CodeEntityTooLarge, "bucket configuration: %v", err)
		case len(v) > maxRecordBytes:
			return reject(CodeEntityTooLarge, "bucket configuration is %d bytes, limit %d", len(v), maxRecordBytes)
		}
		f.set(k, rec)
	}
	out := *b
	return &Result{Bucket: &out}
}

// readBucketRecord reads a configuration record of a bucket: NoSuchBucket, or missing when the
// bucket has none. fresh is readGet's: the record may be handed out without a copy.
func (f *FSM) readBucketRecord(bucket, k string, missing *Error) (rec any, fresh bool, err error) {
	rec, ok, fresh, err := f.readGet(k, f.bucketCheck(bucket))
	if err != nil {
		return nil, false, err
	}
	if !ok {
		return nil, false, missing
	}
	return rec, fresh, nil
}

// BucketTagging returns a bucket's tags, sorted by key: NoSuchBucket, or NoSuchTagSet when it
// has none.
func (f *FSM) BucketTagging(bucket string) ([]Pair, error) {
	rec, fresh, err := f.readBucketRecord(bucket, bucketTagsKey(bucket), newErr(CodeNoSuchTagSet, "bucket %q has no tags", bucket))
	if err != nil {
		return nil, err
	}
	if fresh {
		return rec.(*bucketTags).Tags, nil
	}
	return clonePairs(rec.(*bucketTags).Tags), nil
}
