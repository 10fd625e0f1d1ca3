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
//	0xB2                 magic and version
//	u8                   presence bits: 1 Err, 2 Bucket, 4 Object, 8 Upload, 16 Part
//	[Err]                code, message
//	[Bucket]             u8 record version, the bucket record's fields of that version
//	[Object]             u8 record version, the object record's fields of that version
//	[Upload]             u8 record version, the upload record's fields of that version
//	[Part]               part number, size, etag, checksums, blobs, mtime
//	list Deleted         key, u8 has-error, [code, message]
//	list FreedBlobs      strings
//
// A nil result is the empty payload. 0xB1 was the same without the record version bytes
// (every record at version 1); JSON was used before that (about a sixth of the CPU of a
// three-node write load went to it). DecodeResult still reads both, so a follower upgraded
// before its leader keeps working.
type ResultCodec struct{}

const (
	resultMagic   = 0xB2
	resultMagicV1 = 0xB1 // records without version bytes, all at version 1
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

func encodeResult(r *Result) ([]byte, error) {
	e := &encoder{b: make([]byte, 0, 256)}
	e.u8(resultMagic)
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
	e.u8(bits)
	if r.Err != nil {
		encodeErr(e, r.Err)
	}
	if r.Bucket != nil {
		e.u8(bucketVersion(r.Bucket))
		bucketBody(e, r.Bucket)
	}
	if r.Object != nil {
		e.u8(objectVersion(r.Object))
		objectBody(e, r.Object)
	}
	if r.Upload != nil {
		e.u8(uploadVersion(r.Upload))
		uploadBody(e, r.Upload)
	}
	if r.Part != nil {
		partInfoBody(e, r.Part)
	}
	encodeResultLists(e, r)
	if e.err != nil {
		return nil, fmt.Errorf("fsm: encode result: %w", e.err)
	}
	return e.b, nil
}

// encodeResultLists writes the lists that end every binary result: Deleted and FreedBlobs.
func encodeResultLists(e *encoder, r *Result) {
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
	case b[0] != resultMagic && b[0] != resultMagicV1:
		var r Result
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("fsm: decode result: %w", err)
		}
		return &r, nil
	}
	d := &decoder{b: b[1:], ver: recordVersion}
	versioned := b[0] == resultMagic
	// recordVersion reads the version byte of an embedded record (0xB2 only).
	readVersion := func() {
		if versioned {
			d.ver = d.u8("record version")
			if d.err == nil && (d.ver < recordVersion || d.ver > 2) {
				d.err = fmt.Errorf("%w: record version %d", ErrUnknownVersion, d.ver)
			}
		}
	}
	r := &Result{}
	bits := d.u8("result fields")
	if bits&^(resHasErr|resHasBucket|resHasObject|resHasUpload|resHasPart) != 0 {
		d.fail("unknown result fields %#x", bits)
	}
	if bits&resHasErr != 0 {
		r.Err = decodeErr(d)
	}
	if bits&resHasBucket != 0 {
		readVersion()
		r.Bucket = decodeBucketBody(d)
	}
	if bits&resHasObject != 0 {
		readVersion()
		r.Object = decodeObjectBody(d)
	}
	if bits&resHasUpload != 0 {
		readVersion()
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
