package backup

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/nebulaio/nebulaio/dataplane/blob"
)

// TestCheckErasureCodedBlob: an erasure-coded blob (2+1, 1000 bytes: shards of 500) is whole
// in a directory with any two intact shards; one shard, or a shard of another size, is too
// few (ErrBlobShards); none is missing.
func TestCheckErasureCodedBlob(t *testing.T) {
	const id = "0123456789abcdef0123456789abcdef.e2p1b64n1000"
	dir := t.TempDir()
	store, err := blob.Open(dir, blob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	put := func(sid string, n int) {
		t.Helper()
		if _, err := store.Put(context.Background(), sid, bytes.NewReader(make([]byte, n)), blob.Expect{Size: int64(n)}); err != nil {
			t.Fatal(err)
		}
	}
	v, err := blob.NewVerifier(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := BlobEntry{ID: id, Size: 1000, MD5: "00000000000000000000000000000000"}
	if err := checkBlob(v, e, true); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("no shard: %v", err)
	}
	put(id+".s0", 500)
	put(id+".s2", 499)
	if err := checkBlob(v, e, false); !errors.Is(err, ErrBlobShards) || !errors.Is(err, ErrBlobSize) {
		t.Fatalf("one intact shard and one of another size: %v", err)
	}
	put(id+".s1", 500)
	if err := checkBlob(v, e, true); err != nil {
		t.Fatalf("two intact shards: %v", err)
	}
}
