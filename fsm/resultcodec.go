package fsm

import (
	"encoding/json"
	"fmt"
)

// ResultCodec encodes the *Result of an applied command so that a follower that forwarded a
// proposal to the leader gets the same value back (engine.ResultCodec).
//
// The encoding is binary, with the primitives of the event encoding:
//
//	0xB1                 magic and version
//	u8                   presence bits: 1 Err, 2 Bucket, 4 Object, 8 Upload, 16 Part
//	[Err]                code, message
//	[Bucket]             the bucket record's fields
//	[Object]             the object record's fields
//	[Upload]             the upload record's fields
//	[Part]               part number, size, etag, checksums, blobs, mtime
//	list Deleted         key, u8 has-error, [code, message]
//	list FreedBlobs      strings
//
// A nil result is the empty payload. JSON was used before (about a sixth of the CPU of a
// three-node write load went to it); DecodeResult still reads it, so a follower upgraded before
// its leader keeps working.
//
// Version 2 (0xB2) carries versions, delete markers and tags; it is written only for a
// result that version 1 cannot hold (so a leader upgraded before its followers answers
// unversioned buckets in the version 1 encoding they read):
//
//	0xB2                 magic and version
//	u8                   presence bits, as version 1
//	[Err]                code, message, u8 delete marker, version id, i64 last modified
//	[Bucket]             the bucket record (its version byte, then its body)
//	[Object]             the object record (version byte, body); a null version's order
//	                     is not carried
//	[Upload]             the upload record (version byte, body)
//	[Part]               as version 1
//	list Deleted         key, version id, u8 flags (1 error, 2 delete marker),
//	                     delete marker version id, [code, message]
//	list FreedBlobs      strings
//
// Version 3 (0xB3) is the layout of version 2 in which the embedded bucket and upload records
// may be at version 3 (a bucket's region, an upload's checksum declaration); version 2 carries
// them only up to version 2. It is written only for a result that version 2 cannot hold, by
// the same rule. Version 4 (0xB4), the layout of version 2 again, carries the records of
// object lock: bucket records up to version 4, object records up to version 3 and upload
// records up to version 4; it too is written only for a result that version 3 cannot hold.
// Version 5 (0xB5), the same layout, carries the records of encryption at rest: object records
// up to version 4 and upload records up to version 5; written only for a result that version
// 4 cannot hold (an encrypted object or upload). Version 6 (0xB6), the same layout, carries
// inline blobs: object records up to version 5, and the part followed by its inline flags (a
// list, possibly empty, of the indexes of its inline blobs); written only for a result with an
// inline blob. Every tag byte names one layout: 0xB1 to 0xB6 are all read, and anything else
// that is not empty is JSON.
type ResultCodec struct{}

const (
	resultMagic   = 0xB1
	resultMagicV2 = 0xB2
	resultMagicV3 = 0xB3
	resultMagicV4 = 0xB4
	resultMagicV5 = 0xB5
	resultMagicV6 = 0xB6
)

// embedded is the newest version of each embedded record a layout carries.
type embedded struct{ bucket, object, upload uint8 }

var (
	layoutV2 = embedded{recordVersionExt, recordVersionExt, recordVersionExt}
	layoutV3 = embedded{recordVersionExt3, recordVersionExt, recordVersionExt3}
	layoutV4 = embedded{recordVersionExt4, recordVersionExt3, recordVersionExt4}
	layoutV5 = embedded{recordVersionExt4, recordVersionExt4, recordVersionExt5}
	layoutV6 = embedded{recordVersionExt4, recordVersionExt5, recordVersionExt5}
)

const (
	resHasErr = 1 << iota
	resHasBucket
	resHasObject
	resHasUpload
	resHasPart
)

// EncodeResult encodes a *Result (or nil, for non-command entries).
func (ResultCodec) EncodeResult(v any) ([]byte, error) {
	switch r := v.(type) {
	case nil:
		return []byte{}, nil
	case *Result:
		return encodeResult(r)
	}
	return nil, fmt.Errorf("fsm: cannot encode a result of type %T", v)
}

// needsV2 reports whether a result holds something version 1 cannot carry.
func needsV2(r *Result) bool {
	if r.Err != nil && (r.Err.DeleteMarker || r.Err.VersionID != "" || r.Err.LastModified != 0) ||
		r.Bucket != nil && r.Bucket.Versioning != "" ||
		r.Object != nil && recFromInfo(r.Object).hasExt() ||
		r.Upload != nil && r.Upload.hasExt() {
		return true
	}
	for _, d := range r.Deleted {
		if d.VersionID != "" || d.DeleteMarker || d.DeleteMarkerVersionID != "" {
			return true
		}
	}
	return false
}

// needsV3 reports whether a result embeds a record that version 2 cannot carry.
func needsV3(r *Result) bool {
	return r.Bucket != nil && bucketVersion(r.Bucket) > recordVersionExt ||
		r.Upload != nil && uploadVersion(r.Upload) > recordVersionExt
}

// needsV4 reports whether a result embeds a record that version 3 cannot carry.
func needsV4(r *Result) bool {
	return r.Bucket != nil && bucketVersion(r.Bucket) > recordVersionExt3 ||
		r.Object != nil && hasLock(r.Object.Retention, r.Object.LegalHold) ||
		r.Upload != nil && uploadVersion(r.Upload) > recordVersionExt3
}

// needsV5 reports whether a result embeds a record that version 4 cannot carry.
func needsV5(r *Result) bool {
	return r.Object != nil && r.Object.Encryption.Encrypted() || r.Upload != nil && r.Upload.Encryption.Encrypted()
}

// needsV6 reports whether a result embeds an inline blob.
func needsV6(r *Result) bool {
	return r.Object != nil && hasInline(r.Object.Blobs) || r.Part != nil && hasInline(r.Part.Blobs)
}

func encodeResult(r *Result) ([]byte, error) {
	if needsV6(r) {
		return encodeResultV2(r, resultMagicV6)
	}
	if needsV5(r) {
		return encodeResultV2(r, resultMagicV5)
	}
	if needsV4(r) {
		return encodeResultV2(r, resultMagicV4)
	}
	if needsV3(r) {
		return encodeResultV2(r, resultMagicV3)
	}
	if needsV2(r) {
		return encodeResultV2(r, resultMagicV2)
	}
	e := &encoder{b: make([]byte, 0, 256)}
	e.u8(resultMagic)
	e.u8(resultBits(r))
	if r.Err != nil {
		encodeErr(e, r.Err)
	}
	if r.Bucket != nil {
		bucketBody(e, r.Bucket)
	}
	if r.Object != nil {
		objectBody(e, r.Object)
	}
	if r.Upload != nil {
		uploadBody(e, r.Upload)
	}
	if r.Part != nil {
		partInfoBody(e, r.Part)
	}
	e.count("deleted", len(r.Deleted), maxDeleteKeys)
	for _, d := range r.Deleted {
		e.str("key", d.Key)
		if d.Err == nil {
			e.u8(0)
			continue
		}
		e.u8(1)
		encodeErr(e, d.Err)
	}
	e.strs("freed blobs", r.FreedBlobs, maxBlobs)
	if e.err != nil {
		return nil, fmt.Errorf("fsm: encode result: %w", e.err)
	}
	return e.b, nil
}

func resultBits(r *Result) uint8 {
	var bits uint8
	if r.Err != nil {
		bits |= resHasErr
	}
	if r.Bucket != nil {
		bits |= resHasBucket
	}
	if r.Object != nil {
		bits |= resHasObject
	}
	if r.Upload != nil {
		bits |= resHasUpload
	}
	if r.Part != nil {
		bits |= resHasPart
	}
	return bits
}

// encodeResultV2 writes the layout of versions 2 to 6 (magic says which).
func encodeResultV2(r *Result, magic byte) ([]byte, error) {
	e := &encoder{b: make([]byte, 0, 256)}
	e.u8(magic)
	e.u8(resultBits(r))
	if r.Err != nil {
		encodeErr(e, r.Err)
		encodeErrExt(e, r.Err)
	}
	if r.Bucket != nil {
		writeBucket(e, r.Bucket)
	}
	if r.Object != nil {
		writeObjectRec(e, recFromInfo(r.Object))
	}
	if r.Upload != nil {
		writeUpload(e, r.Upload)
	}
	if r.Part != nil {
		partInfoBody(e, r.Part)
		if magic >= resultMagicV6 {
			e.inlineFlags(r.Part.Blobs, true)
		}
	}
	e.count("deleted", len(r.Deleted), maxDeleteKeys)
	for _, d := range r.Deleted {
		e.str("key", d.Key)
		e.str("version id", d.VersionID)
		var flags uint8
		if d.Err != nil {
			flags |= 1
		}
		if d.DeleteMarker {
			flags |= 2
		}
		e.u8(flags)
		e.str("delete marker version id", d.DeleteMarkerVersionID)
		if d.Err != nil {
			encodeErr(e, d.Err)
		}
	}
	e.strs("freed blobs", r.FreedBlobs, maxBlobs)
	if e.err != nil {
		return nil, fmt.Errorf("fsm: encode result: %w", e.err)
	}
	return e.b, nil
}

func encodeErrExt(e *encoder, err *Error) {
	if err.DeleteMarker {
		e.u8(1)
	} else {
		e.u8(0)
	}
	e.str("error version id", err.VersionID)
	e.i64(err.LastModified)
}

func decodeErrExt(d *decoder, err *Error) {
	switch d.u8("error delete marker") {
	case 0:
	case 1:
		err.DeleteMarker = true
	default:
		d.fail("error delete marker flag")
	}
	err.VersionID = d.str("error version id")
	err.LastModified = d.i64("error last modified")
}

// readResultBits reads the presence bits of a result.
func readResultBits(d *decoder) uint8 {
	bits := d.u8("result fields")
	if bits&^(resHasErr|resHasBucket|resHasObject|resHasUpload|resHasPart) != 0 {
		d.fail("unknown result fields %#x", bits)
	}
	return bits
}

// decodeResultV2 reads the layout of versions 2 to 6: newest holds the newest version of
// each embedded record that the layout carries.
func decodeResultV2(b []byte, newest embedded) (*Result, error) {
	d := &decoder{b: b}
	r := &Result{}
	bits := readResultBits(d)
	if bits&resHasErr != 0 {
		r.Err = decodeErr(d)
		decodeErrExt(d, r.Err)
	}
	// Embedded records: their version byte, then their body.
	if bits&resHasBucket != 0 {
		r.Bucket = readBucket(d, readRecordVersion(d, "bucket record", newest.bucket))
	}
	if bits&resHasObject != 0 {
		r.Object = &readObjectRec(d, readRecordVersion(d, "object record", newest.object), false).ObjectInfo
	}
	if bits&resHasUpload != 0 {
		r.Upload = readUpload(d, readRecordVersion(d, "upload record", newest.upload))
	}
	if bits&resHasPart != 0 {
		p := decodePartInfoBody(d)
		if newest.object >= recordVersionExt5 {
			d.inlineFlags(p.Blobs, true)
		}
		r.Part = &p
	}
	if n := d.count("deleted", maxDeleteKeys, 4); n > 0 {
		r.Deleted = make([]DeleteResult, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			dr := DeleteResult{Key: d.str("key"), VersionID: d.str("version id")}
			flags := d.u8("deleted flags")
			if flags&^3 != 0 {
				d.fail("deleted flags %#x", flags)
			}
			dr.DeleteMarker = flags&2 != 0
			dr.DeleteMarkerVersionID = d.str("delete marker version id")
			if flags&1 != 0 {
				dr.Err = decodeErr(d)
			}
			r.Deleted = append(r.Deleted, dr)
		}
	}
	r.FreedBlobs = d.strs("freed blobs", maxBlobs)
	if err := d.finish(); err != nil {
		return nil, fmt.Errorf("fsm: decode result: %w", err)
	}
	return r, nil
}

func encodeErr(e *encoder, err *Error) {
	e.str("error code", err.Code)
	e.str("error message", err.Message)
}

func decodeErr(d *decoder) *Error {
	return &Error{Code: d.str("error code"), Message: d.str("error message")}
}

// DecodeResult decodes what EncodeResult produced (or the JSON of earlier versions); an empty
// payload (JSON: "null") yields a nil any.
func (ResultCodec) DecodeResult(b []byte) (any, error) {
	switch {
	case len(b) == 0 || string(b) == "null":
		return nil, nil
	case b[0] == resultMagicV2:
		return decodeResultV2(b[1:], layoutV2)
	case b[0] == resultMagicV3:
		return decodeResultV2(b[1:], layoutV3)
	case b[0] == resultMagicV4:
		return decodeResultV2(b[1:], layoutV4)
	case b[0] == resultMagicV5:
		return decodeResultV2(b[1:], layoutV5)
	case b[0] == resultMagicV6:
		return decodeResultV2(b[1:], layoutV6)
	case b[0] != resultMagic:
		var r Result
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("fsm: decode result: %w", err)
		}
		if r.Object != nil && r.Object.VersionID == "" {
			r.Object.VersionID = NullVersionID // written before versions: a null version
		}
		return &r, nil
	}
	d := &decoder{b: b[1:]}
	r := &Result{}
	bits := readResultBits(d)
	if bits&resHasErr != 0 {
		r.Err = decodeErr(d)
	}
	if bits&resHasBucket != 0 {
		r.Bucket = decodeBucketBody(d)
	}
	if bits&resHasObject != 0 {
		r.Object = decodeObjectBody(d)
	}
	if bits&resHasUpload != 0 {
		r.Upload = decodeUploadBody(d)
	}
	if bits&resHasPart != 0 {
		p := decodePartInfoBody(d)
		r.Part = &p
	}
	if n := d.count("deleted", maxDeleteKeys, 2); n > 0 {
		r.Deleted = make([]DeleteResult, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			dr := DeleteResult{Key: d.str("key")}
			switch d.u8("deleted error flag") {
			case 0:
			case 1:
				dr.Err = decodeErr(d)
			default:
				d.fail("deleted error flag")
			}
			r.Deleted = append(r.Deleted, dr)
		}
	}
	r.FreedBlobs = d.strs("freed blobs", maxBlobs)
	if err := d.finish(); err != nil {
		return nil, fmt.Errorf("fsm: decode result: %w", err)
	}
	return r, nil
}
