package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/md5" //nolint:gosec // S3 ETags are MD5
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/klauspost/compress/gzip"

	"github.com/nebulaio/nebulaio/dataplane/blob"
	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/snapshot"
)

// state is an FSM with buckets, objects (one versioned key with three versions, a delete
// marker), an open upload with parts and the cluster ID setting, and the bytes of each blob.
type state struct {
	f     *fsm.FSM
	blobs map[string][]byte
	index uint64
}

func (s *state) apply(t *testing.T, evs ...fsm.Event) {
	t.Helper()
	for _, ev := range evs {
		b, err := fsm.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		s.index++
		res, _ := s.f.Apply(&raft.Log{Index: s.index, Term: 1, Type: raft.LogCommand, Data: b}).(*fsm.Result)
		if res == nil || res.Err != nil {
			t.Fatalf("apply %T: %+v", ev, res)
		}
	}
}

// blobOf makes a blob of n bytes and returns its reference and its ETag.
func (s *state) blobOf(id string, n int) (fsm.Blob, string) {
	data := bytes.Repeat([]byte(id), n/len(id)+1)[:n]
	s.blobs[id] = data
	sum := md5.Sum(data) //nolint:gosec
	return fsm.Blob{ID: id, Size: uint64(n), Nodes: []string{"n1", "n2"}}, hex.EncodeToString(sum[:])
}

func newState(t *testing.T, objects int) *state {
	s := &state{f: fsm.New(fsm.Options{}), blobs: map[string][]byte{}}
	s.apply(t, &fsm.CreateBucket{Name: "photos", Owner: "o", Created: 1}, &fsm.CreateBucket{Name: "docs", Owner: "o", Created: 2},
		&fsm.SetBucketVersioning{Bucket: "docs", Status: fsm.VersioningEnabled}, &fsm.SetSetting{Key: SettingClusterID, Value: "cluster-A"})
	for i := 0; i < objects; i++ {
		b, etag := s.blobOf(fmt.Sprintf("obj%04d", i), 10+i%50)
		s.apply(t, &fsm.PutObject{Bucket: "photos", Key: fmt.Sprintf("k%04d", i), Size: b.Size, ETag: etag, Blobs: []fsm.Blob{b}, ModTime: int64(i)})
	}
	for v := int64(1); v <= 3; v++ {
		b, etag := s.blobOf(fmt.Sprintf("ver%d", v), 100)
		s.apply(t, &fsm.PutObject{Bucket: "docs", Key: "report", Size: b.Size, ETag: etag, Blobs: []fsm.Blob{b}, ModTime: v, VersionID: fsm.NewVersionID(v, 7)})
	}
	s.apply(t, &fsm.DeleteObject{Bucket: "docs", Key: "old", MarkerVersionID: fsm.NewVersionID(10, 1), ModTime: 10})
	s.apply(t, &fsm.CreateMultipartUpload{Bucket: "photos", Key: "big", UploadID: "up1", Initiated: 5})
	for p := uint32(1); p <= 2; p++ {
		b, etag := s.blobOf(fmt.Sprintf("part%d", p), 64)
		s.apply(t, &fsm.PutPart{Bucket: "photos", Key: "big", UploadID: "up1", PartNumber: p, Size: b.Size, ETag: etag, Blobs: []fsm.Blob{b}})
	}
	return s
}

// stream persists the state in a snapshot store and opens it, as a node's backup does.
func (s *state) stream(t *testing.T) (*raft.SnapshotMeta, io.ReadCloser) {
	t.Helper()
	store, err := snapshot.NewStore(t.TempDir(), snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	snap, err := s.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	sink, err := store.Create(raft.SnapshotVersionMax, s.index+2, 3, raft.Configuration{}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	meta, rc, err := store.Open(sink.ID())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	return meta, rc
}

// makeBackup writes a backup of s into a file and returns its path and manifest.
func makeBackup(t *testing.T, s *state) (string, Manifest) {
	t.Helper()
	meta, rc := s.stream(t)
	path := filepath.Join(t.TempDir(), "b.tar.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := Write(f, rc, Info{NodeID: "n1", Version: "test", Created: time.Unix(1700000000, 0), Index: meta.Index, Term: meta.Term,
		Servers: []Server{{ID: "n1", Address: "a:1", Voter: true}}}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return path, m
}

// TestWriteVerifyOpen: a backup of a state with every kind of record verifies, its manifest
// counts what the state holds, its blob manifest lists every referenced blob with the
// record that references it (and the MD5 where the ETag is one), and its metadata, rewritten
// without the cluster ID, restores an FSM equal to the original but for that setting.
func TestWriteVerifyOpen(t *testing.T) {
	s := newState(t, 20)
	path, m := makeBackup(t, s)
	want := Counts{Buckets: 2, Objects: 21, Versions: 24, DeleteMarkers: 1, Uploads: 1, Parts: 2, Blobs: 25, BlobBytes: 0, Records: 0}
	for _, b := range s.blobs {
		want.BlobBytes += uint64(len(b))
	}
	want.Records = 1 + 2 + 24 + 1 + 2 + 1 // meta, buckets, versions, upload, parts, setting
	if m.Counts != want {
		t.Fatalf("counts %+v, want %+v", m.Counts, want)
	}
	if m.ClusterID != "cluster-A" || m.Index != s.index+2 || m.Term != 3 || m.AppliedIndex != s.index || m.NodeID != "n1" {
		t.Fatalf("manifest %+v", m)
	}
	got, err := VerifyFile(path, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gj, _ := json.Marshal(got)
	mj, _ := json.Marshal(m)
	if string(gj) != string(mj) {
		t.Fatalf("Verify's manifest\n%s\ndiffers from Write's\n%s", gj, mj)
	}

	a, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]BlobEntry{}
	if err := a.Blobs(func(e BlobEntry) error { seen[e.ID] = e; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(s.blobs) {
		t.Fatalf("blob manifest lists %d blobs, the state references %d", len(seen), len(s.blobs))
	}
	for id, data := range s.blobs {
		e := seen[id]
		sum := md5.Sum(data) //nolint:gosec
		if e.Size != uint64(len(data)) || e.MD5 != hex.EncodeToString(sum[:]) || len(e.Nodes) != 2 {
			t.Fatalf("entry %+v for blob %s of %d bytes", e, id, len(data))
		}
	}
	if e := seen["part2"]; e.Bucket != "photos" || e.Key != "big" || e.UploadID != "up1" || e.Part != 2 {
		t.Fatalf("part entry %+v", e)
	}
	if e := seen["ver1"]; e.Key != "report" || e.VersionID != fsm.NewVersionID(1, 7) {
		t.Fatalf("version entry %+v", e)
	}

	restored := fsm.New(fsm.Options{})
	err = a.Metadata(func(r io.Reader) error {
		pr, pw := io.Pipe()
		go func() {
			pw.CloseWithError(Rewrite(pw, r, func(rec *fsm.StreamRecord) bool {
				return rec.Kind == fsm.RecordSetting && rec.Setting.Key == SettingClusterID
			}))
		}()
		return restored.Restore(pr)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := restored.Setting(SettingClusterID); ok {
		t.Fatal("the cluster ID survived the rewrite")
	}
	a1, b1 := s.f.Digest(context.Background())
	a2, b2 := restored.Digest(context.Background())
	if b1 != nil || b2 != nil || a2.Records != a1.Records-1 || a2.Applied != a1.Applied {
		t.Fatalf("restored state: %+v (%v), original %+v (%v)", a2, b2, a1, b1)
	}
	for i := 0; i < 20; i++ {
		o, err := restored.Object("photos", fmt.Sprintf("k%04d", i))
		if err != nil || o.Blobs[0].ID != fmt.Sprintf("obj%04d", i) {
			t.Fatalf("object %d after restore: %+v, %v", i, o, err)
		}
	}
}

// files unpacks an archive into its files, in order.
type file struct {
	name string
	data []byte
}

func unpack(t *testing.T, path string) []file {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	gz, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var out []file
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, file{h.Name, b})
	}
}

// pack writes files as an archive; with fix, the manifest's file sums and SHA256SUMS are
// recomputed so that only the deeper cross-checks can catch what was changed.
func pack(t *testing.T, files []file, fix bool) []byte {
	t.Helper()
	if fix {
		idx := map[string]int{}
		for i, f := range files {
			idx[f.name] = i
		}
		if i, ok := idx[FileManifest]; ok {
			var m Manifest
			if err := json.Unmarshal(files[i].data, &m); err != nil {
				t.Fatal(err)
			}
			for j := range m.Files {
				if k, ok := idx[m.Files[j].Name]; ok {
					m.Files[j].Size, m.Files[j].SHA256 = int64(len(files[k].data)), sha256Hex(files[k].data)
				}
			}
			files[i].data, _ = json.Marshal(m)
		}
		if i, ok := idx[FileSums]; ok {
			var b strings.Builder
			for _, f := range files {
				if f.name != FileSums {
					fmt.Fprintf(&b, "%s  %s\n", sha256Hex(f.data), f.name)
				}
			}
			files[i].data = []byte(b.String())
		}
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Size: int64(len(f.data)), Mode: 0o600}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestVerifyRefusesDamage: each way a backup can be damaged or tampered with, with the
// checksums recomputed where that hides the change from them, is refused with ErrCorrupt or
// ErrFormat, naming what is wrong.
func TestVerifyRefusesDamage(t *testing.T) {
	s := newState(t, 5)
	path, _ := makeBackup(t, s)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	orig := unpack(t, path)
	edit := func(name string, f func([]byte) []byte) []file {
		out := make([]file, len(orig))
		for i, fl := range orig {
			out[i] = file{fl.name, bytes.Clone(fl.data)}
			if fl.name == name {
				out[i].data = f(out[i].data)
			}
		}
		return out
	}
	setManifest := func(f func(*Manifest)) []file {
		return edit(FileManifest, func(b []byte) []byte {
			var m Manifest
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			f(&m)
			out, _ := json.Marshal(m)
			return out
		})
	}
	flippedGzip := bytes.Clone(raw)
	flippedGzip[len(flippedGzip)/2] ^= 0x10
	dropLine := func(b []byte) []byte { i := bytes.IndexByte(b, '\n'); return b[i+1:] }
	for _, tc := range []struct {
		name    string
		archive []byte
		want    error
		says    string
	}{
		{"not gzip", []byte("hello"), ErrFormat, "gzip"},
		{"truncated", raw[:len(raw)-20], ErrCorrupt, ""},
		{"flipped byte in the compressed data", flippedGzip, nil, ""},
		{"metadata byte flipped, sums recomputed", pack(t, edit(FileMetadata, func(b []byte) []byte { b[len(b)/2] ^= 1; return b }), true), ErrCorrupt, FileMetadata},
		{"metadata byte flipped", pack(t, edit(FileMetadata, func(b []byte) []byte { b[len(b)/2] ^= 1; return b }), false), ErrCorrupt, FileMetadata},
		{"a blob left out of the blob manifest, sums recomputed", pack(t, edit(FileBlobs, dropLine), true), ErrCorrupt, "blobs"},
		{"blob manifest line edited", pack(t, edit(FileBlobs, func(b []byte) []byte { return bytes.Replace(b, []byte(`"size":10`), []byte(`"size":11`), 1) }), false), ErrCorrupt, FileBlobs},
		{"counts changed, sums recomputed", pack(t, setManifest(func(m *Manifest) { m.Counts.Objects++ }), true), ErrCorrupt, "manifest says"},
		{"cluster ID changed, sums recomputed", pack(t, setManifest(func(m *Manifest) { m.ClusterID = "other" }), true), ErrCorrupt, "cluster ID"},
		{"manifest edited", pack(t, setManifest(func(m *Manifest) { m.Index++ }), false), ErrCorrupt, FileManifest},
		{"newer format", pack(t, setManifest(func(m *Manifest) { m.Format = 2 }), true), ErrFormat, "format 2"},
		{"unknown manifest field", pack(t, edit(FileManifest, func(b []byte) []byte { return append([]byte(`{"extra":1,`), b[1:]...) }), false), ErrFormat, "extra"},
		{"files out of order", pack(t, []file{orig[0], orig[2], orig[1], orig[3]}, false), ErrFormat, FileMetadata},
		{"a file too many", pack(t, append(edit("", nil), file{"evil.sh", []byte("x")}), false), ErrFormat, "evil.sh"},
		{"sums missing", pack(t, orig[:3], false), ErrCorrupt, FileSums},
		{"a sum wrong", pack(t, edit(FileSums, func(b []byte) []byte { b[0] ^= 1; return b }), false), ErrCorrupt, FileSums},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(bytes.NewReader(tc.archive), VerifyOptions{})
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("Verify: %v; want %v mentioning %q", err, tc.want, tc.says)
			}
		})
	}
}

// TestCheckBlobs: a blob directory checked against a backup's blob manifest: every blob
// present and intact passes; a missing blob, one of another size, one whose MD5 is not the
// ETag's and (deep only) one whose data rotted are reported with the record that references
// them.
func TestCheckBlobs(t *testing.T) {
	s := newState(t, 5)
	path, m := makeBackup(t, s)
	a, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	store, err := blob.Open(dir, blob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for id, data := range s.blobs {
		switch id {
		case "obj0001": // missing
			continue
		case "obj0002": // another size
			data = append(bytes.Clone(data), 'x')
		case "ver2": // same size, other bytes
			data = bytes.Repeat([]byte("z"), len(data))
		}
		if _, err := store.Put(context.Background(), id, bytes.NewReader(data), blob.Expect{Size: blob.AnySize}); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	v, err := blob.NewVerifier(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	check := func(deep bool) (CheckReport, map[string]error) {
		rep, err := CheckBlobs(a, v, CheckOptions{Deep: deep})
		if err != nil {
			t.Fatal(err)
		}
		probs := map[string]error{}
		for _, p := range rep.Problems {
			probs[p.Entry.ID] = p.Err
		}
		return rep, probs
	}
	rep, probs := check(false)
	if rep.Checked != m.Counts.Blobs || rep.Missing != 1 || rep.Damaged != 2 || len(probs) != 3 ||
		!errors.Is(probs["obj0001"], blob.ErrNotFound) || !errors.Is(probs["obj0002"], ErrBlobSize) || !errors.Is(probs["ver2"], ErrBlobMD5) {
		t.Fatalf("report %+v", rep)
	}
	if s := rep.Problems[0].String(); !strings.Contains(s, "photos/k0001") {
		t.Fatalf("problem %q does not name the object", s)
	}

	// Rot one blob's data behind its header: only a deep check reads it.
	p := filepath.Join(dir, "blobs")
	var rotten string
	if err := filepath.Walk(p, func(path string, fi os.FileInfo, err error) error {
		if err == nil && fi.Name() == "obj0003" {
			rotten = path
		}
		return err
	}); err != nil || rotten == "" {
		t.Fatalf("blob file of obj0003 not found: %v", err)
	}
	b, _ := os.ReadFile(rotten)
	b[len(b)-6] ^= 1
	if err := os.WriteFile(rotten, b, 0o640); err != nil {
		t.Fatal(err)
	}
	if rep, _ := check(false); rep.Damaged != 2 {
		t.Fatalf("a shallow check read the data: %+v", rep)
	}
	if rep, probs := check(true); rep.Damaged != 3 || !errors.Is(probs["obj0003"], blob.ErrCorrupt) {
		t.Fatalf("deep check: %+v", rep)
	}
}

// TestEncryptedBlobsAreCheckedBySizeOnly: the blobs of an object encrypted at rest, and of
// the parts of an encrypted upload, hold ciphertext, whose MD5 is not the ETag (the
// plaintext's): their blob manifest entries carry no MD5, and a blob directory holding the
// ciphertext passes the check; a plain object's entry keeps its MD5.
func TestEncryptedBlobsAreCheckedBySizeOnly(t *testing.T) {
	s := &state{f: fsm.New(fsm.Options{}), blobs: map[string][]byte{}}
	enc := fsm.Encryption{Algorithm: fsm.EncryptionSSES3, KeyID: "0123456789abcdef", SealedKey: strings.Repeat("k", 61)}
	plainSum := md5.Sum([]byte("the plaintext")) //nolint:gosec
	plainETag := hex.EncodeToString(plainSum[:])
	cipher := func(id string) fsm.Blob {
		s.blobs[id] = []byte("ciphertext of " + id + ", longer than its plaintext")
		return fsm.Blob{ID: id, Size: uint64(len(s.blobs[id])), Nodes: []string{"n1"}}
	}
	plain, plainObjETag := s.blobOf("plain", 40)
	s.apply(t, &fsm.CreateBucket{Name: "vault", Owner: "o", Created: 1},
		&fsm.PutObject{Bucket: "vault", Key: "secret", Size: 13, ETag: plainETag, Blobs: []fsm.Blob{cipher("enc-obj")}, ModTime: 1, Encryption: enc},
		&fsm.PutObject{Bucket: "vault", Key: "open", Size: plain.Size, ETag: plainObjETag, Blobs: []fsm.Blob{plain}, ModTime: 2},
		&fsm.CreateMultipartUpload{Bucket: "vault", Key: "big", UploadID: "up-enc", Initiated: 3, Encryption: enc},
		&fsm.PutPart{Bucket: "vault", Key: "big", UploadID: "up-enc", PartNumber: 1, Size: 13, ETag: plainETag, Blobs: []fsm.Blob{cipher("enc-part")}})
	path, _ := makeBackup(t, s)
	a, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	md5s := map[string]string{}
	if err := a.Blobs(func(e BlobEntry) error { md5s[e.ID] = e.MD5; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(md5s) != 3 || md5s["enc-obj"] != "" || md5s["enc-part"] != "" || md5s["plain"] != plainObjETag {
		t.Fatalf("blob manifest MD5s %v", md5s)
	}
	v := verifierOf(t, s.blobs)
	if rep, err := CheckBlobs(a, v, CheckOptions{Deep: true}); err != nil || rep.Checked != 3 || len(rep.Problems) != 0 {
		t.Fatalf("check of the ciphertext blobs: %v, %+v", err, rep)
	}
}

// TestInlineBlobsInTheBackup: the bytes of inline objects and parts are records of the
// metadata stream: a backup verifies with them, its blob manifest marks them inline (no nodes),
// CheckBlobs counts them without looking for them in the blob store (an empty one), and the
// metadata restored from the backup gives their bytes back.
func TestInlineBlobsInTheBackup(t *testing.T) {
	s := &state{f: fsm.New(fsm.Options{}), blobs: map[string][]byte{}}
	inline := func(id, text string) (fsm.Blob, string) {
		sum := md5.Sum([]byte(text)) //nolint:gosec
		return fsm.Blob{ID: id, Size: uint64(len(text)), Inline: true, Data: []byte(text)}, hex.EncodeToString(sum[:])
	}
	obj, objETag := inline("inl-obj", "a small object, inside its event")
	part, partETag := inline("inl-part", "a small part")
	stored, storedETag := s.blobOf("stored", 100)
	s.apply(t, &fsm.CreateBucket{Name: "small", Owner: "o", Created: 1},
		&fsm.PutObject{Bucket: "small", Key: "obj", Size: obj.Size, ETag: objETag, Blobs: []fsm.Blob{obj}, ModTime: 1},
		&fsm.PutObject{Bucket: "small", Key: "big", Size: stored.Size, ETag: storedETag, Blobs: []fsm.Blob{stored}, ModTime: 2},
		&fsm.CreateMultipartUpload{Bucket: "small", Key: "mp", UploadID: "up1", Initiated: 3},
		&fsm.PutPart{Bucket: "small", Key: "mp", UploadID: "up1", PartNumber: 1, Size: part.Size, ETag: partETag, Blobs: []fsm.Blob{part}})
	path, m := makeBackup(t, s)
	if _, err := VerifyFile(path, VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
	a, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	entries := map[string]BlobEntry{}
	if err := a.Blobs(func(e BlobEntry) error { entries[e.ID] = e; return nil }); err != nil {
		t.Fatal(err)
	}
	if m.Counts.Blobs != 3 || len(entries) != 3 || !entries["inl-obj"].Inline || !entries["inl-part"].Inline || entries["stored"].Inline ||
		len(entries["inl-obj"].Nodes) != 0 || entries["inl-obj"].MD5 != objETag {
		t.Fatalf("blob manifest %+v (counts %+v)", entries, m.Counts)
	}
	rep, err := CheckBlobs(a, verifierOf(t, nil), CheckOptions{Deep: true})
	if err != nil || rep.Checked != 3 || rep.Inline != 2 || rep.Missing != 1 || len(rep.Problems) != 1 || rep.Problems[0].Entry.ID != "stored" {
		t.Fatalf("check against an empty blob store: %v, %+v", err, rep)
	}

	// The metadata stream restores the inline bytes.
	back := fsm.New(fsm.Options{})
	if err := a.Metadata(func(r io.Reader) error { return back.Restore(io.NopCloser(r)) }); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"inl-obj": "a small object, inside its event", "inl-part": "a small part"} {
		if got, err := back.BlobData(id); err != nil || string(got) != want {
			t.Fatalf("restored BlobData(%s) = %q, %v", id, got, err)
		}
	}
}

// verifierOf returns a verifier of a new blob store holding blobs.
func verifierOf(t *testing.T, blobs map[string][]byte) *blob.Verifier {
	t.Helper()
	dir := t.TempDir()
	store, err := blob.Open(dir, blob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for id, data := range blobs {
		if _, err := store.Put(context.Background(), id, bytes.NewReader(data), blob.Expect{Size: blob.AnySize}); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	v, err := blob.NewVerifier(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
