package s3

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/internal/sse"
)

// Encryption at rest in the S3 layer: which encryption a write asks for (headers, else the
// bucket's default), the object key it gets, how a read recovers the key (the keyring for
// SSE-S3, the request's SSE-C headers), the response headers, and
// Put/Get/DeleteBucketEncryption. The bytes are encrypted here, on their way to the data
// plane, and decrypted on their way out (internal/sse); see doc.go, "Encryption at rest".

// Request and response headers (as net/http canonicalises them).
const (
	hdrSSE            = "X-Amz-Server-Side-Encryption"
	hdrSSECAlgorithm  = "X-Amz-Server-Side-Encryption-Customer-Algorithm"
	hdrSSECKey        = "X-Amz-Server-Side-Encryption-Customer-Key"
	hdrSSECKeyMD5     = "X-Amz-Server-Side-Encryption-Customer-Key-Md5"
	hdrSSEKMSKeyID    = "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"
	hdrSSEContext     = "X-Amz-Server-Side-Encryption-Context"
	hdrSSEBucketKey   = "X-Amz-Server-Side-Encryption-Bucket-Key-Enabled"
	copySourcePrefix  = "X-Amz-Copy-Source-"
	sseAES256         = "AES256"
	respSSECKeyMD5Hdr = "x-amz-server-side-encryption-customer-key-MD5"
)

// Encryption errors, with S3's codes and messages.
var (
	// ErrSSEInsecure: SSE-C headers over plain HTTP (s3.allow_sse_c_over_http off).
	ErrSSEInsecure = &Error{"InvalidRequest", http.StatusBadRequest, "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection."}
	// ErrSSEObjectEncrypted: a read of an SSE-C object without the customer's key.
	ErrSSEObjectEncrypted = &Error{"InvalidRequest", http.StatusBadRequest, "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object."}
	// ErrSSEMultipartEncrypted: an UploadPart of an SSE-C upload without the customer's key.
	ErrSSEMultipartEncrypted = &Error{"InvalidRequest", http.StatusBadRequest, "The multipart upload initiate requested encryption. Subsequent part requests must include the appropriate encryption parameters."}
	// ErrSSENotApplicable: SSE-C headers for an object (or upload) that is not SSE-C.
	ErrSSENotApplicable = &Error{"InvalidRequest", http.StatusBadRequest, "The encryption parameters are not applicable to this object."}
	// ErrSSEKMSNotConfigured: SSE-KMS asked for; no KMS is configured.
	ErrSSEKMSNotConfigured = &Error{"NotImplemented", http.StatusNotImplemented, "Server side encryption with AWS KMS (SSE-KMS) is not available: no KMS is configured."}
	// ErrSSENoMasterKey: SSE-S3 asked for (or a bucket default) on a node without a master key.
	ErrSSENoMasterKey = &Error{"NotImplemented", http.StatusNotImplemented, "Server side encryption with S3 managed keys (SSE-S3) needs a master key: set encryption.master_key (or NEBULAIO_MASTER_KEY) on every node."}
)

// ssecNames returns the names of the three SSE-C headers with prefix: "" for the object's
// own (x-amz-server-side-encryption-customer-*), copySourcePrefix for the copy source's
// (x-amz-copy-source-server-side-encryption-customer-*).
func ssecNames(prefix string) (alg, key, keyMD5 string) {
	if prefix == "" {
		return hdrSSECAlgorithm, hdrSSECKey, hdrSSECKeyMD5
	}
	const amz = "X-Amz-"
	return prefix + strings.TrimPrefix(hdrSSECAlgorithm, amz), prefix + strings.TrimPrefix(hdrSSECKey, amz),
		prefix + strings.TrimPrefix(hdrSSECKeyMD5, amz)
}

// sseCHeaders reports whether hd carries any SSE-C header with prefix ("" or the copy
// source's).
func sseCHeaders(hd http.Header, prefix string) bool {
	alg, key, keyMD5 := ssecNames(prefix)
	return hd.Get(alg) != "" || hd.Get(key) != "" || hd.Get(keyMD5) != ""
}

// Operations that take the encryption headers.
var (
	sseWriteOps = map[string]bool{"PutObject": true, "CopyObject": true, "CreateMultipartUpload": true}
	sseCOps     = map[string]bool{"PutObject": true, "CopyObject": true, "CreateMultipartUpload": true, "UploadPart": true,
		"UploadPartCopy": true, "CompleteMultipartUpload": true, "GetObject": true, "HeadObject": true,
		"GetObjectAttributes": true, "ListParts": true}
	sseCopyOps = map[string]bool{"CopyObject": true, "UploadPartCopy": true}
)

// checkSSEHeaders refuses encryption headers an operation does not take, SSE-KMS (no KMS is
// configured), an S3 Bucket Key (an SSE-KMS feature), and SSE-C over plain HTTP unless
// Options.AllowSSECOverHTTP: S3's rules, so that no encryption header is ever accepted and
// not honoured.
func (h *handler) checkSSEHeaders(op string, r *http.Request) error {
	hd := r.Header
	if hd.Get(hdrSSEKMSKeyID) != "" || hd.Get(hdrSSEContext) != "" {
		return ErrSSEKMSNotConfigured
	}
	if v := hd.Get(hdrSSEBucketKey); v != "" && !strings.EqualFold(v, "false") {
		return ErrSSEKMSNotConfigured.with("S3 Bucket Keys (x-amz-server-side-encryption-bucket-key-enabled) belong to SSE-KMS, which is not available: no KMS is configured.")
	}
	for _, c := range []struct {
		set bool
		ops map[string]bool
		hdr string
	}{
		{hd.Get(hdrSSE) != "" || hd.Get(hdrSSEBucketKey) != "", sseWriteOps, "x-amz-server-side-encryption"},
		{sseCHeaders(hd, ""), sseCOps, "x-amz-server-side-encryption-customer-*"},
		{sseCHeaders(hd, copySourcePrefix), sseCopyOps, "x-amz-copy-source-server-side-encryption-customer-*"},
	} {
		if c.set && !c.ops[op] {
			return ErrInvalidArgument.with("%s does not apply to %s", c.hdr, op)
		}
	}
	if (sseCHeaders(hd, "") || sseCHeaders(hd, copySourcePrefix)) && r.TLS == nil && !h.sseCOverHTTP {
		return ErrSSEInsecure
	}
	return nil
}

// customerKey parses the SSE-C headers with prefix; ok is false when none is sent.
func customerKey(hd http.Header, prefix string) (key sse.CustomerKey, ok bool, err error) {
	if !sseCHeaders(hd, prefix) {
		return key, false, nil
	}
	alg, k, keyMD5 := ssecNames(prefix)
	key, err = sse.ParseCustomerKey(hd.Get(alg), hd.Get(k), hd.Get(keyMD5))
	switch {
	case errors.Is(err, sse.ErrCustomerAlgorithm):
		return key, true, ErrInvalidArgument.with("Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm (AES256).")
	case errors.Is(err, sse.ErrCustomerKeyMissing):
		return key, true, ErrInvalidArgument.with("Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key.")
	case errors.Is(err, sse.ErrCustomerMD5Missing):
		return key, true, ErrInvalidArgument.with("Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key.")
	case errors.Is(err, sse.ErrCustomerKeyInvalid):
		return key, true, ErrInvalidArgument.with("The secret key was invalid for the specified algorithm.")
	case errors.Is(err, sse.ErrCustomerMD5Mismatch):
		return key, true, ErrInvalidArgument.with("The calculated MD5 hash of the key did not match the hash that was provided.")
	case err != nil:
		return key, true, fmt.Errorf("s3: %w", err)
	}
	return key, true, nil
}

// objectCipher is the encryption of an object being written or read: its fsm record, the
// object key (when encrypted) and, for SSE-C, the key's MD5 to echo.
type objectCipher struct {
	enc    fsm.Encryption
	key    *sse.ObjectKey // nil: not encrypted
	keyMD5 string         // SSE-C: base64 MD5 of the customer's key
}

// plainETag reports whether a blob's ETag is the MD5 of its plaintext (unencrypted and
// SSE-S3 objects, as S3) rather than of what is stored (SSE-C: S3's ETag is then not the
// content's MD5, and the plaintext's MD5 would let anyone who reads the metadata test a
// guess of the content).
func (c objectCipher) plainETag() bool { return c.enc.Algorithm != fsm.EncryptionSSEC }

// newCipher decides the encryption of a new object (PutObject, CopyObject, a POST upload) or
// upload (CreateMultipartUpload) in bucket: x-amz-server-side-encryption (AES256; aws:kms
// is not available), else the SSE-C headers, else the bucket's default encryption (read
// from this node's state: a default set a moment ago through another node may apply a
// moment later), else none. headers false ignores the request's headers (a POST form, whose
// encryption fields are refused on their own).
func (h *handler) newCipher(hd http.Header, bucket string, headers bool) (objectCipher, error) {
	var c objectCipher
	method := ""
	var ck sse.CustomerKey
	var isC bool
	if headers {
		method = hd.Get(hdrSSE)
		var err error
		if ck, isC, err = customerKey(hd, ""); err != nil {
			return c, err
		}
		switch {
		case method != "" && isC:
			return c, ErrInvalidArgument.with("Server Side Encryption with Customer provided key is incompatible with the encryption method specified (%.20s).", method)
		case method == "aws:kms", method == "aws:kms:dsse":
			return c, ErrSSEKMSNotConfigured
		case method != "" && method != sseAES256:
			return c, ErrInvalidArgument.with("The encryption method specified is not supported: %.20q (AES256 or SSE-C).", method)
		}
	}
	if method == "" && !isC {
		switch _, err := h.b.BucketEncryption(bucket); {
		case err == nil:
			method = sseAES256
		case errors.Is(err, &fsm.Error{Code: fsm.CodeNoSuchEncryptionConfiguration}), errors.Is(err, &fsm.Error{Code: fsm.CodeNoSuchBucket}):
			return c, nil // not encrypted (a missing bucket is the FSM's to refuse)
		default:
			return c, err
		}
	}
	k := sse.NewObjectKey()
	c.key = &k
	if isC {
		c.enc = fsm.Encryption{Algorithm: fsm.EncryptionSSEC, SealedKey: string(ck.Seal(k))}
		c.keyMD5 = ck.KeyMD5()
		return c, nil
	}
	if err := h.sseS3Usable(); err != nil {
		return c, err
	}
	id, sealed := h.keyring.Seal(k)
	c.enc = fsm.Encryption{Algorithm: fsm.EncryptionSSES3, KeyID: id, SealedKey: string(sealed)}
	return c, nil
}

// sseS3Usable refuses SSE-S3 on a node without a keyring (no encryption.master_key).
func (h *handler) sseS3Usable() error {
	if h.keyring == nil {
		return ErrSSENoMasterKey
	}
	return nil
}

// openCipher recovers the key of an existing object or upload encrypted as enc, from the
// request's SSE-C headers with prefix ("" or the copy source's) or the keyring. missing is
// the error for an SSE-C object read without its key. A wrong customer key is AccessDenied;
// an SSE-S3 object whose master key this node lacks is an InternalError naming the key id.
func (h *handler) openCipher(hd http.Header, prefix string, enc fsm.Encryption, missing *Error) (objectCipher, error) {
	c := objectCipher{enc: enc}
	ck, isC, err := customerKey(hd, prefix)
	if err != nil {
		return c, err
	}
	switch {
	case enc.Algorithm == fsm.EncryptionSSEC && !isC:
		return c, missing
	case enc.Algorithm != fsm.EncryptionSSEC && isC:
		return c, ErrSSENotApplicable
	case !enc.Encrypted():
		return c, nil
	}
	var k sse.ObjectKey
	if isC {
		if k, err = ck.Unseal([]byte(enc.SealedKey)); err != nil {
			if errors.Is(err, sse.ErrWrongKey) {
				return c, ErrAccessDenied.with("The SSE-C key given does not match the key the object was stored with.")
			}
			return c, fmt.Errorf("s3: SSE-C sealed key: %w", err)
		}
		c.keyMD5 = ck.KeyMD5()
	} else {
		if h.keyring == nil {
			return c, fmt.Errorf("s3: the object is encrypted with SSE-S3 master key %s and this node has no master key (encryption.master_key)", enc.KeyID)
		}
		if k, err = h.keyring.Unseal(enc.KeyID, []byte(enc.SealedKey)); err != nil {
			return c, fmt.Errorf("s3: the object's SSE-S3 key does not open (add master key %s to encryption.old_master_keys if it was rotated out): %w", enc.KeyID, err)
		}
	}
	c.key = &k
	return c, nil
}

// setSSEHeaders sets the response headers S3 gives for an encrypted object: the algorithm
// for SSE-S3, the customer algorithm and key MD5 for SSE-C (the MD5 when the request sent
// the key).
func setSSEHeaders(hd http.Header, c objectCipher) {
	switch c.enc.Algorithm {
	case fsm.EncryptionSSES3:
		hd.Set(hdrSSE, sseAES256)
	case fsm.EncryptionSSEC:
		hd.Set(hdrSSECAlgorithm, sseAES256)
		if c.keyMD5 != "" {
			hd[respSSECKeyMD5Hdr] = []string{c.keyMD5}
		}
	}
}

// plainSizes returns the plaintext length of each blob of an object or part list: its size,
// or for an encrypted one what its ciphertext decrypts to (ErrBlobCorrupt for a size no
// encrypted blob has).
func plainSizes(blobs []fsm.Blob, encrypted bool) ([]int64, error) {
	out := make([]int64, len(blobs))
	for i, b := range blobs {
		out[i] = int64(b.Size)
		if encrypted {
			n, err := sse.PlaintextSize(int64(b.Size))
			if err != nil {
				return nil, fmt.Errorf("%w: blob %s: %w", ErrBlobCorrupt, b.ID, err)
			}
			out[i] = n
		}
	}
	return out, nil
}

// decryptOpen reads plaintext [off, off+n) of the encrypted blob b through the data plane.
func (h *handler) decryptOpen(r *objectReader, b fsm.Blob, off, n int64) (io.ReadCloser, error) {
	rc, err := r.key.Decrypt(b.ID, int64(b.Size), func(o, l int64) (io.ReadCloser, error) {
		return h.openBlob(r.ctx, b, o, l)
	}, off, n)
	if err != nil {
		return nil, tampered(err)
	}
	return tamperReader{rc}, nil
}

// tampered maps a ciphertext that fails authentication to ErrBlobCorrupt: it is served no
// more than a blob that fails its checksum.
func tampered(err error) error {
	if errors.Is(err, sse.ErrTampered) {
		return fmt.Errorf("%w: %w", ErrBlobCorrupt, err)
	}
	return err
}

type tamperReader struct{ io.ReadCloser }

func (t tamperReader) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = tampered(err)
	}
	return n, err
}

// Put/Get/DeleteBucketEncryption.

type sseConfiguration struct {
	XMLName xml.Name  `xml:"ServerSideEncryptionConfiguration"`
	Xmlns   string    `xml:"xmlns,attr,omitempty"`
	Rules   []sseRule `xml:"Rule"`
}

type sseRule struct {
	Default struct {
		SSEAlgorithm   string `xml:"SSEAlgorithm"`
		KMSMasterKeyID string `xml:"KMSMasterKeyID,omitempty"`
	} `xml:"ApplyServerSideEncryptionByDefault"`
	BucketKeyEnabled *bool `xml:"BucketKeyEnabled"`
}

var sseConfigElements = []string{"ServerSideEncryptionConfiguration", "Rule", "ApplyServerSideEncryptionByDefault",
	"SSEAlgorithm", "KMSMasterKeyID", "BucketKeyEnabled"}

var sseConfigUnsupported = map[string]string{"BlockedEncryptionTypes": "blocking encryption types"}

// putBucketEncryption sets the bucket's default encryption: one Rule whose SSEAlgorithm is
// AES256 (SSE-S3). aws:kms and aws:kms:dsse are NotImplemented (no KMS), and so is
// BucketKeyEnabled true (an SSE-KMS feature); a node without a master key refuses the
// default it could not apply.
func (h *handler) putBucketEncryption(rq *request) error {
	var cfg sseConfiguration
	if err := readConfigXML(rq, &cfg, sseConfigElements, sseConfigUnsupported); err != nil {
		return err
	}
	if len(cfg.Rules) != 1 {
		return ErrMalformedXML.with("a ServerSideEncryptionConfiguration holds exactly one Rule, not %d", len(cfg.Rules))
	}
	r := cfg.Rules[0]
	switch alg := r.Default.SSEAlgorithm; {
	case alg == "aws:kms", alg == "aws:kms:dsse":
		return ErrSSEKMSNotConfigured
	case alg != sseAES256:
		return ErrMalformedXML.with("SSEAlgorithm must be AES256, not %.20q", alg)
	case r.Default.KMSMasterKeyID != "":
		return ErrInvalidArgument.with("a KMSMasterKeyID applies to aws:kms only")
	case r.BucketKeyEnabled != nil && *r.BucketKeyEnabled:
		return ErrSSEKMSNotConfigured.with("S3 Bucket Keys (BucketKeyEnabled) belong to SSE-KMS, which is not available: no KMS is configured.")
	}
	if err := h.sseS3Usable(); err != nil {
		return err
	}
	if _, err := h.propose(rq, &fsm.PutBucketEncryption{Bucket: rq.bucket, Algorithm: fsm.EncryptionSSES3}); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *handler) getBucketEncryption(rq *request) error {
	if err := h.bucketExists(rq); err != nil {
		return err
	}
	if _, err := h.b.BucketEncryption(rq.bucket); err != nil {
		return err
	}
	out := sseConfiguration{Xmlns: s3Namespace, Rules: make([]sseRule, 1)}
	out.Rules[0].Default.SSEAlgorithm = sseAES256
	off := false
	out.Rules[0].BucketKeyEnabled = &off
	return writeXML(rq, out)
}

func (h *handler) deleteBucketEncryption(rq *request) error {
	if _, err := h.propose(rq, &fsm.PutBucketEncryption{Bucket: rq.bucket}); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}
