package snapshot

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/golden* from the current encoders")

// goldenStates are the two snapshots of the golden store: a full one and a delta of it.
func goldenStates() (full, next state) {
	full = state{}
	for i := 0; i < 300; i++ {
		full[fmt.Sprintf("bucket-%02d/key-%04d", i%4, i)] = strings.Repeat(string(rune('a'+i%26)), i%37)
	}
	next = full.clone()
	for i := 0; i < 300; i += 7 {
		k := fmt.Sprintf("bucket-%02d/key-%04d", i%4, i)
		if i%2 == 0 {
			delete(next, k)
		} else {
			next[k] = "changed"
		}
	}
	next["bucket-99/new"] = "added"
	return full, next
}

// TestGolden pins the on-disk formats: the committed stream must equal what the encoder
// writes today, and the committed stores (manifests and runs) must still open to the same
// states: golden-store holds run format version 1 (written by an earlier build, no key
// filter), golden-store-v2 the current version. -update-golden regenerates the stream and the
// current version's store after a deliberate format change (bump the format version and keep
// the older store as a fixture).
func TestGolden(t *testing.T) {
	full, next := goldenStates()
	streamPath := filepath.Join("testdata", "golden.stream")
	storeDir := filepath.Join("testdata", fmt.Sprintf("golden-store-v%d", runVersion))
	var cur bytes.Buffer
	if err := writeDelta(&cur, "1-10-1", full, next); err != nil {
		t.Fatal(err)
	}
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(streamPath, cur.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		_ = os.RemoveAll(storeDir)
		s, err := NewStore(storeDir, Options{ChunkSize: 4096, DisableAutoCompaction: true})
		if err != nil {
			t.Fatal(err)
		}
		id1, err := persist(t, s, 10, func(w io.Writer) error { return writeFull(w, full) })
		if err != nil || id1 != "1-10-1" {
			t.Fatalf("golden full snapshot %q: %v", id1, err)
		}
		if _, err := persist(t, s, 20, func(w io.Writer) error { return writeDelta(w, id1, full, next) }); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	want, err := os.ReadFile(streamPath)
	if err != nil {
		t.Fatalf("%v (run with -update-golden to create)", err)
	}
	if !bytes.Equal(want, cur.Bytes()) {
		t.Fatalf("stream encoding changed: %d bytes, golden %d bytes", cur.Len(), len(want))
	}
	for _, d := range []string{filepath.Join("testdata", "golden-store"), storeDir} {
		t.Run(filepath.Base(d), func(t *testing.T) { checkGoldenStore(t, d, full, next) })
	}
}

// checkGoldenStore copies a committed store (NewStore may write) and opens both snapshots.
func checkGoldenStore(t *testing.T, storeDir string, full, next state) {
	dir := t.TempDir()
	entries, err := os.ReadDir(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(storeDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := NewStore(dir, Options{DisableAutoCompaction: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	metas, _ := s.List()
	if len(metas) != 2 {
		t.Fatalf("golden store lists %d snapshots, want 2", len(metas))
	}
	for _, c := range []struct {
		id   string
		want state
	}{{metas[1].ID, full}, {metas[0].ID, next}} {
		got, err := openState(t, s, c.id)
		if err != nil {
			t.Fatalf("golden %s: %v", c.id, err)
		}
		if err := equalState(c.want, got); err != nil {
			t.Fatalf("golden %s: %v", c.id, err)
		}
	}
}
