package snapshot

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

// streamOut is the io.ReadCloser Open returns: header, merged records, trailer. A snapshot
// that is a single base run is streamed chunk by chunk without re-encoding (a base chunk's
// raw bytes are stream records); with deltas the runs are merged record by record.
// Chunks are read and decompressed ahead on background goroutines.
type streamOut struct {
	s         *Store
	id        string
	runs      []openRun
	fast      *chunkStream // single base run
	merge     *mergeIter   // otherwise
	buf       []byte       // bytes ready to hand out: buf[pos:]
	pos       int
	scratch   []byte
	crc       uint32
	body      int64
	count     int64
	wantBody  int64
	wantCount int64
	trailer   bool // trailer has been queued
	err       error
	closed    bool
}

var _ Source = (*streamOut)(nil)

// Source is implemented by the stream Store.Open returns. It names the store and snapshot it
// reads, so that a consumer backed by the same store (an FSM whose state stays in the runs)
// can open a Reader instead of reading the stream. Wrappers such as raft's counting reader
// expose it through raft.ReadCloserWrapper.
type Source interface {
	io.ReadCloser
	// Store is the store the snapshot belongs to.
	Store() *Store
	// SnapshotID is the ID of the snapshot the stream reads.
	SnapshotID() string
}

func newStreamOut(s *Store, id string, hdr []byte, runs []openRun, wantBody, wantCount int64) *streamOut {
	o := &streamOut{s: s, id: id, runs: runs, wantBody: wantBody, wantCount: wantCount}
	o.queue(hdr)
	return o
}

// Store returns the store the stream reads from.
func (o *streamOut) Store() *Store { return o.s }

// SnapshotID returns the ID of the snapshot the stream reads.
func (o *streamOut) SnapshotID() string { return o.id }

// start begins reading the runs (and decompressing ahead) at the first Read past the header,
// so that a consumer that only wants Store and SnapshotID costs no chunk reads.
func (o *streamOut) start() {
	if o.fast != nil || o.merge != nil {
		return
	}
	if len(o.runs) == 1 && o.runs[0].ix.kind == runKindBase {
		o.fast = newChunkStream(o.runs[0], 0, readAhead(), true)
	} else {
		o.merge = newMergeIter(o.runs, nil, nil, readAhead())
	}
}

func (o *streamOut) queue(b []byte) {
	o.crc = crc32.Update(o.crc, castagnoli, b)
	o.buf, o.pos = b, 0
}

// Read implements io.Reader.
func (o *streamOut) Read(p []byte) (int, error) {
	if o.closed {
		return 0, ErrClosed
	}
	for o.pos >= len(o.buf) {
		if o.err != nil {
			return 0, o.err
		}
		o.advance()
	}
	n := copy(p, o.buf[o.pos:])
	o.pos += n
	return n, nil
}

// advance queues the next piece of the stream, or sets o.err (io.EOF after the trailer).
func (o *streamOut) advance() {
	if o.trailer {
		o.err = io.EOF
		return
	}
	o.start()
	if o.fast != nil {
		raw, i, err := o.fast.nextChunk()
		if err != nil {
			o.fail(err)
			return
		}
		if i >= 0 {
			o.body += int64(len(raw))
			o.count += o.fast.r.ix.chunks[i].records
			o.queue(raw)
			return
		}
	} else {
		b := o.scratch[:0]
		for len(b) < 64<<10 && o.merge.next() {
			b = appendRecord(b, false, o.merge.key, o.merge.val)
			o.count++
		}
		if o.merge.err != nil {
			o.fail(o.merge.err)
			return
		}
		o.scratch = b
		if len(b) > 0 {
			o.body += int64(len(b))
			o.queue(b)
			return
		}
	}
	if o.body != o.wantBody || o.count != o.wantCount {
		o.fail(fmt.Errorf("%w: merged view has %d records in %d bytes, manifest says %d in %d",
			ErrCorrupt, o.count, o.body, o.wantCount, o.wantBody))
		return
	}
	t := make([]byte, streamTrailerSize)
	t[0] = opEnd
	binary.LittleEndian.PutUint64(t[1:9], uint64(o.count))
	o.crc = crc32.Update(o.crc, castagnoli, t[:9])
	binary.LittleEndian.PutUint32(t[9:], o.crc)
	o.buf, o.pos = t, 0
	o.trailer = true
}

func (o *streamOut) fail(err error) {
	o.err = fmt.Errorf("snapshot %s: %w", o.id, err)
}

// Close releases the runs. It implements io.Closer.
func (o *streamOut) Close() error {
	if o.closed {
		return nil
	}
	o.closed = true
	if o.fast != nil {
		o.fast.close()
	}
	if o.merge != nil {
		o.merge.close()
	}
	closeRuns(o.runs)
	return nil
}
