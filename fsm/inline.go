package fsm

import (
	"fmt"
	"slices"
)

// Inline blobs: small objects whose bytes travel in their PutObject or PutPart event and
// are kept by the FSM in a record of their own (prefixBlobData), not in the object or part
// record, so that listings, the record cache's small entries and results never carry object
// bytes. Layouts in doc.go ("Event encoding", "Snapshot key space"); the reference rule in
// doc.go ("Blob IDs").

// MaxInlineSize bounds the bytes of one inline blob and the inline bytes of one event: an
// event stays a small raft entry, and a data record a small snapshot value.
const MaxInlineSize = 1 << 20

// prefixBlobData: an inline blob's bytes, (blob id).
const prefixBlobData byte = 0x0D

// blobData is the record of one inline blob's bytes (prefixBlobData), version 1: string blob
// id, bytes data (uvarint length ≤ MaxInlineSize, then the bytes).
type blobData struct {
	ID   string
	Data []byte
}

func blobDataKey(id string) string { return keyOf(prefixBlobData, id) }

func encodeBlobData(r *blobData) ([]byte, error) {
	e := &encoder{b: make([]byte, 0, len(r.Data)+len(r.ID)+8)}
	e.u8(recordVersion)
	e.str("blob id", r.ID)
	e.bytes("inline data", r.Data)
	return e.b, e.err
}

func decodeBlobData(v []byte) (*blobData, error) {
	d := openRecord(v)
	r := &blobData{ID: d.str("blob id"), Data: d.bytes("inline data")}
	return r, d.finish()
}

// bytes writes a uvarint length (≤ MaxInlineSize) and the bytes.
func (e *encoder) bytes(what string, b []byte) {
	if len(b) > MaxInlineSize {
		e.fail("%s is %d bytes, limit %d", what, len(b), MaxInlineSize)
		return
	}
	e.uvarint(uint64(len(b)))
	e.b = append(e.b, b...)
}

// bytes reads what encoder.bytes writes into a new slice (never nil: an empty inline blob
// is an empty slice).
func (d *decoder) bytes(what string) []byte {
	n := d.uvarint(what)
	if d.err != nil {
		return nil
	}
	if n > MaxInlineSize {
		d.fail("%s length %d exceeds %d", what, n, MaxInlineSize)
		return nil
	}
	if n > uint64(len(d.b)) {
		d.truncated(what)
		return nil
	}
	out := make([]byte, n)
	copy(out, d.b)
	d.b = d.b[n:]
	return out
}

// hasInline reports whether any blob is inline.
func hasInline(bs []Blob) bool {
	for _, b := range bs {
		if b.Inline {
			return true
		}
	}
	return false
}

// withoutData returns bs with every Data dropped (bs itself when none has any): what a record
// keeps of an event's blobs.
func withoutData(bs []Blob) []Blob {
	if !slices.ContainsFunc(bs, func(b Blob) bool { return b.Data != nil }) {
		return bs
	}
	out := slices.Clone(bs)
	for i := range out {
		out[i].Data = nil
	}
	return out
}

// inlineData writes the inline blobs of an event (PutObject version 5, PutPart version 2):
// a list (at least one entry) of (uvarint index into the blobs, bytes data), indexes
// ascending. An inline blob has Data (not nil), no nodes and Size len(Data); a blob with Data
// is inline; the event's inline bytes are at most MaxInlineSize.
func (e *encoder) inlineData(bs []Blob) {
	n, err := checkInlineBlobs(bs)
	if err != nil {
		e.fail("%v", err)
	}
	e.uvarint(uint64(n))
	for i, b := range bs {
		if b.Inline {
			e.uvarint(uint64(i))
			e.bytes("inline data", b.Data)
		}
	}
}

// checkInlineBlobs checks the inline blobs of an event's list and returns how many there are.
func checkInlineBlobs(bs []Blob) (int, error) {
	n, total := 0, 0
	for _, b := range bs {
		switch {
		case b.Inline != (b.Data != nil):
			return 0, fmt.Errorf("blob %q: Inline %v with %d bytes of data (an inline blob has Data, a stored one none)", b.ID, b.Inline, len(b.Data))
		case b.Inline && (len(b.Nodes) > 0 || b.Size != uint64(len(b.Data))):
			return 0, fmt.Errorf("inline blob %q: %d nodes, size %d for %d bytes", b.ID, len(b.Nodes), b.Size, len(b.Data))
		case b.Inline:
			n++
			total += len(b.Data)
		}
	}
	if total > MaxInlineSize {
		return 0, fmt.Errorf("%d inline bytes, limit %d", total, MaxInlineSize)
	}
	return n, nil
}

// inlineData reads what encoder.inlineData writes into bs.
func (d *decoder) inlineData(bs []Blob) {
	n := d.count("inline blobs", len(bs), 2)
	if d.err == nil && n == 0 {
		d.fail("an empty list of inline blobs")
	}
	total, prev := 0, -1
	for k := 0; k < n && d.err == nil; k++ {
		i := d.uvarint("inline blob index")
		data := d.bytes("inline data")
		if d.err != nil {
			return
		}
		if i >= uint64(len(bs)) || int(i) <= prev {
			d.fail("inline blob index %d", i)
			return
		}
		prev = int(i)
		b := &bs[i]
		if len(b.Nodes) > 0 || b.Size != uint64(len(data)) {
			d.fail("inline blob %q: %d nodes, size %d for %d bytes", b.ID, len(b.Nodes), b.Size, len(data))
			return
		}
		if total += len(data); total > MaxInlineSize {
			d.fail("%d inline bytes, limit %d", total, MaxInlineSize)
			return
		}
		b.Inline, b.Data = true, data
	}
}

// inlineFlags writes which blobs of a record are inline (object record version 5, part
// record version 2, results 0xB6): a list of uvarint indexes, ascending; at least one entry
// unless mayBeEmpty.
func (e *encoder) inlineFlags(bs []Blob, mayBeEmpty bool) {
	n := 0
	for _, b := range bs {
		if b.Inline {
			if len(b.Nodes) > 0 || b.Data != nil {
				e.fail("inline blob %q with nodes or data in a record", b.ID)
			}
			n++
		}
	}
	if n == 0 && !mayBeEmpty {
		e.fail("no inline blob")
	}
	e.uvarint(uint64(n))
	for i, b := range bs {
		if b.Inline {
			e.uvarint(uint64(i))
		}
	}
}

// inlineFlags reads what encoder.inlineFlags writes and marks those blobs of bs inline.
func (d *decoder) inlineFlags(bs []Blob, mayBeEmpty bool) {
	n := d.count("inline blobs", len(bs), 1)
	if d.err == nil && n == 0 && !mayBeEmpty {
		d.fail("an empty list of inline blobs")
	}
	prev := -1
	for k := 0; k < n && d.err == nil; k++ {
		i := d.uvarint("inline blob index")
		if d.err != nil {
			return
		}
		if i >= uint64(len(bs)) || int(i) <= prev || len(bs[i].Nodes) > 0 {
			d.fail("inline blob index %d", i)
			return
		}
		prev = int(i)
		bs[i].Inline = true
	}
}

// encryptionOpt is the encryption field of a body that extends the one that introduced it
// and may leave it empty: u8 0, two empty strings; else as encryption.
func (e *encoder) encryptionOpt(x Encryption) {
	if x.Encrypted() {
		e.encryption(x)
		return
	}
	if x != (Encryption{}) {
		e.fail("encryption fields without an algorithm")
	}
	e.u8(0)
	e.str("key id", "")
	e.str("sealed key", "")
}

func (d *decoder) encryptionOpt() Encryption {
	if d.err == nil && len(d.b) > 0 && d.b[0] == 0 {
		d.u8("encryption algorithm")
		if d.str("key id") != "" || d.str("sealed key") != "" {
			d.fail("encryption fields without an algorithm")
		}
		return Encryption{}
	}
	return d.encryption()
}

// PutObject version 5: the version 4 body (its encryption possibly empty), then the inline
// blobs. PutPart version 2: the version 1 body, then the inline blobs.

var (
	_ extended5 = (*PutObject)(nil)
	_ extended  = (*PutPart)(nil)
)

func (ev *PutObject) hasExt5() bool         { return hasInline(ev.Blobs) || hasData(ev.Blobs) }
func (ev *PutObject) encodeExt5(e *encoder) { e.inlineData(ev.Blobs) }
func (ev *PutObject) decodeExt5(d *decoder) { d.inlineData(ev.Blobs) }

func (ev *PutPart) hasExt() bool         { return hasInline(ev.Blobs) || hasData(ev.Blobs) }
func (ev *PutPart) encodeExt(e *encoder) { e.inlineData(ev.Blobs) }
func (ev *PutPart) decodeExt(d *decoder) { d.inlineData(ev.Blobs) }

func hasData(bs []Blob) bool {
	return slices.ContainsFunc(bs, func(b Blob) bool { return b.Data != nil })
}

// --- Apply ---

// setBlobData records (data != nil) or deletes an inline blob's bytes. The dirty tree's inline
// bytes are counted (dirtyBytes) for the memory bound.
func (f *FSM) setBlobData(id string, data []byte) {
	var rec any
	if data != nil {
		rec = &blobData{ID: id, Data: data}
	}
	f.set(blobDataKey(id), rec)
}

// storeInline writes the data records of an applied write's inline blobs.
func (f *FSM) storeInline(bs []Blob) {
	for _, b := range bs {
		if b.Inline {
			f.setBlobData(b.ID, b.Data)
		}
	}
}

// checkInline checks the inline blobs of a write before it is applied: an event decoded from
// the log is well formed already; one applied directly (tests, tools) is checked alike.
func checkInline(bs []Blob) *Error {
	if _, err := checkInlineBlobs(bs); err != nil {
		return newErr(CodeInvalidArgument, "%v", err)
	}
	return nil
}

// storeBlobIDs lists the IDs of the store (not inline) blobs of bs, each once, in order.
func storeBlobIDs(bs []Blob) []string {
	var out []string
	var seen map[string]bool // lookups only
	for _, b := range bs {
		if b.Inline || seen[b.ID] {
			continue
		}
		if seen == nil {
			seen = make(map[string]bool, len(bs))
		}
		seen[b.ID] = true
		out = append(out, b.ID)
	}
	return out
}

// entryBytes is what an entry of the dirty or frozen trees counts against the byte bound:
// the inline bytes it holds.
func entryBytes(rec any) int64 {
	if d, ok := rec.(*blobData); ok {
		return int64(len(d.Data))
	}
	return 0
}

// BlobData returns the bytes of an inline blob: through the tiers (records changed since the
// newest persisted snapshot, the cache, the snapshot runs) like any cold record. An ID that
// has no inline bytes — never written inline, or freed since — is an error wrapping
// ErrNoSuchBlob; other errors are failures to read the snapshot runs. The slice is the
// caller's.
func (f *FSM) BlobData(id string) ([]byte, error) {
	rec, ok, fresh, err := f.readGet(blobDataKey(id), func() error { return nil })
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoSuchBlob, id)
	}
	data := rec.(*blobData).Data
	if !fresh {
		data = slices.Clone(data)
		if data == nil {
			data = []byte{}
		}
	}
	return data, nil
}
