package s3

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/httpapi/sigv4"
	"github.com/nebulaio/nebulaio/iam"
	"github.com/nebulaio/nebulaio/internal/authlimit"
	"github.com/nebulaio/nebulaio/internal/metrics"
	"github.com/nebulaio/nebulaio/internal/sse"
)

// Credentials is one access key and its secret.
type Credentials = sigv4.Credentials

// Options configures the S3 handler. Backend and at least one credential are required.
type Options struct {
	Backend Backend
	// Credentials are the root credentials: every action is allowed to them.
	Credentials []Credentials
	// Keys opens the sealed secrets of the users in the metadata (fsm.UserInfo); nil: only
	// the root credentials authenticate.
	Keys *iam.Keyring
	// AuthLimit bounds authentication failures per source address (zero fields: the
	// defaults of package authlimit).
	AuthLimit authlimit.Config
	// Region is the region the endpoint answers for (default us-east-1): buckets created
	// without a LocationConstraint are in it, and with StrictRegion SigV4 scopes must name it.
	Region string
	// StrictRegion makes the endpoint behave as an AWS region: a request signed for another
	// region is AuthorizationHeaderMalformed naming Region (so SDKs re-sign), and every bucket
	// is in Region. Off (the default), any region is accepted: a single-site store answers
	// for every region name, and a bucket keeps the LocationConstraint it was created with.
	StrictRegion bool
	// DisableSigV2 refuses requests signed with Signature Version 2 (accepted by default).
	DisableSigV2 bool
	// Domain enables virtual-hosted-style addressing: a request to <bucket>.<Domain> addresses
	// <bucket>. Requests to any other host are path-style. Empty: path-style only.
	Domain string
	Logger zerolog.Logger
	// Metrics receives request metrics (see MetricDescs); nil records nothing.
	Metrics Metrics
	// MinPartSize is the smallest size of every multipart part but the last; 0 means S3's
	// 5 MiB. It travels in the CompleteMultipartUpload event.
	MinPartSize uint64
	// MaxObjectSize bounds a single PutObject or UploadPart body; 0 means 5 GiB.
	MaxObjectSize int64
	// Now is the clock (SigV4 skew checks and object times); nil means time.Now.
	Now func() time.Time
	// IdleTimeout bounds how long a request body read or a response write may make no
	// progress (a stalled or slow-loris client); each read or write that makes progress
	// extends the connection's deadline (http.ResponseController), so large transfers are not
	// limited as a whole. 0 means 2 minutes.
	IdleTimeout time.Duration
	// LifecycleDay is the length of a lifecycle day for the x-amz-expiration header
	// (lifecycle.day; 0 means 24 hours). It must be the lifecycle runner's.
	LifecycleDay time.Duration
	// Keyring holds the master keys of SSE-S3 (encryption.master_key and .old_master_keys);
	// nil refuses SSE-S3 (and bucket default encryption) with NotImplemented and cannot read
	// SSE-S3 objects.
	Keyring *sse.Keyring
	// AllowSSECOverHTTP accepts SSE-C headers on plain HTTP (s3.allow_sse_c_over_http, for
	// a TLS-terminating proxy in front); off, they are refused as S3 refuses them.
	AllowSSECOverHTTP bool
	// InlineObjectSize is the largest object (or part) body carried inside its event rather
	// than written to the data plane (performance.inline_object_size); 0 turns inline
	// objects off. At most MaxInlineObjectSize.
	InlineObjectSize int64
	// InlineAllowed, when set, is asked at every write whether inline objects may be written
	// now (a node says no while a voter holds no object bytes); nil: always.
	InlineAllowed func() bool
}

// MaxInlineObjectSize bounds Options.InlineObjectSize: an inline body is held in memory
// whole and travels in one raft entry, whose inline bytes (ciphertext, when encrypted) the
// FSM bounds to fsm.MaxInlineSize.
const MaxInlineObjectSize = 512 << 10

// Limits.
const (
	defaultMaxObjectSize = 5 << 30
	maxKeyLen            = 1024
	maxUserMetadata      = 2 << 10 // S3: user metadata keys and values, 2 KiB in all
	maxXMLBody           = 4 << 20 // DeleteObjects (1000 keys) and completion lists (10000 parts)
	defaultIdleTimeout   = 2 * time.Minute
	s3Namespace          = "http://s3.amazonaws.com/doc/2006-03-01/"
)

type handler struct {
	b       Backend
	v       *sigv4.Verifier
	region  string
	strict  bool // StrictRegion
	domain  string
	log     zerolog.Logger
	m       Metrics
	minPart uint64
	maxSize int64
	now     func() time.Time
	idle    time.Duration
	day     time.Duration // lifecycle day
	keyring *sse.Keyring
	// sseCOverHTTP: Options.AllowSSECOverHTTP.
	sseCOverHTTP bool
	idPrefix     string
	seq          atomic.Uint64 // request ID counter
	inflight     atomic.Int64  // requests being served
	creds        *credentialStore
	limit        *authlimit.Limiter
	cache        policyCache
	// Inline objects (inline.go): the size limit, the gate, and pooled body buffers of
	// inlineCap bytes (the largest inline body, encrypted, plus one).
	inlineMax  int64
	inlineOK   func() bool
	inlineCap  int64
	inlineBufs sync.Pool
}

var _ http.Handler = (*handler)(nil)

// NewHandler returns the S3 API handler. It panics if opts.Backend is nil or a credential
// has an empty access or secret key (wiring bugs: the server generates root credentials
// before it builds the handler).
func NewHandler(opts Options) http.Handler {
	if opts.Backend == nil {
		panic("s3: Options.Backend is nil")
	}
	for _, c := range opts.Credentials {
		if c.AccessKey == "" || c.SecretKey == "" {
			panic("s3: Options.Credentials holds an empty access or secret key")
		}
	}
	h := &handler{
		b: opts.Backend, region: opts.Region, strict: opts.StrictRegion, domain: strings.ToLower(opts.Domain), log: opts.Logger,
		m: opts.Metrics, minPart: opts.MinPartSize, maxSize: opts.MaxObjectSize, now: opts.Now,
		keyring: opts.Keyring, sseCOverHTTP: opts.AllowSSECOverHTTP,
		inlineMax: min(opts.InlineObjectSize, MaxInlineObjectSize), inlineOK: opts.InlineAllowed,
	}
	h.inlineCap = sse.CiphertextSize(h.inlineMax + 1)
	if h.region == "" {
		h.region = sigv4.DefaultRegion
	}
	if h.m == nil {
		h.m = metrics.Nop{}
	}
	if h.maxSize <= 0 {
		h.maxSize = defaultMaxObjectSize
	}
	if h.now == nil {
		h.now = time.Now
	}
	h.idle = opts.IdleTimeout
	if h.idle <= 0 {
		h.idle = defaultIdleTimeout
	}
	h.day = opts.LifecycleDay
	if h.day <= 0 {
		h.day = 24 * time.Hour
	}
	h.creds = &credentialStore{root: map[string]string{}, meta: opts.Backend, keys: opts.Keys, sync: opts.Backend.Sync}
	for _, c := range opts.Credentials {
		h.creds.root[c.AccessKey] = c.SecretKey
	}
	h.limit = authlimit.New(opts.AuthLimit)
	h.v = &sigv4.Verifier{Store: h.creds, Region: h.region, Now: h.now,
		AnyRegion: !opts.StrictRegion, DisableSigV2: opts.DisableSigV2}
	var p [4]byte
	_, _ = rand.Read(p[:])
	h.idPrefix = strings.ToUpper(hex.EncodeToString(p[:]))
	return h
}

// request is one S3 request being served.
type request struct {
	w      *respWriter
	r      *http.Request
	id     string
	op     string
	bucket string
	key    string
	q      url.Values
	auth   *sigv4.Result
	body   io.Reader // the authenticated, decoded payload, counted into bytes-in
	bytes  *int64
	// who sent the request (authenticate); user is its record when it is a user, policies
	// the user's identity policies once parsed (identityPolicies).
	who      iam.Principal
	user     *fsm.UserInfo
	policies []*iam.Policy
}

type handlerFunc func(h *handler, rq *request) error

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rw := &respWriter{ResponseWriter: w, dl: newDeadlines(w, h.idle)}
	id := fmt.Sprintf("%s%012X", h.idPrefix, h.seq.Add(1))
	hd := w.Header()
	hd.Set("x-amz-request-id", id)
	hd.Set("x-amz-id-2", id)
	hd.Set("Server", "NebulaIO")
	var in int64
	rw.rangeSize = -1
	rq := &request{w: rw, r: r, id: id, op: "Unknown", bytes: &in}
	h.m.Gauge(MetricInflightRequests, float64(h.inflight.Add(1)))
	defer func() {
		h.m.Gauge(MetricInflightRequests, float64(h.inflight.Add(-1)))
		h.record(rq, start)
	}()
	if err := h.serve(rq); err != nil {
		h.writeError(rq, err)
	}
}

func (h *handler) record(rq *request, start time.Time) {
	status := rq.w.status
	if status == 0 {
		status = http.StatusOK
	}
	h.m.Counter(MetricRequestsTotal, 1)
	h.m.Counter(opMetrics[rq.op], 1)
	switch {
	case status >= 500:
		h.m.Counter(MetricResponses5xx, 1)
	case status >= 400:
		h.m.Counter(MetricResponses4xx, 1)
	case status >= 300:
		h.m.Counter(MetricResponses3xx, 1)
	default:
		h.m.Counter(MetricResponses2xx, 1)
	}
	h.m.Observe(MetricRequestSeconds, time.Since(start).Seconds())
	if *rq.bytes > 0 {
		h.m.Counter(MetricBytesInTotal, float64(*rq.bytes))
	}
	if rq.w.written > 0 {
		h.m.Counter(MetricBytesOutTotal, float64(rq.w.written))
	}
	ev := h.log.Debug()
	if status >= 500 {
		ev = h.log.Warn()
	}
	ev.Str("request_id", rq.id).Str("op", rq.op).Str("method", rq.r.Method).Str("bucket", rq.bucket).
		Str("key", rq.key).Int("status", status).Int64("in", *rq.bytes).Int64("out", rq.w.written).
		Dur("took", time.Since(start)).Msg("s3 request")
}

// serve addresses, authenticates, validates and dispatches one request.
func (h *handler) serve(rq *request) error {
	r := rq.r
	var vhost bool
	rq.bucket, rq.key, vhost = h.address(r)
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return ErrInvalidArgument.with("query string: %v", err)
	}
	rq.q = q
	if rq.bucket != "" && r.Method != http.MethodOptions && r.Header.Get("Origin") != "" {
		h.corsHeaders(rq) // on the answer, whatever it is
	}
	// Browser requests that carry no SigV4 header: CORS preflights (never signed) and POST
	// form uploads (signed by their policy).
	switch {
	case r.Method == http.MethodOptions:
		rq.op = "CorsPreflight"
		return h.preflight(rq)
	case isPostObject(r.Method, rq.bucket, rq.key, q, r.Header):
		rq.op = "PostObject"
		return h.postObject(rq)
	}
	op, fn, rerr := route(r.Method, rq.bucket, rq.key, q, r.Header.Get("X-Amz-Copy-Source") != "")
	rq.op = op
	vo := sigv4.VerifyOptions{ObjectChecksum: op == "CompleteMultipartUpload"}
	if vhost {
		vo.VirtualHostBucket = rq.bucket
	}
	if err := h.authenticate(rq, vo); err != nil {
		return err
	}
	rq.body = &countReader{r: rq.auth.Body, n: rq.bytes, dl: rq.w.dl}
	if rerr != nil {
		return rerr
	}
	if rq.key != "" {
		if err := checkKey(rq.key); err != nil {
			return err
		}
	}
	if err := refuseHeaders(op, r.Header); err != nil {
		return err
	}
	if err := h.checkSSEHeaders(op, r); err != nil {
		return err
	}
	if err := h.authorize(rq); err != nil {
		return err
	}
	return fn(h, rq)
}

// unsupportedHeaders are request headers that ask for something NebulaIO does not do (ACL
// grants, website redirects, MFA, lifecycle transitions): refused with NotImplemented on
// every operation rather than accepted and not honoured. The encryption headers are
// checkSSEHeaders'.
var unsupportedHeaders = []struct{ prefix, what string }{
	{"X-Amz-Bucket-Object-Lock-Token", "object lock tokens"},
	{"X-Amz-Transition-Default-Minimum-Object-Size", "lifecycle transitions"},
	{"X-Amz-Grant-", "ACL grants"},
	{"X-Amz-Website-Redirect-Location", "website redirects"},
	{"X-Amz-Mfa", "MFA delete"},
	{"X-Amz-Write-Offset-Bytes", "appending to objects"},
	{"X-Amz-If-Match-", "conditional deletes"},
}

// objectLockOps are the operations that honour the x-amz-object-lock-* headers (those that
// write a new version); elsewhere the headers are refused.
var objectLockOps = map[string]bool{"PutObject": true, "CopyObject": true, "CreateMultipartUpload": true, "PostObject": true}

// refuseHeaders answers NotImplemented for a header the operation op would have to honour and
// cannot: the unsupportedHeaders, a canned ACL other than private, object lock headers where
// no version is written, x-amz-bucket-object-lock-enabled except on CreateBucket,
// x-amz-bypass-governance-retention where nothing is retained, and If-Match / If-None-Match on
// operations whose conditions are not evaluated (DeleteObject, CopyObject's destination, ...).
func refuseHeaders(op string, hd http.Header) error {
	for k := range hd {
		for _, u := range unsupportedHeaders {
			if strings.HasPrefix(k, u.prefix) {
				return ErrNotImplemented.with("%s (%s) is not implemented", u.what, k)
			}
		}
		if strings.HasPrefix(k, "X-Amz-Object-Lock-") && !objectLockOps[op] {
			return ErrNotImplemented.with("%s on %s is not implemented: object lock settings apply to PutObject, CopyObject and CreateMultipartUpload", k, op)
		}
	}
	if v := hd.Get("X-Amz-Acl"); v != "" && v != "private" && op != "CreateBucket" && op != "PutBucketAcl" {
		return ErrNotImplemented.with("canned ACL %q on %s is not implemented: canned ACLs are set on buckets (CreateBucket, PutBucketAcl) and cover every object in them", v, op)
	}
	if _, ok := hd["X-Amz-Bucket-Object-Lock-Enabled"]; ok && op != "CreateBucket" {
		return ErrNotImplemented.with("x-amz-bucket-object-lock-enabled applies to CreateBucket only")
	}
	if _, ok := hd["X-Amz-Bypass-Governance-Retention"]; ok {
		switch op {
		case "DeleteObject", "DeleteObjects", "PutObjectRetention":
		default:
			return ErrNotImplemented.with("x-amz-bypass-governance-retention on %s is not implemented: it applies to DeleteObject, DeleteObjects and PutObjectRetention", op)
		}
	}
	switch op {
	case "PutObject", "CompleteMultipartUpload", "GetObject", "HeadObject":
		return nil // conditions evaluated by the operation
	}
	for _, k := range []string{"If-Match", "If-None-Match"} {
		if hd.Get(k) != "" {
			return ErrNotImplemented.with("%s on %s is not implemented", k, op)
		}
	}
	return nil
}

// address returns the bucket and key r addresses, virtual-hosted style (vhost) when its Host
// is a subdomain of the configured domain, else path style.
func (h *handler) address(r *http.Request) (bucket, key string, vhost bool) {
	path := r.URL.Path
	if h.domain != "" {
		host := strings.ToLower(r.Host)
		if hh, _, err := net.SplitHostPort(host); err == nil {
			host = hh
		}
		if b, ok := strings.CutSuffix(host, "."+h.domain); ok && b != "" {
			return b, strings.TrimPrefix(path, "/"), true
		}
	}
	path = strings.TrimPrefix(path, "/")
	bucket, key, _ = strings.Cut(path, "/")
	return bucket, key, false
}

// checkKey applies the key rules: at most 1024 bytes, valid UTF-8, no NUL, no ".." segment.
func checkKey(key string) error {
	if len(key) > maxKeyLen {
		return ErrKeyTooLong.with("key is %d bytes; the limit is %d", len(key), maxKeyLen)
	}
	if !utf8.ValidString(key) || strings.IndexByte(key, 0) >= 0 {
		return ErrInvalidObjectName.with("key contains invalid UTF-8 or a NUL byte")
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == ".." {
			return ErrInvalidObjectName.with("key contains a '..' segment")
		}
	}
	return nil
}

// Query parameters that are not subresources, or are subresources we implement; any other
// key is NotImplemented (x-* keys, such as the SDK's x-id and presigned X-Amz-*, are ignored).
var knownParams = map[string]bool{
	"list-type": true, "prefix": true, "delimiter": true, "max-keys": true, "marker": true,
	"continuation-token": true, "start-after": true, "fetch-owner": true, "encoding-type": true,
	"uploads": true, "key-marker": true, "upload-id-marker": true, "max-uploads": true,
	"uploadId": true, "partNumber": true, "max-parts": true, "part-number-marker": true,
	"response-content-type": true, "response-content-language": true, "response-expires": true,
	"response-cache-control": true, "response-content-disposition": true,
	"response-content-encoding": true, "location": true, "delete": true, "acl": true,
	"versioning": true, "versionId": true, "versions": true, "version-id-marker": true,
	"tagging": true, "attributes": true, "max-buckets": true,
	"object-lock": true, "retention": true, "legal-hold": true, "lifecycle": true, "cors": true,
	"encryption": true,
	"policy":     true, "policyStatus": true, "publicAccessBlock": true,
}

// subresources are the query keys that select an operation. A request carrying one that the
// operation it was routed to does not consume is NotImplemented (GET /b/k?tagging&acl is not
// quietly a GetObjectTagging), and so is a versionId on an operation that takes none.
var subresources = []string{"acl", "tagging", "versioning", "versions", "uploads", "location", "delete", "attributes", "uploadId", "versionId",
	"object-lock", "retention", "legal-hold", "lifecycle", "cors", "encryption", "policy", "policyStatus", "publicAccessBlock"}

// consumes lists, per operation, the subresource keys it reads.
var consumes = map[string][]string{
	"GetBucketAcl": {"acl"}, "GetObjectAcl": {"acl", "versionId"},
	"GetBucketTagging": {"tagging"}, "PutBucketTagging": {"tagging"}, "DeleteBucketTagging": {"tagging"},
	"GetObjectTagging": {"tagging", "versionId"}, "PutObjectTagging": {"tagging", "versionId"},
	"DeleteObjectTagging": {"tagging", "versionId"},
	"GetBucketVersioning": {"versioning"}, "PutBucketVersioning": {"versioning"},
	"ListObjectVersions": {"versions"}, "ListMultipartUploads": {"uploads"},
	"GetBucketLocation": {"location"}, "DeleteObjects": {"delete"},
	"GetObjectAttributes": {"attributes", "versionId"}, "GetObject": {"versionId"},
	"HeadObject": {"versionId"}, "DeleteObject": {"versionId"},
	"UploadPart": {"uploadId"}, "UploadPartCopy": {"uploadId"}, "ListParts": {"uploadId"},
	"AbortMultipartUpload": {"uploadId"}, "CompleteMultipartUpload": {"uploadId"},
	"CreateMultipartUpload":      {"uploads"},
	"GetObjectLockConfiguration": {"object-lock"}, "PutObjectLockConfiguration": {"object-lock"},
	"GetObjectRetention": {"retention", "versionId"}, "PutObjectRetention": {"retention", "versionId"},
	"GetObjectLegalHold": {"legal-hold", "versionId"}, "PutObjectLegalHold": {"legal-hold", "versionId"},
	"GetBucketLifecycleConfiguration": {"lifecycle"}, "PutBucketLifecycleConfiguration": {"lifecycle"},
	"DeleteBucketLifecycle": {"lifecycle"},
	"GetBucketCors":         {"cors"}, "PutBucketCors": {"cors"}, "DeleteBucketCors": {"cors"},
	"GetBucketEncryption": {"encryption"}, "PutBucketEncryption": {"encryption"}, "DeleteBucketEncryption": {"encryption"},
	"GetBucketPolicy": {"policy"}, "PutBucketPolicy": {"policy"}, "DeleteBucketPolicy": {"policy"},
	"GetBucketPolicyStatus": {"policyStatus"}, "PutBucketAcl": {"acl"},
	"GetPublicAccessBlock": {"publicAccessBlock"}, "PutPublicAccessBlock": {"publicAccessBlock"},
	"DeletePublicAccessBlock": {"publicAccessBlock"},
}

// sigV2PresignParams are the query parameters of a SigV2 presigned URL; they are not
// subresources when they come together.
var sigV2PresignParams = map[string]bool{"AWSAccessKeyId": true, "Expires": true, "Signature": true}

// route picks the operation for a request. The returned op is reported in metrics even when
// err is set.
func route(method, bucket, key string, q url.Values, copySource bool) (string, handlerFunc, error) {
	v2Presigned := q.Has("AWSAccessKeyId") && q.Has("Signature")
	for k := range q {
		if !knownParams[k] && !(v2Presigned && sigV2PresignParams[k]) && !strings.HasPrefix(strings.ToLower(k), "x-") {
			return "Unknown", nil, ErrNotImplemented.with("the ?%s subresource or parameter is not implemented", k)
		}
	}
	op, fn, err := routeOp(method, bucket, key, q, copySource)
	if err != nil {
		return op, fn, err
	}
	for _, k := range subresources {
		if q.Has(k) && !slices.Contains(consumes[op], k) {
			if k == "versionId" {
				return op, nil, ErrInvalidArgument.with("%s does not take a versionId", op)
			}
			return op, nil, ErrNotImplemented.with("?%s is not implemented with %s", k, op)
		}
	}
	return op, fn, nil
}

func routeOp(method, bucket, key string, q url.Values, copySource bool) (string, handlerFunc, error) {
	has := q.Has
	switch {
	case bucket == "":
		if method == http.MethodGet {
			return "ListBuckets", (*handler).listBuckets, nil
		}
	case key == "":
		switch method {
		case http.MethodPut:
			switch {
			case has("acl"):
				return "PutBucketAcl", (*handler).putBucketACL, nil
			case has("policy"):
				return "PutBucketPolicy", (*handler).putBucketPolicy, nil
			case has("publicAccessBlock"):
				return "PutPublicAccessBlock", (*handler).putPublicAccessBlock, nil
			case has("versioning"):
				return "PutBucketVersioning", (*handler).putBucketVersioning, nil
			case has("tagging"):
				return "PutBucketTagging", (*handler).putBucketTagging, nil
			case has("object-lock"):
				return "PutObjectLockConfiguration", (*handler).putObjectLockConfiguration, nil
			case has("lifecycle"):
				return "PutBucketLifecycleConfiguration", (*handler).putBucketLifecycle, nil
			case has("cors"):
				return "PutBucketCors", (*handler).putBucketCors, nil
			case has("encryption"):
				return "PutBucketEncryption", (*handler).putBucketEncryption, nil
			}
			return "CreateBucket", (*handler).createBucket, nil
		case http.MethodDelete:
			switch {
			case has("tagging"):
				return "DeleteBucketTagging", (*handler).deleteBucketTagging, nil
			case has("lifecycle"):
				return "DeleteBucketLifecycle", (*handler).deleteBucketLifecycle, nil
			case has("cors"):
				return "DeleteBucketCors", (*handler).deleteBucketCors, nil
			case has("encryption"):
				return "DeleteBucketEncryption", (*handler).deleteBucketEncryption, nil
			case has("policy"):
				return "DeleteBucketPolicy", (*handler).deleteBucketPolicy, nil
			case has("publicAccessBlock"):
				return "DeletePublicAccessBlock", (*handler).deletePublicAccessBlock, nil
			}
			return "DeleteBucket", (*handler).deleteBucket, nil
		case http.MethodHead:
			return "HeadBucket", (*handler).headBucket, nil
		case http.MethodGet:
			switch {
			case has("location"):
				return "GetBucketLocation", (*handler).getBucketLocation, nil
			case has("versioning"):
				return "GetBucketVersioning", (*handler).getBucketVersioning, nil
			case has("acl"):
				return "GetBucketAcl", (*handler).getACL, nil
			case has("tagging"):
				return "GetBucketTagging", (*handler).getBucketTagging, nil
			case has("uploads"):
				return "ListMultipartUploads", (*handler).listUploads, nil
			case has("versions"):
				return "ListObjectVersions", (*handler).listObjectVersions, nil
			case has("object-lock"):
				return "GetObjectLockConfiguration", (*handler).getObjectLockConfiguration, nil
			case has("lifecycle"):
				return "GetBucketLifecycleConfiguration", (*handler).getBucketLifecycle, nil
			case has("cors"):
				return "GetBucketCors", (*handler).getBucketCors, nil
			case has("encryption"):
				return "GetBucketEncryption", (*handler).getBucketEncryption, nil
			case has("policy"):
				return "GetBucketPolicy", (*handler).getBucketPolicy, nil
			case has("policyStatus"):
				return "GetBucketPolicyStatus", (*handler).getBucketPolicyStatus, nil
			case has("publicAccessBlock"):
				return "GetPublicAccessBlock", (*handler).getPublicAccessBlock, nil
			case q.Get("list-type") == "2":
				return "ListObjectsV2", (*handler).listObjectsV2, nil
			case has("list-type"):
				return "ListObjects", nil, ErrInvalidArgument.with("list-type must be 2")
			}
			return "ListObjects", (*handler).listObjectsV1, nil
		case http.MethodPost:
			switch {
			case has("delete"):
				return "DeleteObjects", (*handler).deleteObjects, nil
			case bucket == "WriteGetObjectResponse":
				return "Unknown", nil, ErrNotImplemented.with("WriteGetObjectResponse (S3 Object Lambda) is not implemented")
			}
			return "PostObject", nil, ErrMalformedPOSTRequest.with("a POST to a bucket is a form upload: the body must be multipart/form-data")
		}
	default:
		switch method {
		case http.MethodPut:
			switch {
			case has("acl"):
				return "PutObjectAcl", nil, ErrNotImplemented.with("ACLs cannot be changed: every object is private to its bucket's owner")
			case has("tagging"):
				return "PutObjectTagging", (*handler).putObjectTagging, nil
			case has("retention"):
				return "PutObjectRetention", (*handler).putObjectRetention, nil
			case has("legal-hold"):
				return "PutObjectLegalHold", (*handler).putObjectLegalHold, nil
			case has("uploadId") && has("partNumber"):
				if copySource {
					return "UploadPartCopy", (*handler).uploadPartCopy, nil
				}
				return "UploadPart", (*handler).uploadPart, nil
			case has("uploadId") || has("partNumber"):
				return "UploadPart", nil, ErrInvalidArgument.with("UploadPart needs both uploadId and partNumber")
			case copySource:
				return "CopyObject", (*handler).copyObject, nil
			}
			return "PutObject", (*handler).putObject, nil
		case http.MethodGet:
			switch {
			case has("uploadId"):
				return "ListParts", (*handler).listParts, nil
			case has("acl"):
				return "GetObjectAcl", (*handler).getACL, nil
			case has("tagging"):
				return "GetObjectTagging", (*handler).getObjectTagging, nil
			case has("attributes"):
				return "GetObjectAttributes", (*handler).getObjectAttributes, nil
			case has("retention"):
				return "GetObjectRetention", (*handler).getObjectRetention, nil
			case has("legal-hold"):
				return "GetObjectLegalHold", (*handler).getObjectLegalHold, nil
			}
			return "GetObject", (*handler).getObject, nil
		case http.MethodHead:
			return "HeadObject", (*handler).headObject, nil
		case http.MethodDelete:
			switch {
			case has("uploadId"):
				return "AbortMultipartUpload", (*handler).abortUpload, nil
			case has("tagging"):
				return "DeleteObjectTagging", (*handler).deleteObjectTagging, nil
			}
			return "DeleteObject", (*handler).deleteObject, nil
		case http.MethodPost:
			switch {
			case has("uploads"):
				return "CreateMultipartUpload", (*handler).createUpload, nil
			case has("uploadId"):
				return "CompleteMultipartUpload", (*handler).completeUpload, nil
			}
			return "Unknown", nil, ErrNotImplemented.with("this POST is not implemented")
		}
	}
	return "Unknown", nil, ErrMethodNotAllowed.with("%s is not allowed here", method)
}

// writeError sends err as an S3 error document (no body for HEAD).
func (h *handler) writeError(rq *request, err error) {
	ae := toAPIError(err)
	if ae.Code == ErrInternal.Code {
		h.log.Error().Err(err).Str("request_id", rq.id).Str("op", rq.op).Str("bucket", rq.bucket).
			Str("key", rq.key).Msg("s3 internal error")
	}
	h.m.Counter(MetricErrorsTotal, 1)
	if rq.w.wroteHeader {
		return // mid-body: the short response tells the client
	}
	hd := rq.w.Header()
	resetHeaders(hd)
	if ae.Status == http.StatusServiceUnavailable {
		hd.Set("Retry-After", "1")
	}
	var fe *fsm.Error
	if errors.As(err, &fe) && fe.DeleteMarker {
		// NoSuchKey because the current version is a delete marker, or MethodNotAllowed for a
		// marker's version: S3 names the marker.
		hd.Set("x-amz-delete-marker", "true")
		hd.Set("x-amz-version-id", fe.VersionID)
		hd.Set("Last-Modified", time.Unix(0, fe.LastModified).UTC().Format(http.TimeFormat))
	}
	if ae.Status == http.StatusRequestedRangeNotSatisfiable && rq.w.rangeSize >= 0 {
		hd.Set("Content-Range", fmt.Sprintf("bytes */%d", rq.w.rangeSize))
	}
	if rq.r.Method == http.MethodHead {
		rq.w.WriteHeader(ae.Status)
		return
	}
	resource := rq.r.URL.Path
	doc := errorResponse{Code: ae.Code, Message: ae.Message, Resource: resource, RequestID: rq.id, HostID: rq.id}
	var se *sigv4.Error
	if errors.As(err, &se) {
		doc.Region = se.Region() // a region error: the region to sign for
	}
	body, _ := xml.Marshal(doc)
	hd.Set("Content-Type", "application/xml")
	hd.Set("Content-Length", fmt.Sprint(len(xml.Header)+len(body)))
	rq.w.WriteHeader(ae.Status)
	_, _ = io.WriteString(rq.w, xml.Header)
	_, _ = rq.w.Write(body)
}

// resetHeaders drops every header but the request IDs, Server and the CORS headers (object
// headers set before a failure or a retry).
func resetHeaders(hd http.Header) {
	for k := range hd {
		if k != "X-Amz-Request-Id" && k != "X-Amz-Id-2" && k != "Server" && k != "Vary" && !strings.HasPrefix(k, "Access-Control-") {
			delete(hd, k)
		}
	}
}

// writeXML sends v as a 200 XML document.
func writeXML(rq *request, v any) error { return writeXMLStatus(rq, http.StatusOK, v) }

// writeXMLStatus sends v as an XML document with the given status.
func writeXMLStatus(rq *request, status int, v any) error {
	body, err := xml.Marshal(v)
	if err != nil {
		return fmt.Errorf("s3: encode response: %w", err)
	}
	hd := rq.w.Header()
	hd.Set("Content-Type", "application/xml")
	hd.Set("Content-Length", fmt.Sprint(len(xml.Header)+len(body)))
	rq.w.WriteHeader(status)
	_, _ = io.WriteString(rq.w, xml.Header)
	_, _ = rq.w.Write(body)
	return nil
}

// respWriter records the status and the body bytes written.
type respWriter struct {
	http.ResponseWriter
	dl          *deadlines
	status      int
	wroteHeader bool
	written     int64
	rangeSize   int64 // object size for a 416's Content-Range; set by GET before range checks
}

func (w *respWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	w.status = code
	w.dl.extendWrite()
	w.ResponseWriter.WriteHeader(code)
}

func (w *respWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	w.dl.extendWrite()
	n, err := w.ResponseWriter.Write(p)
	w.written += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countReader counts the bytes read through it.
type countReader struct {
	r  io.Reader
	n  *int64
	dl *deadlines
}

func (c *countReader) Read(p []byte) (int, error) {
	c.dl.extendRead()
	n, err := c.r.Read(p)
	*c.n += int64(n)
	return n, err
}

// deadlines keeps a connection's read and write deadlines idle+now ahead while a request makes
// progress. Extending costs a syscall-free timer reset in net/http, but is still done at most
// every idle/8 per direction.
type deadlines struct {
	rc                  *http.ResponseController
	idle                time.Duration
	lastRead, lastWrite time.Time
	noRead, noWrite     bool // the writer does not support deadlines
}

// newDeadlines also clears a write deadline an earlier request on the same keep-alive
// connection left behind (net/http resets only the read deadline between requests).
func newDeadlines(w http.ResponseWriter, idle time.Duration) *deadlines {
	d := &deadlines{rc: http.NewResponseController(w), idle: idle}
	if err := d.rc.SetWriteDeadline(time.Time{}); err != nil {
		d.noWrite = true
	}
	return d
}

func (d *deadlines) extendRead() {
	now := time.Now()
	if d.noRead || now.Sub(d.lastRead) < d.idle/8 {
		return
	}
	d.lastRead = now
	if err := d.rc.SetReadDeadline(now.Add(d.idle)); err != nil {
		d.noRead = true
	}
}

func (d *deadlines) extendWrite() {
	now := time.Now()
	if d.noWrite || now.Sub(d.lastWrite) < d.idle/8 {
		return
	}
	d.lastWrite = now
	if err := d.rc.SetWriteDeadline(now.Add(d.idle)); err != nil {
		d.noWrite = true
	}
}
