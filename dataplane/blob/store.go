package blob

import (
	"context"
	"crypto/md5" //nolint:gosec // MD5 is the S3 ETag, not a security primitive.
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nebulaio/nebulaio/internal/iox"
	"github.com/nebulaio/nebulaio/internal/vfs"
)

// Sentinel errors. Test with errors.Is; they are wrapped with context.
var (
	// ErrInvalidID: the id is empty, longer than MaxIDLength, or holds a character outside
	// [A-Za-z0-9._-], or does not start with a letter or digit.
	ErrInvalidID = errors.New("blob: invalid id")
	// ErrNotFound: no blob with that id.
	ErrNotFound = errors.New("blob: not found")
	// ErrCorrupt: stored bytes no longer match their checksums (header, block or whole blob),
	// or the file has the wrong length. The blob must not be served. From Put with
	// Expect.Sent: the bytes received do not have the sender's CRC32C (damaged in transit).
	ErrCorrupt = errors.New("blob: corrupt")
	// ErrSizeMismatch: Put read more or fewer bytes than Expect.Size.
	ErrSizeMismatch = errors.New("blob: size mismatch")
	// ErrDigestMismatch: Put's data (or, with Expect.Sent, the sender's digests) does not
	// match an Expect digest (MD5, SHA256 or CRC32C; the message names which), or an Expect
	// digest cannot be checked (Expect.MD5 or SHA256 given for CRC-only digests).
	ErrDigestMismatch = errors.New("blob: digest mismatch")
	// ErrClosed: the Store was closed.
	ErrClosed = errors.New("blob: store closed")
	// ErrLocked: another Store (in this or another process) has the directory open.
	ErrLocked = errors.New("blob: directory in use")
)

// MaxIDLength bounds ids so that a blob's file name fits every common file system.
const MaxIDLength = 200

// DefaultBlockSize is the checksum block: the unit of range verification.
const DefaultBlockSize = 64 << 10

// Options configure a Store. The zero value is usable.
type Options struct {
	// BlockSize is the checksummed block size for new blobs, 4 KiB..16 MiB. Default 64 KiB.
	// Existing blobs keep the block size recorded in their header.
	BlockSize int
	// TempMaxAge: temporary files of interrupted Puts older than this are removed at Open.
	// Default 0 removes them all, which is safe because Open holds an exclusive lock on the
	// directory, so no Put can be in flight.
	TempMaxAge time.Duration
	// Metrics receives measurements; nil records nothing.
	Metrics Metrics
	// FS is the file system every file operation of the store goes through. Default vfs.OS;
	// tests inject faults (vfs.Faulty) or use vfs.Mem.
	FS vfs.FS
}

// Expect is what Put verifies about the incoming data. Nil digests are not checked.
type Expect struct {
	// Size is the exact length, or -1 (AnySize) if unknown. Note the zero value expects an
	// empty blob.
	Size   int64
	MD5    []byte // 16 bytes, e.g. from Content-MD5
	SHA256 []byte // 32 bytes
	CRC32C []byte // 4 bytes, big endian (as S3's x-amz-checksum-crc32c)

	// Sent, when non-nil, is called once, after the last byte of the data was read, and returns
	// the digests the sender computed over the bytes it sent. Put then computes only CRC32C
	// (per block and whole), fails unless the whole CRC32C equals Sent's (ErrCorrupt: the bytes
	// received are not the bytes sent), and records Sent's MD5 and SHA-256 in the header;
	// MD5/SHA256/CRC32C in Expect are checked against Sent's digests. An error from Sent fails the Put.
	//
	// Sent is not called when Put fails before the end of the data (a read error of r, more
	// or fewer bytes than Size, ctx done). If Sent's digests are CRC-only (Digests.CRCOnly),
	// the blob is stored CRC-only, and Expect.MD5 and Expect.SHA256 must be nil
	// (ErrDigestMismatch otherwise: there is nothing to check them against).
	Sent func() (Digests, error)
}

// Digests are the whole-data checksums of a blob as the sender of its bytes computed them.
type Digests struct {
	MD5    [16]byte
	SHA256 [32]byte
	CRC32C uint32
	// CRCOnly: the sender computed only CRC32C; MD5 and SHA256 are zero. The blob is stored
	// with header flag bit 0 set ("CRC-only"): its Info has zero MD5/SHA256 and CRCOnly true,
	// and Verify checks its CRC32C (and block CRCs) instead.
	CRCOnly bool
}

// Digester computes Digests in one pass; it is an io.Writer. NewDigester(crcOnly) skips MD5
// and SHA-256 when crcOnly. It is not safe for concurrent use.
type Digester struct {
	md5, sha256 hash.Hash // nil when CRC-only
	crc         uint32
}

var _ io.Writer = (*Digester)(nil)

// NewDigester returns a Digester of MD5, SHA-256 and CRC32C, or of CRC32C alone when crcOnly
// (its Sum is then Digests.CRCOnly).
func NewDigester(crcOnly bool) *Digester {
	if crcOnly {
		return &Digester{}
	}
	return &Digester{md5: md5.New(), sha256: sha256.New()} //nolint:gosec // see import
}

// Write adds p to the digests; it never fails.
func (d *Digester) Write(p []byte) (int, error) {
	if d.md5 != nil {
		d.md5.Write(p)
		d.sha256.Write(p)
	}
	d.crc = crc32.Update(d.crc, castagnoli, p)
	return len(p), nil
}

// Sum returns the digests of the bytes written so far; writing may continue.
func (d *Digester) Sum() Digests {
	dg := Digests{CRC32C: d.crc, CRCOnly: d.md5 == nil}
	if d.md5 != nil {
		d.md5.Sum(dg.MD5[:0])
		d.sha256.Sum(dg.SHA256[:0])
	}
	return dg
}

// AnySize is Expect.Size for data of unknown length.
const AnySize = -1

// Info describes a stored blob.
type Info struct {
	ID      string
	Size    int64
	MD5     [16]byte // the S3 ETag of a single-part object is hex(MD5)
	SHA256  [32]byte
	CRC32C  uint32
	CRCOnly bool // stored without MD5/SHA-256 (Digests.CRCOnly); MD5 and SHA256 are zero
	ModTime time.Time
}

// Entry is one blob found by List.
type Entry struct {
	ID      string
	ModTime time.Time // when the blob was published; lets GC spare blobs of in-flight Puts
}

// Store is a directory of immutable blobs. It is safe for concurrent use.
type Store struct {
	dir       string
	blobsDir  string
	tmpDir    string
	blockSize uint32
	metrics   Metrics
	fs        vfs.FS
	lock      io.Closer // holds the lock on dir/LOCK

	// made remembers fan-out directories known to exist (and to be durable); a sync.Map
	// because it is written once per directory and read on every Put.
	made sync.Map

	// dirSync group-commits the fsyncs of the fan-out directories, by fanoutIndex.
	dirSync [256]dirSyncer

	mu     sync.RWMutex // guards closed; Put/Delete hold it shared
	closed bool

	bufPool sync.Pool // *[]byte of blockSize+blockCRCSize
}

// Open opens (creating if needed) the store in dir, takes an exclusive lock on it and removes
// temporary files left by interrupted Puts.
func Open(dir string, opts Options) (*Store, error) {
	bs := opts.BlockSize
	if bs == 0 {
		bs = DefaultBlockSize
	}
	if bs < minBlockSize || bs > maxBlockSize {
		return nil, fmt.Errorf("blob: Options.BlockSize %d outside %d..%d", bs, minBlockSize, maxBlockSize)
	}
	s := &Store{
		dir: dir, blobsDir: filepath.Join(dir, "blobs"), tmpDir: filepath.Join(dir, "tmp"),
		blockSize: uint32(bs), metrics: opts.Metrics, fs: opts.FS,
	}
	if s.metrics == nil {
		s.metrics = nopMetrics{}
	}
	if s.fs == nil {
		s.fs = vfs.OS
	}
	s.bufPool.New = func() any { b := make([]byte, bs+blockCRCSize); return &b }
	for _, d := range []string{dir, s.blobsDir, s.tmpDir} {
		if err := s.fs.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("blob: open: %w", err)
		}
	}
	if err := s.syncDir(dir); err != nil {
		return nil, err
	}
	lock, err := s.fs.Lock(filepath.Join(dir, "LOCK"))
	if errors.Is(err, vfs.ErrLocked) {
		return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("blob: lock: %w", err)
	}
	s.lock = lock
	var cutoff time.Time // zero: every temp file (no Put can be in flight while we hold the lock)
	if opts.TempMaxAge > 0 {
		cutoff = time.Now().Add(-opts.TempMaxAge)
	}
	if _, err := s.removeTemp(cutoff); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// RemoveStaleTemp removes the temporary files of Puts that have not written for maxAge (> 0):
// files left by Puts whose own cleanup failed (a Remove refused by the file system). Open
// removes all of them; the data plane's garbage collector calls this between restarts. A Put
// in flight writes its file at least once per block it receives, so its file is never older
// than the longest pause of its source.
func (s *Store) RemoveStaleTemp(maxAge time.Duration) (int, error) {
	if maxAge <= 0 {
		return 0, fmt.Errorf("blob: RemoveStaleTemp: maxAge %s must be positive (a Put may be in flight)", maxAge)
	}
	return s.removeTemp(time.Now().Add(-maxAge))
}

// removeTemp deletes the temporary files last written before cutoff (every one for a zero
// cutoff) and returns how many it removed.
func (s *Store) removeTemp(cutoff time.Time) (int, error) {
	ents, err := s.fs.ReadDir(s.tmpDir)
	if err != nil {
		return 0, fmt.Errorf("blob: scan temp: %w", err)
	}
	removed := 0
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			continue // vanished
		}
		if !cutoff.IsZero() && !fi.ModTime().Before(cutoff) {
			continue
		}
		if err := s.fs.Remove(filepath.Join(s.tmpDir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("blob: remove temp: %w", err)
		}
		removed++
	}
	if removed > 0 {
		s.metrics.Counter(metricTempRemoved, float64(removed))
		return removed, s.syncDir(s.tmpDir)
	}
	return 0, nil
}

// Close releases the directory lock. Readers already open stay usable; Put and Delete fail
// with ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.lock.Close() // releases the lock
}

// ValidID reports whether id is acceptable: 1..MaxIDLength bytes of [A-Za-z0-9._-], starting
// with a letter or digit (so never "", ".", ".." or a path).
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > MaxIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || (c != '.' && c != '_' && c != '-')) {
			return false
		}
	}
	return true
}

// fanoutIndex is the number (0..255) of id's fan-out directory.
func fanoutIndex(id string) int { return int(crc32.Checksum([]byte(id), castagnoli) & 0xff) }

// fanout is the directory of id: two hex digits of CRC32C(id), so that caller-chosen ids
// with common prefixes still spread over 256 directories.
func fanout(id string) string {
	const hexd = "0123456789abcdef"
	c := crc32.Checksum([]byte(id), castagnoli)
	return string([]byte{hexd[(c>>4)&15], hexd[c&15]})
}

func (s *Store) path(id string) string {
	return filepath.Join(s.blobsDir, fanout(id), id)
}

// ensureDir creates the fan-out directory d (and makes its entry durable) once.
func (s *Store) ensureDir(d string) error {
	if _, ok := s.made.Load(d); ok {
		return nil
	}
	if err := s.fs.MkdirAll(d, 0o750); err != nil {
		return fmt.Errorf("blob: mkdir: %w", err)
	}
	if err := s.syncDir(s.blobsDir); err != nil {
		return err
	}
	s.made.Store(d, struct{}{})
	return nil
}

func (s *Store) syncDir(d string) error {
	if err := s.fs.SyncDir(d); err != nil {
		return fmt.Errorf("blob: sync dir: %w", err)
	}
	return nil
}

// Put stores the data of r under id, replacing any blob with that id atomically. It streams
// r through a temporary file in the store (computing MD5, SHA-256, CRC32C and the per-block
// CRCs; only the CRCs when expect.Sent is set, see there), checks expect, fsyncs the file,
// renames it into place and fsyncs the directory; only then does it return. On any error —
// including ctx cancellation, a read error of r, or a size or digest mismatch — nothing is
// left behind and the previous blob (if any) is intact. Memory use is one block buffer
// whatever the size.
func (s *Store) Put(ctx context.Context, id string, r io.Reader, expect Expect) (info Info, err error) {
	if !ValidID(id) {
		return Info{}, fmt.Errorf("%w: %q", ErrInvalidID, id)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return Info{}, ErrClosed
	}
	start := time.Now()
	defer func() {
		if err != nil {
			s.metrics.Counter(metricPutErrors, 1)
		}
	}()
	if err := checkExpectLengths(expect); err != nil {
		return Info{}, err
	}
	f, err := vfs.CreateTemp(s.fs, s.tmpDir, "put-*.tmp")
	if err != nil {
		return Info{}, fmt.Errorf("blob: put %s: %w", id, err)
	}
	tmp := f.Name()
	closed, renamed := false, false
	defer func() {
		if !closed {
			f.Close()
		}
		if !renamed {
			s.fs.Remove(tmp) // if this fails too, RemoveStaleTemp or the next Open removes it
		}
	}()
	bp := s.bufPool.Get().(*[]byte)
	defer s.bufPool.Put(bp)
	// With Sent, the sender hashed the bytes: computing MD5 and SHA-256 again here is what
	// Sent exists to avoid.
	dg := NewDigester(expect.Sent != nil)
	h, last, err := s.writeBlocks(ctx, f, r, expect.Size, *bp, dg)
	if err != nil {
		return Info{}, fmt.Errorf("blob: put %s: %w", id, err)
	}
	if err := setDigests(&h, dg.Sum(), expect); err != nil {
		return Info{}, fmt.Errorf("blob: put %s: %w", id, err)
	}
	if err := checkExpect(h, expect); err != nil {
		return Info{}, fmt.Errorf("blob: put %s: %w", id, err)
	}
	// The header goes in last, once the digests are known; a blob of one block (last != nil)
	// is written whole by this one call.
	if _, err := f.WriteVAt([][]byte{h.encode(), last}, 0); err != nil {
		return Info{}, fmt.Errorf("blob: put %s: write header: %w", id, err)
	}
	if err := f.Sync(); err != nil {
		return Info{}, fmt.Errorf("blob: put %s: fsync: %w", id, err)
	}
	closed = true
	if err := f.Close(); err != nil {
		return Info{}, fmt.Errorf("blob: put %s: close: %w", id, err)
	}
	dst := s.path(id)
	dir := filepath.Dir(dst)
	if err := s.ensureDir(dir); err != nil {
		return Info{}, err
	}
	if err := s.fs.Rename(tmp, dst); err != nil {
		return Info{}, fmt.Errorf("blob: put %s: rename: %w", id, err)
	}
	renamed = true
	// One fsync of the directory, begun after the rename, makes it durable; concurrent Puts
	// into the same directory share it (dirSyncer).
	if err := s.dirSync[fanoutIndex(id)].sync(func() error { return s.fs.SyncDir(dir) }); err != nil {
		// The blob is in place but perhaps not durably: take it back, so that a Put that failed
		// publishes nothing. If the removal fails as well, the blob is complete and verified,
		// and unreferenced: the data plane's garbage collector takes it.
		s.fs.Remove(dst)
		return Info{}, fmt.Errorf("blob: put %s: sync dir: %w", id, err)
	}
	s.metrics.Counter(metricBytesWritten, float64(h.size))
	s.metrics.Observe(metricPutSeconds, time.Since(start).Seconds())
	return h.info(id, time.Now()), nil
}

func (h header) info(id string, mod time.Time) Info {
	return Info{ID: id, Size: h.size, MD5: h.md5, SHA256: h.sha256, CRC32C: h.crc32c, CRCOnly: h.crcOnly, ModTime: mod}
}

// setDigests puts into h the digests of its data: got, those Put computed, or, with
// e.Sent, the sender's, once the CRC32C Put computed shows they describe the bytes received.
func setDigests(h *header, got Digests, e Expect) error {
	if e.Sent == nil {
		h.md5, h.sha256, h.crc32c = got.MD5, got.SHA256, got.CRC32C
		return nil
	}
	sent, err := e.Sent()
	if err != nil {
		return fmt.Errorf("sender's digests: %w", err)
	}
	if sent.CRC32C != got.CRC32C {
		return fmt.Errorf("%w: the bytes received are not the bytes sent (CRC32C %08x, the sender's %08x)",
			ErrCorrupt, got.CRC32C, sent.CRC32C)
	}
	if sent.CRCOnly {
		if sent.MD5 != [16]byte{} || sent.SHA256 != [32]byte{} {
			return fmt.Errorf("%w: the sender's CRC-only digests have a non-zero MD5 or SHA-256", ErrDigestMismatch)
		}
		if e.MD5 != nil || e.SHA256 != nil {
			return fmt.Errorf("%w: Expect.MD5 or Expect.SHA256 given, but the sender computed only CRC32C", ErrDigestMismatch)
		}
	}
	h.md5, h.sha256, h.crc32c, h.crcOnly = sent.MD5, sent.SHA256, sent.CRC32C, sent.CRCOnly
	return nil
}

// writeBlocks copies r into f after the header space, block by block, through buf (one block
// and its CRC), writing the data to dg too, and returns the header without its digests. A
// blob of a single block is not written: its block and CRC are returned (last, in buf) for
// the caller to write together with the header.
func (s *Store) writeBlocks(ctx context.Context, f vfs.File, r io.Reader, want int64, buf []byte, dg *Digester) (h header, last []byte, err error) {
	h = header{blockSize: s.blockSize}
	off := int64(headerSize)
	bs := int(s.blockSize)
	for i := int64(0); ; i++ {
		if err := ctx.Err(); err != nil {
			return h, nil, err
		}
		n, rerr := iox.Fill(r, buf[:bs])
		end := rerr == io.EOF
		if n > 0 {
			h.size += int64(n)
			if want >= 0 && h.size > want {
				return h, nil, fmt.Errorf("%w: more than %d bytes", ErrSizeMismatch, want)
			}
			data := buf[:n]
			dg.Write(data)
			binary.LittleEndian.PutUint32(buf[n:n+blockCRCSize], blockCRC(i, data))
			if i == 0 && end {
				last = buf[:n+blockCRCSize]
			} else if _, err := f.WriteAt(buf[:n+blockCRCSize], off); err != nil {
				return h, nil, err
			}
			off += int64(n + blockCRCSize)
		}
		if end {
			break
		}
		if rerr != nil {
			return h, nil, fmt.Errorf("read source: %w", rerr)
		}
	}
	if want >= 0 && h.size != want {
		return h, nil, fmt.Errorf("%w: got %d bytes, want %d", ErrSizeMismatch, h.size, want)
	}
	return h, last, nil
}

func checkExpectLengths(e Expect) error {
	if e.Size < AnySize {
		return fmt.Errorf("blob: Expect.Size %d is negative", e.Size)
	}
	for _, c := range []struct {
		name string
		b    []byte
		n    int
	}{{"MD5", e.MD5, 16}, {"SHA256", e.SHA256, 32}, {"CRC32C", e.CRC32C, 4}} {
		if c.b != nil && len(c.b) != c.n {
			return fmt.Errorf("%w: Expect.%s has %d bytes, want %d", ErrDigestMismatch, c.name, len(c.b), c.n)
		}
	}
	return nil
}

func checkExpect(h header, e Expect) error {
	return e.Check(Digests{MD5: h.md5, SHA256: h.sha256, CRC32C: h.crc32c})
}

// Check compares the digests e expects (those that are set) with d; a mismatch is
// ErrDigestMismatch naming the digest. Put runs it on the digests of what it stored; a sender
// that computes the digests itself (Expect.Sent) runs it before its end frame goes out.
func (e Expect) Check(d Digests) error {
	if e.MD5 != nil && string(e.MD5) != string(d.MD5[:]) {
		return fmt.Errorf("%w: MD5", ErrDigestMismatch)
	}
	if e.SHA256 != nil && string(e.SHA256) != string(d.SHA256[:]) {
		return fmt.Errorf("%w: SHA256", ErrDigestMismatch)
	}
	if e.CRC32C != nil && binary.BigEndian.Uint32(e.CRC32C) != d.CRC32C {
		return fmt.Errorf("%w: CRC32C", ErrDigestMismatch)
	}
	return nil
}

// openFile opens id's file and validates its header and length.
func (s *Store) openFile(id string) (vfs.File, header, fs.FileInfo, error) {
	if !ValidID(id) {
		return nil, header{}, nil, fmt.Errorf("%w: %q", ErrInvalidID, id)
	}
	f, err := s.fs.OpenFile(s.path(id), os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, header{}, nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, header{}, nil, fmt.Errorf("blob: open %s: %w", id, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, header{}, nil, fmt.Errorf("blob: stat %s: %w", id, err)
	}
	hb := make([]byte, headerSize)
	if _, err := f.ReadAt(hb, 0); err != nil && !errors.Is(err, io.EOF) {
		f.Close()
		return nil, header{}, nil, fmt.Errorf("blob: read header %s: %w", id, err)
	}
	h, err := decodeHeader(hb)
	if err == nil && fi.Size() != fileSize(h.size, h.blockSize) {
		err = fmt.Errorf("%w: file is %d bytes, header implies %d", ErrCorrupt, fi.Size(), fileSize(h.size, h.blockSize))
	}
	if err != nil {
		f.Close()
		s.metrics.Counter(metricCorrupt, 1)
		return nil, header{}, nil, fmt.Errorf("blob %s: %w", id, err)
	}
	return f, h, fi, nil
}

// Stat returns the blob's Info from its header (data is not read; see Verify).
func (s *Store) Stat(id string) (Info, error) {
	f, h, fi, err := s.openFile(id)
	if err != nil {
		return Info{}, err
	}
	f.Close()
	return h.info(id, fi.ModTime()), nil
}

// Open returns a reader of the blob. See Reader for what is verified when.
func (s *Store) Open(id string) (*Reader, Info, error) {
	f, h, fi, err := s.openFile(id)
	if err != nil {
		return nil, Info{}, err
	}
	info := h.info(id, fi.ModTime())
	return &Reader{s: s, f: f, h: h, info: info, seq: true, cacheIdx: -1}, info, nil
}

// Verify reads the whole blob and checks every block CRC and the CRC32C in its header, and
// the MD5 and SHA-256 too unless the blob is CRC-only (Info.CRCOnly). A mismatch is
// ErrCorrupt.
func (s *Store) Verify(id string) error {
	r, info, err := s.Open(id)
	if err != nil {
		return err
	}
	defer r.Close()
	dg := NewDigester(info.CRCOnly)
	// A plain read loop, so that the Reader's own whole-blob check at EOF runs too.
	if _, err := io.Copy(dg, r); err != nil {
		return err
	}
	got := dg.Sum()
	var what string
	switch {
	case got.CRC32C != info.CRC32C:
		what = "CRC32C"
	case got.MD5 != info.MD5:
		what = "MD5"
	case got.SHA256 != info.SHA256:
		what = "SHA-256"
	default:
		return nil
	}
	s.metrics.Counter(metricCorrupt, 1)
	return fmt.Errorf("blob %s: %w: %s mismatch", id, ErrCorrupt, what)
}

// Delete removes the blob; ErrNotFound if it does not exist. Open readers keep working.
func (s *Store) Delete(id string) error {
	if !ValidID(id) {
		return fmt.Errorf("%w: %q", ErrInvalidID, id)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	p := s.path(id)
	if err := s.fs.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		return fmt.Errorf("blob: delete %s: %w", id, err)
	}
	s.metrics.Counter(metricDeletes, 1)
	return s.syncDir(filepath.Dir(p))
}

// ErrStopList may be returned by a List callback to stop the walk early without error.
var ErrStopList = errors.New("blob: stop list")

// List calls fn for every stored blob, in no particular order; a Put or Delete concurrent
// with List may or may not be seen. An error from fn stops the walk and is returned (except
// ErrStopList, which stops it and returns nil).
func (s *Store) List(fn func(Entry) error) error {
	dirs, err := s.fs.ReadDir(s.blobsDir)
	if err != nil {
		return fmt.Errorf("blob: list: %w", err)
	}
	for _, d := range dirs {
		if !d.IsDir() || len(d.Name()) != 2 {
			continue
		}
		ents, err := s.fs.ReadDir(filepath.Join(s.blobsDir, d.Name()))
		if err != nil {
			return fmt.Errorf("blob: list: %w", err)
		}
		for _, e := range ents {
			name := e.Name()
			if !e.Type().IsRegular() || !ValidID(name) || fanout(name) != d.Name() {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue // deleted meanwhile
			}
			if err := fn(Entry{ID: name, ModTime: fi.ModTime()}); err != nil {
				if errors.Is(err, ErrStopList) {
					return nil
				}
				return err
			}
		}
	}
	return nil
}

// Dir is the directory the store was opened on.
func (s *Store) Dir() string { return s.dir }

// String is for logs.
func (s *Store) String() string { return "blob.Store(" + strings.TrimSpace(s.dir) + ")" }

// Space reports the size and the free space of the file system holding the store (statfs),
// or an error wrapping errors.ErrUnsupported when Options.FS cannot tell.
func (s *Store) Space() (vfs.Space, error) { return vfs.DiskSpace(s.fs, s.dir) }
