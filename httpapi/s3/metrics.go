package s3

import (
	"strings"

	"github.com/nebulaio/nebulaio/internal/metrics"
)

// Metrics receives this package's measurements: the shared seam of internal/metrics (see
// docs/CONVENTIONS.md). A nil Metrics is valid and records nothing.
type Metrics = metrics.Metrics

// MetricDesc documents one metric this package reports (internal/metrics.Desc).
type MetricDesc = metrics.Desc

// Metric names. The seam has no labels, so "requests by operation and status" is a family of
// label-free counters: one per operation (MetricOpPrefix + snake_case(op) + "_total", e.g.
// nebulaio_s3_op_put_object_total) and one per status class (nebulaio_s3_responses_4xx_total).
const (
	MetricRequestsTotal    = "nebulaio_s3_requests_total"
	MetricRequestSeconds   = "nebulaio_s3_request_seconds"
	MetricBytesInTotal     = "nebulaio_s3_received_bytes_total"
	MetricBytesOutTotal    = "nebulaio_s3_sent_bytes_total"
	MetricErrorsTotal      = "nebulaio_s3_errors_total"
	MetricCorruptTotal     = "nebulaio_s3_corrupt_blobs_total"
	MetricResponses2xx     = "nebulaio_s3_responses_2xx_total"
	MetricResponses3xx     = "nebulaio_s3_responses_3xx_total"
	MetricResponses4xx     = "nebulaio_s3_responses_4xx_total"
	MetricResponses5xx     = "nebulaio_s3_responses_5xx_total"
	MetricOpPrefix         = "nebulaio_s3_op_"
	MetricInflightRequests = "nebulaio_s3_inflight_requests"
	MetricAuthFailures     = "nebulaio_s3_auth_failures_total"
	MetricAuthThrottled    = "nebulaio_s3_auth_throttled_total"
	MetricAccessDenied     = "nebulaio_s3_access_denied_total"
	// Inline objects (inline.go): writes whose bytes travelled in their event, and those bytes.
	MetricInlineWritesTotal = "nebulaio_s3_inline_writes_total"
	MetricInlineBytesTotal  = "nebulaio_s3_inline_bytes_total"
)

// operations lists every operation name the router can report (S3's names).
var operations = []string{
	"ListBuckets", "CreateBucket", "DeleteBucket", "HeadBucket", "GetBucketLocation",
	"GetBucketVersioning", "GetBucketAcl", "GetObjectAcl",
	"ListObjects", "ListObjectsV2", "ListMultipartUploads",
	"PutObject", "CopyObject", "GetObject", "HeadObject", "DeleteObject", "DeleteObjects",
	"CreateMultipartUpload", "UploadPart", "UploadPartCopy", "CompleteMultipartUpload",
	"AbortMultipartUpload", "ListParts", "PutBucketVersioning", "ListObjectVersions",
	"GetObjectTagging", "PutObjectTagging", "DeleteObjectTagging", "GetBucketTagging",
	"PutBucketTagging", "DeleteBucketTagging", "GetObjectAttributes", "PutBucketAcl", "PutObjectAcl",
	"PutObjectLockConfiguration", "GetObjectLockConfiguration", "PutObjectRetention", "GetObjectRetention",
	"PutObjectLegalHold", "GetObjectLegalHold", "PutBucketLifecycleConfiguration",
	"GetBucketLifecycleConfiguration", "DeleteBucketLifecycle", "PutBucketCors", "GetBucketCors",
	"DeleteBucketCors", "CorsPreflight", "PostObject",
	"PutBucketEncryption", "GetBucketEncryption", "DeleteBucketEncryption",
	"PutBucketPolicy", "GetBucketPolicy", "DeleteBucketPolicy", "GetBucketPolicyStatus",
	"PutPublicAccessBlock", "GetPublicAccessBlock", "DeletePublicAccessBlock",
	"Unknown",
}

// opMetric returns the per-operation counter name of op.
func opMetric(op string) string {
	var b strings.Builder
	b.WriteString(MetricOpPrefix)
	for i, r := range op {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	b.WriteString("_total")
	return b.String()
}

// opMetrics maps each operation to its counter name, computed once.
var opMetrics = func() map[string]string {
	m := make(map[string]string, len(operations))
	for _, op := range operations {
		m[op] = opMetric(op)
	}
	return m
}()

// MetricDescs lists every metric the package reports; the README table and the Prometheus
// registration are built from it, and a test checks that each one is exported.
var MetricDescs = buildMetricDescs()

func buildMetricDescs() []MetricDesc {
	d := []MetricDesc{
		{Name: MetricRequestsTotal, Kind: metrics.KindCounter, Help: "S3 requests served, every operation and status."},
		{Name: MetricRequestSeconds, Kind: metrics.KindHistogram, Help: "Time from request headers to the end of the response, seconds."},
		{Name: MetricBytesInTotal, Kind: metrics.KindCounter, Help: "Payload bytes received in S3 request bodies (decoded)."},
		{Name: MetricBytesOutTotal, Kind: metrics.KindCounter, Help: "Bytes written in S3 response bodies."},
		{Name: MetricErrorsTotal, Kind: metrics.KindCounter, Help: "S3 requests answered with an error document (4xx or 5xx)."},
		{Name: MetricCorruptTotal, Kind: metrics.KindCounter, Help: "Reads that found a blob failing its checksum (not served)."},
		{Name: MetricResponses2xx, Kind: metrics.KindCounter, Help: "S3 responses with a 2xx status."},
		{Name: MetricResponses3xx, Kind: metrics.KindCounter, Help: "S3 responses with a 3xx status (304 Not Modified)."},
		{Name: MetricResponses4xx, Kind: metrics.KindCounter, Help: "S3 responses with a 4xx status."},
		{Name: MetricResponses5xx, Kind: metrics.KindCounter, Help: "S3 responses with a 5xx status."},
		{Name: MetricInflightRequests, Kind: metrics.KindGauge, Help: "S3 requests being served now."},
		{Name: MetricAuthFailures, Kind: metrics.KindCounter, Help: "S3 requests refused for a wrong signature or an unknown access key (they count against the source address's limit)."},
		{Name: MetricAuthThrottled, Kind: metrics.KindCounter, Help: "S3 requests refused with SlowDown because their source address failed to authenticate too often."},
		{Name: MetricAccessDenied, Kind: metrics.KindCounter, Help: "S3 authorization decisions that refused an action (AccessDenied)."},
		{Name: MetricInlineWritesTotal, Kind: metrics.KindCounter, Help: "Object and part writes (PUT, POST, copy, UploadPart) whose bytes travelled inside their metadata event (performance.inline_object_size)."},
		{Name: MetricInlineBytesTotal, Kind: metrics.KindCounter, Help: "Bytes stored inside metadata events by inline writes (ciphertext for encrypted objects)."},
	}
	for _, op := range operations {
		d = append(d, MetricDesc{Name: opMetric(op), Kind: metrics.KindCounter, Help: "S3 " + op + " requests (any status)."})
	}
	return d
}
