package fsm

import (
	"encoding/binary"
	"encoding/hex"
	"math"
)

// NullVersionID is the version ID of the null version: every object of an unversioned
// bucket, and the one version per key that a suspended bucket writes and overwrites.
const NullVersionID = "null"

// versionIDLen is the length of a version ID other than "null": 32 lowercase hex digits.
const versionIDLen = 32

// vorder is a version's position among the versions of its key: the larger, the newer. It is
// the version ID read as two big-endian 64-bit numbers (time, then the proposer's random
// bits), so version IDs sort like their versions. The null version has an order too (stored
// in its record): the position it was written at.
type vorder struct{ time, rand uint64 }

func (a vorder) less(b vorder) bool {
	return a.time < b.time || a.time == b.time && a.rand < b.rand
}

func (a vorder) isZero() bool { return a == vorder{} }

// id is the version ID of a non-null version at order a.
func (a vorder) id() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], a.time)
	binary.BigEndian.PutUint64(b[8:], a.rand)
	return hex.EncodeToString(b[:])
}

// appendInverted appends the order with every bit inverted: keys of newer versions sort
// first.
func (a vorder) appendInverted(b []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, ^a.time)
	return binary.BigEndian.AppendUint64(b, ^a.rand)
}

func invertedOrder(b []byte) vorder {
	return vorder{time: ^binary.BigEndian.Uint64(b[:8]), rand: ^binary.BigEndian.Uint64(b[8:16])}
}

// NewVersionID returns the version ID a proposer offers for a write made at unixNano (its
// clock; negative counts as 0) with 64 random bits: 16 hex digits of each, lowercase. Apply
// keeps it unless it is not newer than the key's current version (a clock behind another
// node's), in which case the time part becomes the current version's plus one nanosecond:
// the ID a write got is in its Result.
func NewVersionID(unixNano int64, random uint64) string {
	return vorder{time: uint64(max(unixNano, 0)), rand: random}.id()
}

// parseVersionID reads a version ID other than "null": exactly 32 lowercase hex digits.
func parseVersionID(s string) (vorder, bool) {
	if len(s) != versionIDLen {
		return vorder{}, false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return vorder{}, false
		}
	}
	var b [16]byte
	if _, err := hex.Decode(b[:], []byte(s)); err != nil {
		return vorder{}, false
	}
	return vorder{time: binary.BigEndian.Uint64(b[:8]), rand: binary.BigEndian.Uint64(b[8:])}, true
}

// ValidVersionID reports whether s can name a version: "null" or a 32-digit lowercase hex ID.
// Reads and deletes of any other string are InvalidArgument.
func ValidVersionID(s string) bool {
	_, ok := parseVersionID(s)
	return ok || s == NullVersionID
}

// checkVersionID is ValidVersionID as a rejection.
func checkVersionID(s string) *Error {
	if !ValidVersionID(s) {
		return newErr(CodeInvalidArgument, "invalid version id %q", s)
	}
	return nil
}

// nextOrder is the order of a new version of a key whose current version is head (nil: the
// key has none): the candidate if it is newer than head, else head's time plus one.
func nextOrder(cand vorder, head *objectRec) (vorder, *Error) {
	if head == nil || head.order.less(cand) {
		return cand, nil
	}
	if head.order.time == math.MaxUint64 {
		return vorder{}, newErr(CodeInvalidArgument, "key %q has no newer version id left", head.Key)
	}
	return vorder{time: head.order.time + 1, rand: cand.rand}, nil
}

// objectRec is one version of an object as stored. The current version of a key (its head)
// is stored under prefixObject (bucket, key), so GET and ListObjects find it with one
// lookup; every other version is stored under prefixVersion (bucket, key, inverted order),
// newest first. A head records where the key's null version is when it is not the head, so
// that a suspended write or a "versionId=null" request finds it without a scan.
type objectRec struct {
	ObjectInfo
	order vorder
	// nullAt is the order of the key's noncurrent null version; heads only, valid if hasNull.
	nullAt  vorder
	hasNull bool
	// noncurrent: stored under prefixVersion, not as the head.
	noncurrent bool
}

func (r *objectRec) isNull() bool { return r.VersionID == NullVersionID }

// key is the record's snapshot key.
func (r *objectRec) key() string {
	if r.noncurrent {
		return versionKey(r.Bucket, r.Key, r.order)
	}
	return objectKey(r.Bucket, r.Key)
}

// asHead returns a copy of r stored as the head, with the null version at nullAt (if has).
func (r *objectRec) asHead(nullAt vorder, has bool) *objectRec {
	h := *r
	h.noncurrent, h.nullAt, h.hasNull = false, nullAt, has && !r.isNull()
	if !h.hasNull {
		h.nullAt = vorder{}
	}
	return &h
}

// asNoncurrent returns a copy of r stored as a noncurrent version.
func (r *objectRec) asNoncurrent() *objectRec {
	n := *r
	n.noncurrent, n.nullAt, n.hasNull = true, vorder{}, false
	return &n
}

// nullOrder returns the order of the key's null version as the head r knows it.
func (r *objectRec) nullOrder() (vorder, bool) {
	if r.isNull() {
		return r.order, true
	}
	return r.nullAt, r.hasNull
}

// info returns a copy of the public part for a caller.
func (r *objectRec) info(fresh bool) ObjectInfo {
	if fresh {
		return r.ObjectInfo
	}
	return r.ObjectInfo.clone()
}

// recFromInfo rebuilds a record from its public part (the result codec): the order of a
// non-null version is its ID; a null version's is not carried.
func recFromInfo(o *ObjectInfo) *objectRec {
	r := &objectRec{ObjectInfo: *o}
	if ord, ok := parseVersionID(o.VersionID); ok {
		r.order = ord
	}
	return r
}

// versionKey is the snapshot key of a noncurrent version:
// 0x08 esc(bucket) esc(key) and the order, inverted (16 bytes).
func versionKey(bucket, key string, o vorder) string {
	b := []byte(keyOf(prefixVersion, bucket, key))
	return string(o.appendInverted(b))
}

// versionsOf is the common prefix of the noncurrent versions of one key.
func versionsOf(bucket, key string) string { return keyOf(prefixVersion, bucket, key) }

// versionSeek is objectSeek for noncurrent versions.
func versionSeek(bucket, from string) string {
	b := appendComponent([]byte{prefixVersion}, bucket)
	return string(appendEscaped(b, from))
}
