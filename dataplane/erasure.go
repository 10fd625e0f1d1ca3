package dataplane

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/reedsolomon"

	"github.com/nebulaio/nebulaio/dataplane/blob"
	"github.com/nebulaio/nebulaio/fsm"
)

// Erasure coding (issue 20). A large blob can be stored as K data and M parity shards instead
// of factor copies: each shard is a blob of its own in the nodes' stores (so the store's block
// CRCs are the shards' checksums, and scrub, inventories and fetch work on shards unchanged),
// named <blob ID>.s<i>. The layout is part of the blob ID, which the data plane chooses
// (NewBlobID) before the write:
//
//	<32 hex digits>.e<K>p<M>b<block KiB>n<size>      e.g. 3fa9….e2p1b64n1048576
//
// so every reader, the repair and the garbage collector know the layout from the metadata's
// blob ID alone, and the metadata encoding does not change. The bytes are cut in stripes of K
// blocks (block bytes each, the last stripe's blocks shorter: ceil(rest/K)); each stripe gets
// M parity blocks (Reed-Solomon, klauspost/reedsolomon); shard i is block i of every stripe.
// Shard i belongs on the i-th node of the shard placement (ecTargets): distinct storage
// members, each shard choosing by rendezvous among those the lower shards left.

// ecLayout is an erasure-coded blob's geometry, parsed from its ID.
type ecLayout struct {
	k, m  int
	block int64 // bytes of a full stripe's block (one shard's part of a stripe)
	size  int64 // the blob's bytes
}

const (
	ecBlockSize = 64 << 10
	// ecMaxShards bounds K+M (reedsolomon allows 256; more shards than storage nodes is
	// refused anyway).
	ecMaxShards = 32
)

// ecSuffix returns the layout's part of a blob ID.
func (l ecLayout) suffix() string {
	return fmt.Sprintf("e%dp%db%dn%d", l.k, l.m, l.block>>10, l.size)
}

// parseEC returns the layout of blob id, ok false for a replicated blob (or a shard's ID).
func parseEC(id string) (ecLayout, bool) {
	base, suf, ok := strings.Cut(id, ".")
	if !ok || len(base) != 32 || strings.Contains(suf, ".") {
		return ecLayout{}, false
	}
	var l ecLayout
	var kib int64
	if _, err := fmt.Sscanf(suf, "e%dp%db%dn%d", &l.k, &l.m, &kib, &l.size); err != nil {
		return ecLayout{}, false
	}
	l.block = kib << 10
	if l.k < 1 || l.m < 1 || l.k+l.m > ecMaxShards || l.block <= 0 || l.size < 0 || l.suffix() != suf {
		return ecLayout{}, false
	}
	return l, true
}

// shardID names shard i of erasure-coded blob id.
func shardID(id string, i int) string { return id + ".s" + strconv.Itoa(i) }

// parseShard returns the blob and the index of a shard's ID; ok false for any other ID.
func parseShard(sid string) (id string, i int, l ecLayout, ok bool) {
	j := strings.LastIndex(sid, ".s")
	if j < 0 {
		return "", 0, ecLayout{}, false
	}
	id = sid[:j]
	i, err := strconv.Atoi(sid[j+2:])
	if err != nil || strconv.Itoa(i) != sid[j+2:] {
		return "", 0, ecLayout{}, false
	}
	l, ok = parseEC(id)
	if !ok || i >= l.k+l.m {
		return "", 0, ecLayout{}, false
	}
	return id, i, l, true
}

func (l ecLayout) shards() int       { return l.k + l.m }
func (l ecLayout) stripeData() int64 { return int64(l.k) * l.block }

// stripes is the number of stripes of the blob.
func (l ecLayout) stripes() int64 { return (l.size + l.stripeData() - 1) / l.stripeData() }

// stripeLen is the number of data bytes of stripe s.
func (l ecLayout) stripeLen(s int64) int64 { return min(l.stripeData(), l.size-s*l.stripeData()) }

// blockLen is the length of each block of stripe s: block, or for the last stripe its bytes
// spread over K blocks (rounded up, the data padded with zeros).
func (l ecLayout) blockLen(s int64) int64 {
	return (l.stripeLen(s) + int64(l.k) - 1) / int64(l.k)
}

// shardSize is the length of every shard of the blob.
func (l ecLayout) shardSize() int64 {
	n := l.stripes()
	if n == 0 {
		return 0
	}
	return (n-1)*l.block + l.blockLen(n-1)
}

// blobIDs lists the blobs stored for blob id: itself, or its shards.
func blobIDs(id string) []string {
	l, ok := parseEC(id)
	if !ok {
		return []string{id}
	}
	out := make([]string, l.shards())
	for i := range out {
		out[i] = shardID(id, i)
	}
	return out
}

// StoredBlobs lists what the nodes' stores hold for blob id of size bytes: the blob itself
// (each of size bytes, one needed to read it), or for an erasure-coded blob its K+M shards
// (each of the shard size, any K needed). Backups check blob directories with it.
func StoredBlobs(id string, size int64) (ids []string, each int64, need int) {
	l, ok := parseEC(id)
	if !ok {
		return []string{id}, size, 1
	}
	return blobIDs(id), l.shardSize(), l.k
}

// storedRefs expands a metadata reference into the blobs the stores hold for it: the blob
// itself, or one reference per shard (its ID, its size; Nodes and ModTime the blob's).
func storedRefs(ref fsm.BlobRef) []fsm.BlobRef {
	l, ok := parseEC(ref.ID)
	if !ok {
		return []fsm.BlobRef{ref}
	}
	out := make([]fsm.BlobRef, l.shards())
	for i := range out {
		out[i] = ref
		out[i].ID = shardID(ref.ID, i)
		out[i].Size = uint64(l.shardSize())
	}
	return out
}

// ecTargets places the n shards of blob id on distinct members of nodes: shard i goes to the
// member of highest rendezvous weight for its shard ID among those shards 0..i-1 did not take,
// so a member joining moves only the shards it wins (and those it displaces), not every
// shard after its position in one order. With fewer members than shards, the remaining shards
// have no target (nil entries are not returned: the result is shorter than n).
func ecTargets(id string, nodes []string, n int) []string {
	left := slices.Clone(nodes)
	var out []string
	for i := 0; i < n && len(left) > 0; i++ {
		key := shardID(id, i)
		best, bestW := 0, uint64(0)
		for j, node := range left {
			if w := rendezvousWeight(key, node); j == 0 || w > bestW {
				best, bestW = j, w
			}
		}
		out = append(out, left[best])
		left = slices.Delete(left, best, best+1)
	}
	return out
}

// rendezvousWeight is the weight of (key, node) in rendezvous.
func rendezvousWeight(key, node string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	h.Write([]byte{0})
	h.Write([]byte(node))
	return fmix64(h.Sum64())
}

// shardTarget is the member shard i of blob id belongs on ("" when the members are fewer
// than the shards and i has none).
func (p placement) shardTarget(id string, l ecLayout, i int) string {
	t := ecTargets(id, p.storage, l.shards())
	if i < len(t) {
		return t[i]
	}
	return ""
}

// want is where a stored blob (a replicated blob, or a shard) belongs: the factor's targets,
// or a shard's one target.
func (p placement) want(sid string) []string {
	id, i, l, ok := parseShard(sid)
	if !ok {
		return p.targets(sid)
	}
	if t := p.shardTarget(id, l, i); t != "" {
		return []string{t}
	}
	return nil
}

// factorOf is the number of copies a stored blob should have: the factor, or 1 for a shard
// (its redundancy is the other shards).
func (p placement) factorOf(sid string) int {
	if _, _, _, ok := parseShard(sid); ok {
		return min(1, len(p.storage))
	}
	return p.factor
}

// order lists the alive members to put a new copy of a stored blob on, best first: the
// rendezvous order for a replicated blob; for a shard its target, then the members that are
// no shard's target (so that two shards of a blob do not share a node), then the others.
func (p placement) order(sid string) []string {
	id, i, l, ok := parseShard(sid)
	if !ok {
		return rendezvous(sid, p.alive)
	}
	targets := ecTargets(id, p.storage, l.shards())
	var out, others []string
	if i < len(targets) && slices.Contains(p.alive, targets[i]) {
		out = append(out, targets[i])
	}
	for _, n := range rendezvous(sid, p.alive) {
		switch {
		case slices.Contains(out, n):
		case slices.Contains(targets, n):
			others = append(others, n)
		default:
			out = append(out, n)
		}
	}
	return append(out, others...)
}

// blobTargets is every member a blob's stored blobs belong on (the union over its shards).
func (p placement) blobTargets(id string) []string {
	if l, ok := parseEC(id); ok {
		return ecTargets(id, p.storage, l.shards())
	}
	return p.targets(id)
}

// shardHolders picks the alive member that takes each shard of a new write: its target if
// alive, else an alive member that is no shard's target ("" when none is left).
func (p placement) shardHolders(id string, l ecLayout) []string {
	targets := ecTargets(id, p.storage, l.shards())
	out := make([]string, l.shards())
	used := map[string]bool{}
	for i, t := range targets {
		if slices.Contains(p.alive, t) {
			out[i], used[t] = t, true
		}
	}
	for i := range out {
		if out[i] != "" {
			continue
		}
		for _, n := range rendezvous(shardID(id, i), p.alive) {
			if !used[n] && !slices.Contains(targets, n) {
				out[i], used[n] = n, true
				break
			}
		}
	}
	return out
}

// ecQuorum is the number of shards a write needs durable before it is acknowledged: K+1
// (capped at K+M), so that an acknowledged blob survives the loss of any one node, as a
// factor-3 write acknowledged by 2 replicas does. See DESIGN.md, "Erasure coding".
func (l ecLayout) quorum() int { return min(l.k+1, l.shards()) }

// NewBlobID returns the ID of a new blob of size bytes (-1: unknown): 128 random bits in hex,
// with an erasure-coding layout (Config.ErasureData and ErasureParity) when erasure coding is
// on, the size is known and at least Config.ErasureMinSize, and the cluster can take the write:
// at least K+M storage members, of which enough are alive to hold the write quorum's shards.
// Otherwise the blob is replicated (a fallback counted in nebulaio_data_erasure_fallbacks_total
// and logged).
func (d *Plane) NewBlobID(size int64) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("dataplane: crypto/rand failed: " + err.Error()) // unreachable on Linux
	}
	id := hex.EncodeToString(b[:])
	k, m := d.cfg.ErasureData, d.cfg.ErasureParity
	if k <= 0 || m <= 0 || size < 0 || size < d.cfg.ErasureMinSize {
		return id
	}
	l := ecLayout{k: k, m: m, block: ecBlockSize, size: size}
	ecID := id + "." + l.suffix()
	p := d.placement()
	if len(p.storage) < l.shards() {
		d.ecFallback(fmt.Sprintf("cluster.erasure %d+%d needs %d storage nodes, the cluster has %d", k, m, l.shards(), len(p.storage)))
		return id
	}
	alive := 0
	for _, n := range p.shardHolders(ecID, l) {
		if n != "" {
			alive++
		}
	}
	if alive < l.quorum() {
		d.ecFallback(fmt.Sprintf("cluster.erasure %d+%d: %d shard holders alive, a write needs %d", k, m, alive, l.quorum()))
		return id
	}
	return ecID
}

// ecFallback records a large blob replicated because erasure coding could not take it.
func (d *Plane) ecFallback(why string) {
	d.m.Counter(MetricErasureFallbacks, 1)
	d.log.Warn().Str("reason", why).Msg("erasure coding not possible now: blob replicated instead")
}

// putEC writes erasure-coded blob id: it reads the body a stripe at a time (K blocks), hashes
// it, computes the stripe's M parity blocks and streams block i to shard i's holder, one
// stream per shard (memory: one stripe). The body's length and MD5 are checked before the
// last stripe is sent, so a mismatch publishes no shard. It returns once the write quorum
// (K+1 shards) is durable, with the nodes holding shards.
func (d *Plane) putEC(ctx context.Context, id string, l ecLayout, r io.Reader, expect blob.Expect) (blob.Info, []string, error) {
	if expect.Size != blob.AnySize && expect.Size != l.size {
		return blob.Info{}, nil, fmt.Errorf("%w: blob %s is laid out for %d bytes, %d declared", ErrSizeMismatch, id, l.size, expect.Size)
	}
	p := d.placement()
	if len(p.storage) < l.shards() {
		return blob.Info{}, nil, fmt.Errorf("%w: erasure coding %d+%d needs %d storage nodes, %d in the cluster",
			ErrWriteQuorum, l.k, l.m, l.shards(), len(p.storage))
	}
	holders := p.shardHolders(id, l)
	var reps []*replicaStream
	for i, n := range holders {
		if n != "" {
			reps = append(reps, &replicaStream{node: n, id: shardID(id, i), shard: i})
		}
	}
	quorum := l.quorum()
	if len(reps) < quorum {
		return blob.Info{}, nil, fmt.Errorf("%w: %d of %d shards needed, %d shard holders alive (%v)",
			ErrWriteQuorum, quorum, l.shards(), len(reps), holders)
	}
	enc, err := ecEncoder(l)
	if err != nil {
		return blob.Info{}, nil, err
	}
	shardSize := l.shardSize()
	results := d.startStreams(ctx, reps, func(*replicaStream) blob.Expect { return blob.Expect{Size: shardSize} })
	buf := make([]byte, int64(l.shards())*l.block)
	blocks := make([][]byte, l.shards())
	sum := md5.New()
	hashed := make(chan struct{}, 1) // a stripe's MD5 is done (buffered: an early return leaks nothing)
	// Each shard's CRC32C, sent after its last block: shards are stored CRC-only (sent.go).
	crcs := make([]*blob.Digester, l.shards())
	for i := range crcs {
		crcs[i] = blob.NewDigester(true)
	}
	fail := func(err error) (blob.Info, []string, error) {
		abortStreams(reps, results, err)
		d.dropCopies(reps)
		return blob.Info{}, nil, err
	}
	// check is run before the last stripe goes out: the body must end there and match.
	check := func() error {
		var one [1]byte
		if n, _ := io.ReadFull(r, one[:]); n > 0 {
			return fmt.Errorf("%w: body longer than %d bytes", ErrSizeMismatch, l.size)
		}
		if expect.MD5 != nil && !slices.Equal(sum.Sum(nil), expect.MD5) {
			return fmt.Errorf("%w: blob %s", ErrDigestMismatch, id)
		}
		return nil
	}
	n := l.stripes()
	if n == 0 {
		if err := check(); err != nil {
			return fail(err)
		}
	}
	for s := range n {
		dl, bl := l.stripeLen(s), l.blockLen(s)
		if got, err := io.ReadFull(r, buf[:dl]); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				err = fmt.Errorf("%w: body ended at %d of %d bytes", ErrSizeMismatch, s*l.stripeData()+int64(got), l.size)
			}
			return fail(err)
		}
		// The MD5 is taken while the stripe is encoded and sent (it only reads the data);
		// the last stripe waits for it, to check the body before any shard completes.
		go func(p []byte) { sum.Write(p); hashed <- struct{}{} }(buf[:dl])
		clear(buf[dl : int64(l.k)*bl])
		for i := range blocks {
			blocks[i] = buf[int64(i)*bl : int64(i+1)*bl]
		}
		if err := enc.Encode(blocks); err != nil {
			return fail(fmt.Errorf("dataplane: erasure encode: %w", err))
		}
		for i, b := range blocks {
			crcs[i].Write(b)
		}
		if s == n-1 {
			<-hashed
			if err := check(); err != nil {
				return fail(err)
			}
		}
		if err := d.sendChunk(reps, results, quorum, func(rs *replicaStream) []byte { return blocks[rs.shard] }); err != nil {
			return blob.Info{}, nil, err
		}
		if s < n-1 {
			<-hashed // before buf is read into again
		}
	}
	for _, rs := range reps {
		rs.sent = crcs[rs.shard].Sum()
	}
	okReps, err := d.finishStreams(ctx, reps, results, quorum)
	if err != nil {
		return blob.Info{}, nil, err
	}
	var nodes []string
	for _, rs := range okReps {
		if !slices.Contains(nodes, rs.node) {
			nodes = append(nodes, rs.node)
		}
	}
	sort.Strings(nodes)
	info := blob.Info{ID: id, Size: l.size}
	copy(info.MD5[:], sum.Sum(nil))
	d.m.Counter(MetricErasureWrites, 1)
	return info, nodes, nil
}

// shardCands lists the nodes to read shard i of blob id from, best first: this node (a local
// miss is cheap), the shard's target, the nodes the metadata names, then every other alive
// storage member.
func (d *Plane) shardCands(p placement, id string, l ecLayout, i int, named []string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(n string) {
		if n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	if d.cfg.HoldsData {
		add(d.self)
	}
	if t := p.shardTarget(id, l, i); t != "" && p.members[t].Alive {
		add(t)
	}
	for _, n := range named {
		if p.members[n].Alive {
			add(n)
		}
	}
	for _, n := range p.order(shardID(id, i)) {
		add(n)
	}
	for _, n := range rendezvous(shardID(id, i), p.live) {
		add(n)
	}
	for _, n := range named {
		add(n)
	}
	return out
}

// ecReader reads a range of an erasure-coded blob stripe by stripe: from the data shards the
// range covers while they serve, and from any K shards (data first, then parity) with
// Reed-Solomon reconstruction for a stripe where one fails. Each shard in use is read ahead by
// a goroutine of its own (one sequential stream, up to two blocks ahead), so the shards on
// this node and on the others are read at once. A shard that fails (missing, unreachable, or a
// block failing its CRC) is not read again by this reader; a corrupt one is reported to its
// holder once the stripe was served without it.
type ecReader struct {
	d      *Plane
	ctx    context.Context
	cancel context.CancelFunc
	id     string
	l      ecLayout
	enc    reedsolomon.Encoder
	shards []*shardSource
	off    int64    // next byte of the blob to return
	end    int64    // end of the range
	last   int64    // last stripe of the range
	cur    []byte   // bytes of the current stripe not yet returned
	blocks [][]byte // the current stripe's blocks, by shard (nil: not read)
	spare  [][]byte // buffers for the blocks reconstruction makes
	out    *[]byte  // the stripe buffer cur points into (pooled; reused stripe after stripe)
	closed bool
	// order is the shards by preference (this node's data shards, its parity shards, the
	// other data shards, the other parity shards); the first K are the preferred set, and
	// a stripe whose needed data blocks are not all in it is read from it and reconstructed
	// (a parity shard on this node saves a data shard from another node).
	order     []int
	preferred []bool
	err       error
}

// shardSource is one shard as an ecReader reads it: a failover stream over its candidates,
// read ahead block by block by a prefetch goroutine from the first stripe it is needed for.
type shardSource struct {
	cands   []string
	started bool
	dead    bool
	fr      *failoverReader // the prefetcher's; read by others only after done
	blocks  chan shardBlock // filled by the prefetcher, in stripe order
	free    chan []byte     // buffers the prefetcher may fill
	held    []byte          // the block the reader holds for the current stripe
	done    chan struct{}   // closed when the prefetcher has returned
	bufs    []*[]byte       // every block buffer of the source (pooled; returned by Close)
}

// ecBufs pools the buffers of erasure-coded reads by size (a block, or a stripe's data), so
// that a GET does not allocate a stripe and (K+M)·(ecReadAhead+1) blocks afresh: measured, the
// garbage they made was an eighth of a 1 MiB EC GET's CPU.
var ecBufs sync.Map // int64 → *sync.Pool of *[]byte

func getECBuf(n int64) *[]byte {
	p, ok := ecBufs.Load(n)
	if !ok {
		p, _ = ecBufs.LoadOrStore(n, &sync.Pool{New: func() any { b := make([]byte, n); return &b }})
	}
	return p.(*sync.Pool).Get().(*[]byte)
}

func putECBuf(b *[]byte) {
	if p, ok := ecBufs.Load(int64(cap(*b))); ok {
		*b = (*b)[:cap(*b)]
		p.(*sync.Pool).Put(b)
	}
}

// shardBlock is one block a prefetcher read (or its failure).
type shardBlock struct {
	s   int64
	b   []byte
	err error
}

// ecReadAhead is the number of blocks a shard's prefetcher reads ahead of the reader.
const ecReadAhead = 2

// openEC opens [offset, offset+length) of erasure-coded blob id (length < 0: to the end).
func (d *Plane) openEC(ctx context.Context, id string, l ecLayout, nodes []string, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 || offset > l.size {
		return nil, fmt.Errorf("dataplane: offset %d outside blob of %d bytes", offset, l.size)
	}
	if length < 0 || offset+length > l.size {
		length = l.size - offset
	}
	enc, err := ecEncoder(l)
	if err != nil {
		return nil, err
	}
	p := d.placement()
	rctx, cancel := context.WithCancel(ctx)
	er := &ecReader{d: d, ctx: rctx, cancel: cancel, id: id, l: l, enc: enc, off: offset, end: offset + length,
		shards: make([]*shardSource, l.shards()), blocks: make([][]byte, l.shards()), spare: make([][]byte, l.shards())}
	if er.end > 0 {
		er.last = (er.end - 1) / l.stripeData()
	}
	for i := range er.shards {
		er.shards[i] = &shardSource{cands: d.shardCands(p, id, l, i, nodes)}
	}
	er.order, er.preferred = d.shardPreference(id, l)
	if er.off < er.end {
		if err := er.loadStripe(); err != nil {
			er.Close()
			return nil, err
		}
	}
	d.m.Counter(MetricErasureReads, 1)
	return er, nil
}

// shardPreference orders the shards of blob id for reading: this node's data shards, its
// parity shards, the other data shards, the other parity shards; and marks the first K.
func (d *Plane) shardPreference(id string, l ecLayout) ([]int, []bool) {
	var local, remote []int
	for i := range l.shards() {
		if d.cfg.HoldsData {
			if _, err := d.local.Stat(shardID(id, i)); err == nil {
				local = append(local, i)
				continue
			}
		}
		remote = append(remote, i)
	}
	order := append(local, remote...) // data shards come first within each: indexes ascend
	preferred := make([]bool, l.shards())
	for _, i := range order[:l.k] {
		preferred[i] = true
	}
	return order, preferred
}

// ecEncoders caches one Reed-Solomon coder per K+M (they are safe for concurrent use).
var ecEncoders sync.Map

func ecEncoder(l ecLayout) (reedsolomon.Encoder, error) {
	key := [2]int{l.k, l.m}
	if e, ok := ecEncoders.Load(key); ok {
		return e.(reedsolomon.Encoder), nil
	}
	enc, err := reedsolomon.New(l.k, l.m)
	if err != nil {
		return nil, fmt.Errorf("dataplane: erasure coder %d+%d: %w", l.k, l.m, err)
	}
	e, _ := ecEncoders.LoadOrStore(key, enc)
	return e.(reedsolomon.Encoder), nil
}

// errECReaderClosed: Read after Close (its buffers went back to the pool).
var errECReaderClosed = errors.New("dataplane: read of a closed erasure-coded blob reader")

func (er *ecReader) Read(p []byte) (int, error) {
	if er.closed {
		return 0, errECReaderClosed
	}
	for len(er.cur) == 0 {
		if er.err != nil {
			return 0, er.err
		}
		if er.off >= er.end {
			return 0, io.EOF
		}
		if err := er.loadStripe(); err != nil {
			er.err = err
			return 0, err
		}
	}
	n := copy(p, er.cur)
	er.cur = er.cur[n:]
	return n, nil
}

// Close stops the prefetchers, waits for them and returns the reader's buffers.
func (er *ecReader) Close() error {
	if er.closed {
		return nil
	}
	er.closed = true
	er.cancel()
	for _, s := range er.shards {
		if s.started {
			<-s.done
		}
		for _, b := range s.bufs {
			putECBuf(b)
		}
		s.bufs, s.held = nil, nil
	}
	if er.out != nil {
		putECBuf(er.out)
		er.out, er.cur = nil, nil
	}
	clear(er.blocks)
	return nil
}

// loadStripe reads the stripe holding er.off and sets er.cur to the range's bytes in it.
func (er *ecReader) loadStripe() error {
	l := er.l
	s := er.off / l.stripeData()
	start := s * l.stripeData()
	bl := l.blockLen(s)
	from := er.off - start
	to := min(er.end, start+l.stripeLen(s)) - start
	first, last := int(from/bl), int((to-1)/bl)
	clear(er.blocks)
	// Read the needed data blocks, unless one is outside the preferred set: then read the
	// preferred set and reconstruct.
	direct := true
	for j := first; j <= last; j++ {
		direct = direct && er.preferred[j]
	}
	var read []int
	for j := first; j <= last; j++ {
		if direct || er.preferred[j] {
			read = append(read, j)
		}
	}
	if !direct {
		for _, i := range er.order[:l.k] {
			if !slices.Contains(read, i) {
				read = append(read, i)
			}
		}
	}
	for _, i := range read { // start every shard before waiting for one
		er.start(i, s)
	}
	ok := direct
	for _, i := range read {
		if !er.readBlock(i, s) {
			ok = false
		}
	}
	if !ok {
		if err := er.reconstruct(s, bl); err != nil {
			return err
		}
	}
	// cur is consumed before the next stripe is loaded, so one buffer serves every stripe.
	if er.out == nil {
		er.out = getECBuf(l.stripeData())
	}
	out := (*er.out)[:0]
	for j := first; j <= last; j++ {
		lo, hi := max(from, int64(j)*bl)-int64(j)*bl, min(to, int64(j+1)*bl)-int64(j)*bl
		out = append(out, er.blocks[j][lo:hi]...)
	}
	for _, src := range er.shards {
		if src.held != nil {
			src.free <- src.held // never blocks: the pool is the shard's own buffers
			src.held = nil
		}
	}
	er.cur = out
	er.off = start + to
	return nil
}

// reconstruct completes stripe s from any K shards it can read (data shards first) and
// reports the corrupt shards met, now that the stripe was served without them.
func (er *ecReader) reconstruct(s, bl int64) error {
	l := er.l
	n := 0
	for _, b := range er.blocks {
		if b != nil {
			n++
		}
	}
	for _, i := range er.order {
		if n == l.k {
			break
		}
		if er.blocks[i] == nil {
			er.start(i, s)
			if er.readBlock(i, s) {
				n++
			}
		}
	}
	if n < l.k {
		return er.failure(s)
	}
	blocks := make([][]byte, l.shards())
	for i := range blocks {
		if er.blocks[i] != nil {
			blocks[i] = er.blocks[i]
			continue
		}
		if int64(cap(er.spare[i])) < bl {
			er.spare[i] = make([]byte, l.block)
		}
		blocks[i] = er.spare[i][:0]
	}
	if err := er.enc.ReconstructData(blocks); err != nil {
		return fmt.Errorf("dataplane: blob %s stripe %d: reconstruct: %w", er.id, s, err)
	}
	copy(er.blocks[:l.k], blocks[:l.k])
	er.d.m.Counter(MetricErasureReconstructions, 1)
	for _, src := range er.shards {
		if src.dead && len(src.fr.suspects) > 0 {
			src.fr.reportSuspects()
		}
	}
	return nil
}

// start starts shard i's prefetcher at stripe s, unless it runs or failed.
func (er *ecReader) start(i int, s int64) {
	src := er.shards[i]
	if src.started || src.dead {
		return
	}
	l := er.l
	end := er.last*l.block + l.blockLen(er.last)
	at := s * l.block
	src.started = true
	src.fr = &failoverReader{d: er.d, ctx: er.ctx, id: shardID(er.id, i), cands: src.cands, off: at, remain: end - at}
	src.blocks = make(chan shardBlock, ecReadAhead)
	src.free = make(chan []byte, ecReadAhead+1)
	for range ecReadAhead + 1 {
		b := getECBuf(l.block)
		src.bufs = append(src.bufs, b)
		src.free <- *b
	}
	src.done = make(chan struct{})
	go src.prefetch(er.ctx, l, s, er.last)
}

// prefetch reads the shard's blocks of stripes from..last in order into src.blocks, until a
// failure (sent as the last block) or ctx's end.
func (src *shardSource) prefetch(ctx context.Context, l ecLayout, from, last int64) {
	defer close(src.done)
	defer src.fr.Close()
	send := func(b shardBlock) bool {
		select {
		case src.blocks <- b:
			return true
		case <-ctx.Done():
			return false
		}
	}
	if err := src.fr.advance(); err != nil {
		send(shardBlock{s: from, err: err})
		return
	}
	for s := from; s <= last; s++ {
		var b []byte
		select {
		case b = <-src.free:
		case <-ctx.Done():
			return
		}
		b = b[:l.blockLen(s)]
		_, err := io.ReadFull(src.fr, b)
		if s == last && err == nil {
			src.fr.endStream() // before the reader may cancel: the connection is reused
		}
		if !send(shardBlock{s: s, b: b, err: err}) || err != nil {
			return
		}
	}
}

// readBlock sets er.blocks[i] to shard i's block of stripe s; false when the shard cannot
// serve it (it is then not read again).
func (er *ecReader) readBlock(i int, s int64) bool {
	src := er.shards[i]
	for !src.dead {
		var b shardBlock
		select {
		case b = <-src.blocks:
		case <-er.ctx.Done():
			return false
		}
		switch {
		case b.err != nil:
			src.dead = true
			<-src.done // src.fr is the reader's to inspect now
		case b.s < s: // a stripe this shard was not needed for
			src.free <- b.b
		default:
			src.held, er.blocks[i] = b.b, b.b
			return true
		}
	}
	return false
}

// failure is the error of a stripe that fewer than K shards could serve: ErrNoReplica with
// ErrUnreachable when a shard's node could not be read (it may come back), else ErrNotFound
// when a shard is missing (the blob freed under the read, or lost), else ErrCorrupt.
func (er *ecReader) failure(s int64) error {
	if err := er.ctx.Err(); err != nil {
		return err
	}
	var errs []error
	unreachable, missing := false, false
	for i, src := range er.shards {
		if !src.dead {
			continue
		}
		if src.fr.unreachable {
			unreachable = true
		}
		if len(src.fr.errs) == 0 {
			missing = true
		}
		errs = append(errs, fmt.Errorf("shard %d: %w", i, src.fr.failure()))
	}
	why := ErrCorrupt
	switch {
	case unreachable:
		why = ErrUnreachable
	case missing:
		why = ErrNotFound
	}
	return fmt.Errorf("%w %s: stripe %d: fewer than %d of %d shards readable: %w: %v",
		ErrNoReplica, er.id, s, er.l.k, er.l.shards(), why, errors.Join(errs...))
}

// rebuildShard re-creates shard i of erasure-coded blob ref on target: it reads the blob
// through an ecReader (from any K shards), re-encodes each stripe and streams shard i's
// blocks to the target's store.
func (d *Plane) rebuildShard(ctx context.Context, ref fsm.BlobRef, l ecLayout, i int, target string) error {
	rc, err := d.openEC(ctx, ref.ID, l, ref.Nodes, 0, -1)
	if err != nil {
		return err
	}
	defer rc.Close()
	enc, err := ecEncoder(l)
	if err != nil {
		return err
	}
	// The shard is stored CRC-only, like the writer stores it (sent.go).
	rs := &replicaStream{node: target, id: shardID(ref.ID, i), shard: i}
	rs.pr, rs.pw = io.Pipe()
	pr, pw := rs.pr, rs.pw
	crc := blob.NewDigester(true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, int64(l.shards())*l.block)
		blocks := make([][]byte, l.shards())
		for s := range l.stripes() {
			dl, bl := l.stripeLen(s), l.blockLen(s)
			if _, err := io.ReadFull(rc, buf[:dl]); err != nil {
				pw.CloseWithError(err)
				return
			}
			clear(buf[dl : int64(l.k)*bl])
			for j := range blocks {
				blocks[j] = buf[int64(j)*bl : int64(j+1)*bl]
			}
			if i >= l.k {
				if err := enc.Encode(blocks); err != nil {
					pw.CloseWithError(err)
					return
				}
			}
			crc.Write(blocks[i])
			if _, err := pw.Write(blocks[i]); err != nil {
				return
			}
		}
		rs.sent = crc.Sum()
		pw.Close()
	}()
	_, err = d.putOne(ctx, target, rs.id, sentBody{rs}, sentExpect(blob.Expect{Size: l.shardSize()}, rs))
	pr.CloseWithError(errors.New("dataplane: rebuild ended"))
	<-done
	return err
}
