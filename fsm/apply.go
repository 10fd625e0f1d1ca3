package fsm

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/nebulaio/nebulaio/snapshot"
)

// Limits Apply enforces on names (S3's, or ours where S3 has none).
const (
	maxKeyLen  = 1024 // object keys (S3)
	maxIDLen   = 1024 // upload, node and setting IDs (keeps snapshot keys well under their limit)
	minNameLen = 3    // bucket names (S3)
	maxNameLen = 63
	// maxRecordBytes bounds the encoding of one stored record, well under the snapshot
	// codec's value limit: a record that could not be snapshotted would make every later
	// snapshot fail.
	maxRecordBytes = snapshot.MaxValueSize / 4
)

// recordFits encodes a record body into the FSM's scratch buffer and reports whether it has
// a valid encoding within maxRecordBytes.
func (f *FSM) recordFits(body func(e *encoder)) *Error {
	e := encoder{b: f.scratch[:0]}
	body(&e)
	f.scratch = e.b[:0]
	if cap(f.scratch) > 1<<20 {
		f.scratch = nil // do not pin a large buffer
	}
	if e.err != nil {
		return newErr(CodeEntityTooLarge, "metadata record: %v", e.err)
	}
	if len(e.b) > maxRecordBytes {
		return newErr(CodeEntityTooLarge, "metadata record is %d bytes, limit %d", len(e.b), maxRecordBytes)
	}
	return nil
}

// applyEvent checks ev's preconditions and, if they hold, applies it. Every handler checks
// everything before its first mutation, so a rejected event changes nothing.
func (f *FSM) applyEvent(ev Event) *Result {
	switch ev := ev.(type) {
	case *CreateBucket:
		return f.createBucket(ev)
	case *DeleteBucket:
		return f.deleteBucket(ev)
	case *PutObject:
		return f.afterWrite(f.putObject(ev), ev.Blobs)
	case *DeleteObject:
		return f.deleteObject(ev)
	case *DeleteObjects:
		return f.deleteObjects(ev)
	case *CreateMultipartUpload:
		return f.createUpload(ev)
	case *PutPart:
		return f.afterWrite(f.putPart(ev), ev.Blobs)
	case *CompleteMultipartUpload:
		return f.completeUpload(ev)
	case *AbortMultipartUpload:
		return f.abortUpload(ev)
	case *RegisterNode:
		return f.registerNode(ev)
	case *RetireNode:
		return f.retireNode(ev)
	case *SetSetting:
		return f.setSetting(ev)
	case *SetBucketVersioning:
		return f.setBucketVersioning(ev)
	case *PutObjectTagging:
		return f.putObjectTagging(ev)
	case *PutBucketTagging:
		return f.putBucketTagging(ev)
	case *MemberChange:
		return f.changeMember(ev)
	case *PutObjectLockConfiguration:
		return f.putObjectLockConfiguration(ev)
	case *PutObjectRetention:
		return f.putObjectRetention(ev)
	case *PutObjectLegalHold:
		return f.putObjectLegalHold(ev)
	case *PutBucketLifecycle:
		return f.putBucketLifecycle(ev)
	case *PutBucketCors:
		return f.putBucketCors(ev)
	case *LifecycleExpire:
		return f.lifecycleExpire(ev)
	case *PutBucketEncryption:
		return f.putBucketEncryption(ev)
	}
	return f.applyIAM(ev) // identities and access (iam.go)
}

// validBucketName applies S3's rules for general purpose buckets: 3-63 characters of a-z,
// 0-9, '.', '-', starting and ending with a letter or digit; no "..", not an IPv4 address
// (192.168.1.1), none of the prefixes and suffixes S3 reserves (reservedBucketAffixes).
func validBucketName(s string) bool {
	if len(s) < minNameLen || len(s) > maxNameLen || strings.Contains(s, "..") || ipv4Like(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && c != '.' && c != '-' {
			return false
		}
		if (i == 0 || i == len(s)-1) && !alnum {
			return false
		}
	}
	for _, p := range reservedBucketPrefixes {
		if strings.HasPrefix(s, p) {
			return false
		}
	}
	for _, x := range reservedBucketSuffixes {
		if strings.HasSuffix(s, x) {
			return false
		}
	}
	return true
}

// Prefixes and suffixes S3 reserves for its own names (punycode, access point and other
// aliases); a bucket may not use them.
var (
	reservedBucketPrefixes = []string{"xn--", "sthree-", "amzn-s3-demo-"}
	reservedBucketSuffixes = []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"}
)

// ipv4Like reports a name of four dot-separated groups of digits (192.168.1.1, also 999.1.1.1),
// which S3 refuses as looking like an IP address.
func ipv4Like(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

func checkKey(key string) *Error {
	switch {
	case key == "":
		return newErr(CodeInvalidArgument, "empty object key")
	case len(key) > maxKeyLen:
		return newErr(CodeKeyTooLong, "key is %d bytes, limit %d", len(key), maxKeyLen)
	}
	return nil
}

func checkID(what, id string) *Error {
	if id == "" || len(id) > maxIDLen {
		return newErr(CodeInvalidArgument, "%s must be 1..%d bytes", what, maxIDLen)
	}
	return nil
}

// --- mutations: each writes its entry into the dirty tree and keeps the counts exact ---

// set records rec (nil: a deletion) as the newest version of key and returns the dirty entry it
// replaced, if the key had one. It keeps dirtyBytes, the inline bytes of the dirty tree.
func (f *FSM) set(key string, rec any) (prev *entry, inDirty bool) {
	prev, inDirty = f.dirty.ReplaceOrInsert(&entry{key: key, rec: rec})
	if key[0] == prefixBlobData {
		f.dirtyBytes += entryBytes(rec)
		if inDirty {
			f.dirtyBytes -= entryBytes(prev.rec)
		}
	}
	return prev, inDirty
}

// freedBlobs appends to freed the IDs of the store blobs of removed that kept does not
// reference, each once, in the order of removed, and deletes the data records of the inline
// ones (see doc.go, "Blob IDs"). Call it only once the event's preconditions have held.
func (f *FSM) freedBlobs(freed []string, kept []Blob, removed ...[]Blob) []string {
	var skip map[string]bool // lookups only; never iterated
	for _, bs := range removed {
		for _, b := range bs {
			if skip == nil {
				skip = make(map[string]bool, len(kept)+8)
				for _, k := range kept {
					skip[k.ID] = true
				}
			}
			if !skip[b.ID] {
				skip[b.ID] = true
				if b.Inline {
					f.setBlobData(b.ID, nil)
				} else {
					freed = append(freed, b.ID)
				}
			}
		}
	}
	return freed
}

// afterWrite completes a PutObject or PutPart: its inline bytes count as written (writtenBytes);
// an applied one's inline blobs get their data records; a rejected one lists its store blobs in
// its result — they were written for it and nothing references them (see doc.go, "Blob IDs") —
// and its inline blobs were never stored.
func (f *FSM) afterWrite(res *Result, bs []Blob) *Result {
	for _, b := range bs {
		f.writtenBytes += int64(len(b.Data)) // in the log, applied or not
	}
	if res.Err == nil {
		f.storeInline(bs)
		return res
	}
	res.FreedBlobs = storeBlobIDs(bs)
	return res
}

// removeHead removes a key's only version (unversioned buckets).
func (f *FSM) removeHead(o *objectRec) {
	f.set(objectKey(o.Bucket, o.Key), nil)
	f.counts.addObjects(o.Bucket, -1)
}

// scanForApply returns up to limit records (0: all) whose keys start with prefix, in key
// order, for Apply (f.mu held for writing). They are collected before the caller mutates.
func (f *FSM) scanForApply(prefix string, limit int) []any {
	it := f.applyView().iter(prefix, keyEnd(prefix), false, false)
	defer it.close()
	var out []any
	for (limit == 0 || len(out) < limit) && it.next() {
		rec, err := it.record()
		if err != nil {
			panic(fmt.Sprintf("fsm: apply cannot read the snapshot runs: %v", err))
		}
		out = append(out, rec)
	}
	if it.err != nil {
		panic(fmt.Sprintf("fsm: apply cannot read the snapshot runs: %v", it.err))
	}
	return out
}

// uploadParts returns the parts of one upload in part-number order.
func (f *FSM) uploadParts(bucket, key, id string) []*partRec {
	recs := f.scanForApply(partsOf(bucket, key, id), 0)
	out := make([]*partRec, len(recs))
	for i, r := range recs {
		out[i] = r.(*partRec)
	}
	return out
}

// removeUpload deletes u and its parts (already listed) and returns their blobs.
func (f *FSM) removeUpload(u *UploadInfo, parts []*partRec) [][]Blob {
	blobs := make([][]Blob, 0, len(parts))
	for _, p := range parts {
		f.set(partKey(p.bucket, p.key, p.uploadID, p.PartNumber), nil)
		blobs = append(blobs, p.Blobs)
	}
	f.set(uploadKey(u.Bucket, u.Key, u.UploadID), nil)
	f.counts.addUploads(u.Bucket, -1)
	return blobs
}

// --- handlers ---

func (f *FSM) createBucket(ev *CreateBucket) *Result {
	if !validBucketName(ev.Name) {
		return reject(CodeInvalidBucketName, "invalid bucket name %q", ev.Name)
	}
	if b, ok := f.res.bucket(ev.Name); ok {
		if b.Owner == ev.Owner {
			return reject(CodeBucketAlreadyOwnedByYou, "bucket %q already exists", ev.Name)
		}
		return reject(CodeBucketAlreadyExists, "bucket %q is owned by another account", ev.Name)
	}
	b := &BucketInfo{Name: ev.Name, Owner: ev.Owner, Created: ev.Created, Region: ev.Region}
	if ev.ObjectLock {
		b.ObjectLock, b.Versioning = true, VersioningEnabled
	}
	f.res.buckets.ReplaceOrInsert(b)
	f.set(bucketKey(b.Name), b)
	out := *b
	return &Result{Bucket: &out}
}

func (f *FSM) deleteBucket(ev *DeleteBucket) *Result {
	b, ok := f.res.bucket(ev.Name)
	if !ok {
		return reject(CodeNoSuchBucket, "bucket %q does not exist", ev.Name)
	}
	bc := f.counts.byBucket[ev.Name]
	if bc.objects > 0 {
		return reject(CodeBucketNotEmpty, "bucket %q holds objects", ev.Name)
	}
	if bc.uploads > 0 {
		return reject(CodeBucketNotEmpty, "bucket %q has open multipart uploads", ev.Name)
	}
	f.res.buckets.Delete(b)
	f.set(bucketKey(b.Name), nil)
	for _, k := range []string{bucketTagsKey(b.Name), lifecycleKey(b.Name), corsKey(b.Name), encryptionKey(b.Name), bucketAccessKey(b.Name)} {
		f.setBucketRecord(b, k, nil)
	}
	out := *b
	return &Result{Bucket: &out}
}

func (f *FSM) putObject(ev *PutObject) *Result {
	b, ok := f.res.bucket(ev.Bucket)
	if !ok {
		return reject(CodeNoSuchBucket, "bucket %q does not exist", ev.Bucket)
	}
	if err := checkKey(ev.Key); err != nil {
		return &Result{Err: err}
	}
	if err := checkTags(ev.Tags, MaxObjectTags); err != nil {
		return &Result{Err: err}
	}
	if err := checkLockRequest(b, ev.Retention, ev.LegalHold, ev.ModTime); err != nil {
		return &Result{Err: err}
	}
	if err := checkEncryption(ev.Encryption); err != nil {
		return &Result{Err: err}
	}
	if err := checkInline(ev.Blobs); err != nil {
		return &Result{Err: err}
	}
	o := &objectRec{ObjectInfo: ObjectInfo{
		Bucket: ev.Bucket, Key: ev.Key, Size: ev.Size, ETag: ev.ETag, Meta: ev.Meta,
		Checksums: ev.Checksums, Blobs: withoutData(ev.Blobs), ModTime: ev.ModTime, VersionID: NullVersionID, Tags: ev.Tags,
		Retention: ev.Retention, LegalHold: ev.LegalHold, Encryption: ev.Encryption,
	}}
	withDefaultRetention(b, o)
	if b.Versioning == "" && ev.IfMatch == "" && ev.IfNoneMatch == "" {
		if err := f.recordFits(func(e *encoder) { writeObjectRec(e, o) }); err != nil {
			return &Result{Err: err}
		}
		return f.replaceObject(o, nil)
	}
	head := f.head(ev.Bucket, ev.Key)
	if err := checkConditions(head, ev.IfMatch, ev.IfNoneMatch); err != nil {
		return &Result{Err: err}
	}
	if err := f.checkReplace(b, head, ev.ModTime); err != nil {
		return &Result{Err: err}
	}
	if err := f.prepareVersion(b, o, ev.VersionID, head); err != nil {
		return &Result{Err: err}
	}
	removed := f.putVersion(b, o, head)
	out := o.ObjectInfo.clone()
	return &Result{Object: &out, FreedBlobs: f.freedBlobs(nil, o.Blobs, removed...)}
}

// replaceObject stores o, a null version, in place of the only version of its key
// (unversioned buckets). removed are blobs the caller released already (a completion's
// parts); the result frees those and the replaced object's that o does not reference.
func (f *FSM) replaceObject(o *objectRec, removed [][]Blob) *Result {
	// One search of the dirty tree: insert, and look below it only if the key was not there.
	key := objectKey(o.Bucket, o.Key)
	var old *objectRec
	if prev, ok := f.set(key, o); ok {
		old, _ = prev.rec.(*objectRec) // nil for a tombstone
	} else if rec, ok := f.getBelowDirty(key); ok {
		old = rec.(*objectRec)
	}
	if old != nil {
		removed = append(removed, old.Blobs)
	} else {
		f.counts.addObjects(o.Bucket, 1)
	}
	out := o.ObjectInfo.clone()
	return &Result{Object: &out, FreedBlobs: f.freedBlobs(nil, o.Blobs, removed...)}
}

func (f *FSM) deleteObject(ev *DeleteObject) *Result {
	b, ok := f.res.bucket(ev.Bucket)
	if !ok {
		return reject(CodeNoSuchBucket, "bucket %q does not exist", ev.Bucket)
	}
	if err := checkKey(ev.Key); err != nil {
		return &Result{Err: err}
	}
	var o *objectRec
	var removed [][]Blob
	var err *Error
	if ev.VersionID != "" {
		o, err = f.removeVersion(ev.Bucket, ev.Key, ev.VersionID, ev.ModTime, ev.BypassGovernance)
		if o != nil {
			removed = [][]Blob{o.Blobs}
		}
	} else {
		o, removed, err = f.deleteCurrent(b, ev.Key, ev.MarkerVersionID, ev.ModTime)
	}
	if err != nil {
		return &Result{Err: err}
	}
	out := o.ObjectInfo.clone()
	return &Result{Object: &out, FreedBlobs: f.freedBlobs(nil, nil, removed...)}
}

func (f *FSM) deleteObjects(ev *DeleteObjects) *Result {
	b, ok := f.res.bucket(ev.Bucket)
	if !ok {
		return reject(CodeNoSuchBucket, "bucket %q does not exist", ev.Bucket)
	}
	if len(ev.VersionIDs) != 0 && len(ev.VersionIDs) != len(ev.Keys) {
		return reject(CodeInvalidArgument, "%d version ids for %d keys", len(ev.VersionIDs), len(ev.Keys))
	}
	res := &Result{Deleted: make([]DeleteResult, 0, len(ev.Keys))}
	for i, k := range ev.Keys {
		dr := DeleteResult{Key: k}
		if len(ev.VersionIDs) > 0 {
			dr.VersionID = ev.VersionIDs[i]
		}
		var o *objectRec
		var removed [][]Blob
		if err := checkKey(k); err != nil {
			dr.Err = err
		} else if dr.VersionID != "" {
			if o, dr.Err = f.removeVersion(ev.Bucket, k, dr.VersionID, ev.ModTime, ev.BypassGovernance); o != nil {
				removed = [][]Blob{o.Blobs}
			}
		} else {
			o, removed, dr.Err = f.deleteCurrent(b, k, ev.MarkerVersionID, ev.ModTime)
		}
		if o != nil && o.DeleteMarker {
			dr.DeleteMarker, dr.DeleteMarkerVersionID = true, o.VersionID
		}
		res.FreedBlobs = f.freedBlobs(res.FreedBlobs, nil, removed...)
		res.Deleted = append(res.Deleted, dr)
	}
	return res
}

func (f *FSM) createUpload(ev *CreateMultipartUpload) *Result {
	b, ok := f.res.bucket(ev.Bucket)
	if !ok {
		return reject(CodeNoSuchBucket, "bucket %q does not exist", ev.Bucket)
	}
	if err := checkKey(ev.Key); err != nil {
		return &Result{Err: err}
	}
	if err := checkID("upload id", ev.UploadID); err != nil {
		return &Result{Err: err}
	}
	if _, ok := f.upload(ev.Bucket, ev.Key, ev.UploadID); ok {
		return reject(CodeInvalidArgument, "upload id %q already in use", ev.UploadID)
	}
	if err := checkTags(ev.Tags, MaxObjectTags); err != nil {
		return &Result{Err: err}
	}
	if err := checkLockRequest(b, ev.Retention, ev.LegalHold, ev.Initiated); err != nil {
		return &Result{Err: err}
	}
	if err := checkEncryption(ev.Encryption); err != nil {
		return &Result{Err: err}
	}
	u := &UploadInfo{Bucket: ev.Bucket, Key: ev.Key, UploadID: ev.UploadID, Initiated: ev.Initiated, Meta: ev.Meta, Tags: ev.Tags,
		ChecksumAlgorithm: ev.ChecksumAlgorithm, ChecksumType: ev.ChecksumType, Retention: ev.Retention, LegalHold: ev.LegalHold,
		Encryption: ev.Encryption}
	if err := f.recordFits(func(e *encoder) { writeUpload(e, u) }); err != nil {
		return &Result{Err: err}
	}
	f.set(uploadKey(u.Bucket, u.Key, u.UploadID), u)
	f.counts.addUploads(u.Bucket, 1)
	out := u.clone()
	return &Result{Upload: &out}
}

// findUpload checks the bucket and then the upload.
func (f *FSM) findUpload(bucket, key, id string) (*UploadInfo, *Result) {
	if _, ok := f.res.bucket(bucket); !ok {
		return nil, reject(CodeNoSuchBucket, "bucket %q does not exist", bucket)
	}
	u, ok := f.upload(bucket, key, id)
	if !ok {
		return nil, reject(CodeNoSuchUpload, "upload %q of key %q does not exist", id, key)
	}
	return u, nil
}

func (f *FSM) putPart(ev *PutPart) *Result {
	u, rej := f.findUpload(ev.Bucket, ev.Key, ev.UploadID)
	if rej != nil {
		return rej
	}
	if ev.PartNumber < 1 || ev.PartNumber > MaxPartNumber {
		return reject(CodeInvalidArgument, "part number %d outside 1..%d", ev.PartNumber, MaxPartNumber)
	}
	if err := checkInline(ev.Blobs); err != nil {
		return &Result{Err: err}
	}
	p := &partRec{bucket: u.Bucket, key: u.Key, uploadID: u.UploadID, PartInfo: PartInfo{
		PartNumber: ev.PartNumber, Size: ev.Size, ETag: ev.ETag, Checksums: ev.Checksums,
		Blobs: withoutData(ev.Blobs), ModTime: ev.ModTime,
	}}
	if err := f.recordFits(func(e *encoder) { writePart(e, p) }); err != nil {
		return &Result{Err: err}
	}
	var freed []string
	if old, ok := f.part(p.bucket, p.key, p.uploadID, p.PartNumber); ok {
		freed = f.freedBlobs(nil, p.Blobs, old.Blobs)
	}
	f.set(partKey(p.bucket, p.key, p.uploadID, p.PartNumber), p)
	out := p.PartInfo.clone()
	return &Result{Part: &out, FreedBlobs: freed}
}

func trimETag(s string) string { return strings.ToLower(strings.Trim(s, `"`)) }

func (f *FSM) completeUpload(ev *CompleteMultipartUpload) *Result {
	u, rej := f.findUpload(ev.Bucket, ev.Key, ev.UploadID)
	if rej != nil {
		return rej
	}
	b, _ := f.res.bucket(ev.Bucket)
	if len(ev.Parts) == 0 {
		return reject(CodeInvalidArgument, "the completion lists no parts")
	}
	minSize := ev.MinPartSize
	if minSize == 0 {
		minSize = DefaultMinPartSize
	}
	stored := f.uploadParts(u.Bucket, u.Key, u.UploadID)
	byNumber := make(map[uint32]*partRec, len(stored)) // lookups only; never iterated
	for _, p := range stored {
		byNumber[p.PartNumber] = p
	}
	chosen := make([]*partRec, 0, len(ev.Parts))
	digest := md5.New()
	var size uint64
	for i, cp := range ev.Parts {
		if i > 0 && cp.PartNumber <= ev.Parts[i-1].PartNumber {
			return reject(CodeInvalidPartOrder, "part %d listed after part %d", cp.PartNumber, ev.Parts[i-1].PartNumber)
		}
		p, ok := byNumber[cp.PartNumber]
		if !ok {
			return reject(CodeInvalidPart, "part %d was not uploaded", cp.PartNumber)
		}
		if trimETag(cp.ETag) != trimETag(p.ETag) {
			return reject(CodeInvalidPart, "part %d has ETag %q, not %q", cp.PartNumber, p.ETag, cp.ETag)
		}
		sum, err := hex.DecodeString(trimETag(p.ETag))
		if err != nil || len(sum) != md5.Size {
			return reject(CodeInvalidPart, "part %d has no MD5 ETag (%q)", cp.PartNumber, p.ETag)
		}
		if i < len(ev.Parts)-1 && p.Size < minSize {
			return reject(CodeEntityTooSmall, "part %d is %d bytes, minimum %d", cp.PartNumber, p.Size, minSize)
		}
		digest.Write(sum)
		size += p.Size
		chosen = append(chosen, p)
	}
	etag := fmt.Sprintf("%x-%d", digest.Sum(nil), len(chosen))
	if ev.ETag != "" && trimETag(ev.ETag) != etag {
		return reject(CodeBadDigest, "completion ETag %q, computed %q", ev.ETag, etag)
	}
	var blobs []Blob
	for _, p := range chosen {
		blobs = append(blobs, p.Blobs...)
	}
	o := &objectRec{ObjectInfo: ObjectInfo{
		Bucket: u.Bucket, Key: u.Key, Size: size, ETag: etag, Meta: u.Meta, Blobs: blobs,
		ModTime: ev.ModTime, VersionID: NullVersionID, PartsCount: uint32(len(chosen)), Tags: u.Tags,
		Checksums: clonePairs(ev.Checksums), Retention: u.Retention, LegalHold: u.LegalHold,
		Encryption: u.Encryption,
	}}
	withDefaultRetention(b, o)
	up := u.clone()
	// The object takes over the chosen parts' blobs; only the blobs of parts left out (and
	// of a replaced version) are freed.
	if b.Versioning == "" && ev.IfMatch == "" && ev.IfNoneMatch == "" {
		if err := f.recordFits(func(e *encoder) { writeObjectRec(e, o) }); err != nil {
			return &Result{Err: err}
		}
		res := f.replaceObject(o, f.removeUpload(u, stored))
		res.Upload = &up
		return res
	}
	head := f.head(u.Bucket, u.Key)
	if err := checkConditions(head, ev.IfMatch, ev.IfNoneMatch); err != nil {
		return &Result{Err: err}
	}
	if err := f.checkReplace(b, head, ev.ModTime); err != nil {
		return &Result{Err: err}
	}
	if err := f.prepareVersion(b, o, ev.VersionID, head); err != nil {
		return &Result{Err: err}
	}
	removed := f.removeUpload(u, stored)
	removed = append(removed, f.putVersion(b, o, head)...)
	out := o.ObjectInfo.clone()
	return &Result{Object: &out, Upload: &up, FreedBlobs: f.freedBlobs(nil, o.Blobs, removed...)}
}

func (f *FSM) abortUpload(ev *AbortMultipartUpload) *Result {
	u, rej := f.findUpload(ev.Bucket, ev.Key, ev.UploadID)
	if rej != nil {
		return rej
	}
	removed := f.removeUpload(u, f.uploadParts(u.Bucket, u.Key, u.UploadID))
	out := u.clone()
	return &Result{Upload: &out, FreedBlobs: f.freedBlobs(nil, nil, removed...)}
}

func (f *FSM) registerNode(ev *RegisterNode) *Result {
	if err := checkID("node id", ev.Node.ID); err != nil {
		return &Result{Err: err}
	}
	n := ev.Node.clone()
	if err := f.recordFits(func(e *encoder) { encodeNode(e, n) }); err != nil {
		return &Result{Err: err}
	}
	f.res.nodes.ReplaceOrInsert(&n)
	f.set(nodeKey(n.ID), &n)
	return &Result{}
}

func (f *FSM) retireNode(ev *RetireNode) *Result {
	n, ok := f.res.nodes.Get(&NodeInfo{ID: ev.ID})
	if !ok {
		return reject(CodeNoSuchNode, "node %q is not registered", ev.ID)
	}
	f.res.nodes.Delete(n)
	f.set(nodeKey(n.ID), nil)
	return &Result{}
}

func (f *FSM) setSetting(ev *SetSetting) *Result {
	if err := checkID("setting key", ev.Key); err != nil {
		return &Result{Err: err}
	}
	if writeOnce(ev.Key) {
		if old, ok := f.res.settings.Get(&Pair{Key: ev.Key}); ok {
			if old.Value == ev.Value {
				return &Result{} // the same value again: nothing changes
			}
			return reject(CodeSettingImmutable, "setting %q is %q and cannot be changed or removed", ev.Key, old.Value)
		}
	}
	if ev.Value == "" {
		f.res.settings.Delete(&Pair{Key: ev.Key})
		f.set(settingKey(ev.Key), nil)
	} else {
		p := &Pair{Key: ev.Key, Value: ev.Value}
		f.res.settings.ReplaceOrInsert(p)
		f.set(settingKey(ev.Key), p)
	}
	return &Result{}
}
