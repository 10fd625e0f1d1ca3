package s3

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/httpapi/sigv4"
	"github.com/nebulaio/nebulaio/internal/authlimit"
)

// Browser form uploads (S3's POST Object): POST /bucket with a multipart/form-data body whose
// fields come first and whose file comes last. The form is authenticated by its policy
// document's SigV4 signature (sigv4.Verifier.VerifyPost), the policy is checked against the
// fields, and the file streams into a blob as a PUT's body does: nothing of it is buffered.

const (
	// maxPostFields bounds the bytes of all the fields before the file (S3: 20 KB; a larger
	// policy document is allowed here).
	maxPostFields = 64 << 10
)

var (
	// ErrInvalidPolicyDocument: the policy is not base64 JSON of S3's shape.
	ErrInvalidPolicyDocument = &Error{"InvalidPolicyDocument", http.StatusBadRequest, "Invalid Policy: the policy document is not valid."}
	// ErrMaxPostPreDataLength: the fields before the file exceed maxPostFields.
	ErrMaxPostPreDataLength = &Error{"MaxPostPreDataLengthExceededError", http.StatusBadRequest, "Your POST request fields preceding the upload file were too large."}
	// ErrEntityTooSmall: the file is below the policy's content-length-range.
	ErrEntityTooSmall = &Error{"EntityTooSmall", http.StatusBadRequest, "Your proposed upload is smaller than the minimum allowed size"}
)

// isPostObject reports a browser form upload: POST to a bucket (no key), a multipart/form-data
// body, and no query parameter but x-* ones.
func isPostObject(method, bucket, key string, q url.Values, hd http.Header) bool {
	if method != http.MethodPost || bucket == "" || key != "" {
		return false
	}
	for k := range q {
		if !strings.HasPrefix(strings.ToLower(k), "x-") {
			return false
		}
	}
	mt, _, err := mime.ParseMediaType(hd.Get("Content-Type"))
	return err == nil && mt == "multipart/form-data"
}

// postFieldsAllowed are the form fields a POST upload may carry (lower case), besides
// x-amz-meta-* and x-ignore-*; any other is NotImplemented, never dropped.
var postFieldsAllowed = map[string]bool{
	"bucket": true, "key": true, "policy": true, "x-amz-algorithm": true, "x-amz-credential": true, "x-amz-date": true,
	"x-amz-signature": true, "x-amz-security-token": true, "acl": true, "success_action_redirect": true,
	"redirect": true, "success_action_status": true, "content-type": true, "cache-control": true,
	"content-disposition": true, "content-encoding": true, "content-language": true, "expires": true,
	"x-amz-storage-class": true, "x-amz-object-lock-mode": true, "x-amz-object-lock-retain-until-date": true,
	"x-amz-object-lock-legal-hold": true,
}

// postForm is a form read up to its file part.
type postForm struct {
	fields map[string]string // lower-case name → value
	file   *multipart.Part
	mr     *multipart.Reader
}

// readPostForm reads the fields of a form up to its file part (which it leaves unread).
func readPostForm(rq *request) (*postForm, error) {
	_, params, err := mime.ParseMediaType(rq.r.Header.Get("Content-Type"))
	if err != nil || params["boundary"] == "" {
		return nil, ErrMalformedPOSTRequest.with("no multipart boundary")
	}
	f := &postForm{fields: map[string]string{}, mr: multipart.NewReader(rq.body, params["boundary"])}
	left := maxPostFields
	for {
		part, err := f.mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, ErrInvalidArgument.with("POST requires exactly one file upload per request: the form has no file field")
		}
		if err != nil {
			return nil, ErrMalformedPOSTRequest.with("%v", err)
		}
		name := strings.ToLower(part.FormName())
		if name == "file" {
			f.file = part
			return f, nil
		}
		if name == "" {
			return nil, ErrMalformedPOSTRequest.with("a form part without a field name")
		}
		v, err := io.ReadAll(io.LimitReader(part, int64(left)+1))
		if err != nil {
			return nil, ErrMalformedPOSTRequest.with("%v", err)
		}
		if left -= len(name) + len(v); left < 0 {
			return nil, ErrMaxPostPreDataLength
		}
		if _, dup := f.fields[name]; dup {
			return nil, ErrInvalidArgument.with("the form field %q appears twice", name)
		}
		f.fields[name] = string(v)
	}
}

// header returns the fields as request headers, so that the PUT path's readers (metadata,
// storage class, object lock, refused features) apply to them alike; unknown fields are
// refused here.
func (f *postForm) header() (http.Header, error) {
	hd := http.Header{}
	for name, v := range f.fields {
		switch {
		case strings.HasPrefix(name, "x-ignore-"):
			continue
		case strings.HasPrefix(name, "x-amz-meta-"), postFieldsAllowed[name]:
		case strings.HasPrefix(name, "x-amz-server-side-encryption"):
			return nil, ErrNotImplemented.with("server-side encryption fields (%s) of POST forms are not implemented; the bucket's default encryption applies to form uploads", name)
		case strings.HasPrefix(name, "x-amz-grant-"), name == "x-amz-website-redirect-location":
			// refuseHeaders names the feature
		default:
			return nil, ErrNotImplemented.with("the POST form field %q is not implemented", name)
		}
		hd.Set(name, v)
	}
	return hd, nil
}

// postCondition is one policy condition: eq or starts-with on a field, or content-length-range.
type postCondition struct {
	op       string // "eq", "starts-with", "content-length-range"
	field    string // lower case, without the $
	value    string
	min, max int64
	text     string // as written, for messages
}

// postPolicy is a decoded policy document.
type postPolicy struct {
	expiration time.Time
	conditions []postCondition
}

// parsePostPolicy decodes a base64 policy document.
func parsePostPolicy(b64 string) (*postPolicy, error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, ErrInvalidPolicyDocument.with("Invalid Policy: the policy is not base64")
	}
	var doc struct {
		Expiration *string           `json:"expiration"`
		Conditions []json.RawMessage `json:"conditions"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, ErrInvalidPolicyDocument.with("Invalid Policy: Invalid JSON: %v", err)
	}
	if doc.Expiration == nil {
		return nil, ErrInvalidPolicyDocument.with("Invalid Policy: Policy missing expiration.")
	}
	exp, err := time.Parse(time.RFC3339Nano, *doc.Expiration)
	if err != nil {
		return nil, ErrInvalidPolicyDocument.with("Invalid Policy: Invalid 'expiration' value: %q", *doc.Expiration)
	}
	if doc.Conditions == nil {
		return nil, ErrInvalidPolicyDocument.with("Invalid Policy: Policy missing conditions.")
	}
	p := &postPolicy{expiration: exp}
	for _, c := range doc.Conditions {
		pc, err := parseCondition(c)
		if err != nil {
			return nil, err
		}
		p.conditions = append(p.conditions, pc...)
	}
	return p, nil
}

func parseCondition(raw json.RawMessage) ([]postCondition, error) {
	text := string(raw)
	bad := func(why string) error {
		return ErrInvalidPolicyDocument.with("Invalid Policy: Invalid Condition %s: %s", text, why)
	}
	var obj map[string]string
	if json.Unmarshal(raw, &obj) == nil {
		if len(obj) != 1 {
			return nil, bad("an object condition names one field")
		}
		var out []postCondition
		for k, v := range obj {
			out = append(out, postCondition{op: "eq", field: strings.ToLower(strings.TrimPrefix(k, "$")), value: v, text: text})
		}
		return out, nil
	}
	var arr []json.RawMessage
	if err := json.Unmarshal(raw, &arr); err != nil || len(arr) != 3 {
		return nil, bad("a condition is an object or a list of three")
	}
	var op string
	if err := json.Unmarshal(arr[0], &op); err != nil {
		return nil, bad("the operator is not a string")
	}
	switch op = strings.ToLower(op); op {
	case "content-length-range":
		var lo, hi int64
		if json.Unmarshal(arr[1], &lo) != nil || json.Unmarshal(arr[2], &hi) != nil || lo < 0 || hi < lo {
			return nil, bad("content-length-range takes two integers, min ≤ max")
		}
		return []postCondition{{op: op, min: lo, max: hi, text: text}}, nil
	case "eq", "starts-with":
		var field, value string
		if json.Unmarshal(arr[1], &field) != nil || json.Unmarshal(arr[2], &value) != nil || !strings.HasPrefix(field, "$") {
			return nil, bad(`the field is "$name" and the value a string`)
		}
		return []postCondition{{op: op, field: strings.ToLower(field[1:]), value: value, text: text}}, nil
	}
	return nil, bad(fmt.Sprintf("unknown operator %q", op))
}

// check applies the policy to the form's fields (bucket: the bucket posted to): every condition
// must hold, and every field (but the signature, the policy, the file and x-ignore-*) must be
// named by a condition. It returns the content-length-range, if any (max -1: none).
func (p *postPolicy) check(fields map[string]string, bucket string) (lo, hi int64, err error) {
	denied := func(format string, args ...any) error {
		return ErrAccessDenied.with("Invalid according to Policy: "+format, args...)
	}
	hi = -1
	named := map[string]bool{"bucket": true}
	for _, c := range p.conditions {
		if c.op == "content-length-range" {
			lo, hi = c.min, c.max
			continue
		}
		named[c.field] = true
		v := fields[c.field]
		if c.field == "bucket" {
			v = bucket
		}
		if c.op == "eq" && v != c.value || c.op == "starts-with" && !strings.HasPrefix(v, c.value) {
			return 0, 0, denied("Policy Condition failed: %s", c.text)
		}
	}
	for name := range fields {
		switch {
		case name == "x-amz-signature", name == "policy", strings.HasPrefix(name, "x-ignore-"):
		case !named[name]:
			return 0, 0, denied("Extra input fields: %s", name)
		}
	}
	return lo, hi, nil
}

// sizeGuard fails a read past max bytes with EntityTooLarge (the policy's limit).
type sizeGuard struct {
	r   io.Reader
	max int64
	n   int64
}

func (g *sizeGuard) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if g.n += int64(n); g.n > g.max {
		return n, ErrEntityTooLarge.with("Your proposed upload exceeds the maximum allowed size: the policy allows %d bytes", g.max)
	}
	return n, err
}

type postResponse struct {
	XMLName  xml.Name `xml:"PostResponse"`
	Location string   `xml:"Location"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	ETag     string   `xml:"ETag"`
}

// postObject serves a browser form upload.
func (h *handler) postObject(rq *request) error {
	rq.body = &countReader{r: rq.r.Body, n: rq.bytes, dl: rq.w.dl}
	form, err := readPostForm(rq)
	if err != nil {
		return err
	}
	fl := form.fields
	if _, v2 := fl["awsaccesskeyid"]; v2 {
		return ErrNotImplemented.with("POST forms signed with Signature Version 2 are not implemented: sign the policy with AWS4-HMAC-SHA256")
	}
	if fl["policy"] == "" {
		return ErrAccessDenied.with("a POST form needs a signed policy: anonymous form uploads are not implemented")
	}
	for _, f := range []string{"x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature", "key"} {
		if _, ok := fl[f]; !ok {
			return ErrInvalidArgument.with("Bucket POST must contain a field named '%s'.", f)
		}
	}
	if ok, wait := h.limit.Allow(authlimit.Addr(rq.r)); !ok {
		return h.throttled(rq, wait)
	}
	auth, err := h.v.VerifyPost(sigv4.PostForm{Algorithm: fl["x-amz-algorithm"], Credential: fl["x-amz-credential"],
		Date: fl["x-amz-date"], Policy: fl["policy"], Signature: fl["x-amz-signature"], SecurityToken: fl["x-amz-security-token"]})
	if err == nil {
		rq.auth = auth
		err = h.principal(rq)
	}
	if err != nil {
		h.authFailed(rq, err)
		return err
	}
	// What is not implemented is refused as such, whatever the policy says.
	hd, err := form.header()
	if err != nil {
		return err
	}
	if err := refuseHeaders("PostObject", hd); err != nil {
		return err
	}
	policy, err := parsePostPolicy(fl["policy"])
	if err != nil {
		return err
	}
	if !h.now().Before(policy.expiration) {
		return ErrAccessDenied.with("Invalid according to Policy: Policy expired.")
	}
	if b, ok := fl["bucket"]; ok && b != rq.bucket {
		return ErrInvalidArgument.with("the form's bucket field %q is not the bucket posted to (%q)", b, rq.bucket)
	}
	lo, hi, err := policy.check(fl, rq.bucket)
	if err != nil {
		return err
	}
	key := strings.ReplaceAll(fl["key"], "${filename}", path.Base(form.file.FileName()))
	if err := checkKeyOrEmpty(key); err != nil {
		return err
	}
	rq.key = key
	if err := h.allowKey(rq, key, false); err != nil {
		return err
	}
	if hd.Get("Content-Type") == "" && form.file.Header.Get("Content-Type") != "" {
		hd.Set("Content-Type", form.file.Header.Get("Content-Type")) // what the browser declared
	}
	meta, err := metaFromHeaders(hd)
	if err != nil {
		return err
	}
	retention, hold, err := lockFromHeaders(hd)
	if err != nil {
		return err
	}
	status, redirect, err := postSuccess(fl)
	if err != nil {
		return err
	}
	if err := h.requireBucket(rq, rq.bucket); err != nil {
		return err
	}
	// The form's encryption fields are refused above; the bucket's default encryption applies.
	c, err := h.newCipher(hd, rq.bucket, false)
	if err != nil {
		return err
	}
	var src io.Reader = form.file
	if hi >= 0 {
		src = &sizeGuard{r: src, max: hi}
	}
	sb, err := h.writeBlob(rq.r.Context(), src, -1, nil, c)
	if err != nil {
		return err
	}
	if _, err := form.mr.NextPart(); !errors.Is(err, io.EOF) {
		h.discard(sb)
		if err == nil {
			return ErrInvalidArgument.with("the file must be the last field of the form")
		}
		return ErrMalformedPOSTRequest.with("%v", err)
	}
	if sb.plain < lo {
		h.discard(sb)
		return ErrEntityTooSmall.with("Your proposed upload is smaller than the minimum allowed size: %d bytes, the policy asks for %d", sb.plain, lo)
	}
	etag := hex.EncodeToString(sb.etag)
	res, err := h.commit(rq, &fsm.PutObject{
		Bucket: rq.bucket, Key: key, Size: uint64(sb.plain), ETag: etag, Meta: meta,
		Blobs:   []fsm.Blob{sb.blob()},
		ModTime: h.now().UnixNano(), VersionID: h.newVersionID(), Retention: retention, LegalHold: hold,
		Encryption: c.enc,
	}, sb)
	if err != nil {
		return err
	}
	setSSEHeaders(rq.w.Header(), c)
	return h.postAnswer(rq, res.Object, status, redirect)
}

// postSuccess reads success_action_redirect (or redirect) and success_action_status.
func postSuccess(fl map[string]string) (status int, redirect *url.URL, err error) {
	if v := fl["success_action_redirect"]; v != "" || fl["redirect"] != "" {
		if v == "" {
			v = fl["redirect"]
		}
		u, perr := url.Parse(v)
		if perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return 0, nil, ErrInvalidArgument.with("success_action_redirect %.80q is not an absolute http(s) URL", v)
		}
		return http.StatusSeeOther, u, nil
	}
	switch v := fl["success_action_status"]; v {
	case "", "204":
		return http.StatusNoContent, nil, nil
	case "200", "201":
		n, _ := strconv.Atoi(v)
		return n, nil, nil
	default:
		return 0, nil, ErrInvalidArgument.with("success_action_status must be 200, 201 or 204, not %.20q", v)
	}
}

// postAnswer answers a stored form upload: a 303 to the redirect with bucket, key and etag
// added to its query, or the status asked for (201 with a PostResponse document).
func (h *handler) postAnswer(rq *request, o *fsm.ObjectInfo, status int, redirect *url.URL) error {
	hd := rq.w.Header()
	etag := `"` + o.ETag + `"`
	scheme := "http"
	if rq.r.TLS != nil {
		scheme = "https"
	}
	location := scheme + "://" + rq.r.Host + "/" + rq.bucket + "/" + (&url.URL{Path: o.Key}).EscapedPath()
	hd.Set("ETag", etag)
	hd.Set("Location", location)
	h.setVersionHeader(hd, rq.bucket, o)
	switch {
	case redirect != nil:
		q := redirect.Query()
		q.Set("bucket", rq.bucket)
		q.Set("key", o.Key)
		q.Set("etag", etag)
		redirect.RawQuery = q.Encode()
		hd.Set("Location", redirect.String())
		rq.w.WriteHeader(http.StatusSeeOther)
		return nil
	case status == http.StatusCreated:
		return writeXMLStatus(rq, status, postResponse{Location: location, Bucket: rq.bucket, Key: o.Key, ETag: etag})
	}
	rq.w.WriteHeader(status)
	return nil
}
