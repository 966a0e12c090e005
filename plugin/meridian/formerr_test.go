package meridian

import (
	"testing"

	"github.com/miekg/dns"
)

// TestHasOPT reads the additional section of raw messages, parseable or
// not, and never reads past the end.
func TestHasOPT(t *testing.T) {
	q := new(dns.Msg)
	q.SetQuestion("traffic.support.example.com.", dns.TypeA)
	plain, _ := q.Pack()
	q.SetEdns0(1232, false)
	withOPT, _ := q.Pack()
	tests := []struct {
		name string
		m    []byte
		want bool
	}{
		{"no opt", plain, false},
		{"opt", withOPT, true},
		{"header only", withOPT[:12], false},
		{"truncated opt", withOPT[:len(withOPT)-5], false},
		{"empty", nil, false},
		{"label past the end", []byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 63, 'a'}, false},
	}
	for _, tt := range tests {
		if got := hasOPT(tt.m); got != tt.want {
			t.Errorf("%s: hasOPT = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestFormerrTableBounded fills the table past its bound: the oldest
// queries are forgotten, the newest kept.
func TestFormerrTableBounded(t *testing.T) {
	f := &formerrOPT{keys: map[string]struct{}{}}
	q := new(dns.Msg)
	q.SetQuestion("traffic.support.example.com.", dns.TypeA)
	q.SetEdns0(1232, false)
	var first, last string
	for i := range maxFormerrKeys + 10 {
		q.Id = uint16(i)
		m, _ := q.Pack()
		f.observe(m)
		k, _ := questionKey(m)
		if i == 0 {
			first = k
		}
		last = k
	}
	if len(f.keys) != maxFormerrKeys || len(f.order) != maxFormerrKeys {
		t.Fatalf("%d keys, %d in order; want %d", len(f.keys), len(f.order), maxFormerrKeys)
	}
	if f.take(first) {
		t.Error("the oldest query was kept")
	}
	if !f.take(last) || f.take(last) {
		t.Error("the newest query was not kept exactly once")
	}
}
