package s3

import (
	"bytes"
	"io"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestReadsDuringOverwrites: readers of a key that is overwritten and deleted over and over
// always get one whole version (never a mix, never a 500): the blob an overwrite frees is
// deleted only after the commit, and a GET that finds its blob gone starts over.
func TestReadsDuringOverwrites(t *testing.T) {
	n := startNode(t, t.TempDir(), nodeOpts{})
	c := n.client()
	mustCreateBucket(t, c, "hot")
	const size = 150_000
	version := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, size) }
	mustPut(t, c, "hot", "k", version(0))

	var stop atomic.Bool
	var reads, notFound atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				out, err := c.GetObject(ctxT(t), &s3.GetObjectInput{Bucket: aws.String("hot"), Key: aws.String("k")})
				if apiCode(err) == "NoSuchKey" {
					notFound.Add(1)
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				b, err := io.ReadAll(out.Body)
				out.Body.Close()
				if err != nil {
					errs <- err
					return
				}
				if len(b) != size || !bytes.Equal(b, bytes.Repeat(b[:1], size)) {
					errs <- errMixed
					return
				}
				reads.Add(1)
			}
		}()
	}
	for i := 1; i <= 40; i++ {
		if i%10 == 0 {
			if _, err := c.DeleteObject(ctxT(t), &s3.DeleteObjectInput{Bucket: aws.String("hot"), Key: aws.String("k")}); err != nil {
				t.Fatal(err)
			}
		}
		mustPut(t, c, "hot", "k", version(i))
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("reader: %v", err)
	}
	if reads.Load() == 0 {
		t.Fatal("no read completed")
	}
	if got := n.metrics.get(MetricCorruptTotal); got != 0 {
		t.Fatalf("%v reads reported corrupt or missing data", got)
	}
	if got := n.blobCount(); got != 1 {
		t.Fatalf("%d blobs, want 1", got)
	}
	t.Logf("%d whole reads, %d NoSuchKey during 40 overwrites", reads.Load(), notFound.Load())
}

var errMixed = &Error{Code: "test", Message: "a read mixed two versions or was short"}
