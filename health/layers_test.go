package health

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// module is this module's import path; of it, health may import only the
// layers below: cluster and api.
const module = "github.com/meridian-traffic/meridian/"

var allowed = []string{module + "cluster", module + "api"}

// TestLayers: health imports the standard library, cluster and api only,
// so relay, bgp and the director can all build on it.
func TestLayers(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			first, _, _ := strings.Cut(p, "/")
			switch {
			case strings.HasPrefix(p, module):
				ok := false
				for _, a := range allowed {
					ok = ok || p == a
				}
				if !ok {
					t.Errorf("%s imports %s: health may import only cluster and api", f, p)
				}
			case strings.Contains(first, "."):
				t.Errorf("%s imports %s: health uses the standard library only", f, p)
			}
		}
	}
}
