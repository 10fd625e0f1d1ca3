package blob

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestVerifyDirNamesEveryDamagedBlob: a store's directory with good blobs (empty, one block,
// several blocks) and blobs damaged in each way a disk or an operator can damage them (a
// flipped data byte, a flipped header byte, a truncated file) and files that are not blobs
// where blobs live (one in the wrong fan-out directory, a stray name): VerifyDir reports exactly the damaged blobs (ErrCorrupt) and the stray
// file, counts the good ones, reports progress up to the total, and changes nothing.
func TestVerifyDirNamesEveryDamagedBlob(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{BlockSize: minBlockSize})
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[string]int{"empty": 0, "small": 100, "multi": 3*minBlockSize + 17, "flipdata": 2 * minBlockSize,
		"fliphdr": 500, "cut": minBlockSize + 1, "moved": 300}
	var good int64
	for id, n := range sizes {
		data := bytes.Repeat([]byte(id[:1]), n)
		if _, err := s.Put(context.Background(), id, bytes.NewReader(data), Expect{Size: int64(n)}); err != nil {
			t.Fatal(err)
		}
		if id == "empty" || id == "small" || id == "multi" {
			good += int64(n)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	damage := func(id string, f func(path string, b []byte) []byte) {
		p := s.path(id)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f(p, b), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	damage("flipdata", func(_ string, b []byte) []byte { b[headerSize+minBlockSize+9] ^= 1; return b })
	damage("fliphdr", func(_ string, b []byte) []byte { b[20] ^= 0x80; return b })
	damage("cut", func(_ string, b []byte) []byte { return b[:len(b)-3] })
	// A blob moved to a fan-out directory that is not its own, and a file that is no blob.
	wrong := "00"
	if fanout("moved") == wrong {
		wrong = "01"
	}
	moved := filepath.Join(dir, "blobs", wrong, "moved")
	if err := os.MkdirAll(filepath.Dir(moved), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(s.path("moved"), moved); err != nil {
		t.Fatal(err)
	}
	stray := filepath.Join(filepath.Dir(s.path("small")), "not a blob")
	if err := os.WriteFile(stray, []byte("x"), 0o640); err != nil {
		t.Fatal(err)
	}
	before := snapshotDir(t, dir)

	var last, total int64
	calls := 0
	rep, err := VerifyDir(dir, VerifyOptions{Progress: func(d, tot int64) { last, total = d, tot; calls++ }})
	if err != nil {
		t.Fatal(err)
	}
	var bad []string
	for _, p := range rep.Problems {
		if p.ID == "" {
			if (p.Path != stray && p.Path != moved) || !errors.Is(p.Err, errStray) {
				t.Errorf("unexpected stray problem %v", p)
			}
			continue
		}
		if !errors.Is(p.Err, ErrCorrupt) || !strings.Contains(p.String(), p.ID) {
			t.Errorf("problem %v does not wrap ErrCorrupt or name its blob", p)
		}
		bad = append(bad, p.ID)
	}
	slices.Sort(bad)
	if want := []string{"cut", "flipdata", "fliphdr"}; !slices.Equal(bad, want) {
		t.Fatalf("damaged blobs reported %v, want %v (report %+v)", bad, want, rep)
	}
	if rep.Blobs != len(sizes)-1 || rep.DataBytes != good || len(rep.Problems) != 5 {
		t.Fatalf("report %+v: want %d blobs, %d good bytes, 5 problems", rep, len(sizes)-1, good)
	}
	if calls != rep.Blobs || last != total || total != rep.FileBytes {
		t.Fatalf("progress: %d calls ending at %d of %d, report %d file bytes", calls, last, total, rep.FileBytes)
	}
	if after := snapshotDir(t, dir); !slices.Equal(before, after) {
		t.Fatalf("VerifyDir changed the directory:\n%v\n%v", before, after)
	}

	if _, err := VerifyDir(t.TempDir(), VerifyOptions{}); !errors.Is(err, ErrNotStore) {
		t.Fatalf("VerifyDir of an empty directory: %v, want ErrNotStore", err)
	}
}

// snapshotDir lists every file under dir with its size and modification time.
func snapshotDir(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		out = append(out, fmt.Sprintf("%s %d %d", p, fi.Size(), fi.ModTime().UnixNano()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestVerifyCRCOnly: a CRC-only blob verifies through its CRC32C. A data byte changed
// together with its block's CRC passes every block check (a ReadAt of the block returns the
// changed byte), so the whole-blob CRC32C is the only check that finds it: Verify, the
// Verifier and VerifyDir report it ErrCorrupt.
func TestVerifyCRCOnly(t *testing.T) {
	const bs = minBlockSize
	dir := t.TempDir()
	m := newRecorder(t)
	s, err := Open(dir, Options{BlockSize: bs, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	data := randData(3*bs+100, 8)
	for _, id := range []string{"good", "bad"} {
		sent := func() (Digests, error) { return digestsOf(data, true), nil }
		info, err := s.Put(context.Background(), id, bytes.NewReader(data), Expect{Size: int64(len(data)), Sent: sent})
		if err != nil || !info.CRCOnly || info.MD5 != [16]byte{} || info.SHA256 != [32]byte{} {
			t.Fatalf("Put %s = %+v, %v", id, info, err)
		}
		if err := s.Verify(id); err != nil {
			t.Fatalf("Verify of an intact CRC-only blob: %v", err)
		}
	}
	// Change byte 9 of block 1 and give the block the CRC of its new contents.
	corruptFile(t, s, "bad", func(b []byte) []byte {
		blk := b[headerSize+bs+blockCRCSize : headerSize+2*(bs+blockCRCSize)]
		blk[9] ^= 0x20
		binary.LittleEndian.PutUint32(blk[bs:], blockCRC(1, blk[:bs]))
		return b
	})
	r, _, err := s.Open("bad")
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, bs)
	_, err = r.ReadAt(p, bs)
	r.Close()
	if err != nil || p[9] != data[bs+9]^0x20 {
		t.Fatalf("ReadAt of the rewritten block = %v: the block check was meant to pass", err)
	}
	before := m.get(metricCorrupt)
	if err := s.Verify("bad"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Verify = %v, want ErrCorrupt", err)
	}
	if m.get(metricCorrupt) <= before {
		t.Fatal("corrupt_total not counted")
	}
	v, err := NewVerifier(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := v.Stat("good"); err != nil || !info.CRCOnly {
		t.Fatalf("Verifier.Stat = %+v, %v", info, err)
	}
	if err := v.Verify("good"); err != nil {
		t.Fatal(err)
	}
	rep, err := VerifyDir(dir, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Blobs != 2 || len(rep.Problems) != 1 || rep.Problems[0].ID != "bad" || !errors.Is(rep.Problems[0].Err, ErrCorrupt) {
		t.Fatalf("VerifyDir = %+v", rep)
	}
}
