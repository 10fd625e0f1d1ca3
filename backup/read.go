package backup

import (
	"archive/tar"
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/klauspost/compress/gzip"

	"github.com/nebulaio/nebulaio/fsm"
)

// Bounds a reader enforces before reading a file whole.
const (
	maxManifest  = 1 << 20
	maxSums      = 4 << 10
	maxBlobEntry = 1 << 20 // one line of blobs.jsonl
)

// cursor reads an archive's files in their order.
type cursor struct {
	gz *gzip.Reader
	tr *tar.Reader
}

func openCursor(r io.Reader) (*cursor, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("%w: not a gzip file: %v", ErrFormat, err)
	}
	return &cursor{gz: gz, tr: tar.NewReader(gz)}, nil
}

// next moves to the next file, which must be want (a regular file of at most limit bytes,
// limit < 0: any size), and returns a reader of its bytes and its size.
func (c *cursor) next(want string, limit int64) (io.Reader, int64, error) {
	h, err := c.tr.Next()
	if errors.Is(err, io.EOF) {
		return nil, 0, fmt.Errorf("%w: the archive ends before %s", ErrCorrupt, want)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("%w: reading the archive before %s: %v", ErrCorrupt, want, err)
	}
	switch {
	case h.Name != want:
		return nil, 0, fmt.Errorf("%w: found %q where %s should be", ErrFormat, h.Name, want)
	case h.Typeflag != tar.TypeReg:
		return nil, 0, fmt.Errorf("%w: %s is not a regular file", ErrFormat, want)
	case limit >= 0 && h.Size > limit:
		return nil, 0, fmt.Errorf("%w: %s of %d bytes (at most %d)", ErrCorrupt, want, h.Size, limit)
	}
	return c.tr, h.Size, nil
}

// end checks that nothing follows the last file and that the gzip stream ends whole (its
// CRC-32 and length are checked at its end).
func (c *cursor) end() error {
	if h, err := c.tr.Next(); err == nil {
		return fmt.Errorf("%w: unexpected file %q after %s", ErrFormat, h.Name, FileSums)
	} else if !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if _, err := io.Copy(io.Discard, c.gz); err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return c.gz.Close()
}

// readManifest reads and decodes manifest.json (strictly: an unknown field is ErrFormat).
func (c *cursor) readManifest() (Manifest, []byte, error) {
	var m Manifest
	r, _, err := c.next(FileManifest, maxManifest)
	if err != nil {
		return m, nil, err
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return m, nil, fmt.Errorf("%w: reading %s: %v", ErrCorrupt, FileManifest, err)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&m); err != nil {
		return m, nil, fmt.Errorf("%w: %s: %v", ErrFormat, FileManifest, err)
	}
	if m.Format != FormatVersion {
		return m, nil, fmt.Errorf("%w: format %d, this build reads format %d", ErrFormat, m.Format, FormatVersion)
	}
	return m, b, nil
}

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// Progress, if not nil, is called as the metadata is read, with the bytes read and the
	// metadata's size (from the manifest).
	Progress func(done, total int64)
}

// Verify reads a whole backup and checks it (doc.go, "The file"): the order and names of its
// files, each file's SHA-256 against the manifest and SHA256SUMS, every metadata record, the
// manifest's counts and cluster ID against the records, and the blob manifest against the
// blobs the records reference. It returns the manifest; any defect is an error wrapping
// ErrCorrupt or ErrFormat.
func Verify(r io.Reader, opts VerifyOptions) (Manifest, error) {
	c, err := openCursor(r)
	if err != nil {
		return Manifest{}, err
	}
	m, mj, err := c.readManifest()
	if err != nil {
		return m, err
	}
	got := map[string]string{FileManifest: sha256Hex(mj)}
	sizes := map[string]int64{}

	// The metadata: every record, and the blobs it references (as a running hash).
	mr, size, err := c.next(FileMetadata, -1)
	if err != nil {
		return m, err
	}
	want := newSummer(io.Discard)
	mh := newSummer(io.Discard)
	var src io.Reader = mr
	if opts.Progress != nil {
		src = &progressReader{r: mr, total: size, fn: opts.Progress}
	}
	tee := io.TeeReader(src, mh)
	clusterID := ""
	lister := newBlobLister()
	sum, err := fsm.ScanStream(tee, func(rec *fsm.StreamRecord) error {
		if rec.Kind == fsm.RecordSetting && rec.Setting.Key == SettingClusterID {
			clusterID = rec.Setting.Value
		}
		return lister.each(rec, func(e any) error { blobKey(want.h, e.(*BlobEntry)); return nil })
	})
	if err != nil {
		return m, fmt.Errorf("%w: %s: %v", ErrCorrupt, FileMetadata, err)
	}
	if n, err := io.Copy(io.Discard, tee); err != nil || n != 0 {
		return m, fmt.Errorf("%w: %s: %d bytes after the stream's trailer (%v)", ErrCorrupt, FileMetadata, n, err)
	}
	got[FileMetadata], sizes[FileMetadata] = mh.hex(), mh.n

	// The blob manifest: each line an entry, the same blobs in the same order.
	br, _, err := c.next(FileBlobs, -1)
	if err != nil {
		return m, err
	}
	bh := newSummer(io.Discard)
	have := newSummer(io.Discard)
	lines := bufio.NewScanner(io.TeeReader(br, bh))
	lines.Buffer(make([]byte, 64<<10), maxBlobEntry)
	n := 0
	for lines.Scan() {
		n++
		e, err := decodeBlobEntry(lines.Bytes())
		if err != nil {
			return m, fmt.Errorf("%w: %s line %d: %v", ErrCorrupt, FileBlobs, n, err)
		}
		blobKey(have.h, &e)
	}
	if err := lines.Err(); err != nil {
		return m, fmt.Errorf("%w: %s line %d: %v", ErrCorrupt, FileBlobs, n+1, err)
	}
	got[FileBlobs], sizes[FileBlobs] = bh.hex(), bh.n

	sr, _, err := c.next(FileSums, maxSums)
	if err != nil {
		return m, err
	}
	sums, err := io.ReadAll(sr)
	if err != nil {
		return m, fmt.Errorf("%w: reading %s: %v", ErrCorrupt, FileSums, err)
	}
	if err := c.end(); err != nil {
		return m, err
	}

	// Cross-checks.
	if err := checkSums(string(sums), got); err != nil {
		return m, err
	}
	if len(m.Files) != 2 {
		return m, fmt.Errorf("%w: %s lists %d files, want %s and %s", ErrCorrupt, FileManifest, len(m.Files), FileMetadata, FileBlobs)
	}
	for _, f := range m.Files {
		if f.SHA256 != got[f.Name] || f.Size != sizes[f.Name] {
			return m, fmt.Errorf("%w: %s: %d bytes with SHA-256 %s, the manifest says %d bytes with %s", ErrCorrupt, f.Name, sizes[f.Name], got[f.Name], f.Size, f.SHA256)
		}
	}
	if c := countsOf(sum); c != m.Counts {
		return m, fmt.Errorf("%w: the metadata holds %+v, the manifest says %+v", ErrCorrupt, c, m.Counts)
	}
	if n != sum.Blobs || have.hex() != want.hex() {
		return m, fmt.Errorf("%w: %s lists %d blobs that differ from the %d the metadata references", ErrCorrupt, FileBlobs, n, sum.Blobs)
	}
	if clusterID != m.ClusterID || sum.Applied != m.AppliedIndex || m.AppliedIndex > m.Index {
		return m, fmt.Errorf("%w: the manifest's cluster ID %q or applied index %d (snapshot index %d) does not match the metadata's %q, %d",
			ErrCorrupt, m.ClusterID, m.AppliedIndex, m.Index, clusterID, sum.Applied)
	}
	return m, nil
}

// VerifyFile is Verify of the file at path.
func VerifyFile(path string, opts VerifyOptions) (Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return Manifest{}, err
	}
	defer f.Close()
	return Verify(bufio.NewReaderSize(f, 1<<20), opts)
}

// checkSums compares SHA256SUMS with the sums computed while reading.
func checkSums(sums string, got map[string]string) error {
	seen := 0
	for _, line := range strings.Split(strings.TrimSuffix(sums, "\n"), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		want, known := got[name]
		switch {
		case !ok || !known:
			return fmt.Errorf("%w: %s: bad line %q", ErrCorrupt, FileSums, line)
		case sum != want:
			return fmt.Errorf("%w: %s: SHA-256 %s, %s says %s", ErrCorrupt, name, want, FileSums, sum)
		}
		seen++
	}
	if seen != len(got) {
		return fmt.Errorf("%w: %s lists %d files, want %d", ErrCorrupt, FileSums, seen, len(got))
	}
	return nil
}

// blobKey adds a blob's identity (ID and size) to a running hash.
func blobKey(h hash.Hash, e *BlobEntry) {
	h.Write([]byte(e.ID))
	h.Write([]byte{0})
	h.Write(strconv.AppendUint(nil, e.Size, 10))
	h.Write([]byte{'\n'})
}

func decodeBlobEntry(line []byte) (BlobEntry, error) {
	var e BlobEntry
	d := json.NewDecoder(bytes.NewReader(line))
	d.DisallowUnknownFields()
	if err := d.Decode(&e); err != nil {
		return e, err
	}
	if e.ID == "" {
		return e, errors.New("entry without an id")
	}
	return e, nil
}

func sha256Hex(b []byte) string {
	s := newSummer(io.Discard)
	_, _ = s.Write(b)
	return s.hex()
}

// progressReader reports the bytes read through it.
type progressReader struct {
	r     io.Reader
	done  int64
	total int64
	fn    func(done, total int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	p.fn(p.done, p.total)
	return n, err
}

// Archive is a backup file opened for a restore: its manifest, and its metadata and blob
// manifest read on demand (each a pass over the file). It does not verify: call VerifyFile
// first.
type Archive struct {
	path     string
	Manifest Manifest
}

// OpenFile reads the manifest of the backup at path.
func OpenFile(path string) (*Archive, error) {
	a := &Archive{path: path}
	err := a.at(func(c *cursor) error {
		var err error
		a.Manifest, _, err = c.readManifest()
		return err
	})
	return a, err
}

// at opens the file and calls fn with a cursor on it.
func (a *Archive) at(fn func(*cursor) error) error {
	f, err := os.Open(a.path)
	if err != nil {
		return err
	}
	defer f.Close()
	c, err := openCursor(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return err
	}
	return fn(c)
}

// Metadata calls fn with a reader of the metadata stream (metadata.snap).
func (a *Archive) Metadata(fn func(io.Reader) error) error {
	return a.at(func(c *cursor) error {
		if _, _, err := c.readManifest(); err != nil {
			return err
		}
		r, _, err := c.next(FileMetadata, -1)
		if err != nil {
			return err
		}
		return fn(r)
	})
}

// Blobs calls fn for every entry of the blob manifest, in order; fn's error stops the walk
// and is returned.
func (a *Archive) Blobs(fn func(BlobEntry) error) error {
	return a.at(func(c *cursor) error {
		if _, _, err := c.readManifest(); err != nil {
			return err
		}
		for _, name := range []string{FileMetadata, FileBlobs} {
			r, _, err := c.next(name, -1)
			if err != nil {
				return err
			}
			if name == FileMetadata {
				continue // the tar reader skips the rest of it
			}
			lines := bufio.NewScanner(r)
			lines.Buffer(make([]byte, 64<<10), maxBlobEntry)
			for n := 1; lines.Scan(); n++ {
				e, err := decodeBlobEntry(lines.Bytes())
				if err != nil {
					return fmt.Errorf("%w: %s line %d: %v", ErrCorrupt, FileBlobs, n, err)
				}
				if err := fn(e); err != nil {
					return err
				}
			}
			return lines.Err()
		}
		return nil
	})
}
