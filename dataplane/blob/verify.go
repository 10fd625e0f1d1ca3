package blob

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"github.com/nebulaio/nebulaio/internal/vfs"
)

// ErrNotStore is returned by NewVerifier and VerifyDir for a directory that holds no blobs/
// directory (not a blob store: a wrong path?).
var ErrNotStore = errors.New("blob: not a blob store directory")

// Verifier reads a store's directory without taking its lock or changing anything: the
// offline tools (nebulaio blob verify, the blob check of nebulaio backup restore) use it, on
// a stopped node's directory or a copy of it — or a running node's, since blobs are immutable
// files published by rename, so a read sees a whole blob or none.
type Verifier struct {
	s *Store
}

// NewVerifier opens dir, a store's directory (the one holding blobs/), for reading; fsys nil
// means the operating system's.
func NewVerifier(dir string, fsys vfs.FS) (*Verifier, error) {
	if fsys == nil {
		fsys = vfs.OS
	}
	s := &Store{dir: dir, blobsDir: filepath.Join(dir, "blobs"), tmpDir: filepath.Join(dir, "tmp"), metrics: nopMetrics{}, fs: fsys}
	if _, err := fsys.ReadDir(s.blobsDir); err != nil {
		return nil, fmt.Errorf("%w: %s has no readable blobs/ directory: %w", ErrNotStore, dir, err)
	}
	return &Verifier{s: s}, nil
}

// Stat reads a blob's header (its size and digests) and checks the file's length; the data
// is not read. A missing blob is ErrNotFound, a damaged header or length ErrCorrupt.
func (v *Verifier) Stat(id string) (Info, error) { return v.s.Stat(id) }

// Verify reads the whole blob: every block CRC, the whole-blob CRC32C, MD5 and SHA-256
// (not for a CRC-only blob: Info.CRCOnly) against its header (ErrCorrupt on a mismatch,
// ErrNotFound when missing).
func (v *Verifier) Verify(id string) error { return v.s.Verify(id) }

// VerifyOptions configure VerifyDir.
type VerifyOptions struct {
	// FS is the file system (nil: the operating system's).
	FS vfs.FS
	// Progress, if not nil, is called after each blob with the file bytes verified so far and
	// the total.
	Progress func(done, total int64)
}

// Problem is one blob that failed verification, or a file that is not a blob where blobs
// live.
type Problem struct {
	ID   string // "" for a stray file
	Path string
	Err  error // wraps ErrCorrupt for damage; an I/O error otherwise
}

func (p Problem) String() string {
	if p.ID == "" {
		return fmt.Sprintf("%s: %v", p.Path, p.Err)
	}
	return fmt.Sprintf("blob %s (%s): %v", p.ID, p.Path, p.Err)
}

// VerifyReport is what VerifyDir found.
type VerifyReport struct {
	Blobs     int   // blobs verified, good or not
	DataBytes int64 // payload bytes of the good blobs
	FileBytes int64 // bytes of every blob file read
	Problems  []Problem
	// Temp counts the temporary files of Puts in progress or interrupted (tmp/), which Open
	// removes; they are not blobs.
	Temp int
}

// errStray: a file under blobs/ that is not where a blob of its name would be.
var errStray = errors.New("not a blob of this store (bad name or fan-out directory)")

// VerifyDir verifies every blob of the store in dir: header, length, every block CRC, the
// whole-blob CRC32C, MD5 and SHA-256 unless CRC-only (Verifier.Verify), one blob after the
// other, in fan-out directory and name order. Damage is reported per blob in the report's Problems,
// never as VerifyDir's error, which is for a directory it cannot read at all; files under
// blobs/ that cannot be blobs of this store are problems too. It changes nothing.
func VerifyDir(dir string, opts VerifyOptions) (VerifyReport, error) {
	var rep VerifyReport
	v, err := NewVerifier(dir, opts.FS)
	if err != nil {
		return rep, err
	}
	type file struct {
		id, path string
		size     int64
	}
	var files []file
	var total int64
	dirs, err := v.s.fs.ReadDir(v.s.blobsDir)
	if err != nil {
		return rep, fmt.Errorf("blob: verify: %w", err)
	}
	for _, d := range dirs {
		sub := filepath.Join(v.s.blobsDir, d.Name())
		if !d.IsDir() || len(d.Name()) != 2 || strings.Trim(d.Name(), "0123456789abcdef") != "" {
			rep.Problems = append(rep.Problems, Problem{Path: sub, Err: errStray})
			continue
		}
		ents, err := v.s.fs.ReadDir(sub)
		if err != nil {
			return rep, fmt.Errorf("blob: verify: %w", err)
		}
		for _, e := range ents {
			p := filepath.Join(sub, e.Name())
			if !e.Type().IsRegular() || !ValidID(e.Name()) || fanout(e.Name()) != d.Name() {
				rep.Problems = append(rep.Problems, Problem{Path: p, Err: errStray})
				continue
			}
			fi, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted meanwhile (a running node)
			}
			if err != nil {
				return rep, fmt.Errorf("blob: verify: %w", err)
			}
			files = append(files, file{e.Name(), p, fi.Size()})
			total += fi.Size()
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
	if tmp, err := v.s.fs.ReadDir(v.s.tmpDir); err == nil {
		rep.Temp = len(tmp)
	}
	var done int64
	for _, f := range files {
		rep.Blobs++
		err := v.Verify(f.id)
		switch {
		case errors.Is(err, ErrNotFound):
			rep.Blobs-- // deleted since the listing (a running node)
		case err != nil:
			rep.Problems = append(rep.Problems, Problem{ID: f.id, Path: f.path, Err: err})
		default:
			if info, err := v.Stat(f.id); err == nil {
				rep.DataBytes += info.Size
			}
		}
		done += f.size
		rep.FileBytes += f.size
		if opts.Progress != nil {
			opts.Progress(done, total)
		}
	}
	return rep, nil
}
