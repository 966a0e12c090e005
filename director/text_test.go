package director

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/cluster"
)

func TestUnifiedDiff(t *testing.T) {
	lines := func(n int, change map[int]string) string {
		var b strings.Builder
		for i := 1; i <= n; i++ {
			if s, ok := change[i]; ok {
				if s != "" {
					b.WriteString(s + "\n")
				}
				continue
			}
			b.WriteString("l" + string(rune('0'+i%10)) + "\n")
		}
		return b.String()
	}
	tests := []struct {
		name string
		a, b string
		want string
	}{
		{"equal", "x\n", "x\n", ""},
		{"from empty", "", "a\nb\n", "--- old\n+++ new\n@@ -0,0 +1,2 @@\n+a\n+b\n"},
		{"one line changed", "a\nb\nc\n", "a\nB\nc\n", "--- old\n+++ new\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"},
		{"two hunks", lines(20, nil), lines(20, map[int]string{2: "X", 18: ""}),
			"--- old\n+++ new\n@@ -1,5 +1,5 @@\n l1\n-l2\n+X\n l3\n l4\n l5\n@@ -15,6 +15,5 @@\n l5\n l6\n l7\n-l8\n l9\n l0\n"},
		{"close changes share a hunk", lines(10, nil), lines(10, map[int]string{3: "X", 7: "Y"}),
			"--- old\n+++ new\n@@ -1,10 +1,10 @@\n l1\n l2\n-l3\n+X\n l4\n l5\n l6\n-l7\n+Y\n l8\n l9\n l0\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := unifiedDiff("old", "new", tt.a, tt.b); got != tt.want {
				t.Errorf("diff:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestRemoveNodeYAML(t *testing.T) {
	site := siteYAML("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:4")
	tests := []struct {
		name    string
		node    string
		wantErr error
		gone    string
		keep    []string
	}{
		{"first", "a", nil, "name: a", []string{"# Test site for the director.", "# node b", "name: b", "name: c"}},
		{"middle", "b", nil, "name: b", []string{"# node a", "name: a", "# node c", "name: c"}},
		{"last", "c", nil, "name: c", []string{"name: a", "name: b", "selection: {method: random}"}},
		{"unknown", "z", errNoNode, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := removeNodeYAML([]byte(site), tt.node)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			s, err := cluster.Parse("out.yaml", out)
			if err != nil {
				t.Fatalf("result does not validate: %v\n%s", err, out)
			}
			if len(s.Nodes) != 2 || s.Node(tt.node) != nil || strings.Contains(string(out), tt.gone) {
				t.Errorf("node %s not removed:\n%s", tt.node, out)
			}
			for _, k := range tt.keep {
				if !strings.Contains(string(out), k) {
					t.Errorf("result lacks %q:\n%s", k, out)
				}
			}
		})
	}
	if _, err := removeNodeYAML([]byte("site: t\n"), "a"); !errors.Is(err, errNoNode) {
		t.Errorf("no nodes list: %v", err)
	}
	if _, err := removeNodeYAML([]byte("[1, 2"), "a"); err == nil {
		t.Error("broken yaml accepted")
	}
}

// TestExplain asks the director which node a client gets and why.
func TestExplain(t *testing.T) {
	h := startDirector(t, Config{SiteData: []byte(siteYAML(closedAddr(t), closedAddr(t), closedAddr(t)))})
	var ex api.Explain
	h.adminJSON(http.MethodGet, api.PathExplain+"?ip=198.51.100.7&offset=%2B02:00", nil, &ex)
	if ex.Client != "198.51.100.7" || len(ex.Nodes) != 1 || len(ex.Trace) == 0 {
		t.Errorf("explain: %+v", ex)
	}
	for _, q := range []string{"?ip=nope", "?ip=192.0.2.1&offset=later", ""} {
		if code, _ := h.admin(http.MethodGet, api.PathExplain+q, nil); code != http.StatusBadRequest {
			t.Errorf("explain%s: %d, want 400", q, code)
		}
	}
}
