package cluster

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzSelect feeds arbitrary client bytes, source bits and offsets to every
// method: no panic, no more nodes than answers, and a scope a cache can
// trust: every client inside the scope network of the (masked) address
// gets the same answer.
func FuzzSelect(f *testing.F) {
	f.Add([]byte{192, 0, 2, 55}, 32, int64(0), false, uint8(0))
	f.Add([]byte{100, 64, 5, 7}, 24, int64(3600), true, uint8(1))
	f.Add([]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1}, 56, int64(-18000), true, uint8(2))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 51, 100, 7}, 120, int64(0), false, uint8(3))
	f.Add([]byte{}, -5, int64(1<<62), true, uint8(4))
	f.Add([]byte{10, 2, 5, 5}, 200, int64(-1<<62), false, uint8(5))

	tz := []Node{tnode("ber", zone("Europe/Berlin"), at(52.5, 13.4), prefixes("10.2.0.0/16")),
		tnode("nyc", zone("America/New_York"), at(40.7, -74), prefixes("10.2.0.0/16", "2001:db8::/48")),
		tnode("syd", zone("Australia/Sydney"), at(-33.9, 151.2), prefixes("10.0.0.0/8")),
		tnode("s", secondary, zone("Asia/Tokyo"), at(35.7, 139.7))}
	var engines []*Engine
	for _, m := range methods {
		for _, answers := range []int{1, 3} {
			site := geoSite(m, answers)
			if m == MethodTimezone {
				site = tsite(m, answers, tz...)
			}
			site.Selection.AnycastIPv4 = netip.MustParseAddr("203.0.113.1")
			st := NodeState{Name: "ny", Health: Up, Announcing: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}}
			engines = append(engines, NewEngine(tsnap(site, st), geoLocator), NewEngine(tsnap(site, down("la"), down("ber")), nil))
		}
	}
	f.Fuzz(func(t *testing.T, client []byte, bits int, offset int64, hasOffset bool, which uint8) {
		a, _ := netip.AddrFromSlice(client)
		qu := Query{Client: a, SourceBits: bits, Offset: time.Duration(offset), HasOffset: hasOffset, Now: july.Add(time.Duration(offset))}
		e := engines[int(which)%len(engines)]
		var d Decision
		e.Select(qu, &d)
		answers := e.Snapshot().Config.Selection.Answers
		if d.N > answers || d.N < 0 {
			t.Fatalf("%d nodes for %d answers", d.N, answers)
		}
		if d.Scope < 0 || d.Scope > 128 || (a.Is4() && d.Scope > 32) {
			t.Fatalf("scope %d for %s", d.Scope, a)
		}
		if sb := min(bits, a.BitLen()); a.IsValid() && !a.Is4In6() && a.Zone() == "" && sb > 0 {
			// Another client of the scope network, far from this one in
			// every bit the scope leaves free, asking with its full address.
			m, _ := a.Prefix(sb)
			b := farInside(m.Addr(), d.Scope)
			var db Decision
			e.Select(Query{Client: b, SourceBits: b.BitLen(), Offset: qu.Offset, HasOffset: hasOffset, Now: qu.Now}, &db)
			if db.Anycast != d.Anycast || !slices.Equal(db.Chosen(), d.Chosen()) {
				t.Fatalf("%s/%d got %v scope /%d, but %s inside that scope got %v", a, sb, chosenNames(d.Chosen()), d.Scope, b, chosenNames(db.Chosen()))
			}
		}
		if d.N == 0 && !d.Anycast && d.Pool != PoolEmpty {
			t.Fatalf("empty answer from pool %v", d.Pool)
		}
		seen := map[*Node]bool{}
		for _, n := range d.Chosen() {
			if n == nil || seen[n] {
				t.Fatalf("answer %v holds nil or a duplicate", d.Nodes)
			}
			seen[n] = true
		}
		_ = d.Explain()
	})
}

// farInside returns the address that keeps a's first bits and has every
// later bit flipped.
func farInside(a netip.Addr, bits int) netip.Addr {
	b := a.As16()
	off := 0
	if a.Is4() {
		off = 96
	}
	for i := off + bits; i < 128; i++ {
		b[i/8] ^= 0x80 >> (i % 8)
	}
	out := netip.AddrFrom16(b)
	if a.Is4() {
		return out.Unmap()
	}
	return out
}

func chosenNames(ns []*Node) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Name
	}
	return out
}

func FuzzParseOffset(f *testing.F) {
	for _, s := range []string{"+02:00", "-0530", "Z", "+2", "+14:00", "-12", "+1:30", "+02:0", "++1", "+18:01", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseOffset(s)
		if err != nil {
			return
		}
		if d > maxOffset || d < -maxOffset || d%time.Minute != 0 {
			t.Fatalf("ParseOffset(%q) = %v", s, d)
		}
		// The explain form reads back to the same offset.
		if back, err := ParseOffset(formatOffset(d)); err != nil || back != d {
			t.Fatalf("round trip of %q via %q: %v, %v", s, formatOffset(d), back, err)
		}
	})
}

func TestParseOffset(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string // substring; "" for success
	}{
		{"+02:00", 2 * time.Hour, ""},
		{"-0530", -5*time.Hour - 30*time.Minute, ""},
		{"Z", 0, ""},
		{"z", 0, ""},
		{"+2", 2 * time.Hour, ""},
		{"+05:45", 5*time.Hour + 45*time.Minute, ""},
		{"-00:30", -30 * time.Minute, ""},
		{"+14", 14 * time.Hour, ""},
		{"", 0, "empty"},
		{"02:00", 0, "position 1"},
		{"+", 0, "position 2: want hours"},
		{"+02:0", 0, "position 5: want two digits"},
		{"+02:60", 0, "out of range"},
		{"+02:00x", 0, "position 7: unexpected"},
		{"+123", 0, "position 4: want two digits"},
		{"+19", 0, "beyond"},
		{"UTC", 0, "position 1"},
	}
	for _, tt := range tests {
		got, err := ParseOffset(tt.in)
		switch {
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("ParseOffset(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ParseOffset(%q) error %v, want one with %q", tt.in, err, tt.err)
		case tt.err != "" && !strings.Contains(err.Error(), tt.in):
			t.Errorf("ParseOffset(%q) error %q does not quote the input", tt.in, err)
		}
	}
}
