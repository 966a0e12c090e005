// Command mmdbgen writes a small GeoLite2-City-shaped database from a
// YAML list of networks (network, lat, lon, time_zone, city; other keys
// are ignored), for the loopback demo (`make run`, zones/demo-geoip.yaml).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v4"

	"github.com/meridian-traffic/meridian/geoip/geoiptest"
)

type network struct {
	Network  string  `yaml:"network"`
	Lat      float64 `yaml:"lat"`
	Lon      float64 `yaml:"lon"`
	TimeZone string  `yaml:"time_zone"`
	City     string  `yaml:"city"`
}

func main() {
	in := flag.String("in", "zones/demo-geoip.yaml", "YAML list of networks")
	out := flag.String("out", "", "database to write")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "mmdbgen:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	if out == "" {
		return fmt.Errorf("-out is required")
	}
	data, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var nets []network
	if err := yaml.Unmarshal(data, &nets); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	if len(nets) == 0 {
		return fmt.Errorf("%s: no networks", in)
	}
	entries := make([]geoiptest.Entry, len(nets))
	for i, n := range nets {
		entries[i] = geoiptest.Entry{Network: n.Network, Lat: n.Lat, Lon: n.Lon, TimeZone: n.TimeZone, City: n.City}
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return geoiptest.Write(out, entries)
}
