package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/nebulaio/nebulaio/dataplane"
	"github.com/nebulaio/nebulaio/internal/vfs"
)

// errorMessage returns the Message of an S3 error document.
func errorMessage(t *testing.T, body []byte) string {
	t.Helper()
	return errorDoc(t, body).Message
}

// TestDiskFullAnswers507 fills a node's (in-memory) disk (issue 22: PUTs past the limit
// answered 500). PUTs past the free-space reserve answer 507 InsufficientStorage naming the
// node, and so do a multipart part and a copy; the objects stored before read back intact, the
// node serves listings and deletes, and once deletes freed space PUTs work again.
func TestDiskFullAnswers507(t *testing.T) {
	mem := vfs.NewMem()
	n := startNode(t, "/node", nodeOpts{fs: mem, minFree: 1 << 20})
	c := n.client()
	ctx := ctxT(t)
	mustCreateBucket(t, c, "full")
	mem.SetCapacity(mem.Used() + 3<<20) // 3 MiB left, of which 1 MiB is the reserve

	const size = 400 << 10
	stored := map[string][]byte{}
	var resp *http.Response
	var body []byte
	for i := 0; ; i++ {
		key := fmt.Sprintf("obj-%02d", i)
		data := randBytes(size, uint64(i))
		resp, body = rawRequest(t, n.srv.URL, "PUT", "/full/"+key, data, nil, time.Time{}, testSK)
		if resp.StatusCode != http.StatusOK {
			break
		}
		stored[key] = data
		if i == 20 {
			t.Fatal("20 PUTs of 400 KiB fitted on a disk with 3 MiB free")
		}
	}
	if resp.StatusCode != http.StatusInsufficientStorage || errorCode(t, body) != "InsufficientStorage" ||
		!strings.Contains(errorMessage(t, body), "s3-node") {
		t.Fatalf("PUT past the reserve: %d %s; want 507 InsufficientStorage naming the node", resp.StatusCode, body)
	}
	if len(stored) < 3 {
		t.Fatalf("only %d PUTs went through before the reserve", len(stored))
	}
	if sp, _ := mem.Space("/"); sp.Free < 1<<20-size {
		t.Fatalf("%d bytes free: the reserve was eaten into", sp.Free)
	}

	// A part and a copy are blob writes too.
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("full"), Key: aws.String("mp")})
	if err != nil {
		t.Fatalf("CreateMultipartUpload on a full disk (metadata only): %v", err)
	}
	_, err = c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("full"), Key: aws.String("mp"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(randBytes(size, 99))})
	wantCode(t, err, "InsufficientStorage", http.StatusInsufficientStorage)
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("full"), Key: aws.String("copy"), CopySource: aws.String("full/obj-00")})
	wantCode(t, err, "InsufficientStorage", http.StatusInsufficientStorage)
	var api smithy.APIError
	if errors.As(err, &api) && !strings.Contains(api.ErrorMessage(), "s3-node") {
		t.Fatalf("copy refusal does not name the node: %q", api.ErrorMessage())
	}

	// Reads, listings and deletes still work.
	for key, data := range stored {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("full"), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("GET %s on a full disk: %v", key, err)
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("GET %s on a full disk: %d bytes, %v", key, len(got), err)
		}
	}
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("full")})
	if err != nil || len(list.Contents) != len(stored) {
		t.Fatalf("list on a full disk: %v, %v", list, err)
	}
	if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("full"), Key: aws.String("mp"), UploadId: up.UploadId}); err != nil {
		t.Fatalf("abort on a full disk: %v", err)
	}
	for _, key := range []string{"obj-00", "obj-01"} {
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("full"), Key: aws.String(key)}); err != nil {
			t.Fatalf("DELETE %s on a full disk: %v", key, err)
		}
	}
	n.blobCount() // waits for the deletions of the freed blobs
	if resp, body := rawRequest(t, n.srv.URL, "PUT", "/full/after", randBytes(size, 100), nil, time.Time{}, testSK); resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT after deletes freed space: %d %s", resp.StatusCode, body)
	}
}

// TestWALWriteFailureStatus fails the WAL's append under a PUT (its blob is written): a full
// disk answers 507 naming the node, an fdatasync EIO 503 with Retry-After - never 500 - and the
// node keeps answering.
func TestWALWriteFailureStatus(t *testing.T) {
	wal := vfs.MatchBase("*.wal", "next.spare")
	for _, tc := range []struct {
		name   string
		fault  vfs.Fault
		status int
		code   string
	}{
		{"ENOSPC", vfs.Fault{Ops: vfs.OpWrite | vfs.OpTruncate, Path: wal, Err: vfs.ErrNoSpace}, http.StatusInsufficientStorage, "InsufficientStorage"},
		{"fdatasync EIO", vfs.Fault{Ops: vfs.OpSync, Path: wal}, http.StatusServiceUnavailable, "ServiceUnavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			disk := vfs.NewFaulty(vfs.OS)
			n := startNode(t, t.TempDir(), nodeOpts{fs: disk})
			mustCreateBucket(t, n.client(), "walfail")
			disk.Inject(tc.fault)
			resp, body := rawRequest(t, n.srv.URL, "PUT", "/walfail/k", []byte("payload"), nil, time.Time{}, testSK)
			if resp.StatusCode != tc.status || errorCode(t, body) != tc.code || !strings.Contains(errorMessage(t, body), "s3-node") {
				t.Fatalf("PUT with a failing WAL: %d %s; want %d %s naming the node", resp.StatusCode, body, tc.status, tc.code)
			}
			if tc.status == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
				t.Fatal("503 without Retry-After")
			}
			if disk.Failures() == 0 {
				t.Fatal("the fault was not hit")
			}
			// The node is still up: the next write is refused cleanly too.
			resp, body = rawRequest(t, n.srv.URL, "PUT", "/walfail/k2", []byte("payload"), nil, time.Time{}, testSK)
			if resp.StatusCode != http.StatusInsufficientStorage && resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("second PUT with a failing WAL: %d %s", resp.StatusCode, body)
			}
		})
	}
}

// failingPlane is a DataPlane whose writes fail with err.
type failingPlane struct {
	DataPlane
	err error
}

func (f failingPlane) Put(ctx context.Context, id string, r io.Reader, expect dataplane.Expect) (dataplane.Info, []string, error) {
	return dataplane.Info{}, nil, f.err
}

// TestPutBlobErrorStatus: the data plane's write failures (as its three-node fault tests
// produce them) reach S3 clients as 507 when space alone missed the write, 503 when replicas
// failed otherwise (two of three with EIO: the write quorum), never 500.
func TestPutBlobErrorStatus(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		status int
	}{
		{"quorum missed by EIO", fmt.Errorf("%w: 2 of 3 replicas needed: d1: input/output error", dataplane.ErrWriteQuorum), http.StatusServiceUnavailable},
		{"quorum missed for space", fmt.Errorf("%w: %w: node d2 is full", dataplane.ErrWriteQuorum, dataplane.ErrNoSpace), http.StatusInsufficientStorage},
		{"the only replica is full", fmt.Errorf("%w: 1 of 1 replicas needed: %w", dataplane.ErrWriteQuorum, dataplane.ErrNoSpace), http.StatusInsufficientStorage},
		{"the only remote replica is full", fmt.Errorf("%w: %w", dataplane.ErrNoStorageNode, dataplane.ErrNoSpace), http.StatusInsufficientStorage},
		{"no storage node", dataplane.ErrNoStorageNode, http.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &backend{data: failingPlane{err: tc.err}}
			_, _, _, err := b.PutBlob(context.Background(), "id", bytes.NewReader(nil), 0, nil)
			if got := toAPIError(err); got.Status != tc.status {
				t.Fatalf("%v answered %d %s, want %d", tc.err, got.Status, got.Code, tc.status)
			}
		})
	}
}

// TestDiskFullOnTmpfs runs a node on a real 64 MiB file system (tmpfs; it needs root and a mount
// that succeeds, and skips otherwise): with the reserve and without it (then a blob is still
// refused when the free space is below its own size), PUTs go through until the disk is full,
// then answer 507 naming the node; every object stored before reads back intact; deletes still
// commit, and once they freed space PUTs work again. The node is never restarted.
func TestDiskFullOnTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	for _, tc := range []struct {
		name    string
		minFree int64
	}{
		{"reserve", 8 << 20},
		{"no reserve", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64m"); err != nil {
				t.Skipf("cannot mount a tmpfs: %v", err)
			}
			t.Cleanup(func() {
				if err := syscall.Unmount(dir, 0); err != nil {
					t.Errorf("unmount %s: %v", dir, err)
				}
			})
			n := startNode(t, dir, nodeOpts{minFree: tc.minFree})
			c := n.client()
			ctx := ctxT(t)
			mustCreateBucket(t, c, "tmpfs")
			const size = 1 << 20
			var keys []string
			var resp *http.Response
			var body []byte
			for i := 0; ; i++ {
				key := fmt.Sprintf("obj-%03d", i)
				resp, body = rawRequest(t, n.srv.URL, "PUT", "/tmpfs/"+key, randBytes(size, uint64(i)), nil, time.Time{}, testSK)
				if resp.StatusCode != http.StatusOK {
					break
				}
				keys = append(keys, key)
				if i == 100 {
					t.Fatal("100 MiB of objects fitted on a 64 MiB file system")
				}
			}
			if resp.StatusCode != http.StatusInsufficientStorage || !strings.Contains(errorMessage(t, body), "s3-node") {
				t.Fatalf("PUT on a full tmpfs after %d objects: %d %s; want 507 naming the node", len(keys), resp.StatusCode, body)
			}
			var st syscall.Statfs_t
			if err := syscall.Statfs(dir, &st); err != nil {
				t.Fatal(err)
			}
			free := int64(st.Bavail) * st.Bsize
			t.Logf("%d objects of 1 MiB stored, %d bytes free when refused", len(keys), free)
			if len(keys) < 20 {
				t.Fatalf("only %d MiB of objects on a 64 MiB file system", len(keys))
			}
			if tc.minFree > 0 && free < tc.minFree {
				t.Fatalf("%d bytes free: the %d-byte reserve was used", free, tc.minFree)
			}
			for i, key := range keys {
				if got := mustGet(t, c, "tmpfs", key); !bytes.Equal(got, randBytes(size, uint64(i))) {
					t.Fatalf("GET %s on a full disk: wrong bytes", key)
				}
			}
			for _, key := range keys[:len(keys)/2] {
				if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("tmpfs"), Key: aws.String(key)}); err != nil {
					t.Fatalf("DELETE %s on a full disk: %v", key, err)
				}
			}
			n.blobCount() // waits for the freed blobs' deletion
			for i := range 5 {
				if resp, body := rawRequest(t, n.srv.URL, "PUT", fmt.Sprintf("/tmpfs/again-%d", i), randBytes(size, 1000+uint64(i)), nil, time.Time{}, testSK); resp.StatusCode != http.StatusOK {
					t.Fatalf("PUT after deletes freed space: %d %s", resp.StatusCode, body)
				}
			}
		})
	}
}
