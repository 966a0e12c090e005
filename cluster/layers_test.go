package cluster

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/meridian-traffic/meridian/"

// layers ranks every part of the module; imports point down only: a
// package may import its own part or a part of a lower rank, never a peer
// or anything above. The longest matching prefix names a package's part.
var layers = map[string]int{
	"cluster":          0, // site model, snapshots, keys, the selection engine
	"internal/proc":    1, // child process supervision for the demo and the lab
	"internal/metrics": 1, // how the parts declare and register their meridian_* series
	"api":              1, // the wire contract
	"api/client":       2, // subscriber, heartbeat and admin clients of that contract
	"health":           2, // probe kinds and rise/fall
	"relay":            3,
	"bgp":              3,
	"geoip":            3,
	"director":         4,
	"node":             4,
	"plugin":           4,
	"cmd":              5,
	"relay/cmd":        5,
	"lab":              5,
}

// within orders the subpackages of one part: each may import only those
// listed (the director's control path points down: store and web, then
// publish, then checks and broker, then admin, composed by director).
var within = map[string][]string{
	"director/store":   nil,
	"director/web":     nil,
	"director/publish": {"director/store", "director/web"},
	"director/checks":  {"director/store", "director/publish"},
	"director/broker":  {"director/store", "director/web", "director/publish"},
	"director/admin":   {"director/store", "director/web", "director/publish", "director/checks", "director/broker"},
}

// pureForbidden are the imports that would tie the pure site model and
// engine to I/O.
var pureForbidden = []string{
	"go.etcd.io/etcd", "github.com/miekg/dns", "github.com/coredns", "net/http", "os",
}

// isTestSupport reports whether pkg only exists to be imported by tests
// (and by the lab and benchmark tools, which build test fixtures): such a
// package may import anything, and only tests and tools may import it.
func isTestSupport(pkg string) bool {
	for _, el := range strings.Split(pkg, "/") {
		if strings.HasSuffix(el, "test") || el == "testkit" || el == "benchsetup" {
			return true
		}
	}
	return false
}

// part returns the layers key that owns pkg, or "".
func part(pkg string) string {
	best := ""
	for p := range layers {
		if (pkg == p || strings.HasPrefix(pkg, p+"/")) && len(p) > len(best) {
			best = p
		}
	}
	return best
}

// importProblem says why package from (module-relative) must not import
// path, or "".
func importProblem(from, path string) string {
	if from == "cluster" {
		for _, f := range pureForbidden {
			if path == f || strings.HasPrefix(path, f+"/") {
				return "cluster/ must stay pure (no I/O, no DNS, no etcd)"
			}
		}
	}
	to, ok := strings.CutPrefix(path, module)
	if !ok || isTestSupport(from) {
		return ""
	}
	if isTestSupport(to) {
		if pf := part(from); pf == "lab" || strings.Contains(from, "/bench") {
			return ""
		}
		return "a test-support package is for tests only"
	}
	pf, pt := part(from), part(to)
	switch {
	case pf == "" || pt == "":
		return "package has no layer: add it to layers"
	case pf != pt && layers[pt] >= layers[pf]:
		return "import points up or sideways"
	}
	if allowed, ok := within[from]; ok && pf == pt && !slices.Contains(allowed, to) {
		return fmt.Sprintf("%s may import only %v of its own part", from, allowed)
	}
	return ""
}

// fileProblems lists the layer problems of one Go source in package dir.
func fileProblems(t *testing.T, dir, name string, src any) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, imp := range f.Imports {
		p := strings.Trim(imp.Path.Value, `"`)
		if why := importProblem(dir, p); why != "" {
			out = append(out, filepath.Join(dir, filepath.Base(name))+" imports "+p+": "+why)
		}
	}
	return out
}

func TestLayerGuardCatchesKnownBad(t *testing.T) {
	bad := []struct{ dir, src string }{
		{"cluster", `import _ "github.com/miekg/dns"`},
		{"cluster", `import _ "os"`},
		{"api", `import _ "github.com/meridian-traffic/meridian/director"`},
		{"relay", `import _ "github.com/meridian-traffic/meridian/bgp"`},
		{"bgp", `import _ "github.com/meridian-traffic/meridian/relay"`},
		{"node", `import _ "github.com/meridian-traffic/meridian/director/store"`},
		{"plugin/meridian", `import _ "github.com/meridian-traffic/meridian/node"`},
		{"health", `import _ "github.com/meridian-traffic/meridian/relay"`},
		{"director", `import _ "github.com/meridian-traffic/meridian/geoip/geoiptest"`},
		{"director", `import _ "github.com/meridian-traffic/meridian/unlayered"`},
		{"director/store", `import _ "github.com/meridian-traffic/meridian/director/admin"`},
		{"director/publish", `import _ "github.com/meridian-traffic/meridian/director"`},
	}
	for _, b := range bad {
		if got := fileProblems(t, b.dir, "bad.go", "package x\n"+b.src+"\n"); len(got) != 1 {
			t.Errorf("%s: %s: guard found %v, want one problem", b.dir, b.src, got)
		}
	}
	good := []struct{ dir, src string }{
		{"director/publish", `import _ "github.com/meridian-traffic/meridian/director/store"`},
		{"director", `import _ "github.com/meridian-traffic/meridian/director/admin"`},
		{"director", `import _ "github.com/meridian-traffic/meridian/health"`},
		{"node", `import _ "github.com/meridian-traffic/meridian/api/client"`},
		{"lab/labrun", `import _ "github.com/meridian-traffic/meridian/geoip/geoiptest"`},
		{"cmd/meridian", `import _ "github.com/meridian-traffic/meridian/plugin/meridian"`},
	}
	for _, g := range good {
		if got := fileProblems(t, g.dir, "good.go", "package x\n"+g.src+"\n"); len(got) != 0 {
			t.Errorf("%s: %s: guard refused a good import: %v", g.dir, g.src, got)
		}
	}
}

// TestLayers checks every non-test Go file of the module.
func TestLayers(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	var problems []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		problems = append(problems, fileProblems(t, filepath.ToSlash(rel), path, src)...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(problems)
	for _, p := range problems {
		t.Error(p)
	}
}
