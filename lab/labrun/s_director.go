package labrun

import (
	"context"
	"syscall"
	"time"
)

// masterFailover is scenario 5, skipped: the lab's topology runs one
// director. A backup master needs more than a second director: two
// embedded etcd members lose their quorum when either stops, and the
// subscribers (the plugin's director, the node's --director) follow one
// director URL, so sync could not continue through the backup.
func (e *Env) masterFailover(ctx context.Context, r *Result) {
	r.Status = Skip
	r.Detail = "one director in the topology: a surviving etcd quorum needs three members, and subscribers (plugin director, node --director) take a single director URL"
}

// directorDown is scenario 6: with the director stopped, DNS, nodes,
// relays and BGP keep serving from their last-known-good snapshot, also
// after CoreDNS restarts.
func (e *Env) directorDown(ctx context.Context, r *Result) {
	e.procs.stop(e.director.Name, syscall.SIGTERM, 10*time.Second)
	defer func() {
		if err := e.startRole(e.director); err != nil {
			r.fail("restart director: %v", err)
			return
		}
		if err := e.waitHTTP(ctx, e.director.Name, e.directorURL+"/healthz", 60*time.Second); err != nil {
			r.fail("director did not come back: %v", err)
		}
	}()
	// Give every subscriber time to notice: serving must not depend on a
	// director that was up a moment ago.
	time.Sleep(2 * time.Second)
	check := func(stage string) {
		ok := 0
		for _, c := range e.clients {
			n, err := e.resolve(ctx, c.Name, "")
			switch {
			case err != nil:
				r.fail("%s: DNS for %s: %v", stage, c.Name, err)
			case n.Region != region(c):
				r.fail("%s: %s got %s", stage, c.Name, n.Name)
			default:
				ok++
			}
		}
		r.figure(stage+" DNS", "%d/%d clients answered by their region", ok, len(e.clients))
	}
	check("director down")
	serving := 0
	for _, n := range e.nodes {
		if _, err := e.probe(ctx, n.Name, "wait-http", "http://127.0.0.1:7801/healthz", "1s"); err == nil {
			serving++
		} else {
			r.fail("node %s not serving without the director: %v", n.Name, err)
		}
	}
	r.figure("nodes serving", "%d/%d", serving, len(e.nodes))
	if e.bgpUp(ctx) {
		routes := 0
		for _, sn := range e.site.Nodes {
			if e.hasPath(sn.Region, sn.IPv4.String()) {
				routes++
			} else {
				r.fail("path from %s gone without the director", sn.Name)
			}
		}
		r.figure("anycast routes", "%d/%d nodes announcing", routes, len(e.site.Nodes))
	} else {
		r.figure("anycast routes", "not checked: %s", e.noBGP())
	}
	c := e.clients[0]
	if n, err := e.resolve(ctx, c.Name, ""); err == nil {
		if !e.relayListening(n) {
			r.figure("TURN allocation", "not checked: %s", noRelay(n))
		} else if relayed, err := e.allocateFrom(ctx, c.Name, n); err != nil {
			r.fail("TURN allocation on %s without the director: %v", n.Name, err)
		} else {
			r.figure("TURN allocation", "on %s: relayed %s", n.Name, relayed)
		}
	}

	// Restart CoreDNS: it must answer from its persisted snapshot.
	e.procs.stop(e.dns.Name, syscall.SIGTERM, 10*time.Second)
	if err := e.startRole(e.dns); err != nil {
		r.fail("restart dns: %v", err)
		return
	}
	restarted := time.Now()
	err := waitFor(ctx, 20*time.Second, func() bool {
		_, err := e.resolve(ctx, c.Name, "")
		return err == nil
	})
	if err != nil {
		r.fail("restarted CoreDNS did not answer without the director: %v", err)
		return
	}
	r.figure("restarted CoreDNS answers after", "%s", time.Since(restarted).Round(time.Millisecond))
	check("after CoreDNS restart")
}
