package s3

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/httpapi/sigv4"
)

// newUploadID returns an upload ID that sorts by initiation time: the initiation time (Unix
// nanoseconds, 64 bits) then 64 random bits, in hex. ListMultipartUploads lists the uploads of
// one key in upload ID order and pages them with upload-id-marker, which S3 compares
// lexicographically, while S3 lists them by initiation time: with these IDs the two orders
// agree (random IDs listed a key's uploads in an arbitrary order).
func newUploadID(t time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixNano()))
	if _, err := rand.Read(b[8:]); err != nil {
		panic("s3: crypto/rand failed: " + err.Error()) // unreachable on Linux
	}
	return hex.EncodeToString(b[:])
}

type initiateResult struct {
	XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
	Xmlns    string   `xml:"xmlns,attr"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	UploadID string   `xml:"UploadId"`
}

func (h *handler) createUpload(rq *request) error {
	meta, err := metaFromHeaders(rq.r.Header)
	if err != nil {
		return err
	}
	tags, err := tagsFromHeader(rq.r.Header)
	if err != nil {
		return err
	}
	alg, typ, err := uploadChecksum(rq.r.Header)
	if err != nil {
		return err
	}
	retention, hold, err := lockFromHeaders(rq.r.Header)
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
	now := h.now()
	id := newUploadID(now)
	if _, err := h.propose(rq, &fsm.CreateMultipartUpload{
		Bucket: rq.bucket, Key: rq.key, UploadID: id, Initiated: now.UnixNano(), Meta: meta,
		ChecksumAlgorithm: string(alg), ChecksumType: typ, Tags: tags, Retention: retention, LegalHold: hold,
		Encryption: c.enc,
	}); err != nil {
		return err
	}
	if alg != "" {
		rq.w.Header().Set(hdrChecksumAlgorithm, string(alg))
		rq.w.Header().Set(hdrChecksumType, typ)
	}
	setSSEHeaders(rq.w.Header(), c)
	return writeXML(rq, initiateResult{Xmlns: s3Namespace, Bucket: rq.bucket, Key: rq.key, UploadID: id})
}

// partParams reads uploadId and partNumber (1..10000).
func partParams(rq *request) (string, uint32, error) {
	n, err := strconv.ParseUint(rq.q.Get("partNumber"), 10, 32)
	if err != nil || n < 1 || n > fsm.MaxPartNumber {
		return "", 0, ErrInvalidArgument.with("Part number must be an integer between 1 and %d, inclusive", fsm.MaxPartNumber)
	}
	return rq.q.Get("uploadId"), uint32(n), nil
}

// requireUpload checks the upload exists before any part bytes are stored.
func (h *handler) requireUpload(rq *request, uploadID string) (fsm.UploadInfo, error) {
	if u, err := h.b.Upload(rq.bucket, rq.key, uploadID); err == nil {
		return u, nil
	}
	if err := h.b.Sync(rq.r.Context()); err != nil {
		return fsm.UploadInfo{}, err
	}
	return h.b.Upload(rq.bucket, rq.key, uploadID)
}

// partChecksum decides the checksum a part of upload u stores. An upload that declared an
// algorithm takes parts of that algorithm only; a COMPOSITE one needs the client's value for
// every part (S3 refuses a part without one), while a FULL_OBJECT part without one gets it
// computed here. An upload that declared none keeps whatever checksum a part carries (the
// AWS SDKs add a CRC32 to every UploadPart by default, declared or not; MinIO accepts it).
func partChecksum(rq *request, u fsm.UploadInfo) (*payloadChecksum, error) {
	need := sigv4.ChecksumAlgorithm(u.ChecksumAlgorithm)
	if t := rq.r.Header.Get(hdrChecksumType); t != "" && u.ChecksumType != "" && !strings.EqualFold(t, u.ChecksumType) {
		return nil, ErrInvalidRequest.with("The upload was created using the %s checksum type, not %s.", u.ChecksumType, strings.ToUpper(t))
	}
	_, sent := rq.auth.ChecksumAlgorithm()
	if need != "" && u.ChecksumType == checksumComposite && !sent && rq.r.Header.Get(hdrChecksumAlgorithm) == "" {
		return nil, ErrInvalidRequest.with("Checksum Type mismatch occurred, expected checksum Type: %s, actual checksum Type: null", strings.ToLower(string(need)))
	}
	return wantPayloadChecksum(rq, need)
}

func (h *handler) uploadPart(rq *request) error {
	uploadID, num, err := partParams(rq)
	if err != nil {
		return err
	}
	size, err := h.bodySize(rq)
	if err != nil {
		return err
	}
	wantMD5, err := contentMD5(rq.r.Header)
	if err != nil {
		return err
	}
	u, err := h.requireUpload(rq, uploadID)
	if err != nil {
		return err
	}
	pc, err := partChecksum(rq, u)
	if err != nil {
		return err
	}
	c, err := h.openCipher(rq.r.Header, "", u.Encryption, ErrSSEMultipartEncrypted)
	if err != nil {
		return err
	}
	sb, err := h.writeBlob(rq.r.Context(), pc.reader(rq.body), size, wantMD5, c)
	if err != nil {
		return err
	}
	etag := hex.EncodeToString(sb.etag)
	sums := pc.pairs(rq)
	if _, err := h.commit(rq, &fsm.PutPart{
		Bucket: rq.bucket, Key: rq.key, UploadID: uploadID, PartNumber: num, Size: uint64(sb.plain),
		ETag: etag, Checksums: sums, Blobs: []fsm.Blob{sb.blob()},
		ModTime: h.now().UnixNano(),
	}, sb); err != nil {
		return err
	}
	hd := rq.w.Header()
	hd.Set("ETag", `"`+etag+`"`)
	setSSEHeaders(hd, c)
	for _, p := range sums {
		hd.Set("x-amz-checksum-"+strings.ToLower(p.Key), p.Value)
	}
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

type copyPartResult struct {
	XMLName      xml.Name `xml:"CopyPartResult"`
	Xmlns        string   `xml:"xmlns,attr"`
	LastModified string   `xml:"LastModified"`
	ETag         string   `xml:"ETag"`
	checksumFields
}

func (h *handler) uploadPartCopy(rq *request) error { return h.retryCopy(rq, h.uploadPartCopyOnce) }

func (h *handler) uploadPartCopyOnce(rq *request) error {
	uploadID, num, err := partParams(rq)
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
	u, err := h.requireUpload(rq, uploadID)
	if err != nil {
		return err
	}
	c, err := h.openCipher(rq.r.Header, "", u.Encryption, ErrSSEMultipartEncrypted)
	if err != nil {
		return err
	}
	var pc *payloadChecksum // the upload's algorithm, computed over the copied range
	if alg := sigv4.ChecksumAlgorithm(u.ChecksumAlgorithm); alg != "" {
		hs, _ := sigv4.NewChecksumHash(alg)
		pc = &payloadChecksum{alg: alg, computed: hs}
	}
	start, length := int64(0), int64(src.Size)
	if v := rq.r.Header.Get("X-Amz-Copy-Source-Range"); v != "" {
		s, l, partial, err := parseRange(v, int64(src.Size))
		if err != nil {
			return err
		}
		if !partial || strings.HasPrefix(v, "bytes=-") {
			return ErrInvalidArgument.with("x-amz-copy-source-range must be bytes=first-last, not %q", v)
		}
		if e, _ := strconv.ParseInt(v[strings.IndexByte(v, '-')+1:], 10, 64); e >= int64(src.Size) {
			return ErrInvalidRange.with("x-amz-copy-source-range %q is outside the %d-byte source", v, src.Size)
		}
		start, length = s, l
	}
	rd := h.newObjectReader(rq.r.Context(), src.Blobs, srcCipher, start, length)
	sb, err := h.writeBlob(rq.r.Context(), pc.reader(rd), length, nil, c)
	rd.Close()
	if err != nil {
		return h.copyReadFailed(rq, src, byVersion, err)
	}
	etag := hex.EncodeToString(sb.etag)
	now := h.now().UnixNano()
	sums := pc.pairs(rq)
	if _, err := h.commit(rq, &fsm.PutPart{
		Bucket: rq.bucket, Key: rq.key, UploadID: uploadID, PartNumber: num, Size: uint64(sb.plain),
		ETag: etag, Checksums: sums, Blobs: []fsm.Blob{sb.blob()},
		ModTime: now,
	}, sb); err != nil {
		return err
	}
	setSSEHeaders(rq.w.Header(), c)
	return writeXML(rq, copyPartResult{Xmlns: s3Namespace, LastModified: s3Time(now), ETag: `"` + etag + `"`, checksumFields: fieldsOf(sums)})
}

type completedPart struct {
	PartNumber uint32 `xml:"PartNumber"`
	ETag       string `xml:"ETag"`
	checksumFields
}

type completeRequest struct {
	XMLName xml.Name        `xml:"CompleteMultipartUpload"`
	Parts   []completedPart `xml:"Part"`
}

type completeResult struct {
	XMLName  xml.Name `xml:"CompleteMultipartUploadResult"`
	Xmlns    string   `xml:"xmlns,attr"`
	Location string   `xml:"Location"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	ETag     string   `xml:"ETag"`
	checksumFields
	ChecksumType string `xml:"ChecksumType,omitempty"`
}

// allParts reads every uploaded part of an upload, in part number order.
func (h *handler) allParts(rq *request, uploadID string) (map[uint32]fsm.PartInfo, error) {
	out := map[uint32]fsm.PartInfo{}
	var marker uint32
	for {
		page, err := h.b.ListParts(rq.bucket, rq.key, uploadID, fsm.PartListParams{PartNumberMarker: marker})
		if err != nil {
			return nil, err
		}
		for _, p := range page.Parts {
			out[p.PartNumber] = p
		}
		if !page.IsTruncated {
			return out, nil
		}
		marker = page.NextPartNumberMarker
	}
}

// completionChecksum computes the checksum of the object a completion makes, as S3 does:
// the upload's algorithm and type (or, for an upload that declared none, the algorithm of an
// x-amz-checksum-* header on the completion request, which minio-go sends); part checksums
// listed in the request must be the uploaded parts'; a COMPOSITE upload's request must list
// one for every part; an x-amz-checksum-* header must equal the computed value (BadDigest).
// The values come from the parts whose ETags the request lists, and the FSM's ETag check at
// commit makes sure those are the parts the object is made of.
func (h *handler) completionChecksum(rq *request, u fsm.UploadInfo, req *completeRequest) ([]fsm.Pair, error) {
	alg, typ := sigv4.ChecksumAlgorithm(u.ChecksumAlgorithm), u.ChecksumType
	want, hasWant := rq.auth.Checksum() // VerifyOptions.ObjectChecksum: not compared with the body
	reqType := strings.ToUpper(rq.r.Header.Get(hdrChecksumType))
	if reqType != "" && reqType != checksumComposite && reqType != checksumFullObject {
		return nil, ErrInvalidRequest.with("Value for x-amz-checksum-type header is invalid: %q; COMPOSITE or FULL_OBJECT", reqType)
	}
	switch {
	case alg == "" && hasWant:
		hd := http.Header{}
		hd.Set(hdrChecksumAlgorithm, string(want.Algorithm))
		hd.Set(hdrChecksumType, reqType)
		var err error
		if alg, typ, err = uploadChecksum(hd); err != nil {
			return nil, err
		}
	case alg == "" && reqType != "":
		return nil, ErrInvalidRequest.with("The upload was created without a checksum algorithm; x-amz-checksum-type %s needs one.", reqType)
	case reqType != "" && reqType != typ:
		return nil, ErrInvalidRequest.with("The upload was created using the %s checksum mode. The complete request must use the same checksum mode.", typ)
	case hasWant && want.Algorithm != alg:
		return nil, ErrInvalidRequest.with("Checksum Type mismatch occurred, expected checksum Type: %s, actual checksum Type: %s",
			strings.ToLower(string(alg)), strings.ToLower(string(want.Algorithm)))
	}
	stored, err := h.allParts(rq, u.UploadID)
	if err != nil {
		return nil, err
	}
	chosen := make([]fsm.PartInfo, 0, len(req.Parts))
	for _, cp := range req.Parts {
		p, ok := stored[cp.PartNumber]
		if !ok {
			return nil, ErrInvalidPart.with("part %d was not uploaded", cp.PartNumber)
		}
		sent := cp.sent()
		for _, s := range sent {
			if v, ok := checksumOf(p.Checksums, sigv4.ChecksumAlgorithm(s.Key)); !ok || v != s.Value {
				return nil, ErrInvalidPart.with("part %d: the %s checksum %q is not the uploaded part's", cp.PartNumber, s.Key, s.Value)
			}
		}
		if _, listed := checksumOf(sent, alg); alg != "" && typ == checksumComposite && !listed {
			return nil, ErrInvalidRequest.with("The upload was created using a %s checksum. The complete request must include the checksum for each part. It was missing for part %d in the request.",
				strings.ToLower(string(alg)), cp.PartNumber)
		}
		chosen = append(chosen, p)
	}
	if alg == "" {
		return nil, nil
	}
	value, err := multipartChecksum(alg, typ, chosen)
	if err != nil {
		return nil, err
	}
	if hasWant && !sameObjectChecksum(want.Value, value) {
		return nil, ErrBadDigest.with("The %s you specified did not match the calculated checksum (%s).", alg.HeaderName(), value)
	}
	return []fsm.Pair{{Key: string(alg), Value: value}}, nil
}

// sameObjectChecksum compares a client's object checksum with the computed one; a composite
// value may be given without its "-N" suffix (minio-go does).
func sameObjectChecksum(given, computed string) bool {
	if given == computed {
		return true
	}
	base, _, composite := sigv4.SplitComposite(computed)
	return composite && given == base
}

func (h *handler) completeUpload(rq *request) error {
	ifMatch, ifNoneMatch, err := writeConditions(rq.r.Header)
	if err != nil {
		return err
	}
	body, err := readXMLBody(rq)
	if err != nil {
		return err
	}
	var req completeRequest
	if err := xml.Unmarshal(body, &req); err != nil {
		return ErrMalformedXML.with("CompleteMultipartUpload: %v", err)
	}
	if len(req.Parts) == 0 || len(req.Parts) > fsm.MaxPartNumber {
		return ErrMalformedXML.with("CompleteMultipartUpload lists %d parts; 1..%d allowed", len(req.Parts), fsm.MaxPartNumber)
	}
	uploadID := rq.q.Get("uploadId")
	if err := h.b.Sync(rq.r.Context()); err != nil {
		return err
	}
	u, err := h.b.Upload(rq.bucket, rq.key, uploadID)
	if err != nil {
		return err
	}
	c := objectCipher{enc: u.Encryption}
	if sseCHeaders(rq.r.Header, "") {
		// The SSE-C key is optional here (S3's); when sent, it must be the upload's.
		if c, err = h.openCipher(rq.r.Header, "", u.Encryption, ErrSSEMultipartEncrypted); err != nil {
			return err
		}
	}
	sums, err := h.completionChecksum(rq, u, &req)
	if err != nil {
		return err
	}
	ev := &fsm.CompleteMultipartUpload{
		Bucket: rq.bucket, Key: rq.key, UploadID: uploadID, MinPartSize: h.minPart,
		ModTime: h.now().UnixNano(), Checksums: sums, VersionID: h.newVersionID(),
		IfMatch: ifMatch, IfNoneMatch: ifNoneMatch,
	}
	for _, p := range req.Parts {
		ev.Parts = append(ev.Parts, fsm.CompletedPart{PartNumber: p.PartNumber, ETag: p.ETag})
	}
	res, err := h.propose(rq, ev)
	if err != nil {
		return err
	}
	scheme := "http"
	if rq.r.TLS != nil {
		scheme = "https"
	}
	out := completeResult{
		Xmlns: s3Namespace, Location: scheme + "://" + rq.r.Host + "/" + rq.bucket + "/" + rq.key,
		Bucket: rq.bucket, Key: rq.key, ETag: `"` + res.Object.ETag + `"`, checksumFields: fieldsOf(res.Object.Checksums),
	}
	if len(res.Object.Checksums) > 0 {
		out.ChecksumType = checksumTypeOf(res.Object.Checksums[0].Value)
	}
	setSSEHeaders(rq.w.Header(), c)
	h.setVersionHeader(rq.w.Header(), rq.bucket, res.Object)
	h.setExpiration(rq.w.Header(), rq.bucket, res.Object)
	return writeXML(rq, out)
}

func (h *handler) abortUpload(rq *request) error {
	if _, err := h.propose(rq, &fsm.AbortMultipartUpload{Bucket: rq.bucket, Key: rq.key, UploadID: rq.q.Get("uploadId")}); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

type partEntry struct {
	PartNumber   uint32 `xml:"PartNumber"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         uint64 `xml:"Size"`
	checksumFields
}

type listPartsResult struct {
	XMLName              xml.Name    `xml:"ListPartsResult"`
	Xmlns                string      `xml:"xmlns,attr"`
	Bucket               string      `xml:"Bucket"`
	Key                  string      `xml:"Key"`
	UploadID             string      `xml:"UploadId"`
	Initiator            owner       `xml:"Initiator"`
	Owner                owner       `xml:"Owner"`
	StorageClass         string      `xml:"StorageClass"`
	ChecksumAlgorithm    string      `xml:"ChecksumAlgorithm,omitempty"`
	ChecksumType         string      `xml:"ChecksumType,omitempty"`
	PartNumberMarker     uint32      `xml:"PartNumberMarker"`
	NextPartNumberMarker uint32      `xml:"NextPartNumberMarker"`
	MaxParts             int         `xml:"MaxParts"`
	IsTruncated          bool        `xml:"IsTruncated"`
	Parts                []partEntry `xml:"Part"`
}

func (h *handler) listParts(rq *request) error {
	maxParts, err := listBounded(rq.q, "max-parts")
	if err != nil {
		return err
	}
	var marker uint64
	if v := rq.q.Get("part-number-marker"); v != "" {
		if marker, err = strconv.ParseUint(v, 10, 32); err != nil {
			return ErrInvalidArgument.with("part-number-marker must be a part number, not %q", v)
		}
	}
	if err := h.b.Sync(rq.r.Context()); err != nil {
		return err
	}
	uploadID := rq.q.Get("uploadId")
	b, err := h.b.Bucket(rq.bucket)
	if err != nil {
		return err
	}
	u, err := h.b.Upload(rq.bucket, rq.key, uploadID)
	if err != nil {
		return err
	}
	if sseCHeaders(rq.r.Header, "") { // optional; when sent, it must be the upload's key
		if _, err := h.openCipher(rq.r.Header, "", u.Encryption, ErrSSEMultipartEncrypted); err != nil {
			return err
		}
	}
	page, err := h.b.ListParts(rq.bucket, rq.key, uploadID, fsm.PartListParams{PartNumberMarker: uint32(marker), MaxParts: maxParts})
	if err != nil {
		return err
	}
	o := owner{ID: b.Owner, DisplayName: b.Owner}
	res := listPartsResult{
		Xmlns: s3Namespace, Bucket: rq.bucket, Key: rq.key, UploadID: uploadID, Initiator: o, Owner: o,
		StorageClass: StorageClassStandard, ChecksumAlgorithm: u.ChecksumAlgorithm, ChecksumType: u.ChecksumType,
		PartNumberMarker: uint32(marker), NextPartNumberMarker: page.NextPartNumberMarker,
		MaxParts: fsm.DefaultMaxKeys, IsTruncated: page.IsTruncated,
	}
	if maxParts > 0 {
		res.MaxParts = maxParts
	}
	for _, p := range page.Parts {
		res.Parts = append(res.Parts, partEntry{PartNumber: p.PartNumber, LastModified: s3Time(p.ModTime), ETag: `"` + p.ETag + `"`,
			Size: p.Size, checksumFields: fieldsOf(p.Checksums)})
	}
	return writeXML(rq, res)
}

type uploadEntry struct {
	Key               string `xml:"Key"`
	UploadID          string `xml:"UploadId"`
	Initiator         owner  `xml:"Initiator"`
	Owner             owner  `xml:"Owner"`
	StorageClass      string `xml:"StorageClass"`
	Initiated         string `xml:"Initiated"`
	ChecksumAlgorithm string `xml:"ChecksumAlgorithm,omitempty"`
	ChecksumType      string `xml:"ChecksumType,omitempty"`
}

type listUploadsResult struct {
	XMLName            xml.Name       `xml:"ListMultipartUploadsResult"`
	Xmlns              string         `xml:"xmlns,attr"`
	Bucket             string         `xml:"Bucket"`
	KeyMarker          string         `xml:"KeyMarker"`
	UploadIDMarker     string         `xml:"UploadIdMarker"`
	NextKeyMarker      string         `xml:"NextKeyMarker"`
	NextUploadIDMarker string         `xml:"NextUploadIdMarker"`
	Prefix             string         `xml:"Prefix"`
	Delimiter          string         `xml:"Delimiter,omitempty"`
	MaxUploads         int            `xml:"MaxUploads"`
	EncodingType       string         `xml:"EncodingType,omitempty"`
	IsTruncated        bool           `xml:"IsTruncated"`
	Uploads            []uploadEntry  `xml:"Upload"`
	CommonPrefixes     []commonPrefix `xml:"CommonPrefixes"`
}

func (h *handler) listUploads(rq *request) error {
	maxUploads, err := listBounded(rq.q, "max-uploads")
	if err != nil {
		return err
	}
	enc := func(s string) string { return s }
	et := rq.q.Get("encoding-type")
	switch et {
	case "":
	case "url":
		enc = urlEncodeKey
	default:
		return ErrInvalidArgument.with("Invalid Encoding Method specified in Request: %q", et)
	}
	b, err := h.syncedBucket(rq)
	if err != nil {
		return err
	}
	p := fsm.UploadListParams{
		Prefix: rq.q.Get("prefix"), Delimiter: rq.q.Get("delimiter"), KeyMarker: rq.q.Get("key-marker"),
		UploadIDMarker: rq.q.Get("upload-id-marker"), MaxUploads: maxUploads,
	}
	page, err := h.b.ListUploads(rq.bucket, p)
	if err != nil {
		return err
	}
	o := owner{ID: b.Owner, DisplayName: b.Owner}
	res := listUploadsResult{
		Xmlns: s3Namespace, Bucket: rq.bucket, KeyMarker: enc(p.KeyMarker), UploadIDMarker: p.UploadIDMarker,
		NextKeyMarker: enc(page.NextKeyMarker), NextUploadIDMarker: page.NextUploadIDMarker,
		Prefix: enc(p.Prefix), Delimiter: enc(p.Delimiter), MaxUploads: fsm.DefaultMaxKeys, EncodingType: et,
		IsTruncated: page.IsTruncated,
	}
	if maxUploads > 0 {
		res.MaxUploads = maxUploads
	}
	for _, u := range page.Uploads {
		res.Uploads = append(res.Uploads, uploadEntry{
			Key: enc(u.Key), UploadID: u.UploadID, Initiator: o, Owner: o, StorageClass: StorageClassStandard, Initiated: s3Time(u.Initiated),
			ChecksumAlgorithm: u.ChecksumAlgorithm, ChecksumType: u.ChecksumType,
		})
	}
	for _, cp := range page.CommonPrefixes {
		res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{Prefix: enc(cp)})
	}
	return writeXML(rq, res)
}
