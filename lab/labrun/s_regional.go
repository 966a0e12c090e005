package labrun

import (
	"context"
	"fmt"
	"strings"

	"github.com/meridian-traffic/meridian/cluster"
)

// regional is scenario 1: every client, by its own source address and by
// EDNS Client Subnet, gets a node of the expected region under geo and
// timezone, and a node's prefixes override the method.
func (e *Env) regional(ctx context.Context, r *Result) {
	check := func(method cluster.Method) {
		for _, c := range e.clients {
			// By source address.
			n, err := e.resolve(ctx, c.Name, "")
			switch {
			case err != nil:
				r.fail("%s %s: %v", method, c.Name, err)
			case n.Region != region(c):
				r.fail("%s: %s (region %s) got %s (region %s)", method, c.Name, region(c), n.Name, n.Region)
			default:
				r.figure(fmt.Sprintf("%s %s", method, c.Name), "%s", n.Name)
			}
			// By ECS: every located network, from every client, so that
			// the other region's client proves the subnet wins over the
			// source.
			var got []string
			for _, g := range e.geo {
				n, err := e.resolve(ctx, c.Name, g.Network)
				switch {
				case err != nil:
					r.fail("%s %s ecs %s: %v", method, c.Name, g.Network, err)
				case n.Region != g.Region:
					r.fail("%s: %s ecs %s (region %s) got %s", method, c.Name, g.Network, g.Region, n.Name)
				default:
					got = append(got, g.Network+"="+n.Name)
				}
			}
			r.figure(fmt.Sprintf("%s %s ecs", method, c.Name), "%s", strings.Join(got, " "))
		}
	}
	check(e.site.Selection.Method)

	// Prefix overrides, asked from a client of another region.
	var got []string
	for _, sn := range e.site.Nodes {
		for _, p := range sn.Prefixes {
			for _, c := range e.clients {
				if region(c) == sn.Region {
					continue
				}
				n, err := e.resolve(ctx, c.Name, p.String())
				switch {
				case err != nil:
					r.fail("prefix %s from %s: %v", p, c.Name, err)
				case n.Name != sn.Name:
					r.fail("prefix %s of %s from %s got %s", p, sn.Name, c.Name, n.Name)
				default:
					got = append(got, fmt.Sprintf("%s@%s=%s", p, c.Name, n.Name))
				}
			}
		}
	}
	r.figure("prefix overrides", "%s", strings.Join(got, " "))

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
