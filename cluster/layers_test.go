package cluster

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// forbidden are the imports that would tie the pure site model and engine to
// I/O layers or to another part.
var forbidden = []string{
	"github.com/meridian-traffic/meridian/director",
	"github.com/meridian-traffic/meridian/relay",
	"github.com/meridian-traffic/meridian/bgp",
	"github.com/meridian-traffic/meridian/plugin",
	"github.com/meridian-traffic/meridian/geoip",
	"github.com/meridian-traffic/meridian/node",
	"go.etcd.io/etcd",
	"github.com/miekg/dns",
	"github.com/coredns",
	"net/http",
	"os",
}

// badImports returns the forbidden imports of one Go source.
func badImports(t *testing.T, name string, src any) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	var bad []string
	for _, imp := range f.Imports {
		p := strings.Trim(imp.Path.Value, `"`)
		for _, fb := range forbidden {
			if p == fb || strings.HasPrefix(p, fb+"/") {
				bad = append(bad, p)
			}
		}
	}
	return bad
}

func TestLayers(t *testing.T) {
	// The guard itself must catch a known-bad file.
	if bad := badImports(t, "bad.go", "package cluster\nimport _ \"github.com/miekg/dns\"\n"); len(bad) != 1 {
		t.Fatalf("guard missed a forbidden import: %v", bad)
	}
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		if bad := badImports(t, f, nil); len(bad) > 0 {
			t.Errorf("%s imports %v: cluster/ must stay pure", f, bad)
		}
	}
}
