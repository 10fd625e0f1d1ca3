package fuzz

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/nebulaio/nebulaio/fsm"
)

var evUpdateCorpus = flag.Bool("update-event-corpus", false, "rewrite testdata/fuzz/FuzzEventDecode from evSeeds")

// evSeeds is one event of every type, with every list and string field populated.
func evSeeds() []fsm.Event {
	meta := fsm.ObjectMeta{ContentType: "text/plain", ContentEncoding: "gzip", ContentDisposition: "inline",
		CacheControl: "max-age=60", UserMetadata: []fsm.Pair{{Key: "color", Value: "blue"}, {Key: "x", Value: ""}}}
	blobs := []fsm.Blob{{ID: "b1", Size: 1 << 20, Nodes: []string{"node-1", "node-2"}}, {ID: "b2"}}
	meta2 := meta
	meta2.ContentLanguage, meta2.Expires = "en", "Thu, 01 Dec 1994 16:00:00 GMT"
	vid := fsm.NewVersionID(1764090000000000000, 0x0123456789abcdef)
	return []fsm.Event{
		&fsm.CreateBucket{Name: "photos", Owner: "alice", Created: 1764090000000000000},
		&fsm.DeleteBucket{Name: "photos"},
		&fsm.PutObject{Bucket: "photos", Key: "2026/cat\x00.jpg", Size: 1 << 20, ETag: "d41d8cd98f00b204e9800998ecf8427e",
			Meta: meta, Checksums: []fsm.Pair{{Key: "CRC32C", Value: "AAAAAA=="}}, Blobs: blobs, ModTime: -1, VersionID: "v1"},
		&fsm.DeleteObject{Bucket: "photos", Key: "k"},
		&fsm.DeleteObjects{Bucket: "photos", Keys: []string{"a", "b", ""}},
		&fsm.CreateMultipartUpload{Bucket: "photos", Key: "big", UploadID: "upload-1", Initiated: 7, Meta: meta},
		&fsm.PutPart{Bucket: "photos", Key: "big", UploadID: "upload-1", PartNumber: 10000, Size: 5 << 20,
			ETag: "d41d8cd98f00b204e9800998ecf8427e", Blobs: blobs, ModTime: 8},
		&fsm.CompleteMultipartUpload{Bucket: "photos", Key: "big", UploadID: "upload-1",
			Parts: []fsm.CompletedPart{{PartNumber: 1, ETag: `"aa"`}, {PartNumber: 2, ETag: "bb"}}, MinPartSize: 5 << 20,
			ETag: "cc-2", ModTime: 9, VersionID: "v2"},
		&fsm.AbortMultipartUpload{Bucket: "photos", Key: "big", UploadID: "upload-1"},
		&fsm.RegisterNode{Node: fsm.NodeInfo{ID: "node-1", Role: "hybrid",
			Addresses: []fsm.Pair{{Key: "raft", Value: "10.0.1.10:9003"}, {Key: "s3", Value: "10.0.1.10:9000"}}}},
		&fsm.RetireNode{ID: "node-1"},
		&fsm.SetSetting{Key: "gc.grace", Value: "24h"},
		&fsm.PutObject{}, // all fields empty
		// Added with versions and tags: the new types, and version 2 bodies.
		&fsm.SetBucketVersioning{Bucket: "photos", Status: fsm.VersioningEnabled},
		&fsm.PutObjectTagging{Bucket: "photos", Key: "k", VersionID: vid, Tags: []fsm.Pair{{Key: "a", Value: "1"}, {Key: "b", Value: ""}}},
		&fsm.PutBucketTagging{Bucket: "photos", Tags: []fsm.Pair{{Key: "env", Value: "prod"}}},
		&fsm.PutObject{Bucket: "photos", Key: "k", Size: 3, ETag: "d41d8cd98f00b204e9800998ecf8427e", Meta: meta2, Blobs: blobs,
			ModTime: 9, VersionID: vid, Tags: []fsm.Pair{{Key: "t", Value: "v"}}, IfMatch: `"aa", "bb"`, IfNoneMatch: "*"},
		&fsm.DeleteObject{Bucket: "photos", Key: "k", VersionID: "null", MarkerVersionID: vid, ModTime: 10},
		&fsm.DeleteObjects{Bucket: "photos", Keys: []string{"a", "b"}, VersionIDs: []string{"", vid}, MarkerVersionID: vid, ModTime: 11},
		&fsm.CreateMultipartUpload{Bucket: "photos", Key: "big", UploadID: "upload-2", Initiated: 12, Meta: meta2,
			Tags: []fsm.Pair{{Key: "t", Value: "v"}}},
		&fsm.CompleteMultipartUpload{Bucket: "photos", Key: "big", UploadID: "upload-2",
			Parts: []fsm.CompletedPart{{PartNumber: 1, ETag: "aa"}}, ModTime: 13, VersionID: vid, IfMatch: "*"},
		// Added with client interop: CreateBucket's version 2, version 3 bodies (one of them
		// with its version 2 fields empty).
		&fsm.CreateBucket{Name: "photos", Owner: "alice", Created: 14, Region: "eu-central-1"},
		&fsm.CreateMultipartUpload{Bucket: "photos", Key: "big", UploadID: "upload-3", Initiated: 15, Meta: meta2,
			Tags: []fsm.Pair{{Key: "t", Value: "v"}}, ChecksumAlgorithm: "CRC64NVME", ChecksumType: "FULL_OBJECT"},
		&fsm.CreateMultipartUpload{Bucket: "photos", Key: "big", UploadID: "upload-4", Initiated: 16, Meta: meta,
			ChecksumAlgorithm: "SHA256"},
		&fsm.CompleteMultipartUpload{Bucket: "photos", Key: "big", UploadID: "upload-3",
			Parts: []fsm.CompletedPart{{PartNumber: 1, ETag: "aa"}}, ModTime: 17, VersionID: vid, IfNoneMatch: "*",
			Checksums: []fsm.Pair{{Key: "CRC64NVME", Value: "AAAAAAAAAAA="}}},
		&fsm.CompleteMultipartUpload{Bucket: "photos", Key: "big", UploadID: "upload-4",
			Parts: []fsm.CompletedPart{{PartNumber: 1, ETag: "aa"}}, ModTime: 18,
			Checksums: []fsm.Pair{{Key: "SHA256", Value: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=-1"}}},
		// Added with object lock, lifecycle rules and CORS: the new types, and the bodies that
		// carry lock settings (CreateBucket, PutObject, DeleteObject(s) version 3,
		// CreateMultipartUpload version 4).
		&fsm.CreateBucket{Name: "vault", Owner: "alice", Created: 19, ObjectLock: true},
		&fsm.PutObject{Bucket: "vault", Key: "wal/1", Size: 1, ETag: "e", ModTime: 20, VersionID: vid,
			Retention: fsm.Retention{Mode: fsm.LockCompliance, RetainUntil: 21}, LegalHold: fsm.LegalHoldOn},
		&fsm.DeleteObject{Bucket: "vault", Key: "wal/1", VersionID: vid, ModTime: 22, BypassGovernance: true},
		&fsm.DeleteObjects{Bucket: "vault", Keys: []string{"wal/1"}, VersionIDs: []string{vid}, ModTime: 23, BypassGovernance: true},
		&fsm.CreateMultipartUpload{Bucket: "vault", Key: "big", UploadID: "upload-5", Initiated: 24,
			Retention: fsm.Retention{Mode: fsm.LockGovernance, RetainUntil: 25}},
		&fsm.PutObjectLockConfiguration{Bucket: "vault", DefaultRetention: fsm.DefaultRetention{Mode: fsm.LockGovernance, Days: 7}},
		&fsm.PutObjectRetention{Bucket: "vault", Key: "wal/1", VersionID: vid, Retention: fsm.Retention{Mode: fsm.LockCompliance, RetainUntil: 26},
			BypassGovernance: true, Now: 25},
		&fsm.PutObjectLegalHold{Bucket: "vault", Key: "wal/1", VersionID: vid, Status: fsm.LegalHoldOff},
		&fsm.PutBucketLifecycle{Bucket: "vault", Rules: []fsm.LifecycleRule{
			{ID: "wal", Enabled: true, Filter: fsm.LifecycleFilter{Form: fsm.FilterAnd, Prefix: "wal/", Tags: []fsm.Pair{{Key: "k", Value: "v"}},
				HasSizeGreaterThan: true, SizeGreaterThan: 1, HasSizeLessThan: true, SizeLessThan: 1 << 30},
				ExpirationDays: 30, NoncurrentDays: 1, NewerNoncurrentVersions: 2},
			{ID: "markers", Filter: fsm.LifecycleFilter{Form: fsm.FilterPrefixLegacy, Prefix: "x"}, ExpiredObjectDeleteMarker: true, AbortDays: 3},
			{ID: "date", Enabled: true, Filter: fsm.LifecycleFilter{Form: fsm.FilterSingle}, ExpirationDate: 1767225600000000000},
		}},
		&fsm.PutBucketCors{Bucket: "vault", Rules: []fsm.CORSRule{{ID: "web", AllowedOrigins: []string{"https://*.example.com"},
			AllowedMethods: []string{"GET", "POST"}, AllowedHeaders: []string{"*"}, ExposeHeaders: []string{"ETag"}, MaxAgeSeconds: 600},
			{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}, MaxAgeSeconds: -1}}},
		&fsm.LifecycleExpire{Bucket: "vault", Now: 27, Day: 86400000000000, MarkerVersionID: vid, Targets: []fsm.ExpireTarget{
			{Action: fsm.ExpireCurrent, Key: "wal/1", VersionID: vid, RuleID: "wal"},
			{Action: fsm.ExpireUpload, Key: "big", VersionID: "upload-5", RuleID: "markers"}}},
		// Added with encryption at rest: PutObject version 4 (one with its version 3 fields
		// empty), CreateMultipartUpload version 5, PutBucketEncryption.
		&fsm.PutObject{Bucket: "vault", Key: "secret", Size: 3, ETag: "e", Blobs: blobs, ModTime: 28,
			Encryption: fsm.Encryption{Algorithm: fsm.EncryptionSSES3, KeyID: "e15e70230902b5ba", SealedKey: "\x01sealed"}},
		&fsm.PutObject{Bucket: "vault", Key: "secret", Size: 3, ETag: "e", ModTime: 29, LegalHold: fsm.LegalHoldOn,
			Encryption: fsm.Encryption{Algorithm: fsm.EncryptionSSEC, SealedKey: "\x01sealed\x00"}},
		&fsm.CreateMultipartUpload{Bucket: "vault", Key: "big", UploadID: "upload-6", Initiated: 30, Meta: meta2,
			Encryption: fsm.Encryption{Algorithm: fsm.EncryptionSSEC, SealedKey: "\x01k"}},
		&fsm.PutBucketEncryption{Bucket: "vault", Algorithm: fsm.EncryptionSSES3},
		// Added with safe membership (issue 16): the operator's decisions about members.
		&fsm.MemberChange{ID: "node-3", Op: fsm.MemberRemove, At: 1764090000000000000},
		&fsm.MemberChange{ID: "node-\x00", Op: fsm.MemberDrained, At: -1},
		// Added with inline blobs: PutObject version 5 (one with its version 2 to 4 fields
		// empty, one encrypted with a stored blob beside), PutPart version 2.
		&fsm.PutObject{Bucket: "photos", Key: "tiny", Size: 5, ETag: "e", ModTime: 31,
			Blobs: []fsm.Blob{{ID: "i1", Size: 5, Inline: true, Data: []byte("hello")}}},
		&fsm.PutObject{Bucket: "vault", Key: "tiny", Size: 3, ETag: "e", ModTime: 32, VersionID: vid,
			Blobs:      []fsm.Blob{blobs[0], {ID: "i2", Inline: true, Data: []byte{}}, {ID: "i3", Size: 2, Inline: true, Data: []byte{0, 0xff}}},
			Encryption: fsm.Encryption{Algorithm: fsm.EncryptionSSEC, SealedKey: "\x01k"}},
		&fsm.PutPart{Bucket: "photos", Key: "big", UploadID: "upload-1", PartNumber: 3, Size: 4, ETag: "e", ModTime: 33,
			Blobs: []fsm.Blob{{ID: "i4", Size: 4, Inline: true, Data: []byte("part")}}},
	}
}

// FuzzEventDecode checks that Decode never panics, that every error is one of the codec's
// sentinels, and that whatever decodes re-encodes to the same bytes.
func FuzzEventDecode(f *testing.F) {
	for _, ev := range evSeeds() {
		b, err := fsm.Encode(ev)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := fsm.Decode(data)
		if err != nil {
			if !errors.Is(err, fsm.ErrTruncated) && !errors.Is(err, fsm.ErrCorrupt) &&
				!errors.Is(err, fsm.ErrUnknownType) && !errors.Is(err, fsm.ErrUnknownVersion) {
				t.Fatalf("Decode error is no sentinel: %v", err)
			}
			if ev != nil {
				t.Fatalf("Decode returned an event with an error")
			}
			return
		}
		again, err := fsm.Encode(ev)
		if err != nil {
			t.Fatalf("decoded %#v does not re-encode: %v", ev, err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("re-encoding differs:\n in % x\nout % x", data, again)
		}
	})
}

// TestEventCorpus keeps the committed seed corpus in step with evSeeds: run with
// -update-event-corpus to rewrite it.
func TestEventCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzEventDecode")
	for i, ev := range evSeeds() {
		b, err := fsm.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, fmt.Sprintf("seed-%02d-%s", i, ev.Type()))
		want := "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
		if *evUpdateCorpus {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("%s is missing or stale (err %v); run go test -run TestEventCorpus -update-event-corpus", path, err)
		}
	}
}
