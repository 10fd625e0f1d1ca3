package s3

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"

	"github.com/nebulaio/nebulaio/fsm"
)

type tag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

type tagging struct {
	XMLName xml.Name `xml:"Tagging"`
	Xmlns   string   `xml:"xmlns,attr,omitempty"`
	TagSet  []tag    `xml:"TagSet>Tag"`
}

// normalizeTags checks a tag set against S3's limits (fsm.NormalizeTags: InvalidTag) and
// sorts it as events carry it.
func normalizeTags(tags []fsm.Pair, limit int) ([]fsm.Pair, error) {
	out, ferr := fsm.NormalizeTags(tags, limit)
	if ferr != nil {
		return nil, ferr
	}
	return out, nil
}

// tagsFromHeader reads x-amz-tagging (PutObject, CreateMultipartUpload, CopyObject with
// REPLACE): URL query encoded, "k1=v1&k2=v2". Absent or empty: no tags.
func tagsFromHeader(hd http.Header) ([]fsm.Pair, error) {
	v := hd.Get("X-Amz-Tagging")
	if v == "" {
		return nil, nil
	}
	q, err := url.ParseQuery(v)
	if err != nil {
		return nil, &Error{fsm.CodeInvalidTag, http.StatusBadRequest, "x-amz-tagging is not URL query encoded: " + err.Error()}
	}
	var tags []fsm.Pair
	for k, vs := range q {
		if len(vs) > 1 {
			return nil, &Error{fsm.CodeInvalidTag, http.StatusBadRequest, "Cannot provide multiple Tags with the same key: " + k}
		}
		tags = append(tags, fsm.Pair{Key: k, Value: vs[0]})
	}
	return normalizeTags(tags, fsm.MaxObjectTags)
}

// readTagging reads a Tagging document (PutObjectTagging, PutBucketTagging).
func readTagging(rq *request, limit int) ([]fsm.Pair, error) {
	body, err := readXMLBody(rq)
	if err != nil {
		return nil, err
	}
	var t tagging
	if err := xml.Unmarshal(body, &t); err != nil {
		return nil, ErrMalformedXML.with("Tagging: %v", err)
	}
	tags := make([]fsm.Pair, 0, len(t.TagSet))
	for _, tg := range t.TagSet {
		tags = append(tags, fsm.Pair{Key: tg.Key, Value: tg.Value})
	}
	return normalizeTags(tags, limit)
}

func writeTagging(rq *request, tags []fsm.Pair) error {
	out := tagging{Xmlns: s3Namespace, TagSet: []tag{}}
	for _, p := range tags {
		out.TagSet = append(out.TagSet, tag{Key: p.Key, Value: p.Value})
	}
	return writeXML(rq, out)
}

// setTaggingCount sets x-amz-tagging-count (GET and HEAD of a version with tags).
func setTaggingCount(hd http.Header, o *fsm.ObjectInfo) {
	if len(o.Tags) > 0 {
		hd.Set("x-amz-tagging-count", strconv.Itoa(len(o.Tags)))
	}
}

func (h *handler) getObjectTagging(rq *request) error {
	vid, err := versionParam(rq)
	if err != nil {
		return err
	}
	if err := h.b.Sync(rq.r.Context()); err != nil {
		return err
	}
	o, err := h.b.ObjectVersion(rq.bucket, rq.key, vid)
	if err != nil {
		return err
	}
	h.setVersionHeader(rq.w.Header(), rq.bucket, &o)
	return writeTagging(rq, o.Tags)
}

func (h *handler) putObjectTagging(rq *request) error {
	vid, err := versionParam(rq)
	if err != nil {
		return err
	}
	tags, err := readTagging(rq, fsm.MaxObjectTags)
	if err != nil {
		return err
	}
	return h.setObjectTags(rq, vid, tags, http.StatusOK)
}

func (h *handler) deleteObjectTagging(rq *request) error {
	vid, err := versionParam(rq)
	if err != nil {
		return err
	}
	return h.setObjectTags(rq, vid, nil, http.StatusNoContent)
}

func (h *handler) setObjectTags(rq *request, vid string, tags []fsm.Pair, status int) error {
	res, err := h.propose(rq, &fsm.PutObjectTagging{Bucket: rq.bucket, Key: rq.key, VersionID: vid, Tags: tags})
	if err != nil {
		return err
	}
	h.setVersionHeader(rq.w.Header(), rq.bucket, res.Object)
	rq.w.WriteHeader(status)
	return nil
}

func (h *handler) getBucketTagging(rq *request) error {
	if err := h.b.Sync(rq.r.Context()); err != nil {
		return err
	}
	tags, err := h.b.BucketTagging(rq.bucket)
	if err != nil {
		return err
	}
	return writeTagging(rq, tags)
}

func (h *handler) putBucketTagging(rq *request) error {
	tags, err := readTagging(rq, fsm.MaxBucketTags)
	if err != nil {
		return err
	}
	return h.setBucketTags(rq, tags)
}

func (h *handler) deleteBucketTagging(rq *request) error { return h.setBucketTags(rq, nil) }

func (h *handler) setBucketTags(rq *request, tags []fsm.Pair) error {
	if _, err := h.propose(rq, &fsm.PutBucketTagging{Bucket: rq.bucket, Tags: tags}); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}
