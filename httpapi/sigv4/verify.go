package sigv4

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Credentials is one access-key pair.
type Credentials struct {
	AccessKey string
	SecretKey string
}

// CredentialStore resolves an access key to its secret key.
type CredentialStore interface {
	// Lookup returns the secret for accessKey, or ok=false if the key is unknown.
	Lookup(accessKey string) (secret string, ok bool)
}

// FallibleStore is a CredentialStore whose lookup can fail for a reason other than an unknown
// key (a secret it cannot decrypt, storage it cannot read). The Verifier prefers LookupErr
// when its Store implements it: ok=false is ErrInvalidAccessKeyID, and a non-nil error is
// returned by Verify as is (it is not an *Error: the S3 layer answers InternalError).
type FallibleStore interface {
	CredentialStore
	LookupErr(accessKey string) (secret string, ok bool, err error)
}

// StaticStore is a fixed CredentialStore: access key → secret key.
type StaticStore map[string]string

var _ CredentialStore = StaticStore(nil)

// NewStaticStore returns a StaticStore holding creds.
func NewStaticStore(creds ...Credentials) StaticStore {
	s := make(StaticStore, len(creds))
	for _, c := range creds {
		s[c.AccessKey] = c.SecretKey
	}
	return s
}

// Lookup implements CredentialStore.
func (s StaticStore) Lookup(accessKey string) (string, bool) {
	secret, ok := s[accessKey]
	return secret, ok
}

// Defaults applied by Verify to zero-valued Verifier fields.
const (
	DefaultRegion  = "us-east-1"
	DefaultService = "s3"
	DefaultMaxSkew = 15 * time.Minute
	// MaxPresignExpiry is the longest X-Amz-Expires SigV4 allows (7 days).
	MaxPresignExpiry = 7 * 24 * time.Hour
)

// Payload modes: the values of x-amz-content-sha256 other than a hex digest.
const (
	UnsignedPayload                 = "UNSIGNED-PAYLOAD"
	StreamingSignedPayload          = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	StreamingSignedPayloadTrailer   = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	StreamingUnsignedPayloadTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)

// Verifier authenticates S3 requests signed with AWS Signature Version 4. The zero value of each
// field but Store means its default. A Verifier is safe for concurrent use.
type Verifier struct {
	Store CredentialStore
	// Region the server answers for; a request scoped to another region is rejected with
	// AuthorizationHeaderMalformed / AuthorizationQueryParametersError (as S3 and MinIO do),
	// unless AnyRegion is set. Default "us-east-1".
	Region string
	// AnyRegion accepts whatever region the client signed with (useful behind clients that
	// cannot be configured). Off by default.
	AnyRegion bool
	// DisableSigV2 refuses Signature Version 2 (header and presigned) with ErrSigV2Disabled.
	// Off by default: SigV2 is accepted.
	DisableSigV2 bool
	// Service is the credential-scope service. Default "s3".
	Service string
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// MaxSkew bounds |request time - Now| for header auth, and how far in the future a
	// presigned URL's X-Amz-Date may be. Default 15 minutes.
	MaxSkew time.Duration
}

// Authenticator is the seam an S3 handler depends on; *Verifier implements it.
type Authenticator interface {
	Verify(r *http.Request) (*Result, error)
	VerifyWith(r *http.Request, o VerifyOptions) (*Result, error)
}

// VerifyOptions is what a handler knows about a request before it authenticates it.
type VerifyOptions struct {
	// ObjectChecksum: the request's x-amz-checksum-<alg> header is the checksum of the object
	// the request completes (CompleteMultipartUpload), not of its payload. The value is checked
	// for form (base64 of the algorithm's size, with or without a composite "-N" suffix) and
	// reported by Result.Checksum, but never compared with the body.
	ObjectChecksum bool
	// VirtualHostBucket is the bucket a virtual-hosted-style request names in its Host ("" for
	// path style): SigV2 signs the resource as "/bucket/key" in both styles.
	VirtualHostBucket string
}

var _ Authenticator = (*Verifier)(nil)

// Result is an authenticated request.
type Result struct {
	// SignatureVersion is 4, or 2 for a request signed with Signature Version 2.
	SignatureVersion int
	AccessKey        string
	Region           string    // the region from the credential scope ("" for SigV2)
	SignedAt         time.Time // X-Amz-Date (or Date)
	Presigned        bool      // query-string authentication
	// Expires is when a presigned URL stops being valid; zero for header auth.
	Expires time.Time
	// PayloadHash is x-amz-content-sha256 as sent (a hex digest or one of the mode constants);
	// UNSIGNED-PAYLOAD for presigned URLs that do not carry X-Amz-Content-Sha256.
	PayloadHash string
	// Body yields the decoded payload (aws-chunked framing removed) and verifies it as it
	// streams: SHA-256, chunk and trailer signatures, declared length and checksums. A failure
	// is returned by the Read that detects it (at the latest the one that would return io.EOF)
	// as an *Error; bytes already returned must then be discarded. Body reads r.Body; it is
	// not safe for concurrent use.
	Body io.Reader
	// ContentLength is the decoded payload length, or -1 if unknown.
	ContentLength int64
	// ContentEncoding is the request's Content-Encoding with "aws-chunked" removed: what a
	// server stores as the object's encoding.
	ContentEncoding string

	checksum *checksumState
}

// Checksum returns the x-amz-checksum-* value the client declared, if any. A header-declared
// checksum is available at once; a trailer checksum only after Body has returned io.EOF
// (ok is false before). Body has verified the value against the payload by the time it
// returns io.EOF.
func (r *Result) Checksum() (Checksum, bool) {
	if r.checksum == nil || r.checksum.value == "" {
		return Checksum{}, false
	}
	return Checksum{Algorithm: r.checksum.alg, Value: r.checksum.value, Trailer: r.checksum.trailer}, true
}

// ChecksumAlgorithm returns the algorithm of the x-amz-checksum-* header or announced
// trailer, known before Body is read (the trailer's value is not).
func (r *Result) ChecksumAlgorithm() (ChecksumAlgorithm, bool) {
	if r.checksum == nil {
		return "", false
	}
	return r.checksum.alg, true
}

// authParams is what the header and query forms have in common once parsed.
type authParams struct {
	accessKey string
	date      time.Time // scope date (day)
	region    string
	service   string
	signed    []string
	signature string
	scope     string
}

// Verify authenticates r: VerifyWith with no options.
func (v *Verifier) Verify(r *http.Request) (*Result, error) {
	return v.VerifyWith(r, VerifyOptions{})
}

// VerifyWith authenticates r. On success the caller must read the payload from Result.Body,
// not r.Body. Errors are *Error values (see the sentinels); it never panics and never reads
// the body.
func (v *Verifier) VerifyWith(r *http.Request, o VerifyOptions) (*Result, error) {
	if r == nil || r.URL == nil {
		return nil, ErrInvalidRequest.with("nil request")
	}
	pairs := parseQuery(r.URL.RawQuery)
	var hasQuery, hasV2Query bool
	for _, p := range pairs {
		switch p.k {
		case "X-Amz-Algorithm", "X-Amz-Signature", "X-Amz-Credential":
			hasQuery = true
		case "AWSAccessKeyId", "Signature":
			hasV2Query = true
		}
	}
	authz := r.Header.Get("Authorization")
	switch {
	case (authz != "" && (hasQuery || hasV2Query)) || (hasQuery && hasV2Query):
		return nil, ErrInvalidRequest.with("only one auth mechanism allowed")
	case strings.HasPrefix(authz, sigV2Prefix):
		return v.verifyV2Header(r, authz, pairs, o)
	case authz != "":
		return v.verifyHeader(r, authz, pairs, o)
	case hasQuery:
		return v.verifyQuery(r, pairs, o)
	case hasV2Query:
		return v.verifyV2Query(r, pairs, o)
	}
	return nil, ErrMissingAuth
}

func (v *Verifier) region() string {
	if v.Region == "" {
		return DefaultRegion
	}
	return v.Region
}

func (v *Verifier) service() string {
	if v.Service == "" {
		return DefaultService
	}
	return v.Service
}

func (v *Verifier) now() time.Time {
	if v.Now == nil {
		return time.Now()
	}
	return v.Now()
}

func (v *Verifier) maxSkew() time.Duration {
	if v.MaxSkew <= 0 {
		return DefaultMaxSkew
	}
	return v.MaxSkew
}

// ParseAuthorization parses an "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
// Signature=..." header without checking the signature. It is exported for fuzzing and for
// logging the access key of rejected requests.
func ParseAuthorization(h string) (accessKey string, signedHeaders []string, err error) {
	p, err := parseAuthorization(h)
	if err != nil {
		return "", nil, err
	}
	return p.accessKey, p.signed, nil
}

func parseAuthorization(h string) (authParams, error) {
	bad := ErrAuthorizationHeaderMalformed
	if len(h) > 8<<10 {
		return authParams{}, bad.with("header too long")
	}
	alg, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || alg != algorithm {
		return authParams{}, ErrInvalidRequest.with("unsupported authorization algorithm %.40q", alg)
	}
	var cred, signed, sig string
	var seen [3]bool
	for _, f := range strings.Split(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(f), "=")
		if !ok {
			return authParams{}, bad.with("field without '='")
		}
		var idx int
		switch k {
		case "Credential":
			idx, cred = 0, val
		case "SignedHeaders":
			idx, signed = 1, val
		case "Signature":
			idx, sig = 2, val
		default:
			return authParams{}, bad.with("unknown field %.40q", k)
		}
		if seen[idx] {
			return authParams{}, bad.with("duplicate field %q", k)
		}
		seen[idx] = true
	}
	if !seen[0] || !seen[1] || !seen[2] {
		return authParams{}, bad.with("Credential, SignedHeaders and Signature are required")
	}
	return buildParams(bad, cred, signed, sig)
}

// parseCredential reads "<key>/<yyyymmdd>/<region>/<service>/aws4_request" into p's access
// key, date, region, service and scope; bad is the error family to report.
func parseCredential(bad *Error, cred string) (authParams, error) {
	var p authParams
	parts := strings.Split(cred, "/")
	if len(parts) < 5 {
		return p, bad.with("credential must be <key>/<date>/<region>/<service>/aws4_request")
	}
	n := len(parts)
	p.accessKey = strings.Join(parts[:n-4], "/")
	if p.accessKey == "" {
		return p, bad.with("empty access key")
	}
	d, err := time.Parse(scopeDateLayout, parts[n-4])
	if err != nil {
		return p, bad.with("credential date %.20q is not yyyymmdd", parts[n-4])
	}
	p.date = d
	p.region, p.service = parts[n-3], parts[n-2]
	if parts[n-1] != terminator {
		return p, bad.with("credential must end in aws4_request")
	}
	if p.region == "" || p.service == "" {
		return p, bad.with("empty region or service")
	}
	p.scope = strings.Join(parts[n-4:], "/")
	return p, nil
}

// buildParams validates the three shared fields; bad is the error family to report.
func buildParams(bad *Error, cred, signed, sig string) (authParams, error) {
	p, err := parseCredential(bad, cred)
	if err != nil {
		return p, err
	}
	if signed == "" {
		return p, bad.with("empty SignedHeaders")
	}
	p.signed = strings.Split(signed, ";")
	hasHost := false
	for i, h := range p.signed {
		if h == "" || !isLowerToken(h) {
			return p, bad.with("signed header %.40q is not a lower-case header name", h)
		}
		if i > 0 && p.signed[i-1] >= h {
			return p, bad.with("SignedHeaders must be sorted and unique")
		}
		if h == "host" {
			hasHost = true
		}
	}
	if !hasHost {
		return p, bad.with("host must be a signed header")
	}
	if len(sig) != 64 || !isLowerHex(sig) {
		return p, bad.with("signature must be 64 lower-case hex digits")
	}
	p.signature = sig
	return p, nil
}

func isLowerToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// checkAllSigned rejects an x-amz-* header that the signature does not cover.
// x-amz-content-sha256 is exempt: on header auth it is part of the canonical request anyway,
// and presigned URLs take the payload hash from the query.
func checkAllSigned(r *http.Request, signed []string) error {
	for name := range r.Header {
		l := strings.ToLower(name)
		if !strings.HasPrefix(l, "x-amz-") || l == "x-amz-content-sha256" {
			continue
		}
		found := false
		for _, s := range signed {
			if s == l {
				found = true
				break
			}
		}
		if !found {
			return ErrHeadersNotSigned.with("%.80s", l)
		}
	}
	return nil
}

// checkScope validates region and service against the Verifier and the request time against
// the scope date.
func (v *Verifier) checkScope(bad *Error, p authParams, t time.Time) error {
	if !v.AnyRegion && p.region != v.region() {
		return bad.withRegion(v.region(), "the region %.40q is wrong; expecting %q", p.region, v.region())
	}
	if p.service != v.service() {
		return bad.with("the service %.40q is wrong; expecting %q", p.service, v.service())
	}
	if t.UTC().Format(scopeDateLayout) != p.date.Format(scopeDateLayout) {
		return bad.with("credential date does not match the request date")
	}
	return nil
}

func (v *Verifier) lookup(key string) (string, error) {
	if v.Store == nil {
		return "", ErrInvalidAccessKeyID
	}
	if fs, ok := v.Store.(FallibleStore); ok {
		secret, ok, err := fs.LookupErr(key)
		switch {
		case err != nil:
			return "", err
		case !ok:
			return "", ErrInvalidAccessKeyID
		}
		return secret, nil
	}
	secret, ok := v.Store.Lookup(key)
	if !ok {
		return "", ErrInvalidAccessKeyID
	}
	return secret, nil
}

// Anonymous prepares the payload of a request that carries no signature at all (Verify
// answered ErrMissingAuth), for a caller that serves anonymous requests: the Result has no
// access key, and its Body is checked as an unsigned payload's — a hex x-amz-content-sha256
// is verified, STREAMING-UNSIGNED-PAYLOAD-TRAILER is decoded with its trailer checksum,
// x-amz-checksum-* headers are verified. A signed streaming mode (it has no seed signature to
// chain from) is ErrMissingAuth.
func (v *Verifier) Anonymous(r *http.Request, o VerifyOptions) (*Result, error) {
	payload := r.Header.Get("X-Amz-Content-Sha256")
	switch payload {
	case "":
		payload = UnsignedPayload
	case StreamingSignedPayload, StreamingSignedPayloadTrailer:
		return nil, ErrMissingAuth.with("a signed streaming payload needs a signed request")
	}
	if !validPayloadHash(payload) {
		return nil, ErrInvalidContentSHA256
	}
	res := &Result{PayloadHash: payload}
	return res, attachBody(res, r, payload, streamCtx{}, o)
}

func (v *Verifier) verifyHeader(r *http.Request, authz string, pairs []queryPair, o VerifyOptions) (*Result, error) {
	p, err := parseAuthorization(authz)
	if err != nil {
		return nil, err
	}
	if r.Header.Get("X-Amz-Security-Token") != "" {
		return nil, ErrInvalidRequest.with("security tokens are not supported")
	}
	var t time.Time
	if d := r.Header.Get("X-Amz-Date"); d != "" {
		if t, err = time.Parse(amzDateLayout, d); err != nil {
			return nil, ErrAuthorizationHeaderMalformed.with("x-amz-date is not yyyymmddThhmmssZ")
		}
	} else if d := r.Header.Get("Date"); d != "" {
		if t, err = http.ParseTime(d); err != nil {
			return nil, ErrAuthorizationHeaderMalformed.with("unparsable Date header")
		}
	} else {
		return nil, ErrMissingSecurityHeader.with("x-amz-date or Date is required")
	}
	if err := v.checkScope(ErrAuthorizationHeaderMalformed, p, t); err != nil {
		return nil, err
	}
	if err := checkAllSigned(r, p.signed); err != nil {
		return nil, err
	}
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		return nil, ErrMissingSecurityHeader.with("x-amz-content-sha256 is required")
	}
	if !validPayloadHash(payload) {
		return nil, ErrInvalidContentSHA256
	}
	secret, err := v.lookup(p.accessKey)
	if err != nil {
		return nil, err
	}
	if skew := v.now().Sub(t); skew > v.maxSkew() || skew < -v.maxSkew() {
		return nil, ErrRequestTimeTooSkewed
	}
	key := signingKey(secret, t, p.region, p.service)
	cr := canonicalRequest(r, pairs, "", p.signed, payload)
	want := signHex(key, stringToSign(algorithm, t, p.scope, sha256Hex(cr)))
	if !sigEqual(want, p.signature) {
		return nil, ErrSignatureDoesNotMatch
	}
	res := &Result{SignatureVersion: 4, AccessKey: p.accessKey, Region: p.region, SignedAt: t, PayloadHash: payload}
	return res, attachBody(res, r, payload, streamCtx{key: key, scope: p.scope, t: t, seed: p.signature}, o)
}

// presignParams extracts the X-Amz-* query parameters.
func presignParams(pairs []queryPair) (map[string]string, error) {
	m := make(map[string]string, 8)
	for _, p := range pairs {
		if !strings.HasPrefix(p.k, "X-Amz-") {
			continue
		}
		if _, dup := m[p.k]; dup {
			return nil, ErrAuthorizationQueryParametersError.with("duplicate %.40s", p.k)
		}
		m[p.k] = p.v
	}
	return m, nil
}

func (v *Verifier) verifyQuery(r *http.Request, pairs []queryPair, o VerifyOptions) (*Result, error) {
	bad := ErrAuthorizationQueryParametersError
	q, err := presignParams(pairs)
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"} {
		if q[k] == "" {
			return nil, bad.with("%s is required", k)
		}
	}
	if q["X-Amz-Algorithm"] != algorithm {
		return nil, bad.with("X-Amz-Algorithm must be %s", algorithm)
	}
	if q["X-Amz-Security-Token"] != "" || r.Header.Get("X-Amz-Security-Token") != "" {
		return nil, ErrInvalidRequest.with("security tokens are not supported")
	}
	p, err := buildParams(bad, q["X-Amz-Credential"], q["X-Amz-SignedHeaders"], q["X-Amz-Signature"])
	if err != nil {
		return nil, err
	}
	t, err := time.Parse(amzDateLayout, q["X-Amz-Date"])
	if err != nil {
		return nil, bad.with("X-Amz-Date is not yyyymmddThhmmssZ")
	}
	secs, err := strconv.ParseInt(q["X-Amz-Expires"], 10, 64)
	if err != nil || secs <= 0 || secs > int64(MaxPresignExpiry/time.Second) {
		return nil, bad.with("X-Amz-Expires must be 1..604800 seconds")
	}
	if err := v.checkScope(bad, p, t); err != nil {
		return nil, err
	}
	if err := checkAllSigned(r, p.signed); err != nil {
		return nil, err
	}
	payload := q["X-Amz-Content-Sha256"]
	if payload == "" {
		payload = UnsignedPayload
	}
	if !validPayloadHash(payload) {
		return nil, ErrInvalidContentSHA256
	}
	secret, err := v.lookup(p.accessKey)
	if err != nil {
		return nil, err
	}
	now := v.now()
	expires := t.Add(time.Duration(secs) * time.Second)
	if t.Sub(now) > v.maxSkew() {
		return nil, ErrRequestNotYetValid
	}
	if now.After(expires) {
		return nil, ErrRequestExpired
	}
	key := signingKey(secret, t, p.region, p.service)
	cr := canonicalRequest(r, pairs, "X-Amz-Signature", p.signed, payload)
	want := signHex(key, stringToSign(algorithm, t, p.scope, sha256Hex(cr)))
	if !sigEqual(want, p.signature) {
		return nil, ErrSignatureDoesNotMatch
	}
	res := &Result{SignatureVersion: 4, AccessKey: p.accessKey, Region: p.region, SignedAt: t, Presigned: true, Expires: expires, PayloadHash: payload}
	return res, attachBody(res, r, payload, streamCtx{key: key, scope: p.scope, t: t, seed: p.signature}, o)
}

// validPayloadHash reports whether h is a mode constant or 64 hex digits.
func validPayloadHash(h string) bool {
	switch h {
	case UnsignedPayload, StreamingSignedPayload, StreamingSignedPayloadTrailer, StreamingUnsignedPayloadTrailer:
		return true
	}
	if len(h) != 64 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}

// streamCtx is what chunk and trailer signatures are chained from.
type streamCtx struct {
	key   []byte
	scope string
	t     time.Time
	seed  string
}

// attachBody sets res.Body, ContentLength, ContentEncoding and the checksum state for the
// request's payload mode.
func attachBody(res *Result, r *http.Request, payload string, sc streamCtx, o VerifyOptions) error {
	body := io.Reader(r.Body)
	if r.Body == nil {
		body = http.NoBody
	}
	res.ContentEncoding = stripAWSChunked(r.Header.Values("Content-Encoding"))
	cs, err := declaredChecksum(r, o.ObjectChecksum)
	if err != nil {
		return err
	}
	res.checksum = cs
	payloadCS := cs // the checksum the payload must match
	if o.ObjectChecksum {
		payloadCS = nil
	}
	switch payload {
	case StreamingSignedPayload, StreamingSignedPayloadTrailer, StreamingUnsignedPayloadTrailer:
		signed := payload != StreamingUnsignedPayloadTrailer
		trailer := payload != StreamingSignedPayload
		dl := r.Header.Get("X-Amz-Decoded-Content-Length")
		res.ContentLength = -1
		if dl != "" {
			n, err := strconv.ParseInt(dl, 10, 64)
			if err != nil || n < 0 {
				return ErrInvalidRequest.with("x-amz-decoded-content-length is not a non-negative integer")
			}
			res.ContentLength = n
		} else if signed {
			return ErrMissingContentLength
		}
		if trailer {
			tcs, err := declaredTrailer(r)
			if err != nil {
				return err
			}
			if tcs != nil && cs != nil {
				return ErrInvalidRequest.with("checksum sent both as header and trailer")
			}
			if tcs != nil {
				res.checksum, payloadCS = tcs, tcs
			}
		}
		if err := checkSDKAlgorithm(r, payloadCS); err != nil {
			return err
		}
		d := &chunkedReader{
			src: newLineReader(body), signed: signed, trailer: trailer, sc: sc, prev: sc.seed,
			want: res.ContentLength, cs: payloadCS,
		}
		if signed {
			d.chunkHash = sha256.New()
		}
		res.Body = d
		return nil
	}
	if err := checkSDKAlgorithm(r, payloadCS); err != nil {
		return err
	}
	res.ContentLength = r.ContentLength
	var rd io.Reader = &plainReader{src: body, want: r.ContentLength, cs: payloadCS}
	if payload != UnsignedPayload {
		rd = newSHA256Reader(rd, payload)
	}
	res.Body = rd
	return nil
}

// stripAWSChunked removes the aws-chunked token from Content-Encoding values.
func stripAWSChunked(vals []string) string {
	var out []string
	for _, v := range vals {
		for _, e := range strings.Split(v, ",") {
			if e = strings.TrimSpace(e); e != "" && !strings.EqualFold(e, "aws-chunked") {
				out = append(out, e)
			}
		}
	}
	return strings.Join(out, ",")
}
