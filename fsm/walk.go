package fsm

import "context"

// BlobRef is one blob that a committed record references, as WalkBlobs reports it.
type BlobRef struct {
	Blob
	// ModTime is the referencing object's or part's modification time (Unix nanoseconds,
	// the proposer's clock).
	ModTime int64
}

// walkPage is how many records one step of a walk reads from one view; the caller's function
// runs between steps, with no view held. A variable so that tests can make pages tiny.
var walkPage = 1000

// WalkBlobs calls fn for every blob that an object or a part of an open multipart upload
// references: the data plane's set of live blobs (repair, garbage collection). It reads the
// indexes' key ranges directly, through every tier (memory and the snapshot runs beyond the
// cache, without filling the cache), and reads the local state as it is: a caller that needs
// every acknowledged write passes a read barrier first.
//
// The walk is paged: each page of records comes from one consistent view and fn runs outside
// it, so a slow fn (repair copies blobs) pins neither the FSM lock nor old snapshot runs. The
// walk as a whole is therefore not one point in time, and parts are walked before objects:
// CompleteMultipartUpload moves part blobs into an object, and visiting the source range
// before the destination means that a blob referenced from the start of the walk to its end is
// reported at least once whatever commits meanwhile (a completion in between may report a
// blob twice). Records never move in the other direction. A record kind added later that
// references blobs must be walked here, in that order.
//
// fn's error stops the walk and is returned; so is ctx's, checked between pages.
func (f *FSM) WalkBlobs(ctx context.Context, fn func(BlobRef) error) error {
	err := f.walkRange(ctx, prefixPart, func(rec any) error {
		p := rec.(*partRec)
		return eachBlob(p.Blobs, p.ModTime, fn)
	})
	if err != nil {
		return err
	}
	return f.walkRange(ctx, prefixObject, func(rec any) error {
		o := rec.(*ObjectInfo)
		return eachBlob(o.Blobs, o.ModTime, fn)
	})
}

// WalkUploads calls fn for every open multipart upload, in (bucket, key, upload ID) order,
// paged like WalkBlobs.
func (f *FSM) WalkUploads(ctx context.Context, fn func(UploadInfo) error) error {
	return f.walkRange(ctx, prefixUpload, func(rec any) error { return fn(rec.(*UploadInfo).clone()) })
}

func eachBlob(bs []Blob, modTime int64, fn func(BlobRef) error) error {
	for _, b := range cloneBlobs(bs) {
		if err := fn(BlobRef{Blob: b, ModTime: modTime}); err != nil {
			return err
		}
	}
	return nil
}

// walkRange calls fn for every record whose snapshot key starts with prefix, page by page.
func (f *FSM) walkRange(ctx context.Context, prefix byte, fn func(rec any) error) error {
	from, end := string([]byte{prefix}), string([]byte{prefix + 1})
	for from != "" {
		if err := ctx.Err(); err != nil {
			return err
		}
		var recs []any
		var err error
		recs, from, err = f.walkStep(from, end)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			if err := fn(rec); err != nil {
				return err
			}
		}
	}
	return ctx.Err()
}

// walkStep reads up to walkPage records of [from, end) from one view. next is the key to
// resume at, "" when the range is done.
func (f *FSM) walkStep(from, end string) (recs []any, next string, err error) {
	f.mu.RLock()
	v := f.readViewLocked()
	f.mu.RUnlock()
	defer v.close()
	it := v.iter(from, end, false, false)
	defer it.close()
	for it.next() {
		if len(recs) == walkPage {
			return recs, it.key, nil
		}
		rec, err := it.record()
		if err != nil {
			return nil, "", err
		}
		recs = append(recs, rec)
	}
	return recs, "", it.err
}
