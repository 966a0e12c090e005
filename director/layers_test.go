package director

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// below lists, for each part of the director, the parts it may import:
// the control path points down only.
var below = map[string][]string{
	"store":   nil,
	"web":     nil,
	"publish": {"store", "web"},
	"checks":  {"store", "publish"},
	"broker":  {"store", "web", "publish"},
	"admin":   {"store", "web", "publish", "checks", "broker"},
}

func TestLayers(t *testing.T) {
	const self = "github.com/meridian-traffic/meridian/director"
	for part, allowed := range below {
		files, err := filepath.Glob(filepath.Join(part, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no sources (%v)", part, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range src.Imports {
				p := strings.Trim(imp.Path.Value, `"`)
				if p == self {
					t.Errorf("%s imports the director itself", f)
					continue
				}
				sub, ok := strings.CutPrefix(p, self+"/")
				if ok && !slices.Contains(allowed, sub) {
					t.Errorf("%s imports %s: %s may import only %v", f, sub, part, allowed)
				}
			}
		}
	}
}
