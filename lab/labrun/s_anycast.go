package labrun

import (
	"context"
	"fmt"
	"time"
)

// bgpWait bounds the wait for the routers to learn the anycast prefix.
const bgpWait = 30 * time.Second

// bgpUp reports whether every node's router holds the node's path for the
// anycast prefix, waiting up to bgpWait the first time.
func (e *Env) bgpUp(ctx context.Context) bool {
	if e.bgpChecked {
		return e.bgpOK
	}
	e.bgpChecked = true
	if e.anycastPrefix() == "" || len(e.routers) == 0 {
		return false
	}
	err := waitFor(ctx, bgpWait, func() bool {
		for _, n := range e.site.Nodes {
			if n.BGP != nil && !e.hasPath(n.Region, n.IPv4.String()) {
				return false
			}
		}
		return true
	})
	e.bgpOK = err == nil
	return e.bgpOK
}

// noBGP is the skip reason when no node announces the anycast prefix.
func (e *Env) noBGP() string {
	return fmt.Sprintf("the routers did not learn %s from every node within %s (node agents without BGP speaker?)", e.anycastPrefix(), bgpWait)
}

// anycast is scenario 2: each client reaches, on the anycast address, a
// node of its own region.
func (e *Env) anycast(ctx context.Context, r *Result) {
	if !e.bgpUp(ctx) {
		r.Status, r.Detail = Skip, e.noBGP()
		return
	}
	for _, c := range e.clients {
		// Wait until anything answers there: routes converge after setup.
		if _, err := e.probe(ctx, c.Name, "watch-node", nodeInfoURL(e.anycastAddr()), "-", "not", "10s"); err != nil {
			r.fail("%s: anycast %s: %v", c.Name, e.anycastAddr(), err)
			continue
		}
		name, err := e.anycastNode(ctx, c.Name)
		if err != nil {
			r.fail("%s: %v", c.Name, err)
			continue
		}
		n := e.site.Node(name)
		if n == nil || n.Region != region(c) {
			r.fail("%s (region %s) reached %s on %s", c.Name, region(c), name, e.anycastAddr())
			continue
		}
		r.figure(c.Name, "%s -> %s", e.anycastAddr(), name)
	}
}

// anycastNode returns the node that answers client on the anycast address.
func (e *Env) anycastNode(ctx context.Context, client string) (string, error) {
	out, err := e.probe(ctx, client, "http", nodeInfoURL(e.anycastAddr()))
	if err != nil {
		return "", err
	}
	var code int
	var body string
	if _, err := fmt.Sscanf(out, "%d", &code); err != nil || code != 200 {
		return "", fmt.Errorf("anycast info: %q", out)
	}
	body = out[len(fmt.Sprint(code)):]
	return jsonName(body)
}
