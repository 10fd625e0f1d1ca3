package node_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/nebulaio/nebulaio"

// TestImportGraph keeps the arrows one way: only the binary and the test-cluster harness
// import node (tests may, anywhere), and no package below httpapi imports httpapi or node.
func TestImportGraph(t *testing.T) {
	mayImportNode := map[string]bool{"cmd/nebulaio": true, "internal/testcluster": true}
	below := []string{"wal", "snapshot", "fsm", "transport", "gossip", "engine", "dataplane", "lifecycle", "config", "internal"}
	checked := 0
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != ".." {
				if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
					return filepath.SkipDir // another module (bench, e2e/clients)
				}
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(filepath.Dir(strings.TrimPrefix(path, "../")))
		for _, spec := range f.Imports {
			imp, _ := strconv.Unquote(spec.Path.Value)
			rel, ours := strings.CutPrefix(imp, module+"/")
			if !ours {
				continue
			}
			checked++
			if rel == "node" && !mayImportNode[pkg] {
				t.Errorf("%s imports node; only cmd/nebulaio and internal/testcluster may", path)
			}
			for _, b := range below {
				lower := pkg == b || strings.HasPrefix(pkg, b+"/")
				if lower && pkg != "internal/testcluster" && (rel == "node" || rel == "httpapi" || strings.HasPrefix(rel, "httpapi/")) {
					t.Errorf("%s (below httpapi) imports %s", path, rel)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("only %d imports of the module checked: the walk missed the packages", checked)
	}
}
