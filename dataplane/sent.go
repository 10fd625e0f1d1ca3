package dataplane

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/nebulaio/nebulaio/dataplane/blob"
	"github.com/nebulaio/nebulaio/transport"
)

// Digests computed once, by the sender.
//
// The node that receives an object's bytes (from the S3 layer, or a repair rebuilding a shard)
// computes their digests once, while it streams them to the replicas or shards, and sends them
// after the last byte: in the end frame of each blob.put stream (transport.TrailerReader), or
// through blob.Expect.Sent for its own store. A replica then computes only CRC32C — the per-block
// CRCs its file needs and the whole-data CRC32C, which must equal the sender's — instead of MD5
// and SHA-256 again (MD5 runs at about 320 MB/s here, CRC32C at 7 GB/s). The bytes a replica
// stored are the bytes the sender hashed: each frame carries its own CRC32C, and the whole-data
// CRC32C is compared at the end.
//
// Erasure-coded shards carry no MD5 or SHA-256 at all (blob.Digests.CRCOnly): nothing reads a
// shard's MD5 (the object's is computed over the whole body by the writer), and scrub checks a
// CRC-only blob by its CRC32C.
//
// Compatibility: the sender sets blobPutReq.Trailer only alongside a trailer; a node older than
// this one ignores the field and the trailer and hashes the bytes itself, and a sender older than
// this one sends neither, so its replicas hash as before.

// Trailer layout (54 bytes, integers big-endian):
//
//	off len field
//	  0   1 version (1)
//	  1   1 flags: bit 0 CRC-only (MD5 and SHA-256 are zero)
//	  2  16 MD5
//	 18  32 SHA-256
//	 50   4 CRC32C (Castagnoli) of the data
const (
	trailerVersion = 1
	trailerSize    = 54
)

// errNoTrailer: a blob.put announced a trailer and its stream ended without one.
var errNoTrailer = errors.New("dataplane: the sender announced digests after the data and sent none")

func encodeTrailer(d blob.Digests) []byte {
	b := make([]byte, trailerSize)
	b[0] = trailerVersion
	if d.CRCOnly {
		b[1] = 1
	}
	copy(b[2:18], d.MD5[:])
	copy(b[18:50], d.SHA256[:])
	binary.BigEndian.PutUint32(b[50:54], d.CRC32C)
	return b
}

func decodeTrailer(b []byte) (blob.Digests, error) {
	var d blob.Digests
	switch {
	case b == nil:
		return d, errNoTrailer
	case len(b) != trailerSize:
		return d, fmt.Errorf("dataplane: blob put trailer of %d bytes, want %d", len(b), trailerSize)
	case b[0] != trailerVersion:
		return d, fmt.Errorf("dataplane: blob put trailer version %d, want %d", b[0], trailerVersion)
	case b[1]&^1 != 0:
		return d, fmt.Errorf("dataplane: blob put trailer flags %#x unknown", b[1])
	}
	d.CRCOnly = b[1]&1 != 0
	copy(d.MD5[:], b[2:18])
	copy(d.SHA256[:], b[18:50])
	d.CRC32C = binary.BigEndian.Uint32(b[50:54])
	return d, nil
}

// sentBody is the body of one stream of a fanned-out write: its pipe, and the digests the
// writer stores in the stream (replicaStream.sent) before it closes the pipe.
type sentBody struct{ rs *replicaStream }

var _ transport.TrailerReader = sentBody{}

func (b sentBody) Read(p []byte) (int, error) { return b.rs.pr.Read(p) }

// Trailer is called once the pipe returned io.EOF, which the writer's Close after setting
// rs.sent precedes (the pipe orders the two).
func (b sentBody) Trailer() []byte { return encodeTrailer(b.rs.sent) }

// sentExpect is expect with the digests of rs as its Sent.
func sentExpect(expect blob.Expect, rs *replicaStream) blob.Expect {
	expect.Sent = func() (blob.Digests, error) { return rs.sent, nil }
	return expect
}

// checkSent compares what the client declared (Content-MD5, a payload hash, a checksum) with the
// digests of the bytes read, so that a mismatch fails the write before any replica publishes.
func checkSent(id string, expect blob.Expect, d blob.Digests) error {
	if err := expect.Check(d); err != nil {
		return fmt.Errorf("blob %s: %w", id, err)
	}
	return nil
}

// hashChunk feeds p to dg in a goroutine of its own, so that the digests are computed while the
// chunk goes to the replicas; the returned channel is closed when dg is done with p.
func hashChunk(dg io.Writer, p []byte) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = dg.Write(p)
	}()
	return done
}
