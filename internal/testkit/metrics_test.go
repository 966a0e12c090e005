package testkit_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-traffic/meridian/internal/testkit"
)

func TestMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c_total"}, []string{"listener", "reason"})
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "g"})
	reg.MustRegister(c, g)
	c.WithLabelValues("tcp", "timeout").Add(2)
	c.WithLabelValues("udp", "timeout").Add(3)
	g.Set(7)
	for _, tc := range []struct {
		family string
		labels []string
		want   float64
	}{
		{"g", nil, 7},
		{"c_total", []string{"listener", "udp"}, 3},
		{"c_total", []string{"listener", "tcp", "reason", "timeout"}, 2},
	} {
		if got := testkit.Metric(t, reg, tc.family, tc.labels...); got != tc.want {
			t.Errorf("Metric(%s, %q) = %v, want %v", tc.family, tc.labels, got, tc.want)
		}
	}
	rec := &fatalRecorder{TB: t}
	func() {
		defer func() { _ = recover() }()
		testkit.Metric(rec, reg, "c_total", "listener", "tls")
	}()
	if !rec.failed {
		t.Error("a missing series did not fail the test")
	}
}

// fatalRecorder notes a fatal failure and panics to end the call, as
// FailNow ends the test's goroutine.
type fatalRecorder struct {
	testing.TB
	failed bool
}

func (r *fatalRecorder) Fatalf(string, ...any) { r.failed = true; panic("fatal") }
