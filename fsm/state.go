package fsm

import (
	"github.com/google/btree"
)

const btreeDegree = 32

// partRec is one part, identified by (bucket, key, upload id, part number).
type partRec struct {
	bucket, key, uploadID string
	PartInfo
}

// entry is one record of the snapshot key space held in memory: key is its snapshot key
// (record.go) and rec the decoded record — *BucketInfo, *objectRec (a head or a noncurrent
// version), *bucketTags, *UploadInfo, *partRec, *NodeInfo, *Pair (a setting) or *MemberState — or nil for a deletion (a tombstone) in a dirty or frozen
// tree. Entries and records are never modified after insertion: a change inserts a new entry,
// so a btree Clone is a point-in-time view.
type entry struct {
	key string
	rec any
}

func lessEntry(a, b *entry) bool { return a.key < b.key }

type tree = btree.BTreeG[*entry]

func newTree() *tree { return btree.NewG(btreeDegree, lessEntry) }

// resident holds the record kinds that stay in memory whatever the cache size: buckets, nodes,
// settings and members. They are few (S3 caps buckets per account; nodes and members are
// servers), every event checks its bucket, and the admin API lists nodes, settings and
// members whole. Their changes are also
// entries of the dirty tree, so that snapshots treat every kind alike. Items are never
// modified after insertion.
type resident struct {
	buckets  *btree.BTreeG[*BucketInfo]
	nodes    *btree.BTreeG[*NodeInfo]
	settings *btree.BTreeG[*Pair]
	members  *btree.BTreeG[*MemberState]
}

func lessBucket(a, b *BucketInfo) bool { return a.Name < b.Name }
func lessNode(a, b *NodeInfo) bool     { return a.ID < b.ID }
func lessSetting(a, b *Pair) bool      { return a.Key < b.Key }

func newResident() *resident {
	return &resident{
		buckets:  btree.NewG(btreeDegree, lessBucket),
		nodes:    btree.NewG(btreeDegree, lessNode),
		settings: btree.NewG(btreeDegree, lessSetting),
		members:  btree.NewG(btreeDegree, lessMember),
	}
}

func (r *resident) bucket(name string) (*BucketInfo, bool) {
	return r.buckets.Get(&BucketInfo{Name: name})
}

// add puts a resident record (decoded from a snapshot) in its tree; other kinds are ignored.
func (r *resident) add(rec any) {
	switch v := rec.(type) {
	case *BucketInfo:
		r.buckets.ReplaceOrInsert(v)
	case *NodeInfo:
		r.nodes.ReplaceOrInsert(v)
	case *Pair:
		r.settings.ReplaceOrInsert(v)
	case *MemberState:
		r.members.ReplaceOrInsert(v)
	}
}

// bucketCount is the number of objects and open uploads in one bucket.
type bucketCount struct {
	objects, uploads int64
}

// counts are the derived counters that replace walking the indexes: per bucket (DeleteBucket
// needs "is it empty?") and in total (Counts, the gauges). They are kept exact by every
// mutation, written in the snapshot's meta record (version 2) and read back on restore. The
// map is looked up and summed, never iterated into results.
type counts struct {
	byBucket         map[string]bucketCount
	objects, uploads int64
}

func newCounts() counts { return counts{byBucket: map[string]bucketCount{}} }

func (c *counts) addObjects(bucket string, d int64) {
	bc := c.byBucket[bucket]
	bc.objects += d
	c.objects += d
	c.set(bucket, bc)
}

func (c *counts) addUploads(bucket string, d int64) {
	bc := c.byBucket[bucket]
	bc.uploads += d
	c.uploads += d
	c.set(bucket, bc)
}

func (c *counts) set(bucket string, bc bucketCount) {
	if bc == (bucketCount{}) {
		delete(c.byBucket, bucket)
	} else {
		c.byBucket[bucket] = bc
	}
}

func (c *counts) clone() counts {
	out := counts{byBucket: make(map[string]bucketCount, len(c.byBucket)), objects: c.objects, uploads: c.uploads}
	for k, v := range c.byBucket {
		out.byBucket[k] = v
	}
	return out
}
