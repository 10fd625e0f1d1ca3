package dataplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/nebulaio/nebulaio/dataplane/blob"
	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/transport"
)

// dataNode is one member of a data-plane-only test cluster: a transport, a blob store and the
// Plane on top, without raft (membership is a shared table the test edits).
type dataNode struct {
	id    string
	trans *transport.Transport
	store *blob.Store
	d     *Plane
}

type dataCluster struct {
	t     testing.TB
	mu    sync.Mutex
	nodes map[string]*dataNode
	addrs map[string]string
	live  map[string]bool // alive in the members table
	down  map[string]time.Duration
	gone  map[string]bool // removed from the members table
	drain map[string]fsm.DrainState
	order []string
}

// nodeOptions adjust one node of a test cluster before it starts: its blob store's options
// (a faulty file system) and its data plane's Config.
type nodeOption func(id string, bo *blob.Options, cfg *Config)

func newDataCluster(t testing.TB, n, factor int, opts ...nodeOption) *dataCluster {
	t.Helper()
	c := &dataCluster{t: t, nodes: map[string]*dataNode{}, addrs: map[string]string{}, live: map[string]bool{},
		down: map[string]time.Duration{}, gone: map[string]bool{}, drain: map[string]fsm.DrainState{}}
	dir := t.TempDir()
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("d%d", i)
		tr, err := transport.New(transport.Config{BindAddr: "127.0.0.1:0", CallTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		var bo blob.Options
		cfg := Config{
			Transport: tr, Self: id, HoldsData: true, Factor: factor,
			Resolve: c.resolve, Members: c.members, Logger: zerolog.Nop(),
			StallTimeout: 3 * time.Second, StragglerWait: 300 * time.Millisecond,
		}
		for _, o := range opts {
			o(id, &bo, &cfg)
		}
		st, err := blob.Open(filepath.Join(dir, id), bo)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Local = st
		dn := &dataNode{id: id, trans: tr, store: st}
		dn.d = New(cfg)
		c.nodes[id], c.addrs[id], c.live[id] = dn, tr.Addr(), true
		c.order = append(c.order, id)
	}
	t.Cleanup(func() {
		for _, dn := range c.nodes {
			_ = dn.trans.Close()
			dn.d.Close()
			_ = dn.store.Close()
		}
	})
	return c
}

func (c *dataCluster) resolve(id string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.addrs[id]
	return a, ok && !c.gone[id]
}

func (c *dataCluster) members() []Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Member
	for _, id := range c.order {
		if !c.gone[id] {
			out = append(out, Member{ID: id, Storage: true, Alive: c.live[id], DownFor: c.down[id], Drain: c.drain[id]})
		}
	}
	return out
}

// crash closes a node's transport; markDead also tells the members table.
func (c *dataCluster) crash(id string, markDead bool) {
	_ = c.nodes[id].trans.Close()
	if markDead {
		c.mu.Lock()
		c.live[id] = false
		c.mu.Unlock()
	}
}

func (c *dataCluster) holders(id string) []string {
	var out []string
	for _, n := range c.order {
		if _, err := c.nodes[n].store.Stat(id); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// fakeMeta is committed metadata as the data plane sees it: a fixed list of blob references
// and of uploads.
type fakeMeta struct {
	refs    []fsm.BlobRef
	uploads []fsm.UploadInfo
}

func (m *fakeMeta) WalkBlobs(ctx context.Context, fn func(fsm.BlobRef) error) error {
	for _, r := range m.refs {
		if err := fn(r); err != nil {
			return err
		}
	}
	return ctx.Err()
}

func (m *fakeMeta) WalkUploads(ctx context.Context, fn func(fsm.UploadInfo) error) error {
	for _, u := range m.uploads {
		if err := fn(u); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// maintenance is a Maintenance over refs on a node that is the leader, with copies on dead
// nodes counting for an hour.
func maintenance(refs ...fsm.BlobRef) Maintenance {
	return Maintenance{Meta: &fakeMeta{refs: refs}, Barrier: func(context.Context) error { return nil },
		IsLeader: func() bool { return true }, RepairDeadAfter: time.Hour}
}

// blobRef references blob id of size bytes written to nodes a minute ago.
func blobRef(id string, size int, nodes []string) fsm.BlobRef {
	return fsm.BlobRef{Blob: fsm.Blob{ID: id, Size: uint64(size), Nodes: nodes}, ModTime: time.Now().Add(-time.Minute).UnixNano()}
}

func randomBytes(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

func readAll(t *testing.T, d *Plane, id string, nodes []string, off, n int64) []byte {
	t.Helper()
	rc, err := d.Open(context.Background(), id, nodes, off, n)
	if err != nil {
		t.Fatalf("open %s: %v", id, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", id, err)
	}
	return got
}

func TestPutReplicatesToFactorAndAnyNodeReads(t *testing.T) {
	c := newDataCluster(t, 4, 3)
	ctx := context.Background()
	for i, size := range []int{0, 1, 100 << 10, fanoutChunk*3 + 17} {
		id := fmt.Sprintf("blob-%d", i)
		data := randomBytes(int64(i), size)
		info, nodes, err := c.nodes["d1"].d.Put(ctx, id, bytes.NewReader(data), blob.Expect{Size: int64(size)})
		if err != nil {
			t.Fatalf("put %s: %v", id, err)
		}
		if info.Size != int64(size) {
			t.Fatalf("put %s: size %d, want %d", id, info.Size, size)
		}
		want := rendezvous(id, c.order)[:3]
		slices.Sort(want)
		if !slices.Equal(nodes, want) {
			t.Fatalf("put %s: on %v, want the rendezvous choice %v", id, nodes, want)
		}
		if h := c.holders(id); !slices.Equal(h, want) {
			t.Fatalf("put %s: stores holding it %v, want %v", id, h, want)
		}
		for _, n := range c.order {
			if got := readAll(t, c.nodes[n].d, id, nodes, 0, -1); !bytes.Equal(got, data) {
				t.Fatalf("read %s through %s: %d bytes differ from the %d written", id, n, len(got), len(data))
			}
		}
		if size > 10 {
			got := readAll(t, c.nodes["d4"].d, id, nodes, 5, int64(size-10))
			if !bytes.Equal(got, data[5:size-5]) {
				t.Fatalf("range read of %s differs", id)
			}
		}
	}
}

func TestPutReachesQuorumWithOneReplicaDown(t *testing.T) {
	c := newDataCluster(t, 3, 3)
	c.crash("d3", false) // not yet noticed by failure detection: d3 is still chosen
	data := randomBytes(1, fanoutChunk*2+5)
	start := time.Now()
	_, nodes, err := c.nodes["d1"].d.Put(context.Background(), "x", bytes.NewReader(data), blob.Expect{Size: int64(len(data))})
	if err != nil {
		t.Fatalf("put with one replica down: %v", err)
	}
	if !slices.Equal(nodes, []string{"d1", "d2"}) {
		t.Fatalf("put recorded %v, want [d1 d2]", nodes)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("put took %s with a dead replica", d)
	}
	if got := readAll(t, c.nodes["d2"].d, "x", nodes, 0, -1); !bytes.Equal(got, data) {
		t.Fatal("read back differs")
	}

	c.crash("d3", true) // now gossip says so: only two targets, both needed
	if _, nodes, err = c.nodes["d2"].d.Put(context.Background(), "y", bytes.NewReader(data), blob.Expect{Size: int64(len(data))}); err != nil || len(nodes) != 2 {
		t.Fatalf("put with d3 known dead: nodes %v, err %v", nodes, err)
	}
}

func TestPutWithoutQuorumFailsAndLeavesNoCopy(t *testing.T) {
	c := newDataCluster(t, 3, 3)
	c.crash("d2", false)
	c.crash("d3", false)
	data := randomBytes(2, fanoutChunk+1)
	_, _, err := c.nodes["d1"].d.Put(context.Background(), "q", bytes.NewReader(data), blob.Expect{Size: int64(len(data))})
	if !errors.Is(err, ErrWriteQuorum) {
		t.Fatalf("put without quorum: %v, want ErrWriteQuorum", err)
	}
	c.nodes["d1"].d.Close() // waits for the clean-up of the copies made
	if h := c.holders("q"); len(h) != 0 {
		t.Fatalf("a failed write left copies on %v", h)
	}

	c.crash("d2", true)
	c.crash("d3", true)
	if _, _, err := c.nodes["d1"].d.Put(context.Background(), "r", bytes.NewReader(data), blob.Expect{Size: int64(len(data))}); !errors.Is(err, ErrWriteQuorum) {
		t.Fatalf("put with 1 of 3 alive: %v, want ErrWriteQuorum", err)
	}
}

func TestPutClientErrorIsReportedAndLeavesNoCopy(t *testing.T) {
	c := newDataCluster(t, 3, 3)
	data := randomBytes(3, 1000)
	_, _, err := c.nodes["d1"].d.Put(context.Background(), "short", bytes.NewReader(data), blob.Expect{Size: 2000})
	if !errors.Is(err, blob.ErrSizeMismatch) {
		t.Fatalf("short body: %v, want ErrSizeMismatch", err)
	}
	_, _, err = c.nodes["d1"].d.Put(context.Background(), "md5", bytes.NewReader(data), blob.Expect{Size: 1000, MD5: make([]byte, 16)})
	if !errors.Is(err, blob.ErrDigestMismatch) {
		t.Fatalf("bad MD5: %v, want ErrDigestMismatch", err)
	}
	c.nodes["d1"].d.Close()
	if h := append(c.holders("short"), c.holders("md5")...); len(h) != 0 {
		t.Fatalf("rejected writes left copies on %v", h)
	}
}

// corruptCopy flips one byte in the middle of the file holding id in st's directory.
func corruptCopy(t *testing.T, st *blob.Store, id string) {
	t.Helper()
	var path string
	_ = filepath.WalkDir(st.Dir(), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == id {
			path = p
		}
		return nil
	})
	if path == "" {
		t.Fatalf("no file for blob %s under %s", id, st.Dir())
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	one := make([]byte, 1)
	off := fi.Size() / 2
	if _, err := f.ReadAt(one, off); err != nil {
		t.Fatal(err)
	}
	one[0] ^= 0x5a
	if _, err := f.WriteAt(one, off); err != nil {
		t.Fatal(err)
	}
}

func TestReadMovesPastCorruptCopyAndDropsIt(t *testing.T) {
	c := newDataCluster(t, 3, 3)
	data := randomBytes(4, 700<<10)
	_, nodes, err := c.nodes["d1"].d.Put(context.Background(), "c", bytes.NewReader(data), blob.Expect{Size: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	corruptCopy(t, c.nodes["d1"].store, "c")
	corruptCopy(t, c.nodes["d2"].store, "c")
	// d1 reads its own corrupt copy first, fails over mid-way, meets d2's corrupt copy (or
	// d3's good one) and still returns the right bytes.
	if got := readAll(t, c.nodes["d1"].d, "c", nodes, 0, -1); !bytes.Equal(got, data) {
		t.Fatal("read through the node with a corrupt copy returned wrong bytes")
	}
	if got := readAll(t, c.nodes["d2"].d, "c", nodes, 1000, 300<<10); !bytes.Equal(got, data[1000:1000+300<<10]) {
		t.Fatal("range read returned wrong bytes")
	}
	// d2 reads its own copy first too. (Which copy d1 tried after its own depends on the
	// placement order, so d2's damage is met for sure only here.)
	if got := readAll(t, c.nodes["d2"].d, "c", nodes, 0, -1); !bytes.Equal(got, data) {
		t.Fatal("read through the other node with a corrupt copy returned wrong bytes")
	}
	for _, n := range []string{"d1", "d2", "d3"} {
		c.nodes[n].d.Close() // wait for the reports to be handled
	}
	if h := c.holders("c"); !slices.Equal(h, []string{"d3"}) {
		t.Fatalf("after the corrupt reads the copies are on %v, want only the intact one on d3", h)
	}
	if err := c.nodes["d3"].store.Verify("c"); err != nil {
		t.Fatalf("the intact copy: %v", err)
	}
}

func TestRepairPassRestoresFactor(t *testing.T) {
	c := newDataCluster(t, 4, 3)
	ctx := context.Background()
	var refs []fsm.BlobRef
	data := map[string][]byte{}
	for i := 0; i < 20; i++ {
		id := fmt.Sprintf("r%02d", i)
		data[id] = randomBytes(int64(i), 1000+i*5000)
		_, nodes, err := c.nodes["d1"].d.Put(ctx, id, bytes.NewReader(data[id]), blob.Expect{Size: int64(len(data[id]))})
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, blobRef(id, len(data[id]), nodes))
	}
	// Lose some copies: delete every copy d2 holds.
	lostOnD2 := 0
	for _, r := range refs {
		if slices.Contains(r.Nodes, "d2") {
			if err := c.nodes["d2"].store.Delete(r.ID); err != nil {
				t.Fatal(err)
			}
			lostOnD2++
		}
	}
	cfg := maintenance(refs...)
	st, err := c.nodes["d1"].d.RepairPass(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st.UnderReplicated != uint64(lostOnD2) || st.CopiesMade != uint64(lostOnD2) || st.Lost != 0 {
		t.Fatalf("first pass: %+v, want %d under-replicated and as many copies", st, lostOnD2)
	}
	check := func(want int, among []string) {
		t.Helper()
		for _, r := range refs {
			h := c.holders(r.ID)
			n := 0
			for _, x := range h {
				if slices.Contains(among, x) {
					n++
					rc, err := c.nodes[x].d.Open(ctx, r.ID, nil, 0, -1)
					if err != nil {
						t.Fatal(err)
					}
					got, err := io.ReadAll(rc)
					rc.Close()
					if err != nil || !bytes.Equal(got, data[r.ID]) {
						t.Fatalf("copy of %s on %s differs (%v)", r.ID, x, err)
					}
				}
			}
			if n < want {
				t.Fatalf("%s has %d copies among %v (holders %v), want %d", r.ID, n, among, h, want)
			}
		}
	}
	check(3, c.order)
	if st, _ = c.nodes["d1"].d.RepairPass(ctx, cfg); st.UnderReplicated != 0 || st.CopiesMade != uint64(lostOnD2) {
		t.Fatalf("second pass found work: %+v", st)
	}

	// Remove d3 from the cluster: its copies no longer count and are re-created on the rest.
	c.mu.Lock()
	c.gone["d3"] = true
	c.mu.Unlock()
	st, err = c.nodes["d1"].d.RepairPass(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st.Factor != 3 || st.UnderReplicated == 0 {
		t.Fatalf("after removing d3: %+v", st)
	}
	check(3, []string{"d1", "d2", "d4"})

	// A node down for less than DeadAfter keeps its copies counted; past it, they are re-made.
	c.mu.Lock()
	c.gone["d3"] = false
	c.mu.Unlock()
	c.crash("d4", true)
	if st, _ = c.nodes["d1"].d.RepairPass(ctx, cfg); st.UnderReplicated != 0 {
		t.Fatalf("a briefly dead node's copies were not counted: %+v", st)
	}
	c.mu.Lock()
	c.down["d4"] = 2 * time.Hour
	c.mu.Unlock()
	if st, _ = c.nodes["d1"].d.RepairPass(ctx, cfg); st.UnderReplicated == 0 || st.CopyErrors != 0 {
		t.Fatalf("a long-dead node's copies were still counted, or copies failed: %+v", st)
	}
	check(3, []string{"d1", "d2", "d3"})
}

func TestRepairThrottle(t *testing.T) {
	start := time.Now()
	if err := throttle(context.Background(), 1<<20, start, 1<<18); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("256 KiB at 1 MiB/s took %s, want about 250ms", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := throttle(ctx, 1, time.Now(), 1<<20); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled throttle: %v", err)
	}
}

// TestPutCutsOffAStalledReplica: a replica whose peer accepts the connection and then says
// nothing (a hung host) is cut off after StallTimeout, and the write succeeds on the others.
func TestPutCutsOffAStalledReplica(t *testing.T) {
	c := newDataCluster(t, 3, 3)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	acceptDone := make(chan struct{})
	go func() {
		defer close(acceptDone)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, conn) // never read, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-acceptDone
		mu.Lock()
		for _, conn := range held {
			conn.Close()
		}
		mu.Unlock()
	})
	c.mu.Lock()
	c.addrs["d3"] = ln.Addr().String()
	c.mu.Unlock()

	data := randomBytes(9, 4*fanoutChunk)
	start := time.Now()
	_, nodes, err := c.nodes["d1"].d.Put(context.Background(), "stall", bytes.NewReader(data), blob.Expect{Size: int64(len(data))})
	took := time.Since(start)
	if err != nil {
		t.Fatalf("put with a stalled replica: %v", err)
	}
	if !slices.Equal(nodes, []string{"d1", "d2"}) {
		t.Fatalf("put recorded %v, want [d1 d2]", nodes)
	}
	if took > 8*time.Second {
		t.Fatalf("put took %s; the stalled replica should be cut off after the 3s stall timeout", took)
	}
	t.Logf("put with a stalled replica took %s", took.Round(10*time.Millisecond))
}

// TestScrubDropsCorruptCopyAndRepairReplacesIt: a copy that rots on disk without being read is
// found by the scrubber, deleted, and re-made by the next repair pass.
func TestScrubDropsCorruptCopyAndRepairReplacesIt(t *testing.T) {
	c := newDataCluster(t, 3, 3)
	ctx := context.Background()
	data := randomBytes(11, 300<<10)
	_, nodes, err := c.nodes["d1"].d.Put(ctx, "rot", bytes.NewReader(data), blob.Expect{Size: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	other := randomBytes(12, 1000)
	if _, _, err := c.nodes["d1"].d.Put(ctx, "fine", bytes.NewReader(other), blob.Expect{Size: int64(len(other))}); err != nil {
		t.Fatal(err)
	}
	corruptCopy(t, c.nodes["d2"].store, "rot")
	st, err := c.nodes["d2"].d.ScrubPass(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.Verified != 2 || st.Dropped != 1 {
		t.Fatalf("scrub: %+v, want 2 verified and 1 dropped", st)
	}
	if _, err := c.nodes["d2"].store.Stat("rot"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("the corrupt copy is still there: %v", err)
	}
	if err := c.nodes["d2"].store.Verify("fine"); err != nil {
		t.Fatalf("the intact blob was touched: %v", err)
	}
	cfg := maintenance(blobRef("rot", len(data), nodes))
	if rs, err := c.nodes["d3"].d.RepairPass(ctx, cfg); err != nil || rs.CopiesMade != 1 {
		t.Fatalf("repair after the scrub: %+v %v", rs, err)
	}
	if err := c.nodes["d2"].store.Verify("rot"); err != nil {
		t.Fatalf("the re-made copy: %v", err)
	}
}

// TestReadKeepsTheLastCorruptCopy: on a cluster of one, a read that finds the only copy
// corrupt fails with ErrCorrupt (not ErrUnreachable: nothing is elsewhere) and leaves the
// copy in place, so that the ranges it still holds intact stay readable.
func TestReadKeepsTheLastCorruptCopy(t *testing.T) {
	c := newDataCluster(t, 1, 1)
	d := c.nodes["d1"].d
	data := randomBytes(30, 300<<10)
	_, nodes, err := d.Put(context.Background(), "only", bytes.NewReader(data), Expect{Size: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	corruptCopy(t, c.nodes["d1"].store, "only") // in the middle, block 2
	rc, err := d.Open(context.Background(), "only", nodes, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if !errors.Is(err, ErrNoReplica) || !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrUnreachable) {
		t.Fatalf("read of the corrupt only copy: %v", err)
	}
	if !bytes.Equal(got, data[:len(got)]) {
		t.Fatal("bytes before the corruption differ")
	}
	if got := readAll(t, d, "only", nodes, 0, 64<<10); !bytes.Equal(got, data[:64<<10]) {
		t.Fatal("an intact range of the corrupt copy does not read")
	}
	d.Close() // a report, had one been made, would have been handled by now
	if _, err := c.nodes["d1"].store.Stat("only"); err != nil {
		t.Fatalf("the only copy was dropped: %v", err)
	}
}

// TestReadErrorsSayWhy: a blob no node has is ErrNotFound; one recorded on a node that cannot
// be reached is ErrUnreachable (it may come back).
func TestReadErrorsSayWhy(t *testing.T) {
	c := newDataCluster(t, 2, 2)
	d := c.nodes["d1"].d
	if _, err := d.Open(context.Background(), "nowhere", nil, 0, -1); !errors.Is(err, ErrNoReplica) || !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing blob: %v", err)
	}
	data := randomBytes(31, 1000)
	if _, err := c.nodes["d2"].store.Put(context.Background(), "on-d2", bytes.NewReader(data), blob.Expect{Size: 1000}); err != nil {
		t.Fatal(err)
	}
	c.crash("d2", true)
	_, err := d.Open(context.Background(), "on-d2", []string{"d2"}, 0, -1)
	if !errors.Is(err, ErrNoReplica) || !errors.Is(err, ErrUnreachable) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("blob on a node that is down: %v", err)
	}
}

// TestRepairPassDefersBeyondItsLimit: a pass copies at most maxRepairJobs blobs, counts the
// others as deferred, and the next pass takes them.
func TestRepairPassDefersBeyondItsLimit(t *testing.T) {
	old := maxRepairJobs
	maxRepairJobs = 2
	t.Cleanup(func() { maxRepairJobs = old })
	c := newDataCluster(t, 2, 2)
	var refs []fsm.BlobRef
	for i := 0; i < 5; i++ {
		id := fmt.Sprint("def", i)
		data := randomBytes(int64(40+i), 100)
		if _, err := c.nodes["d1"].store.Put(context.Background(), id, bytes.NewReader(data), blob.Expect{Size: 100}); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, blobRef(id, 100, []string{"d1"}))
	}
	st, err := c.nodes["d1"].d.RepairPass(context.Background(), maintenance(refs...))
	if err != nil || st.UnderReplicated != 5 || st.CopiesMade != 2 || st.Deferred != 3 {
		t.Fatalf("first pass: %+v %v, want 5 under-replicated, 2 copied, 3 deferred", st, err)
	}
	for pass := 2; pass <= 3; pass++ {
		if _, err := c.nodes["d1"].d.RepairPass(context.Background(), maintenance(refs...)); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range refs {
		if h := c.holders(r.ID); len(h) != 2 {
			t.Fatalf("after three passes %s is on %v", r.ID, h)
		}
	}
}
