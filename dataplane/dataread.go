package dataplane

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/nebulaio/nebulaio/dataplane/blob"
	"github.com/nebulaio/nebulaio/transport"
)

// blobGetReq names a byte range of a blob; Length < 0 means to the end.
type blobGetReq struct {
	ID     string `json:"id"`
	Offset int64  `json:"off"`
	Length int64  `json:"len"`
}

// readOrder lists the nodes to read blob id from, best first: this node (when it holds data);
// the alive placement targets (the first factor of the rendezvous order, where writes, repair
// and the balancer put copies), those the metadata names first; the other alive nodes the
// metadata names (copies made before a storage node joined, or on a draining node); every
// other alive storage member in rendezvous order; last the named nodes that gossip does not
// show alive. Placement comes before the metadata's list because the list records where a
// blob was written, and the balancer moves blobs to their placement after a storage node
// joins without rewriting it (DESIGN.md, "Rebalance").
func (d *Plane) readOrder(id string, named []string) []string {
	p := d.placement()
	var out []string
	seen := map[string]bool{}
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	alive := func(n string) bool { m, ok := p.members[n]; return ok && m.Alive }
	if d.cfg.HoldsData {
		add(d.self)
	}
	order := rendezvous(id, p.alive)
	place := order[:min(len(order), p.factor)]
	for _, n := range place {
		if slices.Contains(named, n) {
			add(n)
		}
	}
	for _, n := range place {
		add(n)
	}
	for _, n := range named {
		if alive(n) {
			add(n)
		}
	}
	for _, n := range rendezvous(id, p.live) {
		add(n)
	}
	for _, n := range named {
		add(n)
	}
	return out
}

// Open returns the bytes [offset, offset+length) of blob id (length < 0: to the end). nodes
// are the holders the metadata records. It reads from the first node of readOrder that has
// the blob — this node first — and when a copy fails mid-way (node lost, checksum mismatch)
// it resumes at the same offset from the next one. Every byte returned was verified against
// the block checksums of the copy that served it; a read to the end of a blob from offset 0
// also checks the whole-blob checksum. A copy that failed its checksums is reported to its
// holder, which drops it so that repair makes a good one, once another copy has served the
// bytes it could not: the last copy of a blob is never dropped by a read. When no copy can
// serve, the error is ErrNoReplica with ErrNotFound, ErrCorrupt or ErrUnreachable. An
// erasure-coded blob is read from its data shards, reconstructed from any K shards for the
// stripes where one fails (openEC).
func (d *Plane) Open(ctx context.Context, id string, nodes []string, offset, length int64) (io.ReadCloser, error) {
	if l, ok := parseEC(id); ok {
		return d.openEC(ctx, id, l, nodes, offset, length)
	}
	fr := &failoverReader{d: d, ctx: ctx, id: id, cands: d.readOrder(id, nodes), off: offset, remain: length}
	if err := fr.advance(); err != nil {
		return nil, err
	}
	return fr, nil
}

type failoverReader struct {
	d      *Plane
	ctx    context.Context
	id     string
	cands  []string
	next   int   // index into cands of the next node to try
	off    int64 // offset of the next byte
	remain int64 // bytes still wanted, < 0: to the end
	cur    io.ReadCloser
	curAt  string
	errs   []error
	// unreachable: a candidate failed otherwise than by not having the blob or having a
	// corrupt copy of it.
	unreachable bool
	// suspects hold corrupt copies, reported once another copy has served bytes.
	suspects []suspect
	ended    bool // endStream ran
}

type suspect struct {
	node  string
	cause error
}

// advance opens the next candidate that has the blob at fr.off.
func (fr *failoverReader) advance() error {
	for fr.next < len(fr.cands) {
		n := fr.cands[fr.next]
		fr.next++
		rc, err := fr.d.openOn(fr.ctx, n, fr.id, fr.off, fr.remain)
		if err == nil {
			fr.cur, fr.curAt = rc, n
			return nil
		}
		fr.failed(n, err)
	}
	return fr.failure()
}

// failed records a candidate's failure to open or to read.
func (fr *failoverReader) failed(node string, err error) {
	switch {
	case errors.Is(err, blob.ErrNotFound):
		return // not an error: most nodes hold no copy
	case errors.Is(err, blob.ErrCorrupt) || isRemoteCorrupt(err):
		fr.d.m.Counter(MetricCorruptReads, 1)
		fr.suspects = append(fr.suspects, suspect{node, err})
	default:
		fr.unreachable = true
	}
	fr.errs = append(fr.errs, fmt.Errorf("node %s at offset %d: %w", node, fr.off, err))
}

// failure is the error of a read that ran out of candidates.
func (fr *failoverReader) failure() error {
	var why error
	switch {
	case len(fr.errs) == 0:
		return fmt.Errorf("%w %s: no node has a copy: %w", ErrNoReplica, fr.id, blob.ErrNotFound)
	case fr.unreachable:
		why = ErrUnreachable
	default:
		why = blob.ErrCorrupt
	}
	return fmt.Errorf("%w %s: %w: %v", ErrNoReplica, fr.id, why, errors.Join(fr.errs...))
}

func (fr *failoverReader) Read(p []byte) (int, error) {
	for {
		if fr.cur == nil {
			return 0, fr.failure()
		}
		if fr.remain == 0 {
			fr.endStream()
			return 0, io.EOF
		}
		n, err := fr.cur.Read(p)
		fr.off += int64(n)
		if fr.remain > 0 {
			fr.remain -= int64(n)
		}
		if n > 0 && len(fr.suspects) > 0 {
			fr.reportSuspects()
		}
		if err == nil || err == io.EOF {
			return n, err
		}
		// This copy failed mid-way: remember it, then resume from the next node.
		fr.failed(fr.curAt, err)
		_ = fr.cur.Close()
		fr.cur = nil
		if aerr := fr.advance(); aerr != nil {
			if n > 0 {
				return n, nil // the next Read reports the failure
			}
			return 0, aerr
		}
		if n > 0 {
			return n, nil
		}
	}
}

// endStream reads the end of the current copy's stream once the range is read: a remote
// stream's end frame, so that the transport can reuse its connection (a stream closed before
// its end is torn down).
func (fr *failoverReader) endStream() {
	if fr.cur != nil && !fr.ended {
		fr.ended = true
		var one [1]byte
		_, _ = fr.cur.Read(one[:])
	}
}

// reportSuspects reports the corrupt copies met so far: another copy has just served the
// bytes they could not.
func (fr *failoverReader) reportSuspects() {
	for _, s := range fr.suspects {
		fr.d.reportBad(s.node, fr.id, s.cause)
	}
	fr.suspects = nil
}

func (fr *failoverReader) Close() error {
	if fr.cur != nil {
		err := fr.cur.Close()
		fr.cur = nil
		return err
	}
	return nil
}

func isRemoteCorrupt(err error) bool {
	var re *transport.RemoteError
	return errors.As(err, &re) && re.Code == "corrupt"
}

// openOn opens [off, off+length) of blob id on one node. A blob the node does not have is
// blob.ErrNotFound; a copy that fails its checksums, blob.ErrCorrupt.
func (d *Plane) openOn(ctx context.Context, node, id string, off, length int64) (io.ReadCloser, error) {
	if node == d.self {
		r, _, err := d.local.Open(id)
		if err != nil {
			return nil, err
		}
		return sectionReader(r, off, length)
	}
	addr, ok := d.cfg.Resolve(node)
	if !ok {
		return nil, errors.New("address unknown")
	}
	hdr, _ := json.Marshal(blobGetReq{ID: id, Offset: off, Length: length})
	rc, err := d.trans.OpenStream(ctx, addr, methodBlobGet, hdr)
	if err != nil {
		var re *transport.RemoteError
		if errors.As(err, &re) {
			return nil, remoteBlobError(node, re)
		}
		return nil, err
	}
	return rc, nil
}

// reportBad handles a copy of blob id on node that failed its checksums: the holder verifies
// the whole copy and, if it is indeed bad, deletes it, so that repair writes a good one.
func (d *Plane) reportBad(node, id string, cause error) {
	d.log.Error().Str("blob", id).Str("node", node).AnErr("error", cause).Msg("corrupt blob copy: dropping it for repair")
	d.background(func() {
		if node == d.self {
			d.dropIfCorrupt(id)
			return
		}
		addr, ok := d.cfg.Resolve(node)
		if !ok {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := d.trans.Call(ctx, addr, methodBlobBad, []byte(id)); err != nil {
			d.log.Warn().Err(err).Str("blob", id).Str("node", node).Msg("report corrupt blob copy")
		}
	})
}

// dropIfCorrupt verifies the local copy of id and deletes it if it fails.
func (d *Plane) dropIfCorrupt(id string) bool {
	err := d.local.Verify(id)
	if !errors.Is(err, blob.ErrCorrupt) {
		return false
	}
	if derr := d.local.Delete(id); derr != nil && !errors.Is(derr, blob.ErrNotFound) {
		d.log.Error().Err(derr).Str("blob", id).Msg("delete corrupt blob copy")
		return false
	}
	d.m.Counter(MetricCorruptDropped, 1)
	d.log.Warn().Str("blob", id).AnErr("cause", err).Msg("deleted a corrupt blob copy; repair will replace it")
	return true
}

func (d *Plane) handleBad(ctx context.Context, req []byte) ([]byte, error) {
	d.dropIfCorrupt(string(req))
	return nil, nil
}

func (d *Plane) handleGet(ctx context.Context, header []byte, w io.Writer) error {
	var req blobGetReq
	if err := json.Unmarshal(header, &req); err != nil {
		return fmt.Errorf("dataplane: bad blob request: %w", err)
	}
	r, _, err := d.local.Open(req.ID)
	if err != nil {
		return &blobRPCError{code: blobErrCode(err), err: err}
	}
	rc, err := sectionReader(r, req.Offset, req.Length)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(w, readErrWrapper{rc})
	return err
}

// readErrWrapper tags the source's errors with an RPC code, so that the reading node can tell
// a corrupt copy from a lost connection.
type readErrWrapper struct{ r io.Reader }

func (w readErrWrapper) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if err != nil && err != io.EOF {
		err = &blobRPCError{code: blobErrCode(err), err: err}
	}
	return n, err
}

// handleList streams the IDs of the local blobs, one per line (repair's inventory).
func (d *Plane) handleList(ctx context.Context, header []byte, w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	err := d.local.List(func(e blob.Entry) error {
		if _, err := bw.WriteString(e.ID); err != nil {
			return err
		}
		if err := bw.WriteByte('\n'); err != nil {
			return err
		}
		return ctx.Err()
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}

// inventory returns the IDs of the blobs node holds.
func (d *Plane) inventory(ctx context.Context, node string) (map[string]struct{}, error) {
	out := map[string]struct{}{}
	if node == d.self {
		err := d.local.List(func(e blob.Entry) error {
			out[e.ID] = struct{}{}
			return ctx.Err()
		})
		return out, err
	}
	addr, ok := d.cfg.Resolve(node)
	if !ok {
		return nil, fmt.Errorf("node %s: address unknown", node)
	}
	rc, err := d.trans.OpenStream(ctx, addr, methodBlobList, nil)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 0, 64<<10), blob.MaxIDLength+2)
	for sc.Scan() {
		out[sc.Text()] = struct{}{}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// sectionReader limits r to [offset, offset+length) and closes r on Close.
func sectionReader(r *blob.Reader, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 || offset > r.Size() {
		r.Close()
		return nil, fmt.Errorf("dataplane: offset %d outside blob of %d bytes", offset, r.Size())
	}
	if length < 0 || offset+length > r.Size() {
		length = r.Size() - offset
	}
	if offset == 0 && length == r.Size() {
		return r, nil // a whole read also verifies the whole-blob checksum at EOF
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(r, offset, length), r}, nil
}
