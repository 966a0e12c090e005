package main

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// writeSyntheticCity writes a City database of the real one's size for
// when GeoLite2-City cannot be fetched: about networks networks (nine in
// ten IPv4, prefixes /16 to /24 with gaps, as the allocated space; the
// rest IPv6 /32 to /48 in 2000::/4), pointing at 100,000 shared city
// records (coordinates, time zone, name, country), as GeoLite2 points
// many networks at one record.
func writeSyntheticCity(path string, networks int, seed uint64) error {
	start := time.Now()
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            "GeoLite2-City",
		Description:             map[string]string{"en": "Meridian benchmark database (synthetic, GeoLite2-City-shaped)"},
		Languages:               []string{"en"},
		RecordSize:              28,
		IncludeReservedNetworks: true,
	})
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, 0x63697479))
	zones := []string{"America/New_York", "America/Chicago", "America/Los_Angeles", "America/Sao_Paulo",
		"Europe/London", "Europe/Berlin", "Europe/Moscow", "Africa/Lagos", "Asia/Kolkata", "Asia/Shanghai",
		"Asia/Tokyo", "Asia/Singapore", "Australia/Sydney"}
	cities := make([]mmdbtype.Map, 100000)
	for i := range cities {
		cities[i] = mmdbtype.Map{
			"city":    mmdbtype.Map{"geoname_id": mmdbtype.Uint32(i + 1), "names": mmdbtype.Map{"en": mmdbtype.String(fmt.Sprintf("City %d", i))}},
			"country": mmdbtype.Map{"iso_code": mmdbtype.String(string([]byte{byte('A' + i%26), byte('A' + i/26%26)}))},
			"location": mmdbtype.Map{
				"latitude":        mmdbtype.Float64(float64(rng.IntN(160000)-80000) / 1000),
				"longitude":       mmdbtype.Float64(float64(rng.IntN(360000)-180000) / 1000),
				"accuracy_radius": mmdbtype.Uint16(20 + rng.IntN(500)),
				"time_zone":       mmdbtype.String(zones[rng.IntN(len(zones))]),
			},
		}
	}
	insert := func(ip net.IP, bits, total int) error {
		n := &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, total)}
		return tree.Insert(n, cities[rng.IntN(len(cities))])
	}
	// IPv4: walk 1.0.0.0 to 223.255.255.255 in networks of 2^(32-bits)
	// addresses, the lengths drawn so that the walk makes about
	// 0.9*networks of them, one in five left out (unallocated).
	v4 := networks * 9 / 10
	avg := float64(0xdf000000) / float64(v4) // addresses per network
	for a := uint64(0x01000000); a < 0xe0000000; {
		bits := 24
		for bits > 16 && float64(uint64(1)<<(32-bits+1)) <= avg*(0.5+rng.Float64()) {
			bits--
		}
		for a%(uint64(1)<<(32-bits)) != 0 { // align
			bits++
		}
		if rng.IntN(5) > 0 {
			ip := net.IPv4(byte(a>>24), byte(a>>16), byte(a>>8), byte(a)).To4()
			if err := insert(ip, bits, 32); err != nil {
				return err
			}
		}
		a += uint64(1) << (32 - bits)
	}
	for range networks - v4 {
		ip := make(net.IP, 16)
		hi := 0x2000_0000_0000_0000 | rng.Uint64()>>4
		if hi>>48 == 0x2002 || hi>>32 == 0x2001_0000 {
			continue // 6to4 and Teredo alias the IPv4 space
		}
		for i := range 8 {
			ip[i] = byte(hi >> (56 - 8*i))
		}
		if err := insert(ip, 32+rng.IntN(17), 128); err != nil {
			return err
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := tree.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	fmt.Fprintf(os.Stderr, "benchsetup: synthetic City database %s in %s\n", path, time.Since(start).Round(time.Second))
	return f.Close()
}
