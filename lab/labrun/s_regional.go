package labrun

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/meridian-traffic/meridian/cluster"
)

// regional is scenario 1: every client, by its own source address and by
// EDNS Client Subnet, gets a node of the expected region under geo and
// timezone, and a node's prefixes override the method; in both families
// (A over IPv4 with IPv4 subnets, AAAA over IPv6 with IPv6 subnets).
func (e *Env) regional(ctx context.Context, r *Result) {
	check := func(method cluster.Method) {
		for _, f := range families {
			if e.dnsServer(f) == "" {
				r.ffig(f, "skipped", "the DNS server has no %s address", f)
				continue
			}
			for _, c := range e.clients {
				e.regionalClient(ctx, r, method, f, c.Name, region(c))
			}
		}
	}
	check(e.site.Selection.Method)

	// Prefix overrides, asked from a client of another region.
	for _, f := range families {
		if e.dnsServer(f) == "" {
			continue
		}
		var got []string
		for _, sn := range e.site.Nodes {
			for _, p := range sn.Prefixes {
				if famOf(p.String()) != f {
					continue
				}
				for _, c := range e.clients {
					if region(c) == sn.Region {
						continue
					}
					n, err := e.resolveFam(ctx, c.Name, f, p.String())
					switch {
					case err != nil:
						r.fail("%s prefix %s from %s: %v", f, p, c.Name, err)
					case n.Name != sn.Name:
						r.fail("%s prefix %s of %s from %s got %s", f, p, sn.Name, c.Name, n.Name)
					default:
						got = append(got, fmt.Sprintf("%s@%s=%s", p, c.Name, n.Name))
					}
				}
			}
		}
		if len(got) == 0 {
			r.fail("%s: no node has a prefix override of the family", f)
		}
		r.ffig(f, "prefix overrides", "%s", strings.Join(got, " "))
	}

	if e.site.Selection.Method != cluster.MethodTimezone {
		if err := e.applySite(ctx, cluster.MethodTimezone); err != nil {
			r.fail("apply timezone: %v", err)
			return
		}
		check(cluster.MethodTimezone)
		if err := e.applySite(ctx, e.site.Selection.Method); err != nil {
			r.fail("restore %s: %v", e.site.Selection.Method, err)
		}
	}
}

// regionalClient checks one client's answers in family f under method:
// by its own source address, and with every located network of f as ECS
// (from every client, so that the other region's client proves the
// subnet wins over the source). For an IPv6 network its /56 hashing
// bucket is asked too, by two /64s inside it: they must get the same node.
func (e *Env) regionalClient(ctx context.Context, r *Result, method cluster.Method, f fam, client, reg string) {
	n, err := e.resolveFam(ctx, client, f, "")
	switch {
	case err != nil:
		r.fail("%s %s %s: %v", f, method, client, err)
	case n.Region != reg:
		r.fail("%s %s: %s (region %s) got %s (region %s)", f, method, client, reg, n.Name, n.Region)
	default:
		r.ffig(f, fmt.Sprintf("%s %s", method, client), "%s (%s)", n.Name, nodeAddr(n, f))
	}
	var got, buckets []string
	for _, g := range e.geo {
		if famOf(g.Network) != f {
			continue
		}
		n, err := e.resolveFam(ctx, client, f, g.Network)
		switch {
		case err != nil:
			r.fail("%s %s %s ecs %s: %v", f, method, client, g.Network, err)
			continue
		case n.Region != g.Region:
			r.fail("%s %s: %s ecs %s (region %s) got %s", f, method, client, g.Network, g.Region, n.Name)
			continue
		}
		got = append(got, g.Network+"="+n.Name)
		if pr, err := netip.ParsePrefix(g.Network); err != nil || !pr.Addr().Is6() || pr.Bits() > 56 {
			continue
		}
		subs, err := bucketSubnets(g.Network)
		if err != nil {
			r.fail("%s: %v", g.Network, err)
			continue
		}
		same := true
		for _, s := range subs {
			m, err := e.resolveFam(ctx, client, f, s)
			if err != nil || m.Name != n.Name {
				same = false
				r.fail("%s %s: %s ecs %s (in %s's /56) got %v, %v; want %s", f, method, client, s, g.Network, m, err, n.Name)
			}
		}
		if same {
			buckets = append(buckets, strings.Join(subs, ",")+"="+n.Name)
		}
	}
	r.ffig(f, fmt.Sprintf("%s %s ecs", method, client), "%s", strings.Join(got, " "))
	if len(buckets) > 0 {
		r.ffig(f, fmt.Sprintf("%s %s ecs /56 bucket", method, client), "%s", strings.Join(buckets, " "))
	}
}

// bucketSubnets returns two /64s inside the first /56 of IPv6 network p.
func bucketSubnets(p string) ([]string, error) {
	pr, err := netip.ParsePrefix(p)
	if err != nil || !pr.Addr().Is6() || pr.Bits() > 56 {
		return nil, fmt.Errorf("%s: not an IPv6 network of /56 or shorter", p)
	}
	b := pr.Masked().Addr().As16()
	var out []string
	for _, sub := range []byte{0x01, 0xfe} {
		b[7] = sub
		out = append(out, netip.PrefixFrom(netip.AddrFrom16(b), 64).String())
	}
	return out, nil
}
