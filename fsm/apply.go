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
		return f.putObject(ev)
	case *DeleteObject:
		return f.deleteObject(ev)
	case *DeleteObjects:
		return f.deleteObjects(ev)
	case *CreateMultipartUpload:
		return f.createUpload(ev)
	case *PutPart:
		return f.putPart(ev)
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
	}
	return reject(CodeInvalidEvent, "unhandled event type %s", ev.Type())
}

// validBucketName applies S3's rules: 3-63 characters of a-z, 0-9, '.', '-', starting and
// ending with a letter or digit.
func validBucketName(s string) bool {
	if len(s) < minNameLen || len(s) > maxNameLen {
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

// --- mutations: each marks its snapshot key dirty and keeps blob references counted ---

func (f *FSM) ref(bs []Blob) {
	for _, b := range bs {
		f.refs[b.ID]++
	}
}

// unref drops one reference to each blob and appends those now unreferenced to freed.
func (f *FSM) unref(bs []Blob, freed []string) []string {
	for _, b := range bs {
		n := f.refs[b.ID] - 1
		if n <= 0 {
			delete(f.refs, b.ID)
			freed = append(freed, b.ID)
		} else {
			f.refs[b.ID] = n
		}
	}
	return freed
}

func (f *FSM) touch(key string) { f.dirty[key] = struct{}{} }

func (f *FSM) setObject(o *ObjectInfo) {
	f.st.objects.ReplaceOrInsert(o)
	f.touch(objectKey(o.Bucket, o.Key))
}

func (f *FSM) removeObject(o *ObjectInfo) {
	f.st.objects.Delete(o)
	f.touch(objectKey(o.Bucket, o.Key))
}

func (f *FSM) removeUpload(u *UploadInfo, freed []string) []string {
	for _, p := range f.st.uploadParts(u.Bucket, u.Key, u.UploadID) {
		f.st.parts.Delete(p)
		f.touch(partKey(p.bucket, p.key, p.uploadID, p.PartNumber))
		freed = f.unref(p.Blobs, freed)
	}
	f.st.uploads.Delete(u)
	f.touch(uploadKey(u.Bucket, u.Key, u.UploadID))
	return freed
}

// --- handlers ---

func (f *FSM) createBucket(ev *CreateBucket) *Result {
	if !validBucketName(ev.Name) {
		return reject(CodeInvalidBucketName, "invalid bucket name %q", ev.Name)
	}
	if b, ok := f.st.bucket(ev.Name); ok {
		if b.Owner == ev.Owner {
			return reject(CodeBucketAlreadyOwnedByYou, "bucket %q already exists", ev.Name)
		}
		return reject(CodeBucketAlreadyExists, "bucket %q is owned by another account", ev.Name)
	}
	b := &BucketInfo{Name: ev.Name, Owner: ev.Owner, Created: ev.Created}
	f.st.buckets.ReplaceOrInsert(b)
	f.touch(bucketKey(b.Name))
	out := *b
	return &Result{Bucket: &out}
}

func (f *FSM) deleteBucket(ev *DeleteBucket) *Result {
	b, ok := f.st.bucket(ev.Name)
	if !ok {
		return reject(CodeNoSuchBucket, "bucket %q does not exist", ev.Name)
	}
	objects, uploads := f.st.bucketInUse(ev.Name)
	if objects {
		return reject(CodeBucketNotEmpty, "bucket %q holds objects", ev.Name)
	}
	if uploads {
		return reject(CodeBucketNotEmpty, "bucket %q has open multipart uploads", ev.Name)
	}
	f.st.buckets.Delete(b)
	f.touch(bucketKey(b.Name))
	out := *b
	return &Result{Bucket: &out}
}

func (f *FSM) putObject(ev *PutObject) *Result {
	if _, ok := f.st.bucket(ev.Bucket); !ok {
		return reject(CodeNoSuchBucket, "bucket %q does not exist", ev.Bucket)
	}
	if err := checkKey(ev.Key); err != nil {
		return &Result{Err: err}
	}
	o := &ObjectInfo{
		Bucket: ev.Bucket, Key: ev.Key, Size: ev.Size, ETag: ev.ETag, Meta: ev.Meta,
		Checksums: ev.Checksums, Blobs: ev.Blobs, ModTime: ev.ModTime, VersionID: ev.VersionID,
	}
	if err := f.recordFits(func(e *encoder) { objectBody(e, o) }); err != nil {
		return &Result{Err: err}
	}
	f.ref(o.Blobs)
	return f.replaceObject(o, nil)
}

// replaceObject stores o in place of any object of the same key. The caller has already
// referenced o's blobs (so a blob kept by the new object is never reported freed); freed
// carries blobs the caller freed already.
func (f *FSM) replaceObject(o *ObjectInfo, freed []string) *Result {
	if old, ok := f.st.object(o.Bucket, o.Key); ok {
		freed = f.unref(old.Blobs, freed)
	}
	f.setObject(o)
	out := o.clone()
	return &Result{Object: &out, FreedBlobs: freed}
}

func (f *FSM) deleteObject(ev *DeleteObject) *Result {
	if _, ok := f.st.bucket(ev.Bucket); !ok {
		return reject(CodeNoSuchBucket, "bucket %q does not exist", ev.Bucket)
	}
	o, ok := f.st.object(ev.Bucket, ev.Key)
	if !ok {
		return reject(CodeNoSuchKey, "key %q does not exist", ev.Key)
	}
	f.removeObject(o)
	out := o.clone()
	return &Result{Object: &out, FreedBlobs: f.unref(o.Blobs, nil)}
}

func (f *FSM) deleteObjects(ev *DeleteObjects) *Result {
	if _, ok := f.st.bucket(ev.Bucket); !ok {
		return reject(CodeNoSuchBucket, "bucket %q does not exist", ev.Bucket)
	}
	res := &Result{Deleted: make([]DeleteResult, 0, len(ev.Keys))}
	for _, k := range ev.Keys {
		dr := DeleteResult{Key: k}
		if err := checkKey(k); err != nil {
			dr.Err = err
		} else if o, ok := f.st.object(ev.Bucket, k); !ok {
			dr.Err = newErr(CodeNoSuchKey, "key %q does not exist", k)
		} else {
			f.removeObject(o)
			res.FreedBlobs = f.unref(o.Blobs, res.FreedBlobs)
		}
		res.Deleted = append(res.Deleted, dr)
	}
	return res
}

func (f *FSM) createUpload(ev *CreateMultipartUpload) *Result {
	if _, ok := f.st.bucket(ev.Bucket); !ok {
		return reject(CodeNoSuchBucket, "bucket %q does not exist", ev.Bucket)
	}
	if err := checkKey(ev.Key); err != nil {
		return &Result{Err: err}
	}
	if err := checkID("upload id", ev.UploadID); err != nil {
		return &Result{Err: err}
	}
	if _, ok := f.st.upload(ev.Bucket, ev.Key, ev.UploadID); ok {
		return reject(CodeInvalidArgument, "upload id %q already in use", ev.UploadID)
	}
	u := &UploadInfo{Bucket: ev.Bucket, Key: ev.Key, UploadID: ev.UploadID, Initiated: ev.Initiated, Meta: ev.Meta}
	if err := f.recordFits(func(e *encoder) { uploadBody(e, u) }); err != nil {
		return &Result{Err: err}
	}
	f.st.uploads.ReplaceOrInsert(u)
	f.touch(uploadKey(u.Bucket, u.Key, u.UploadID))
	out := u.clone()
	return &Result{Upload: &out}
}

// findUpload checks the bucket and then the upload.
func (f *FSM) findUpload(bucket, key, id string) (*UploadInfo, *Result) {
	if _, ok := f.st.bucket(bucket); !ok {
		return nil, reject(CodeNoSuchBucket, "bucket %q does not exist", bucket)
	}
	u, ok := f.st.upload(bucket, key, id)
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
	p := &partRec{bucket: u.Bucket, key: u.Key, uploadID: u.UploadID, PartInfo: PartInfo{
		PartNumber: ev.PartNumber, Size: ev.Size, ETag: ev.ETag, Checksums: ev.Checksums,
		Blobs: ev.Blobs, ModTime: ev.ModTime,
	}}
	if err := f.recordFits(func(e *encoder) { partBody(e, p) }); err != nil {
		return &Result{Err: err}
	}
	f.ref(p.Blobs)
	var freed []string
	if old, ok := f.st.parts.Get(p); ok {
		freed = f.unref(old.Blobs, nil)
	}
	f.st.parts.ReplaceOrInsert(p)
	f.touch(partKey(p.bucket, p.key, p.uploadID, p.PartNumber))
	out := p.PartInfo.clone()
	return &Result{Part: &out, FreedBlobs: freed}
}

func trimETag(s string) string { return strings.ToLower(strings.Trim(s, `"`)) }

func (f *FSM) completeUpload(ev *CompleteMultipartUpload) *Result {
	u, rej := f.findUpload(ev.Bucket, ev.Key, ev.UploadID)
	if rej != nil {
		return rej
	}
	if len(ev.Parts) == 0 {
		return reject(CodeInvalidArgument, "the completion lists no parts")
	}
	minSize := ev.MinPartSize
	if minSize == 0 {
		minSize = DefaultMinPartSize
	}
	stored := f.st.uploadParts(u.Bucket, u.Key, u.UploadID)
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
	o := &ObjectInfo{
		Bucket: u.Bucket, Key: u.Key, Size: size, ETag: etag, Meta: u.Meta, Blobs: blobs,
		ModTime: ev.ModTime, VersionID: ev.VersionID, PartsCount: uint32(len(chosen)),
	}
	if err := f.recordFits(func(e *encoder) { objectBody(e, o) }); err != nil {
		return &Result{Err: err}
	}
	// Reference the object's blobs before the parts release theirs, so that only the blobs
	// of parts left out of the completion are freed.
	f.ref(o.Blobs)
	freed := f.removeUpload(u, nil)
	res := f.replaceObject(o, freed)
	up := u.clone()
	res.Upload = &up
	return res
}

func (f *FSM) abortUpload(ev *AbortMultipartUpload) *Result {
	u, rej := f.findUpload(ev.Bucket, ev.Key, ev.UploadID)
	if rej != nil {
		return rej
	}
	freed := f.removeUpload(u, nil)
	out := u.clone()
	return &Result{Upload: &out, FreedBlobs: freed}
}

func (f *FSM) registerNode(ev *RegisterNode) *Result {
	if err := checkID("node id", ev.Node.ID); err != nil {
		return &Result{Err: err}
	}
	n := ev.Node.clone()
	if err := f.recordFits(func(e *encoder) { encodeNode(e, n) }); err != nil {
		return &Result{Err: err}
	}
	f.st.nodes.ReplaceOrInsert(&n)
	f.touch(nodeKey(n.ID))
	return &Result{}
}

func (f *FSM) retireNode(ev *RetireNode) *Result {
	n, ok := f.st.nodes.Get(&NodeInfo{ID: ev.ID})
	if !ok {
		return reject(CodeNoSuchNode, "node %q is not registered", ev.ID)
	}
	f.st.nodes.Delete(n)
	f.touch(nodeKey(n.ID))
	return &Result{}
}

func (f *FSM) setSetting(ev *SetSetting) *Result {
	if err := checkID("setting key", ev.Key); err != nil {
		return &Result{Err: err}
	}
	if ev.Value == "" {
		f.st.settings.Delete(&Pair{Key: ev.Key})
	} else {
		f.st.settings.ReplaceOrInsert(&Pair{Key: ev.Key, Value: ev.Value})
	}
	f.touch(settingKey(ev.Key))
	return &Result{}
}
