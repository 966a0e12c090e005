package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/api/client"
	"github.com/meridian-traffic/meridian/geoip"
)

// table writes aligned columns; rows are tab-separated.
func table(out io.Writer, header string, rows []string) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, r)
	}
	if len(rows) == 0 {
		fmt.Fprintln(tw, "(none)")
	}
	return tw.Flush()
}

// ago shows a past time as an age ("3s ago"), "-" for none.
func ago(t time.Time, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return t.UTC().Format("2006-01-02")
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func prefixes(ps []netip.Prefix) string {
	if len(ps) == 0 {
		return "-"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func ctlStatus(ctx context.Context, c *ctlRun, args []string) error {
	if err := wantArgs(args, 0, ""); err != nil {
		return err
	}
	st, show, err := call(ctx, c, (*client.Admin).Status)
	if !show {
		return err
	}
	now := time.Now()
	fmt.Fprintf(c.out, "site      %s\nversion   %d (config %d)\ndirector  %s (leader %s)\n\n",
		st.Site, st.Version, st.ConfigVersion, dash(st.Director), dash(st.Leader))
	rows := make([]string, 0, len(st.Masters))
	for _, m := range st.Masters {
		rows = append(rows, fmt.Sprintf("%s\t%s\t%s\t%s", m.Name, m.Health, ago(m.Since, now), dash(m.Reason)))
	}
	if err := table(c.out, "MASTER\tHEALTH\tSINCE\tREASON", rows); err != nil {
		return err
	}
	fmt.Fprintln(c.out)
	if err := nodesTable(c.out, st.Nodes, now); err != nil {
		return err
	}
	fmt.Fprintln(c.out)
	if err := subscribersTable(c.out, st.Subscribers, st.Version, now); err != nil {
		return err
	}
	geoipWarnings(c.out, st)
	if len(st.Refused) == 0 {
		return nil
	}
	fmt.Fprintln(c.out)
	return refusedTable(c.out, st.Refused, now)
}

// refusedTable lists the subscribers the director refused, by the id and
// kind their requests claim.
func refusedTable(out io.Writer, rs []api.RefusedSubscriber, now time.Time) error {
	rows := make([]string, 0, len(rs))
	for _, r := range rs {
		rows = append(rows, fmt.Sprintf("%s\t%s\t%s\t%s\t%d\t%s",
			dash(r.ID), dash(r.Kind), dash(r.Address), refusedReason(r.Reason), r.Count, ago(r.LastSeen, now)))
	}
	return table(out, "REFUSED SUBSCRIBER\tKIND\tADDRESS\tREASON\tCOUNT\tLAST SEEN", rows)
}

// refusedReason spells out the director's refusal reasons.
func refusedReason(r string) string {
	switch r {
	case "mac":
		return "mac (wrong pre-shared key)"
	case "clock":
		return "clock (more than 30s off)"
	case "replay":
		return "replay (nonce used twice)"
	case "missing":
		return "missing (no signature)"
	}
	return dash(r)
}

// geoipWarnings warns of DNS servers whose GeoIP database differs from the
// director's: explain (which reads the director's) would name another node
// than their answers for some clients.
func geoipWarnings(out io.Writer, st *api.Status) {
	for _, s := range st.Subscribers {
		if s.Kind != api.KindDNS || s.GeoIP == st.GeoIP {
			continue
		}
		fmt.Fprintf(out, "\nwarning: %s uses GeoIP %s, the director %s uses %s: ctl explain can name another node than its DNS answers",
			s.ID, geoip.DescribeBuild(s.GeoIP), dash(st.Director), geoip.DescribeBuild(st.GeoIP))
		if st.GeoIP == "" {
			fmt.Fprint(out, " (start the director with --geoip FILE, the DNS servers' database)")
		}
		fmt.Fprintln(out)
	}
}

func ctlNodes(ctx context.Context, c *ctlRun, args []string) error {
	if err := wantArgs(args, 0, ""); err != nil {
		return err
	}
	ns, show, err := call(ctx, c, (*client.Admin).Nodes)
	if !show {
		return err
	}
	return nodesTable(c.out, ns, time.Now())
}

func nodesTable(out io.Writer, ns []api.NodeStatus, now time.Time) error {
	rows := make([]string, 0, len(ns))
	for _, n := range ns {
		state := string(n.Health)
		if n.Drained {
			state += ",drained"
		}
		if n.Withdrawn != "" {
			state += ",withdrawn"
		}
		version, load, clients := "-", "-", "-"
		if hb := n.Heartbeat; hb != nil {
			version = fmt.Sprint(hb.Version)
			load = fmt.Sprintf("%.2f", hb.Load)
			clients = fmt.Sprint(hb.Clients)
		}
		rows = append(rows, fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s",
			n.Name, dash(n.Region), state, yesNo(n.Accepting), yesNo(n.Secondary),
			version, load, clients, ago(n.LastHeartbeat, now), prefixes(n.Announcing), dash(n.Reason)))
	}
	return table(out, "NODE\tREGION\tSTATE\tACCEPTING\tSECONDARY\tVERSION\tLOAD\tCLIENTS\tHEARTBEAT\tANNOUNCING\tREASON", rows)
}

func plural(n uint64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func subscribersTable(out io.Writer, subs []api.Subscriber, current uint64, now time.Time) error {
	rows := make([]string, 0, len(subs))
	for _, s := range subs {
		state := "in sync"
		if s.Lagging {
			state = "lagging"
			if n := s.Behind; n > 0 {
				state = fmt.Sprintf("lagging (%d %s behind)", n, plural(n, "version", "versions"))
			}
		} else if s.Version < current {
			state = "syncing"
		}
		rows = append(rows, fmt.Sprintf("%s\t%s\t%d\t%s\t%s", s.ID, s.Kind, s.Version, ago(s.LastSeen, now), state))
	}
	return table(out, "SUBSCRIBER\tKIND\tVERSION\tLAST SEEN\tSTATE", rows)
}

func ctlHistory(ctx context.Context, c *ctlRun, args []string) error {
	if err := wantArgs(args, 0, ""); err != nil {
		return err
	}
	hs, show, err := call(ctx, c, (*client.Admin).History)
	if !show {
		return err
	}
	if c.diff {
		for _, h := range hs {
			fmt.Fprintf(c.out, "version %d  %s  %s  %s\n%s\n", h.Version, stamp(h.Time), dash(h.Author), dash(h.Comment), h.Diff)
		}
		return nil
	}
	rows := make([]string, 0, len(hs))
	for _, h := range hs {
		rows = append(rows, fmt.Sprintf("%d\t%s\t%s\t%s", h.Version, stamp(h.Time), dash(h.Author), dash(h.Comment)))
	}
	return table(c.out, "VERSION\tTIME\tAUTHOR\tCOMMENT", rows)
}

func ctlSync(ctx context.Context, c *ctlRun, args []string) error {
	if err := wantArgs(args, 0, ""); err != nil {
		return err
	}
	if c.hist {
		evs, show, err := call(ctx, c, (*client.Admin).SyncHistory)
		if !show {
			return err
		}
		return eventsTable(c.out, evs)
	}
	if c.wait <= 0 {
		return fmt.Errorf("--wait %s: want a positive duration", c.wait)
	}
	rep, show, err := call(ctx, c, func(a *client.Admin, ctx context.Context) (*api.SyncReport, error) {
		return a.SyncNow(ctx, c.wait)
	})
	if !show {
		return err
	}
	fmt.Fprintf(c.out, "sync of version %d\n\n", rep.Version)
	if err := eventsTable(c.out, rep.Events); err != nil {
		return err
	}
	if len(rep.Lagging) > 0 {
		fmt.Fprintln(c.out)
		return subscribersTable(c.out, rep.Lagging, rep.Version, time.Now())
	}
	return nil
}

func eventsTable(out io.Writer, evs []api.SyncEvent) error {
	rows := make([]string, 0, len(evs))
	for _, e := range evs {
		dur := "-"
		if e.Duration > 0 {
			dur = e.Duration.D().Round(time.Millisecond).String()
		}
		rows = append(rows, fmt.Sprintf("%s\t%s\t%s\t%d\t%s\t%s", stamp(e.Time), e.Subscriber, e.Event, e.Version, dur, dash(e.Reason)))
	}
	return table(out, "TIME\tSUBSCRIBER\tEVENT\tVERSION\tDURATION\tREASON", rows)
}

func ctlAudit(ctx context.Context, c *ctlRun, args []string) error {
	if err := wantArgs(args, 0, ""); err != nil {
		return err
	}
	if c.limit <= 0 {
		return fmt.Errorf("--limit %d: want a positive number", c.limit)
	}
	es, show, err := call(ctx, c, func(a *client.Admin, ctx context.Context) ([]api.AuditEntry, error) { return a.Audit(ctx, c.limit) })
	if !show {
		return err
	}
	return auditTable(c.out, es)
}

func auditTable(out io.Writer, es []api.AuditEntry) error {
	rows := make([]string, 0, len(es))
	for _, e := range es {
		version := "-"
		if e.Version > 0 {
			version = fmt.Sprint(e.Version)
		}
		rows = append(rows, fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s",
			stamp(e.Time), dash(e.Who), e.Action, dash(e.Target), version, dash(e.Result), dash(e.Reason)))
	}
	return table(out, "TIME\tWHO\tACTION\tTARGET\tVERSION\tRESULT\tREASON", rows)
}

func ctlWhoAmI(ctx context.Context, c *ctlRun, args []string) error {
	if err := wantArgs(args, 0, ""); err != nil {
		return err
	}
	who, show, err := call(ctx, c, (*client.Admin).WhoAmI)
	if !show {
		return err
	}
	_, err = fmt.Fprintln(c.out, who.Name)
	return err
}
