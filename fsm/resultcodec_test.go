package fsm

import (
	"reflect"
	"testing"
)

func TestResultCodecRoundTrip(t *testing.T) {
	var c ResultCodec
	for _, r := range []*Result{
		{Err: &Error{Code: CodeNoSuchBucket, Message: "no bucket b"}},
		{Object: &ObjectInfo{Bucket: "b", Key: "k", Size: 3, ETag: "x", Blobs: []Blob{{ID: "id", Size: 3, Nodes: []string{"n1"}}}}, FreedBlobs: []string{"old"}},
		{Deleted: []DeleteResult{{Key: "a"}, {Key: "b", Err: &Error{Code: "NoSuchKey"}}}},
	} {
		b, err := c.EncodeResult(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.DecodeResult(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Fatalf("round trip: got %+v, want %+v", got, r)
		}
	}
	if got, err := c.DecodeResult([]byte("null")); err != nil || got != nil {
		t.Fatalf("nil result: %v, %v", got, err)
	}
	if _, err := c.EncodeResult(42); err == nil {
		t.Fatal("encoding an int succeeded")
	}
}
