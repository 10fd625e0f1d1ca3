package fsm

import (
	"errors"
	"flag"
	"path/filepath"
	"reflect"
	"testing"
)

var updateGoldenEncryption = flag.Bool("update-encryption", false, "write testdata/golden-records-encryption.snap (a new file only)")

var (
	sseS3 = Encryption{Algorithm: EncryptionSSES3, KeyID: "e15e70230902b5ba", SealedKey: "\x01sealed-by-the-master-key"}
	sseC  = Encryption{Algorithm: EncryptionSSEC, SealedKey: "\x01sealed-by-the-customer-key\x00"}
)

// encryptionEvents returns the events and bodies added with encryption at rest.
func encryptionEvents() []Event {
	return []Event{
		&PutObject{Bucket: "bkt", Key: "k", Size: 5, ETag: md5hex("x"), Blobs: blobs("c1"), ModTime: 1, Encryption: sseS3},
		&PutObject{Bucket: "bkt", Key: "k", Size: 5, ETag: md5hex("x"), Blobs: blobs("c2"), ModTime: 1, Encryption: sseC,
			Retention: Retention{Mode: LockGovernance, RetainUntil: 9}, Tags: []Pair{{"t", "v"}}},
		&CreateMultipartUpload{Bucket: "bkt", Key: "m", UploadID: "u", Initiated: 2, Encryption: sseS3},
		&CreateMultipartUpload{Bucket: "bkt", Key: "m", UploadID: "u", Initiated: 2, Encryption: sseC, LegalHold: LegalHoldOn,
			ChecksumAlgorithm: "CRC32"},
		&PutBucketEncryption{Bucket: "bkt", Algorithm: EncryptionSSES3},
		&PutBucketEncryption{Bucket: "bkt"},
	}
}

// TestEncryptionEventVersions: an encrypted PutObject is version 4 and an encrypted
// CreateMultipartUpload version 5, whatever their other fields; unencrypted ones keep the
// versions they had; a version 4 (5) body without encryption is not canonical.
func TestEncryptionEventVersions(t *testing.T) {
	for _, c := range []struct {
		ev   Event
		want uint8
	}{
		{encryptionEvents()[0], 4}, {encryptionEvents()[1], 4}, {encryptionEvents()[2], 5}, {encryptionEvents()[3], 5},
		{&PutObject{Bucket: "b", Key: "k", LegalHold: LegalHoldOn}, 3},
		{&CreateMultipartUpload{Bucket: "b", Key: "m", LegalHold: LegalHoldOn}, 4},
	} {
		b, err := Encode(c.ev)
		if err != nil || b[1] != c.want {
			t.Fatalf("%s: version %d (%v), want %d", c.ev.Type(), b[1], err, c.want)
		}
	}
	// Version 4 of PutObject with the algorithm byte 0.
	b, _ := Encode(&PutObject{Bucket: "b", Key: "k", LegalHold: LegalHoldOn})
	b[1] = 4
	b = append(b, 0, 0, 0)
	if _, err := Decode(b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("PutObject version 4 without encryption: %v", err)
	}
	if _, err := Encode(&PutObject{Encryption: Encryption{Algorithm: "ROT13"}}); !errors.Is(err, ErrInvalidEvent) {
		t.Fatalf("unknown algorithm encoded: %v", err)
	}
}

// TestEncryptionApply: the encryption of a PutObject is the version's; a completion's object
// takes its upload's; malformed encryption fields are InvalidArgument (and free the blobs).
func TestEncryptionApply(t *testing.T) {
	a := newApplier(t)
	a.must(&CreateBucket{Name: "bkt", Owner: "o", Created: 1}, encryptionEvents()[0])
	if o, err := a.f.Object("bkt", "k"); err != nil || o.Encryption != sseS3 {
		t.Fatalf("object %+v %v", o.Encryption, err)
	}
	a.must(&CreateMultipartUpload{Bucket: "bkt", Key: "m", UploadID: "u", Initiated: 2, Encryption: sseC},
		&PutPart{Bucket: "bkt", Key: "m", UploadID: "u", PartNumber: 1, Size: 3, ETag: md5hex("p"), Blobs: blobs("p1")})
	if u, err := a.f.Upload("bkt", "m", "u"); err != nil || u.Encryption != sseC {
		t.Fatalf("upload %+v %v", u.Encryption, err)
	}
	res := a.apply(&CompleteMultipartUpload{Bucket: "bkt", Key: "m", UploadID: "u", Parts: []CompletedPart{{1, md5hex("p")}}, ModTime: 3})
	if res.Err != nil || res.Object.Encryption != sseC {
		t.Fatalf("completion: %+v %v", res.Object, res.Err)
	}
	if o, _ := a.f.Object("bkt", "m"); o.Encryption != sseC || o.Size != 3 {
		t.Fatalf("completed object %+v", o)
	}
	for _, bad := range []Encryption{
		{Algorithm: EncryptionSSES3, SealedKey: "x"},             // no key id
		{Algorithm: EncryptionSSEC, KeyID: "id", SealedKey: "x"}, // SSE-C names no master key
		{Algorithm: EncryptionSSES3, KeyID: "id"},                // nothing sealed
		{Algorithm: EncryptionSSEC, SealedKey: string(make([]byte, maxSealedKey+1))},
	} {
		res := a.apply(&PutObject{Bucket: "bkt", Key: "bad", Blobs: blobs("bad"), Encryption: bad})
		if !errors.Is(res.Err, &Error{Code: CodeInvalidArgument}) || !reflect.DeepEqual(res.FreedBlobs, []string{"bad"}) {
			t.Fatalf("encryption %+v: %v, freed %v", bad, res.Err, res.FreedBlobs)
		}
		if res := a.apply(&CreateMultipartUpload{Bucket: "bkt", Key: "bad", UploadID: "v", Encryption: bad}); !errors.Is(res.Err, &Error{Code: CodeInvalidArgument}) {
			t.Fatalf("upload encryption %+v: %v", bad, res.Err)
		}
	}
}

// TestBucketEncryption: set, read, replace, remove; NoSuchBucket; only SSE-S3 is a default;
// DeleteBucket removes it.
func TestBucketEncryption(t *testing.T) {
	a := newApplier(t)
	notFound := &Error{Code: CodeNoSuchEncryptionConfiguration}
	if res := a.apply(&PutBucketEncryption{Bucket: "nope", Algorithm: EncryptionSSES3}); !errors.Is(res.Err, &Error{Code: CodeNoSuchBucket}) {
		t.Fatalf("missing bucket: %v", res.Err)
	}
	a.must(&CreateBucket{Name: "bkt", Owner: "o", Created: 1})
	if _, err := a.f.BucketEncryption("bkt"); !errors.Is(err, notFound) {
		t.Fatalf("no configuration: %v", err)
	}
	if res := a.apply(&PutBucketEncryption{Bucket: "bkt", Algorithm: EncryptionSSEC}); !errors.Is(res.Err, &Error{Code: CodeInvalidArgument}) {
		t.Fatalf("SSE-C default: %v", res.Err)
	}
	a.must(&PutBucketEncryption{Bucket: "bkt", Algorithm: EncryptionSSES3})
	if got, err := a.f.BucketEncryption("bkt"); err != nil || got != (BucketEncryption{Bucket: "bkt", Algorithm: EncryptionSSES3}) {
		t.Fatalf("read back %+v %v", got, err)
	}
	a.must(&PutBucketEncryption{Bucket: "bkt"})
	if _, err := a.f.BucketEncryption("bkt"); !errors.Is(err, notFound) {
		t.Fatalf("after removal: %v", err)
	}
	a.must(&PutBucketEncryption{Bucket: "bkt", Algorithm: EncryptionSSES3}, &DeleteBucket{Name: "bkt"})
	if n := countKind(t, a.f, prefixEncryption); n != 0 {
		t.Fatalf("%d encryption records after DeleteBucket", n)
	}
	if _, err := a.f.BucketEncryption("bkt"); !errors.Is(err, &Error{Code: CodeNoSuchBucket}) {
		t.Fatalf("deleted bucket: %v", err)
	}
}

// goldenEncryptionState applies a history touching every record encoding added with
// encryption at rest.
func goldenEncryptionState(t *testing.T) *applier {
	a := newApplier(t)
	a.must(&CreateBucket{Name: "enc", Owner: "alice", Created: 1},
		&PutBucketEncryption{Bucket: "enc", Algorithm: EncryptionSSES3},
		&PutObject{Bucket: "enc", Key: "s3", Size: 3, ETag: md5hex("s3"), Blobs: blobs("c-s3"), ModTime: 2, Encryption: sseS3},
		&PutObject{Bucket: "enc", Key: "c", Size: 3, ETag: md5hex("c"), Blobs: blobs("c-c"), ModTime: 3, Encryption: sseC},
		&CreateMultipartUpload{Bucket: "enc", Key: "up", UploadID: "u1", Initiated: 4, Encryption: sseC},
		&CreateBucket{Name: "vault", Owner: "bob", Created: 5, ObjectLock: true},
		&PutObject{Bucket: "vault", Key: "k", Size: 1, ETag: md5hex("k"), Blobs: blobs("c-k"), ModTime: 6, VersionID: NewVersionID(6, 1),
			LegalHold: LegalHoldOn, Encryption: sseS3},
		&CreateMultipartUpload{Bucket: "vault", Key: "m", UploadID: "u2", Initiated: 7, LegalHold: LegalHoldOn, Encryption: sseS3})
	return a
}

// TestGoldenSnapshotEncryption pins the records of encryption at rest: object version 4 (with
// and without lock fields), upload version 5, the bucket's default encryption.
func TestGoldenSnapshotEncryption(t *testing.T) {
	g := checkGolden(t, filepath.Join("testdata", "golden-records-encryption.snap"), goldenEncryptionState(t), *updateGoldenEncryption, "-update-encryption")
	if countKind(t, g, prefixEncryption) != 1 {
		t.Fatal("the golden state has no bucket encryption record")
	}
	for _, c := range []struct {
		bucket, key string
		want        Encryption
	}{{"enc", "s3", sseS3}, {"enc", "c", sseC}, {"vault", "k", sseS3}} {
		if o, err := g.Object(c.bucket, c.key); err != nil || o.Encryption != c.want {
			t.Fatalf("%s/%s: %+v %v", c.bucket, c.key, o.Encryption, err)
		}
	}
	if u, err := g.Upload("vault", "m", "u2"); err != nil || u.Encryption != sseS3 || u.LegalHold != LegalHoldOn {
		t.Fatalf("upload %+v %v", u, err)
	}
}

// TestEncryptionRecordVersions: version 4 object and version 5 upload records are written for
// encrypted records only, their earlier fields may be empty, and the next versions are unknown.
func TestEncryptionRecordVersions(t *testing.T) {
	o, err := encodeObjectRec(&objectRec{ObjectInfo: ObjectInfo{Bucket: "b", Key: "k", VersionID: NullVersionID, Encryption: sseC}})
	if err != nil || o[0] != 4 {
		t.Fatalf("encrypted object record: version %d, %v", o[0], err)
	}
	if got, err := decodeObjectRec(o, false); err != nil || got.Encryption != sseC || got.Retention != (Retention{}) {
		t.Fatalf("decoded %+v %v", got, err)
	}
	o[0] = 6 // version 5 came with inline blobs (inline_test.go)
	if _, err := decodeObjectRec(o, false); !errors.Is(err, ErrUnknownVersion) {
		t.Fatalf("object record version 6: %v", err)
	}
	u, err := encodeUpload(&UploadInfo{Bucket: "b", Key: "k", UploadID: "u", Encryption: sseS3})
	if err != nil || u[0] != 5 {
		t.Fatalf("encrypted upload record: version %d, %v", u[0], err)
	}
	if got, err := decodeUpload(u); err != nil || got.Encryption != sseS3 {
		t.Fatalf("decoded %+v %v", got, err)
	}
	u[0] = 6
	if _, err := decodeUpload(u); !errors.Is(err, ErrUnknownVersion) {
		t.Fatalf("upload record version 6: %v", err)
	}
	// A version 3 object record (lock) still refuses empty lock fields.
	plain, _ := encodeObjectRec(&objectRec{ObjectInfo: ObjectInfo{Bucket: "b", Key: "k", VersionID: NullVersionID}})
	v3 := append(append([]byte{3}, plain[1:]...), make([]byte, 1+objExtLen(t)+10)...)
	if _, err := decodeObjectRec(v3, false); err == nil {
		t.Fatal("a version 3 object record with empty lock fields decoded")
	}
}

// objExtLen is the length of the version 2 fields of a plain null version record.
func objExtLen(t *testing.T) int {
	e := &encoder{}
	objectExt(e, &objectRec{ObjectInfo: ObjectInfo{VersionID: NullVersionID}})
	if e.err != nil {
		t.Fatal(e.err)
	}
	return len(e.b) - 1
}

// TestResultCodecVersion5: results with an encrypted object or upload use 0xB5, which 0xB4
// cannot read; others keep their layout.
func TestResultCodecVersion5(t *testing.T) {
	var c ResultCodec
	for _, r := range []*Result{
		{Object: &ObjectInfo{Bucket: "b", Key: "k", Size: 3, VersionID: NullVersionID, Blobs: []Blob{{ID: "x", Size: 19}}, Encryption: sseS3}},
		{Object: &ObjectInfo{Bucket: "b", Key: "k", VersionID: NewVersionID(1, 2), LegalHold: LegalHoldOn, Encryption: sseC},
			Upload: &UploadInfo{Bucket: "b", Key: "k", UploadID: "u", Encryption: sseC}},
		{Upload: &UploadInfo{Bucket: "b", Key: "k", UploadID: "u", Encryption: sseS3}},
	} {
		b := checkResultLayout(t, r, resultMagicV5)
		b[0] = resultMagicV4
		if _, err := c.DecodeResult(b); err == nil {
			t.Fatalf("an encrypted record under 0xB4 decoded")
		}
	}
	checkResultLayout(t, &Result{Object: &ObjectInfo{Bucket: "b", Key: "k", VersionID: NullVersionID, LegalHold: LegalHoldOn}}, resultMagicV4)
}
