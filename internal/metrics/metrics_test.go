package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRegister(t *testing.T) {
	reg := prometheus.NewRegistry()
	first := Counter("meridian_test_total", "A test counter.")
	if err := Register(reg, "test part", first, GaugeVec("meridian_test_gauge", "A test gauge.", "site")); err != nil {
		t.Fatalf("first registration: %v", err)
	}
	first.Inc()
	if n, err := reg.Gather(); err != nil || len(n) != 1 { // an unused vector has no series yet
		t.Fatalf("gathered %d families (err %v), want the counter", len(n), err)
	}
	for _, tc := range []struct {
		name string
		reg  prometheus.Registerer
		want string // "" = no error
	}{
		{"no registry", nil, ""},
		{"second set on one registry", reg, "register test part metrics: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Register(tc.reg, "test part", Counter("meridian_test_total", "A test counter."))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Register: %v", err)
			case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want) || !strings.Contains(err.Error(), "one test part per registry")):
				t.Fatalf("Register = %v, want %q ... one test part per registry", err, tc.want)
			}
		})
	}
}
