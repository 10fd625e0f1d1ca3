package s3

import (
	"encoding/base64"
	"encoding/xml"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nebulaio/nebulaio/fsm"
)

// ListQuery is a parsed ListObjects (V1) or ListObjectsV2 query string.
type ListQuery struct {
	V2           bool
	Prefix       string
	Delimiter    string
	Marker       string // V1 marker or V2 start-after
	Continuation string // V2: the decoded continuation token (a position), "" if none
	RawToken     string // V2: the token as sent, echoed back
	MaxKeys      int    // 0..1000; -1 means not given
	FetchOwner   bool
	EncodingURL  bool
}

// maxListParam bounds prefix, delimiter, marker and token lengths (keys are ≤ 1024 bytes;
// anything longer cannot match and is refused rather than carried around).
const maxListParam = 4096

// ParseListQuery parses the query of a ListObjects (V1) or ListObjectsV2 request. Errors are
// *Error values (InvalidArgument) and name the parameter.
func ParseListQuery(q url.Values) (ListQuery, error) {
	var lq ListQuery
	switch lt := q.Get("list-type"); lt {
	case "":
	case "2":
		lq.V2 = true
	default:
		return lq, ErrInvalidArgument.with("list-type must be 2, not %q", lt)
	}
	str := func(name string) (string, error) {
		v := q.Get(name)
		if len(v) > maxListParam {
			return "", ErrInvalidArgument.with("%s is over %d bytes", name, maxListParam)
		}
		if !utf8.ValidString(v) {
			return "", ErrInvalidArgument.with("%s is not valid UTF-8", name)
		}
		return v, nil
	}
	var err error
	if lq.Prefix, err = str("prefix"); err != nil {
		return lq, err
	}
	if lq.Delimiter, err = str("delimiter"); err != nil {
		return lq, err
	}
	if lq.V2 {
		if lq.Marker, err = str("start-after"); err != nil {
			return lq, err
		}
		if lq.RawToken, err = str("continuation-token"); err != nil {
			return lq, err
		}
		if _, ok := q["continuation-token"]; ok {
			// Only the canonical encoding is accepted: the decoder skips CR and LF, and
			// leftover bits, which would make several tokens name one position.
			tok, derr := base64.RawURLEncoding.Strict().DecodeString(lq.RawToken)
			if derr != nil || len(tok) == 0 || !utf8.Valid(tok) || EncodeContinuationToken(string(tok)) != lq.RawToken {
				return lq, ErrInvalidArgument.with("The continuation token provided is incorrect")
			}
			lq.Continuation = string(tok)
		}
		switch v := q.Get("fetch-owner"); v {
		case "", "false":
		case "true":
			lq.FetchOwner = true
		default:
			return lq, ErrInvalidArgument.with("fetch-owner must be true or false, not %q", v)
		}
	} else if lq.Marker, err = str("marker"); err != nil {
		return lq, err
	}
	switch v := q.Get("encoding-type"); v {
	case "":
	case "url":
		lq.EncodingURL = true
	default:
		return lq, ErrInvalidArgument.with("Invalid Encoding Method specified in Request: %q", v)
	}
	lq.MaxKeys = -1
	if v, ok := q["max-keys"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 0 {
			return lq, ErrInvalidArgument.with("max-keys must be a non-negative integer, not %q", v[0])
		}
		lq.MaxKeys = min(n, fsm.DefaultMaxKeys)
	}
	return lq, nil
}

// EncodeContinuationToken makes the ListObjectsV2 continuation token of a list position
// (fsm's NextMarker): unpadded base64url, opaque to clients. ParseListQuery decodes it.
func EncodeContinuationToken(pos string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(pos))
}

type listEntry struct {
	Key          string `xml:"Key"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         uint64 `xml:"Size"`
	Owner        *owner `xml:"Owner,omitempty"`
	StorageClass string `xml:"StorageClass"`
}

type commonPrefix struct {
	Prefix string `xml:"Prefix"`
}

type listBucketResult struct {
	XMLName        xml.Name       `xml:"ListBucketResult"`
	Xmlns          string         `xml:"xmlns,attr"`
	Name           string         `xml:"Name"`
	Prefix         string         `xml:"Prefix"`
	Marker         *string        `xml:"Marker,omitempty"`
	NextMarker     string         `xml:"NextMarker,omitempty"`
	StartAfter     string         `xml:"StartAfter,omitempty"`
	Token          string         `xml:"ContinuationToken,omitempty"`
	NextToken      string         `xml:"NextContinuationToken,omitempty"`
	KeyCount       *int           `xml:"KeyCount,omitempty"`
	MaxKeys        int            `xml:"MaxKeys"`
	Delimiter      string         `xml:"Delimiter,omitempty"`
	EncodingType   string         `xml:"EncodingType,omitempty"`
	IsTruncated    bool           `xml:"IsTruncated"`
	Contents       []listEntry    `xml:"Contents"`
	CommonPrefixes []commonPrefix `xml:"CommonPrefixes"`
}

func (h *handler) listObjectsV1(rq *request) error { return h.listObjects(rq) }
func (h *handler) listObjectsV2(rq *request) error { return h.listObjects(rq) }

func (h *handler) listObjects(rq *request) error {
	lq, err := ParseListQuery(rq.q)
	if err != nil {
		return err
	}
	if err := h.b.Sync(rq.r.Context()); err != nil {
		return err
	}
	enc := func(s string) string { return s }
	if lq.EncodingURL {
		enc = urlEncodeKey
	}
	var page fsm.ListResult
	if lq.MaxKeys == 0 {
		// fsm reads 0 as "default"; S3 answers an empty page.
		if _, err := h.b.Bucket(rq.bucket); err != nil {
			return err
		}
	} else {
		page, err = h.b.ListObjects(rq.bucket, fsm.ListParams{
			Prefix: lq.Prefix, Delimiter: lq.Delimiter, Marker: lq.Marker,
			ContinuationToken: lq.Continuation, MaxKeys: max(lq.MaxKeys, 0),
		})
		if err != nil {
			return err
		}
	}
	res := listBucketResult{
		Xmlns: s3Namespace, Name: rq.bucket, Prefix: enc(lq.Prefix), Delimiter: enc(lq.Delimiter),
		MaxKeys: fsm.DefaultMaxKeys, IsTruncated: page.IsTruncated,
	}
	if lq.MaxKeys >= 0 {
		res.MaxKeys = lq.MaxKeys
	}
	if lq.EncodingURL {
		res.EncodingType = "url"
	}
	var bucketOwner *owner
	if !lq.V2 || lq.FetchOwner {
		if b, err := h.b.Bucket(rq.bucket); err == nil {
			bucketOwner = &owner{ID: b.Owner, DisplayName: b.Owner}
		}
	}
	for _, o := range page.Contents {
		res.Contents = append(res.Contents, listEntry{
			Key: enc(o.Key), LastModified: s3Time(o.ModTime), ETag: `"` + o.ETag + `"`, Size: o.Size,
			Owner: bucketOwner, StorageClass: "STANDARD",
		})
	}
	for _, p := range page.CommonPrefixes {
		res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{Prefix: enc(p)})
	}
	if lq.V2 {
		n := len(res.Contents) + len(res.CommonPrefixes)
		res.KeyCount = &n
		res.StartAfter = enc(lq.Marker)
		res.Token = lq.RawToken
		if page.IsTruncated {
			res.NextToken = EncodeContinuationToken(page.NextMarker)
		}
	} else {
		m := enc(lq.Marker)
		res.Marker = &m
		if page.IsTruncated {
			res.NextMarker = enc(page.NextMarker)
		}
	}
	return writeXML(rq, res)
}

// urlEncodeKey is S3's encoding-type=url: form encoding (space as '+') with '/' left as is,
// which clients undo with a query unescape.
func urlEncodeKey(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "%2F", "/") }

// listBounded reads an optional non-negative integer parameter capped to 1000 (0: absent,
// which the fsm reads as its default page).
func listBounded(q url.Values, name string) (int, error) {
	v, ok := q[name]
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(v[0])
	if err != nil || n < 0 {
		return 0, ErrInvalidArgument.with("%s must be a non-negative integer, not %q", name, v[0])
	}
	return min(n, fsm.DefaultMaxKeys), nil
}
