package fsm

import (
	"context"
	"fmt"
)

// BlobRef is one blob that a committed record references, as WalkBlobs reports it.
type BlobRef struct {
	Blob
	// ModTime is the referencing object's or part's modification time (Unix nanoseconds,
	// the proposer's clock).
	ModTime int64
}

// blobRanges are the key prefixes of the records that reference blobs, walked in this order.
// A record kind added later that references blobs must be added here.
var blobRanges = []byte{prefixPart, prefixObject, prefixVersion}

// WalkBlobs calls fn for every blob that an object version (current or noncurrent) or a part
// of an open multipart upload references: the data plane's set of live blobs (repair, garbage
// collection; inline blobs, whose bytes the FSM holds, come with Inline set and no Data, for
// the data plane to skip). It reads the indexes' key ranges directly, through every tier
// (memory and the snapshot runs beyond the cache, without filling the cache), and it reads the
// local state as it is: a caller that needs every acknowledged write passes a read barrier
// first.
//
// The walk is one point in time: the state when it started (a view, as a full snapshot's
// Persist takes), whatever commits while it runs, so a blob is reported exactly once and a
// record moving between key ranges (CompleteMultipartUpload moves part blobs into an object)
// cannot hide one. fn runs while the view is held — not the FSM lock, so Apply goes on — and
// should be quick: the view keeps the records changed meanwhile and the snapshot runs it reads
// in memory and on disk until the walk ends.
//
// fn's error stops the walk and is returned; so does ctx's.
func (f *FSM) WalkBlobs(ctx context.Context, fn func(BlobRef) error) error {
	v := f.walkView()
	defer v.close()
	for _, prefix := range blobRanges {
		err := walkRange(ctx, v, prefix, func(rec any) error {
			var bs []Blob
			var mtime int64
			switch r := rec.(type) {
			case *objectRec: // a head or a noncurrent version; a delete marker has no blobs
				bs, mtime = r.Blobs, r.ModTime
			case *partRec:
				bs, mtime = r.Blobs, r.ModTime
			default:
				return fmt.Errorf("fsm: walk: unexpected %T record", rec)
			}
			for _, b := range cloneBlobs(bs) {
				if err := fn(BlobRef{Blob: b, ModTime: mtime}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// WalkUploads calls fn for every open multipart upload, in (bucket, key, upload ID) order, at
// one point in time like WalkBlobs.
func (f *FSM) WalkUploads(ctx context.Context, fn func(UploadInfo) error) error {
	v := f.walkView()
	defer v.close()
	return walkRange(ctx, v, prefixUpload, func(rec any) error { return fn(rec.(*UploadInfo).clone()) })
}

func (f *FSM) walkView() *view {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.readViewLocked()
}

// walkRange calls fn for every record of v whose snapshot key starts with prefix, in key order.
func walkRange(ctx context.Context, v *view, prefix byte, fn func(rec any) error) error {
	it := v.iter(string([]byte{prefix}), string([]byte{prefix + 1}), false, true)
	defer it.close()
	for it.next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, err := it.record()
		if err != nil {
			return err
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	if it.err != nil {
		return it.err
	}
	return ctx.Err()
}
