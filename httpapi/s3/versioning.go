package s3

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/xml"
	"net/http"
	"strings"

	"github.com/nebulaio/nebulaio/fsm"
)

// newVersionID is the candidate version ID a write proposes (fsm.NewVersionID): the time of
// the request and 64 random bits. The FSM raises it when it is not newer than the key's
// current version, so the ID a version got is the one in the event's result.
func (h *handler) newVersionID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("s3: crypto/rand failed: " + err.Error()) // unreachable on Linux
	}
	return fsm.NewVersionID(h.now().UnixNano(), binary.BigEndian.Uint64(b[:]))
}

// versionParam returns the versionId query parameter ("" when absent). An empty or malformed
// one is InvalidArgument, as S3 answers.
func versionParam(rq *request) (string, error) {
	v, ok := rq.q["versionId"]
	if !ok {
		return "", nil
	}
	if v[0] == "" {
		return "", ErrInvalidArgument.with("Version id cannot be the empty string")
	}
	if !fsm.ValidVersionID(v[0]) {
		return "", ErrInvalidArgument.with("Invalid version id specified: %q", v[0])
	}
	return v[0], nil
}

// versionIDOf returns the version ID S3 reports for a version of bucket: none (ok false) for
// the null version of a bucket whose versioning was never set (S3 omits x-amz-version-id
// there), else the ID ("null" included).
func (h *handler) versionIDOf(bucket string, o *fsm.ObjectInfo) (string, bool) {
	if o.VersionID != fsm.NullVersionID {
		return o.VersionID, true
	}
	b, err := h.b.Bucket(bucket)
	return fsm.NullVersionID, err == nil && b.Versioning != ""
}

// setVersionHeader sets x-amz-version-id as versionIDOf says.
func (h *handler) setVersionHeader(hd http.Header, bucket string, o *fsm.ObjectInfo) {
	if id, ok := h.versionIDOf(bucket, o); ok {
		hd.Set("x-amz-version-id", id)
	}
}

type versioningConfiguration struct {
	XMLName   xml.Name `xml:"VersioningConfiguration"`
	Xmlns     string   `xml:"xmlns,attr,omitempty"`
	Status    string   `xml:"Status,omitempty"`
	MFADelete string   `xml:"MfaDelete,omitempty"`
}

// ErrIllegalVersioningConfiguration: a versioning configuration without a Status.
var ErrIllegalVersioningConfiguration = &Error{"IllegalVersioningConfigurationException", http.StatusBadRequest,
	"The versioning configuration specified in the request is invalid."}

func (h *handler) getBucketVersioning(rq *request) error {
	b, err := h.syncedBucket(rq)
	if err != nil {
		return err
	}
	return writeXML(rq, versioningConfiguration{Xmlns: s3Namespace, Status: b.Versioning})
}

// putBucketVersioning sets Enabled or Suspended. A bucket never returns to unversioned, so
// any other Status is MalformedXML (a missing one IllegalVersioningConfigurationException);
// MFA delete is not implemented: MfaDelete Enabled is NotImplemented, Disabled is what every
// bucket is.
func (h *handler) putBucketVersioning(rq *request) error {
	body, err := readXMLBody(rq)
	if err != nil {
		return err
	}
	var cfg versioningConfiguration
	if err := xml.Unmarshal(body, &cfg); err != nil {
		return ErrMalformedXML.with("VersioningConfiguration: %v", err)
	}
	switch mfa := strings.TrimSpace(cfg.MFADelete); mfa {
	case "", "Disabled":
	case "Enabled":
		return ErrNotImplemented.with("MFA delete is not implemented")
	default:
		return ErrMalformedXML.with("MfaDelete must be Enabled or Disabled, not %q", mfa)
	}
	status := strings.TrimSpace(cfg.Status)
	switch status {
	case fsm.VersioningEnabled, fsm.VersioningSuspended:
	case "":
		return ErrIllegalVersioningConfiguration.with("The Versioning element must be specified: Enabled or Suspended")
	default:
		return ErrMalformedXML.with("Status must be Enabled or Suspended, not %q (a bucket never returns to unversioned)", status)
	}
	if _, err := h.propose(rq, &fsm.SetBucketVersioning{Bucket: rq.bucket, Status: status}); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

type versionEntry struct {
	XMLName      xml.Name
	Key          string  `xml:"Key"`
	VersionID    string  `xml:"VersionId"`
	IsLatest     bool    `xml:"IsLatest"`
	LastModified string  `xml:"LastModified"`
	ETag         string  `xml:"ETag,omitempty"`
	Size         *uint64 `xml:"Size,omitempty"`
	StorageClass string  `xml:"StorageClass,omitempty"`
	Owner        owner   `xml:"Owner"`
	checksumAlg
}

// checksumAlg is the ChecksumAlgorithm (and ChecksumType) of a listed version.
type checksumAlg struct {
	ChecksumAlgorithm string `xml:"ChecksumAlgorithm,omitempty"`
	ChecksumType      string `xml:"ChecksumType,omitempty"`
}

type listVersionsResult struct {
	XMLName             xml.Name       `xml:"ListVersionsResult"`
	Xmlns               string         `xml:"xmlns,attr"`
	Name                string         `xml:"Name"`
	Prefix              string         `xml:"Prefix"`
	KeyMarker           string         `xml:"KeyMarker"`
	VersionIDMarker     string         `xml:"VersionIdMarker"`
	NextKeyMarker       string         `xml:"NextKeyMarker,omitempty"`
	NextVersionIDMarker string         `xml:"NextVersionIdMarker,omitempty"`
	MaxKeys             int            `xml:"MaxKeys"`
	Delimiter           string         `xml:"Delimiter,omitempty"`
	EncodingType        string         `xml:"EncodingType,omitempty"`
	IsTruncated         bool           `xml:"IsTruncated"`
	Entries             []versionEntry // <Version> and <DeleteMarker>, in listing order
	CommonPrefixes      []commonPrefix `xml:"CommonPrefixes"`
}

// listObjectVersions answers GET /b?versions, for every bucket (an unversioned one lists its
// objects as null versions). Parameters are ListObjects V1's plus key-marker and
// version-id-marker; a truncated page names the next markers.
func (h *handler) listObjectVersions(rq *request) error {
	lq, err := ParseListQuery(rq.q) // prefix, delimiter, max-keys, encoding-type
	if err != nil {
		return err
	}
	if rq.q.Has("marker") {
		return ErrInvalidArgument.with("ListObjectVersions pages with key-marker and version-id-marker, not marker")
	}
	p := fsm.VersionListParams{
		Prefix: lq.Prefix, Delimiter: lq.Delimiter, KeyMarker: rq.q.Get("key-marker"),
		VersionIDMarker: rq.q.Get("version-id-marker"), MaxKeys: max(lq.MaxKeys, 0),
	}
	if p.VersionIDMarker != "" && p.KeyMarker == "" {
		return ErrInvalidArgument.with("A version-id marker cannot be specified without a key marker.")
	}
	if p.VersionIDMarker != "" && !fsm.ValidVersionID(p.VersionIDMarker) {
		return ErrInvalidArgument.with("Invalid version id specified: %q", p.VersionIDMarker)
	}
	b, err := h.syncedBucket(rq)
	if err != nil {
		return err
	}
	var page fsm.VersionListResult
	if lq.MaxKeys != 0 { // max-keys=0: an empty page, as ListObjects
		if page, err = h.b.ListObjectVersions(rq.bucket, p); err != nil {
			return err
		}
	}
	enc := func(s string) string { return s }
	if lq.EncodingURL {
		enc = urlEncodeKey
	}
	res := listVersionsResult{
		Xmlns: s3Namespace, Name: rq.bucket, Prefix: enc(p.Prefix), KeyMarker: enc(p.KeyMarker),
		VersionIDMarker: p.VersionIDMarker, MaxKeys: fsm.DefaultMaxKeys, Delimiter: enc(p.Delimiter),
		IsTruncated: page.IsTruncated,
	}
	if lq.MaxKeys >= 0 {
		res.MaxKeys = lq.MaxKeys
	}
	if lq.EncodingURL {
		res.EncodingType = "url"
	}
	if page.IsTruncated {
		res.NextKeyMarker, res.NextVersionIDMarker = enc(page.NextKeyMarker), page.NextVersionIDMarker
	}
	o := owner{ID: b.Owner, DisplayName: b.Owner}
	for _, v := range page.Versions {
		e := versionEntry{Key: enc(v.Key), VersionID: v.VersionID, IsLatest: v.IsLatest, LastModified: s3Time(v.ModTime), Owner: o}
		if v.DeleteMarker {
			e.XMLName.Local = "DeleteMarker"
		} else {
			size := v.Size
			e.XMLName.Local, e.ETag, e.Size, e.StorageClass = "Version", `"`+v.ETag+`"`, &size, StorageClassStandard
			if len(v.Checksums) > 0 {
				e.ChecksumAlgorithm, e.ChecksumType = v.Checksums[0].Key, checksumTypeOf(v.Checksums[0].Value)
			}
		}
		res.Entries = append(res.Entries, e)
	}
	for _, cp := range page.CommonPrefixes {
		res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{Prefix: enc(cp)})
	}
	return writeXML(rq, res)
}
