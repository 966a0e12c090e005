package labrun

import (
	"context"
	"fmt"
	"time"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/lab/topo"
)

// failWait bounds every wait of the failure scenarios.
const failWait = 30 * time.Second

// firstClient returns the first client and the node DNS gives it.
func (e *Env) firstClient(ctx context.Context) (*topo.Node, *cluster.Node, error) {
	c := e.clients[0]
	n, err := e.resolve(ctx, c.Name, "")
	if err != nil {
		return nil, nil, err
	}
	return c, n, nil
}

// nodeFailure is scenario 3: kill the agent of the node DNS gives the
// first client and time, in each family, (a) until DNS stops answering
// it and (b) until its router drops its anycast path and the client
// reaches another node on the anycast address; repeated, median and max.
func (e *Env) nodeFailure(ctx context.Context, r *Result) {
	c, target, err := e.firstClient(ctx)
	if err != nil {
		r.fail("%v", err)
		return
	}
	if target.Region != region(c) {
		r.fail("%s (region %s) is answered %s", c.Name, region(c), target.Name)
		return
	}
	tn := e.topoNode(target.Name)
	bgp := e.bgpUp(ctx)
	dnsT, routeT, reachT := map[fam][]time.Duration{}, map[fam][]time.Duration{}, map[fam][]time.Duration{}
	fams := e.targetFams(target)
	for i := range e.cfg.Runs {
		if ctx.Err() != nil {
			return
		}
		dws := map[fam]*watcher{}
		for _, f := range fams {
			dw, err := e.startWatch(ctx, c.Name, "watch-dns", e.dnsServer(f), e.site.TrafficHostname, "-", nodeAddr(target, f), "gone", failWait.String())
			if err != nil {
				r.fail("run %d: %v", i, err)
				return
			}
			dws[f] = dw
		}
		aws := map[fam]*watcher{}
		if bgp {
			for _, f := range e.bgpFams() {
				// The client must reach the node on the anycast address
				// first, or reaching another one after the kill proves
				// nothing.
				url := nodeInfoURL(e.anycastAddr(f))
				if _, err := e.probe(ctx, c.Name, "watch-node", url, target.Name, "is", failWait.String()); err != nil {
					r.fail("run %d: %s does not reach %s on %s: %v", i, c.Name, target.Name, e.anycastAddr(f), err)
					return
				}
				aw, err := e.startWatch(ctx, c.Name, "watch-node", url, target.Name, "not", failWait.String())
				if err != nil {
					r.fail("run %d: %v", i, err)
					return
				}
				aws[f] = aw
			}
		}
		killed := time.Now()
		e.kill(tn)
		if bgp {
			gone := map[fam]time.Duration{}
			err := waitFor(ctx, failWait, func() bool {
				for _, f := range e.bgpFams() {
					if _, ok := gone[f]; !ok && !e.hasPath(target.Region, nodeAddr(target, f)) {
						gone[f] = time.Since(killed)
					}
				}
				return len(gone) == len(e.bgpFams())
			})
			for _, f := range e.bgpFams() {
				if d, ok := gone[f]; ok {
					routeT[f] = append(routeT[f], d)
				} else {
					r.fail("run %d: router of %s kept the %s path from %s: %v", i, target.Region, f, target.Name, err)
				}
				if at, err := aws[f].wait(); err != nil {
					r.fail("run %d: %s anycast: %v", i, f, err)
				} else {
					reachT[f] = append(reachT[f], at.Sub(killed))
				}
			}
		}
		for _, f := range fams {
			if dt, err := dws[f].wait(); err != nil {
				r.fail("run %d: DNS kept answering %s over %s: %v", i, target.Name, f, err)
			} else {
				dnsT[f] = append(dnsT[f], dt.Sub(killed))
			}
		}
		if err := e.recover(ctx, c.Name, tn, target); err != nil {
			r.fail("run %d: %v", i, err)
			return
		}
	}
	r.figure("killed", "agent of %s (DNS answer of %s)", target.Name, c.Name)
	for _, f := range fams {
		r.ffig(f, "a DNS stops answering", "%s", fmtStats(dnsT[f]))
		if len(dnsT[f]) == 0 {
			r.fail("no %s DNS failover measured", f)
		}
	}
	for _, f := range e.bgpFams() {
		if bgp {
			r.ffig(f, "b router drops the node's path", "%s", fmtStats(routeT[f]))
			r.ffig(f, "b client reaches other node", "%s", fmtStats(reachT[f]))
		} else {
			r.ffig(f, "b anycast", "not measured: %s", e.noBGP())
		}
	}
}

// targetFams are the families in which DNS can answer node n: those of
// its addresses that the DNS server also serves.
func (e *Env) targetFams(n *cluster.Node) []fam {
	var fs []fam
	for _, f := range families {
		if nodeAddr(n, f) != "" && e.dnsServer(f) != "" {
			fs = append(fs, f)
		}
	}
	return fs
}

// recover restarts node tn's agent and waits until it serves, DNS answers
// it again to client and, with BGP, its router routes through it again.
func (e *Env) recover(ctx context.Context, client string, tn *topo.Node, n *cluster.Node) error {
	if err := e.restart(tn); err != nil {
		return err
	}
	if err := e.waitHTTP(ctx, tn.Name, "http://127.0.0.1:7801/healthz", failWait); err != nil {
		return fmt.Errorf("%s did not come back: %w", n.Name, err)
	}
	if err := e.waitAllUp(ctx); err != nil {
		return err
	}
	return e.nodeBack(ctx, client, n)
}

// nodeBack waits until DNS answers node n to client again in every family
// and, with BGP, its router holds its paths of every family again.
func (e *Env) nodeBack(ctx context.Context, client string, n *cluster.Node) error {
	for _, f := range e.targetFams(n) {
		w, err := e.startWatch(ctx, client, "watch-dns", e.dnsServer(f), e.site.TrafficHostname, "-", nodeAddr(n, f), "back", failWait.String())
		if err != nil {
			return err
		}
		if _, err := w.wait(); err != nil {
			return fmt.Errorf("DNS did not answer %s again over %s: %w", n.Name, f, err)
		}
	}
	if e.bgpUp(ctx) {
		for _, f := range e.bgpFams() {
			if err := waitFor(ctx, failWait, func() bool { return e.hasPath(n.Region, nodeAddr(n, f)) }); err != nil {
				return fmt.Errorf("%s path from %s not back: %w", f, n.Name, err)
			}
		}
	}
	return nil
}
