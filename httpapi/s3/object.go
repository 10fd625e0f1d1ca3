package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/httpapi/sigv4"
	"github.com/nebulaio/nebulaio/internal/sse"
)

// newID returns 128 random bits in hex: blob and upload IDs, never derived from a key.
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("s3: crypto/rand failed: " + err.Error()) // unreachable on Linux
	}
	return hex.EncodeToString(b[:])
}

// storedBlob is a blob written for one request.
type storedBlob struct {
	id    string
	size  int64    // bytes stored (the ciphertext's, for an encrypted blob)
	plain int64    // bytes of content (size, unless encrypted)
	etag  []byte   // MD5 of the content, or of what is stored for SSE-C (objectCipher.plainETag)
	nodes []string // the nodes holding the bytes (recorded in the object's placement)
	// An inline blob (see inline.go) has no nodes: its bytes (ciphertext when encrypted)
	// travel in the event, from buf, a pooled buffer that release returns.
	inline bool
	data   []byte
	buf    *[]byte
	h      *handler
}

// blob is the fsm.Blob of sb.
func (sb storedBlob) blob() fsm.Blob {
	if sb.inline {
		return fsm.Blob{ID: sb.id, Size: uint64(len(sb.data)), Inline: true, Data: sb.data}
	}
	return fsm.Blob{ID: sb.id, Size: uint64(sb.size), Nodes: sb.nodes}
}

// guardReader remembers the first error of the reader it wraps (the authenticated body: its
// errors carry the S3 code) and enforces the size limit.
type guardReader struct {
	r   io.Reader
	max int64
	n   int64
	err error
}

func (g *guardReader) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	g.n += int64(n)
	if g.n > g.max {
		g.err = ErrEntityTooLarge.with("body over %d bytes", g.max)
		return n, g.err
	}
	if err != nil && err != io.EOF && g.err == nil {
		g.err = err
	}
	return n, err
}

// writeBlob streams src (size bytes, or -1 when unknown) into a new blob, encrypted as c
// says, and checks its size and Content-MD5 (wantMD5 nil: not sent; always the content's
// MD5, encrypted or not). On any failure no blob is left behind. A body of at most the
// inline limit becomes an inline blob, kept in memory for the event (the caller releases it
// once the event is proposed): one of unknown size is read up to the limit first, and goes on
// to the data plane when it turns out longer.
func (h *handler) writeBlob(ctx context.Context, src io.Reader, size int64, wantMD5 []byte, c objectCipher) (storedBlob, error) {
	id := h.b.NewBlobID(storedSize(size, c))
	g := &guardReader{r: src, max: h.maxSize}
	var body io.Reader = g
	if lim := h.inlineLimit(size); lim > 0 {
		bp, n, ended, err := h.readInline(g, lim)
		switch {
		case err != nil && g.err != nil:
			return storedBlob{}, g.err
		case err != nil:
			return storedBlob{}, err
		case ended:
			return h.inlineBlob(id, bp, (*bp)[:n], size, wantMD5, c)
		}
		defer h.putInlineBuf(bp)
		body = io.MultiReader(bytes.NewReader((*bp)[:n]), g)
	}
	var r io.Reader = body
	var plainMD5 hash.Hash
	stored, storeMD5 := size, wantMD5
	if c.key != nil {
		// The data plane sees ciphertext: its length and MD5 are the ciphertext's, so the
		// content's MD5 is taken here, before encryption.
		plainMD5 = md5.New()
		r = c.key.Encrypt(id, io.TeeReader(body, plainMD5))
		storeMD5 = nil
		if size >= 0 {
			stored = sse.CiphertextSize(size)
		}
	}
	n, sum, nodes, err := h.b.PutBlob(ctx, id, r, stored, storeMD5)
	if err == nil && g.err != nil {
		h.b.DiscardBlob(id, nodes) // a store that swallowed the reader's error
		err = g.err
	}
	if err != nil {
		if g.err != nil {
			return storedBlob{}, g.err
		}
		return storedBlob{}, fmt.Errorf("s3: store blob: %w", err)
	}
	sb := storedBlob{id: id, size: n, plain: n, etag: sum, nodes: nodes}
	if plainMD5 != nil {
		sb.plain = g.n
		content := plainMD5.Sum(nil)
		if wantMD5 != nil && !bytes.Equal(content, wantMD5) {
			h.b.DiscardBlob(id, nodes)
			return storedBlob{}, ErrBadDigest
		}
		if c.plainETag() {
			sb.etag = content
		}
	}
	return sb, nil
}

// storedSize is the length of the blob that holds size bytes of content encrypted as c says
// (-1 when unknown).
func storedSize(size int64, c objectCipher) int64 {
	if c.key != nil && size >= 0 {
		return sse.CiphertextSize(size)
	}
	return size
}

// commit proposes an event that references the new blob. A rejection by the FSM lists the
// blob in the result's FreedBlobs, so every storage node's data plane deletes it as it applies
// the event (no visible object, no garbage; discarding it here too would delete it twice). An
// event that was never proposed (it does not encode) discards the blob here. An unknown
// outcome (no quorum, leadership lost) keeps it: the write may still commit, and deleting the
// bytes then would leave a dangling object.
//
// An inline blob travels in ev: there is nothing to discard whatever the outcome, and its
// buffer goes back to the pool here, the event being encoded by then.
func (h *handler) commit(rq *request, ev fsm.Event, sb storedBlob) (*fsm.Result, error) {
	res, err := h.propose(rq, ev)
	if sb.inline {
		sb.release()
		if err == nil {
			h.countInline(sb)
		}
		return res, err
	}
	if err != nil {
		var fe *fsm.Error
		var ae *Error
		switch {
		case errors.As(err, &fe):
		case errors.As(err, &ae):
			h.b.DiscardBlob(sb.id, sb.nodes)
		default:
			h.log.Warn().Err(err).Str("blob", sb.id).Str("request_id", rq.id).
				Msg("s3: write outcome unknown; blob kept for garbage collection")
		}
		return nil, err
	}
	return res, nil
}

// contentMD5 decodes the Content-MD5 header (nil when absent).
func contentMD5(hd http.Header) ([]byte, error) {
	v, ok := hd["Content-Md5"]
	if !ok {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v[0]))
	if err != nil || len(b) != md5.Size {
		return nil, ErrInvalidDigest
	}
	return b, nil
}

// metaFromHeaders reads the object metadata a PUT, copy (REPLACE) or upload sets. Every value
// is stored as sent (Content-Encoding less aws-chunked, see contentEncoding); user metadata
// names in lower case, as S3 stores them.
func metaFromHeaders(hd http.Header) (fsm.ObjectMeta, error) {
	m := fsm.ObjectMeta{
		ContentType:        hd.Get("Content-Type"),
		ContentEncoding:    contentEncoding(hd),
		ContentDisposition: hd.Get("Content-Disposition"),
		CacheControl:       hd.Get("Cache-Control"),
		ContentLanguage:    hd.Get("Content-Language"),
		Expires:            hd.Get("Expires"),
	}
	if err := checkStorageClass(hd); err != nil {
		return m, err
	}
	user := map[string]string{}
	total := 0
	for k, vs := range hd {
		name, ok := strings.CutPrefix(strings.ToLower(k), "x-amz-meta-")
		if !ok {
			continue
		}
		if name == "" {
			return m, ErrInvalidArgument.with("empty x-amz-meta- header name")
		}
		v := strings.Join(vs, ",")
		total += len(name) + len(v)
		user[name] = v
	}
	if total > maxUserMetadata {
		return m, ErrMetadataTooLarge.with("user metadata is %d bytes; the limit is %d", total, maxUserMetadata)
	}
	m.UserMetadata = fsm.SortedPairs(user)
	return m, nil
}

// contentEncoding is the Content-Encoding to store: the header byte for byte ("deflate, gzip"
// stays so), unless it names aws-chunked (the signing layer's framing, not the object's
// encoding), which is then removed and the remaining codings joined with ", ".
func contentEncoding(hd http.Header) string {
	vals := hd.Values("Content-Encoding")
	var kept []string
	chunked := false
	for _, v := range vals {
		for _, e := range strings.Split(v, ",") {
			switch e = strings.TrimSpace(e); {
			case strings.EqualFold(e, "aws-chunked"):
				chunked = true
			case e != "":
				kept = append(kept, e)
			}
		}
	}
	if !chunked {
		return strings.Join(vals, ", ")
	}
	return strings.Join(kept, ", ")
}

// StorageClassStandard is the one storage class: every object is stored the same way.
const StorageClassStandard = "STANDARD"

// ErrInvalidStorageClass: an x-amz-storage-class other than STANDARD.
var ErrInvalidStorageClass = &Error{"InvalidStorageClass", http.StatusBadRequest, "The storage class you specified is not valid."}

// checkStorageClass refuses every storage class but STANDARD: accepting REDUCED_REDUNDANCY,
// GLACIER, ... and storing the object like any other would misreport what was done.
func checkStorageClass(hd http.Header) error {
	if v := hd.Get("X-Amz-Storage-Class"); v != "" && v != StorageClassStandard {
		return ErrInvalidStorageClass.with("The storage class you specified is not valid: %.40q; this store accepts %s only.", v, StorageClassStandard)
	}
	return nil
}

// requireBucket checks the bucket before any bytes are stored: locally first, then after a
// read barrier (a follower may not have applied a bucket created a moment ago).
func (h *handler) requireBucket(rq *request, name string) error {
	if _, err := h.b.Bucket(name); err == nil {
		return nil
	}
	if err := h.b.Sync(rq.r.Context()); err != nil {
		return err
	}
	_, err := h.b.Bucket(name)
	return err
}

func (h *handler) bodySize(rq *request) (int64, error) {
	size := rq.auth.ContentLength
	if size > h.maxSize {
		return 0, ErrEntityTooLarge.with("%d bytes; the limit is %d", size, h.maxSize)
	}
	return size, nil
}

// writeConditions reads If-Match and If-None-Match of a PutObject or CompleteMultipartUpload.
// The FSM evaluates them when it applies the event, so of racing conditional writers exactly
// one wins. If-None-Match takes "*" only, as S3 (any other value is NotImplemented).
func writeConditions(hd http.Header) (ifMatch, ifNoneMatch string, err error) {
	ifMatch, ifNoneMatch = hd.Get("If-Match"), strings.TrimSpace(hd.Get("If-None-Match"))
	if ifNoneMatch != "" && ifNoneMatch != "*" {
		return "", "", ErrNotImplemented.with("If-None-Match on a write takes only *, not %q", ifNoneMatch)
	}
	return ifMatch, ifNoneMatch, nil
}

func (h *handler) putObject(rq *request) error {
	ifMatch, ifNoneMatch, err := writeConditions(rq.r.Header)
	if err != nil {
		return err
	}
	size, err := h.bodySize(rq)
	if err != nil {
		return err
	}
	meta, err := metaFromHeaders(rq.r.Header)
	if err != nil {
		return err
	}
	tags, err := tagsFromHeader(rq.r.Header)
	if err != nil {
		return err
	}
	retention, hold, err := lockFromHeaders(rq.r.Header)
	if err != nil {
		return err
	}
	wantMD5, err := contentMD5(rq.r.Header)
	if err != nil {
		return err
	}
	if t := rq.r.Header.Get(hdrChecksumType); t != "" && !strings.EqualFold(t, checksumFullObject) {
		return ErrInvalidRequest.with("Value for x-amz-checksum-type header is invalid: %q; a PutObject checksum is FULL_OBJECT", t)
	}
	pc, err := wantPayloadChecksum(rq, "")
	if err != nil {
		return err
	}
	if err := h.requireBucket(rq, rq.bucket); err != nil {
		return err
	}
	c, err := h.newCipher(rq.r.Header, rq.bucket, true)
	if err != nil {
		return err
	}
	sb, err := h.writeBlob(rq.r.Context(), pc.reader(rq.body), size, wantMD5, c)
	if err != nil {
		return err
	}
	sums := pc.pairs(rq)
	etag := hex.EncodeToString(sb.etag)
	ev := &fsm.PutObject{
		Bucket: rq.bucket, Key: rq.key, Size: uint64(sb.plain), ETag: etag, Meta: meta,
		Checksums: sums, Blobs: []fsm.Blob{sb.blob()},
		ModTime: h.now().UnixNano(), VersionID: h.newVersionID(), Tags: tags,
		IfMatch: ifMatch, IfNoneMatch: ifNoneMatch, Retention: retention, LegalHold: hold, Encryption: c.enc,
	}
	res, err := h.commit(rq, ev, sb)
	if err != nil {
		return err
	}
	hd := rq.w.Header()
	hd.Set("ETag", `"`+etag+`"`)
	setSSEHeaders(hd, c)
	h.setVersionHeader(hd, rq.bucket, res.Object)
	h.setExpiration(hd, rq.bucket, res.Object)
	setChecksumHeaders(hd, sums)
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *handler) getObject(rq *request) error  { return h.serveObject(rq, true) }
func (h *handler) headObject(rq *request) error { return h.serveObject(rq, false) }

// errObjectChanged: the object was overwritten or deleted between reading its metadata and
// opening its first blob (whose bytes the overwrite freed); the GET starts over.
var errObjectChanged = errors.New("s3: object changed while being read")

// serveObject answers GET and HEAD, starting over (a few times) when a concurrent overwrite
// freed the blob it was about to read: a reader sees the old or the new object, never a 500.
func (h *handler) serveObject(rq *request, withBody bool) error {
	vid, err := versionParam(rq)
	if err != nil {
		return err
	}
	if err := h.b.Sync(rq.r.Context()); err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err := h.serveObjectOnce(rq, vid, withBody)
		if !errors.Is(err, errObjectChanged) || attempt == 3 {
			return err
		}
		resetHeaders(rq.w.Header())
	}
}

// serveObjectOnce: preconditions, range, headers, then the bytes.
func (h *handler) serveObjectOnce(rq *request, vid string, withBody bool) error {
	o, err := h.b.ObjectVersion(rq.bucket, rq.key, vid)
	if err != nil {
		return err
	}
	c, err := h.openCipher(rq.r.Header, "", o.Encryption, ErrSSEObjectEncrypted)
	if err != nil {
		return err
	}
	rq.w.rangeSize = int64(o.Size)
	hd := rq.w.Header()
	mtime := time.Unix(0, o.ModTime).UTC()
	notModified, err := checkPreconditions(rq.r.Header, "", o.ETag, mtime)
	if err != nil {
		return err
	}
	if notModified {
		hd.Set("ETag", `"`+o.ETag+`"`)
		hd.Set("Last-Modified", mtime.Format(http.TimeFormat))
		h.setVersionHeader(hd, rq.bucket, &o)
		rq.w.WriteHeader(http.StatusNotModified)
		return nil
	}
	start, length, partial, err := parseRange(rq.r.Header.Get("Range"), int64(o.Size))
	if err != nil {
		return err
	}
	if v, ok := rq.q["partNumber"]; ok {
		if rq.r.Header.Get("Range") != "" {
			return ErrInvalidRequest.with("Cannot specify both Range header and partNumber query parameter")
		}
		if start, length, err = partRange(&o, v[0]); err != nil {
			return err
		}
		partial = true
	}
	setObjectHeaders(hd, &o, mtime)
	setSSEHeaders(hd, c)
	h.setVersionHeader(hd, rq.bucket, &o)
	setLockHeaders(hd, &o)
	if vid == "" {
		h.setExpiration(hd, rq.bucket, &o)
	}
	if withBody {
		applyResponseOverrides(hd, rq.q)
	}
	if !partial && strings.EqualFold(rq.r.Header.Get("X-Amz-Checksum-Mode"), "ENABLED") {
		setChecksumHeaders(hd, o.Checksums)
	}
	status := http.StatusOK
	if partial {
		status = http.StatusPartialContent
		hd.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, start+length-1, o.Size))
	}
	hd.Set("Content-Length", strconv.FormatInt(length, 10))
	if !withBody || length == 0 {
		rq.w.WriteHeader(status)
		return nil
	}
	rd := h.newObjectReader(rq.r.Context(), o.Blobs, c, start, length)
	defer rd.Close()
	// Read the first buffer before the status line: a missing or corrupt blob at the start is
	// then an error response, not a truncated 200.
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	n, err := io.ReadFull(rd, buf[:min(int64(len(buf)), length)])
	if errors.Is(err, ErrBlobNotFound) {
		// Freed by an overwrite or delete that committed after we read the metadata?
		now, oerr := h.b.ObjectVersion(rq.bucket, rq.key, vid)
		switch {
		case oerr != nil:
			return oerr // deleted meanwhile: NoSuchKey
		case now.ETag != o.ETag || now.ModTime != o.ModTime || !sameBlobs(now.Blobs, o.Blobs):
			return errObjectChanged
		}
	}
	if err != nil {
		return h.readFailed(rq, err)
	}
	rq.w.WriteHeader(status)
	if _, err := rq.w.Write(buf[:n]); err != nil {
		return nil // client gone
	}
	if _, err := io.CopyBuffer(rq.w, rd, buf); err != nil {
		// Headers are out: cutting the response short (Content-Length unmet) is how the
		// client learns; the bytes that failed their checksum were never sent.
		_ = h.readFailed(rq, err)
	}
	return nil
}

// copyBufs holds the 64 KiB buffers GET streams through.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

func sameBlobs(a, b []fsm.Blob) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID {
			return false
		}
	}
	return true
}

// ErrInvalidPartNumber: GET/HEAD ?partNumber past the object's parts.
var ErrInvalidPartNumber = &Error{"InvalidPartNumber", http.StatusRequestedRangeNotSatisfiable, "The requested partnumber is not satisfiable."}

// partRange returns the byte range of part number v of o. Every part of a completed
// multipart object is one blob (UploadPart writes one), so part n is Blobs[n-1] (its
// plaintext, for an encrypted object); an object not made by multipart upload has the single
// part 1.
func partRange(o *fsm.ObjectInfo, v string) (start, length int64, err error) {
	n, perr := strconv.Atoi(v)
	if perr != nil || n < 1 || n > fsm.MaxPartNumber {
		return 0, 0, ErrInvalidArgument.with("Part number must be an integer between 1 and %d, inclusive", fsm.MaxPartNumber)
	}
	if o.PartsCount == 0 {
		if n != 1 {
			return 0, 0, ErrInvalidPartNumber
		}
		return 0, int64(o.Size), nil
	}
	if int(o.PartsCount) != len(o.Blobs) {
		return 0, 0, ErrNotImplemented.with("this object's parts are not one blob each")
	}
	if n > len(o.Blobs) {
		return 0, 0, ErrInvalidPartNumber
	}
	sizes, err := plainSizes(o.Blobs, o.Encryption.Encrypted())
	if err != nil {
		return 0, 0, err
	}
	for _, s := range sizes[:n-1] {
		start += s
	}
	return start, sizes[n-1], nil
}

func (h *handler) readFailed(rq *request, err error) error {
	if errors.Is(err, ErrBlobCorrupt) || errors.Is(err, ErrBlobNotFound) {
		h.m.Counter(MetricCorruptTotal, 1)
		h.log.Error().Err(err).Str("request_id", rq.id).Str("bucket", rq.bucket).Str("key", rq.key).
			Msg("s3: object data failed verification; not served")
		if errors.Is(err, ErrBlobNotFound) {
			return ErrInternal.with("object data missing")
		}
		return err
	}
	return err
}

func setObjectHeaders(hd http.Header, o *fsm.ObjectInfo, mtime time.Time) {
	hd.Set("ETag", `"`+o.ETag+`"`)
	hd.Set("Last-Modified", mtime.Format(http.TimeFormat))
	hd.Set("Accept-Ranges", "bytes")
	ct := o.Meta.ContentType
	if ct == "" {
		ct = "binary/octet-stream"
	}
	hd.Set("Content-Type", ct)
	if o.Meta.ContentEncoding != "" {
		hd.Set("Content-Encoding", o.Meta.ContentEncoding)
	}
	if o.Meta.ContentDisposition != "" {
		hd.Set("Content-Disposition", o.Meta.ContentDisposition)
	}
	if o.Meta.CacheControl != "" {
		hd.Set("Cache-Control", o.Meta.CacheControl)
	}
	if o.Meta.ContentLanguage != "" {
		hd.Set("Content-Language", o.Meta.ContentLanguage)
	}
	if o.Meta.Expires != "" {
		hd.Set("Expires", o.Meta.Expires)
	}
	for _, p := range o.Meta.UserMetadata {
		// Set directly: Set would canonicalise the name (X-Amz-Meta-Color), and S3 returns it
		// as stored (lower case), which clients that read raw headers (boto3) hand back as is.
		hd["x-amz-meta-"+p.Key] = []string{p.Value}
	}
	if o.PartsCount > 0 {
		hd.Set("x-amz-mp-parts-count", strconv.Itoa(int(o.PartsCount)))
	}
	setTaggingCount(hd, o)
}

// applyResponseOverrides applies GET's response-* query parameters.
func applyResponseOverrides(hd http.Header, q url.Values) {
	for param, header := range map[string]string{
		"response-content-type": "Content-Type", "response-content-language": "Content-Language",
		"response-expires": "Expires", "response-cache-control": "Cache-Control",
		"response-content-disposition": "Content-Disposition", "response-content-encoding": "Content-Encoding",
	} {
		if v := q.Get(param); v != "" {
			hd.Set(header, v)
		}
	}
}

// etagMatches reports whether an If-Match/If-None-Match list names etag ("*" names any).
func etagMatches(list, etag string) bool {
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || strings.Trim(t, `"`) == etag {
			return true
		}
	}
	return false
}

// checkPreconditions evaluates the four conditional headers (prefix "" for GET/HEAD,
// "X-Amz-Copy-Source-" for a copy source) in RFC 7232 order, as S3 does: If-Match before
// If-Unmodified-Since, If-None-Match before If-Modified-Since. It returns notModified for a
// GET that should answer 304; a copy source answers 412 instead.
func checkPreconditions(hd http.Header, prefix, etag string, mtime time.Time) (notModified bool, err error) {
	mtime = mtime.Truncate(time.Second)
	if v := hd.Get(prefix + "If-Match"); v != "" {
		if !etagMatches(v, etag) {
			return false, ErrPreconditionFailed.with("If-Match: the ETag is %q", etag)
		}
	} else if v := hd.Get(prefix + "If-Unmodified-Since"); v != "" {
		if t, err := http.ParseTime(v); err == nil && mtime.After(t) {
			return false, ErrPreconditionFailed.with("If-Unmodified-Since: modified at %s", mtime.Format(http.TimeFormat))
		}
	}
	if v := hd.Get(prefix + "If-None-Match"); v != "" {
		if etagMatches(v, etag) {
			notModified = true
		}
	} else if v := hd.Get(prefix + "If-Modified-Since"); v != "" {
		if t, err := http.ParseTime(v); err == nil && !mtime.After(t) {
			notModified = true
		}
	}
	if notModified && prefix != "" {
		return false, ErrPreconditionFailed.with("copy source not modified")
	}
	return notModified, nil
}

// parseRange interprets a Range header for an object of size bytes. A header S3 ignores
// (not bytes=, several ranges, unparsable, end before start) serves the whole object; a
// range that starts past the end is InvalidRange.
func parseRange(spec string, size int64) (start, length int64, partial bool, err error) {
	full := func() (int64, int64, bool, error) { return 0, size, false, nil }
	s, ok := strings.CutPrefix(strings.TrimSpace(spec), "bytes=")
	if !ok || strings.Contains(s, ",") {
		return full()
	}
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return full()
	}
	if a == "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 0 {
			return full()
		}
		if n == 0 || size == 0 {
			return 0, 0, false, ErrInvalidRange.with("suffix range %q of a %d-byte object", spec, size)
		}
		n = min(n, size)
		return size - n, n, true, nil
	}
	first, err := strconv.ParseInt(a, 10, 64)
	if err != nil || first < 0 {
		return full()
	}
	last := size - 1
	if b != "" {
		l, err := strconv.ParseInt(b, 10, 64)
		if err != nil || l < first {
			return full()
		}
		last = min(l, size-1)
	}
	if first >= size {
		return 0, 0, false, ErrInvalidRange.with("range %q starts past the end of a %d-byte object", spec, size)
	}
	return first, last - first + 1, true, nil
}

// objectReader reads [start, start+length) of an object's content made of blobs, opening
// each blob only when the read reaches it, for the part of it the range covers (decrypting
// it when key is set: positions are then plaintext positions).
type objectReader struct {
	ctx    context.Context
	h      *handler
	blobs  []fsm.Blob
	sizes  []int64        // content length of each blob
	key    *sse.ObjectKey // nil: not encrypted
	err    error          // the blob sizes are not those of encrypted blobs
	idx    int            // current blob
	off    int64          // offset to read from within blobs[idx]
	remain int64          // bytes left in the whole range
	cur    io.ReadCloser
	curLen int64 // bytes left to read from cur
}

func (h *handler) newObjectReader(ctx context.Context, blobs []fsm.Blob, c objectCipher, start, length int64) *objectReader {
	r := &objectReader{ctx: ctx, h: h, blobs: blobs, key: c.key, remain: length}
	r.sizes, r.err = plainSizes(blobs, c.key != nil)
	for r.err == nil && r.idx < len(blobs) && start >= r.sizes[r.idx] {
		start -= r.sizes[r.idx]
		r.idx++
	}
	r.off = start
	return r
}

// open opens the part of the current blob the range needs. A read that goes on to the blob's
// end asks for it to the end (length -1), so that a whole read also checks the whole-blob
// checksum.
func (r *objectReader) open() error {
	b := r.blobs[r.idx]
	left := r.sizes[r.idx] - r.off
	var f io.ReadCloser
	var err error
	if r.key != nil {
		f, err = r.h.decryptOpen(r, b, r.off, min(r.remain, left))
	} else {
		length := int64(-1)
		if r.remain < left {
			length = r.remain
		}
		f, err = r.h.openBlob(r.ctx, b, r.off, length)
	}
	if err != nil {
		return fmt.Errorf("blob %s: %w", b.ID, err)
	}
	r.cur, r.curLen = f, left
	return nil
}

func (r *objectReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.remain == 0 {
		return 0, io.EOF
	}
	for r.cur == nil || r.curLen == 0 {
		if r.cur != nil {
			_ = r.cur.Close()
			r.cur = nil
			r.idx++
			r.off = 0
		}
		if r.idx >= len(r.blobs) {
			return 0, fmt.Errorf("%w: object metadata lists fewer bytes than its size", ErrBlobCorrupt)
		}
		if r.sizes[r.idx] == r.off {
			r.idx++
			r.off = 0
			continue
		}
		if err := r.open(); err != nil {
			return 0, err
		}
	}
	if int64(len(p)) > r.curLen {
		p = p[:r.curLen]
	}
	if int64(len(p)) > r.remain {
		p = p[:r.remain]
	}
	n, err := r.cur.Read(p)
	r.curLen -= int64(n)
	r.remain -= int64(n)
	if err == nil && r.curLen == 0 {
		// At the blob's end an empty Read lets the store check its whole-blob checksum
		// (blocks were verified one by one already).
		_, err = r.cur.Read(p[:0])
	}
	if err == io.EOF {
		if r.curLen > 0 {
			return n, fmt.Errorf("%w: blob %s shorter than its metadata", ErrBlobCorrupt, r.blobs[r.idx].ID)
		}
		err = nil
	}
	if err != nil {
		return n, fmt.Errorf("blob %s: %w", r.blobs[r.idx].ID, err)
	}
	return n, nil
}

func (r *objectReader) Close() error {
	if r.cur != nil {
		err := r.cur.Close()
		r.cur = nil
		return err
	}
	return nil
}

// deleteObject removes a key (unversioned), adds a delete marker (versioning enabled or
// suspended) or, with versionId, removes that version for good. A missing key or version is
// 204, as S3 answers.
func (h *handler) deleteObject(rq *request) error {
	vid, bypass, err := versionAndBypass(rq)
	if err != nil {
		return err
	}
	res, err := h.propose(rq, &fsm.DeleteObject{Bucket: rq.bucket, Key: rq.key, VersionID: vid,
		MarkerVersionID: h.newVersionID(), ModTime: h.now().UnixNano(), BypassGovernance: bypass})
	switch {
	case errors.Is(err, &fsm.Error{Code: fsm.CodeNoSuchKey}), errors.Is(err, &fsm.Error{Code: fsm.CodeNoSuchVersion}):
	case err != nil:
		return err
	case res.Object != nil && (vid != "" || res.Object.DeleteMarker):
		hd := rq.w.Header()
		hd.Set("x-amz-version-id", res.Object.VersionID)
		if res.Object.DeleteMarker {
			hd.Set("x-amz-delete-marker", "true")
		}
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

type deleteRequest struct {
	XMLName xml.Name `xml:"Delete"`
	Quiet   bool     `xml:"Quiet"`
	Objects []struct {
		Key       string `xml:"Key"`
		VersionID string `xml:"VersionId"`
	} `xml:"Object"`
}

type deletedEntry struct {
	Key                   string `xml:"Key"`
	VersionID             string `xml:"VersionId,omitempty"`
	DeleteMarker          bool   `xml:"DeleteMarker,omitempty"`
	DeleteMarkerVersionID string `xml:"DeleteMarkerVersionId,omitempty"`
}

type deleteError struct {
	Key       string `xml:"Key"`
	VersionID string `xml:"VersionId,omitempty"`
	Code      string `xml:"Code"`
	Message   string `xml:"Message"`
}

type deleteResult struct {
	XMLName xml.Name       `xml:"DeleteResult"`
	Xmlns   string         `xml:"xmlns,attr"`
	Deleted []deletedEntry `xml:"Deleted"`
	Errors  []deleteError  `xml:"Error"`
}

const maxDeleteKeys = 1000

func (h *handler) deleteObjects(rq *request) error {
	body, err := readXMLBody(rq)
	if err != nil {
		return err
	}
	var req deleteRequest
	if err := xml.Unmarshal(body, &req); err != nil {
		return ErrMalformedXML.with("Delete: %v", err)
	}
	if len(req.Objects) == 0 || len(req.Objects) > maxDeleteKeys {
		return ErrMalformedXML.with("Delete lists %d objects; 1..%d allowed", len(req.Objects), maxDeleteKeys)
	}
	if err := requireIntegrity(rq); err != nil {
		return err
	}
	bypass, err := bypassGovernance(rq.r.Header)
	if err != nil {
		return err
	}
	// Each (key, version) is answered once, in request order, however often it is listed
	// (S3 does the same); a missing key is reported as deleted.
	res := deleteResult{Xmlns: s3Namespace}
	type entry struct{ key, version string }
	var todo []entry
	seen := map[entry]bool{}
	var keys, versions []string
	anyVersion := false
	for _, o := range req.Objects {
		e := entry{o.Key, o.VersionID}
		if seen[e] {
			continue
		}
		seen[e] = true
		err := checkKeyOrEmpty(o.Key)
		if err == nil && o.VersionID != "" && !fsm.ValidVersionID(o.VersionID) {
			err = ErrInvalidArgument.with("Invalid version id specified: %q", o.VersionID)
		}
		if err == nil { // each key is authorized on its own; a refused one is reported, not deleted
			err = h.allowKey(rq, o.Key, o.VersionID != "")
		}
		if err == nil && bypass {
			err = h.allow(rq, "s3:BypassGovernanceRetention", rq.bucket, o.Key, scopeObject)
		}
		if err != nil {
			ae := toAPIError(err)
			res.Errors = append(res.Errors, deleteError{Key: o.Key, VersionID: o.VersionID, Code: ae.Code, Message: ae.Message})
			continue
		}
		todo = append(todo, e)
		keys = append(keys, o.Key)
		versions = append(versions, o.VersionID)
		anyVersion = anyVersion || o.VersionID != ""
	}
	if !anyVersion {
		versions = nil // none asked for: the event carries no version list
	}
	if len(keys) == 0 {
		if err := h.bucketExists(rq); err != nil {
			return err
		}
		return writeXML(rq, res)
	}
	out, err := h.propose(rq, &fsm.DeleteObjects{Bucket: rq.bucket, Keys: keys, VersionIDs: versions,
		MarkerVersionID: h.newVersionID(), ModTime: h.now().UnixNano(), BypassGovernance: bypass})
	if err != nil {
		return err
	}
	if len(out.Deleted) != len(todo) {
		return fmt.Errorf("s3: DeleteObjects of %d keys returned %d results", len(todo), len(out.Deleted))
	}
	for i, d := range out.Deleted {
		if d.Err == nil || d.Err.Code == fsm.CodeNoSuchKey || d.Err.Code == fsm.CodeNoSuchVersion {
			if !req.Quiet {
				de := deletedEntry{Key: d.Key, VersionID: todo[i].version}
				if d.Err == nil && d.DeleteMarker {
					de.DeleteMarker, de.DeleteMarkerVersionID = true, d.DeleteMarkerVersionID
				}
				res.Deleted = append(res.Deleted, de)
			}
			continue
		}
		ae := toAPIError(d.Err)
		res.Errors = append(res.Errors, deleteError{Key: d.Key, VersionID: todo[i].version, Code: ae.Code, Message: ae.Message})
	}
	return writeXML(rq, res)
}

func checkKeyOrEmpty(key string) error {
	if key == "" {
		return ErrInvalidArgument.with("empty key")
	}
	return checkKey(key)
}

// parseCopySource splits x-amz-copy-source ("[/]bucket/key[?versionId=V]", URL-encoded);
// versionId "" means the current version. Any other query parameter is InvalidArgument.
func parseCopySource(v string) (bucket, key, versionID string, err error) {
	v, query, hasQuery := strings.Cut(v, "?")
	if hasQuery {
		q, perr := url.ParseQuery(query)
		if perr != nil {
			return "", "", "", ErrInvalidArgument.with("x-amz-copy-source: bad query %q", query)
		}
		for k := range q {
			if k != "versionId" {
				return "", "", "", ErrInvalidArgument.with("x-amz-copy-source takes only ?versionId=, not ?%s", k)
			}
		}
		versionID = q.Get("versionId")
		if !fsm.ValidVersionID(versionID) {
			return "", "", "", ErrInvalidArgument.with("x-amz-copy-source: invalid version id %q", versionID)
		}
	}
	s, err := url.PathUnescape(v)
	if err != nil {
		return "", "", "", ErrInvalidArgument.with("x-amz-copy-source is not URL-encoded correctly")
	}
	s = strings.TrimPrefix(s, "/")
	bucket, key, ok := strings.Cut(s, "/")
	if !ok || bucket == "" || key == "" {
		return "", "", "", ErrInvalidArgument.with("x-amz-copy-source must be bucket/key")
	}
	if err := checkKey(key); err != nil {
		return "", "", "", err
	}
	return bucket, key, versionID, nil
}

// copySource resolves and checks the source object (the version named, else the current one)
// of a copy, and sets x-amz-copy-source-version-id.
func (h *handler) copySource(rq *request) (src fsm.ObjectInfo, byVersion bool, err error) {
	sb, sk, vid, err := parseCopySource(rq.r.Header.Get("X-Amz-Copy-Source"))
	if err != nil {
		return fsm.ObjectInfo{}, false, err
	}
	if err := h.allowSource(rq, sb, sk, vid); err != nil {
		return fsm.ObjectInfo{}, false, err
	}
	if err := h.b.Sync(rq.r.Context()); err != nil {
		return fsm.ObjectInfo{}, false, err
	}
	if src, err = h.b.ObjectVersion(sb, sk, vid); err != nil {
		return fsm.ObjectInfo{}, false, err
	}
	if _, err := checkPreconditions(rq.r.Header, "X-Amz-Copy-Source-", src.ETag, time.Unix(0, src.ModTime).UTC()); err != nil {
		return fsm.ObjectInfo{}, false, err
	}
	if id, ok := h.versionIDOf(sb, &src); ok {
		rq.w.Header().Set("x-amz-copy-source-version-id", id)
	}
	return src, vid != "", nil
}

type copyObjectResult struct {
	XMLName      xml.Name `xml:"CopyObjectResult"`
	Xmlns        string   `xml:"xmlns,attr"`
	LastModified string   `xml:"LastModified"`
	ETag         string   `xml:"ETag"`
	checksumFields
	ChecksumType string `xml:"ChecksumType,omitempty"`
}

// copyChecksum decides the checksum of a copy: the algorithm x-amz-checksum-algorithm asks
// for, computed over the copied bytes; else the source's full-object checksum (the bytes are
// the same); else, for a source with a composite (multipart) checksum, a full-object checksum
// of the same algorithm, since the copy is one piece.
func copyChecksum(rq *request, src []fsm.Pair) (*payloadChecksum, []fsm.Pair, error) {
	alg, err := parseAlgorithmHeader(rq.r.Header)
	if err != nil {
		return nil, nil, err
	}
	if alg == "" && len(src) > 0 {
		if checksumTypeOf(src[0].Value) == checksumFullObject {
			return nil, src, nil
		}
		alg = sigv4.ChecksumAlgorithm(src[0].Key)
	}
	if alg == "" {
		return nil, nil, nil
	}
	h, ok := sigv4.NewChecksumHash(alg)
	if !ok {
		return nil, nil, fmt.Errorf("s3: stored checksum of unknown algorithm %q", alg)
	}
	return &payloadChecksum{alg: alg, computed: h}, nil, nil
}

// copyDirectives reads x-amz-metadata-directive and x-amz-tagging-directive (COPY, the
// default, or REPLACE). x-amz-tagging applies only with REPLACE; sent with COPY it would be
// ignored, so it is refused.
func copyDirectives(hd http.Header) (replaceMeta, replaceTags bool, err error) {
	for _, d := range []struct {
		name string
		to   *bool
	}{{"X-Amz-Metadata-Directive", &replaceMeta}, {"X-Amz-Tagging-Directive", &replaceTags}} {
		switch v := hd.Get(d.name); v {
		case "", "COPY":
		case "REPLACE":
			*d.to = true
		default:
			return false, false, ErrInvalidArgument.with("%s must be COPY or REPLACE, not %q", strings.ToLower(d.name), v)
		}
	}
	if hd.Get("X-Amz-Tagging") != "" && !replaceTags {
		return false, false, ErrInvalidArgument.with("x-amz-tagging on a copy needs x-amz-tagging-directive: REPLACE")
	}
	return replaceMeta, replaceTags, nil
}

// copyObject and uploadPartCopy start over (a few times) when the source was overwritten or
// deleted while its bytes were read (an overwrite frees them at once, an inline blob's in the
// same apply): the copy is of the old source or the new one, or NoSuchKey, never an
// InternalError.
func (h *handler) copyObject(rq *request) error { return h.retryCopy(rq, h.copyObjectOnce) }

func (h *handler) retryCopy(rq *request, once func(*request) error) error {
	for attempt := 1; ; attempt++ {
		err := once(rq)
		switch {
		case !errors.Is(err, errObjectChanged):
			return err
		case attempt == 3:
			return ErrServiceUnavailable.with("the copy source changed %d times while it was read; retry", attempt)
		}
		resetHeaders(rq.w.Header())
	}
}

// copyReadFailed maps a failed read of copy source src (byVersion: named by version ID): a
// blob missing because the source changed since it was looked up is errObjectChanged.
func (h *handler) copyReadFailed(rq *request, src fsm.ObjectInfo, byVersion bool, err error) error {
	if errors.Is(err, ErrBlobNotFound) {
		vid := ""
		if byVersion {
			vid = src.VersionID
		}
		now, oerr := h.b.ObjectVersion(src.Bucket, src.Key, vid)
		if oerr != nil || now.ETag != src.ETag || now.ModTime != src.ModTime || !sameBlobs(now.Blobs, src.Blobs) {
			return errObjectChanged
		}
	}
	return h.readFailed(rq, err)
}

func (h *handler) copyObjectOnce(rq *request) error {
	replaceMeta, replaceTags, err := copyDirectives(rq.r.Header)
	if err != nil {
		return err
	}
	if err := checkStorageClass(rq.r.Header); err != nil {
		return err
	}
	retention, hold, err := lockFromHeaders(rq.r.Header)
	if err != nil {
		return err
	}
	src, byVersion, err := h.copySource(rq)
	if err != nil {
		return err
	}
	srcCipher, err := h.openCipher(rq.r.Header, copySourcePrefix, src.Encryption, ErrSSEObjectEncrypted)
	if err != nil {
		return err
	}
	pc, sums, err := copyChecksum(rq, src.Checksums)
	if err != nil {
		return err
	}
	if err := h.requireBucket(rq, rq.bucket); err != nil {
		return err
	}
	c, err := h.newCipher(rq.r.Header, rq.bucket, true)
	if err != nil {
		return err
	}
	meta, tags := src.Meta, src.Tags
	if replaceMeta {
		if meta, err = metaFromHeaders(rq.r.Header); err != nil {
			return err
		}
	} else if src.Bucket == rq.bucket && src.Key == rq.key && !byVersion && rq.r.Header.Get(hdrSSE) == "" && !sseCHeaders(rq.r.Header, "") {
		// A copy of a named version onto its key is how a version is restored; a copy that
		// asks for encryption re-encrypts in place (with the current master key).
		return ErrInvalidRequest.with("This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}
	if replaceTags {
		if tags, err = tagsFromHeader(rq.r.Header); err != nil {
			return err
		}
	}
	// The bytes are copied into a new blob rather than shared: a concurrent delete of the
	// source frees its blobs as soon as it commits, before this event could reference them.
	rd := h.newObjectReader(rq.r.Context(), src.Blobs, srcCipher, 0, int64(src.Size))
	sb, err := h.writeBlob(rq.r.Context(), pc.reader(rd), int64(src.Size), nil, c)
	rd.Close()
	if err != nil {
		return h.copyReadFailed(rq, src, byVersion, err)
	}
	if pc != nil {
		sums = pc.pairs(rq)
	}
	etag := hex.EncodeToString(sb.etag)
	now := h.now()
	ev := &fsm.PutObject{
		Bucket: rq.bucket, Key: rq.key, Size: uint64(sb.plain), ETag: etag, Meta: meta,
		Checksums: sums, Blobs: []fsm.Blob{sb.blob()},
		ModTime: now.UnixNano(), VersionID: h.newVersionID(), Tags: tags, Retention: retention, LegalHold: hold,
		Encryption: c.enc,
	}
	out, err := h.commit(rq, ev, sb)
	if err != nil {
		return err
	}
	setSSEHeaders(rq.w.Header(), c)
	h.setVersionHeader(rq.w.Header(), rq.bucket, out.Object)
	h.setExpiration(rq.w.Header(), rq.bucket, out.Object)
	res := copyObjectResult{Xmlns: s3Namespace, LastModified: s3Time(now.UnixNano()), ETag: `"` + etag + `"`, checksumFields: fieldsOf(sums)}
	if len(sums) > 0 {
		res.ChecksumType = checksumTypeOf(sums[0].Value)
	}
	return writeXML(rq, res)
}
