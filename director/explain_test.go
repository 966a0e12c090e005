package director

import (
	"net/http"
	"testing"

	"github.com/meridian-traffic/meridian/api"
)

// TestExplain asks the director which node a client gets and why.
func TestExplain(t *testing.T) {
	h := startDirector(t, Config{SiteData: []byte(siteDown(t, 2))})
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
