package dataplane

import (
	"bytes"
	"context"
	"crypto/md5" //nolint:gosec // the S3 ETag
	"crypto/sha256"
	"encoding/json"
	"errors"
	"hash/crc32"
	"slices"
	"strings"
	"testing"

	"github.com/nebulaio/nebulaio/dataplane/blob"
	"github.com/nebulaio/nebulaio/transport"
)

func TestTrailerRoundTripAndDefects(t *testing.T) {
	d := blob.Digests{CRC32C: 0xdeadbeef}
	d.MD5[0], d.SHA256[31] = 1, 2
	for _, in := range []blob.Digests{d, {CRCOnly: true, CRC32C: 7}} {
		got, err := decodeTrailer(encodeTrailer(in))
		if err != nil || got != in {
			t.Fatalf("round trip of %+v: %+v, %v", in, got, err)
		}
	}
	good := encodeTrailer(d)
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"none", nil, "sent none"},
		{"short", good[:trailerSize-1], "53 bytes"},
		{"long", append(slices.Clone(good), 0), "55 bytes"},
		{"version", append([]byte{2}, good[1:]...), "version 2"},
		{"flags", append([]byte{1, 2}, good[2:]...), "flags 0x2"},
	} {
		if _, err := decodeTrailer(c.b); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.want)
		}
	}
}

// TestReplicasStoreTheSendersDigests: a fanned-out write's replicas (the local one through
// Expect.Sent, the remote ones through the stream's trailer) record the digests of the bytes,
// and each holds exactly those bytes.
func TestReplicasStoreTheSendersDigests(t *testing.T) {
	c := newDataCluster(t, 3, 3)
	for i, size := range []int{0, 1000, fanoutChunk*2 + 3} {
		data := randomBytes(int64(40+i), size)
		id := "sent-" + string(rune('a'+i))
		md := md5.Sum(data) //nolint:gosec // see import
		sh := sha256.Sum256(data)
		info, nodes, err := c.nodes["d1"].d.Put(context.Background(), id, bytes.NewReader(data), blob.Expect{Size: int64(size), MD5: md[:], SHA256: sh[:]})
		if err != nil {
			t.Fatalf("put %d bytes: %v", size, err)
		}
		if len(nodes) < 2 || info.MD5 != md {
			t.Fatalf("put %d bytes: on %v with MD5 %x, want %x", size, nodes, info.MD5, md)
		}
		for _, n := range c.holders(id) {
			st := c.nodes[n].store
			got, err := st.Stat(id)
			if err != nil {
				t.Fatal(err)
			}
			if got.MD5 != md || got.SHA256 != sh || got.CRC32C != crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)) || got.CRCOnly {
				t.Fatalf("%s holds %s with %+v, want the digests of its %d bytes", n, id, got, size)
			}
			if err := st.Verify(id); err != nil {
				t.Fatalf("%s: verify %s: %v", n, id, err)
			}
		}
	}
}

// TestFanOutRefusesDigestMismatchBeforePublishing: a body that does not match its Content-MD5
// (or payload hash) fails at the sender, and no replica publishes it.
func TestFanOutRefusesDigestMismatchBeforePublishing(t *testing.T) {
	c := newDataCluster(t, 3, 3)
	data := randomBytes(50, fanoutChunk+10)
	md := md5.Sum(data) //nolint:gosec // see import
	sh := sha256.Sum256(data)
	wrongMD5, wrongSHA := md, sh
	wrongMD5[0]++
	wrongSHA[0]++
	for _, e := range []blob.Expect{
		{Size: int64(len(data)), MD5: wrongMD5[:]},
		{Size: int64(len(data)), MD5: md[:], SHA256: wrongSHA[:]},
		{Size: int64(len(data)), CRC32C: []byte{1, 2, 3, 4}},
	} {
		_, _, err := c.nodes["d2"].d.Put(context.Background(), "bad", bytes.NewReader(data), e)
		if !errors.Is(err, ErrDigestMismatch) {
			t.Fatalf("put with %+v: %v, want ErrDigestMismatch", e, err)
		}
		if h := c.holders("bad"); len(h) != 0 {
			t.Fatalf("a refused write left copies on %v", h)
		}
	}
}

// TestBlobPutTrailerAnnouncedButMissing: a stream that announces its digests and ends without
// them stores nothing; one that does not announce them is hashed by the receiver.
func TestBlobPutTrailerAnnouncedButMissing(t *testing.T) {
	c := newDataCluster(t, 2, 1)
	data := []byte("bytes without their digests")
	addr, _ := c.resolve("d2")
	for _, trailer := range []bool{true, false} {
		hdr, _ := json.Marshal(blobPutReq{ID: "t", Size: int64(len(data)), Trailer: trailer})
		_, err := c.nodes["d1"].trans.CallStream(context.Background(), addr, methodBlobPut, hdr, bytes.NewReader(data))
		if trailer {
			if err == nil || !strings.Contains(err.Error(), "sent none") {
				t.Fatalf("announced trailer, none sent: %v", err)
			}
			if _, err := c.nodes["d2"].store.Stat("t"); !errors.Is(err, blob.ErrNotFound) {
				t.Fatalf("blob published without its digests: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("no trailer announced: %v", err)
		}
		if got, err := c.nodes["d2"].store.Stat("t"); err != nil || got.MD5 != md5.Sum(data) { //nolint:gosec // see import
			t.Fatalf("receiver-hashed blob: %+v %v", got, err)
		}
	}
}

// TestBlobPutTrailerWrongCRC: digests that do not describe the bytes received are refused.
func TestBlobPutTrailerWrongCRC(t *testing.T) {
	c := newDataCluster(t, 2, 1)
	data := randomBytes(60, 3*fanoutChunk)
	addr, _ := c.resolve("d2")
	rs := &replicaStream{}
	dg := blob.NewDigester(false)
	dg.Write(data[1:]) // the digests of other bytes
	rs.sent = dg.Sum()
	body := &trailered{r: bytes.NewReader(data), rs: rs}
	hdr, _ := json.Marshal(blobPutReq{ID: "w", Size: int64(len(data)), Trailer: true})
	if _, err := c.nodes["d1"].trans.CallStream(context.Background(), addr, methodBlobPut, hdr, body); err == nil {
		t.Fatal("a trailer with another CRC32C was accepted")
	}
	if _, err := c.nodes["d2"].store.Stat("w"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("blob published with wrong digests: %v", err)
	}
}

// TestBlobPutTrailerIsNotRehashed: the receiver records the sender's MD5 and SHA-256 (it checks
// only the CRC32C), which is what saves it hashing the bytes again.
func TestBlobPutTrailerIsNotRehashed(t *testing.T) {
	c := newDataCluster(t, 2, 1)
	data := randomBytes(61, fanoutChunk+1)
	addr, _ := c.resolve("d2")
	rs := &replicaStream{}
	dg := blob.NewDigester(false)
	dg.Write(data)
	rs.sent = dg.Sum()
	rs.sent.MD5[0]++ // what only a rehash would notice
	hdr, _ := json.Marshal(blobPutReq{ID: "m", Size: int64(len(data)), Trailer: true})
	if _, err := c.nodes["d1"].trans.CallStream(context.Background(), addr, methodBlobPut, hdr, &trailered{r: bytes.NewReader(data), rs: rs}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.nodes["d2"].store.Stat("m"); err != nil || got.MD5 != rs.sent.MD5 {
		t.Fatalf("stored %+v (%v), want the sender's MD5 %x", got, err, rs.sent.MD5)
	}
}

type trailered struct {
	r  *bytes.Reader
	rs *replicaStream
}

func (b *trailered) Read(p []byte) (int, error) { return b.r.Read(p) }
func (b *trailered) Trailer() []byte            { return encodeTrailer(b.rs.sent) }

var _ transport.TrailerReader = (*trailered)(nil)

// TestErasureShardsAreCRCOnly: shards, written and rebuilt, carry CRC32C only, verify, and
// the object reads back whole.
func TestErasureShardsAreCRCOnly(t *testing.T) {
	c := newDataCluster(t, 4, 3, withErasure(2, 1, 1))
	data := randomBytes(70, 300<<10+7)
	ref := putECBlob(t, c, "d1", data)
	check := func(when string) {
		for _, sid := range blobIDs(ref.ID) {
			for _, n := range c.holders(sid) {
				st := c.nodes[n].store
				info, err := st.Stat(sid)
				if err != nil || !info.CRCOnly || info.MD5 != ([16]byte{}) {
					t.Fatalf("%s: shard %s on %s: %+v %v, want CRC-only", when, sid, n, info, err)
				}
				if err := st.Verify(sid); err != nil {
					t.Fatalf("%s: verify shard %s on %s: %v", when, sid, n, err)
				}
			}
		}
	}
	check("written")
	holder := c.shardHolders(ref.ID)
	lost := 0
	if holder[0][0] == "d1" {
		lost = 1
	}
	node := holder[lost][0]
	if err := c.nodes[node].store.Delete(shardID(ref.ID, lost)); err != nil {
		t.Fatal(err)
	}
	l, _ := parseEC(ref.ID)
	spare := ""
	for _, n := range c.order {
		if !slices.ContainsFunc(holder, func(h []string) bool { return slices.Contains(h, n) }) {
			spare = n
		}
	}
	if err := c.nodes["d1"].d.rebuildShard(context.Background(), ref, l, lost, spare); err != nil {
		t.Fatalf("rebuild shard %d on %s: %v", lost, spare, err)
	}
	check("rebuilt")
	if got := readAll(t, c.nodes["d1"].d, ref.ID, nil, 0, -1); !bytes.Equal(got, data) {
		t.Fatal("read after rebuild differs")
	}
}
