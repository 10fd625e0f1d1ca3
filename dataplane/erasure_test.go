package dataplane

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/nebulaio/nebulaio/dataplane/blob"
	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/internal/testutil"
)

// withErasure turns erasure coding K+M on for blobs of at least minSize bytes.
func withErasure(k, m int, minSize int64) nodeOption {
	return func(_ string, _ *blob.Options, cfg *Config) {
		cfg.ErasureData, cfg.ErasureParity, cfg.ErasureMinSize = k, m, minSize
	}
}

// putEC writes data through node via with an ID NewBlobID chose (which must be
// erasure-coded) and returns its reference.
func putECBlob(t *testing.T, c *dataCluster, via string, data []byte) fsm.BlobRef {
	t.Helper()
	d := c.nodes[via].d
	id := d.NewBlobID(int64(len(data)))
	if _, ok := parseEC(id); !ok {
		t.Fatalf("NewBlobID(%d) = %q: not erasure-coded", len(data), id)
	}
	sum := md5.Sum(data)
	info, nodes, err := d.Put(context.Background(), id, bytes.NewReader(data), blob.Expect{Size: int64(len(data)), MD5: sum[:]})
	if err != nil {
		t.Fatalf("put %s: %v", id, err)
	}
	if info.Size != int64(len(data)) || info.MD5 != sum {
		t.Fatalf("put %s: info %d bytes md5 %x, want %d %x", id, info.Size, info.MD5, len(data), sum)
	}
	return blobRef(id, len(data), nodes)
}

// shardHolders maps each shard of ref to the nodes whose stores hold it.
func (c *dataCluster) shardHolders(id string) [][]string {
	var out [][]string
	for _, sid := range blobIDs(id) {
		out = append(out, c.holders(sid))
	}
	return out
}

func TestErasureLayoutIDs(t *testing.T) {
	l := ecLayout{k: 2, m: 1, block: 64 << 10, size: 1 << 20}
	id := "0123456789abcdef0123456789abcdef." + l.suffix()
	if id != "0123456789abcdef0123456789abcdef.e2p1b64n1048576" {
		t.Fatalf("id %s", id)
	}
	if got, ok := parseEC(id); !ok || got != l {
		t.Fatalf("parseEC(%s) = %+v %v", id, got, ok)
	}
	for _, bad := range []string{"0123456789abcdef0123456789abcdef", "x.e2p1b64n10", "0123456789abcdef0123456789abcdef.e2p0b64n10",
		"0123456789abcdef0123456789abcdef.e2p1b64n010", "0123456789abcdef0123456789abcdef.e2p1b64n10.s0"} {
		if _, ok := parseEC(bad); ok {
			t.Errorf("parseEC(%q) accepted", bad)
		}
	}
	if base, i, got, ok := parseShard(shardID(id, 2)); !ok || base != id || i != 2 || got != l {
		t.Fatalf("parseShard: %s %d %+v %v", base, i, got, ok)
	}
	if _, _, _, ok := parseShard(shardID(id, 3)); ok {
		t.Fatal("shard 3 of a 2+1 blob accepted")
	}
	if !blob.ValidID(shardID(id, 2)) {
		t.Fatal("a shard ID is not a valid blob ID")
	}
	// Geometry: 1 MiB in 2+1 with 64 KiB blocks is 8 full stripes, 512 KiB per shard; 100
	// bytes more make a ninth stripe of 50-byte blocks.
	if l.stripes() != 8 || l.shardSize() != 512<<10 {
		t.Fatalf("stripes %d shard %d", l.stripes(), l.shardSize())
	}
	l.size += 101
	if l.stripes() != 9 || l.blockLen(8) != 51 || l.shardSize() != 512<<10+51 {
		t.Fatalf("stripes %d last block %d shard %d", l.stripes(), l.blockLen(8), l.shardSize())
	}
}

// TestErasureRoundTrip writes blobs of many sizes in 2+1 on three nodes and 4+2 on six, and
// reads whole blobs and ranges (within a block, across blocks and stripes, the tail) through
// every node: each shard is on its own node, and every read returns the bytes written.
func TestErasureRoundTrip(t *testing.T) {
	for _, km := range [][2]int{{2, 1}, {4, 2}} {
		k, m := km[0], km[1]
		t.Run(fmt.Sprintf("%d+%d", k, m), func(t *testing.T) {
			c := newDataCluster(t, k+m, 3, withErasure(k, m, 1))
			sd := int(k) * ecBlockSize
			for i, size := range []int{1, 100, ecBlockSize - 1, ecBlockSize, sd, sd + 1, 3*sd + 12345, 1 << 20} {
				data := randomBytes(int64(i), size)
				ref := putECBlob(t, c, c.order[i%len(c.order)], data)
				sh := c.shardHolders(ref.ID)
				seen := map[string]bool{}
				for s, h := range sh {
					if len(h) != 1 || seen[h[0]] {
						t.Fatalf("size %d: shard %d on %v (shards on %v)", size, s, h, sh)
					}
					seen[h[0]] = true
				}
				if h := c.holders(ref.ID); len(h) != 0 {
					t.Fatalf("a whole copy of an erasure-coded blob on %v", h)
				}
				for _, via := range c.order {
					if got := readAll(t, c.nodes[via].d, ref.ID, ref.Nodes, 0, -1); !bytes.Equal(got, data) {
						t.Fatalf("size %d via %s: whole read differs", size, via)
					}
				}
				for _, r := range [][2]int{{0, 1}, {size / 3, size / 3}, {size - 1, 1}, {ecBlockSize - 10, 20}, {sd - 5, 10}, {size / 2, -1}} {
					off, n := r[0], r[1]
					if off < 0 || off >= size || off+n > size {
						continue
					}
					want := data[off:]
					if n >= 0 {
						want = data[off : off+n]
					}
					if got := readAll(t, c.nodes[c.order[0]].d, ref.ID, ref.Nodes, int64(off), int64(n)); !bytes.Equal(got, want) {
						t.Fatalf("size %d: range %d+%d differs (%d bytes)", size, off, n, len(got))
					}
				}
			}
		})
	}
}

// TestErasureThresholdAndFallback: below the threshold and with an unknown size NewBlobID
// gives a replicated blob; with fewer storage members than K+M, or a shard holder down on a
// cluster of exactly K+M, erasure coding falls back to replication (K+1 shards cannot be
// written). A Put of an erasure-coded ID that cannot reach its quorum fails clearly.
func TestErasureThresholdAndFallback(t *testing.T) {
	c := newDataCluster(t, 3, 3, withErasure(2, 1, 1000))
	d := c.nodes["d1"].d
	for _, size := range []int64{-1, 0, 999} {
		if _, ok := parseEC(d.NewBlobID(size)); ok {
			t.Fatalf("size %d erasure-coded", size)
		}
	}
	if _, ok := parseEC(d.NewBlobID(1000)); !ok {
		t.Fatal("size 1000 replicated")
	}
	id := d.NewBlobID(5000)
	c.crash("d3", true)
	if _, ok := parseEC(d.NewBlobID(5000)); ok {
		t.Fatal("erasure coding chosen with a shard holder down")
	}
	data := randomBytes(1, 5000)
	_, _, err := d.Put(context.Background(), id, bytes.NewReader(data), blob.Expect{Size: 5000})
	if !errors.Is(err, ErrWriteQuorum) {
		t.Fatalf("put of an erasure-coded blob with one of three nodes down: %v, want ErrWriteQuorum", err)
	}
	small := newDataCluster(t, 2, 3, withErasure(2, 1, 1))
	if _, ok := parseEC(small.nodes["d1"].d.NewBlobID(5000)); ok {
		t.Fatal("2+1 chosen on two storage nodes")
	}
}

// TestErasurePutChecksBody: a body shorter or longer than declared, or with another MD5,
// fails with the client's error and leaves no shard.
func TestErasurePutChecksBody(t *testing.T) {
	c := newDataCluster(t, 3, 3, withErasure(2, 1, 1))
	d := c.nodes["d1"].d
	data := randomBytes(2, 300<<10)
	id := d.NewBlobID(int64(len(data)))
	if _, _, err := d.Put(context.Background(), id, bytes.NewReader(data[:len(data)-1]), blob.Expect{Size: int64(len(data))}); !errors.Is(err, ErrSizeMismatch) {
		t.Fatalf("short body: %v", err)
	}
	if _, _, err := d.Put(context.Background(), id, bytes.NewReader(append(slices.Clone(data), 1)), blob.Expect{Size: int64(len(data))}); !errors.Is(err, ErrSizeMismatch) {
		t.Fatalf("long body: %v", err)
	}
	if _, _, err := d.Put(context.Background(), id, bytes.NewReader(data), blob.Expect{Size: int64(len(data)), MD5: make([]byte, 16)}); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("wrong MD5: %v", err)
	}
	for _, d := range c.nodes {
		d.d.Close() // waits for the background deletion of partial shards
	}
	for _, h := range c.shardHolders(id) {
		if len(h) != 0 {
			t.Fatalf("refused writes left shards: %v", c.shardHolders(id))
		}
	}
}

// TestErasureReadsWithShardsLostOrCorrupt: with M shards deleted, or one corrupt, every node
// still reads the whole blob and ranges (reconstruction); the corrupt shard is dropped by its
// holder once the read served the stripe without it, and a repair pass rebuilds every missing
// shard on its target, byte for byte.
func TestErasureReadsWithShardsLostOrCorrupt(t *testing.T) {
	for _, km := range [][2]int{{2, 1}, {4, 2}} {
		k, m := km[0], km[1]
		t.Run(fmt.Sprintf("%d+%d", k, m), func(t *testing.T) {
			c := newDataCluster(t, k+m, 3, withErasure(k, m, 1))
			data := randomBytes(3, 5*k*ecBlockSize+777)
			ref := putECBlob(t, c, "d1", data)
			orig := map[string][]byte{}
			holder := c.shardHolders(ref.ID)
			for i, sid := range blobIDs(ref.ID) {
				orig[sid] = readStored(t, c.nodes[holder[i][0]].store, sid)
			}
			// Lose M shards: the first data shards (the read must reconstruct).
			for i := 0; i < m; i++ {
				sid := shardID(ref.ID, i)
				if err := c.nodes[holder[i][0]].store.Delete(sid); err != nil {
					t.Fatal(err)
				}
			}
			for _, via := range c.order {
				if got := readAll(t, c.nodes[via].d, ref.ID, ref.Nodes, 0, -1); !bytes.Equal(got, data) {
					t.Fatalf("via %s with %d shards lost: read differs", via, m)
				}
			}
			off := int64(k*ecBlockSize + 100)
			if got := readAll(t, c.nodes["d2"].d, ref.ID, ref.Nodes, off, 3000); !bytes.Equal(got, data[off:off+3000]) {
				t.Fatal("range read with shards lost differs")
			}
			st, err := c.nodes["d1"].d.RepairPass(context.Background(), maintenance(ref))
			if err != nil || st.UnderReplicated != 1 || st.CopiesMade != uint64(m) {
				t.Fatalf("repair: %+v %v, want %d shards rebuilt", st, err, m)
			}
			for i, sid := range blobIDs(ref.ID) {
				h := c.holders(sid)
				if !slices.Equal(h, holder[i]) {
					t.Fatalf("shard %d on %v after repair, was on %v", i, h, holder[i])
				}
				if !bytes.Equal(readStored(t, c.nodes[h[0]].store, sid), orig[sid]) {
					t.Fatalf("rebuilt shard %d differs from the one written", i)
				}
			}
			// Corrupt one shard (the last data shard): reads reconstruct, the holder drops it.
			bad := shardID(ref.ID, k-1)
			badNode := holder[k-1][0]
			corruptCopy(t, c.nodes[badNode].store, bad)
			// Read through its holder: a reader reads its own data shards first.
			if got := readAll(t, c.nodes[badNode].d, ref.ID, ref.Nodes, 0, -1); !bytes.Equal(got, data) {
				t.Fatal("read with a corrupt shard differs")
			}
			testutil.WaitFor(t, 10*time.Second, "the corrupt shard is dropped by its holder", func() error {
				if _, err := c.nodes[badNode].store.Stat(bad); !errors.Is(err, blob.ErrNotFound) {
					return fmt.Errorf("stat: %v", err)
				}
				return nil
			})
			if st, err := c.nodes["d1"].d.RepairPass(context.Background(), maintenance(ref)); err != nil || st.CopiesMade != uint64(m)+1 { // since the node started
				t.Fatalf("repair after corruption: %+v %v", st, err)
			}
			if !bytes.Equal(readStored(t, c.nodes[badNode].store, bad), orig[bad]) {
				t.Fatal("the shard rebuilt after corruption differs")
			}
			// M+1 shards gone: the read fails, saying no node has them.
			for i := 0; i <= m; i++ {
				_ = c.nodes[holder[i][0]].store.Delete(shardID(ref.ID, i))
			}
			if _, err := c.nodes["d1"].d.Open(context.Background(), ref.ID, ref.Nodes, 0, -1); !errors.Is(err, ErrNoReplica) || !errors.Is(err, ErrNotFound) {
				t.Fatalf("read with %d shards lost: %v, want ErrNoReplica and ErrNotFound", m+1, err)
			}
			if st, _ := c.nodes["d1"].d.RepairPass(context.Background(), maintenance(ref)); st.Lost != 1 {
				t.Fatalf("repair of a blob with too few shards: %+v, want it counted lost", st)
			}
		})
	}
}

// readStored reads a blob whole from one store.
func readStored(t *testing.T, st *blob.Store, id string) []byte {
	t.Helper()
	r, _, err := st.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestErasureReadWithNodeDown: with a shard holder down (its transport closed) a read
// reconstructs from the others, whether or not gossip has noticed.
func TestErasureReadWithNodeDown(t *testing.T) {
	c := newDataCluster(t, 3, 3, withErasure(2, 1, 1))
	data := randomBytes(5, 700<<10)
	ref := putECBlob(t, c, "d1", data)
	holder := c.shardHolders(ref.ID)
	down := holder[0][0] // a data shard's holder
	via := holder[2][0]
	c.crash(down, false)
	if got := readAll(t, c.nodes[via].d, ref.ID, ref.Nodes, 0, -1); !bytes.Equal(got, data) {
		t.Fatal("read with a shard holder unreachable differs")
	}
	c.mu.Lock()
	c.live[down] = false
	c.mu.Unlock()
	if got := readAll(t, c.nodes[via].d, ref.ID, ref.Nodes, 1000, 200<<10); !bytes.Equal(got, data[1000:1000+200<<10]) {
		t.Fatal("range read with a shard holder down differs")
	}
}

// TestErasureFreeGCAndDiscard: Freed, Discard and the garbage collector delete every shard of
// an erasure-coded blob; GC keeps the shards of a referenced one.
func TestErasureFreeGCAndDiscard(t *testing.T) {
	c := newDataCluster(t, 3, 3, withErasure(2, 1, 1))
	a := putECBlob(t, c, "d1", randomBytes(6, 200<<10))
	b := putECBlob(t, c, "d2", randomBytes(7, 200<<10))
	for _, n := range c.order {
		c.nodes[n].d.Freed([]string{a.ID})
		if err := c.nodes[n].d.FlushFrees(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for i, h := range c.shardHolders(a.ID) {
		if len(h) != 0 {
			t.Fatalf("freed blob's shard %d still on %v", i, h)
		}
	}
	c.nodes["d3"].d.Discard(b.ID, b.Nodes)
	for _, n := range c.order {
		c.nodes[n].d.Close()
	}
	for i, h := range c.shardHolders(b.ID) {
		if len(h) != 0 {
			t.Fatalf("discarded blob's shard %d still on %v", i, h)
		}
	}
}

func TestErasureGCKeepsReferencedShards(t *testing.T) {
	c := newDataCluster(t, 3, 3, withErasure(2, 1, 1))
	kept := putECBlob(t, c, "d1", randomBytes(8, 200<<10))
	gone := putECBlob(t, c, "d1", randomBytes(9, 200<<10))
	m := maintenance(kept)
	for _, n := range c.order {
		if _, err := c.nodes[n].d.CollectGarbage(context.Background(), m, time.Now().Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	for i, h := range c.shardHolders(kept.ID) {
		if len(h) != 1 {
			t.Fatalf("referenced blob's shard %d on %v after GC", i, h)
		}
	}
	for i, h := range c.shardHolders(gone.ID) {
		if len(h) != 0 {
			t.Fatalf("unreferenced blob's shard %d still on %v after GC", i, h)
		}
	}
}

// TestErasureDrainAndRebalance: 2+1 blobs on four nodes; draining the node that holds shards
// moves each of its shards to the shard's new target (a node holding no other shard of the
// blob), marks it drained, and LastCopies then finds nothing on it; while reads never fail.
// Before the drain, LastCopies of a node is 0 (K shards are elsewhere) — and with one more
// node's shards deleted, the blobs it would leave with fewer than K shards are counted.
func TestErasureDrainAndRebalance(t *testing.T) {
	c := newDataCluster(t, 4, 3, withErasure(2, 1, 1))
	var refs []fsm.BlobRef
	data := map[string][]byte{}
	for i := range 12 {
		b := randomBytes(int64(100+i), 150<<10+i)
		r := putECBlob(t, c, "d1", b)
		refs, data[r.ID] = append(refs, r), b
	}
	m := maintenance(refs...)
	prop := &drainProposer{}
	m.Proposer = prop
	if n, _, _, err := c.nodes["d1"].d.LastCopies(context.Background(), "d2", m); err != nil || n != 0 {
		t.Fatalf("LastCopies(d2) = %d %v, want 0", n, err)
	}
	c.mu.Lock()
	c.drain["d2"] = fsm.DrainDraining
	c.mu.Unlock()
	st, err := c.nodes["d1"].d.BalancePass(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if got := prop.got(); !slices.Equal(got, []string{"d2"}) {
		t.Fatalf("drained %v, stats %+v", got, st)
	}
	for _, r := range refs {
		nodes := map[string]bool{}
		for i, h := range c.shardHolders(r.ID) {
			var off []string
			for _, n := range h {
				if n != "d2" {
					off = append(off, n)
				}
			}
			if len(off) != 1 || nodes[off[0]] {
				t.Fatalf("%s shard %d on %v after the drain (shards %v)", r.ID, i, h, c.shardHolders(r.ID))
			}
			nodes[off[0]] = true
		}
	}
	if err := readable(c, "d3", refs, data); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.gone["d2"] = true
	c.mu.Unlock()
	if err := readable(c, "d4", refs, data); err != nil {
		t.Fatalf("after removing the drained node: %v", err)
	}
	// Delete d3's shards: every blob d3 held a shard of now has K shards only with d4 and d1,
	// so LastCopies(d1) counts the blobs that d1 and d3 both had shards of.
	var want uint64
	for _, r := range refs {
		hasD1, hasD3 := false, false
		for _, h := range c.shardHolders(r.ID) {
			hasD1 = hasD1 || slices.Contains(h, "d1")
			hasD3 = hasD3 || slices.Contains(h, "d3")
		}
		if hasD1 && hasD3 {
			want++
		}
		for _, sid := range blobIDs(r.ID) {
			_ = c.nodes["d3"].store.Delete(sid)
		}
	}
	if n, _, _, err := c.nodes["d1"].d.LastCopies(context.Background(), "d1", m); err != nil || n != want {
		t.Fatalf("LastCopies(d1) with d3's shards gone = %d %v, want %d", n, err, want)
	}
}

// TestErasureRepairOnSpareNode: 2+1 on four nodes with a shard holder dead beyond
// RepairDeadAfter: repair rebuilds its shard on the node that holds none.
func TestErasureRepairOnSpareNode(t *testing.T) {
	c := newDataCluster(t, 4, 3, withErasure(2, 1, 1))
	data := randomBytes(11, 400<<10)
	ref := putECBlob(t, c, "d1", data)
	holder := c.shardHolders(ref.ID)
	dead := holder[1][0]
	if dead == "d1" {
		dead = holder[2][0]
	}
	c.crash(dead, true)
	c.mu.Lock()
	c.down[dead] = 2 * time.Hour
	c.mu.Unlock()
	st, err := c.nodes["d1"].d.RepairPass(context.Background(), maintenance(ref))
	if err != nil || st.CopiesMade != 1 {
		t.Fatalf("repair: %+v %v", st, err)
	}
	nodes := map[string]bool{}
	for i, h := range c.shardHolders(ref.ID) {
		var alive []string
		for _, n := range h {
			if n != dead {
				alive = append(alive, n)
			}
		}
		if len(alive) != 1 || nodes[alive[0]] {
			t.Fatalf("shard %d on %v after repair (%v)", i, h, c.shardHolders(ref.ID))
		}
		nodes[alive[0]] = true
	}
	if got := readAll(t, c.nodes["d1"].d, ref.ID, nil, 0, -1); !bytes.Equal(got, data) {
		t.Fatal("read after repair differs")
	}
}

// crashAfter is a body that crashes a node (closes its transport) once n bytes were read.
type crashAfter struct {
	r       io.Reader
	n       int
	crash   func()
	crashed bool
}

func (c *crashAfter) Read(p []byte) (int, error) {
	if !c.crashed && c.n <= 0 {
		c.crashed = true
		c.crash()
	}
	k, err := c.r.Read(p[:min(len(p), max(c.n, 1))])
	c.n -= k
	return k, err
}

// TestErasureNodeLostMidStripe: a shard holder lost in the middle of a write. With 2+1 on
// three nodes the write needs all three shards: it fails with ErrWriteQuorum and leaves no
// shard behind. With 4+2 on six nodes it needs five: it is acknowledged, and the blob then
// survives the loss of any one more node.
func TestErasureNodeLostMidStripe(t *testing.T) {
	t.Run("2+1", func(t *testing.T) {
		c := newDataCluster(t, 3, 3, withErasure(2, 1, 1))
		data := randomBytes(21, 1<<20)
		d := c.nodes["d1"].d
		id := d.NewBlobID(int64(len(data)))
		body := &crashAfter{r: bytes.NewReader(data), n: 300<<10 + 5, crash: func() { c.crash("d2", false) }}
		if _, _, err := d.Put(context.Background(), id, body, blob.Expect{Size: int64(len(data))}); !errors.Is(err, ErrWriteQuorum) {
			t.Fatalf("put with a node lost mid-stripe: %v, want ErrWriteQuorum", err)
		}
		for _, n := range c.order {
			c.nodes[n].d.Close()
		}
		for i, h := range c.shardHolders(id) {
			for _, n := range h {
				if n != "d2" {
					t.Fatalf("the failed write left shard %d on %s", i, n)
				}
			}
		}
	})
	t.Run("4+2", func(t *testing.T) {
		c := newDataCluster(t, 6, 3, withErasure(4, 2, 1))
		data := randomBytes(22, 1<<20+999)
		d := c.nodes["d1"].d
		id := d.NewBlobID(int64(len(data)))
		l, _ := parseEC(id)
		victim := ""
		for _, n := range c.nodes["d1"].d.placement().shardHolders(id, l) {
			if n != "d1" {
				victim = n
				break
			}
		}
		body := &crashAfter{r: bytes.NewReader(data), n: 600 << 10, crash: func() { c.crash(victim, false) }}
		_, nodes, err := d.Put(context.Background(), id, body, blob.Expect{Size: int64(len(data))})
		if err != nil {
			t.Fatalf("put with one of six shard holders lost: %v", err)
		}
		if len(nodes) != 5 || slices.Contains(nodes, victim) {
			t.Fatalf("acknowledged on %v, want the five survivors (%s lost)", nodes, victim)
		}
		c.mu.Lock()
		c.live[victim] = false
		c.mu.Unlock()
		for _, second := range nodes {
			if second == "d1" {
				continue
			}
			c.mu.Lock()
			c.live[second] = false
			c.mu.Unlock()
			_ = c.nodes[second].trans.Close()
			if got := readAll(t, d, id, nodes, 0, -1); !bytes.Equal(got, data) {
				t.Fatalf("with %s and %s lost the read differs", victim, second)
			}
			break
		}
	})
}

// TestErasureConcurrentReads: readers at once, some with a shard lost and some closing
// early, all read the right bytes, and Close returns with the read-ahead stopped.
func TestErasureConcurrentReads(t *testing.T) {
	c := newDataCluster(t, 3, 3, withErasure(2, 1, 1))
	data := randomBytes(31, 2<<20+333)
	ref := putECBlob(t, c, "d1", data)
	errs := make(chan error, 16)
	read := func(via string, off, n int64, partial bool) {
		rc, err := c.nodes[via].d.Open(context.Background(), ref.ID, ref.Nodes, off, n)
		if err != nil {
			errs <- err
			return
		}
		defer rc.Close()
		if partial {
			buf := make([]byte, 1000)
			if _, err := io.ReadFull(rc, buf); err != nil || !bytes.Equal(buf, data[off:off+1000]) {
				errs <- fmt.Errorf("partial read at %d: %v", off, err)
				return
			}
			errs <- nil
			return
		}
		got, err := io.ReadAll(rc)
		if err == nil && !bytes.Equal(got, data[off:off+n]) {
			err = fmt.Errorf("range %d+%d differs", off, n)
		}
		errs <- err
	}
	run := func() {
		for i := range 8 {
			go read(c.order[i%3], int64(i*100_000), int64(len(data)-i*100_000), i%3 == 2)
		}
		for range 8 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
	run()
	holder := c.shardHolders(ref.ID)
	if err := c.nodes[holder[1][0]].store.Delete(shardID(ref.ID, 1)); err != nil {
		t.Fatal(err)
	}
	run()
}

// TestErasureRebalanceOnJoin: 2+1 blobs written on three nodes; a fourth joins; one balance
// pass puts every shard on its target over the four (distinct nodes, one copy each), reads
// stay intact, and a second pass has nothing to move.
func TestErasureRebalanceOnJoin(t *testing.T) {
	c := newDataCluster(t, 4, 3, withErasure(2, 1, 1))
	c.mu.Lock()
	c.gone["d4"] = true
	c.mu.Unlock()
	var refs []fsm.BlobRef
	data := map[string][]byte{}
	for i := range 20 {
		b := randomBytes(int64(200+i), 130<<10+i)
		r := putECBlob(t, c, "d1", b)
		refs, data[r.ID] = append(refs, r), b
	}
	c.mu.Lock()
	c.gone["d4"] = false
	c.mu.Unlock()
	m := maintenance(refs...)
	st, err := c.nodes["d1"].d.BalancePass(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	moved := 0
	for _, r := range refs {
		l, _ := parseEC(r.ID)
		want := ecTargets(r.ID, c.order, l.shards())
		for i, h := range c.shardHolders(r.ID) {
			if !slices.Equal(h, []string{want[i]}) {
				t.Fatalf("%s shard %d on %v, target %s", r.ID, i, h, want[i])
			}
			if want[i] == "d4" {
				moved++
			}
		}
	}
	t.Logf("3 -> 4 nodes, 2+1, %d blobs (%d shards): %d shards moved (%.2f), %d of them to the new node (the least a move can be: 1/4 of the shards)",
		len(refs), 3*len(refs), st.CopiesMade, float64(st.CopiesMade)/float64(3*len(refs)), moved)
	if st.CopiesMade < uint64(moved) {
		t.Fatalf("%d copies made, %d shards now on d4", st.CopiesMade, moved)
	}
	if err := readable(c, "d4", refs, data); err != nil {
		t.Fatal(err)
	}
	if st, err := c.nodes["d1"].d.BalancePass(context.Background(), m); err != nil || st.CopiesMade != 0 || st.Misplaced != 0 {
		t.Fatalf("second pass: %+v %v", st, err)
	}
}

// TestErasureScrubDropsCorruptShard: the scrubber of the node holding a rotten shard deletes
// it (a shard is a blob of its own), and repair rebuilds it from the other shards.
func TestErasureScrubDropsCorruptShard(t *testing.T) {
	c := newDataCluster(t, 3, 3, withErasure(2, 1, 1))
	data := randomBytes(41, 900<<10)
	ref := putECBlob(t, c, "d2", data)
	holder := c.shardHolders(ref.ID)
	sid := shardID(ref.ID, 2) // parity: no read would notice it
	node := c.nodes[holder[2][0]]
	orig := readStored(t, node.store, sid)
	corruptCopy(t, node.store, sid)
	st, err := node.d.ScrubPass(context.Background(), 0)
	if err != nil || st.Dropped != 1 {
		t.Fatalf("scrub: %+v %v, want the corrupt shard dropped", st, err)
	}
	if rst, err := c.nodes["d1"].d.RepairPass(context.Background(), maintenance(ref)); err != nil || rst.CopiesMade != 1 {
		t.Fatalf("repair: %+v %v", rst, err)
	}
	if !bytes.Equal(readStored(t, node.store, sid), orig) {
		t.Fatal("the rebuilt parity shard differs")
	}
}

// TestErasureReadAfterClose: a reader's buffers go back to the pool at Close, so a Read after
// it fails rather than returning bytes another reader now owns; the next reader, on the same
// pooled buffers, reads its own bytes.
func TestErasureReadAfterClose(t *testing.T) {
	c := newDataCluster(t, 3, 3, withErasure(2, 1, 1))
	a, b := randomBytes(81, 600<<10), randomBytes(82, 600<<10)
	ra, rb := putECBlob(t, c, "d1", a), putECBlob(t, c, "d1", b)
	rc, err := c.nodes["d2"].d.Open(context.Background(), ra.ID, ra.Nodes, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1000)
	if _, err := io.ReadFull(rc, buf); err != nil || !bytes.Equal(buf, a[:1000]) {
		t.Fatalf("first read: %v", err)
	}
	rc.Close()
	if n, err := rc.Read(buf); n != 0 || !errors.Is(err, errECReaderClosed) {
		t.Fatalf("read after close: %d bytes, %v", n, err)
	}
	if got := readAll(t, c.nodes["d2"].d, rb.ID, rb.Nodes, 0, -1); !bytes.Equal(got, b) {
		t.Fatal("the next reader's bytes differ")
	}
}
