package s3

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/nebulaio/nebulaio/dataplane"
	"github.com/nebulaio/nebulaio/engine"
	"github.com/nebulaio/nebulaio/fsm"
)

// DataPlane is what the S3 layer calls of the data plane; *dataplane.Plane satisfies it.
type DataPlane interface {
	// Put stores r's bytes under id on the replicas chosen for it and returns once a write
	// quorum has them durably, with the nodes that do.
	Put(ctx context.Context, id string, r io.Reader, expect dataplane.Expect) (dataplane.Info, []string, error)
	// Open reads [offset, offset+length) of blob id from any node that has an intact copy.
	Open(ctx context.Context, id string, nodes []string, offset, length int64) (io.ReadCloser, error)
	// NewBlobID returns the ID of a new blob of size bytes (its erasure-coding layout, if any).
	NewBlobID(size int64) string
	// Discard deletes a blob the caller wrote that nothing will reference.
	Discard(id string, nodes []string)
}

var _ DataPlane = (*dataplane.Plane)(nil)

// backend is the Backend of every node: one engine node, its FSM and its data plane.
type backend struct {
	*fsm.FSM
	node *engine.Node
	data DataPlane
}

var _ Backend = (*backend)(nil)

// NewBackend returns the Backend of a node: proposals go through node (forwarded to the
// leader if needed), reads use f after a linearizable barrier, and object bytes go through
// the data plane (a single node is a cluster of one: its data plane has itself as the only
// member).
func NewBackend(node *engine.Node, f *fsm.FSM, data DataPlane) Backend {
	return &backend{FSM: f, node: node, data: data}
}

func (e *backend) Propose(ctx context.Context, ev fsm.Event) (*fsm.Result, error) {
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

func (e *backend) Sync(ctx context.Context) error { return e.node.Read(ctx, engine.Linearizable) }

func (e *backend) PutBlob(ctx context.Context, id string, r io.Reader, size int64, wantMD5 []byte) (int64, []byte, []string, error) {
	info, nodes, err := e.data.Put(ctx, id, r, dataplane.Expect{Size: size, MD5: wantMD5})
	switch {
	case errors.Is(err, dataplane.ErrDigestMismatch):
		return 0, nil, nil, ErrBadDigest
	case errors.Is(err, dataplane.ErrSizeMismatch):
		return 0, nil, nil, ErrIncompleteBody
	case errors.Is(err, dataplane.ErrNoSpace):
		return 0, nil, nil, ErrInsufficientStorage.with("insufficient storage: %v", err)
	case errors.Is(err, dataplane.ErrNoStorageNode), errors.Is(err, dataplane.ErrWriteQuorum):
		return 0, nil, nil, ErrServiceUnavailable.with("%v", err)
	case err != nil:
		return 0, nil, nil, err
	}
	return info.Size, info.MD5[:], nodes, nil
}

func (e *backend) OpenBlob(ctx context.Context, id string, nodes []string, offset, length int64) (io.ReadCloser, error) {
	rc, err := e.data.Open(ctx, id, nodes, offset, length)
	if err != nil {
		return nil, dataPlaneErr(err)
	}
	return blobReader{rc}, nil
}

func (e *backend) NewBlobID(size int64) string { return e.data.NewBlobID(size) }

func (e *backend) DiscardBlob(id string, nodes []string) { e.data.Discard(id, nodes) }

// dataPlaneErr maps a failed read: no copy anywhere is ErrBlobNotFound, only corrupt copies
// ErrBlobCorrupt (500), and a copy that may be on a node that cannot be read a 503, since the
// data may come back with the node or after repair.
func dataPlaneErr(err error) error {
	switch {
	case !errors.Is(err, dataplane.ErrNoReplica):
		return err
	case errors.Is(err, dataplane.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrBlobNotFound, err)
	case errors.Is(err, dataplane.ErrCorrupt):
		return fmt.Errorf("%w: %w", ErrBlobCorrupt, err)
	}
	return ErrDataElsewhere.with("no reachable node holds an intact copy: %v", err)
}

// blobReader maps the data plane's read errors.
type blobReader struct{ io.ReadCloser }

func (b blobReader) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = dataPlaneErr(err)
	}
	return n, err
}
