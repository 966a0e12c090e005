// Command benchsetup prepares the servers of `make bench-dns`: a signed
// snapshot of the site with every node up, cached where the meridian
// plugin loads it at start (so the benchmark measures answering, not
// syncing), the zone the file plugin serves with the same record, the
// three Corefiles, and the dnsperf query files in its binary input format
// (-B): one without ECS and one with many client subnets.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/geoip"
)

func main() {
	site := flag.String("site", "plugin/meridian/bench/site.yaml", "site file")
	out := flag.String("out", "", "directory to write into")
	city := flag.String("geoip", "", "GeoIP City database (.mmdb) the meridian server reads")
	port := flag.Int("port", 1153, "first port; the three servers use port, port+1, port+2")
	subnets := flag.Int("subnets", 10000, "client subnets of the ECS query file")
	seed := flag.Uint64("seed", 1, "seed of the client subnets")
	synth := flag.Int("synthetic", 0, "write a synthetic City database of about this many networks to -geoip first")
	flag.Parse()
	if *synth > 0 && *city != "" {
		if err := writeSyntheticCity(*city, *synth, *seed); err != nil {
			fmt.Fprintln(os.Stderr, "benchsetup:", err)
			os.Exit(1)
		}
	}
	if err := run(*site, *out, *city, *port, *subnets, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "benchsetup:", err)
		os.Exit(1)
	}
}

func run(siteFile, out, city string, port, subnets int, seed uint64) error {
	if out == "" || city == "" {
		return fmt.Errorf("-out and -geoip are required")
	}
	city, err := filepath.Abs(city)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(siteFile)
	if err != nil {
		return err
	}
	s, err := cluster.Parse(siteFile, data)
	if err != nil {
		return err
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

	db, err := geoip.Open(city)
	if err != nil {
		return err
	}
	defer db.Close()
	eng := cluster.NewEngine(snap, db)

	// The file plugin's zone: the answer meridian gives a query without
	// ECS from the benchmark's source address, same name, same TTL.
	var d cluster.Decision
	src := netip.MustParseAddr("127.0.0.1")
	eng.Select(cluster.Query{Client: src, SourceBits: 32, Now: time.Now()}, &d)
	if d.N == 0 {
		return fmt.Errorf("the engine chose no node for %s", src)
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
`, s.Zone, port, filepath.Join(out, "psk"), filepath.Join(out, "cache"), city, s.Name),
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

	// Query files. Every query asks A for the traffic hostname with EDNS
	// (a 1232-byte buffer, as resolvers send); the ECS file adds a
	// different client subnet to each query.
	qname := dns.Fqdn(s.TrafficHostname)
	if err := writeQueries(filepath.Join(out, "queries.noecs"), []*dns.Msg{query(qname, nil)}); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x6d657269))
	located := 0
	var qs []*dns.Msg
	for range subnets {
		p := clientSubnet(rng)
		if l, ok := db.Locate(p.Addr()); ok && l.Network.IsValid() {
			located++
		}
		qs = append(qs, query(qname, &p))
	}
	if err := writeQueries(filepath.Join(out, "queries.ecs"), qs); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "benchsetup: %d client subnets, %d located by the GeoIP database\n", subnets, located)
	fmt.Printf("%s %s %s\n", qname, d.Nodes[0].Name, d.Nodes[0].IPv4)
	return nil
}

// clientSubnet returns a random client network as resolvers send it: an
// IPv4 /24 of the unicast space (nine in ten) or an IPv6 /56 of the
// allocated 2000::/4 space.
func clientSubnet(rng *rand.Rand) netip.Prefix {
	if rng.IntN(10) > 0 {
		for {
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], rng.Uint32())
			a := netip.AddrFrom4(b)
			if b[0] == 0 || b[0] == 10 || b[0] == 127 || b[0] >= 224 || a.IsPrivate() {
				continue
			}
			return netip.PrefixFrom(a, 24).Masked()
		}
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], 0x2000_0000_0000_0000|rng.Uint64()>>4)
	return netip.PrefixFrom(netip.AddrFrom16(b), 56).Masked()
}

// query returns an A query for name with EDNS, and an ECS option for
// subnet when it is not nil.
func query(name string, subnet *netip.Prefix) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	m.RecursionDesired = false
	o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	o.SetUDPSize(1232)
	if subnet != nil {
		e := &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, SourceNetmask: uint8(subnet.Bits()), Address: net.IP(subnet.Addr().AsSlice())}
		e.Family = 1
		if subnet.Addr().Is6() {
			e.Family = 2
		}
		o.Option = append(o.Option, e)
	}
	m.Extra = append(m.Extra, o)
	return m
}

// writeQueries writes messages in dnsperf's binary input format: each one
// preceded by its length, as on a DNS TCP stream.
func writeQueries(path string, qs []*dns.Msg) error {
	var buf []byte
	for _, q := range qs {
		b, err := q.Pack()
		if err != nil {
			return err
		}
		buf = binary.BigEndian.AppendUint16(buf, uint16(len(b)))
		buf = append(buf, b...)
	}
	return os.WriteFile(path, buf, 0o600)
}
