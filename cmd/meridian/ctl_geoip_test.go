package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/meridian-traffic/meridian/api"
)

// TestGeoIPWarnings: ctl status warns of every DNS server whose GeoIP
// database differs from the director's, and of none that matches.
func TestGeoIPWarnings(t *testing.T) {
	const own, other = "GeoLite2-City@1700000000", "GeoLite2-City@1715644800"
	subs := []api.Subscriber{
		{ID: "dns/same", Kind: api.KindDNS, GeoIP: own},
		{ID: "dns/other", Kind: api.KindDNS, GeoIP: other},
		{ID: "dns/none", Kind: api.KindDNS},
		{ID: "n1", Kind: api.KindNode},
	}
	var out bytes.Buffer
	geoipWarnings(&out, &api.Status{Director: "m1", GeoIP: own, Subscribers: subs})
	got := out.String()
	for _, want := range []string{
		"warning: dns/other uses GeoIP GeoLite2-City built 2024-05-14 00:00 UTC, the director m1 uses GeoLite2-City built 2023-11-14 22:13 UTC",
		"warning: dns/none uses GeoIP none, the director m1 uses GeoLite2-City built 2023-11-14",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings\n%s\nlack %q", got, want)
		}
	}
	if strings.Contains(got, "dns/same") || strings.Contains(got, "n1") {
		t.Errorf("warned of a matching server or a node:\n%s", got)
	}

	out.Reset()
	geoipWarnings(&out, &api.Status{Director: "m1", Subscribers: subs[:1]})
	if !strings.Contains(out.String(), "the director m1 uses none") || !strings.Contains(out.String(), "--geoip") {
		t.Errorf("director without a database:\n%s", out.String())
	}
}
