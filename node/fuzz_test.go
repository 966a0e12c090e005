package node

import "testing"

// FuzzParseLoadAvg: no input panics, and an accepted value is never negative.
func FuzzParseLoadAvg(f *testing.F) {
	for _, s := range []string{"0.42 0.30 0.25 1/123 4567\n", "", "NaN", "-0", "1e309", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if v, err := parseLoadAvg(s); err == nil && v < 0 {
			t.Fatalf("parseLoadAvg(%q) = %v", s, v)
		}
	})
}
