package blob

import (
	"bytes"
	"context"
	"crypto/md5" //nolint:gosec // test of the ETag digest
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

func openTest(t testing.TB, opts Options) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func randData(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 99))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rng.Uint64())
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func expectOf(data []byte) Expect {
	m := md5.Sum(data) //nolint:gosec // see import
	s := sha256.Sum256(data)
	c := make([]byte, 4)
	binary.BigEndian.PutUint32(c, crc32.Checksum(data, castagnoli))
	return Expect{Size: int64(len(data)), MD5: m[:], SHA256: s[:], CRC32C: c}
}

func tempFiles(t testing.TB, s *Store) []string {
	t.Helper()
	ents, err := s.fs.ReadDir(s.tmpDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestRoundTrip(t *testing.T) {
	s := openTest(t, Options{BlockSize: 4096})
	ctx := context.Background()
	for i, n := range []int{0, 1, 4095, 4096, 4097, 3*4096 + 17, 5<<20 + 3} {
		data := randData(n, uint64(i))
		id := fmt.Sprintf("obj-%d.bin", n)
		info, err := s.Put(ctx, id, bytes.NewReader(data), expectOf(data))
		if err != nil {
			t.Fatalf("Put %d: %v", n, err)
		}
		if info.Size != int64(n) || info.MD5 != md5.Sum(data) || info.SHA256 != sha256.Sum256(data) || //nolint:gosec
			info.CRC32C != crc32.Checksum(data, castagnoli) || info.ID != id {
			t.Fatalf("Put %d: info %+v", n, info)
		}
		r, rinfo, err := s.Open(id)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read %d: %d bytes, err %v", n, len(got), err)
		}
		st, err := s.Stat(id)
		if err != nil || st.MD5 != info.MD5 || st.Size != info.Size || rinfo.SHA256 != info.SHA256 {
			t.Fatalf("Stat %d: %+v %v", n, st, err)
		}
		if err := s.Verify(id); err != nil {
			t.Fatalf("Verify %d: %v", n, err)
		}
	}
	if tf := tempFiles(t, s); len(tf) != 0 {
		t.Fatalf("temp files left: %v", tf)
	}
}

func TestRangesAndSeek(t *testing.T) {
	s := openTest(t, Options{BlockSize: 4096})
	data := randData(50_000, 5)
	if _, err := s.Put(context.Background(), "r", bytes.NewReader(data), Expect{Size: AnySize}); err != nil {
		t.Fatal(err)
	}
	r, _, err := s.Open("r")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rng := rand.New(rand.NewPCG(1, 1))
	for range 200 {
		off := rng.IntN(len(data) + 10)
		n := rng.IntN(20_000)
		p := make([]byte, n)
		got, err := r.ReadAt(p, int64(off))
		wantN := max(0, min(n, len(data)-off))
		if got != wantN || !bytes.Equal(p[:got], data[min(off, len(data)):min(off, len(data))+wantN]) {
			t.Fatalf("ReadAt(%d, %d) = %d, %v", n, off, got, err)
		}
		if (err == io.EOF) != (wantN < n) {
			t.Fatalf("ReadAt(%d, %d) err = %v", n, off, err)
		}
		if _, err := r.Seek(int64(off), io.SeekStart); err != nil {
			t.Fatal(err)
		}
		all, err := io.ReadAll(io.LimitReader(r, int64(n)))
		if err != nil || !bytes.Equal(all, data[min(off, len(data)):min(off, len(data))+wantN]) {
			t.Fatalf("Seek(%d)+Read(%d): %d bytes, %v", off, n, len(all), err)
		}
	}
	if _, err := r.Seek(-1, io.SeekStart); err == nil {
		t.Fatal("negative seek accepted")
	}
	if pos, _ := r.Seek(-10, io.SeekEnd); pos != int64(len(data)-10) {
		t.Fatalf("SeekEnd = %d", pos)
	}
}

func TestPutFailuresLeaveNothing(t *testing.T) {
	data := randData(10_000, 9)
	good := expectOf(data)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name   string
		ctx    context.Context
		src    io.Reader
		expect Expect
		want   error
	}{
		{"shorter than size", nil, bytes.NewReader(data[:9999]), good, ErrSizeMismatch},
		{"longer than size", nil, bytes.NewReader(append(data, 1)), good, ErrSizeMismatch},
		{"zero Expect means empty", nil, bytes.NewReader(data), Expect{}, ErrSizeMismatch},
		{"md5 mismatch", nil, bytes.NewReader(data), Expect{Size: AnySize, MD5: make([]byte, 16)}, ErrDigestMismatch},
		{"sha256 mismatch", nil, bytes.NewReader(data), Expect{Size: AnySize, SHA256: make([]byte, 32)}, ErrDigestMismatch},
		{"crc32c mismatch", nil, bytes.NewReader(data), Expect{Size: AnySize, CRC32C: []byte{1, 2, 3, 4}}, ErrDigestMismatch},
		{"md5 wrong length", nil, bytes.NewReader(data), Expect{Size: AnySize, MD5: []byte{1}}, ErrDigestMismatch},
		{"source error", nil, io.MultiReader(bytes.NewReader(data), errReader{}), Expect{Size: AnySize}, errBoom},
		{"source cut short", nil, io.MultiReader(bytes.NewReader(data[:5000]), cutReader{}), Expect{Size: AnySize}, io.ErrUnexpectedEOF},
		{"canceled", canceled, bytes.NewReader(data), good, context.Canceled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, prev := openWithPrevious(t)
			ctx := c.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			if _, err := s.Put(ctx, "k", c.src, c.expect); !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if _, err := s.Put(ctx, "new", bytes.NewReader(nil), Expect{Size: 1}); err == nil {
				t.Fatal("size mismatch on a fresh id accepted")
			}
			checkNothingPublished(t, s, prev)
		})
	}
}

// openWithPrevious opens a store whose blob "k" holds prev, for failed Puts to replace.
func openWithPrevious(t *testing.T) (*Store, []byte) {
	t.Helper()
	s := openTest(t, Options{BlockSize: 4096})
	prev := []byte("previous version")
	if _, err := s.Put(context.Background(), "k", bytes.NewReader(prev), expectOf(prev)); err != nil {
		t.Fatal(err)
	}
	return s, prev
}

// checkNothingPublished checks the end state after failed Puts of "k" and "new": "new" does
// not exist, "k" still holds prev, and no temporary file is left.
func checkNothingPublished(t *testing.T, s *Store, prev []byte) {
	t.Helper()
	if _, err := s.Stat("new"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("failed Put visible: %v", err)
	}
	if got := readAll(t, s, "k"); !bytes.Equal(got, prev) {
		t.Fatalf("previous blob damaged: %q", got)
	}
	if tf := tempFiles(t, s); len(tf) != 0 {
		t.Fatalf("temp files left: %v", tf)
	}
}

var errBoom = errors.New("boom")

// cutReader fails as a body cut short does (io.ErrUnexpectedEOF), which is not an end of data.
type cutReader struct{}

func (cutReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errBoom }

func TestBadIDs(t *testing.T) {
	s := openTest(t, Options{})
	for _, id := range []string{"", ".", "..", "../x", "a/b", "/abs", "a\x00b", "-x", ".hidden", "_x",
		strings.Repeat("a", MaxIDLength+1), "ü", "a b", "a\\b"} {
		if _, err := s.Put(context.Background(), id, bytes.NewReader(nil), Expect{}); !errors.Is(err, ErrInvalidID) {
			t.Errorf("Put(%q) = %v", id, err)
		}
		if _, _, err := s.Open(id); !errors.Is(err, ErrInvalidID) {
			t.Errorf("Open(%q) = %v", id, err)
		}
		if _, err := s.Stat(id); !errors.Is(err, ErrInvalidID) {
			t.Errorf("Stat(%q) = %v", id, err)
		}
		if err := s.Delete(id); !errors.Is(err, ErrInvalidID) {
			t.Errorf("Delete(%q) = %v", id, err)
		}
	}
	for _, id := range []string{"a", "A.b-c_d", strings.Repeat("z", MaxIDLength), "0..1"} {
		if !ValidID(id) {
			t.Errorf("ValidID(%q) = false", id)
		}
	}
}

// corruptFile applies edit to the stored file of id.
func corruptFile(t *testing.T, s *Store, id string, edit func(b []byte) []byte) {
	t.Helper()
	p := s.path(id)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, edit(b), 0o640); err != nil {
		t.Fatal(err)
	}
}

func TestCorruption(t *testing.T) {
	const bs = 4096
	data := randData(4*bs+100, 11) // blocks 0..3 full, block 4 partial
	blockOff := func(i int) int { return headerSize + i*(bs+blockCRCSize) }
	cases := []struct {
		name     string
		edit     func(b []byte) []byte
		openErr  bool  // Open itself fails
		badBlock int   // block whose ranges fail; -1 none
		goodAt   []int // offsets whose 100-byte ranges still read
	}{
		{name: "flip data byte in block 2", edit: func(b []byte) []byte { b[blockOff(2)+77] ^= 0x40; return b },
			badBlock: 2, goodAt: []int{0, bs + 5, 3 * bs, 4 * bs}},
		{name: "flip block CRC of block 4", edit: func(b []byte) []byte { b[len(b)-1] ^= 1; return b },
			badBlock: 4, goodAt: []int{0, 2 * bs}},
		{name: "block 1 copied over block 0", edit: func(b []byte) []byte {
			copy(b[blockOff(0):blockOff(1)], b[blockOff(1):blockOff(2)])
			return b
		}, badBlock: 0, goodAt: []int{bs, 3 * bs}},
		{name: "flip header byte", edit: func(b []byte) []byte { b[20] ^= 1; return b }, openErr: true},
		{name: "bad magic", edit: func(b []byte) []byte { b[0] = 'X'; return b }, openErr: true},
		{name: "truncated", edit: func(b []byte) []byte { return b[:len(b)-10] }, openErr: true},
		{name: "extended", edit: func(b []byte) []byte { return append(b, 0) }, openErr: true},
		{name: "empty file", edit: func(b []byte) []byte { return nil }, openErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newRecorder(t)
			s := openTest(t, Options{BlockSize: bs, Metrics: m})
			if _, err := s.Put(context.Background(), "victim", bytes.NewReader(data), expectOf(data)); err != nil {
				t.Fatal(err)
			}
			corruptFile(t, s, "victim", c.edit)
			if err := s.Verify("victim"); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Verify = %v", err)
			}
			r, _, err := s.Open("victim")
			if c.openErr {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Open = %v", err)
				}
				if _, err := s.Stat("victim"); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Stat = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got, err := io.ReadAll(r)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("full read err = %v", err)
			}
			if len(got) > c.badBlock*bs || !bytes.Equal(got, data[:len(got)]) {
				t.Fatalf("full read returned %d bytes, beyond the bad block %d or wrong", len(got), c.badBlock)
			}
			p := make([]byte, 100)
			if _, err := r.ReadAt(p, int64(c.badBlock*bs+50)); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("ReadAt over bad block = %v", err)
			}
			for _, off := range c.goodAt {
				n, err := r.ReadAt(p, int64(off))
				if err != nil && err != io.EOF || !bytes.Equal(p[:n], data[off:off+n]) || n == 0 {
					t.Fatalf("ReadAt(%d) on a good block = %d, %v", off, n, err)
				}
			}
			if m.get(metricCorrupt) < 3 {
				t.Fatalf("corrupt_total = %v", m.get(metricCorrupt))
			}
		})
	}
}

func TestTempCleanupAndLock(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v", err)
	}
	if _, err := s.Put(context.Background(), "keep", strings.NewReader("x"), Expect{Size: 1}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := s.Put(context.Background(), "late", strings.NewReader("x"), Expect{Size: 1}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put after Close = %v", err)
	}
	// Leftovers of a crash: one old, one fresh.
	old := filepath.Join(dir, "tmp", "put-old.tmp")
	fresh := filepath.Join(dir, "tmp", "put-fresh.tmp")
	for _, p := range []string{old, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(old, time.Now().Add(-2*time.Hour), time.Now().Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	m := newRecorder(t)
	s, err = Open(dir, Options{TempMaxAge: time.Hour, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	if tf := tempFiles(t, s); len(tf) != 1 || tf[0] != "put-fresh.tmp" {
		t.Fatalf("after Open(TempMaxAge=1h): %v", tf)
	}
	if m.get(metricTempRemoved) != 1 {
		t.Fatalf("temp_removed_total = %v", m.get(metricTempRemoved))
	}
	s.Close()
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if tf := tempFiles(t, s); len(tf) != 0 {
		t.Fatalf("after Open(TempMaxAge=0): %v", tf)
	}
	if _, err := s.Stat("keep"); err != nil {
		t.Fatalf("blob lost across reopen: %v", err)
	}
}

func TestDeleteAndList(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	want := map[string]bool{}
	for i := range 60 {
		id := fmt.Sprintf("id-%03d", i)
		want[id] = true
		if _, err := s.Put(ctx, id, strings.NewReader(id), Expect{Size: int64(len(id))}); err != nil {
			t.Fatal(err)
		}
	}
	r, _, err := s.Open("id-007")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := s.Delete("id-007"); err != nil {
		t.Fatal(err)
	}
	delete(want, "id-007")
	if got, err := io.ReadAll(r); err != nil || string(got) != "id-007" {
		t.Fatalf("reader open across Delete: %q %v", got, err)
	}
	if err := s.Delete("id-007"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Delete = %v", err)
	}
	if _, _, err := s.Open("id-007"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open deleted = %v", err)
	}
	var got []string
	if err := s.List(func(e Entry) error {
		if e.ModTime.IsZero() {
			t.Errorf("%s: zero ModTime", e.ID)
		}
		got = append(got, e.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	if len(got) != len(want) {
		t.Fatalf("List found %d, want %d", len(got), len(want))
	}
	for _, id := range got {
		if !want[id] {
			t.Fatalf("List found unexpected %q", id)
		}
	}
	n := 0
	if err := s.List(func(Entry) error { n++; return ErrStopList }); err != nil || n != 1 {
		t.Fatalf("ErrStopList: n=%d err=%v", n, err)
	}
	if err := s.List(func(Entry) error { return errBoom }); !errors.Is(err, errBoom) {
		t.Fatalf("callback error = %v", err)
	}
}

func TestConcurrentPutsAndReads(t *testing.T) {
	s := openTest(t, Options{BlockSize: 4096})
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				data := randData(1000*(i+1)+w, uint64(w*100+i))
				id := fmt.Sprintf("w%d-%d", w, i)
				if _, err := s.Put(ctx, id, bytes.NewReader(data), expectOf(data)); err != nil {
					errs <- err
					return
				}
				// Everyone also overwrites one shared id; any complete version is fine.
				if _, err := s.Put(ctx, "shared", bytes.NewReader(data), expectOf(data)); err != nil {
					errs <- err
					return
				}
				r, info, err := s.Open(id)
				if err != nil {
					errs <- err
					return
				}
				got, err := io.ReadAll(r)
				r.Close()
				if err != nil || !bytes.Equal(got, data) || info.Size != int64(len(data)) {
					errs <- fmt.Errorf("%s: read back %d bytes: %v", id, len(got), err)
					return
				}
				if err := s.Verify("shared"); err != nil {
					errs <- err
					return
				}
				if i%3 == 0 {
					if err := s.Delete(id); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// patternReader yields left deterministic bytes (a 64 KiB + 1 byte pattern, so blocks differ)
// without holding them.
type patternReader struct {
	left, off int64
	pat       []byte
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(b)), p.left))
	done := 0
	for done < n {
		done += copy(b[done:n], p.pat[(p.off+int64(done))%int64(len(p.pat)):])
	}
	p.left -= int64(n)
	p.off += int64(n)
	return n, nil
}

func TestMemoryFlat(t *testing.T) {
	size := int64(256 << 20)
	if testing.Short() {
		size = 32 << 20
	}
	s := openTest(t, Options{})
	src := &patternReader{left: size, pat: randData(64<<10+1, 4)}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	info, err := s.Put(context.Background(), "big", src, Expect{Size: size})
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := s.Open("big")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, r)
	r.Close()
	runtime.ReadMemStats(&after)
	if err != nil || n != size || info.Size != size {
		t.Fatalf("read back %d of %d: %v", n, size, err)
	}
	// Everything allocated during a put and a full read of `size` bytes: a few block
	// buffers and hash states, independent of size.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Fatalf("allocated %d bytes for a %d-byte blob", alloc, size)
	}
}

func TestOptionsValidation(t *testing.T) {
	for _, bs := range []int{1, 4095, maxBlockSize + 1, -1} {
		if _, err := Open(t.TempDir(), Options{BlockSize: bs}); err == nil {
			t.Errorf("BlockSize %d accepted", bs)
		}
	}
	// A store reopened with another block size still reads old blobs.
	dir := t.TempDir()
	s, err := Open(dir, Options{BlockSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	data := randData(20_000, 3)
	if _, err := s.Put(context.Background(), "old", bytes.NewReader(data), Expect{Size: AnySize}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(dir, Options{BlockSize: 8192})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Verify("old"); err != nil {
		t.Fatal(err)
	}
}

// recorder is a Metrics that fails the test on names not in MetricDescs.
type recorder struct {
	t  testing.TB
	mu sync.Mutex
	v  map[string]float64
}

func newRecorder(t testing.TB) *recorder { return &recorder{t: t, v: map[string]float64{}} }

func (r *recorder) check(name string) {
	for _, d := range MetricDescs {
		if d.Name == name {
			return
		}
	}
	r.t.Errorf("metric %q not in MetricDescs", name)
}

func (r *recorder) Counter(name string, d float64) {
	r.check(name)
	r.mu.Lock()
	r.v[name] += d
	r.mu.Unlock()
}
func (r *recorder) Gauge(name string, v float64) {
	r.check(name)
	r.mu.Lock()
	r.v[name] = v
	r.mu.Unlock()
}
func (r *recorder) Observe(name string, v float64) { r.Counter(name, 1) }

func (r *recorder) get(name string) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.v[name]
}

var _ Metrics = (*recorder)(nil)

func TestMetricsReported(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tmp", "put-x.tmp"), nil, 0o640); err != nil {
		t.Fatal(err)
	}
	m := newRecorder(t)
	s, err := Open(dir, Options{Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Put(ctx, "a", strings.NewReader("hello"), Expect{Size: 5}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "b", strings.NewReader("hello"), Expect{Size: 4}); err == nil {
		t.Fatal("size mismatch accepted")
	}
	r, _, _ := s.Open("a")
	io.ReadAll(r)
	r.Close()
	corruptFile(t, s, "a", func(b []byte) []byte { b[headerSize] ^= 1; return b })
	s.Verify("a")
	if err := s.Delete("a"); err != nil {
		t.Fatal(err)
	}
	for _, d := range MetricDescs {
		if m.get(d.Name) == 0 {
			t.Errorf("%s never reported", d.Name)
		}
		if !strings.HasPrefix(d.Name, "nebulaio_blob_") || (d.Kind == "counter") != strings.HasSuffix(d.Name, "_total") ||
			(d.Kind == "histogram") != strings.HasSuffix(d.Name, "_seconds") {
			t.Errorf("%s: bad name for a %s", d.Name, d.Kind)
		}
	}
	if m.get(metricBytesWritten) != 5 || m.get(metricBytesRead) != 5 {
		t.Errorf("bytes written %v read %v", m.get(metricBytesWritten), m.get(metricBytesRead))
	}
}

func BenchmarkPut(b *testing.B) {
	for _, size := range []int{4 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("size=%dKiB", size>>10), func(b *testing.B) {
			s := openTest(b, Options{})
			data := randData(size, 1)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				if _, err := s.Put(context.Background(), fmt.Sprintf("b%d", i), bytes.NewReader(data), Expect{Size: int64(size)}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkGet(b *testing.B) {
	for _, size := range []int{4 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("size=%dKiB", size>>10), func(b *testing.B) {
			s := openTest(b, Options{})
			data := randData(size, 1)
			if _, err := s.Put(context.Background(), "g", bytes.NewReader(data), Expect{Size: int64(size)}); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				r, _, err := s.Open("g")
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, r)
				r.Close()
				if err != nil || n != int64(size) {
					b.Fatal(n, err)
				}
			}
		})
	}
}

// digestsOf is what a sender that hashed data would send.
func digestsOf(data []byte, crcOnly bool) Digests {
	d := NewDigester(crcOnly)
	d.Write(data)
	return d.Sum()
}

// eofReader records whether its source has returned io.EOF.
type eofReader struct {
	r   io.Reader
	eof bool
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		e.eof = true
	}
	return n, err
}

// sentOnce returns an Expect.Sent that returns d (or err) and fails the test if it is called
// more than once or before src reached EOF; *calls counts the calls.
func sentOnce(t *testing.T, src *eofReader, d Digests, err error, calls *int) func() (Digests, error) {
	return func() (Digests, error) {
		*calls++
		if *calls > 1 {
			t.Errorf("Sent called %d times", *calls)
		}
		if !src.eof {
			t.Error("Sent called before the data was read to EOF")
		}
		return d, err
	}
}

func TestDigester(t *testing.T) {
	data := randData(100_000, 3)
	full := NewDigester(false)
	for _, part := range [][]byte{data[:1], data[1:70_000], nil, data[70_000:]} {
		if n, err := full.Write(part); n != len(part) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	want := Digests{MD5: md5.Sum(data), SHA256: sha256.Sum256(data), CRC32C: crc32.Checksum(data, castagnoli)} //nolint:gosec
	if got := full.Sum(); got != want {
		t.Fatalf("Sum = %+v, want %+v", got, want)
	}
	if got := digestsOf(data, true); got != (Digests{CRC32C: want.CRC32C, CRCOnly: true}) {
		t.Fatalf("CRC-only Sum = %+v", got)
	}
	if got := NewDigester(false).Sum(); got.MD5 != md5.Sum(nil) || got.CRCOnly { //nolint:gosec
		t.Fatalf("Sum of nothing = %+v", got)
	}
}

// TestPutSent: a Put with Expect.Sent records the sender's digests once the CRC32C it
// computed matches the sender's; Sent is called exactly once, after EOF.
func TestPutSent(t *testing.T) {
	s := openTest(t, Options{BlockSize: 4096})
	for i, n := range []int{0, 100, 4096, 3*4096 + 17} {
		for _, crcOnly := range []bool{false, true} {
			data := randData(n, uint64(i))
			id := fmt.Sprintf("s%d-%v", n, crcOnly)
			src := &eofReader{r: bytes.NewReader(data)}
			sent := digestsOf(data, crcOnly)
			calls := 0
			e := Expect{Size: int64(n), Sent: sentOnce(t, src, sent, nil, &calls)}
			if !crcOnly {
				e.MD5 = sent.MD5[:]
			}
			info, err := s.Put(context.Background(), id, src, e)
			if err != nil || calls != 1 {
				t.Fatalf("Put %s: %v (Sent called %d times)", id, err, calls)
			}
			want := Info{ID: id, Size: int64(n), MD5: sent.MD5, SHA256: sent.SHA256, CRC32C: sent.CRC32C, CRCOnly: crcOnly}
			info.ModTime = time.Time{}
			if info != want {
				t.Fatalf("Put %s: info %+v, want %+v", id, info, want)
			}
			if crcOnly && (info.MD5 != [16]byte{} || info.SHA256 != [32]byte{}) {
				t.Fatalf("CRC-only info has digests: %+v", info)
			}
			st, err := s.Stat(id)
			st.ModTime = time.Time{}
			if err != nil || st != want {
				t.Fatalf("Stat %s = %+v, %v", id, st, err)
			}
			r, oinfo, err := s.Open(id)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			oinfo.ModTime = time.Time{}
			if err != nil || !bytes.Equal(got, data) || oinfo != want {
				t.Fatalf("Open %s: %+v, %d bytes, %v", id, oinfo, len(got), err)
			}
			if err := s.Verify(id); err != nil {
				t.Fatalf("Verify %s: %v", id, err)
			}
		}
	}
}

// TestPutSentRecordsSendersDigests: with Sent, Put records the sender's MD5 and SHA-256
// without computing them: digests that lie about MD5 (but have the right CRC32C) are stored
// as sent, and only Verify, which hashes, finds the mismatch.
func TestPutSentRecordsSendersDigests(t *testing.T) {
	s := openTest(t, Options{BlockSize: 4096})
	data := randData(10_000, 4)
	lie := digestsOf(data, false)
	lie.MD5[0] ^= 1
	info, err := s.Put(context.Background(), "k", bytes.NewReader(data), Expect{Size: AnySize, Sent: func() (Digests, error) { return lie, nil }})
	if err != nil || info.MD5 != lie.MD5 {
		t.Fatalf("Put = %+v, %v; want the sender's MD5 %x", info, err, lie.MD5)
	}
	if err := s.Verify("k"); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "MD5") {
		t.Fatalf("Verify = %v, want ErrCorrupt naming MD5", err)
	}
}

// TestPutSentFailuresLeaveNothing: each way a Put with Sent fails returns its error, publishes
// nothing and leaves the previous blob intact; Sent is called only when the data was read to
// its end.
func TestPutSentFailuresLeaveNothing(t *testing.T) {
	data := randData(10_000, 9)
	hashed, crcOnly := digestsOf(data, false), digestsOf(data, true)
	otherCRC := hashed
	otherCRC.CRC32C ^= 1
	otherMD5 := hashed
	otherMD5.MD5[3] ^= 1
	dirtyCRCOnly := crcOnly
	dirtyCRCOnly.SHA256[0] = 1
	goodCRC := make([]byte, 4)
	binary.BigEndian.PutUint32(goodCRC, hashed.CRC32C)
	cases := []struct {
		name      string
		src       io.Reader
		expect    Expect
		sent      Digests
		sentErr   error
		want      error
		wantCalls int
		msg       string // in the error
	}{
		{name: "CRC32C differs from the sender's", expect: Expect{Size: AnySize}, sent: otherCRC, want: ErrCorrupt, wantCalls: 1, msg: "not the bytes sent"},
		{name: "CRC-only CRC32C differs", expect: Expect{Size: AnySize}, sent: Digests{CRC32C: 1, CRCOnly: true}, want: ErrCorrupt, wantCalls: 1},
		{name: "Sent fails", expect: Expect{Size: AnySize}, sentErr: errBoom, want: errBoom, wantCalls: 1},
		{name: "Expect.MD5 differs from the sender's", expect: Expect{Size: AnySize, MD5: hashed.MD5[:]}, sent: otherMD5, want: ErrDigestMismatch, wantCalls: 1, msg: "MD5"},
		{name: "Expect.SHA256 differs from the sender's", expect: Expect{Size: AnySize, SHA256: make([]byte, 32)}, sent: hashed, want: ErrDigestMismatch, wantCalls: 1, msg: "SHA256"},
		{name: "Expect.CRC32C differs", expect: Expect{Size: AnySize, CRC32C: []byte{1, 2, 3, 4}}, sent: hashed, want: ErrDigestMismatch, wantCalls: 1, msg: "CRC32C"},
		{name: "Expect.MD5 with CRC-only digests", expect: Expect{Size: AnySize, MD5: hashed.MD5[:], CRC32C: goodCRC}, sent: crcOnly, want: ErrDigestMismatch, wantCalls: 1, msg: "only CRC32C"},
		{name: "Expect.SHA256 with CRC-only digests", expect: Expect{Size: AnySize, SHA256: hashed.SHA256[:]}, sent: crcOnly, want: ErrDigestMismatch, wantCalls: 1, msg: "only CRC32C"},
		{name: "CRC-only digests with a SHA-256", expect: Expect{Size: AnySize}, sent: dirtyCRCOnly, want: ErrDigestMismatch, wantCalls: 1, msg: "non-zero"},
		{name: "shorter than size", src: bytes.NewReader(data[:9999]), expect: Expect{Size: 10_000}, sent: hashed, want: ErrSizeMismatch},
		{name: "longer than size", expect: Expect{Size: 9999}, sent: hashed, want: ErrSizeMismatch},
		{name: "source error", src: io.MultiReader(bytes.NewReader(data), errReader{}), expect: Expect{Size: AnySize}, sent: hashed, want: errBoom},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, prev := openWithPrevious(t)
			for _, id := range []string{"k", "new"} {
				src := c.src
				if src == nil {
					src = bytes.NewReader(data)
				} else if id == "new" {
					continue // consumed
				}
				er := &eofReader{r: src}
				calls := 0
				e := c.expect
				e.Sent = sentOnce(t, er, c.sent, c.sentErr, &calls)
				_, err := s.Put(context.Background(), id, er, e)
				if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
					t.Fatalf("Put %s: err = %v, want %v with %q", id, err, c.want, c.msg)
				}
				if calls != c.wantCalls {
					t.Fatalf("Put %s: Sent called %d times, want %d", id, calls, c.wantCalls)
				}
			}
			checkNothingPublished(t, s, prev)
		})
	}
}

// BenchmarkPut1MiB compares the CPU of a Put that hashes (MD5, SHA-256, CRC32C), one whose
// sender's digests arrive through Expect.Sent (CRC32C only) and a CRC-only one, on the disk
// (a temporary directory: fsyncs included, as in production).
func BenchmarkPut1MiB(b *testing.B) {
	const size = 1 << 20
	data := randData(size, 1)
	for _, c := range []struct {
		name string
		sent func() (Digests, error)
	}{
		{"hashed", nil},
		{"sent", func() (Digests, error) { return digestsOf(data, false), nil }},
		{"crc-only", func() (Digests, error) { return digestsOf(data, true), nil }},
	} {
		b.Run(c.name, func(b *testing.B) {
			sent := c.sent
			if sent != nil { // the sender's work is not the replica's: compute it once
				d, _ := sent()
				sent = func() (Digests, error) { return d, nil }
			}
			s, err := Open(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				// One id: each Put replaces the last, so the Mem does not grow.
				if _, err := s.Put(context.Background(), "b", bytes.NewReader(data), Expect{Size: size, Sent: sent}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
