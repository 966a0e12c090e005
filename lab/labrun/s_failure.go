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
// first client and time (a) until DNS stops answering it and (b) until its
// router drops its anycast route and the client reaches another node on
// the anycast address; repeated, median and max.
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
	var dnsT, routeT, reachT []time.Duration
	for i := range e.cfg.Runs {
		if ctx.Err() != nil {
			return
		}
		dw, err := e.startWatch(ctx, c.Name, "watch-dns", e.dnsAddr, e.site.TrafficHostname, "-", target.IPv4.String(), "gone", failWait.String())
		if err != nil {
			r.fail("run %d: %v", i, err)
			return
		}
		var aw *watcher
		if bgp {
			// The client must reach the node on the anycast address first,
			// or reaching another one after the kill proves nothing.
			if _, err := e.probe(ctx, c.Name, "watch-node", nodeInfoURL(e.anycastAddr()), target.Name, "is", failWait.String()); err != nil {
				r.fail("run %d: %s does not reach %s on %s: %v", i, c.Name, target.Name, e.anycastAddr(), err)
				return
			}
			if aw, err = e.startWatch(ctx, c.Name, "watch-node", nodeInfoURL(e.anycastAddr()), target.Name, "not", failWait.String()); err != nil {
				r.fail("run %d: %v", i, err)
				return
			}
		}
		killed := time.Now()
		e.kill(tn)
		if bgp {
			if err := waitFor(ctx, failWait, func() bool { return !e.hasPath(target.Region, target.IPv4.String()) }); err != nil {
				r.fail("run %d: router of %s kept the path from %s: %v", i, target.Region, target.Name, err)
			} else {
				routeT = append(routeT, time.Since(killed))
			}
			if at, err := aw.wait(); err != nil {
				r.fail("run %d: anycast: %v", i, err)
			} else {
				reachT = append(reachT, at.Sub(killed))
			}
		}
		if dt, err := dw.wait(); err != nil {
			r.fail("run %d: DNS kept answering %s: %v", i, target.Name, err)
		} else {
			dnsT = append(dnsT, dt.Sub(killed))
		}
		if err := e.recover(ctx, c.Name, tn, target); err != nil {
			r.fail("run %d: %v", i, err)
			return
		}
	}
	r.figure("killed", "agent of %s (DNS answer of %s)", target.Name, c.Name)
	r.figure("a DNS stops answering", "%s", fmtStats(dnsT))
	if bgp {
		r.figure("b router drops the node's path", "%s", fmtStats(routeT))
		r.figure("b client reaches other node", "%s", fmtStats(reachT))
	} else {
		r.figure("b anycast", "not measured: %s", e.noBGP())
	}
	if len(dnsT) == 0 {
		r.fail("no DNS failover measured")
	}
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
	w, err := e.startWatch(ctx, client, "watch-dns", e.dnsAddr, e.site.TrafficHostname, "-", n.IPv4.String(), "back", failWait.String())
	if err != nil {
		return err
	}
	if _, err := w.wait(); err != nil {
		return fmt.Errorf("DNS did not answer %s again: %w", n.Name, err)
	}
	if e.bgpUp(ctx) {
		if err := waitFor(ctx, failWait, func() bool { return e.hasPath(n.Region, n.IPv4.String()) }); err != nil {
			return fmt.Errorf("path from %s not back: %w", n.Name, err)
		}
	}
	return nil
}
