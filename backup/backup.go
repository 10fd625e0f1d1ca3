package backup

import (
	"archive/tar"
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/nebulaio/nebulaio/fsm"
)

// The files of a backup, in archive order.
const (
	FileManifest = "manifest.json"
	FileMetadata = "metadata.snap"
	FileBlobs    = "blobs.jsonl"
	FileSums     = "SHA256SUMS"
)

// FormatVersion is the Manifest.Format this build writes and the only one it reads.
const FormatVersion = 1

// SettingClusterID is the FSM setting that holds the cluster's ID (the leader records it
// once, package node); a backup's Manifest.ClusterID is its value ("" when the state has none).
const SettingClusterID = fsm.SettingClusterID

// Errors. Returned wrapped, with the file or record involved.
var (
	// ErrCorrupt: the archive is damaged or inconsistent (a checksum, a count or a record
	// that does not match).
	ErrCorrupt = errors.New("backup: corrupt")
	// ErrFormat: not a backup of a format this build reads (an unknown file, a newer format).
	ErrFormat = errors.New("backup: unsupported format")
)

// Manifest describes a backup (manifest.json).
type Manifest struct {
	Format int `json:"format"`
	// ClusterID is the cluster's ID as the metadata records it (SettingClusterID), "" if none.
	ClusterID string `json:"cluster_id"`
	// NodeID is the node that took the backup; Version its build.
	NodeID  string `json:"node_id"`
	Version string `json:"nebulaio_version"`
	// Created is when the backup was taken (the node's clock).
	Created time.Time `json:"created"`
	// Index and Term are the raft snapshot's: a restored node's log continues after them.
	Index uint64 `json:"index"`
	Term  uint64 `json:"term"`
	// AppliedIndex is the FSM's applied index (its meta record): at most Index.
	AppliedIndex uint64 `json:"applied_index"`
	// Servers is the raft configuration of the snapshot (for the record; a restore makes a
	// new cluster of one node).
	Servers []Server `json:"servers"`
	Counts  Counts   `json:"counts"`
	// Files are metadata.snap and blobs.jsonl.
	Files []File `json:"files"`
}

// Server is one member of the raft configuration a backup was taken in.
type Server struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Voter   bool   `json:"voter"`
}

// Counts are what the metadata holds (see fsm.StreamSummary for the definitions).
type Counts struct {
	Buckets       int    `json:"buckets"`
	Objects       int    `json:"objects"`
	Versions      int    `json:"versions"`
	DeleteMarkers int    `json:"delete_markers"`
	Uploads       int    `json:"uploads"`
	Parts         int    `json:"parts"`
	Blobs         int    `json:"blobs"`
	BlobBytes     uint64 `json:"blob_bytes"`
	Records       int    `json:"records"`
}

// File is one file of the archive with its size and SHA-256 (hex).
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// BlobEntry is one line of blobs.jsonl: a blob the metadata references and the record that
// references it.
type BlobEntry struct {
	ID   string `json:"id"`
	Size uint64 `json:"size"`
	// MD5 is the blob's MD5 (hex) when the metadata knows it: the ETag of an object or a part
	// that is made of this one blob. The blob file's header holds its MD5 and SHA-256 too.
	MD5       string   `json:"md5,omitempty"`
	Nodes     []string `json:"nodes,omitempty"`
	Bucket    string   `json:"bucket"`
	Key       string   `json:"key"`
	VersionID string   `json:"version_id,omitempty"`
	UploadID  string   `json:"upload_id,omitempty"`
	Part      uint32   `json:"part,omitempty"`
	// Inline marks a blob whose bytes live in the metadata (an object or part up to
	// performance.inline_object_size): they are in metadata.snap, not in any blob store.
	Inline bool `json:"inline,omitempty"`
}

// Info is what the caller of Write knows about the snapshot that the stream does not say.
type Info struct {
	NodeID, Version string
	Created         time.Time
	Index, Term     uint64
	Servers         []Server
}

// Write makes a backup of stream, a full snapshot stream, and writes it to w; tmpDir holds
// the staged metadata and blob manifest while they are counted ("" is os.TempDir()). The
// stream is checked record by record (fsm.ScanStream) as it is read: a damaged one is an
// error and w must then be discarded.
func Write(w io.Writer, stream io.Reader, info Info, tmpDir string) (Manifest, error) {
	m := Manifest{Format: FormatVersion, NodeID: info.NodeID, Version: info.Version, Created: info.Created.UTC(),
		Index: info.Index, Term: info.Term, Servers: info.Servers}
	metaF, err := StagedFile(tmpDir)
	if err != nil {
		return m, err
	}
	defer metaF.Close()
	blobsF, err := StagedFile(tmpDir)
	if err != nil {
		return m, err
	}
	defer blobsF.Close()

	metaSum, blobsSum := newSummer(metaF), newSummer(blobsF)
	blobsBuf := bufio.NewWriterSize(blobsSum, 256<<10)
	enc := json.NewEncoder(blobsBuf)
	enc.SetEscapeHTML(false)
	tee := io.TeeReader(stream, metaSum)
	blobs := newBlobLister()
	sum, err := fsm.ScanStream(tee, func(r *fsm.StreamRecord) error {
		if r.Kind == fsm.RecordSetting && r.Setting.Key == SettingClusterID {
			m.ClusterID = r.Setting.Value
		}
		return blobs.each(r, enc.Encode)
	})
	if err != nil {
		return m, fmt.Errorf("backup: reading the snapshot: %w", err)
	}
	if n, err := io.Copy(io.Discard, tee); err != nil || n != 0 {
		return m, fmt.Errorf("backup: reading the snapshot: %d bytes after its trailer (%v)", n, err)
	}
	if err := blobsBuf.Flush(); err != nil {
		return m, fmt.Errorf("backup: staging the blob manifest: %w", err)
	}
	m.AppliedIndex = sum.Applied
	m.Counts = countsOf(sum)
	m.Files = []File{metaSum.file(FileMetadata), blobsSum.file(FileBlobs)}

	mj, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, err
	}
	mj = append(mj, '\n')
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	sums := newSummer(io.Discard)
	_, _ = sums.Write(mj)
	var sumLines strings.Builder
	fmt.Fprintf(&sumLines, "%s  %s\n", sums.hex(), FileManifest)
	for _, f := range m.Files {
		fmt.Fprintf(&sumLines, "%s  %s\n", f.SHA256, f.Name)
	}
	files := []archived{
		{FileManifest, int64(len(mj)), strings.NewReader(string(mj))},
		{FileMetadata, metaSum.n, io.NewSectionReader(metaF, 0, metaSum.n)},
		{FileBlobs, blobsSum.n, io.NewSectionReader(blobsF, 0, blobsSum.n)},
		{FileSums, int64(sumLines.Len()), strings.NewReader(sumLines.String())},
	}
	for _, f := range files {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.name, Size: f.size, Mode: 0o600, ModTime: m.Created, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return m, fmt.Errorf("backup: writing %s: %w", f.name, err)
		}
		if n, err := io.Copy(tw, f.r); err != nil || n != f.size {
			return m, fmt.Errorf("backup: writing %s: %d of %d bytes: %v", f.name, n, f.size, err)
		}
	}
	if err := tw.Close(); err != nil {
		return m, fmt.Errorf("backup: closing the archive: %w", err)
	}
	if err := gz.Close(); err != nil {
		return m, fmt.Errorf("backup: closing the archive: %w", err)
	}
	return m, nil
}

// archived is one file as Write puts it in the archive.
type archived struct {
	name string
	size int64
	r    io.Reader
}

// blobLister makes the blob manifest entries of the records of one stream, in order. It
// remembers the encrypted uploads (their records precede those of their parts in a stream):
// an encrypted blob's MD5 is not its record's ETag, which is the plaintext's.
type blobLister struct {
	encryptedUploads map[[3]string]bool
}

func newBlobLister() *blobLister { return &blobLister{encryptedUploads: map[[3]string]bool{}} }

// each calls fn with the blob manifest entry of every blob r references.
func (l *blobLister) each(r *fsm.StreamRecord, fn func(any) error) error {
	encrypted := r.Encrypted
	switch r.Kind {
	case fsm.RecordUpload:
		if r.Encrypted {
			l.encryptedUploads[[3]string{r.Bucket, r.ObjectKey, r.UploadID}] = true
		}
	case fsm.RecordPart:
		encrypted = l.encryptedUploads[[3]string{r.Bucket, r.ObjectKey, r.UploadID}]
	}
	for _, b := range r.Blobs {
		e := BlobEntry{ID: b.ID, Size: b.Size, Nodes: b.Nodes, Bucket: r.Bucket, Key: r.ObjectKey, Inline: b.Inline}
		switch r.Kind {
		case fsm.RecordPart:
			e.UploadID, e.Part = r.UploadID, r.Part
		default:
			e.VersionID = r.VersionID
		}
		if len(r.Blobs) == 1 && isMD5(r.ETag) && !encrypted {
			e.MD5 = r.ETag
		}
		if err := fn(&e); err != nil {
			return err
		}
	}
	return nil
}

// isMD5 reports whether an ETag is a plain MD5 (not a multipart ETag, "<md5>-N").
func isMD5(etag string) bool {
	if len(etag) != 32 {
		return false
	}
	_, err := hex.DecodeString(etag)
	return err == nil
}

func countsOf(s fsm.StreamSummary) Counts {
	return Counts{Buckets: s.Buckets, Objects: s.Objects, Versions: s.Versions, DeleteMarkers: s.DeleteMarkers,
		Uploads: s.Uploads, Parts: s.Parts, Blobs: s.Blobs, BlobBytes: s.BlobBytes, Records: s.Records}
}

// StagedFile is a temporary file in dir that is already unlinked: nothing is left behind, whatever
// happens to the process.
func StagedFile(dir string) (*os.File, error) {
	f, err := os.CreateTemp(dir, ".nebulaio-backup-*")
	if err != nil {
		return nil, fmt.Errorf("backup: staging file: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("backup: staging file: %w", err)
	}
	return f, nil
}

// summer counts and hashes what is written through it.
type summer struct {
	w io.Writer
	h hash.Hash
	n int64
}

func newSummer(w io.Writer) *summer { return &summer{w: w, h: sha256.New()} }

func (s *summer) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	s.h.Write(p[:n])
	s.n += int64(n)
	return n, err
}

func (s *summer) hex() string { return hex.EncodeToString(s.h.Sum(nil)) }

func (s *summer) file(name string) File { return File{Name: name, Size: s.n, SHA256: s.hex()} }
