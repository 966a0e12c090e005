package admin

import (
	"errors"
	"strings"
	"testing"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/director/store"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

// testSite is a site of nodes a, b and c with comments above the nodes.
var testSite = testkit.SiteYAML("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:4")

func TestRemoveNodeYAML(t *testing.T) {
	site := testSite
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
		{"unknown", "z", store.ErrNoNode, "", nil},
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
	if _, err := removeNodeYAML([]byte("site: t\n"), "a"); !errors.Is(err, store.ErrNoNode) {
		t.Errorf("no nodes list: %v", err)
	}
	if _, err := removeNodeYAML([]byte("[1, 2"), "a"); err == nil {
		t.Error("broken yaml accepted")
	}
}
