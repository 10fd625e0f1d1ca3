package fsm

import (
	"github.com/google/btree"
)

const btreeDegree = 32

// partRec is one part in the parts index, keyed by (bucket, key, upload id, part number).
type partRec struct {
	bucket, key, uploadID string
	PartInfo
}

// state is the set of indexes. Items in the trees are never modified after insertion (a
// change inserts a new item), so a Clone of the trees is a point-in-time view that can be
// read while Apply goes on.
type state struct {
	buckets  *btree.BTreeG[*BucketInfo]
	objects  *btree.BTreeG[*ObjectInfo]
	uploads  *btree.BTreeG[*UploadInfo]
	parts    *btree.BTreeG[*partRec]
	nodes    *btree.BTreeG[*NodeInfo]
	settings *btree.BTreeG[*Pair]
}

func lessBucket(a, b *BucketInfo) bool { return a.Name < b.Name }

func lessObject(a, b *ObjectInfo) bool {
	if a.Bucket != b.Bucket {
		return a.Bucket < b.Bucket
	}
	return a.Key < b.Key
}

func lessUpload(a, b *UploadInfo) bool {
	if a.Bucket != b.Bucket {
		return a.Bucket < b.Bucket
	}
	if a.Key != b.Key {
		return a.Key < b.Key
	}
	return a.UploadID < b.UploadID
}

func lessPart(a, b *partRec) bool {
	if a.bucket != b.bucket {
		return a.bucket < b.bucket
	}
	if a.key != b.key {
		return a.key < b.key
	}
	if a.uploadID != b.uploadID {
		return a.uploadID < b.uploadID
	}
	return a.PartNumber < b.PartNumber
}

func lessNode(a, b *NodeInfo) bool { return a.ID < b.ID }
func lessSetting(a, b *Pair) bool  { return a.Key < b.Key }

func newState() *state {
	return &state{
		buckets:  btree.NewG(btreeDegree, lessBucket),
		objects:  btree.NewG(btreeDegree, lessObject),
		uploads:  btree.NewG(btreeDegree, lessUpload),
		parts:    btree.NewG(btreeDegree, lessPart),
		nodes:    btree.NewG(btreeDegree, lessNode),
		settings: btree.NewG(btreeDegree, lessSetting),
	}
}

// clone is cheap (copy-on-write); the clone and the original may then be used concurrently.
func (s *state) clone() *state {
	return &state{
		buckets:  s.buckets.Clone(),
		objects:  s.objects.Clone(),
		uploads:  s.uploads.Clone(),
		parts:    s.parts.Clone(),
		nodes:    s.nodes.Clone(),
		settings: s.settings.Clone(),
	}
}

func (s *state) bucket(name string) (*BucketInfo, bool) {
	return s.buckets.Get(&BucketInfo{Name: name})
}

func (s *state) object(bucket, key string) (*ObjectInfo, bool) {
	return s.objects.Get(&ObjectInfo{Bucket: bucket, Key: key})
}

func (s *state) upload(bucket, key, id string) (*UploadInfo, bool) {
	return s.uploads.Get(&UploadInfo{Bucket: bucket, Key: key, UploadID: id})
}

// uploadParts returns the parts of one upload in part-number order.
func (s *state) uploadParts(bucket, key, id string) []*partRec {
	var out []*partRec
	s.parts.AscendGreaterOrEqual(&partRec{bucket: bucket, key: key, uploadID: id}, func(p *partRec) bool {
		if p.bucket != bucket || p.key != key || p.uploadID != id {
			return false
		}
		out = append(out, p)
		return true
	})
	return out
}

// bucketInUse reports whether any object, and any open upload, lives in bucket.
func (s *state) bucketInUse(bucket string) (objects, uploads bool) {
	s.objects.AscendGreaterOrEqual(&ObjectInfo{Bucket: bucket}, func(o *ObjectInfo) bool {
		objects = o.Bucket == bucket
		return false
	})
	s.uploads.AscendGreaterOrEqual(&UploadInfo{Bucket: bucket}, func(u *UploadInfo) bool {
		uploads = u.Bucket == bucket
		return false
	})
	return objects, uploads
}
