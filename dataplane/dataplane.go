package dataplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/nebulaio/nebulaio/dataplane/blob"
	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/internal/vfs"
	"github.com/nebulaio/nebulaio/transport"
)

// Plane is one node's data plane: it places object bytes on storage-capable nodes, streams
// each write to its replicas in parallel, serves any blob from any node, deletes this node's
// copies of the blobs the metadata frees, and runs repair, scrubbing, garbage collection and
// upload expiry (RunMaintenance). See doc.go and DESIGN.md.
type Plane struct {
	cfg   Config
	local *blob.Store
	trans *transport.Transport
	self  string
	log   zerolog.Logger
	m     Metrics

	// bg counts background work (deleting the copies of failed writes, corruption reports,
	// the free worker); Close waits for it. closeMu guards closed and every bg.Add, so that
	// nothing is added once Close waits.
	bg      sync.WaitGroup
	closeMu sync.Mutex
	closed  bool
	stop    chan struct{} // closed by Close

	freeq chan freeBatch // Freed's queue, drained by one worker (free.go)

	repairMu    sync.Mutex
	repairStats RepairStats
	lastInv     map[string]map[string]struct{} // repair: last inventory seen per node

	balanceMu sync.Mutex
	balance   balanceState // the balancer's progress (balance.go)
}

// Config assembles the data plane of one node.
type Config struct {
	// Local is this node's blob store (unused on a node that holds no data).
	Local *blob.Store
	// Transport carries blob RPCs; Self is this node's ID.
	Transport *transport.Transport
	Self      string
	// HoldsData is false on a management node: it stores no object bytes and is never chosen.
	HoldsData bool
	// Resolve maps a node ID to the RPC address other nodes reach it at (the raft address).
	// Nil knows no other node.
	Resolve func(nodeID string) (addr string, ok bool)
	// Members lists the raft members with what the data plane needs to know of them. Nil means
	// this node alone (a cluster of one).
	Members func() []Member
	// Factor is the replication factor wanted (default 3). The effective factor is capped by
	// the number of storage-capable members.
	Factor int
	// StallTimeout fails a replica whose stream makes no progress for this long (default 15s).
	StallTimeout time.Duration
	// StragglerWait is how long a write waits for the remaining replicas once a write quorum
	// has acknowledged (default 2s); replicas still running then are cancelled and left to
	// repair.
	StragglerWait time.Duration
	// MinFreeBytes is the free-space reserve of the file system holding Local: a blob write
	// (a replica, a part, a copy, a repair copy) is refused with ErrNoSpace while the file
	// system has less free space than this plus the blob's size, so that the WAL and the
	// snapshots under the same data_dir keep room. 0 means automatic: 1% of the file system's
	// size, at least 64 MiB and at most 1 GiB. Negative: no reserve (a full disk then fails
	// blob writes with ENOSPC, which is still ErrNoSpace).
	MinFreeBytes int64
	// ErasureData and ErasureParity (cluster.erasure K+M) turn erasure coding on for blobs of
	// at least ErasureMinSize bytes (cluster.erasure_min_size) whose IDs NewBlobID chooses:
	// K data and M parity shards on K+M distinct storage members instead of Factor copies.
	// 0 (the default): every blob is replicated. Readers and repair need not be configured:
	// the layout is in the blob ID.
	ErasureData    int
	ErasureParity  int
	ErasureMinSize int64
	Logger         zerolog.Logger
	Metrics        Metrics
}

// Member is one raft member as the data plane sees it.
type Member struct {
	ID      string
	Storage bool          // role hybrid or storage: may hold object bytes
	Alive   bool          // gossip says alive
	DownFor time.Duration // how long it has not been alive (0 while alive or when unknown)
	// Drain is the member's drain (replicated state, fsm.MemberState): a member draining or
	// drained is never chosen for a write or a new copy, its copies still count and serve
	// reads, and the balancer copies them to the other storage members (balance.go).
	Drain fsm.DrainState
}

// leaving reports whether placement must avoid m (draining or drained).
func (m Member) leaving() bool { return m.Drain != fsm.DrainNone }

// The blob store's types and sentinels, so that callers need not import dataplane/blob.
type (
	// Expect is what a write verifies about its bytes (length, digests).
	Expect = blob.Expect
	// Info describes a stored blob.
	Info = blob.Info
)

// AnySize is Expect.Size for data of unknown length.
const AnySize = blob.AnySize

const (
	methodBlobGet    = "blob.get"
	methodBlobPut    = "blob.put"
	methodBlobFetch  = "blob.fetch"
	methodBlobList   = "blob.list"
	methodBlobDelete = "blob.delete"
	methodBlobBad    = "blob.bad"
	methodRepairStat = "repair.stats"

	defaultFactor        = 3
	defaultStallTimeout  = 15 * time.Second
	defaultStragglerWait = 2 * time.Second
	fanoutChunk          = 256 << 10
)

// Errors of the data plane. ErrNoStorageNode and ErrWriteQuorum mean the write did not happen
// (503 to an S3 client); so does ErrNoSpace (space.go: 507). A read that finds no usable copy returns ErrNoReplica wrapped with
// exactly one of ErrNotFound (no node has a copy), ErrCorrupt (every copy found failed its
// checksums and every other node has none) or ErrUnreachable (a node that may hold a copy
// could not be read: the data may come back with it).
var (
	ErrNoStorageNode = errors.New("dataplane: no storage-capable node is reachable")
	ErrWriteQuorum   = errors.New("dataplane: blob write quorum not reached")
	ErrNoReplica     = errors.New("dataplane: no reachable node holds an intact copy of the blob")
	ErrUnreachable   = errors.New("dataplane: a node that may hold the blob could not be read")
	// ErrClosed is returned by FlushFrees after Close.
	ErrClosed = errors.New("dataplane: closed")
	// ErrDigestMismatch and ErrSizeMismatch: the bytes sent do not match Expect (the
	// client's fault; every replica reports it alike).
	ErrDigestMismatch = blob.ErrDigestMismatch
	ErrSizeMismatch   = blob.ErrSizeMismatch
	// ErrNotFound and ErrCorrupt are the blob store's.
	ErrNotFound = blob.ErrNotFound
	ErrCorrupt  = blob.ErrCorrupt
)

// New starts the data plane of a node: it registers the blob RPCs on the transport and starts
// the worker that deletes freed blobs.
func New(cfg Config) *Plane {
	if cfg.Factor <= 0 {
		cfg.Factor = defaultFactor
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = defaultStallTimeout
	}
	if cfg.StragglerWait <= 0 {
		cfg.StragglerWait = defaultStragglerWait
	}
	if cfg.Members == nil {
		self := cfg.Self
		holds := cfg.HoldsData
		cfg.Members = func() []Member { return []Member{{ID: self, Storage: holds, Alive: true}} }
	}
	if cfg.Resolve == nil {
		cfg.Resolve = func(string) (string, bool) { return "", false }
	}
	d := &Plane{cfg: cfg, local: cfg.Local, trans: cfg.Transport, self: cfg.Self, log: cfg.Logger,
		m: cfg.Metrics, lastInv: map[string]map[string]struct{}{},
		freeq: make(chan freeBatch, freeQueueLen), stop: make(chan struct{})}
	if d.m == nil {
		d.m = nopMetrics{}
	}
	d.trans.HandleDownload(methodBlobGet, d.handleGet)
	d.trans.HandleDownload(methodBlobList, d.handleList)
	d.trans.HandleStream(methodBlobPut, d.handlePut)
	d.trans.Handle(methodBlobFetch, d.handleFetch)
	d.trans.Handle(methodBlobDelete, d.handleDelete)
	d.trans.Handle(methodBlobBad, d.handleBad)
	d.trans.Handle(methodRepairStat, d.handleRepairStats)
	d.trans.Handle(methodBalanceStat, d.handleBalanceStats)
	d.background(d.freeWorker)
	if cfg.HoldsData && cfg.Local != nil {
		d.background(d.watchSpace)
	}
	return d
}

// Close stops the background work: deletions of the copies of failed writes and corruption
// reports under way are waited for, and the freed blobs already queued are deleted. Call it
// before closing the blob store; with the transport closed first, calls to other nodes fail at
// once instead of running to their timeouts.
func (d *Plane) Close() {
	d.closeMu.Lock()
	if !d.closed {
		d.closed = true
		close(d.stop)
	}
	d.closeMu.Unlock()
	d.bg.Wait()
}

// background runs fn in a goroutine that Close waits for; after Close it does nothing and
// returns false.
func (d *Plane) background(fn func()) bool {
	d.closeMu.Lock()
	defer d.closeMu.Unlock()
	if d.closed {
		return false
	}
	d.bg.Add(1)
	go func() {
		defer d.bg.Done()
		fn()
	}()
	return true
}

// placement is the view of the cluster a write, a read, a repair or a balance pass works
// from. Members that are draining (or drained) hold copies but are never chosen.
type placement struct {
	factor  int      // effective replication factor
	storage []string // storage-capable members placement may choose (not leaving)
	alive   []string // of those, the alive ones: where writes and new copies go
	holders []string // every storage-capable member, leaving ones included: where copies may be
	live    []string // holders that are alive: what repair and the balancer inventory
	leaving []string // storage-capable members draining or drained
	members map[string]Member
}

func (d *Plane) placement() placement {
	p := placement{members: map[string]Member{}}
	for _, m := range d.cfg.Members() {
		p.members[m.ID] = m
		if !m.Storage {
			continue
		}
		p.holders = append(p.holders, m.ID)
		if m.Alive {
			p.live = append(p.live, m.ID)
		}
		if m.leaving() {
			p.leaving = append(p.leaving, m.ID)
			continue
		}
		p.storage = append(p.storage, m.ID)
		if m.Alive {
			p.alive = append(p.alive, m.ID)
		}
	}
	p.factor = min(d.cfg.Factor, len(p.storage))
	return p
}

// targets are the members blob id belongs on: the first factor of the rendezvous order over
// the members placement may choose, alive or not.
func (p placement) targets(id string) []string {
	t := rendezvous(id, p.storage)
	return t[:min(len(t), p.factor)]
}

// Factor returns the effective replication factor: the configured one capped by the number of
// storage-capable members that are not draining.
func (d *Plane) Factor() int { return d.placement().factor }

// Put stores r's bytes under id on the replicas chosen for it — the first `factor` alive
// storage-capable members in rendezvous order of id — streaming to all of them at once; an
// ID with an erasure-coding layout (NewBlobID) is written as shards instead (putEC). It
// returns once a write quorum (a majority of the factor) has stored and fsynced the bytes,
// with the nodes that did; replicas that failed or lagged are left for repair. On any error
// the blob is not referenced by anything and the copies made are deleted (or collected later).
func (d *Plane) Put(ctx context.Context, id string, r io.Reader, expect Expect) (Info, []string, error) {
	if l, ok := parseEC(id); ok {
		return d.putEC(ctx, id, l, r, expect)
	}
	p := d.placement()
	if p.factor == 0 || len(p.alive) == 0 {
		return blob.Info{}, nil, ErrNoStorageNode
	}
	quorum := p.factor/2 + 1
	targets := rendezvous(id, p.alive)
	if len(targets) > p.factor {
		targets = targets[:p.factor]
	}
	if len(targets) < quorum {
		return blob.Info{}, nil, fmt.Errorf("%w: %d of %d copies needed, %d storage nodes alive (%v)",
			ErrWriteQuorum, quorum, p.factor, len(targets), targets)
	}
	if len(targets) == 1 {
		info, err := d.putOne(ctx, targets[0], id, r, expect)
		switch {
		case err == nil:
		case isClientError(err):
			return blob.Info{}, nil, err
		case targets[0] != d.self:
			return blob.Info{}, nil, fmt.Errorf("%w: %w", ErrNoStorageNode, err)
		default: // this node's store failed (EIO, ENOSPC, ...): the write missed its quorum of one
			return blob.Info{}, nil, fmt.Errorf("%w: 1 of 1 replicas needed: %w", ErrWriteQuorum, err)
		}
		return info, targets, nil
	}
	return d.fanOut(ctx, id, r, expect, targets, quorum)
}

// isClientError reports whether a write failed because of the data sent (a digest or length
// mismatch), which every replica would report alike.
func isClientError(err error) bool {
	return errors.Is(err, blob.ErrDigestMismatch) || errors.Is(err, blob.ErrSizeMismatch)
}

// putOne stores the bytes on one node: the local store, or a blob.put stream.
func (d *Plane) putOne(ctx context.Context, node, id string, r io.Reader, expect blob.Expect) (blob.Info, error) {
	if node == d.self {
		return d.putLocal(ctx, id, r, expect)
	}
	addr, ok := d.cfg.Resolve(node)
	if !ok {
		return blob.Info{}, fmt.Errorf("dataplane: node %s: address unknown", node)
	}
	// With expect.Sent the digests follow the data in the stream's end frame (r is then a
	// transport.TrailerReader: sentBody).
	hdr, _ := json.Marshal(blobPutReq{ID: id, Size: expect.Size, MD5: expect.MD5, Trailer: expect.Sent != nil})
	reply, err := d.trans.CallStream(ctx, addr, methodBlobPut, hdr, r)
	if err != nil {
		var re *transport.RemoteError
		if errors.As(err, &re) {
			return blob.Info{}, remoteBlobError(node, re)
		}
		return blob.Info{}, fmt.Errorf("dataplane: node %s: %w", node, err)
	}
	var info blob.Info
	if err := json.Unmarshal(reply, &info); err != nil {
		return blob.Info{}, fmt.Errorf("dataplane: blob put reply from %s: %w", node, err)
	}
	return info, nil
}

// replicaStream is one replica of a fanned-out write: the pipe its putOne reads from and its
// outcome.
type replicaStream struct {
	node   string
	id     string // the blob this stream writes (the blob's, or one of its shards')
	shard  int    // the shard index of an erasure-coded write (shardStreams)
	pr     *io.PipeReader
	pw     *io.PipeWriter
	sent   blob.Digests // the digests of the bytes sent; set by the writer before it closes pw
	cancel context.CancelFunc
	info   blob.Info
	err    error // outcome of putOne; valid after done
	failed bool  // a write to the pipe failed or stalled (fan-out goroutine only)
}

var errStalled = errors.New("dataplane: replica stream made no progress")

// fanOut copies r to every target through one pipe each, chunk by chunk, so the slowest live
// replica paces the write and nothing is buffered beyond one chunk.
func (d *Plane) fanOut(ctx context.Context, id string, r io.Reader, expect blob.Expect, targets []string, quorum int) (blob.Info, []string, error) {
	reps := make([]*replicaStream, len(targets))
	for i, n := range targets {
		reps[i] = &replicaStream{node: n, id: id}
	}
	results := d.startStreams(ctx, reps, func(*replicaStream) blob.Expect { return expect })
	buf := make([]byte, fanoutChunk)
	dg := blob.NewDigester(false)
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			hashed := hashChunk(dg, buf[:n])
			err := d.sendChunk(reps, results, quorum, func(*replicaStream) []byte { return buf[:n] })
			<-hashed // before buf is read into again
			if err != nil {
				return blob.Info{}, nil, err
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			abortStreams(reps, results, rerr)
			return blob.Info{}, nil, rerr
		}
	}
	sent := dg.Sum()
	if err := checkSent(id, expect, sent); err != nil {
		abortStreams(reps, results, err)
		d.dropCopies(reps)
		return blob.Info{}, nil, err
	}
	for _, rs := range reps {
		rs.sent = sent
	}
	okReps, err := d.finishStreams(ctx, reps, results, quorum)
	if err != nil {
		return blob.Info{}, nil, err
	}
	var nodes []string
	var info blob.Info
	for _, rs := range okReps {
		if len(nodes) > 0 && info.MD5 != rs.info.MD5 {
			d.dropCopies(reps)
			return blob.Info{}, nil, fmt.Errorf("dataplane: replicas of blob %s disagree on its MD5", id)
		}
		nodes, info = append(nodes, rs.node), rs.info
	}
	sort.Strings(nodes)
	return info, nodes, nil
}

// startStreams starts one putOne per stream, each reading from its own pipe with the
// Expect that expect gives it, and taking the digests of the bytes from the writer
// (replicaStream.sent, see sent.go) rather than computing them; the outcomes arrive on the
// returned channel.
func (d *Plane) startStreams(ctx context.Context, reps []*replicaStream, expect func(*replicaStream) blob.Expect) chan *replicaStream {
	results := make(chan *replicaStream, len(reps))
	for _, rs := range reps {
		rs.pr, rs.pw = io.Pipe()
		rctx, cancel := context.WithCancel(ctx)
		rs.cancel = cancel
		go func() {
			defer func() { results <- rs }()
			rs.info, rs.err = d.putOne(rctx, rs.node, rs.id, sentBody{rs}, sentExpect(expect(rs), rs))
			if rs.err != nil {
				rs.pr.CloseWithError(rs.err)
			} else {
				rs.pr.CloseWithError(errors.New("dataplane: replica finished before the body ended"))
			}
		}()
	}
	return results
}

// sendChunk writes to the streams of a write (p(rs) to rs) and fails the write when fewer
// than quorum of them are left.
func (d *Plane) sendChunk(reps []*replicaStream, results chan *replicaStream, quorum int, p func(*replicaStream) []byte) error {
	d.broadcast(reps, p)
	if liveStreams(reps) < quorum {
		abortStreams(reps, results, ErrWriteQuorum)
		err := d.quorumError(reps, quorum)
		d.dropCopies(reps)
		return err
	}
	return nil
}

// finishStreams ends the body of every live stream and collects the outcomes (collect).
func (d *Plane) finishStreams(ctx context.Context, reps []*replicaStream, results chan *replicaStream, quorum int) ([]*replicaStream, error) {
	for _, rs := range reps {
		if !rs.failed {
			rs.pw.Close()
		}
	}
	return d.collect(ctx, reps, results, quorum)
}

// collect waits for the outcomes of a write's streams (their pipes closed) and returns the
// ones that succeeded, or the write's error when fewer than quorum did (or the data sent
// was refused: a client error). The copies of a failed write are dropped.
func (d *Plane) collect(ctx context.Context, reps []*replicaStream, results chan *replicaStream, quorum int) ([]*replicaStream, error) {
	// Collect outcomes: wait for every replica, or — once a quorum succeeded — for the rest
	// up to StragglerWait; stop early when the quorum is out of reach. Replicas still running
	// then are cancelled; their copies are left to repair (or to the garbage collector).
	var straggle <-chan time.Time
	got, ok, bad := 0, 0, 0
	count := func(rs *replicaStream) {
		got++
		if rs.err == nil && !rs.failed {
			ok++
		} else {
			bad++
		}
	}
wait:
	for got < len(reps) && bad <= len(reps)-quorum {
		select {
		case rs := <-results:
			count(rs)
			if ok >= quorum && straggle == nil {
				straggle = time.After(d.cfg.StragglerWait)
			}
		case <-straggle:
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	for _, rs := range reps {
		rs.cancel()
	}
	for got < len(reps) {
		count(<-results)
	}
	var okReps []*replicaStream
	var clientErr error
	for _, rs := range reps {
		switch {
		case rs.err == nil && !rs.failed:
			okReps = append(okReps, rs)
		case rs.err != nil && isClientError(rs.err):
			clientErr = rs.err
		default:
			d.m.Counter(MetricReplicaWriteFailures, 1)
			d.log.Warn().Str("blob", rs.id).Str("replica", rs.node).AnErr("error", rs.err).Msg("blob replica write failed; left to repair")
		}
	}
	if clientErr != nil {
		d.dropCopies(reps)
		return nil, clientErr
	}
	if len(okReps) < quorum {
		err := d.quorumError(reps, quorum)
		d.dropCopies(reps)
		return nil, err
	}
	return okReps, nil
}

// abortStreams fails every stream of a write with err and waits for their outcomes.
func abortStreams(reps []*replicaStream, results chan *replicaStream, err error) {
	for _, rs := range reps {
		rs.pw.CloseWithError(err)
		rs.cancel()
	}
	for range reps {
		<-results
	}
}

// liveStreams counts the streams of a write that have not failed.
func liveStreams(reps []*replicaStream) int {
	n := 0
	for _, rs := range reps {
		if !rs.failed {
			n++
		}
	}
	return n
}

// broadcast writes to every live replica's pipe in parallel, p(rs) to rs (the same chunk to
// every replica, or each shard's block). A replica whose write fails, or makes no progress
// for StallTimeout, is marked failed and its stream cancelled.
func (d *Plane) broadcast(reps []*replicaStream, p func(*replicaStream) []byte) {
	var wg sync.WaitGroup
	errs := make([]error, len(reps))
	finished := make([]chan struct{}, len(reps))
	for i, rs := range reps {
		if rs.failed {
			continue
		}
		finished[i] = make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(finished[i])
			_, errs[i] = rs.pw.Write(p(rs))
		}()
	}
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	timer := time.NewTimer(d.cfg.StallTimeout)
	defer timer.Stop()
	select {
	case <-all:
	case <-timer.C:
		for i, rs := range reps {
			if finished[i] == nil {
				continue
			}
			select {
			case <-finished[i]:
			default:
				rs.pr.CloseWithError(errStalled)
				rs.cancel()
			}
		}
		<-all
	}
	for i, rs := range reps {
		if finished[i] != nil && errs[i] != nil {
			rs.failed = true
		}
	}
}

// quorumError is the error of a write that did not reach its quorum. It wraps ErrWriteQuorum,
// and ErrNoSpace too when the replicas that failed for lack of space are enough on their own
// to miss the quorum (the cluster is full, not broken; the others may only have been cancelled
// because of them). The replicas' own errors are only quoted, so that one full node among
// other failures does not make the write look like a full cluster.
func (d *Plane) quorumError(reps []*replicaStream, quorum int) error {
	var errs []error
	noSpace := 0
	for _, rs := range reps {
		if rs.failed || rs.err != nil {
			e := rs.err
			if e == nil {
				e = errStalled
			}
			if errors.Is(e, ErrNoSpace) {
				noSpace++
			}
			errs = append(errs, fmt.Errorf("%s: %w", rs.node, e))
		}
	}
	if noSpace > len(reps)-quorum {
		return fmt.Errorf("%w: %w: %d of %d replicas needed: %v", ErrWriteQuorum, ErrNoSpace, quorum, len(reps), errors.Join(errs...))
	}
	return fmt.Errorf("%w: %d of %d replicas needed: %v", ErrWriteQuorum, quorum, len(reps), errors.Join(errs...))
}

// dropCopies deletes, in the background, the copies (or shards) a failed write made; anything
// it misses is unreferenced and collected by the garbage collector after its grace period.
func (d *Plane) dropCopies(reps []*replicaStream) {
	type copyOn struct{ id, node string }
	var copies []copyOn
	for _, rs := range reps {
		copies = append(copies, copyOn{rs.id, rs.node})
	}
	d.background(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, c := range copies {
			d.deleteOn(ctx, c.id, []string{c.node})
		}
	})
}

// Discard deletes blob id, which the caller wrote with Put on nodes and which nothing will
// reference (its metadata event was rejected, or the request failed after the write): this
// node's copy at once, the others in the background. Copies it misses are unreferenced and
// collected by each node's garbage collector.
func (d *Plane) Discard(id string, nodes []string) {
	d.m.Counter(MetricDiscarded, 1)
	var remote []string
	for _, n := range nodes {
		if n == d.self {
			for _, sid := range blobIDs(id) {
				d.deleteLocal(sid)
			}
		} else {
			remote = append(remote, n)
		}
	}
	if len(remote) > 0 {
		d.background(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for _, sid := range blobIDs(id) {
				d.deleteOn(ctx, sid, remote)
			}
		})
	}
}

// deleteLocal removes this node's copy of id; a missing copy is not an error.
func (d *Plane) deleteLocal(id string) bool {
	err := d.local.Delete(id)
	if err != nil && !errors.Is(err, blob.ErrNotFound) {
		d.log.Warn().Err(err).Str("blob", id).Msg("delete local blob")
	}
	return err == nil
}

func (d *Plane) deleteOn(ctx context.Context, id string, nodes []string) {
	var wg sync.WaitGroup
	for _, n := range nodes {
		if n == d.self {
			d.deleteLocal(id)
			continue
		}
		addr, ok := d.cfg.Resolve(n)
		if !ok {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := d.trans.Call(ctx, addr, methodBlobDelete, []byte(id)); err != nil {
				d.log.Debug().Err(err).Str("blob", id).Str("node", n).Msg("delete remote blob")
			}
		}()
	}
	wg.Wait()
}

// blobPutReq describes an upload to another node.
type blobPutReq struct {
	ID   string `json:"id"`
	Size int64  `json:"size"`
	MD5  []byte `json:"md5,omitempty"`
	// Trailer: the sender computed the digests and sends them in the stream's end frame
	// (sent.go); the receiver computes CRC32C only.
	Trailer bool `json:"trailer,omitempty"`
}

func (d *Plane) handlePut(ctx context.Context, header []byte, body io.Reader) ([]byte, error) {
	var req blobPutReq
	if err := json.Unmarshal(header, &req); err != nil {
		return nil, fmt.Errorf("dataplane: bad blob put: %w", err)
	}
	if !d.cfg.HoldsData {
		return nil, &blobRPCError{code: "no_data", err: errors.New("dataplane: this node holds no object data")}
	}
	expect := blob.Expect{Size: req.Size, MD5: req.MD5}
	if req.Trailer {
		expect.Sent = func() (blob.Digests, error) { return decodeTrailer(transport.UploadTrailer(body)) }
	}
	info, err := d.putLocal(ctx, req.ID, body, expect)
	if err != nil {
		return nil, &blobRPCError{code: blobErrCode(err), err: err}
	}
	return json.Marshal(info)
}

func (d *Plane) handleDelete(ctx context.Context, req []byte) ([]byte, error) {
	if err := d.local.Delete(string(req)); err != nil && !errors.Is(err, blob.ErrNotFound) {
		return nil, err
	}
	return nil, nil
}

// blobErrCode names a blob store error for the other side of an RPC.
func blobErrCode(err error) string {
	switch {
	case errors.Is(err, blob.ErrDigestMismatch):
		return "digest_mismatch"
	case errors.Is(err, blob.ErrSizeMismatch):
		return "size_mismatch"
	case errors.Is(err, blob.ErrNotFound):
		return "not_found"
	case errors.Is(err, blob.ErrCorrupt):
		return "corrupt"
	case errors.Is(err, vfs.ErrNoSpace):
		return "no_space"
	}
	return "failed"
}

type blobRPCError struct {
	code string
	err  error
}

func (e *blobRPCError) Error() string   { return e.err.Error() }
func (e *blobRPCError) RPCCode() string { return e.code }

// remoteBlobError turns a blob RPC's remote error back into the blob store's sentinel.
func remoteBlobError(node string, re *transport.RemoteError) error {
	var sentinel error
	switch re.Code {
	case "digest_mismatch":
		sentinel = blob.ErrDigestMismatch
	case "size_mismatch":
		sentinel = blob.ErrSizeMismatch
	case "not_found":
		sentinel = blob.ErrNotFound
	case "corrupt":
		sentinel = blob.ErrCorrupt
	case "no_space":
		sentinel = ErrNoSpace
	default:
		return fmt.Errorf("dataplane: at node %s: %s", node, re.Message)
	}
	return fmt.Errorf("%w (at node %s: %s)", sentinel, node, re.Message)
}

// rendezvous orders nodes by the highest-random-weight hash of (key, node), so that the choice
// for a key moves little when nodes come and go. The weight is FNV-1a of key, 0, node, passed
// through MurmurHash3's 64-bit finalizer: FNV-1a alone leaves node IDs that differ in their
// last byte (n1, n2, ...) with correlated weights, so that with 4 nodes and factor 3 one node
// got 17 % of the copies instead of 25 % (and a fourth node joining three took 1/6 of the
// data instead of 1/4). See DECISIONS.md, "Rendezvous weights are mixed".
func rendezvous(key string, nodes []string) []string {
	if len(nodes) <= 1 { // a cluster of one: nothing to order
		return append([]string(nil), nodes...)
	}
	type scored struct {
		id    string
		score uint64
	}
	s := make([]scored, 0, len(nodes))
	for _, n := range nodes {
		h := fnv.New64a()
		h.Write([]byte(key))
		h.Write([]byte{0})
		h.Write([]byte(n))
		s = append(s, scored{n, fmix64(h.Sum64())})
	}
	sort.Slice(s, func(i, j int) bool { return s[i].score > s[j].score })
	out := make([]string, len(s))
	for i := range s {
		out[i] = s[i].id
	}
	return out
}

// fmix64 is MurmurHash3's 64-bit finalizer: every input bit affects every output bit.
func fmix64(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	return k
}
