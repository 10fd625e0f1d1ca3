package s3

import (
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nebulaio/nebulaio/fsm"
)

// objectAttributes are the names x-amz-object-attributes may list.
var objectAttributes = map[string]bool{"ETag": true, "Checksum": true, "ObjectParts": true, "StorageClass": true, "ObjectSize": true}

type attrChecksum struct {
	checksumFields
	ChecksumType string `xml:"ChecksumType,omitempty"`
}

type attrPart struct {
	PartNumber int    `xml:"PartNumber"`
	Size       uint64 `xml:"Size"`
}

type attrParts struct {
	TotalPartsCount      int        `xml:"PartsCount"`
	PartNumberMarker     int        `xml:"PartNumberMarker"`
	NextPartNumberMarker int        `xml:"NextPartNumberMarker"`
	MaxParts             int        `xml:"MaxParts"`
	IsTruncated          bool       `xml:"IsTruncated"`
	Parts                []attrPart `xml:"Part"`
}

type objectAttributesResult struct {
	XMLName      xml.Name      `xml:"GetObjectAttributesResponse"`
	Xmlns        string        `xml:"xmlns,attr"`
	ETag         string        `xml:"ETag,omitempty"`
	Checksum     *attrChecksum `xml:"Checksum,omitempty"`
	ObjectParts  *attrParts    `xml:"ObjectParts,omitempty"`
	StorageClass string        `xml:"StorageClass,omitempty"`
	ObjectSize   *uint64       `xml:"ObjectSize,omitempty"`
}

// headerInt reads an optional non-negative integer header (def when absent).
func headerInt(hd http.Header, name string, def int) (int, error) {
	v := hd.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, ErrInvalidArgument.with("%s must be a non-negative integer, not %q", strings.ToLower(name), v)
	}
	return n, nil
}

// getObjectAttributes answers GET /b/k?attributes: the attributes x-amz-object-attributes
// names. ObjectParts (multipart objects only) pages with x-amz-max-parts (default and limit
// 1000) and x-amz-part-number-marker; a part's size comes from the object's blobs (one per
// part; their plaintext size when encrypted). Part checksums are not listed: a completed
// object keeps its own checksum only. An SSE-C object's attributes need its key, as S3's.
func (h *handler) getObjectAttributes(rq *request) error {
	vid, err := versionParam(rq)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, v := range rq.r.Header.Values("X-Amz-Object-Attributes") {
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a == "" {
				continue
			}
			if !objectAttributes[a] {
				return ErrInvalidArgument.with("Invalid attribute name specified: %q", a)
			}
			want[a] = true
		}
	}
	if len(want) == 0 {
		return ErrInvalidArgument.with("The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty")
	}
	maxParts, err := headerInt(rq.r.Header, "X-Amz-Max-Parts", fsm.DefaultMaxKeys)
	if err != nil {
		return err
	}
	marker, err := headerInt(rq.r.Header, "X-Amz-Part-Number-Marker", 0)
	if err != nil {
		return err
	}
	maxParts = min(maxParts, fsm.DefaultMaxKeys)
	if err := h.b.Sync(rq.r.Context()); err != nil {
		return err
	}
	o, err := h.b.ObjectVersion(rq.bucket, rq.key, vid)
	if err != nil {
		return err
	}
	if o.Encryption.Algorithm == fsm.EncryptionSSEC || sseCHeaders(rq.r.Header, "") {
		// As S3: the attributes of an SSE-C object take its key.
		if _, err := h.openCipher(rq.r.Header, "", o.Encryption, ErrSSEObjectEncrypted); err != nil {
			return err
		}
	}
	res := objectAttributesResult{Xmlns: s3Namespace}
	if want["ETag"] {
		res.ETag = o.ETag
	}
	if want["Checksum"] && len(o.Checksums) > 0 {
		res.Checksum = &attrChecksum{checksumFields: fieldsOf(o.Checksums), ChecksumType: checksumTypeOf(o.Checksums[0].Value)}
	}
	if want["StorageClass"] {
		res.StorageClass = StorageClassStandard
	}
	if want["ObjectSize"] {
		size := o.Size
		res.ObjectSize = &size
	}
	if want["ObjectParts"] && o.PartsCount > 0 {
		if int(o.PartsCount) != len(o.Blobs) {
			return ErrNotImplemented.with("this object's parts are not one blob each")
		}
		sizes, err := plainSizes(o.Blobs, o.Encryption.Encrypted())
		if err != nil {
			return err
		}
		p := &attrParts{TotalPartsCount: int(o.PartsCount), PartNumberMarker: marker, MaxParts: maxParts}
		for n := marker + 1; n <= len(o.Blobs); n++ {
			if len(p.Parts) == maxParts {
				p.IsTruncated = true
				break
			}
			p.Parts = append(p.Parts, attrPart{PartNumber: n, Size: uint64(sizes[n-1])})
			p.NextPartNumberMarker = n
		}
		res.ObjectParts = p
	}
	hd := rq.w.Header()
	hd.Set("Last-Modified", time.Unix(0, o.ModTime).UTC().Format(http.TimeFormat))
	h.setVersionHeader(hd, rq.bucket, &o)
	return writeXML(rq, res)
}
