package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"sort"

	"github.com/nebulaio/nebulaio/engine/blob"
	"github.com/nebulaio/nebulaio/transport"
)

// Blobs serves object bytes cluster-wide. This first version of the data plane writes each blob
// to the node that received it (one copy) and reads it from the local store when it is there,
// otherwise streams it from a node that holds it over the transport, so any node serves any
// object while those holders are up. Replication, repair and garbage collection are the data
// plane's next step (issue 8); the metadata already records which nodes hold each blob.
type Blobs struct {
	local   *blob.Store
	trans   *transport.Transport
	self    string
	resolve func(nodeID string) (raftAddr string, ok bool)

	// holdsData is false on a management node: it never stores object bytes, and Put sends
	// them to one of candidates() instead (IDs of live storage-capable nodes).
	holdsData  bool
	candidates func() []string
}

const (
	methodBlobGet = "blob.get"
	methodBlobPut = "blob.put"
)

// blobGetReq names a byte range of a blob; Length < 0 means to the end.
type blobGetReq struct {
	ID     string `json:"id"`
	Offset int64  `json:"off"`
	Length int64  `json:"len"`
}

// NewBlobs serves local blobs to other nodes and reads remote ones. resolve maps a node ID to
// the raft/RPC address other nodes reach it at.
func NewBlobs(local *blob.Store, trans *transport.Transport, self string, resolve func(string) (string, bool)) *Blobs {
	b := &Blobs{local: local, trans: trans, self: self, resolve: resolve, holdsData: true}
	trans.HandleDownload(methodBlobGet, b.handleGet)
	trans.HandleStream(methodBlobPut, b.handlePut)
	return b
}

// HoldNoData makes this node a management node for the data plane: Put streams every blob to one
// of the nodes candidates returns (live hybrid and storage nodes) instead of the local store.
func (b *Blobs) HoldNoData(candidates func() []string) {
	b.holdsData = false
	b.candidates = candidates
}

// ErrNoStorageNode is returned by Put on a node that holds no data when no storage-capable node
// is reachable.
var ErrNoStorageNode = errors.New("engine: no storage-capable node is reachable")

// blobPutReq describes an upload to another node.
type blobPutReq struct {
	ID   string `json:"id"`
	Size int64  `json:"size"`
	MD5  []byte `json:"md5,omitempty"`
}

// Put stores r's bytes under id and returns what the store learned and the nodes that hold the
// blob: this node, or — on a node that holds no data — the storage node it streamed them to
// (chosen by rendezvous hashing of id over the candidates, trying the next on failure before
// any byte was sent).
func (b *Blobs) Put(ctx context.Context, id string, r io.Reader, expect blob.Expect) (blob.Info, []string, error) {
	if b.holdsData {
		info, err := b.local.Put(ctx, id, r, expect)
		return info, []string{b.self}, err
	}
	cands := rendezvous(id, b.candidates())
	hdr, _ := json.Marshal(blobPutReq{ID: id, Size: expect.Size, MD5: expect.MD5})
	var errs []error
	for _, n := range cands {
		addr, ok := b.resolve(n)
		if !ok {
			continue
		}
		cr := &countingReader{r: r}
		reply, err := b.trans.CallStream(ctx, addr, methodBlobPut, hdr, cr)
		if err == nil {
			var info blob.Info
			if err := json.Unmarshal(reply, &info); err != nil {
				return blob.Info{}, nil, fmt.Errorf("engine: blob put reply from %s: %w", n, err)
			}
			return info, []string{n}, nil
		}
		var re *transport.RemoteError
		if errors.As(err, &re) {
			return blob.Info{}, nil, remoteBlobError(re)
		}
		if cr.n > 0 {
			return blob.Info{}, nil, fmt.Errorf("engine: streaming blob %s to %s: %w", id, n, err)
		}
		errs = append(errs, fmt.Errorf("node %s: %w", n, err))
	}
	return blob.Info{}, nil, fmt.Errorf("%w: %w", ErrNoStorageNode, errors.Join(errs...))
}

func (b *Blobs) handlePut(ctx context.Context, header []byte, body io.Reader) ([]byte, error) {
	var req blobPutReq
	if err := json.Unmarshal(header, &req); err != nil {
		return nil, fmt.Errorf("engine: bad blob put: %w", err)
	}
	if !b.holdsData {
		return nil, &blobRPCError{code: "no_data", err: errors.New("engine: this node holds no object data")}
	}
	info, err := b.local.Put(ctx, req.ID, body, blob.Expect{Size: req.Size, MD5: req.MD5})
	if err != nil {
		code := "put_failed"
		switch {
		case errors.Is(err, blob.ErrDigestMismatch):
			code = "digest_mismatch"
		case errors.Is(err, blob.ErrSizeMismatch):
			code = "size_mismatch"
		}
		return nil, &blobRPCError{code: code, err: err}
	}
	return json.Marshal(info)
}

type blobRPCError struct {
	code string
	err  error
}

func (e *blobRPCError) Error() string   { return e.err.Error() }
func (e *blobRPCError) RPCCode() string { return e.code }

func remoteBlobError(re *transport.RemoteError) error {
	switch re.Code {
	case "digest_mismatch":
		return fmt.Errorf("%w (at the storage node: %s)", blob.ErrDigestMismatch, re.Message)
	case "size_mismatch":
		return fmt.Errorf("%w (at the storage node: %s)", blob.ErrSizeMismatch, re.Message)
	}
	return fmt.Errorf("engine: at the storage node: %s", re.Message)
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
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

// Local returns the node's own blob store.
func (b *Blobs) Local() *blob.Store { return b.local }

// NodeID returns the ID recorded as the holder of blobs written here.
func (b *Blobs) NodeID() string { return b.self }

// ErrNoReplica is returned when no node listed for a blob could serve it.
var ErrNoReplica = errors.New("engine: no reachable node holds the blob")

// Open returns the bytes [offset, offset+length) of blob id (length < 0: to the end), from the
// local store when it holds the blob, else from the first listed node that answers. Reads are
// verified by the serving node's block checksums; a corrupt copy is reported and the next
// holder tried.
func (b *Blobs) Open(ctx context.Context, id string, nodes []string, offset, length int64) (io.ReadCloser, error) {
	if r, _, err := b.local.Open(id); err == nil {
		return sectionReader(r, offset, length)
	} else if !errors.Is(err, blob.ErrNotFound) {
		return nil, err
	}
	var errs []error
	for _, n := range nodes {
		if n == b.self {
			continue
		}
		addr, ok := b.resolve(n)
		if !ok {
			errs = append(errs, fmt.Errorf("node %s: address unknown", n))
			continue
		}
		hdr, _ := json.Marshal(blobGetReq{ID: id, Offset: offset, Length: length})
		rc, err := b.trans.OpenStream(ctx, addr, methodBlobGet, hdr)
		if err != nil {
			errs = append(errs, fmt.Errorf("node %s: %w", n, err))
			continue
		}
		return rc, nil
	}
	return nil, fmt.Errorf("%w %s: %w", ErrNoReplica, id, errors.Join(errs...))
}

func (b *Blobs) handleGet(ctx context.Context, header []byte, w io.Writer) error {
	var req blobGetReq
	if err := json.Unmarshal(header, &req); err != nil {
		return fmt.Errorf("engine: bad blob request: %w", err)
	}
	r, _, err := b.local.Open(req.ID)
	if err != nil {
		return err
	}
	rc, err := sectionReader(r, req.Offset, req.Length)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(w, rc)
	return err
}

// sectionReader limits r to [offset, offset+length) and closes r on Close.
func sectionReader(r *blob.Reader, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 || offset > r.Size() {
		r.Close()
		return nil, fmt.Errorf("engine: offset %d outside blob of %d bytes", offset, r.Size())
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
