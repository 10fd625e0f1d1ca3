package fsm

// Encryption at rest as replicated state: the encryption of each object and upload (what
// the S3 layer needs to decrypt: which kind, which master key, the sealed object key) and a
// bucket's default encryption. The FSM stores these values and checks their shape; it never
// sees a key in the clear and never encrypts anything (see internal/sse and httpapi/s3).

// Encryption algorithms (Encryption.Algorithm, BucketEncryption.Algorithm).
const (
	// EncryptionSSES3: the object key is sealed by a master key of the cluster (KeyID).
	EncryptionSSES3 = "SSE-S3"
	// EncryptionSSEC: the object key is sealed by the customer's key, which is never stored.
	EncryptionSSEC = "SSE-C"
)

// maxSealedKey bounds Encryption.SealedKey (the sse package writes 61 bytes).
const maxSealedKey = 1024

// Encryption is how one object version's bytes, or one multipart upload's parts (and the
// object its completion makes), are encrypted at rest. The zero value is "not encrypted".
// From version 4 of PutObject and of the object record, version 5 of CreateMultipartUpload
// and of the upload record.
type Encryption struct {
	// Algorithm is EncryptionSSES3 or EncryptionSSEC ("" for none).
	Algorithm string
	// KeyID names the master key that sealed the object key (SSE-S3 only).
	KeyID string
	// SealedKey is the object key sealed by that master key or by the customer's key
	// (binary; layout in internal/sse). Opaque to the FSM.
	SealedKey string
}

// Encrypted reports whether the object's bytes are encrypted.
func (e Encryption) Encrypted() bool { return e.Algorithm != "" }

var encryptionCodes = map[string]uint8{EncryptionSSES3: 1, EncryptionSSEC: 2}

// encryption writes u8 algorithm (1 SSE-S3, 2 SSE-C), string key id, string sealed key.
func (e *encoder) encryption(x Encryption) {
	c, ok := encryptionCodes[x.Algorithm]
	if !ok {
		e.fail("encryption algorithm %q", x.Algorithm)
	}
	e.u8(c)
	e.str("key id", x.KeyID)
	e.str("sealed key", x.SealedKey)
}

func (d *decoder) encryption() Encryption {
	c := d.u8("encryption algorithm")
	x := Encryption{KeyID: d.str("key id"), SealedKey: d.str("sealed key")}
	switch c {
	case 1:
		x.Algorithm = EncryptionSSES3
	case 2:
		x.Algorithm = EncryptionSSEC
	default:
		d.fail("encryption algorithm %d", c)
	}
	return x
}

// checkEncryption applies the shape rules of an event's Encryption: a known algorithm, a
// sealed key (at most maxSealedKey bytes), a key id for SSE-S3 and none for SSE-C.
func checkEncryption(x Encryption) *Error {
	switch {
	case !x.Encrypted():
		if x != (Encryption{}) {
			return newErr(CodeInvalidArgument, "encryption fields without an algorithm")
		}
	case encryptionCodes[x.Algorithm] == 0:
		return newErr(CodeInvalidArgument, "unknown encryption algorithm %q", x.Algorithm)
	case x.SealedKey == "" || len(x.SealedKey) > maxSealedKey:
		return newErr(CodeInvalidArgument, "a sealed key of %d bytes", len(x.SealedKey))
	case (x.Algorithm == EncryptionSSES3) != (x.KeyID != ""):
		return newErr(CodeInvalidArgument, "%s with key id %q", x.Algorithm, x.KeyID)
	}
	return nil
}

// Version 4 of PutObject and version 5 of CreateMultipartUpload: the previous body, then the
// encryption (whose previous fields may then all be empty).

func (ev *PutObject) hasExt4() bool         { return ev.Encryption.Encrypted() }
func (ev *PutObject) encodeExt4(e *encoder) { e.encryptionOpt(ev.Encryption) }    // empty in version 5
func (ev *PutObject) decodeExt4(d *decoder) { ev.Encryption = d.encryptionOpt() } // Decode refuses it empty at version 4

func (ev *CreateMultipartUpload) hasExt5() bool         { return ev.Encryption.Encrypted() }
func (ev *CreateMultipartUpload) encodeExt5(e *encoder) { e.encryption(ev.Encryption) }
func (ev *CreateMultipartUpload) decodeExt5(d *decoder) { ev.Encryption = d.encryption() }

// BucketEncryption is a bucket's default encryption: what the S3 layer applies to a new
// object written without encryption headers. Algorithm is EncryptionSSES3 (the only default
// the S3 layer accepts; SSE-C cannot be a default, having no key to apply).
type BucketEncryption struct {
	Bucket    string
	Algorithm string
}

// PutBucketEncryption sets a bucket's default encryption; Algorithm "" removes it
// (DeleteBucketEncryption). Rejections: NoSuchBucket; InvalidArgument for an algorithm other
// than EncryptionSSES3.
type PutBucketEncryption struct {
	Bucket    string
	Algorithm string
}

func (*PutBucketEncryption) Type() EventType { return TypePutBucketEncryption }

// Event body, version 1: string bucket, string algorithm ("" removes).
func (ev *PutBucketEncryption) encodeBody(e *encoder) {
	e.str("bucket", ev.Bucket)
	e.str("algorithm", ev.Algorithm)
}

func (ev *PutBucketEncryption) decodeBody(d *decoder) {
	ev.Bucket = d.str("bucket")
	ev.Algorithm = d.str("algorithm")
}

// The record (prefixEncryption), version 1: string bucket, string algorithm (not empty).
func encryptionKey(bucket string) string { return keyOf(prefixEncryption, bucket) }

func encodeBucketEncryption(r *BucketEncryption) ([]byte, error) {
	e := startRecord()
	e.str("bucket", r.Bucket)
	e.str("algorithm", r.Algorithm)
	return e.b, e.err
}

func decodeBucketEncryption(v []byte) (*BucketEncryption, error) {
	d := openRecord(v)
	r := &BucketEncryption{Bucket: d.str("bucket"), Algorithm: d.str("algorithm")}
	if d.err == nil && r.Algorithm == "" {
		d.fail("bucket encryption record without an algorithm")
	}
	return r, d.finish()
}

func (f *FSM) putBucketEncryption(ev *PutBucketEncryption) *Result {
	b, ok := f.res.bucket(ev.Bucket)
	if !ok {
		return reject(CodeNoSuchBucket, "bucket %q does not exist", ev.Bucket)
	}
	var rec any
	switch ev.Algorithm {
	case "":
	case EncryptionSSES3:
		rec = &BucketEncryption{Bucket: b.Name, Algorithm: ev.Algorithm}
	default:
		return reject(CodeInvalidArgument, "default encryption %q; only %s can be a default", ev.Algorithm, EncryptionSSES3)
	}
	return f.setBucketRecord(b, encryptionKey(b.Name), rec)
}

// BucketEncryption returns a bucket's default encryption: NoSuchBucket, or
// ServerSideEncryptionConfigurationNotFoundError when it has none.
func (f *FSM) BucketEncryption(bucket string) (BucketEncryption, error) {
	rec, _, err := f.readBucketRecord(bucket, encryptionKey(bucket),
		newErr(CodeNoSuchEncryptionConfiguration, "The server side encryption configuration was not found (bucket %q)", bucket))
	if err != nil {
		return BucketEncryption{}, err
	}
	return *rec.(*BucketEncryption), nil
}
