package director

import (
	"net/http"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/geoip"
	"github.com/meridian-traffic/meridian/geoip/geoiptest"
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

// TestGeoIPBuilds: the director names its GeoIP database in status and
// explain, and shows the build each DNS server reports with its polls.
func TestGeoIPBuilds(t *testing.T) {
	db, err := geoip.Open(geoiptest.Path(t, geoiptest.Sample()...))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	h := startDirector(t, Config{SiteData: []byte(siteDown(t, 2)), Locator: db})
	own := db.Build()
	if own != geoiptest.DatabaseType+"@1700000000" {
		t.Fatalf("build %q", own)
	}
	h.sync(0, "dns/same", api.KindDNS, time.Second, "geoip", own)
	h.sync(0, "dns/other", api.KindDNS, time.Second, "geoip", "GeoLite2-City@1715644800")
	h.sync(0, "dns/none", api.KindDNS, time.Second)

	var st api.Status
	h.adminJSON(http.MethodGet, api.PathStatus, nil, &st)
	if st.GeoIP != own {
		t.Errorf("status geoip %q, want %q", st.GeoIP, own)
	}
	got := map[string]string{}
	for _, s := range st.Subscribers {
		got[s.ID] = s.GeoIP
	}
	if got["dns/same"] != own || got["dns/other"] != "GeoLite2-City@1715644800" || got["dns/none"] != "" {
		t.Errorf("subscriber builds %v", got)
	}

	var ex api.Explain
	h.adminJSON(http.MethodGet, api.PathExplain+"?ip=198.51.100.7", nil, &ex)
	if ex.GeoIP != own {
		t.Errorf("explain with GeoIP: %+v", ex)
	}
}
