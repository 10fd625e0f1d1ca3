package fsm

import (
	"errors"
	"fmt"
	"io"

	"github.com/nebulaio/nebulaio/snapshot"
)

// RecordKind names the kind of a record in the snapshot key space, as ScanStream reports it.
type RecordKind string

// The record kinds. RecordOther is a kind this build decodes but ScanStream does not describe
// field by field (a kind added later that holds no blobs).
const (
	RecordMeta       RecordKind = "meta"
	RecordBucket     RecordKind = "bucket"
	RecordBucketTags RecordKind = "bucket_tags"
	RecordObject     RecordKind = "object"  // the current version of a key (a head)
	RecordVersion    RecordKind = "version" // a noncurrent version
	RecordUpload     RecordKind = "upload"
	RecordPart       RecordKind = "part"
	RecordNode       RecordKind = "node"
	RecordSetting    RecordKind = "setting"
	RecordOther      RecordKind = "other"
)

// StreamRecord is one record of a full snapshot stream. Key and Value are the record's bytes
// as the stream holds them (valid until fn returns); the other fields describe it.
type StreamRecord struct {
	Kind       RecordKind
	Key, Value []byte

	Bucket    string // every kind that belongs to a bucket
	ObjectKey string // objects, versions, uploads, parts
	VersionID string // objects and versions
	UploadID  string // uploads and parts
	Part      uint32 // parts
	Size      uint64 // objects, versions, parts
	ETag      string // objects, versions, parts
	// DeleteMarker is set on an object or version that is a delete marker.
	DeleteMarker bool
	// Encrypted is set on an object, a version or an upload whose bytes are encrypted at
	// rest (fsm.Encryption): its blobs hold ciphertext, so their size and digests are not
	// the plaintext's (a part is encrypted when its upload is).
	Encrypted bool
	// Blobs are the blobs an object, a version or a part references, in byte order.
	Blobs []Blob
	// Setting is a setting's key and value; a node's ID is in Setting.Key too.
	Setting Pair
}

// StreamSummary counts what a full snapshot stream holds.
type StreamSummary struct {
	// Applied is the applied index the stream's meta record names.
	Applied uint64
	// Records counts every record, the meta record included.
	Records int
	Buckets int
	// Objects counts the current versions that are not delete markers (what a listing
	// shows); Versions every object version, current or not, delete markers included.
	Objects, Versions, DeleteMarkers int
	Uploads, Parts                   int
	Nodes, Settings                  int
	// Blobs and BlobBytes count the blob references of objects, versions and parts.
	Blobs     int
	BlobBytes uint64
}

// ScanStream reads a KindFull snapshot stream (what Persist writes and snapshot.Store.Open
// returns) to its end and checks it as Restore does — every record decodes, is stored under
// its own key, and the meta record's counts agree with the records — without building any
// state: memory does not grow with the stream. fn (if not nil) is called for every record in
// key order, the meta record first; its error stops the scan and is returned.
func ScanStream(r io.Reader, fn func(*StreamRecord) error) (StreamSummary, error) {
	var sum StreamSummary
	sr, err := snapshot.NewStreamReader(r)
	if err != nil {
		return sum, fmt.Errorf("fsm: scan: %w", err)
	}
	if k := sr.Header().Kind; k != snapshot.KindFull {
		return sum, fmt.Errorf("%w: got %s", ErrSnapshotKind, k)
	}
	var sr2 StreamRecord
	meta, _, err := scanFull(sr, func(key, value []byte, rec any) error {
		sr2 = StreamRecord{Key: key, Value: value}
		describe(&sr2, rec)
		sum.add(&sr2)
		if fn != nil {
			return fn(&sr2)
		}
		return nil
	})
	if err != nil {
		return sum, fmt.Errorf("fsm: scan: %w", err)
	}
	sum.Applied = meta.applied
	return sum, nil
}

// scanFull reads every record of a full stream, checking each (decodeChecked) and the meta
// record's counts against the records; fn sees each record (the meta record with rec nil).
func scanFull(sr *snapshot.StreamReader, fn func(key, value []byte, rec any) error) (metaRecord, counts, error) {
	c := newCounts()
	var meta metaRecord
	sawMeta := false
	for {
		k, v, _, err := sr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return meta, c, err
		}
		if string(k) == metaKey {
			if meta, err = decodeMetaRecord(v); err != nil {
				return meta, c, fmt.Errorf("key %q: %w", k, err)
			}
			sawMeta = true
			if err := fn(k, v, nil); err != nil {
				return meta, c, err
			}
			continue
		}
		rec, err := decodeChecked(k, v)
		if err != nil {
			return meta, c, err
		}
		switch r := rec.(type) {
		case *objectRec:
			if !r.noncurrent {
				c.addObjects(r.Bucket, 1)
			}
		case *UploadInfo:
			c.addUploads(r.Bucket, 1)
		}
		if err := fn(k, v, rec); err != nil {
			return meta, c, err
		}
	}
	if !sawMeta {
		return meta, c, fmt.Errorf("%w: snapshot has no meta record", ErrCorrupt)
	}
	if meta.hasCounts && !sameCounts(meta.counts, c) {
		return meta, c, fmt.Errorf("%w: meta record counts do not match the records", ErrCorrupt)
	}
	return meta, c, nil
}

// describe fills r's fields from the decoded record (nil: the meta record).
func describe(r *StreamRecord, rec any) {
	switch v := rec.(type) {
	case nil:
		r.Kind = RecordMeta
	case *BucketInfo:
		r.Kind, r.Bucket = RecordBucket, v.Name
	case *bucketTags:
		r.Kind, r.Bucket = RecordBucketTags, v.Bucket
	case *objectRec:
		r.Kind = RecordObject
		if v.noncurrent {
			r.Kind = RecordVersion
		}
		r.Bucket, r.ObjectKey, r.VersionID = v.Bucket, v.Key, v.VersionID
		r.Size, r.ETag, r.DeleteMarker, r.Blobs = v.Size, v.ETag, v.DeleteMarker, v.Blobs
		r.Encrypted = v.Encryption.Encrypted()
	case *UploadInfo:
		r.Kind, r.Bucket, r.ObjectKey, r.UploadID = RecordUpload, v.Bucket, v.Key, v.UploadID
		r.Encrypted = v.Encryption.Encrypted()
	case *partRec:
		r.Kind, r.Bucket, r.ObjectKey, r.UploadID = RecordPart, v.bucket, v.key, v.uploadID
		r.Part, r.Size, r.ETag, r.Blobs = v.PartNumber, v.Size, v.ETag, v.Blobs
	case *NodeInfo:
		r.Kind, r.Setting = RecordNode, Pair{Key: v.ID}
	case *Pair:
		r.Kind, r.Setting = RecordSetting, *v
	default:
		r.Kind = RecordOther
	}
}

func (s *StreamSummary) add(r *StreamRecord) {
	s.Records++
	switch r.Kind {
	case RecordBucket:
		s.Buckets++
	case RecordObject, RecordVersion:
		s.Versions++
		if r.DeleteMarker {
			s.DeleteMarkers++
		} else if r.Kind == RecordObject {
			s.Objects++
		}
	case RecordUpload:
		s.Uploads++
	case RecordPart:
		s.Parts++
	case RecordNode:
		s.Nodes++
	case RecordSetting:
		s.Settings++
	}
	for _, b := range r.Blobs {
		s.Blobs++
		s.BlobBytes += b.Size
	}
}
