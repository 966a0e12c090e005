package labrun

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// bgpWait bounds the wait for the routers to learn the anycast prefixes.
const bgpWait = 30 * time.Second

// bgpFams are the families whose anycast prefix the site has.
func (e *Env) bgpFams() []fam {
	var fs []fam
	for _, f := range families {
		if e.anycastPrefix(f) != "" {
			fs = append(fs, f)
		}
	}
	return fs
}

// bgpUp reports whether every node's router holds the node's path for the
// anycast prefix of every family the node has an address of, waiting up
// to bgpWait the first time.
func (e *Env) bgpUp(ctx context.Context) bool {
	if e.bgpChecked {
		return e.bgpOK
	}
	e.bgpChecked = true
	if len(e.bgpFams()) == 0 || len(e.routers) == 0 {
		return false
	}
	err := waitFor(ctx, bgpWait, func() bool {
		for _, n := range e.site.Nodes {
			if n.BGP == nil {
				continue
			}
			for _, f := range e.bgpFams() {
				if a := nodeAddr(&n, f); a != "" && !e.hasPath(n.Region, a) {
					return false
				}
			}
		}
		return true
	})
	e.bgpOK = err == nil
	return e.bgpOK
}

// noBGP is the skip reason when the nodes do not announce the anycast
// prefixes.
func (e *Env) noBGP() string {
	var ps []string
	for _, f := range e.bgpFams() {
		ps = append(ps, e.anycastPrefix(f))
	}
	return fmt.Sprintf("the routers did not learn %s from every node within %s (node agents without BGP speaker?)", strings.Join(ps, " and "), bgpWait)
}

// anycast is scenario 2: each client reaches, on the anycast address of
// each family, a node of its own region.
func (e *Env) anycast(ctx context.Context, r *Result) {
	if !e.bgpUp(ctx) {
		r.Status, r.Detail = Skip, e.noBGP()
		return
	}
	for _, f := range e.bgpFams() {
		addr := e.anycastAddr(f)
		for _, c := range e.clients {
			// Wait until anything answers there: routes converge after setup.
			if _, err := e.probe(ctx, c.Name, "watch-node", nodeInfoURL(addr), "-", "not", "10s"); err != nil {
				r.fail("%s: anycast %s: %v", c.Name, addr, err)
				continue
			}
			name, err := e.anycastNode(ctx, c.Name, f)
			if err != nil {
				r.fail("%s: %v", c.Name, err)
				continue
			}
			n := e.site.Node(name)
			if n == nil || n.Region != region(c) {
				r.fail("%s (region %s) reached %s on %s", c.Name, region(c), name, addr)
				continue
			}
			r.ffig(f, c.Name, "%s -> %s", addr, name)
		}
	}
}

// anycastNode returns the node that answers client on the anycast address
// of family f.
func (e *Env) anycastNode(ctx context.Context, client string, f fam) (string, error) {
	out, err := e.probe(ctx, client, "http", nodeInfoURL(e.anycastAddr(f)))
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
