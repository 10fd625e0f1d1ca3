package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/nebulaio/nebulaio/engine"
	"github.com/nebulaio/nebulaio/engine/blob"
	"github.com/nebulaio/nebulaio/fsm"
)

// engineBackend is the production Backend: one engine node, its FSM and its blob store.
type engineBackend struct {
	*fsm.FSM
	node   *engine.Node
	blobs  *blob.Store
	nodeID string
	remote *engine.Blobs // nil: local blobs only
}

var _ Backend = (*engineBackend)(nil)

// NewEngineBackend returns the Backend of a node: proposals go through node (forwarded to
// the leader if needed), reads use f after a linearizable barrier, and object bytes live in
// blobs. nodeID names this node in the placement of the blobs it writes.
func NewEngineBackend(node *engine.Node, f *fsm.FSM, blobs *blob.Store, nodeID string) Backend {
	return &engineBackend{FSM: f, node: node, blobs: blobs, nodeID: nodeID}
}

// NewClusterBackend is NewEngineBackend for a cluster member: object bytes are written to the
// local store of blobs and read from it, or — when this node does not hold a blob — streamed
// from a node that does (engine.Blobs over the transport).
func NewClusterBackend(node *engine.Node, f *fsm.FSM, blobs *engine.Blobs) Backend {
	return &engineBackend{FSM: f, node: node, blobs: blobs.Local(), nodeID: blobs.NodeID(), remote: blobs}
}

func (e *engineBackend) NodeID() string { return e.nodeID }

func (e *engineBackend) Propose(ctx context.Context, ev fsm.Event) (*fsm.Result, error) {
	cmd, err := fsm.Encode(ev)
	if err != nil {
		// Only a proposer bug or an over-limit field gets here; say which.
		return nil, ErrInvalidArgument.with("%v", err)
	}
	v, err := e.node.Propose(ctx, cmd)
	if err != nil {
		return nil, err
	}
	res, ok := v.(*fsm.Result)
	if !ok || res == nil {
		return nil, fmt.Errorf("s3: proposal returned %T, not *fsm.Result", v)
	}
	return res, nil
}

func (e *engineBackend) Sync(ctx context.Context) error { return e.node.Read(ctx, engine.Linearizable) }

func (e *engineBackend) PutBlob(ctx context.Context, id string, r io.Reader, size int64, wantMD5 []byte) (int64, []byte, []string, error) {
	var info blob.Info
	var err error
	nodes := []string{e.nodeID}
	if e.remote != nil {
		info, nodes, err = e.remote.Put(ctx, id, r, blob.Expect{Size: size, MD5: wantMD5})
	} else {
		info, err = e.blobs.Put(ctx, id, r, blob.Expect{Size: size, MD5: wantMD5})
	}
	switch {
	case errors.Is(err, blob.ErrDigestMismatch):
		return 0, nil, nil, ErrBadDigest
	case errors.Is(err, blob.ErrSizeMismatch):
		return 0, nil, nil, &Error{"IncompleteBody", http.StatusBadRequest, "The body is shorter or longer than its declared length."}
	case errors.Is(err, engine.ErrNoStorageNode), errors.Is(err, engine.ErrWriteQuorum):
		return 0, nil, nil, ErrServiceUnavailable.with("%v", err)
	case err != nil:
		return 0, nil, nil, err
	}
	return info.Size, info.MD5[:], nodes, nil
}

func (e *engineBackend) OpenBlob(id string, nodes []string) (io.ReadSeekCloser, error) {
	if e.remote != nil {
		return &remoteBlob{b: e.remote, id: id, nodes: nodes}, nil
	}
	r, _, err := e.blobs.Open(id)
	if err != nil {
		return nil, blobErr(err)
	}
	return blobReader{r}, nil
}

// remoteBlob reads a blob through the data plane: the local copy first, else a node that holds
// one (engine.Blobs.Open). It opens lazily at the offset of the last Seek, so a range read
// fetches only that range; every copy is verified against its block checksums, and a corrupt
// or lost copy makes the read move on to the next one.
type remoteBlob struct {
	b     *engine.Blobs
	id    string
	nodes []string
	off   int64
	rc    io.ReadCloser
}

func (r *remoteBlob) Read(p []byte) (int, error) {
	if r.rc == nil {
		rc, err := r.b.Open(context.Background(), r.id, r.nodes, r.off, -1)
		if err != nil {
			return 0, dataPlaneErr(err)
		}
		r.rc = rc
	}
	n, err := r.rc.Read(p)
	r.off += int64(n)
	if err != nil && err != io.EOF {
		err = dataPlaneErr(err)
	}
	return n, err
}

// dataPlaneErr maps a failed cluster read: no copy anywhere is ErrBlobNotFound; copies that
// exist only on nodes that cannot be reached (or only corrupt ones) is a 503, since the data
// may come back with the node or after repair.
func dataPlaneErr(err error) error {
	switch {
	case !errors.Is(err, engine.ErrNoReplica):
		return err
	case errors.Is(err, blob.ErrNotFound) && !errors.Is(err, blob.ErrCorrupt):
		return fmt.Errorf("%w: %w", ErrBlobNotFound, err)
	}
	return ErrDataElsewhere.with("no reachable node holds an intact copy: %v", err)
}

func (r *remoteBlob) Seek(offset int64, whence int) (int64, error) {
	if whence != io.SeekStart || offset < 0 {
		return 0, fmt.Errorf("s3: remote blob %s: only absolute seeks are supported", r.id)
	}
	if offset != r.off && r.rc != nil {
		_ = r.rc.Close()
		r.rc = nil
	}
	r.off = offset
	return offset, nil
}

func (r *remoteBlob) Close() error {
	if r.rc != nil {
		return r.rc.Close()
	}
	return nil
}

func (e *engineBackend) DeleteBlob(id string) error {
	if e.remote != nil {
		// Queued for every live storage node; copies it misses (a node down, a full queue)
		// are unreferenced and collected by each node's garbage collector.
		e.remote.DeleteAsync(id)
		return nil
	}
	if err := e.blobs.Delete(id); err != nil && !errors.Is(err, blob.ErrNotFound) {
		return err
	}
	return nil
}

// blobReader translates the store's ErrCorrupt into ErrBlobCorrupt.
type blobReader struct{ *blob.Reader }

var _ io.ReadSeekCloser = blobReader{}

func (b blobReader) Read(p []byte) (int, error) {
	n, err := b.Reader.Read(p)
	if err != nil && err != io.EOF {
		err = blobErr(err)
	}
	return n, err
}

func blobErr(err error) error {
	switch {
	case errors.Is(err, blob.ErrCorrupt):
		return fmt.Errorf("%w: %w", ErrBlobCorrupt, err)
	case errors.Is(err, blob.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrBlobNotFound, err)
	}
	return err
}
