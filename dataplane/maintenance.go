package s3

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nebulaio/nebulaio/engine/blob"
	"github.com/nebulaio/nebulaio/fsm"
)

// Maintenance the server runs periodically (the S3 handler starts no goroutines of its own):
//
//   - CollectGarbage on every node: deletes local blobs that no object or part references and
//     that were published more than grace ago. These are the blobs of writes whose outcome
//     was unknown (503) and did not commit, and of frees that failed to delete.
//   - AbortStaleUploads on one node (the leader): aborts multipart uploads initiated more
//     than olderThan ago, which frees their parts.

// GCStats reports one garbage collection pass.
type GCStats struct {
	Scanned    int // blobs in the store
	Referenced int // distinct blob IDs the metadata references
	Deleted    int // unreferenced blobs older than the grace period, deleted
}

// CollectGarbage deletes the blobs of store that the metadata does not reference and that
// were published before now-grace. Order matters: the store is listed first, then the
// metadata is read after a linearizable barrier, so a blob is only deleted if it was already
// old when listed and is unreferenced in a state that includes every write acknowledged
// before the pass. grace must exceed the longest a write can stay in flight between its
// blob's publication and its commit (an hour is generous); a write that failed with an
// unknown outcome and commits later than that loses its bytes.
func CollectGarbage(ctx context.Context, b Backend, store *blob.Store, grace time.Duration, now time.Time) (GCStats, error) {
	var st GCStats
	var candidates []string
	err := store.List(func(e blob.Entry) error {
		st.Scanned++
		if now.Sub(e.ModTime) > grace {
			candidates = append(candidates, e.ID)
		}
		return ctx.Err()
	})
	if err != nil {
		return st, fmt.Errorf("s3: gc: list blobs: %w", err)
	}
	if len(candidates) == 0 {
		return st, nil
	}
	if err := b.Sync(ctx); err != nil {
		return st, fmt.Errorf("s3: gc: read barrier: %w", err)
	}
	refs, err := referencedBlobs(ctx, b)
	if err != nil {
		return st, err
	}
	st.Referenced = len(refs)
	for _, id := range candidates {
		if refs[id] {
			continue
		}
		if err := b.DeleteBlob(id); err != nil {
			return st, fmt.Errorf("s3: gc: delete %s: %w", id, err)
		}
		st.Deleted++
	}
	return st, nil
}

// referencedBlobs collects the IDs of every blob the metadata references.
func referencedBlobs(ctx context.Context, b Metadata) (map[string]bool, error) {
	refs := map[string]bool{}
	err := WalkBlobs(ctx, b, func(x fsm.Blob, _ int64) error {
		refs[x.ID] = true
		return nil
	})
	return refs, err
}

// WalkBlobs calls fn for every blob of every object and of every part of every open multipart
// upload, with the object's or part's modification time (Unix nanoseconds). It reads the local
// metadata as it is: callers that need a linearizable view call Backend.Sync first. A bucket
// or upload that vanishes during the walk is skipped.
func WalkBlobs(ctx context.Context, b Metadata, fn func(bl fsm.Blob, modTime int64) error) error {
	for _, bk := range b.Buckets() {
		marker := ""
		for {
			page, err := b.ListObjects(bk.Name, fsm.ListParams{Marker: marker})
			if err != nil {
				if err = ignoreGone(err); err != nil {
					return err
				}
				break
			}
			for _, o := range page.Contents {
				for _, x := range o.Blobs {
					if err := fn(x, o.ModTime); err != nil {
						return err
					}
				}
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if !page.IsTruncated {
				break
			}
			marker = page.NextMarker
		}
		err := eachUpload(ctx, b, bk.Name, func(u fsm.UploadInfo) error {
			var pm uint32
			for {
				parts, err := b.ListParts(bk.Name, u.Key, u.UploadID, fsm.PartListParams{PartNumberMarker: pm})
				if err != nil {
					return ignoreGone(err)
				}
				for _, p := range parts.Parts {
					for _, x := range p.Blobs {
						if err := fn(x, p.ModTime); err != nil {
							return err
						}
					}
				}
				if !parts.IsTruncated {
					return nil
				}
				pm = parts.NextPartNumberMarker
			}
		})
		if err != nil {
			return err
		}
	}
	return ctx.Err()
}

// ignoreGone treats a bucket or upload that vanished during the walk as empty.
func ignoreGone(err error) error {
	var fe *fsm.Error
	if errors.As(err, &fe) && (fe.Code == fsm.CodeNoSuchBucket || fe.Code == fsm.CodeNoSuchUpload) {
		return nil
	}
	return err
}

func eachUpload(ctx context.Context, b Metadata, bucket string, fn func(fsm.UploadInfo) error) error {
	var p fsm.UploadListParams
	for {
		page, err := b.ListUploads(bucket, p)
		if err != nil {
			return ignoreGone(err)
		}
		for _, u := range page.Uploads {
			if err := fn(u); err != nil {
				return err
			}
		}
		if !page.IsTruncated {
			return ctx.Err()
		}
		p.KeyMarker, p.UploadIDMarker = page.NextKeyMarker, page.NextUploadIDMarker
	}
}

// AbortStaleUploads aborts every multipart upload initiated before now-olderThan and deletes
// the blobs of its parts. It returns how many it aborted. Run it on one node at a time (the
// leader): two concurrent passes only race to abort the same upload, and the loser's
// NoSuchUpload is ignored.
func AbortStaleUploads(ctx context.Context, b Backend, olderThan time.Duration, now time.Time) (int, error) {
	if err := b.Sync(ctx); err != nil {
		return 0, fmt.Errorf("s3: upload expiry: read barrier: %w", err)
	}
	cutoff := now.Add(-olderThan).UnixNano()
	var stale []fsm.UploadInfo
	for _, bk := range b.Buckets() {
		err := eachUpload(ctx, b, bk.Name, func(u fsm.UploadInfo) error {
			if u.Initiated < cutoff {
				stale = append(stale, u)
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	aborted := 0
	for _, u := range stale {
		res, err := b.Propose(ctx, &fsm.AbortMultipartUpload{Bucket: u.Bucket, Key: u.Key, UploadID: u.UploadID})
		if err != nil {
			return aborted, fmt.Errorf("s3: upload expiry: abort %s: %w", u.UploadID, err)
		}
		for _, id := range res.FreedBlobs {
			_ = b.DeleteBlob(id) // a failure leaves garbage for CollectGarbage
		}
		if res.Err == nil {
			aborted++
		}
	}
	return aborted, nil
}
