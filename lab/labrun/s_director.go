package labrun

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/lab/topo"
)

// masterFailover is scenario 5: the director that is the site's primary
// master stops abruptly, as a crash would, N times while it leads and N
// times while another director leads. Each time the support hostname
// must answer the backup master's address, in each family, within
// failoverBound of the kill. After the last kill the surviving
// directors, reached through the backup, must keep the control plane: a
// drain made through it reaches DNS and every node, and the session
// broker keeps granting sessions. The primary is restarted afterwards.
func (e *Env) masterFailover(ctx context.Context, r *Result) {
	m := e.site.Masters
	if m.Backup == nil || len(e.directors) < 3 {
		r.Status, r.Detail = Skip, "needs three directors and a backup master in the site file"
		return
	}
	primary, backup := e.directorOf(m.Primary), e.directorOf(*m.Backup)
	if primary == nil || backup == nil {
		r.fail("masters %s and %s are not both directors of the topology", m.Primary.Internal, m.Backup.Internal)
		return
	}
	c := e.clients[0]
	if !e.failoverRuns(ctx, r, c, primary) {
		return
	}
	// The last run left the primary down.
	defer func() {
		if err := e.startDirectors(ctx, primary); err != nil {
			r.fail("restart %s: %v", primary.Name, err)
		}
	}()
	// The killed primary's election key names it until its lease expires.
	var l string
	if err := waitFor(ctx, failWait, func() bool { l = e.leader(ctx, backup); return l != "" && l != m.Primary.Name }); err != nil {
		r.fail("no new leader among the surviving directors (status says %q)", l)
	} else {
		r.figure("leader after", "%s", l)
	}

	// Sync continues: a drain through the backup reaches DNS and the nodes.
	target, err := e.resolve(ctx, c.Name, "")
	if err != nil {
		r.fail("DNS after the stop: %v", err)
		return
	}
	dw, err := e.startWatch(ctx, c.Name, "watch-dns", e.dnsAddr, e.site.TrafficHostname, "-", target.IPv4.String(), "gone", failWait.String())
	if err != nil {
		r.fail("%v", err)
		return
	}
	changed := time.Now()
	out, err := e.ctlVia(ctx, backup, "--json", "drain", target.Name)
	var res api.ChangeResult
	if err == nil {
		err = json.Unmarshal([]byte(out), &res)
	}
	if err != nil {
		_ = dw.cmd.Process.Kill()
		_, _ = dw.rest()
		r.fail("drain through %s: %v", backup.Name, err)
		return
	}
	if at, err := dw.wait(); err != nil {
		r.fail("DNS kept answering %s after its drain through %s: %v", target.Name, backup.Name, err)
	} else {
		r.figure("drain through backup -> DNS", "%s stops being answered after %s", target.Name, at.Sub(changed).Round(time.Millisecond))
	}
	if took, follow, err := e.nodesHold(ctx, res.Version, changed); err != nil {
		r.fail("drain through %s (snapshot %d): %v", backup.Name, res.Version, err)
	} else {
		r.figure("drain through backup -> every node", "snapshot %d on %d/%d nodes within %s; nodes follow %s",
			res.Version, len(e.nodes), len(e.nodes), took.Round(time.Millisecond), follow)
	}
	if _, err := e.ctlVia(ctx, backup, "undrain", target.Name); err != nil {
		r.fail("undrain through %s: %v", backup.Name, err)
	} else {
		w, err := e.startWatch(ctx, c.Name, "watch-dns", e.dnsAddr, e.site.TrafficHostname, "-", target.IPv4.String(), "back", failWait.String())
		if err == nil {
			_, err = w.wait()
		}
		if err != nil {
			r.fail("DNS did not answer %s after its undrain: %v", target.Name, err)
		}
	}

	// Sessions continue through the backup.
	if g, err := e.sessionCallAt(ctx, e.directorURLs[backup.Name], c, api.PathSessions, "{}"); err != nil {
		r.fail("POST %s through %s: %v", api.PathSessions, backup.Name, err)
	} else if e.homeIn(r, "customer", c, g.Home) {
		r.figure("session through backup", "%s -> home %s", c.Name, g.Home.Node)
	}
	if e.bgpUp(ctx) {
		if err := waitFor(ctx, failWait, func() bool { return e.hasPath(target.Region, target.IPv4.String()) }); err != nil {
			r.fail("path from %s not back after undrain", target.Name)
		}
	}
}

// directorOf returns the topology's director serving master m's API.
func (e *Env) directorOf(m cluster.Master) *topo.Node {
	for _, d := range e.directors {
		if e.directorURLs[d.Name] == "http://"+m.Internal {
			return d
		}
	}
	return nil
}

// leader asks director d which director leads; "" when it cannot tell.
func (e *Env) leader(ctx context.Context, d *topo.Node) string {
	var st api.Status
	err := waitFor(ctx, failWait, func() bool {
		out, err := e.ctlVia(ctx, d, "--json", "status")
		return err == nil && json.Unmarshal([]byte(out), &st) == nil && st.Leader != ""
	})
	if err != nil {
		return ""
	}
	return st.Leader
}

// nodesHold waits until every node agent holds snapshot version v and
// returns how long after since that was seen and which directors the
// agents follow.
func (e *Env) nodesHold(ctx context.Context, v uint64, since time.Time) (time.Duration, string, error) {
	follow := map[string]string{}
	var last string
	err := waitFor(ctx, failWait, func() bool {
		for _, n := range e.nodes {
			if _, ok := follow[n.Name]; ok {
				continue
			}
			out, err := e.probe(ctx, n.Name, "http", "http://127.0.0.1:7801/v1/node")
			if err != nil {
				last = n.Name + ": " + err.Error()
				return false
			}
			var info struct {
				Version  uint64 `json:"version"`
				Director string `json:"director"`
			}
			_, body, _ := strings.Cut(strings.TrimSpace(out), " ")
			if err := json.Unmarshal([]byte(body), &info); err != nil {
				last = n.Name + ": " + err.Error()
				return false
			}
			if info.Version < v {
				last = fmt.Sprintf("%s holds %d", n.Name, info.Version)
				return false
			}
			follow[n.Name] = strings.TrimPrefix(info.Director, "http://")
		}
		return true
	})
	if err != nil {
		return 0, "", fmt.Errorf("%s: %w", last, err)
	}
	took := time.Since(since)
	var fs []string
	for _, n := range e.nodes {
		fs = append(fs, follow[n.Name])
	}
	slices.Sort(fs)
	return took, strings.Join(slices.Compact(fs), " "), nil
}

// directorDown is scenario 6: with every director stopped, DNS, nodes,
// relays and BGP keep serving from their last-known-good snapshot, also
// after CoreDNS restarts.
func (e *Env) directorDown(ctx context.Context, r *Result) {
	e.stopDirectors(e.directors...)
	defer func() {
		if err := e.startDirectors(ctx, e.directors...); err != nil {
			r.fail("directors did not come back: %v", err)
		}
	}()
	r.figure("stopped", "%d/%d directors", len(e.directors), len(e.directors))
	// Give every subscriber time to notice: serving must not depend on a
	// director that was up a moment ago.
	time.Sleep(2 * time.Second)
	check := func(stage string) {
		for _, f := range families {
			if e.dnsServer(f) == "" {
				continue
			}
			ok := 0
			for _, c := range e.clients {
				n, err := e.resolveFam(ctx, c.Name, f, "")
				switch {
				case err != nil:
					r.fail("%s: %s DNS for %s: %v", stage, f, c.Name, err)
				case n.Region != region(c):
					r.fail("%s: %s %s got %s", stage, f, c.Name, n.Name)
				default:
					ok++
				}
			}
			r.ffig(f, stage+" DNS", "%d/%d clients answered by their region", ok, len(e.clients))
		}
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
		for _, f := range e.bgpFams() {
			routes := 0
			for _, sn := range e.site.Nodes {
				if e.hasPath(sn.Region, nodeAddr(&sn, f)) {
					routes++
				} else {
					r.fail("%s path from %s gone without the director", f, sn.Name)
				}
			}
			r.ffig(f, "anycast routes", "%d/%d nodes announcing %s", routes, len(e.site.Nodes), e.anycastPrefix(f))
		}
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
	e.procs.Stop(e.dns.Name, syscall.SIGTERM, 10*time.Second)
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
