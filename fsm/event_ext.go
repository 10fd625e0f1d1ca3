package fsm

// Version 2 bodies (the version 1 body, then these fields), version 3 bodies (the version 2
// body, then more fields) and the bodies of the event types added with versions and tags.
// Layouts in doc.go, "Event encoding".

var (
	_ extended3 = (*CreateBucket)(nil)
	_ extended3 = (*DeleteObject)(nil)
	_ extended3 = (*DeleteObjects)(nil)
	_ extended5 = (*CreateMultipartUpload)(nil)
	_ extended3 = (*CompleteMultipartUpload)(nil)
)

func (ev *CreateBucket) hasExt() bool          { return ev.Region != "" }
func (ev *CreateBucket) encodeExt(e *encoder)  { e.str("region", ev.Region) }
func (ev *CreateBucket) decodeExt(d *decoder)  { ev.Region = d.str("region") }
func (ev *CreateBucket) hasExt3() bool         { return ev.ObjectLock }
func (ev *CreateBucket) encodeExt3(e *encoder) { e.bool(ev.ObjectLock) }
func (ev *CreateBucket) decodeExt3(d *decoder) { ev.ObjectLock = d.bool("object lock") }

// The object lock fields of PutObject and CreateMultipartUpload: string mode, i64 retain
// until, string legal hold.

func hasLock(r Retention, hold string) bool { return r != (Retention{}) || hold != "" }

func (e *encoder) lock(r Retention, hold string) {
	e.str("lock mode", r.Mode)
	e.i64(r.RetainUntil)
	e.str("legal hold", hold)
}

func (d *decoder) lock() (Retention, string) {
	r := Retention{Mode: d.str("lock mode"), RetainUntil: d.i64("retain until")}
	return r, d.str("legal hold")
}

func (ev *PutObject) hasExt3() bool         { return hasLock(ev.Retention, ev.LegalHold) }
func (ev *PutObject) encodeExt3(e *encoder) { e.lock(ev.Retention, ev.LegalHold) }
func (ev *PutObject) decodeExt3(d *decoder) { ev.Retention, ev.LegalHold = d.lock() }

func (ev *DeleteObject) hasExt3() bool          { return ev.BypassGovernance }
func (ev *DeleteObject) encodeExt3(e *encoder)  { e.bool(ev.BypassGovernance) }
func (ev *DeleteObject) decodeExt3(d *decoder)  { ev.BypassGovernance = d.bool("bypass governance") }
func (ev *DeleteObjects) hasExt3() bool         { return ev.BypassGovernance }
func (ev *DeleteObjects) encodeExt3(e *encoder) { e.bool(ev.BypassGovernance) }
func (ev *DeleteObjects) decodeExt3(d *decoder) { ev.BypassGovernance = d.bool("bypass governance") }

func (ev *CreateMultipartUpload) hasExt4() bool         { return hasLock(ev.Retention, ev.LegalHold) }
func (ev *CreateMultipartUpload) encodeExt4(e *encoder) { e.lock(ev.Retention, ev.LegalHold) }
func (ev *CreateMultipartUpload) decodeExt4(d *decoder) { ev.Retention, ev.LegalHold = d.lock() }

func (ev *PutObject) hasExt() bool {
	return ev.Meta.hasExt() || len(ev.Tags) > 0 || ev.IfMatch != "" || ev.IfNoneMatch != ""
}

func (ev *PutObject) encodeExt(e *encoder) {
	e.metaExt(ev.Meta)
	e.pairs("tags", ev.Tags)
	e.str("if-match", ev.IfMatch)
	e.str("if-none-match", ev.IfNoneMatch)
}

func (ev *PutObject) decodeExt(d *decoder) {
	d.metaExt(&ev.Meta)
	ev.Tags = d.pairs("tags")
	ev.IfMatch = d.str("if-match")
	ev.IfNoneMatch = d.str("if-none-match")
}

func (ev *DeleteObject) hasExt() bool {
	return ev.VersionID != "" || ev.MarkerVersionID != "" || ev.ModTime != 0
}

func (ev *DeleteObject) encodeExt(e *encoder) {
	e.str("version id", ev.VersionID)
	e.str("marker version id", ev.MarkerVersionID)
	e.i64(ev.ModTime)
}

func (ev *DeleteObject) decodeExt(d *decoder) {
	ev.VersionID = d.str("version id")
	ev.MarkerVersionID = d.str("marker version id")
	ev.ModTime = d.i64("mtime")
}

func (ev *DeleteObjects) hasExt() bool {
	return len(ev.VersionIDs) > 0 || ev.MarkerVersionID != "" || ev.ModTime != 0
}

func (ev *DeleteObjects) encodeExt(e *encoder) {
	if len(ev.VersionIDs) != 0 && len(ev.VersionIDs) != len(ev.Keys) {
		e.fail("%d version ids for %d keys", len(ev.VersionIDs), len(ev.Keys))
	}
	e.strs("version ids", ev.VersionIDs, maxDeleteKeys)
	e.str("marker version id", ev.MarkerVersionID)
	e.i64(ev.ModTime)
}

func (ev *DeleteObjects) decodeExt(d *decoder) {
	ev.VersionIDs = d.strs("version ids", maxDeleteKeys)
	if d.err == nil && len(ev.VersionIDs) != 0 && len(ev.VersionIDs) != len(ev.Keys) {
		d.fail("%d version ids for %d keys", len(ev.VersionIDs), len(ev.Keys))
	}
	ev.MarkerVersionID = d.str("marker version id")
	ev.ModTime = d.i64("mtime")
}

func (ev *CreateMultipartUpload) hasExt() bool { return ev.Meta.hasExt() || len(ev.Tags) > 0 }

func (ev *CreateMultipartUpload) encodeExt(e *encoder) {
	e.metaExt(ev.Meta)
	e.pairs("tags", ev.Tags)
}

func (ev *CreateMultipartUpload) decodeExt(d *decoder) {
	d.metaExt(&ev.Meta)
	ev.Tags = d.pairs("tags")
}

func (ev *CreateMultipartUpload) hasExt3() bool {
	return ev.ChecksumAlgorithm != "" || ev.ChecksumType != ""
}

func (ev *CreateMultipartUpload) encodeExt3(e *encoder) {
	e.str("checksum algorithm", ev.ChecksumAlgorithm)
	e.str("checksum type", ev.ChecksumType)
}

func (ev *CreateMultipartUpload) decodeExt3(d *decoder) {
	ev.ChecksumAlgorithm = d.str("checksum algorithm")
	ev.ChecksumType = d.str("checksum type")
}

func (ev *CompleteMultipartUpload) hasExt() bool { return ev.IfMatch != "" || ev.IfNoneMatch != "" }

func (ev *CompleteMultipartUpload) encodeExt(e *encoder) {
	e.str("if-match", ev.IfMatch)
	e.str("if-none-match", ev.IfNoneMatch)
}

func (ev *CompleteMultipartUpload) decodeExt(d *decoder) {
	ev.IfMatch = d.str("if-match")
	ev.IfNoneMatch = d.str("if-none-match")
}

func (ev *CompleteMultipartUpload) hasExt3() bool         { return len(ev.Checksums) > 0 }
func (ev *CompleteMultipartUpload) encodeExt3(e *encoder) { e.pairs("checksums", ev.Checksums) }
func (ev *CompleteMultipartUpload) decodeExt3(d *decoder) { ev.Checksums = d.pairs("checksums") }

func (ev *SetBucketVersioning) encodeBody(e *encoder) {
	e.str("bucket", ev.Bucket)
	e.str("status", ev.Status)
}

func (ev *SetBucketVersioning) decodeBody(d *decoder) {
	ev.Bucket = d.str("bucket")
	ev.Status = d.str("status")
}

func (ev *PutObjectTagging) encodeBody(e *encoder) {
	e.str("bucket", ev.Bucket)
	e.str("key", ev.Key)
	e.str("version id", ev.VersionID)
	e.pairs("tags", ev.Tags)
}

func (ev *PutObjectTagging) decodeBody(d *decoder) {
	ev.Bucket = d.str("bucket")
	ev.Key = d.str("key")
	ev.VersionID = d.str("version id")
	ev.Tags = d.pairs("tags")
}

func (ev *PutBucketTagging) encodeBody(e *encoder) {
	e.str("bucket", ev.Bucket)
	e.pairs("tags", ev.Tags)
}

func (ev *PutBucketTagging) decodeBody(d *decoder) {
	ev.Bucket = d.str("bucket")
	ev.Tags = d.pairs("tags")
}
