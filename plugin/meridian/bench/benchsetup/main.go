// Command benchsetup prepares the three servers of `make bench-dns`: a
// signed snapshot of the site with every node up, cached where the
// meridian plugin loads it at start (so the benchmark measures answering,
// not syncing), a small GeoIP City database placing the benchmark's ECS
// network, the zone the file plugin serves with the same records, and the
// three Corefiles.
package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/geoip/geoiptest"
)

func main() {
	site := flag.String("site", "zones/example.yaml", "site file")
	out := flag.String("out", "", "directory to write into")
	ecs := flag.String("ecs", "203.0.113.0/24", "the ECS network of the queries")
	lat := flag.Float64("lat", 48.85, "latitude of the ECS network")
	lon := flag.Float64("lon", 2.35, "longitude of the ECS network")
	port := flag.Int("port", 1153, "first port; the three servers use port, port+1, port+2")
	flag.Parse()
	if err := run(*site, *out, *ecs, *lat, *lon, *port); err != nil {
		fmt.Fprintln(os.Stderr, "benchsetup:", err)
		os.Exit(1)
	}
}

func run(siteFile, out, ecs string, lat, lon float64, port int) error {
	if out == "" {
		return fmt.Errorf("-out is required")
	}
	data, err := os.ReadFile(siteFile)
	if err != nil {
		return err
	}
	s, err := cluster.Parse(siteFile, data)
	if err != nil {
		return err
	}
	network, err := netip.ParsePrefix(ecs)
	if err != nil {
		return fmt.Errorf("-ecs: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(out, "cache"), 0o700); err != nil {
		return err
	}
	key := []byte("meridian-benchmark-pre-shared-key\n")
	if err := os.WriteFile(filepath.Join(out, "psk"), key, 0o600); err != nil {
		return err
	}
	psk, err := cluster.NewPSK(key)
	if err != nil {
		return err
	}

	snap := &cluster.Snapshot{
		Format: cluster.SnapshotFormat, Site: s.Name, Version: 1, ConfigVersion: 1,
		Published: time.Now().UTC(), Config: s,
	}
	for _, n := range s.Nodes {
		snap.Nodes = append(snap.Nodes, cluster.NodeState{Name: n.Name, Health: cluster.Up})
	}
	snap.Masters = append(snap.Masters, cluster.MasterState{Name: s.Masters.Primary.Name, Health: cluster.Up})
	env, err := cluster.NewSnapshotSigner(psk, s.Name).Sign(snap)
	if err != nil {
		return err
	}
	// The name the plugin gives the cache of a named site.
	if err := os.WriteFile(filepath.Join(out, "cache", "meridian-"+s.Name+".snapshot"), env, 0o600); err != nil {
		return err
	}

	if err := writeCity(filepath.Join(out, "city.mmdb"), network, lat, lon); err != nil {
		return err
	}

	// The file plugin's zone: the answer meridian gives for the ECS
	// network (the nearest node), same name, same TTL.
	var d cluster.Decision
	eng := cluster.NewEngine(snap, pointLocator{network, cluster.Location{Lat: lat, Lon: lon}})
	eng.Select(cluster.Query{Client: network.Addr(), SourceBits: network.Bits(), Now: time.Now()}, &d)
	if d.N == 0 {
		return fmt.Errorf("the engine chose no node for %s", network)
	}
	zone := fmt.Sprintf(`$ORIGIN %[1]s
@ 30 IN SOA %[2]s %[3]s 1 3600 600 86400 30
@ 300 IN NS %[2]s
%[4]s %[5]d IN A %[6]s
`, s.Zone, s.SOA.MName, s.SOA.RName, s.TrafficHostname, s.TTL.Traffic, d.Nodes[0].IPv4)
	if err := os.WriteFile(filepath.Join(out, "db.bench"), []byte(zone), 0o600); err != nil {
		return err
	}

	corefiles := map[string]string{
		"Corefile.meridian": fmt.Sprintf(`%s:%d {
    bind 127.0.0.1
    meridian {
        director http://127.0.0.1:9
        psk_file %s
        cache_dir %s
        geoip %s
        site %s
    }
}
`, s.Zone, port, filepath.Join(out, "psk"), filepath.Join(out, "cache"), filepath.Join(out, "city.mmdb"), s.Name),
		"Corefile.file": fmt.Sprintf(`%s:%d {
    bind 127.0.0.1
    file %s
}
`, s.Zone, port+1, filepath.Join(out, "db.bench")),
		"Corefile.whoami": fmt.Sprintf(`.:%d {
    bind 127.0.0.1
    whoami
}
`, port+2),
	}
	for name, c := range corefiles {
		if err := os.WriteFile(filepath.Join(out, name), []byte(c), 0o600); err != nil {
			return err
		}
	}
	fmt.Printf("%s %s %s\n", s.TrafficHostname, d.Nodes[0].Name, d.Nodes[0].IPv4)
	return nil
}

// pointLocator places one network; it picks the node the file zone holds.
type pointLocator struct {
	net netip.Prefix
	loc cluster.Location
}

func (p pointLocator) Locate(a netip.Addr) (cluster.Location, bool) {
	if !p.net.Contains(a) {
		return cluster.Location{}, false
	}
	l := p.loc
	l.Network = p.net
	return l, true
}

// writeCity writes a City database with one located network.
func writeCity(path string, network netip.Prefix, lat, lon float64) error {
	return geoiptest.Write(path, []geoiptest.Entry{{Network: network.String(), Lat: lat, Lon: lon}})
}
