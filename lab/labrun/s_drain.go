package labrun

import (
	"context"
	"fmt"
	"os/exec"
	"time"

	"github.com/meridian-traffic/meridian/cluster"
)

// drain is scenario 4: drain the first client's node; DNS stops answering
// it (A and AAAA), its relay refuses new allocations, and its speaker
// marks its routes of both families with GRACEFUL_SHUTDOWN before
// withdrawing them.
func (e *Env) drain(ctx context.Context, r *Result) {
	c, target, err := e.firstClient(ctx)
	if err != nil {
		r.fail("%v", err)
		return
	}
	relayUp := e.relayListening(target)
	if relayUp {
		if _, err := e.allocateFrom(ctx, c.Name, target); err != nil {
			r.fail("no TURN allocation on %s before the drain: %v", target.Name, err)
			relayUp = false
		}
	}
	bgp := e.bgpUp(ctx)
	// An existing stream through the node must outlive the drain and the
	// withdraw that follows it.
	var sw *watcher
	if relayUp {
		if _, err := exec.LookPath("turnutils_peer"); err == nil {
			peerAddr, stop, err := e.startPeer(e.otherRegion(c))
			if err != nil {
				r.fail("%v", err)
				return
			}
			defer stop()
			u, p, err := e.turnCredential("lab-stream")
			if err == nil {
				sw, err = e.startWatch(ctx, c.Name, "turn-stream", relayAddr(target), u, p, peerAddr+":"+turnPeerPort,
					(gshutWait(target) + 3*time.Second).String())
			}
			if err != nil {
				r.fail("stream through %s before the drain: %v", target.Name, err)
			}
		}
	}
	type bgpSeen struct{ gshut, moved, gone time.Duration }
	bgpDone := make(chan map[fam]*bgpSeen, 1)

	fams := e.targetFams(target)
	dws := map[fam]*watcher{}
	for _, f := range fams {
		dw, err := e.startWatch(ctx, c.Name, "watch-dns", e.dnsServer(f), e.site.TrafficHostname, "-", nodeAddr(target, f), "gone", failWait.String())
		if err != nil {
			r.fail("%v", err)
			return
		}
		dws[f] = dw
	}
	drained := time.Now()
	if bgp {
		go func() {
			seen := map[fam]*bgpSeen{}
			for _, f := range e.bgpFams() {
				seen[f] = &bgpSeen{}
			}
			reg := target.Region
			_ = waitFor(ctx, failWait, func() bool {
				done := true
				for f, s := range seen {
					ip := nodeAddr(target, f)
					if s.gone != 0 {
						continue
					}
					if s.gshut == 0 && e.gshutPath(reg, ip) {
						s.gshut = time.Since(drained)
					}
					if s.moved == 0 && !e.hasRouteVia(reg, ip) {
						s.moved = time.Since(drained)
					}
					if !e.hasPath(reg, ip) {
						s.gone = time.Since(drained)
					} else {
						done = false
					}
				}
				return done
			})
			bgpDone <- seen
		}()
	}
	if _, err := e.ctl(ctx, "drain", target.Name); err != nil {
		r.fail("%v", err)
		return
	}
	for _, f := range fams {
		if dt, err := dws[f].wait(); err != nil {
			r.fail("DNS kept answering %s over %s: %v", target.Name, f, err)
		} else {
			r.ffig(f, "DNS stops answering", "%s", dt.Sub(drained).Round(time.Millisecond))
		}
	}
	if relayUp {
		// The relay learns of the drain from its next snapshot.
		var last error
		err := waitFor(ctx, 10*time.Second, func() bool { _, last = e.allocateFrom(ctx, c.Name, target); return last != nil })
		if err != nil {
			r.fail("%s still allocates after the drain", target.Name)
		} else {
			r.figure("new TURN allocation", "refused after %s", time.Since(drained).Round(time.Millisecond))
		}
	} else {
		r.figure("new TURN allocation", "not checked: %s", noRelay(target))
	}
	if bgp {
		seen := <-bgpDone
		for _, f := range e.bgpFams() {
			s := seen[f]
			switch {
			case s.gone == 0:
				r.fail("%s route via %s not withdrawn within %s", f, target.Name, failWait)
			case s.gshut == 0:
				r.fail("%s route via %s withdrawn after %s without GRACEFUL_SHUTDOWN seen first", f, target.Name, s.gone.Round(time.Millisecond))
			case s.gone-s.gshut < gshutWait(target)*8/10:
				r.fail("%s withdrew its %s route %s after GRACEFUL_SHUTDOWN, before its graceful_shutdown time %s", target.Name, f,
					(s.gone - s.gshut).Round(time.Millisecond), gshutWait(target))
				fallthrough
			default:
				r.ffig(f, "BGP", "GRACEFUL_SHUTDOWN after %s, router's next hop moved off it after %s, withdrawn after %s",
					s.gshut.Round(time.Millisecond), s.moved.Round(time.Millisecond), s.gone.Round(time.Millisecond))
			}
		}
	} else {
		r.figure("BGP", "not checked: %s", e.noBGP())
	}
	switch {
	case sw == nil:
		r.figure("existing stream", "not checked: no relay or no turnutils_peer")
	default:
		lines, err := sw.rest()
		var sent, got int
		if err == nil && len(lines) > 0 {
			_, err = fmt.Sscanf(lines[len(lines)-1], "sent %d received %d", &sent, &got)
		}
		switch {
		case err != nil:
			r.fail("stream through %s: %v", target.Name, err)
		case got < sent:
			r.fail("stream through %s lost %d of %d datagrams across the drain", target.Name, sent-got, sent)
		default:
			r.figure("existing stream", "%d/%d datagrams echoed through %s across drain and withdraw", got, sent, target.Name)
		}
	}
	if _, err := e.ctl(ctx, "undrain", target.Name); err != nil {
		r.fail("%v", err)
		return
	}
	if err := e.nodeBack(ctx, c.Name, target); err != nil {
		r.fail("after undrain: %v", err)
	}
}

// gshutWait is how long node n's speaker keeps GRACEFUL_SHUTDOWN before
// withdrawing.
func gshutWait(n *cluster.Node) time.Duration {
	if n.BGP == nil || n.BGP.GracefulShutdown == 0 {
		return 5 * time.Second // the documented default
	}
	return time.Duration(n.BGP.GracefulShutdown)
}
