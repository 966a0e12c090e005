package testkit

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric reads one series of g: the series of family (a counter or a
// gauge) whose labels include every name, value pair of labels (the first
// series of the family when labels is empty). It fails the test when g
// has no such series.
func Metric(t testing.TB, g prometheus.Gatherer, family string, labels ...string) float64 {
	t.Helper()
	v, ok, err := Lookup(g, family, labels...)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Fatalf("no series %s%q", family, labels)
	}
	return v
}

// Lookup is Metric that reports a missing series (for a counter, one that
// has not counted yet) as false instead of failing.
func Lookup(g prometheus.Gatherer, family string, labels ...string) (float64, bool, error) {
	mfs, err := g.Gather()
	if err != nil {
		return 0, false, err
	}
	for _, mf := range mfs {
		if mf.GetName() != family {
			continue
		}
		for _, m := range mf.GetMetric() {
			// A series has each label name once: it matches when every
			// pair found its label.
			found := 0
			for _, l := range m.GetLabel() {
				for i := 0; i+1 < len(labels); i += 2 {
					if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
						found++
					}
				}
			}
			if found == len(labels)/2 {
				return m.GetCounter().GetValue() + m.GetGauge().GetValue(), true, nil
			}
		}
	}
	return 0, false, nil
}
