package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/nebulaio/nebulaio/engine/blob"
	"github.com/nebulaio/nebulaio/transport"
)

// Blobs is the data plane: it places object bytes on storage-capable nodes, streams each
// write to its replicas in parallel, serves any blob from any node, and (RunRepair, on the
// leader) restores the replication factor. See engine/DESIGN.md, "Data plane".
type Blobs struct {
	cfg   BlobsConfig
	local *blob.Store
	trans *transport.Transport
	self  string
	log   zerolog.Logger
	m     Metrics

	bg sync.WaitGroup // background deletes and corruption reports; Close waits for them

	delOnce sync.Once
	delq    chan string   // DeleteAsync's queue, drained by one worker started on first use
	stop    chan struct{} // closed by Close
	closeMu sync.Mutex
	closed  bool

	repairMu    sync.Mutex
	repairStats RepairStats
	lastInv     map[string]map[string]struct{} // repair: last inventory seen per node
}

// BlobsConfig assembles the data plane of one node.
type BlobsConfig struct {
	// Local is this node's blob store (unused for writes on a node that holds no data).
	Local *blob.Store
	// Transport carries blob RPCs; Self is this node's ID.
	Transport *transport.Transport
	Self      string
	// HoldsData is false on a management node: it stores no object bytes and is never chosen.
	HoldsData bool
	// Resolve maps a node ID to the RPC address other nodes reach it at (the raft address).
	Resolve func(nodeID string) (addr string, ok bool)
	// Members lists the raft members with what the data plane needs to know of them. Nil means
	// this node alone.
	Members func() []DataMember
	// Factor is the replication factor wanted (default 3). The effective factor is capped by
	// the number of storage-capable members.
	Factor int
	// StallTimeout fails a replica whose stream makes no progress for this long (default 15s).
	StallTimeout time.Duration
	// StragglerWait is how long a write waits for the remaining replicas once a write quorum
	// has acknowledged (default 2s); replicas still running then are cancelled and left to
	// repair.
	StragglerWait time.Duration
	Logger        zerolog.Logger
	Metrics       Metrics
}

// DataMember is one raft member as the data plane sees it.
type DataMember struct {
	ID      string
	Storage bool          // role hybrid or storage: may hold object bytes
	Alive   bool          // gossip says alive
	DownFor time.Duration // how long it has not been alive (0 while alive or when unknown)
}

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
// (503 to an S3 client); ErrNoReplica means no reachable node holds a blob.
var (
	ErrNoStorageNode = errors.New("engine: no storage-capable node is reachable")
	ErrWriteQuorum   = errors.New("engine: blob write quorum not reached")
	ErrNoReplica     = errors.New("engine: no reachable node holds the blob")
)

// NewBlobs starts the data plane of a node: it registers the blob RPCs on the transport.
func NewBlobs(cfg BlobsConfig) *Blobs {
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
		cfg.Members = func() []DataMember { return []DataMember{{ID: self, Storage: holds, Alive: true}} }
	}
	b := &Blobs{cfg: cfg, local: cfg.Local, trans: cfg.Transport, self: cfg.Self, log: cfg.Logger,
		m: cfg.Metrics, lastInv: map[string]map[string]struct{}{},
		delq: make(chan string, deleteQueueLen), stop: make(chan struct{})}
	if b.m == nil {
		b.m = nopMetrics{}
	}
	b.trans.HandleDownload(methodBlobGet, b.handleGet)
	b.trans.HandleDownload(methodBlobList, b.handleList)
	b.trans.HandleStream(methodBlobPut, b.handlePut)
	b.trans.Handle(methodBlobFetch, b.handleFetch)
	b.trans.Handle(methodBlobDelete, b.handleDelete)
	b.trans.Handle(methodBlobBad, b.handleBad)
	b.trans.Handle(methodRepairStat, b.handleRepairStats)
	return b
}

type nopMetrics struct{}

func (nopMetrics) Counter(string, float64) {}
func (nopMetrics) Gauge(string, float64)   {}
func (nopMetrics) Observe(string, float64) {}

// Close waits for the background work Put and reads started (deleting the copies of failed
// writes, dropping corrupt copies). Call it before closing the transport and the store.
func (b *Blobs) Close() {
	b.closeMu.Lock()
	if !b.closed {
		b.closed = true
		close(b.stop)
	}
	b.closeMu.Unlock()
	b.bg.Wait()
}

// deleteQueueLen bounds DeleteAsync's backlog; beyond it deletions are left to the garbage
// collectors.
const deleteQueueLen = 10000

// DeleteAsync queues the deletion of blob id on every live storage node and returns at once
// (S3 deletes and overwrites must not wait on a slow or dying peer). It reports false when the
// queue is full or the data plane is closed: the copies are then unreferenced garbage that each
// node's collector removes after its grace period.
func (b *Blobs) DeleteAsync(id string) bool {
	b.delOnce.Do(func() {
		b.closeMu.Lock()
		defer b.closeMu.Unlock()
		if b.closed {
			return
		}
		b.bg.Add(1)
		go b.deleteWorker()
	})
	select {
	case <-b.stop:
		return false
	default:
	}
	select {
	case b.delq <- id:
		return true
	default:
		b.m.Counter(MetricDeleteQueueFull, 1)
		return false
	}
}

func (b *Blobs) deleteWorker() {
	defer b.bg.Done()
	wctx, cancelAll := context.WithCancel(context.Background())
	defer cancelAll()
	go func() { <-b.stop; cancelAll() }() // Close must not wait for a slow peer
	for {
		select {
		case <-b.stop:
			return
		case id := <-b.delq:
			ctx, cancel := context.WithTimeout(wctx, 10*time.Second)
			_ = b.Delete(ctx, id)
			cancel()
		}
	}
}

// Local returns the node's own blob store.
func (b *Blobs) Local() *blob.Store { return b.local }

// NodeID returns this node's ID.
func (b *Blobs) NodeID() string { return b.self }

// placement is the view of the cluster a write or a repair pass works from.
type placement struct {
	factor  int      // effective replication factor
	storage []string // storage-capable members
	alive   []string // storage-capable members that are alive
	members map[string]DataMember
}

func (b *Blobs) placement() placement {
	p := placement{members: map[string]DataMember{}}
	for _, m := range b.cfg.Members() {
		p.members[m.ID] = m
		if !m.Storage {
			continue
		}
		p.storage = append(p.storage, m.ID)
		if m.Alive {
			p.alive = append(p.alive, m.ID)
		}
	}
	p.factor = min(b.cfg.Factor, len(p.storage))
	return p
}

// Factor returns the effective replication factor: the configured one capped by the number of
// storage-capable members.
func (b *Blobs) Factor() int { return b.placement().factor }

// Put stores r's bytes under id on the replicas chosen for it — the first `factor` alive
// storage-capable members in rendezvous order of id — streaming to all of them at once. It
// returns once a write quorum (a majority of the factor) has stored and fsynced the bytes,
// with the nodes that did; replicas that failed or lagged are left for repair. On any error
// the blob is not referenced by anything and the copies made are deleted (or collected later).
func (b *Blobs) Put(ctx context.Context, id string, r io.Reader, expect blob.Expect) (blob.Info, []string, error) {
	p := b.placement()
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
		info, err := b.putOne(ctx, targets[0], id, r, expect)
		if err != nil {
			if targets[0] != b.self && !isClientError(err) {
				err = fmt.Errorf("%w: %w", ErrNoStorageNode, err)
			}
			return blob.Info{}, nil, err
		}
		return info, targets, nil
	}
	return b.fanOut(ctx, id, r, expect, targets, quorum)
}

// isClientError reports whether a write failed because of the data sent (a digest or length
// mismatch), which every replica would report alike.
func isClientError(err error) bool {
	return errors.Is(err, blob.ErrDigestMismatch) || errors.Is(err, blob.ErrSizeMismatch)
}

// putOne stores the bytes on one node: the local store, or a blob.put stream.
func (b *Blobs) putOne(ctx context.Context, node, id string, r io.Reader, expect blob.Expect) (blob.Info, error) {
	if node == b.self {
		return b.local.Put(ctx, id, r, expect)
	}
	addr, ok := b.cfg.Resolve(node)
	if !ok {
		return blob.Info{}, fmt.Errorf("engine: node %s: address unknown", node)
	}
	hdr, _ := json.Marshal(blobPutReq{ID: id, Size: expect.Size, MD5: expect.MD5})
	reply, err := b.trans.CallStream(ctx, addr, methodBlobPut, hdr, r)
	if err != nil {
		var re *transport.RemoteError
		if errors.As(err, &re) {
			return blob.Info{}, remoteBlobError(node, re)
		}
		return blob.Info{}, fmt.Errorf("engine: node %s: %w", node, err)
	}
	var info blob.Info
	if err := json.Unmarshal(reply, &info); err != nil {
		return blob.Info{}, fmt.Errorf("engine: blob put reply from %s: %w", node, err)
	}
	return info, nil
}

// replicaStream is one replica of a fanned-out write: the pipe its putOne reads from and its
// outcome.
type replicaStream struct {
	node   string
	pr     *io.PipeReader
	pw     *io.PipeWriter
	cancel context.CancelFunc
	info   blob.Info
	err    error // outcome of putOne; valid after done
	failed bool  // a write to the pipe failed or stalled (fan-out goroutine only)
}

var errStalled = errors.New("engine: replica stream made no progress")

// fanOut copies r to every target through one pipe each, chunk by chunk, so the slowest live
// replica paces the write and nothing is buffered beyond one chunk.
func (b *Blobs) fanOut(ctx context.Context, id string, r io.Reader, expect blob.Expect, targets []string, quorum int) (blob.Info, []string, error) {
	reps := make([]*replicaStream, len(targets))
	results := make(chan *replicaStream, len(targets))
	for i, n := range targets {
		pr, pw := io.Pipe()
		rctx, cancel := context.WithCancel(ctx)
		rs := &replicaStream{node: n, pr: pr, pw: pw, cancel: cancel}
		reps[i] = rs
		go func() {
			defer func() { results <- rs }()
			rs.info, rs.err = b.putOne(rctx, rs.node, id, rs.pr, expect)
			if rs.err != nil {
				rs.pr.CloseWithError(rs.err)
			} else {
				rs.pr.CloseWithError(errors.New("engine: replica finished before the body ended"))
			}
		}()
	}
	abortAll := func(err error) {
		for _, rs := range reps {
			rs.pw.CloseWithError(err)
			rs.cancel()
		}
		for range reps {
			<-results
		}
	}
	liveCount := func() int {
		n := 0
		for _, rs := range reps {
			if !rs.failed {
				n++
			}
		}
		return n
	}

	buf := make([]byte, fanoutChunk)
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			b.broadcast(reps, buf[:n])
			if liveCount() < quorum {
				abortAll(ErrWriteQuorum)
				err := b.quorumError(reps, quorum)
				b.dropCopies(id, reps)
				return blob.Info{}, nil, err
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			abortAll(rerr)
			return blob.Info{}, nil, rerr
		}
	}
	for _, rs := range reps {
		if !rs.failed {
			rs.pw.Close()
		}
	}

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
				straggle = time.After(b.cfg.StragglerWait)
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
	var nodes []string
	var info blob.Info
	var clientErr error
	for _, rs := range reps {
		switch {
		case rs.err == nil && !rs.failed:
			if len(nodes) > 0 && info.MD5 != rs.info.MD5 {
				b.dropCopies(id, reps)
				return blob.Info{}, nil, fmt.Errorf("engine: replicas of blob %s disagree on its MD5", id)
			}
			nodes, info = append(nodes, rs.node), rs.info
		case rs.err != nil && isClientError(rs.err):
			clientErr = rs.err
		default:
			b.m.Counter(MetricReplicaWriteFailures, 1)
			b.log.Warn().Str("blob", id).Str("replica", rs.node).AnErr("error", rs.err).Msg("blob replica write failed; left to repair")
		}
	}
	if clientErr != nil {
		b.dropCopies(id, reps)
		return blob.Info{}, nil, clientErr
	}
	if len(nodes) < quorum {
		err := b.quorumError(reps, quorum)
		b.dropCopies(id, reps)
		return blob.Info{}, nil, err
	}
	sort.Strings(nodes)
	return info, nodes, nil
}

// broadcast writes p to every live replica's pipe in parallel. A replica whose write fails, or
// makes no progress for StallTimeout, is marked failed and its stream cancelled.
func (b *Blobs) broadcast(reps []*replicaStream, p []byte) {
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
			_, errs[i] = rs.pw.Write(p)
		}()
	}
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	timer := time.NewTimer(b.cfg.StallTimeout)
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

func (b *Blobs) quorumError(reps []*replicaStream, quorum int) error {
	var errs []error
	for _, rs := range reps {
		if rs.failed || rs.err != nil {
			e := rs.err
			if e == nil {
				e = errStalled
			}
			errs = append(errs, fmt.Errorf("%s: %w", rs.node, e))
		}
	}
	return fmt.Errorf("%w: %d of %d replicas needed: %w", ErrWriteQuorum, quorum, len(reps), errors.Join(errs...))
}

// dropCopies deletes, in the background, the copies a failed write made; anything it misses is
// unreferenced and collected by the garbage collector after its grace period.
func (b *Blobs) dropCopies(id string, reps []*replicaStream) {
	var nodes []string
	for _, rs := range reps {
		nodes = append(nodes, rs.node)
	}
	b.bg.Add(1)
	go func() {
		defer b.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b.deleteOn(ctx, id, nodes)
	}()
}

// Delete removes blob id from every storage-capable member that answers (best effort: a copy
// on a node that is down is unreferenced and collected by that node's garbage collector).
func (b *Blobs) Delete(ctx context.Context, id string) error {
	p := b.placement()
	nodes := p.alive
	if b.cfg.HoldsData && !slices.Contains(nodes, b.self) {
		nodes = append(nodes, b.self)
	}
	b.deleteOn(ctx, id, nodes)
	return nil
}

func (b *Blobs) deleteOn(ctx context.Context, id string, nodes []string) {
	var wg sync.WaitGroup
	for _, n := range nodes {
		if n == b.self {
			if err := b.local.Delete(id); err != nil && !errors.Is(err, blob.ErrNotFound) {
				b.log.Warn().Err(err).Str("blob", id).Msg("delete local blob")
			}
			continue
		}
		addr, ok := b.cfg.Resolve(n)
		if !ok {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := b.trans.Call(ctx, addr, methodBlobDelete, []byte(id)); err != nil {
				b.log.Debug().Err(err).Str("blob", id).Str("node", n).Msg("delete remote blob")
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
}

func (b *Blobs) handlePut(ctx context.Context, header []byte, body io.Reader) ([]byte, error) {
	var req blobPutReq
	if err := json.Unmarshal(header, &req); err != nil {
		return nil, fmt.Errorf("engine: bad blob put: %w", err)
	}
	if !b.cfg.HoldsData {
		return nil, &blobRPCError{code: "no_data", err: errors.New("engine: this node holds no object data")}
	}
	info, err := b.local.Put(ctx, req.ID, body, blob.Expect{Size: req.Size, MD5: req.MD5})
	if err != nil {
		return nil, &blobRPCError{code: blobErrCode(err), err: err}
	}
	return json.Marshal(info)
}

func (b *Blobs) handleDelete(ctx context.Context, req []byte) ([]byte, error) {
	if err := b.local.Delete(string(req)); err != nil && !errors.Is(err, blob.ErrNotFound) {
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
	default:
		return fmt.Errorf("engine: at node %s: %s", node, re.Message)
	}
	return fmt.Errorf("%w (at node %s: %s)", sentinel, node, re.Message)
}

// rendezvous orders nodes by the highest-random-weight hash of (key, node), so that the choice
// for a key moves little when nodes come and go.
func rendezvous(key string, nodes []string) []string {
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
		s = append(s, scored{n, h.Sum64()})
	}
	sort.Slice(s, func(i, j int) bool { return s[i].score > s[j].score })
	out := make([]string, len(s))
	for i := range s {
		out[i] = s[i].id
	}
	return out
}
