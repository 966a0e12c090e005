// Package geoiptest writes small GeoLite2-City-shaped MaxMind databases for
// tests, so that no test depends on a downloaded database.
package geoiptest

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Entry is one network of the database. A record without coordinates (a
// country-only record) is written when NoLocation is set.
type Entry struct {
	Network    string // CIDR, IPv4 or IPv6
	Lat, Lon   float64
	TimeZone   string // IANA zone; "" leaves it out
	City       string // English city name; "" leaves it out
	Country    string // ISO 3166 code; "" leaves it out
	NoLocation bool
}

// DatabaseType is the type the written databases declare, MaxMind's own
// City type, so readers that check it accept them.
const DatabaseType = "GeoLite2-City"

// Build returns the database holding entries. Reserved and documentation
// networks (192.0.2.0/24, 2001:db8::/32, ...) are allowed: tests use them.
func Build(entries []Entry) ([]byte, error) {
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            DatabaseType,
		Description:             map[string]string{"en": "Meridian test database"},
		IncludeReservedNetworks: true,
		Languages:               []string{"en"},
		RecordSize:              28,
		// A fixed build time keeps the bytes the same from run to run.
		BuildEpoch: 1_700_000_000,
	})
	if err != nil {
		return nil, fmt.Errorf("new mmdb tree: %w", err)
	}
	for _, e := range entries {
		p, err := netip.ParsePrefix(e.Network)
		if err != nil {
			return nil, fmt.Errorf("entry %q: %w", e.Network, err)
		}
		p = p.Masked()
		n := &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
		if err := tree.Insert(n, record(e)); err != nil {
			return nil, fmt.Errorf("insert %s: %w", p, err)
		}
	}
	var b bytes.Buffer
	if _, err := tree.WriteTo(&b); err != nil {
		return nil, fmt.Errorf("write mmdb: %w", err)
	}
	return b.Bytes(), nil
}

// record is a City record with the fields GeoLite2-City uses.
func record(e Entry) mmdbtype.Map {
	m := mmdbtype.Map{}
	if !e.NoLocation {
		loc := mmdbtype.Map{
			"latitude":        mmdbtype.Float64(e.Lat),
			"longitude":       mmdbtype.Float64(e.Lon),
			"accuracy_radius": mmdbtype.Uint16(20),
		}
		if e.TimeZone != "" {
			loc["time_zone"] = mmdbtype.String(e.TimeZone)
		}
		m["location"] = loc
	}
	if e.City != "" {
		m["city"] = mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(e.City)}}
	}
	if e.Country != "" {
		m["country"] = mmdbtype.Map{"iso_code": mmdbtype.String(e.Country)}
	}
	return m
}

// Write writes the database holding entries to path.
func Write(path string, entries []Entry) error {
	b, err := Build(entries)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Path writes the database holding entries into a temporary directory of
// tb and returns its path; it fails tb on error.
func Path(tb testing.TB, entries ...Entry) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "GeoLite2-City.mmdb")
	if err := Write(path, entries); err != nil {
		tb.Fatal(err)
	}
	return path
}

// Sample returns a small world for tests: documentation networks placed in
// cities of three continents, one network without coordinates, one IPv6.
func Sample() []Entry {
	return []Entry{
		{Network: "192.0.2.0/24", Lat: 40.71, Lon: -74.01, TimeZone: "America/New_York", City: "New York", Country: "US"},
		{Network: "198.51.100.0/24", Lat: 50.11, Lon: 8.68, TimeZone: "Europe/Berlin", City: "Frankfurt", Country: "DE"},
		{Network: "203.0.113.0/25", Lat: -33.87, Lon: 151.21, TimeZone: "Australia/Sydney", City: "Sydney", Country: "AU"},
		{Network: "203.0.113.128/25", Country: "AU", NoLocation: true},
		{Network: "2001:db8:100::/40", Lat: 51.51, Lon: -0.13, TimeZone: "Europe/London", City: "London", Country: "GB"},
	}
}
