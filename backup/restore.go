package backup

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/nebulaio/nebulaio/dataplane"
	"github.com/nebulaio/nebulaio/dataplane/blob"
	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/snapshot"
)

// Rewrite copies a full snapshot stream to w as a new full stream (no source), leaving out
// the records drop says (nil drops nothing). The meta record's counts cover objects and
// uploads only: drop must not remove those. A restore uses it to leave out the old cluster's
// ID, so that the new cluster records its own.
func Rewrite(w io.Writer, stream io.Reader, drop func(*fsm.StreamRecord) bool) error {
	sw, err := snapshot.NewStreamWriter(w, snapshot.StreamHeader{Kind: snapshot.KindFull})
	if err != nil {
		return err
	}
	if _, err := fsm.ScanStream(stream, func(r *fsm.StreamRecord) error {
		switch {
		case drop != nil && drop(r) && (r.Kind == fsm.RecordObject || r.Kind == fsm.RecordUpload || r.Kind == fsm.RecordMeta):
			return fmt.Errorf("backup: rewrite: a %s record cannot be left out", r.Kind)
		case drop != nil && drop(r):
			return nil
		}
		return sw.Put(r.Key, r.Value)
	}); err != nil {
		return err
	}
	return sw.Close()
}

// Errors of CheckBlobs, each wrapped in a BlobProblem with the blob it concerns. A missing
// blob is blob.ErrNotFound, a damaged file blob.ErrCorrupt.
var (
	// ErrBlobSize: the blob file holds another number of bytes than the metadata says.
	ErrBlobSize = errors.New("backup: blob size differs from the metadata")
	// ErrBlobMD5: the blob's MD5 (in its header) is not the one the metadata records.
	ErrBlobMD5 = errors.New("backup: blob MD5 differs from the metadata")
	// ErrBlobShards: fewer of an erasure-coded blob's shards are intact than it needs.
	ErrBlobShards = errors.New("backup: too few shards of an erasure-coded blob")
)

// BlobProblem is one blob of the manifest that a blob directory does not hold intact.
type BlobProblem struct {
	Entry BlobEntry
	Err   error
}

func (p BlobProblem) String() string {
	e := p.Entry
	where := e.Bucket + "/" + e.Key
	if e.UploadID != "" {
		where += fmt.Sprintf(" (upload %s part %d)", e.UploadID, e.Part)
	} else if e.VersionID != "" && e.VersionID != fsm.NullVersionID {
		where += " (version " + e.VersionID + ")"
	}
	return fmt.Sprintf("blob %s of %s: %v", e.ID, where, p.Err)
}

// CheckOptions configure CheckBlobs.
type CheckOptions struct {
	// Deep reads every byte of every blob (every block CRC, MD5 and SHA-256); without it each
	// blob's header and file length are checked, and its size and MD5 against the manifest.
	Deep bool
	// Progress, if not nil, is called after each blob with the blobs checked and the total.
	Progress func(done, total int64)
	// MaxProblems bounds the problems listed (the counts are exact); 0 means 1000.
	MaxProblems int
}

// CheckReport is what CheckBlobs found.
type CheckReport struct {
	Checked  int
	Inline   int    // inline blobs: their bytes are in the metadata, not looked for in the store
	Bytes    uint64 // the size of the blobs found intact
	Missing  int    // blob.ErrNotFound
	Damaged  int    // every other problem
	Problems []BlobProblem
}

// CheckBlobs checks that the blob store directory v reads holds every blob of the archive's
// blob manifest, with the size and MD5 the metadata records (see CheckOptions.Deep). It
// stops at the first error reading the archive; what is wrong with blobs is in the report.
func CheckBlobs(a *Archive, v *blob.Verifier, opts CheckOptions) (CheckReport, error) {
	var rep CheckReport
	if opts.MaxProblems <= 0 {
		opts.MaxProblems = 1000
	}
	total := int64(a.Manifest.Counts.Blobs)
	err := a.Blobs(func(e BlobEntry) error {
		rep.Checked++
		if e.Inline {
			rep.Inline++
			rep.Bytes += e.Size
		} else if err := checkBlob(v, e, opts.Deep); err != nil {
			if errors.Is(err, blob.ErrNotFound) {
				rep.Missing++
			} else {
				rep.Damaged++
			}
			if len(rep.Problems) < opts.MaxProblems {
				rep.Problems = append(rep.Problems, BlobProblem{Entry: e, Err: err})
			}
		} else {
			rep.Bytes += e.Size
		}
		if opts.Progress != nil {
			opts.Progress(int64(rep.Checked), total)
		}
		return nil
	})
	return rep, err
}

func checkBlob(v *blob.Verifier, e BlobEntry, deep bool) error {
	if ids, each, need := dataplane.StoredBlobs(e.ID, int64(e.Size)); len(ids) > 1 {
		return checkShards(v, ids, each, need, deep)
	}
	info, err := v.Stat(e.ID)
	if err != nil {
		return err
	}
	if uint64(info.Size) != e.Size {
		return fmt.Errorf("%w: %d bytes, the metadata says %d", ErrBlobSize, info.Size, e.Size)
	}
	if e.MD5 != "" && e.MD5 != hex.EncodeToString(info.MD5[:]) {
		return fmt.Errorf("%w: %x, the metadata says %s", ErrBlobMD5, info.MD5, e.MD5)
	}
	if deep {
		return v.Verify(e.ID)
	}
	return nil
}

// checkShards checks the shards of an erasure-coded blob (dataplane.StoredBlobs): any need of
// them intact (size, header; every byte when deep) make it whole. None found is
// blob.ErrNotFound; some but too few, ErrBlobShards. The object's MD5 is not checked: each
// shard has its own checksums.
func checkShards(v *blob.Verifier, ids []string, each int64, need int, deep bool) error {
	found, intact := 0, 0
	var errs []error
	for _, id := range ids {
		info, err := v.Stat(id)
		if errors.Is(err, blob.ErrNotFound) {
			continue
		}
		found++
		switch {
		case err != nil:
		case info.Size != each:
			err = fmt.Errorf("%w: shard %s: %d bytes, want %d", ErrBlobSize, id, info.Size, each)
		case deep:
			err = v.Verify(id)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		intact++
	}
	switch {
	case found == 0:
		return fmt.Errorf("%w: none of its %d shards", blob.ErrNotFound, len(ids))
	case intact < need:
		return fmt.Errorf("%w: %d of %d shards intact, %d needed: %w", ErrBlobShards, intact, len(ids), need, errors.Join(errs...))
	}
	return nil
}
