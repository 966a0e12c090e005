package testkit_test

import (
	"strings"
	"testing"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

func TestSites(t *testing.T) {
	for name, y := range map[string]string{
		"minimal": testkit.MinimalSite,
		"yaml":    testkit.SiteYAML("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"),
		"head":    testkit.SiteHead("lab", "lab.example.", "127.0.0.1:1", testkit.HTTPHealth) + "  - {name: n1, ipv4: 192.0.2.11, internal: \"127.0.0.1:2\"}\n",
	} {
		if _, err := cluster.Parse(name+".yaml", []byte(y)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if !strings.Contains(testkit.SiteYAML("m:1", "x:1", "y:1"), "name: b") {
		t.Error("SiteYAML lacks node b")
	}
}
