package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/nebulaio/nebulaio/dataplane"
	"github.com/nebulaio/nebulaio/dataplane/blob"
	"github.com/nebulaio/nebulaio/engine"
	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/transport"

	"github.com/nebulaio/nebulaio/internal/testutil"
)

// blobPath finds the file of a blob in the node's store.
func (n *node) blobPath(id string) string {
	var found string
	_ = filepath.WalkDir(n.blobs.Dir(), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == id {
			found = p
		}
		return nil
	})
	if found == "" {
		n.t.Fatalf("blob %s not on disk", id)
	}
	return found
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := []byte{0}
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x55
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestCorruptBlobNotServed: a flipped byte makes reads that touch its block fail (500 before
// any byte when it is in the first block; a cut-short body later), never returns the bad
// bytes, is counted, and leaves ranges elsewhere readable.
func TestCorruptBlobNotServed(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	c := n.client()
	ctx := ctxT(t)
	mustCreateBucket(t, c, "rot")
	data := randBytes(300_000, 11)
	mustPut(t, c, "rot", "first", data)
	mustPut(t, c, "rot", "late", data)
	obj := func(key string) fsm.ObjectInfo {
		o, err := n.fsm.Object("rot", key)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	// Header 96 bytes; 64 KiB blocks each followed by a 4-byte CRC.
	flipByte(t, n.blobPath(obj("first").Blobs[0].ID), 96+10)
	flipByte(t, n.blobPath(obj("late").Blobs[0].ID), 96+3*(64<<10+4)+10) // block 3

	_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("rot"), Key: aws.String("first")})
	wantCode(t, err, "InternalError", http.StatusInternalServerError)

	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("rot"), Key: aws.String("late")})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err == nil {
		t.Fatalf("a corrupt block was served: read %d bytes without error", len(got))
	}
	if len(got) > 3*(64<<10) || !bytes.Equal(got, data[:len(got)]) {
		t.Fatalf("read %d bytes before the failure; want only verified bytes before block 3", len(got))
	}
	// A range that avoids the bad block still reads.
	rng, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("rot"), Key: aws.String("late"), Range: aws.String("bytes=0-65535")})
	if err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(rng.Body)
	rng.Body.Close()
	if err != nil || !bytes.Equal(got, data[:65536]) {
		t.Fatalf("clean range: %d bytes, %v", len(got), err)
	}
	// A copy of a corrupt object fails and stores nothing.
	before := n.blobCount()
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("rot"), Key: aws.String("copy"), CopySource: aws.String("rot/late")})
	wantCode(t, err, "InternalError", http.StatusInternalServerError)
	if n.blobCount() != before {
		t.Fatal("a failed copy left a blob")
	}
	testutil.WaitUntil(t, 10*time.Second, "corrupt reads counted", func() bool { return n.metrics.get(MetricCorruptTotal) >= 3 })
}

// faultBackend interposes on Propose: before a PutObject of key "race" it deletes the
// (empty) bucket through the real engine, so the FSM rejects the write as a concurrent
// DeleteBucket would make it; for key "noquorum" it fails like a node without quorum.
type faultBackend struct {
	Backend
	proposedNoQuorum atomic.Bool
}

func (f *faultBackend) Propose(ctx context.Context, ev fsm.Event) (*fsm.Result, error) {
	if p, ok := ev.(*fsm.PutObject); ok {
		switch p.Key {
		case "race":
			if res, err := f.Backend.Propose(ctx, &fsm.DeleteBucket{Name: p.Bucket}); err != nil || res.Err != nil {
				return nil, fmt.Errorf("delete bucket: %v %v", err, res)
			}
		case "noquorum":
			f.proposedNoQuorum.Store(true)
			return nil, fmt.Errorf("propose: %w", engine.ErrNoQuorum)
		}
	}
	return f.Backend.Propose(ctx, ev)
}

func TestFailedCommitLeavesNothing(t *testing.T) {
	fb := &faultBackend{}
	n := startNode(t, t.TempDir(), nodeOpts{wrap: func(b Backend) Backend { fb.Backend = b; return fb }})
	c := n.client()
	ctx := ctxT(t)
	mustCreateBucket(t, c, "gone")
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("gone"), Key: aws.String("race"), Body: bytes.NewReader(randBytes(100_000, 3))})
	wantCode(t, err, "NoSuchBucket", http.StatusNotFound)
	if got := n.blobCount(); got != 0 {
		t.Fatalf("%d blobs left after a rejected commit", got)
	}
	if _, err := n.fsm.Object("gone", "race"); err == nil {
		t.Fatal("rejected object is visible")
	}

	mustCreateBucket(t, c, "flaky")
	resp, body := rawRequest(t, n.srv.URL, "PUT", "/flaky/noquorum", []byte("payload"), nil, time.Time{}, testSK)
	if resp.StatusCode != http.StatusServiceUnavailable || errorCode(t, body) != "ServiceUnavailable" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("no quorum: %d %s Retry-After %q", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	if !fb.proposedNoQuorum.Load() {
		t.Fatal("fault not reached")
	}
	if _, err := n.fsm.Object("flaky", "noquorum"); err == nil {
		t.Fatal("object visible after a failed commit")
	}
}

func TestRestartKeepsEveryObject(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, nodeOpts{})
	c := n.client()
	ctx := ctxT(t)
	mustCreateBucket(t, c, "keep")
	want := map[string][]byte{}
	for i := 0; i < 20; i++ {
		k := fmt.Sprintf("obj/%02d", i)
		want[k] = randBytes(i*7919+1, uint64(i))
		mustPut(t, c, "keep", k, want[k])
	}
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("keep"), Key: aws.String("multi")})
	if err != nil {
		t.Fatal(err)
	}
	p1, p2 := randBytes(5<<20, 100), randBytes(1234, 101)
	var cps []types.CompletedPart
	for i, p := range [][]byte{p1, p2} {
		o, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("keep"), Key: aws.String("multi"), UploadId: up.UploadId, PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p)})
		if err != nil {
			t.Fatal(err)
		}
		cps = append(cps, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: o.ETag})
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("keep"), Key: aws.String("multi"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: cps}}); err != nil {
		t.Fatal(err)
	}
	want["multi"] = append(append([]byte(nil), p1...), p2...)
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("keep"), Key: aws.String("obj/00")}); err != nil {
		t.Fatal(err)
	}
	delete(want, "obj/00")

	n.restart()
	c = n.client()
	lo, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("keep")})
	if err != nil || len(lo.Contents) != len(want) {
		t.Fatalf("after restart: %d objects (%v), want %d", len(lo.Contents), err, len(want))
	}
	for k, v := range want {
		if got := mustGet(t, c, "keep", k); !bytes.Equal(got, v) {
			t.Fatalf("%s: %d bytes after restart, want %d identical", k, len(got), len(v))
		}
	}
	if got := n.blobCount(); got != len(want)+1 { // multi has two blobs
		t.Fatalf("%d blobs after restart, want %d", got, len(want)+1)
	}
}

// genReader yields size deterministic bytes without holding them, and can seek (so the SDK
// can hash it and rewind).
type genReader struct {
	size, off int64
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.off >= g.size {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), g.size-g.off)]
	for i := range p {
		x := uint64(g.off + int64(i))
		p[i] = byte(x*0x9E3779B1>>13) ^ byte(x>>20)
	}
	g.off += int64(len(p))
	return len(p), nil
}

func (g *genReader) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		g.off = off
	case io.SeekCurrent:
		g.off += off
	case io.SeekEnd:
		g.off = g.size + off
	}
	return g.off, nil
}

// TestLargeUploadMemoryFlat streams a 96 MiB object in and out and checks the heap stays
// far below the object size.
func TestLargeUploadMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 96 MiB")
	}
	n := startNode(t, t.TempDir(), nodeOpts{})
	c := n.client()
	mustCreateBucket(t, c, "large")
	const size = 96 << 20
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	go func() {
		defer close(done)
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
		}
	}()
	_, err := c.PutObject(ctxT(t), &s3.PutObjectInput{Bucket: aws.String("large"), Key: aws.String("big"), Body: &genReader{size: size}},
		s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
	if err != nil {
		close(stop)
		<-done
		t.Fatal(err)
	}
	out, err := c.GetObject(ctxT(t), &s3.GetObjectInput{Bucket: aws.String("large"), Key: aws.String("big")})
	if err != nil {
		t.Fatal(err)
	}
	hGot, hWant := md5.New(), md5.New()
	nr, err := io.Copy(hGot, out.Body)
	out.Body.Close()
	close(stop)
	<-done
	if err != nil || nr != size {
		t.Fatalf("read %d bytes: %v", nr, err)
	}
	io.Copy(hWant, &genReader{size: size})
	if !bytes.Equal(hGot.Sum(nil), hWant.Sum(nil)) {
		t.Fatal("large object read back differs")
	}
	grew := int64(peak.Load()) - int64(base)
	t.Logf("heap in use grew by at most %d KiB while streaming %d MiB", grew>>10, size>>20)
	if grew > 32<<20 {
		t.Fatalf("heap grew by %d MiB for a %d MiB object: not streaming", grew>>20, size>>20)
	}
}

// otherNode is the backend of the same engine on a node named "elsewhere" with its own
// transport, blob store and data plane (a cluster of one, which n's data plane cannot reach).
func otherNode(t *testing.T, n *node) Backend {
	other, err := blob.Open(t.TempDir(), blob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := transport.New(transport.Config{BindAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	d := dataplane.New(dataplane.Config{Local: other, Transport: tr, Self: "elsewhere", HoldsData: true})
	t.Cleanup(func() {
		_ = tr.Close()
		d.Close()
		_ = other.Close()
	})
	return NewBackend(n.eng, n.fsm, d)
}

// TestDataOnAnotherNode: an object whose blob is held only by another node, which a local-only
// backend cannot reach, is refused with 503, not served as corrupt or missing.
func TestDataOnAnotherNode(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	srv := newTestServer(t, NewHandler(Options{Backend: otherNode(t, n), Credentials: []Credentials{{AccessKey: testAK, SecretKey: testSK}}}))
	oc := sdkClient(srv.URL, testSK, &http.Client{})
	mustCreateBucket(t, oc, "placed")
	mustPut(t, oc, "placed", "k", []byte("bytes held by 'elsewhere'"))
	if got := mustGet(t, oc, "placed", "k"); string(got) != "bytes held by 'elsewhere'" {
		t.Fatalf("holder read %q", got)
	}
	_, err := n.client().GetObject(ctxT(t), &s3.GetObjectInput{Bucket: aws.String("placed"), Key: aws.String("k")})
	wantCode(t, err, "ServiceUnavailable", http.StatusServiceUnavailable)
	if n.metrics.get(MetricCorruptTotal) != 0 {
		t.Fatal("data on another node counted as corrupt")
	}
}

// stallReader yields n bytes, then blocks until release is closed.
type stallReader struct {
	n       int
	release chan struct{}
}

func (s *stallReader) Read(p []byte) (int, error) {
	if s.n == 0 {
		<-s.release
		return 0, io.ErrUnexpectedEOF
	}
	p = p[:min(len(p), s.n)]
	for i := range p {
		p[i] = 'x'
	}
	s.n -= len(p)
	return len(p), nil
}

// TestStalledUploadTimesOut: a client that stops sending mid-body is cut off after the idle
// timeout, and its partial blob is not kept.
func TestStalledUploadTimesOut(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	srv := newTestServer(t, NewHandler(Options{Backend: n.backend, Credentials: []Credentials{{AccessKey: testAK, SecretKey: testSK}},
		IdleTimeout: 300 * time.Millisecond, Metrics: n.metrics}))
	mustCreateBucket(t, n.client(), "slow")
	body := &stallReader{n: 1000, release: make(chan struct{})}
	defer close(body.release)
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/slow/stalled", body)
	req.ContentLength = 100_000
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	if err := v4.NewSigner().SignHTTP(ctxT(t), aws.Credentials{AccessKeyID: testAK, SecretAccessKey: testSK}, req, "UNSIGNED-PAYLOAD", "s3", testRegion, time.Now()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	done := make(chan *http.Response, 1)
	go func() {
		resp, err := (&http.Client{}).Do(req)
		if err != nil {
			done <- nil
			return
		}
		done <- resp
	}()
	select {
	case resp := <-done:
		if resp != nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "RequestTimeout") {
				t.Fatalf("stalled upload answered %d %s", resp.StatusCode, b)
			}
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a stalled upload was not cut off")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("cut off after %s", took)
	}
	testutil.WaitUntil(t, 10*time.Second, "the timeout recorded", func() bool { return n.metrics.get(MetricErrorsTotal) >= 1 })
	if got := n.blobCount(); got != 0 {
		t.Fatalf("%d blobs left by a stalled upload", got)
	}
	if _, err := n.fsm.Object("slow", "stalled"); err == nil {
		t.Fatal("stalled upload is visible")
	}
}
