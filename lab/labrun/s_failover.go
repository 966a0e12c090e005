package labrun

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/lab/topo"
)

// failoverBound is the longest the support hostname may take to answer
// the backup master after the primary's director is killed.
const failoverBound = 2 * time.Second

// failoverRuns kills the primary master's director (primary) cfg.Runs
// times while it leads and cfg.Runs times while it does not, timing in
// each family how long the support hostname takes to answer the backup
// master, and restarts it after each kill but the last. It reports
// whether the primary is down (the last kill happened).
func (e *Env) failoverRuns(ctx context.Context, r *Result, c, primary *topo.Node) bool {
	m := e.site.Masters
	type key struct {
		led bool
		f   fam
	}
	took := map[key][]time.Duration{}
	raft := map[bool]int{}
	for _, led := range []bool{true, false} {
		for i := range e.cfg.Runs {
			if ctx.Err() != nil {
				return false
			}
			leader, err := e.arrangeLeader(ctx, primary, led)
			if err != nil {
				r.fail("run %d (%s leading: %v): %v", i, primary.Name, led, err)
				return false
			}
			// Both masters must be stored up: with the backup down the
			// support hostname fails open to the primary.
			if err := e.mastersUp(ctx, primary); err != nil {
				r.fail("run %d: %v", i, err)
				return false
			}
			for _, f := range families {
				want := masterAddr(m.Primary, f)
				if want == "" || e.dnsServer(f) == "" {
					continue
				}
				if err := waitFor(ctx, failWait, func() bool {
					a, err := e.query(ctx, c.Name, f, e.site.SupportHostname, "")
					return err == nil && len(a) == 1 && a[0] == want
				}); err != nil {
					r.fail("run %d: before the kill %s does not answer the primary %s over %s", i, e.site.SupportHostname, want, f)
					return false
				}
			}
			raftLeader := e.raftLeader(ctx) == primary.Name
			if raftLeader {
				raft[led]++
			}
			sws := map[fam]*watcher{}
			for _, f := range families {
				a := masterAddr(*m.Backup, f)
				if a == "" || e.dnsServer(f) == "" {
					continue
				}
				sw, err := e.startWatch(ctx, c.Name, "watch-dns", e.dnsServer(f), e.site.SupportHostname, "-", a, "back", failWait.String())
				if err != nil {
					r.fail("%v", err)
					return false
				}
				sws[f] = sw
			}
			killed := time.Now()
			e.kill(primary)
			var line []string
			for _, f := range families {
				sw := sws[f]
				if sw == nil {
					continue
				}
				at, err := sw.wait()
				if err != nil {
					r.fail("run %d: %s never answered the backup %s: %v", i, e.site.SupportHostname, masterAddr(*m.Backup, f), err)
					continue
				}
				d := at.Sub(killed)
				took[key{led, f}] = append(took[key{led, f}], d)
				line = append(line, fmt.Sprintf("%s %s", f, d.Round(time.Millisecond)))
				if d > failoverBound {
					r.fail("run %d: %s answered the backup over %s %s after the kill, over the bound of %s (leader %s, etcd raft leader killed: %v)",
						i, e.site.SupportHostname, f, d.Round(time.Millisecond), failoverBound, leader, raftLeader)
				}
			}
			e.log.Info("master failover", "run", i, "leader", leader, "raft leader killed", raftLeader, "took", strings.Join(line, ", "))
			if !led && i == e.cfg.Runs-1 {
				break // the rest of the scenario runs without the primary
			}
			if err := e.startDirectors(ctx, primary); err != nil {
				r.fail("restart %s: %v", primary.Name, err)
				return false
			}
		}
	}
	r.figure("killed", "%s (master %s) with SIGKILL, %d times while it led the directors and %d times while another did; bound %s",
		primary.Name, m.Primary.Name, e.cfg.Runs, e.cfg.Runs, failoverBound)
	for _, led := range []bool{true, false} {
		what := "killed director led"
		if !led {
			what = "killed director did not lead"
		}
		r.figure("etcd raft leader killed ("+what+")", "%d of %d runs", raft[led], e.cfg.Runs)
		for _, f := range families {
			if ds := took[key{led, f}]; len(ds) > 0 {
				r.ffig(f, "support hostname -> backup ("+what+")", "%s", fmtStats(ds))
			}
		}
	}
	return true
}

// arrangeLeader makes primary lead the directors (led) or not, restarting
// directors gracefully (a stopping director resigns and campaigns again
// at the back of the queue), and returns the leader's name.
func (e *Env) arrangeLeader(ctx context.Context, primary *topo.Node, led bool) (string, error) {
	for range 2 * len(e.directors) {
		l, err := e.actualLeader(ctx)
		if err != nil {
			return "", err
		}
		if (l == primary) == led {
			return l.Labels[topo.LabelName], nil
		}
		restart := primary
		if led {
			restart = l
		}
		e.stopDirectors(restart)
		if err := e.startDirectors(ctx, restart); err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("could not make %s lead: %v", primary.Name, led)
}

// actualLeader returns the director whose checker leads now (its
// meridian_director_leader metric is 1), waiting for one. The election
// key alone can name a killed director until its lease expires.
func (e *Env) actualLeader(ctx context.Context) (*topo.Node, error) {
	var leader *topo.Node
	err := waitFor(ctx, failWait, func() bool {
		for _, d := range e.directors {
			if !e.procs.Running(d.Name) {
				continue
			}
			out, err := e.probe(ctx, d.Name, "metric", e.directorURLs[d.Name]+"/metrics", "meridian_director_leader")
			if err == nil && out == "1" {
				leader = d
				return true
			}
		}
		return false
	})
	if err != nil {
		return nil, fmt.Errorf("no director leads: %w", err)
	}
	return leader, nil
}

// mastersUp waits until a director other than skip reports every master
// up.
func (e *Env) mastersUp(ctx context.Context, skip *topo.Node) error {
	var last string
	err := waitFor(ctx, failWait, func() bool {
		for _, d := range e.directors {
			if d == skip || !e.procs.Running(d.Name) {
				continue
			}
			out, err := e.ctlVia(ctx, d, "--json", "status")
			var st api.Status
			if err != nil || json.Unmarshal([]byte(out), &st) != nil {
				last = fmt.Sprintf("status from %s: %v", d.Name, err)
				return false
			}
			for _, ms := range st.Masters {
				if ms.Health != cluster.Up {
					last = fmt.Sprintf("master %s is %s", ms.Name, ms.Health)
					return false
				}
			}
			return len(st.Masters) > 0
		}
		return false
	})
	if err != nil {
		return fmt.Errorf("masters not up: %s: %w", last, err)
	}
	return nil
}

// raftLeader names the director whose embedded etcd member leads the
// raft group ("" when it cannot tell).
func (e *Env) raftLeader(ctx context.Context) string {
	for _, d := range e.directors {
		if !e.procs.Running(d.Name) {
			continue
		}
		u, err := e.flagValue(d, "--etcd-client-url")
		if err != nil {
			return ""
		}
		out, err := e.probe(ctx, d.Name, "etcd-status", u)
		if f := strings.Fields(out); err == nil && len(f) == 2 && f[0] == f[1] {
			return d.Name
		}
	}
	return ""
}
