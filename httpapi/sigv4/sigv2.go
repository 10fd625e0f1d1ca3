package sigv4

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // HMAC-SHA1 is what Signature Version 2 is.
	"encoding/base64"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Signature Version 2 (header and presigned query string), as S3 defines it:
//
//	Authorization: AWS <access key>:<base64(HMAC-SHA1(secret, StringToSign))>
//	StringToSign = Method \n Content-MD5 \n Content-Type \n Date \n
//	               CanonicalizedAmzHeaders CanonicalizedResource
//
// Date is the Date header, or "" when x-amz-date is sent (which then signs as an amz header);
// for a presigned URL (?AWSAccessKeyId=&Expires=&Signature=) it is Expires, in Unix seconds.
// CanonicalizedAmzHeaders: every x-amz-* header, lower-cased, sorted, "name:v1,v2\n", values
// trimmed. CanonicalizedResource: "/bucket" for a virtual-hosted-style request, then the path,
// then the sub-resources of v2SubResources present in the query, sorted, as "?k=v&k2".

const sigV2Prefix = "AWS "

// v2SubResources are the query parameters SigV2 signs (the union of what S3, botocore and
// minio-go sign; a parameter outside the list is not part of the signature).
var v2SubResources = map[string]bool{
	"accelerate": true, "acl": true, "analytics": true, "cors": true, "delete": true,
	"encryption": true, "inventory": true, "legal-hold": true, "lifecycle": true,
	"location": true, "logging": true, "metrics": true, "notification": true,
	"object-lock": true, "partNumber": true, "policy": true, "replication": true,
	"requestPayment": true, "response-cache-control": true,
	"response-content-disposition": true, "response-content-encoding": true,
	"response-content-language": true, "response-content-type": true, "response-expires": true,
	"restore": true, "retention": true, "select": true, "select-type": true, "tagging": true,
	"torrent": true, "uploadId": true, "uploads": true, "versionId": true, "versioning": true,
	"versions": true, "website": true,
}

// verifyV2Header authenticates "Authorization: AWS key:signature".
func (v *Verifier) verifyV2Header(r *http.Request, authz string, pairs []queryPair, o VerifyOptions) (*Result, error) {
	if v.DisableSigV2 {
		return nil, ErrSigV2Disabled
	}
	bad := ErrAuthorizationHeaderMalformed
	cred := strings.TrimPrefix(authz, sigV2Prefix)
	i := strings.LastIndexByte(cred, ':')
	if i <= 0 || len(cred) > 1024 {
		return nil, bad.with("SigV2 authorization must be \"AWS <access key>:<signature>\"")
	}
	key, sig := cred[:i], cred[i+1:]
	if r.Header.Get("X-Amz-Security-Token") != "" {
		return nil, ErrInvalidRequest.with("security tokens are not supported")
	}
	date := r.Header.Get("Date")
	stamp := date
	if d := r.Header.Get("X-Amz-Date"); d != "" {
		stamp, date = d, ""
	}
	t, err := parseV2Time(stamp)
	if err != nil {
		return nil, ErrMissingDate
	}
	secret, err := v.lookup(key)
	if err != nil {
		return nil, err
	}
	if skew := v.now().Sub(t); skew > v.maxSkew() || skew < -v.maxSkew() {
		return nil, ErrRequestTimeTooSkewed
	}
	if !v2SignatureMatches(r, pairs, o, secret, date, sig) {
		return nil, ErrSignatureDoesNotMatch
	}
	res := &Result{SignatureVersion: 2, AccessKey: key, SignedAt: t}
	return res, attachV2Body(res, r, o)
}

// verifyV2Query authenticates a SigV2 presigned URL.
func (v *Verifier) verifyV2Query(r *http.Request, pairs []queryPair, o VerifyOptions) (*Result, error) {
	if v.DisableSigV2 {
		return nil, ErrSigV2Disabled
	}
	bad := ErrAuthorizationQueryParametersError
	q := map[string]string{}
	for _, p := range pairs {
		switch p.k {
		case "AWSAccessKeyId", "Expires", "Signature":
			if _, dup := q[p.k]; dup {
				return nil, bad.with("duplicate %s", p.k)
			}
			q[p.k] = p.v
		}
	}
	for _, k := range []string{"AWSAccessKeyId", "Expires", "Signature"} {
		if q[k] == "" {
			return nil, bad.with("%s is required", k)
		}
	}
	if q["X-Amz-Security-Token"] != "" || r.Header.Get("X-Amz-Security-Token") != "" {
		return nil, ErrInvalidRequest.with("security tokens are not supported")
	}
	secs, err := strconv.ParseInt(q["Expires"], 10, 64)
	if err != nil || secs <= 0 {
		return nil, bad.with("Expires must be a Unix time in seconds")
	}
	secret, err := v.lookup(q["AWSAccessKeyId"])
	if err != nil {
		return nil, err
	}
	expires := time.Unix(secs, 0)
	if v.now().After(expires) {
		return nil, ErrRequestExpired
	}
	if !v2SignatureMatches(r, pairs, o, secret, q["Expires"], q["Signature"]) {
		return nil, ErrSignatureDoesNotMatch
	}
	res := &Result{SignatureVersion: 2, AccessKey: q["AWSAccessKeyId"], Presigned: true, Expires: expires, SignedAt: v.now()}
	return res, attachV2Body(res, r, o)
}

// attachV2Body sets the payload of a SigV2 request: SigV2 signs no payload hash, so the body
// is UNSIGNED-PAYLOAD unless the client sent a hex x-amz-content-sha256 (then checked);
// aws-chunked streaming needs SigV4 chunk signatures and is refused.
func attachV2Body(res *Result, r *http.Request, o VerifyOptions) error {
	payload := UnsignedPayload
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != UnsignedPayload {
		if len(h) != 64 || !validPayloadHash(h) {
			return ErrInvalidRequest.with("x-amz-content-sha256 %.40q cannot be used with Signature Version 2", h)
		}
		payload = h
	}
	res.PayloadHash = payload
	return attachBody(res, r, payload, streamCtx{}, o)
}

// parseV2Time parses a SigV2 Date or x-amz-date (RFC 1123 with a zone name or offset).
func parseV2Time(s string) (time.Time, error) {
	if t, err := http.ParseTime(s); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC1123Z, s)
}

// v2SignatureMatches computes the SigV2 signature of r and compares it with sig. The path is
// tried as sent and re-encoded (clients differ in which characters they escape).
func v2SignatureMatches(r *http.Request, pairs []queryPair, o VerifyOptions, secret, date, sig string) bool {
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || len(got) != sha1.Size {
		return false
	}
	sub := v2SubResourceString(pairs)
	prefix := ""
	if o.VirtualHostBucket != "" {
		prefix = "/" + o.VirtualHostBucket
	}
	paths := []string{r.URL.EscapedPath()}
	if p := uriEncode(r.URL.Path, true); p != paths[0] {
		paths = append(paths, p)
	}
	head := r.Method + "\n" + r.Header.Get("Content-Md5") + "\n" + r.Header.Get("Content-Type") + "\n" +
		date + "\n" + v2AmzHeaders(r)
	ok := false
	for _, p := range paths {
		if p == "" {
			p = "/"
		}
		m := hmac.New(sha1.New, []byte(secret))
		m.Write([]byte(head + prefix + p + sub))
		if hmac.Equal(m.Sum(nil), got) {
			ok = true
		}
	}
	return ok
}

// v2AmzHeaders is CanonicalizedAmzHeaders.
func v2AmzHeaders(r *http.Request) string {
	var names []string
	for k := range r.Header {
		if l := strings.ToLower(k); strings.HasPrefix(l, "x-amz-") {
			names = append(names, l)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for i, n := range names {
		if i > 0 && names[i-1] == n {
			continue
		}
		vals := r.Header.Values(n)
		for j := range vals {
			vals[j] = foldSpaces(vals[j])
		}
		b.WriteString(n + ":" + strings.Join(vals, ",") + "\n")
	}
	return b.String()
}

// v2SubResourceString is the sub-resource part of CanonicalizedResource ("" or "?a&b=c").
func v2SubResourceString(pairs []queryPair) string {
	var sub []queryPair
	for _, p := range pairs {
		if v2SubResources[p.k] {
			sub = append(sub, p)
		}
	}
	if len(sub) == 0 {
		return ""
	}
	sort.SliceStable(sub, func(i, j int) bool { return sub[i].k < sub[j].k })
	var b strings.Builder
	for i, p := range sub {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		if p.v != "" {
			b.WriteString("=" + p.v)
		}
	}
	return b.String()
}
