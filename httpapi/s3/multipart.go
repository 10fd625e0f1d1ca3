package s3

import (
	"encoding/hex"
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"

	"github.com/nebulaio/nebulaio/fsm"
)

type initiateResult struct {
	XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
	Xmlns    string   `xml:"xmlns,attr"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	UploadID string   `xml:"UploadId"`
}

func (h *handler) createUpload(rq *request) error {
	meta, err := metaFromHeaders(rq.r.Header, rq.r.Header.Get("Content-Encoding"))
	if err != nil {
		return err
	}
	id := newID()
	if _, err := h.propose(rq, &fsm.CreateMultipartUpload{
		Bucket: rq.bucket, Key: rq.key, UploadID: id, Initiated: h.now().UnixNano(), Meta: meta,
	}); err != nil {
		return err
	}
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
func (h *handler) requireUpload(rq *request, uploadID string) error {
	if _, err := h.b.Upload(rq.bucket, rq.key, uploadID); err == nil {
		return nil
	}
	if err := h.b.Sync(rq.r.Context()); err != nil {
		return err
	}
	_, err := h.b.Upload(rq.bucket, rq.key, uploadID)
	return err
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
	if err := h.requireUpload(rq, uploadID); err != nil {
		return err
	}
	sb, err := h.writeBlob(rq.r.Context(), rq.body, size, wantMD5)
	if err != nil {
		return err
	}
	etag := hex.EncodeToString(sb.md5)
	sums := checksumPairs(rq)
	if _, err := h.commit(rq, &fsm.PutPart{
		Bucket: rq.bucket, Key: rq.key, UploadID: uploadID, PartNumber: num, Size: uint64(sb.size),
		ETag: etag, Checksums: sums, Blobs: []fsm.Blob{{ID: sb.id, Size: uint64(sb.size), Nodes: sb.nodes}},
		ModTime: h.now().UnixNano(),
	}, sb); err != nil {
		return err
	}
	hd := rq.w.Header()
	hd.Set("ETag", `"`+etag+`"`)
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
}

func (h *handler) uploadPartCopy(rq *request) error {
	uploadID, num, err := partParams(rq)
	if err != nil {
		return err
	}
	src, err := h.copySource(rq)
	if err != nil {
		return err
	}
	if err := h.requireUpload(rq, uploadID); err != nil {
		return err
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
	rd := h.newObjectReader(rq.r.Context(), src.Blobs, start, length)
	sb, err := h.writeBlob(rq.r.Context(), rd, length, nil)
	rd.Close()
	if err != nil {
		return h.readFailed(rq, err)
	}
	etag := hex.EncodeToString(sb.md5)
	now := h.now().UnixNano()
	if _, err := h.commit(rq, &fsm.PutPart{
		Bucket: rq.bucket, Key: rq.key, UploadID: uploadID, PartNumber: num, Size: uint64(sb.size),
		ETag: etag, Blobs: []fsm.Blob{{ID: sb.id, Size: uint64(sb.size), Nodes: sb.nodes}},
		ModTime: now,
	}, sb); err != nil {
		return err
	}
	return writeXML(rq, copyPartResult{Xmlns: s3Namespace, LastModified: s3Time(now), ETag: `"` + etag + `"`})
}

type completeRequest struct {
	XMLName xml.Name `xml:"CompleteMultipartUpload"`
	Parts   []struct {
		PartNumber uint32 `xml:"PartNumber"`
		ETag       string `xml:"ETag"`
	} `xml:"Part"`
}

type completeResult struct {
	XMLName  xml.Name `xml:"CompleteMultipartUploadResult"`
	Xmlns    string   `xml:"xmlns,attr"`
	Location string   `xml:"Location"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	ETag     string   `xml:"ETag"`
}

func (h *handler) completeUpload(rq *request) error {
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
	ev := &fsm.CompleteMultipartUpload{
		Bucket: rq.bucket, Key: rq.key, UploadID: rq.q.Get("uploadId"), MinPartSize: h.minPart,
		ModTime: h.now().UnixNano(),
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
	return writeXML(rq, completeResult{
		Xmlns: s3Namespace, Location: scheme + "://" + rq.r.Host + "/" + rq.bucket + "/" + rq.key,
		Bucket: rq.bucket, Key: rq.key, ETag: `"` + res.Object.ETag + `"`,
	})
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
	page, err := h.b.ListParts(rq.bucket, rq.key, uploadID, fsm.PartListParams{PartNumberMarker: uint32(marker), MaxParts: maxParts})
	if err != nil {
		return err
	}
	o := owner{ID: b.Owner, DisplayName: b.Owner}
	res := listPartsResult{
		Xmlns: s3Namespace, Bucket: rq.bucket, Key: rq.key, UploadID: uploadID, Initiator: o, Owner: o,
		StorageClass: "STANDARD", PartNumberMarker: uint32(marker), NextPartNumberMarker: page.NextPartNumberMarker,
		MaxParts: fsm.DefaultMaxKeys, IsTruncated: page.IsTruncated,
	}
	if maxParts > 0 {
		res.MaxParts = maxParts
	}
	for _, p := range page.Parts {
		res.Parts = append(res.Parts, partEntry{PartNumber: p.PartNumber, LastModified: s3Time(p.ModTime), ETag: `"` + p.ETag + `"`, Size: p.Size})
	}
	return writeXML(rq, res)
}

type uploadEntry struct {
	Key          string `xml:"Key"`
	UploadID     string `xml:"UploadId"`
	Initiator    owner  `xml:"Initiator"`
	Owner        owner  `xml:"Owner"`
	StorageClass string `xml:"StorageClass"`
	Initiated    string `xml:"Initiated"`
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
	if err := h.b.Sync(rq.r.Context()); err != nil {
		return err
	}
	b, err := h.b.Bucket(rq.bucket)
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
			Key: enc(u.Key), UploadID: u.UploadID, Initiator: o, Owner: o, StorageClass: "STANDARD", Initiated: s3Time(u.Initiated),
		})
	}
	for _, cp := range page.CommonPrefixes {
		res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{Prefix: enc(cp)})
	}
	return writeXML(rq, res)
}
