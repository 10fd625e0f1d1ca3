package node

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/rs/zerolog"
)

func TestJoinListAddsRememberedPeersOnce(t *testing.T) {
	got := joinList([]string{"a:1", "b:1"}, []string{"b:1", "c:1"})
	if want := []string{"a:1", "b:1", "c:1"}; !slices.Equal(got, want) {
		t.Fatalf("joinList = %v, want %v", got, want)
	}
	if got := joinList(nil, nil); len(got) != 0 {
		t.Fatalf("joinList(nil, nil) = %v", got)
	}
}

func TestLoadPeersIgnoresMissingAndDamagedFiles(t *testing.T) {
	dir := t.TempDir()
	if got := loadPeers(dir, zerolog.Nop()); got != nil {
		t.Fatalf("no file: %v", got)
	}
	if err := os.WriteFile(filepath.Join(dir, peersFile), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := loadPeers(dir, zerolog.Nop()); got != nil {
		t.Fatalf("damaged file: %v", got)
	}
	if err := os.WriteFile(filepath.Join(dir, peersFile), []byte(`{"addrs":["10.0.0.2:9004"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := loadPeers(dir, zerolog.Nop()); !slices.Equal(got, []string{"10.0.0.2:9004"}) {
		t.Fatalf("loadPeers = %v", got)
	}
}
