package fsm

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// The snapshot key space (layout in doc.go). Every key starts with a prefix byte naming the
// record type; string components are escaped so that byte order of keys is the order of the
// btree indexes: 0x00 becomes 0x00 0xFF, and each component ends with 0x00 0x01.
const (
	prefixMeta    byte = 0x01
	prefixBucket  byte = 0x02
	prefixObject  byte = 0x03
	prefixUpload  byte = 0x04
	prefixPart    byte = 0x05
	prefixNode    byte = 0x06
	prefixSetting byte = 0x07
	// prefixVersion: noncurrent object versions, (bucket, key, inverted order).
	prefixVersion byte = 0x08
	// prefixBucketTags: a bucket's tag set, (bucket).
	prefixBucketTags byte = 0x09
	// prefixLifecycle: a bucket's lifecycle rules, (bucket).
	prefixLifecycle byte = 0x0A
	// prefixCors: a bucket's CORS rules, (bucket).
	prefixCors byte = 0x0B
	// prefixMember: a cluster member's recorded state, (node id).
	prefixMember byte = 0x0C
	// prefixBlobData (0x0D, inline.go): an inline blob's bytes, (blob id). 0x0E and 0x0F are
	// free.
	// prefixEncryption: a bucket's default encryption, (bucket).
	prefixEncryption byte = 0x10
)

// recordVersion is the version byte that starts every snapshot value except the meta
// record, which is at metaVersion (2: the applied index and the counts; 1: the applied index
// only, still read). Object, upload and bucket records also have a version 2
// (recordVersionExt): the version 1 body followed by extension fields; object, upload and
// bucket records have a version 3 (recordVersionExt3): the version 2 body followed by more
// fields; upload and bucket records a version 4 (object lock); object records a version 4 and
// upload records a version 5 (encryption at rest). A record is written at the
// lowest version that can hold it, so the records of unversioned buckets keep their first
// encoding byte for byte.
const (
	recordVersion     = 1
	recordVersionExt  = 2
	recordVersionExt3 = 3
	recordVersionExt4 = 4
	recordVersionExt5 = 5
	metaVersion       = 2
)

func appendComponent(b []byte, s string) []byte { return append(appendEscaped(b, s), 0, 1) }

// appendEscaped appends s escaped but not terminated: the keys of every component that
// starts with s begin with these bytes.
func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			b = append(b, 0, 0xFF)
		} else {
			b = append(b, s[i])
		}
	}
	return b
}

// component reads the escaped component that starts at k[i:]; it returns the component and
// the index after its terminator, or ok=false for a malformed key.
func component(k string, i int) (s string, next int, ok bool) {
	j := i
	for j+1 < len(k) && k[j] != 0 {
		j++
	}
	if j+1 >= len(k) {
		return "", 0, false
	}
	if k[j+1] == 1 { // no escaped NUL: the component is a substring
		return k[i:j], j + 2, true
	}
	b := []byte(k[i:j])
	for j+1 < len(k) {
		switch {
		case k[j] != 0:
			b = append(b, k[j])
			j++
		case k[j+1] == 0xFF:
			b = append(b, 0)
			j += 2
		case k[j+1] == 1:
			return string(b), j + 2, true
		default:
			return "", 0, false
		}
	}
	return "", 0, false
}

// objectSeek is the first snapshot key of the objects of bucket whose key is >= from: the
// keys of bucket's objects that start with from all start with it.
func objectSeek(bucket, from string) string {
	b := appendComponent([]byte{prefixObject}, bucket)
	return string(appendEscaped(b, from))
}

// uploadSeek is objectSeek for uploads.
func uploadSeek(bucket, from string) string {
	b := appendComponent([]byte{prefixUpload}, bucket)
	return string(appendEscaped(b, from))
}

// partsOf is the common prefix of the part keys of one upload.
func partsOf(bucket, key, id string) string { return keyOf(prefixPart, bucket, key, id) }

// keyEnd is the smallest key greater than every key that starts with p.
func keyEnd(p string) string {
	e, ok := prefixEnd(p)
	if !ok {
		return "\xff\xff" // p is all 0xFF bytes: no snapshot key (they start at most with 0x10) is larger
	}
	return e
}

func keyOf(prefix byte, parts ...string) string {
	b := make([]byte, 0, 32)
	b = append(b, prefix)
	for _, p := range parts {
		b = appendComponent(b, p)
	}
	return string(b)
}

var metaKey = string([]byte{prefixMeta})

func bucketKey(name string) string        { return keyOf(prefixBucket, name) }
func objectKey(bucket, key string) string { return keyOf(prefixObject, bucket, key) }
func nodeKey(id string) string            { return keyOf(prefixNode, id) }
func bucketTagsKey(bucket string) string  { return keyOf(prefixBucketTags, bucket) }
func settingKey(k string) string          { return keyOf(prefixSetting, k) }
func uploadKey(bucket, key, id string) string {
	return keyOf(prefixUpload, bucket, key, id)
}

func partKey(bucket, key, id string, n uint32) string {
	return string(binary.BigEndian.AppendUint32([]byte(keyOf(prefixPart, bucket, key, id)), n))
}

// parsedKey is a snapshot key taken apart.
type parsedKey struct {
	prefix byte
	parts  []string
	part   uint32 // prefixPart only
}

// parseKey splits a snapshot key; it is the inverse of the key functions above.
func parseKey(k []byte) (parsedKey, error) {
	if len(k) == 0 {
		return parsedKey{}, fmt.Errorf("%w: empty snapshot key", ErrCorrupt)
	}
	pk := parsedKey{prefix: k[0]}
	var n int
	switch pk.prefix {
	case prefixMeta:
		n = 0
	case prefixBucket, prefixNode, prefixSetting, prefixBucketTags, prefixLifecycle, prefixCors, prefixMember, prefixEncryption, prefixBlobData:
		n = 1
	case prefixUser, prefixAccessKey, prefixPolicy, prefixBucketAccess:
		n = 1
	case prefixObject, prefixVersion:
		n = 2
	case prefixUpload, prefixPart:
		n = 3
	default:
		return parsedKey{}, fmt.Errorf("%w: unknown snapshot key prefix %#x", ErrCorrupt, pk.prefix)
	}
	rest := k[1:]
	for i := 0; i < n; i++ {
		var s []byte
		for {
			if len(rest) < 2 {
				return parsedKey{}, fmt.Errorf("%w: unterminated snapshot key component", ErrCorrupt)
			}
			if rest[0] != 0 {
				s = append(s, rest[0])
				rest = rest[1:]
				continue
			}
			if rest[1] == 0xFF {
				s = append(s, 0)
				rest = rest[2:]
				continue
			}
			if rest[1] != 1 {
				return parsedKey{}, fmt.Errorf("%w: bad escape in snapshot key", ErrCorrupt)
			}
			rest = rest[2:]
			break
		}
		pk.parts = append(pk.parts, string(s))
	}
	switch pk.prefix {
	case prefixPart:
		if len(rest) != 4 {
			return parsedKey{}, fmt.Errorf("%w: bad part number in snapshot key", ErrCorrupt)
		}
		pk.part = binary.BigEndian.Uint32(rest)
		rest = rest[4:]
	case prefixVersion:
		if len(rest) != 16 {
			return parsedKey{}, fmt.Errorf("%w: bad version order in snapshot key", ErrCorrupt)
		}
		rest = rest[16:]
	}
	if len(rest) != 0 {
		return parsedKey{}, fmt.Errorf("%w: trailing bytes in snapshot key", ErrCorrupt)
	}
	return pk, nil
}

// Record encodings (snapshot values): a version byte, then the fields in struct order with
// the primitives of the event encoding.

func startRecord() *encoder {
	e := &encoder{b: make([]byte, 0, 64)}
	e.u8(recordVersion)
	return e
}

func openRecord(v []byte) *decoder {
	d, _ := openRecordUpTo(v, recordVersion)
	return d
}

// openRecordUpTo opens a record of a kind whose versions are 1..newest.
func openRecordUpTo(v []byte, newest uint8) (*decoder, uint8) {
	d := &decoder{b: v}
	return d, readRecordVersion(d, "record", newest)
}

// readRecordVersion reads the version byte of a record of a kind whose versions are 1..newest.
func readRecordVersion(d *decoder, what string, newest uint8) uint8 {
	ver := d.u8(what + " version")
	if d.err == nil && (ver < recordVersion || ver > newest) {
		d.err = fmt.Errorf("%w: %s version %d", ErrUnknownVersion, what, ver)
	}
	return ver
}

// metaRecord is the snapshot's meta record: the applied index and, from version 2, the
// object and upload counts of every bucket that has any (buckets ascending).
type metaRecord struct {
	applied   uint64
	hasCounts bool // false for a version 1 record: the counts must be recomputed
	counts    counts
}

func encodeMeta(applied uint64, c *counts) []byte {
	e := &encoder{b: make([]byte, 0, 16+16*len(c.byBucket))}
	e.u8(metaVersion)
	e.uvarint(applied)
	names := make([]string, 0, len(c.byBucket))
	for name := range c.byBucket {
		names = append(names, name)
	}
	slices.Sort(names)
	e.uvarint(uint64(len(names)))
	for _, name := range names {
		bc := c.byBucket[name]
		e.str("bucket", name)
		e.uvarint(uint64(bc.objects))
		e.uvarint(uint64(bc.uploads))
	}
	return e.b
}

// decodeMeta returns the applied index of a meta record of either version.
func decodeMeta(v []byte) (uint64, error) {
	m, err := decodeMetaRecord(v)
	return m.applied, err
}

func decodeMetaRecord(v []byte) (metaRecord, error) {
	d := &decoder{b: v}
	ver := d.u8("record version")
	if d.err == nil && ver != 1 && ver != metaVersion {
		return metaRecord{}, fmt.Errorf("%w: meta record version %d", ErrUnknownVersion, ver)
	}
	m := metaRecord{applied: d.uvarint("applied index"), counts: newCounts()}
	if ver == metaVersion {
		m.hasCounts = true
		n := d.uvarint("buckets")
		if d.err == nil && n > uint64(len(d.b)) {
			d.fail("bucket count %d", n)
		}
		prev := ""
		for i := uint64(0); i < n && d.err == nil; i++ {
			name := d.str("bucket")
			bc := bucketCount{objects: int64(d.uvarint("objects")), uploads: int64(d.uvarint("uploads"))}
			if d.err == nil && (i > 0 && name <= prev || bc.objects < 0 || bc.uploads < 0 || bc == (bucketCount{})) {
				d.fail("bucket counts of %q", name)
			}
			prev = name
			m.counts.byBucket[name] = bc
			m.counts.objects += bc.objects
			m.counts.uploads += bc.uploads
		}
	}
	return m, d.finish()
}

// decodeValue decodes the snapshot value of a key with the given prefix byte. The meta
// record is not a record and is refused.
func decodeValue(prefix byte, v []byte) (any, error) {
	switch prefix {
	case prefixBucket:
		return decodeBucket(v)
	case prefixObject:
		return decodeObjectRec(v, false)
	case prefixVersion:
		return decodeObjectRec(v, true)
	case prefixBucketTags:
		return decodeBucketTags(v)
	case prefixLifecycle:
		return decodeLifecycle(v)
	case prefixCors:
		return decodeCors(v)
	case prefixEncryption:
		return decodeBucketEncryption(v)
	case prefixUpload:
		return decodeUpload(v)
	case prefixPart:
		return decodePart(v)
	case prefixNode:
		return decodeNodeRecord(v)
	case prefixSetting:
		return decodeSetting(v)
	case prefixMember:
		return decodeMemberRecord(v)
	case prefixBlobData:
		return decodeBlobData(v)
	}
	if isIAMPrefix(prefix) {
		return decodeIAMValue(prefix, v)
	}
	return nil, fmt.Errorf("%w: no record under prefix %#x", ErrCorrupt, prefix)
}

// encodeValue encodes a record as a snapshot value.
func encodeValue(rec any) ([]byte, error) {
	switch r := rec.(type) {
	case *BucketInfo:
		return encodeBucket(r)
	case *objectRec:
		return encodeObjectRec(r)
	case *bucketTags:
		return encodeBucketTags(r)
	case *bucketLifecycle:
		return encodeLifecycle(r)
	case *bucketCors:
		return encodeCors(r)
	case *BucketEncryption:
		return encodeBucketEncryption(r)
	case *UploadInfo:
		return encodeUpload(r)
	case *partRec:
		return encodePart(r)
	case *NodeInfo:
		return encodeNodeRecord(r)
	case *Pair:
		return encodeSetting(r)
	case *MemberState:
		return encodeMemberRecord(r)
	case *blobData:
		return encodeBlobData(r)
	}
	if b, ok, err := encodeIAMValue(rec); ok {
		return b, err
	}
	return nil, fmt.Errorf("fsm: internal: no encoding for %T", rec)
}

// recordKey returns the snapshot key of a record.
func recordKey(rec any) string {
	switch r := rec.(type) {
	case *BucketInfo:
		return bucketKey(r.Name)
	case *objectRec:
		return r.key()
	case *bucketTags:
		return bucketTagsKey(r.Bucket)
	case *bucketLifecycle:
		return lifecycleKey(r.Bucket)
	case *bucketCors:
		return corsKey(r.Bucket)
	case *BucketEncryption:
		return encryptionKey(r.Bucket)
	case *UploadInfo:
		return uploadKey(r.Bucket, r.Key, r.UploadID)
	case *partRec:
		return partKey(r.bucket, r.key, r.uploadID, r.PartNumber)
	case *NodeInfo:
		return nodeKey(r.ID)
	case *Pair:
		return settingKey(r.Key)
	case *MemberState:
		return memberKey(r.ID)
	case *blobData:
		return blobDataKey(r.ID)
	}
	return iamRecordKey(rec)
}

// Bucket record: version 1 name, owner, created; version 2 adds u8 versioning (1 Enabled,
// 2 Suspended), written only for a bucket whose versioning was ever set; version 3 adds
// string region, written only for a bucket created with a LocationConstraint (its versioning
// byte may then be 0: never enabled); version 4 adds u8 flags (1 object lock, always set),
// string default retention mode, uvarint days, uvarint years, written only for a bucket with
// object lock (its region may then be empty).
func encodeBucket(b *BucketInfo) ([]byte, error) {
	e := &encoder{b: make([]byte, 0, 64)}
	writeBucket(e, b)
	return e.b, e.err
}

// bucketVersion is the lowest bucket record version that holds b.
func bucketVersion(b *BucketInfo) uint8 {
	switch {
	case b.ObjectLock:
		return recordVersionExt4
	case b.Region != "":
		return recordVersionExt3
	case b.Versioning != "":
		return recordVersionExt
	}
	return recordVersion
}

// writeBucket writes the record's version byte and body.
func writeBucket(e *encoder, b *BucketInfo) {
	ver := bucketVersion(b)
	e.u8(ver)
	bucketBody(e, b)
	if ver >= recordVersionExt {
		bucketExt(e, b)
	}
	if ver >= recordVersionExt3 {
		e.str("region", b.Region)
	}
	if ver >= recordVersionExt4 {
		bucketLock(e, b)
	}
}

const bucketFlagLock = 1

func bucketLock(e *encoder, b *BucketInfo) {
	e.u8(bucketFlagLock)
	e.str("default mode", b.DefaultRetention.Mode)
	e.uvarint(uint64(b.DefaultRetention.Days))
	e.uvarint(uint64(b.DefaultRetention.Years))
}

func decodeBucketLock(d *decoder, b *BucketInfo) {
	if flags := d.u8("bucket flags"); d.err == nil && flags != bucketFlagLock {
		d.fail("bucket flags %#x", flags)
	}
	b.ObjectLock = true
	b.DefaultRetention = DefaultRetention{Mode: d.str("default mode"), Days: d.u32v("days"), Years: d.u32v("years")}
}

func bucketBody(e *encoder, b *BucketInfo) {
	e.str("name", b.Name)
	e.str("owner", b.Owner)
	e.i64(b.Created)
}

var versioningCodes = map[string]uint8{VersioningEnabled: 1, VersioningSuspended: 2}

// bucketExt writes the versioning byte: 0 ("" never enabled) only in a version 3 record.
func bucketExt(e *encoder, b *BucketInfo) {
	c, ok := versioningCodes[b.Versioning]
	if !ok && b.Versioning != "" {
		e.fail("bucket versioning %q", b.Versioning)
	}
	e.u8(c)
}

func decodeBucketExt(d *decoder, b *BucketInfo, ver uint8) {
	switch d.u8("versioning") {
	case 0:
		if ver < recordVersionExt3 { // version 2 exists only for the versioning state
			d.fail("bucket versioning state")
		}
	case 1:
		b.Versioning = VersioningEnabled
	case 2:
		b.Versioning = VersioningSuspended
	default:
		d.fail("bucket versioning state")
	}
}

func decodeBucket(v []byte) (*BucketInfo, error) {
	d, ver := openRecordUpTo(v, recordVersionExt4)
	b := readBucket(d, ver)
	return b, d.finish()
}

// readBucket reads the body of a bucket record of version ver.
func readBucket(d *decoder, ver uint8) *BucketInfo {
	b := decodeBucketBody(d)
	if ver >= recordVersionExt {
		decodeBucketExt(d, b, ver)
	}
	if ver >= recordVersionExt3 {
		b.Region = d.str("region")
		if d.err == nil && b.Region == "" && ver == recordVersionExt3 {
			d.fail("bucket record version %d without a region", ver)
		}
	}
	if ver >= recordVersionExt4 {
		decodeBucketLock(d, b)
	}
	return b
}

func decodeBucketBody(d *decoder) *BucketInfo {
	return &BucketInfo{Name: d.str("name"), Owner: d.str("owner"), Created: d.i64("created")}
}

// bucketTags is a bucket's tag set (prefixBucketTags), version 1: bucket, pairs.
type bucketTags struct {
	Bucket string
	Tags   []Pair
}

func encodeBucketTags(t *bucketTags) ([]byte, error) {
	e := startRecord()
	e.str("bucket", t.Bucket)
	e.pairs("tags", t.Tags)
	return e.b, e.err
}

func decodeBucketTags(v []byte) (*bucketTags, error) {
	d := openRecord(v)
	t := &bucketTags{Bucket: d.str("bucket"), Tags: d.pairs("tags")}
	return t, d.finish()
}

// Object record (heads under prefixObject, noncurrent versions under prefixVersion):
//
//	version 1  bucket, key, uvarint size, etag, meta, pairs checksums, blobs, i64 mtime,
//	           string version id (written empty), uvarint parts count
//	version 2  the version 1 body, then: string content language, string expires,
//	           u8 flags (1 null version, 2 delete marker, 4 null version elsewhere),
//	           order (u64 time, u64 random), [flag 4: the null version's order],
//	           pairs tags
//	version 3  the version 2 body, then: u8 retention mode (0 none, 1 GOVERNANCE,
//	           2 COMPLIANCE), i64 retain until, u8 legal hold (0 never set, 1 ON, 2 OFF);
//	           written only for a version with object lock settings
//	version 4  the version 3 body (its lock fields then possibly all zero), then the
//	           encryption: u8 algorithm (1 SSE-S3, 2 SSE-C), string key id, string sealed
//	           key; written only for an encrypted version
//
// A version 1 record is the null version at order zero with no tags, no delete marker and
// none of the version 2 metadata: every object of an unversioned bucket, and every object
// written before versions existed (whatever version id string it carries) — those become
// null versions on decode. The ID of a non-null version is its order in hex.
func encodeObjectRec(r *objectRec) ([]byte, error) {
	e := &encoder{b: make([]byte, 0, 64)}
	writeObjectRec(e, r)
	return e.b, e.err
}

// writeObjectRec writes the record's version byte and body.
func writeObjectRec(e *encoder, r *objectRec) {
	ver := uint8(recordVersion)
	switch {
	case hasInline(r.Blobs):
		ver = recordVersionExt5
	case r.Encryption.Encrypted():
		ver = recordVersionExt4
	case hasLock(r.Retention, r.LegalHold):
		ver = recordVersionExt3
	case r.hasExt():
		ver = recordVersionExt
	}
	e.u8(ver)
	objectBody(e, &r.ObjectInfo)
	if ver >= recordVersionExt {
		objectExt(e, r)
	}
	if ver >= recordVersionExt3 {
		writeLock(e, r.Retention, r.LegalHold)
	}
	if ver >= recordVersionExt5 {
		e.encryptionOpt(r.Encryption)
		e.inlineFlags(r.Blobs, false)
	} else if ver >= recordVersionExt4 {
		e.encryption(r.Encryption)
	}
}

// Object lock fields of object and upload records: u8 mode, i64 retain until, u8 legal hold.
var (
	lockModeCodes  = map[string]uint8{LockGovernance: 1, LockCompliance: 2}
	lockModeNames  = []string{"", LockGovernance, LockCompliance}
	legalHoldCodes = map[string]uint8{LegalHoldOn: 1, LegalHoldOff: 2}
	legalHoldNames = []string{"", LegalHoldOn, LegalHoldOff}
)

func writeLock(e *encoder, r Retention, hold string) {
	m, ok := lockModeCodes[r.Mode]
	if !ok && r.Mode != "" || r.Mode == "" && r.RetainUntil != 0 {
		e.fail("retention %+v", r)
	}
	h, ok := legalHoldCodes[hold]
	if !ok && hold != "" {
		e.fail("legal hold %q", hold)
	}
	e.u8(m)
	e.i64(r.RetainUntil)
	e.u8(h)
}

// readLock reads the lock fields; all zero is refused unless mayBeEmpty (a record of a later
// version that exists for another field).
func readLock(d *decoder, mayBeEmpty bool) (Retention, string) {
	m, until, h := d.u8("retention mode"), d.i64("retain until"), d.u8("legal hold")
	if d.err != nil {
		return Retention{}, ""
	}
	if int(m) >= len(lockModeNames) || int(h) >= len(legalHoldNames) || m == 0 && until != 0 || m == 0 && h == 0 && !mayBeEmpty {
		d.fail("object lock fields %d %d %d", m, until, h)
		return Retention{}, ""
	}
	return Retention{Mode: lockModeNames[m], RetainUntil: until}, legalHoldNames[h]
}

const (
	objFlagNull    = 1
	objFlagMarker  = 2
	objFlagHasNull = 4
	objFlagsAll    = objFlagNull | objFlagMarker | objFlagHasNull
)

// hasExt reports whether the record needs version 2.
func (r *objectRec) hasExt() bool {
	return !r.isNull() || !r.order.isZero() || r.DeleteMarker || r.hasNull || len(r.Tags) > 0 || r.Meta.hasExt()
}

// objectBody writes the version 1 body (also the result codec's). The version id field is
// kept for the layout and written empty: a version 1 record is always the null version.
func objectBody(e *encoder, o *ObjectInfo) {
	e.str("bucket", o.Bucket)
	e.str("key", o.Key)
	e.uvarint(o.Size)
	e.str("etag", o.ETag)
	e.meta(o.Meta)
	e.pairs("checksums", o.Checksums)
	e.blobs(o.Blobs)
	e.i64(o.ModTime)
	e.str("version id", "")
	e.uvarint(uint64(o.PartsCount))
}

func objectExt(e *encoder, r *objectRec) {
	e.metaExt(r.Meta)
	var flags uint8
	if r.isNull() {
		flags |= objFlagNull
	} else if r.VersionID != r.order.id() {
		e.fail("version id %q does not match its order", r.VersionID)
	}
	if r.DeleteMarker {
		flags |= objFlagMarker
	}
	if r.hasNull {
		flags |= objFlagHasNull
	}
	e.u8(flags)
	e.u64(r.order.time)
	e.u64(r.order.rand)
	if r.hasNull {
		e.u64(r.nullAt.time)
		e.u64(r.nullAt.rand)
	}
	e.pairs("tags", r.Tags)
}

func decodeObjectRec(v []byte, noncurrent bool) (*objectRec, error) {
	d, ver := openRecordUpTo(v, recordVersionExt5)
	r := readObjectRec(d, ver, noncurrent)
	return r, d.finish()
}

// readObjectRec reads the body of an object record of version ver.
func readObjectRec(d *decoder, ver uint8, noncurrent bool) *objectRec {
	r := &objectRec{ObjectInfo: *decodeObjectBody(d), noncurrent: noncurrent}
	if ver >= recordVersionExt {
		decodeObjectExt(d, r)
	}
	if ver >= recordVersionExt3 {
		r.Retention, r.LegalHold = readLock(d, ver > recordVersionExt3)
	}
	if ver >= recordVersionExt5 {
		r.Encryption = d.encryptionOpt()
		d.inlineFlags(r.Blobs, false)
	} else if ver >= recordVersionExt4 {
		r.Encryption = d.encryption()
	}
	return r
}

func decodeObjectBody(d *decoder) *ObjectInfo {
	o := &ObjectInfo{
		Bucket: d.str("bucket"), Key: d.str("key"), Size: d.uvarint("size"), ETag: d.str("etag"),
		Meta: d.meta(), Checksums: d.pairs("checksums"), Blobs: d.blobs(), ModTime: d.i64("mtime"),
	}
	d.str("version id") // see objectBody: version 1 is the null version whatever it says
	o.VersionID = NullVersionID
	pc := d.uvarint("parts count")
	if pc > MaxPartNumber {
		d.fail("parts count %d", pc)
	}
	o.PartsCount = uint32(pc)
	return o
}

func decodeObjectExt(d *decoder, r *objectRec) {
	d.metaExt(&r.Meta)
	flags := d.u8("object flags")
	r.order = vorder{time: d.u64("order"), rand: d.u64("order")}
	if flags&objFlagHasNull != 0 {
		r.hasNull = true
		r.nullAt = vorder{time: d.u64("null order"), rand: d.u64("null order")}
	}
	r.Tags = d.pairs("tags")
	r.DeleteMarker = flags&objFlagMarker != 0
	if flags&objFlagNull == 0 {
		r.VersionID = r.order.id()
	}
	if d.err == nil && (flags&^objFlagsAll != 0 || r.hasNull && (r.noncurrent || r.isNull())) {
		d.fail("object flags %#x", flags)
	}
}

// Upload record: version 1 bucket, key, upload id, i64 initiated, meta; version 2 adds
// string content language, string expires, pairs tags; version 3 adds string checksum
// algorithm, string checksum type; version 4 adds the object lock fields of object records
// (u8 mode, i64 retain until, u8 legal hold), its checksum fields then possibly empty;
// version 5 adds the encryption of object records, its lock fields then possibly all zero.
func encodeUpload(u *UploadInfo) ([]byte, error) {
	e := &encoder{b: make([]byte, 0, 64)}
	writeUpload(e, u)
	return e.b, e.err
}

func (u *UploadInfo) hasExt() bool  { return u.Meta.hasExt() || len(u.Tags) > 0 }
func (u *UploadInfo) hasExt3() bool { return u.ChecksumAlgorithm != "" || u.ChecksumType != "" }

// uploadVersion is the lowest upload record version that holds u.
func uploadVersion(u *UploadInfo) uint8 {
	switch {
	case u.Encryption.Encrypted():
		return recordVersionExt5
	case hasLock(u.Retention, u.LegalHold):
		return recordVersionExt4
	case u.hasExt3():
		return recordVersionExt3
	case u.hasExt():
		return recordVersionExt
	}
	return recordVersion
}

// writeUpload writes the record's version byte and body.
func writeUpload(e *encoder, u *UploadInfo) {
	ver := uploadVersion(u)
	e.u8(ver)
	uploadBody(e, u)
	if ver >= recordVersionExt {
		uploadExt(e, u)
	}
	if ver >= recordVersionExt3 {
		e.str("checksum algorithm", u.ChecksumAlgorithm)
		e.str("checksum type", u.ChecksumType)
	}
	if ver >= recordVersionExt4 {
		writeLock(e, u.Retention, u.LegalHold)
	}
	if ver >= recordVersionExt5 {
		e.encryption(u.Encryption)
	}
}

func uploadExt(e *encoder, u *UploadInfo) {
	e.metaExt(u.Meta)
	e.pairs("tags", u.Tags)
}

func decodeUploadExt(d *decoder, u *UploadInfo) {
	d.metaExt(&u.Meta)
	u.Tags = d.pairs("tags")
}

func uploadBody(e *encoder, u *UploadInfo) {
	e.str("bucket", u.Bucket)
	e.str("key", u.Key)
	e.str("upload id", u.UploadID)
	e.i64(u.Initiated)
	e.meta(u.Meta)
}

func decodeUpload(v []byte) (*UploadInfo, error) {
	d, ver := openRecordUpTo(v, recordVersionExt5)
	u := readUpload(d, ver)
	return u, d.finish()
}

// readUpload reads the body of an upload record of version ver.
func readUpload(d *decoder, ver uint8) *UploadInfo {
	u := decodeUploadBody(d)
	if ver >= recordVersionExt {
		decodeUploadExt(d, u)
	}
	if ver >= recordVersionExt3 {
		u.ChecksumAlgorithm = d.str("checksum algorithm")
		u.ChecksumType = d.str("checksum type")
		if d.err == nil && !u.hasExt3() && ver == recordVersionExt3 {
			d.fail("upload record version %d without a checksum declaration", ver)
		}
	}
	if ver >= recordVersionExt4 {
		u.Retention, u.LegalHold = readLock(d, ver > recordVersionExt4)
	}
	if ver >= recordVersionExt5 {
		u.Encryption = d.encryption()
	}
	return u
}

func decodeUploadBody(d *decoder) *UploadInfo {
	return &UploadInfo{Bucket: d.str("bucket"), Key: d.str("key"), UploadID: d.str("upload id"),
		Initiated: d.i64("initiated"), Meta: d.meta()}
}

// Part record: version 1 bucket, key, upload id, u32 part number, uvarint size, etag, pairs
// checksums, blobs, i64 mtime; version 2 adds the inline flags (a list, not empty, of the
// indexes of the inline blobs, ascending), written only for a part with an inline blob.
func encodePart(p *partRec) ([]byte, error) {
	e := &encoder{b: make([]byte, 0, 64)}
	writePart(e, p)
	return e.b, e.err
}

func writePart(e *encoder, p *partRec) {
	if !hasInline(p.Blobs) {
		e.u8(recordVersion)
		partBody(e, p)
		return
	}
	e.u8(recordVersionExt)
	partBody(e, p)
	e.inlineFlags(p.Blobs, false)
}

func partBody(e *encoder, p *partRec) {
	e.str("bucket", p.bucket)
	e.str("key", p.key)
	e.str("upload id", p.uploadID)
	partInfoBody(e, &p.PartInfo)
}

func partInfoBody(e *encoder, p *PartInfo) {
	e.u32(p.PartNumber)
	e.uvarint(p.Size)
	e.str("etag", p.ETag)
	e.pairs("checksums", p.Checksums)
	e.blobs(p.Blobs)
	e.i64(p.ModTime)
}

func decodePart(v []byte) (*partRec, error) {
	d, ver := openRecordUpTo(v, recordVersionExt)
	p := &partRec{bucket: d.str("bucket"), key: d.str("key"), uploadID: d.str("upload id")}
	p.PartInfo = decodePartInfoBody(d)
	if ver >= recordVersionExt {
		d.inlineFlags(p.Blobs, false)
	}
	return p, d.finish()
}

func decodePartInfoBody(d *decoder) PartInfo {
	return PartInfo{PartNumber: d.u32("part number"), Size: d.uvarint("size"), ETag: d.str("etag"),
		Checksums: d.pairs("checksums"), Blobs: d.blobs(), ModTime: d.i64("mtime")}
}

func encodeNodeRecord(n *NodeInfo) ([]byte, error) {
	e := startRecord()
	encodeNode(e, *n)
	return e.b, e.err
}

func decodeNodeRecord(v []byte) (*NodeInfo, error) {
	d := openRecord(v)
	n := decodeNode(d)
	return &n, d.finish()
}

func encodeSetting(p *Pair) ([]byte, error) {
	e := startRecord()
	e.str("setting key", p.Key)
	e.str("setting value", p.Value)
	return e.b, e.err
}

func decodeSetting(v []byte) (*Pair, error) {
	d := openRecord(v)
	p := &Pair{Key: d.str("setting key"), Value: d.str("setting value")}
	return p, d.finish()
}
