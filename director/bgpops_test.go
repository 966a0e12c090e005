package director

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/director/store"
)

// TestBGPWithdraw: an operator's withdraw shows in the snapshot with its
// reason and author, without a config version; resume clears it; unknown
// nodes and bad bodies are refused.
func TestBGPWithdraw(t *testing.T) {
	h := startDirector(t, Config{SiteData: []byte(siteDown(t, 2))})
	steps := []struct {
		name string
		path string
		body string
		want string // NodeState.Withdrawn after the step
	}{
		{"json reason", "/v1/nodes/a/bgp/withdraw", `{"reason": "router maintenance"}`, "router maintenance"},
		{"same again", "/v1/nodes/a/bgp/withdraw", `{"reason": "router maintenance"}`, "router maintenance"},
		{"query reason", "/v1/nodes/a/bgp/withdraw?reason=link+flap", "", "link flap"},
		{"reason cleaned", "/v1/nodes/a/bgp/withdraw", `{"reason": "  two\nlines\t "}`, "two lines"},
		{"resume", "/v1/nodes/a/bgp/resume", "", ""},
		{"resume again", "/v1/nodes/a/bgp/resume", "", ""},
		{"default reason", "/v1/nodes/a/bgp/withdraw", "", api.DefaultWithdrawReason},
	}
	for _, st := range steps {
		var res api.ChangeResult
		h.adminJSON(http.MethodPost, st.path, []byte(st.body), &res, api.HeaderAuthor, "alice")
		s := h.current()
		if got := s.Node("a").Withdrawn; got != st.want || s.Version < res.Version || s.ConfigVersion != 1 {
			t.Errorf("%s: withdrawn %q version %d config %d, want %q version >= %d config 1",
				st.name, got, s.Version, s.ConfigVersion, st.want, res.Version)
		}
		if s.Node("b").Withdrawn != "" || s.Node("a").Drained {
			t.Errorf("%s: touched more than a's withdraw: %+v %+v", st.name, s.Node("a"), s.Node("b"))
		}
	}

	// The author is stored with the state.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := h.d.site.Client().Get(ctx, h.d.site.Keys.Node("a"))
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("read state of a: %v", err)
	}
	rec, err := store.Decode[store.StateRecord]("a", resp.Kvs[0].Value)
	if err != nil || rec.WithdrawnBy != "alice" {
		t.Errorf("state of a: withdrawn by %q (%v), want alice", rec.WithdrawnBy, err)
	}

	// Node status (ctl bgp's source) carries it too.
	var nodes []api.NodeStatus
	h.adminJSON(http.MethodGet, api.PathNodes, nil, &nodes)
	if len(nodes) == 0 || nodes[0].Name != "a" || nodes[0].Withdrawn != api.DefaultWithdrawReason {
		t.Errorf("nodes: %+v", nodes)
	}

	refused := []struct {
		name, path, body string
		want             int
	}{
		{"withdraw unknown node", "/v1/nodes/nope/bgp/withdraw", "", http.StatusNotFound},
		{"resume unknown node", "/v1/nodes/nope/bgp/resume", "", http.StatusNotFound},
		{"bad body", "/v1/nodes/a/bgp/withdraw", `{"reason": 3}`, http.StatusBadRequest},
		// Over the 4 KiB bound of a withdraw body.
		{"body too large", "/v1/nodes/a/bgp/withdraw", `{"reason": "` + strings.Repeat("x", 4<<10) + `"}`, http.StatusBadRequest},
	}
	for _, tt := range refused {
		if code, body := h.admin(http.MethodPost, tt.path, []byte(tt.body)); code != tt.want {
			t.Errorf("%s: status %d, want %d: %s", tt.name, code, tt.want, body)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, h.base+"/v1/nodes/a/bgp/resume", nil)
	if code, _ := h.do(req); code != http.StatusUnauthorized {
		t.Errorf("resume without a token: %d, want 401", code)
	}
	if got := h.current().Node("a").Withdrawn; got != api.DefaultWithdrawReason {
		t.Errorf("refused requests changed the withdraw: %q", got)
	}
}
