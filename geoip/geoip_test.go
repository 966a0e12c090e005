package geoip

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/geoip/geoiptest"
)

func openSample(t testing.TB) *DB {
	t.Helper()
	db, err := Open(geoiptest.Path(t, geoiptest.Sample()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db
}

func TestLocate(t *testing.T) {
	db := openSample(t)
	tests := []struct {
		addr    string
		ok      bool
		lat     float64
		tz      string
		network string // "" : no network expected
	}{
		{"192.0.2.77", true, 40.71, "America/New_York", "192.0.2.0/24"},
		{"198.51.100.1", true, 50.11, "Europe/Berlin", "198.51.100.0/24"},
		{"203.0.113.5", true, -33.87, "Australia/Sydney", "203.0.113.0/25"},
		{"203.0.113.200", false, 0, "", "203.0.113.128/25"}, // a record without coordinates
		{"2001:db8:100:1::1", true, 51.51, "Europe/London", "2001:db8:100::/40"},
		{"::ffff:192.0.2.77", true, 40.71, "America/New_York", "192.0.2.0/24"},
		{"fe80::1%eth0", false, 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			loc, ok := db.Locate(netip.MustParseAddr(tt.addr))
			if ok != tt.ok || loc.Lat != tt.lat || loc.TimeZone != tt.tz {
				t.Errorf("Locate = %+v, %v; want lat %v zone %q ok %v", loc, ok, tt.lat, tt.tz, tt.ok)
			}
			if tt.network != "" && loc.Network != netip.MustParsePrefix(tt.network) {
				t.Errorf("network %s, want %s", loc.Network, tt.network)
			}
		})
	}
	// A miss still says which network it covers, in the address's family.
	loc, ok := db.Locate(netip.MustParseAddr("10.1.2.3"))
	if ok || !loc.Network.IsValid() || !loc.Network.Addr().Is4() || !loc.Network.Contains(netip.MustParseAddr("10.1.2.3")) {
		t.Errorf("miss: %+v, %v", loc, ok)
	}
	if _, ok := db.Locate(netip.Addr{}); ok {
		t.Error("the zero address was located")
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.mmdb")
	if err := os.WriteFile(garbage, []byte("not a database"), 0o644); err != nil {
		t.Fatal(err)
	}
	country := filepath.Join(dir, "country.mmdb")
	writeCountry(t, country)
	tests := []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "missing.mmdb"), "missing.mmdb"},
		{"garbage", garbage, "garbage.mmdb"},
		{"not a City database", country, "not a City database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := Open(tt.path)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to mention %q", err, tt.want)
			}
		})
	}
	if _, err := Open(filepath.Join(dir, "missing.mmdb")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v does not wrap os.ErrNotExist", err)
	}
}

func writeCountry(t *testing.T, path string) {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoLite2-Country", IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	_, n, _ := net.ParseCIDR("192.0.2.0/24")
	if err := tree.Insert(n, mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String("US")}}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
}

// TestEngineWithDB runs the selection engine on a database built here: the
// geo answer and its ECS scope come from the database's networks.
func TestEngineWithDB(t *testing.T) {
	db := openSample(t)
	site := &cluster.Site{
		Name:      "test",
		Selection: cluster.Selection{Method: cluster.MethodGeo, Answers: 1},
		Nodes: []cluster.Node{
			{Name: "ny", ID: "ny", Weight: 100, Accepting: true, Lat: 40.7, Lon: -74},
			{Name: "fra", ID: "fra", Weight: 100, Accepting: true, Lat: 50.1, Lon: 8.7},
			{Name: "syd", ID: "syd", Weight: 100, Accepting: true, Lat: -33.9, Lon: 151.2},
		},
	}
	snap := &cluster.Snapshot{Config: site, Nodes: []cluster.NodeState{
		{Name: "ny", Health: cluster.Up}, {Name: "fra", Health: cluster.Up}, {Name: "syd", Health: cluster.Up},
	}}
	e := cluster.NewEngine(snap, db)
	tests := []struct {
		client string
		node   string
		rule   cluster.Rule
		scope  int
	}{
		{"192.0.2.77", "ny", cluster.RuleGeo, 24},
		{"198.51.100.1", "fra", cluster.RuleGeo, 24},
		{"203.0.113.5", "syd", cluster.RuleGeo, 25},
		{"2001:db8:100:1::1", "fra", cluster.RuleGeo, 40},
		{"203.0.113.200", "", cluster.RuleGeoUnknown, 25},
	}
	for _, tt := range tests {
		a := netip.MustParseAddr(tt.client)
		var d cluster.Decision
		e.Select(cluster.Query{Client: a, SourceBits: a.BitLen()}, &d)
		if d.Rule != tt.rule || (tt.node != "" && d.Nodes[0].Name != tt.node) || d.Scope != tt.scope {
			t.Errorf("%s: rule %v nodes %v scope %d; want %v %q /%d", tt.client, d.Rule, d.Chosen(), d.Scope, tt.rule, tt.node, tt.scope)
		}
	}
}

func TestLocateConcurrent(t *testing.T) {
	db := openSample(t)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				if _, ok := db.Locate(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})); !ok {
					t.Error("concurrent Locate failed")
					return
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkLocate(b *testing.B) {
	db := openSample(b)
	a := netip.MustParseAddr("198.51.100.1")
	b.ReportAllocs()
	for b.Loop() {
		db.Locate(a)
	}
}

// manyLat gives every entry its own latitude, so no two records are equal
// (the writer would merge them).
func manyLat(i int) float64 { return -85 + float64(i)*0.01 }

// TestLocateManyRecords fills the record cache past its size, so slots are
// shared and replaced, and checks every answer twice.
func TestLocateManyRecords(t *testing.T) {
	const n = 3 * recordSlots
	var entries []geoiptest.Entry
	for i := 0; i < n; i++ {
		entries = append(entries, geoiptest.Entry{
			Network: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24).String(),
			Lat:     manyLat(i), Lon: float64(i%360) - 179.5, TimeZone: "UTC",
		})
	}
	db, err := Open(geoiptest.Path(t, entries...))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for pass := 0; pass < 2; pass++ {
		for i := 0; i < n; i++ {
			a := netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 9})
			loc, ok := db.Locate(a)
			if !ok || loc.Lat != manyLat(i) || loc.Lon != float64(i%360)-179.5 || loc.Network.Bits() != 24 {
				t.Fatalf("pass %d: %s located at %+v, %v", pass, a, loc, ok)
			}
		}
	}
}
