package console

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/cluster"
)

// callTimeout bounds the admin calls of one page; "sync now" adds its wait.
const callTimeout = 15 * time.Second

func apiContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(callContext(r), callTimeout)
}

// ---- Overview

type overviewBody struct {
	Status          *api.Status
	SupportHostname string
	SupportReason   string
	Masters         []masterRow
	Nodes           nodeCounts
	InSync, Lagging int
	LaggingSubs     []api.Subscriber
}

type masterRow struct {
	cluster.MasterState
	Role    string // primary, backup
	Address string
	Answers bool // the support hostname resolves to it
}

type nodeCounts struct {
	Total, Up, Down, Unknown, Drained, NotAccepting int
}

func (c *Console) overview(r *http.Request, s *session, p *pageData) error {
	p.Page, p.Title = "overview", "Overview"
	ctx, cancel := apiContext(r)
	defer cancel()
	a := c.admin(s)
	st, err := a.Status(ctx)
	if err != nil {
		return err
	}
	b := &overviewBody{Status: st}
	p.Body = b
	for _, n := range st.Nodes {
		b.Nodes.Total++
		switch n.Health {
		case cluster.Up:
			b.Nodes.Up++
		case cluster.Down:
			b.Nodes.Down++
		default:
			b.Nodes.Unknown++
		}
		if n.Drained {
			b.Nodes.Drained++
		}
		if !n.Accepting {
			b.Nodes.NotAccepting++
		}
	}
	for _, sub := range st.Subscribers {
		if sub.Lagging {
			b.Lagging++
			b.LaggingSubs = append(b.LaggingSubs, sub)
		} else {
			b.InSync++
		}
	}
	raw, err := a.GetConfig(ctx)
	if err != nil {
		return err
	}
	site, err := c.parsed.parse(raw)
	if err != nil {
		return fmt.Errorf("the current site file does not parse: %w", err)
	}
	b.SupportHostname = site.SupportHostname
	// The support hostname's master is the selection engine's choice on
	// the masters' states, as the DNS plugin makes it.
	cfg := *site
	cfg.Nodes = nil
	m, reason := cluster.NewEngine(&cluster.Snapshot{Config: &cfg, Masters: st.Masters}, nil).SupportMaster()
	b.SupportReason = reason
	add := func(role string, ms *cluster.Master) {
		row := masterRow{Role: role, MasterState: cluster.MasterState{Name: ms.Name, Health: cluster.Unknown}}
		for _, x := range st.Masters {
			if x.Name == ms.Name {
				row.MasterState = x
			}
		}
		if ms.IPv4.IsValid() {
			row.Address = ms.IPv4.String()
		} else if ms.IPv6.IsValid() {
			row.Address = ms.IPv6.String()
		}
		row.Answers = m != nil && m.Name == ms.Name
		b.Masters = append(b.Masters, row)
	}
	add("primary", &site.Masters.Primary)
	if site.Masters.Backup != nil {
		add("backup", site.Masters.Backup)
	}
	return nil
}

// siteCache keeps the last parsed site file: pages refresh on every
// snapshot, the site file changes far less often.
type siteCache struct {
	mu   sync.Mutex
	sum  [sha256.Size]byte
	site *cluster.Site
}

func (sc *siteCache) parse(raw []byte) (*cluster.Site, error) {
	sum := sha256.Sum256(raw)
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.site != nil && sc.sum == sum {
		return sc.site, nil
	}
	s, err := cluster.Parse("site.yaml", raw)
	if err != nil {
		return nil, err
	}
	sc.sum, sc.site = sum, s
	return s, nil
}

// ---- Node actions

// nodeActions are the changes of one node, each confirmed with a reason.
var nodeActions = map[string]struct{ Verb, Warning string }{
	"drain":    {"Drain", "New clients stop going to the node; clients on it stay."},
	"undrain":  {"Undrain", "The node accepts new clients again."},
	"remove":   {"Remove", "The node is dropped from the site file (a new config version); its agent stops serving the site and deletes its cache."},
	"withdraw": {"Withdraw anycast", "The node's speaker withdraws its anycast prefixes gracefully until resumed."},
	"resume":   {"Resume anycast", "The operator's anycast withdraw of the node ends."},
}

type confirmBody struct {
	Action, Verb, Warning string
	Target                string // the node, or "config version N"
	Path                  string // where the form posts
	Back                  string
	Hidden                map[string]string
}

func (c *Console) confirmNode(r *http.Request, s *session, p *pageData) error {
	name := r.PathValue("name")
	action := r.URL.Query().Get("action")
	act, ok := nodeActions[action]
	p.Page, p.Title = "confirm", act.Verb+" "+name
	if !ok {
		p.Title = "Unknown action"
		return httpError{http.StatusNotFound, fmt.Sprintf("no action %q for nodes", action)}
	}
	bk := r.URL.Query().Get("back")
	if !localPath(bk) {
		bk = "/nodes"
	}
	p.Body = confirmBody{
		Action: action, Verb: act.Verb, Warning: act.Warning, Target: name, Back: bk,
		Path: "/nodes/" + url.PathEscape(name) + "/" + action,
	}
	return nil
}

func (c *Console) nodeAction(w http.ResponseWriter, r *http.Request, s *session) {
	name, action := r.PathValue("name"), r.PathValue("action")
	act, ok := nodeActions[action]
	if !ok {
		http.Error(w, "no such action", http.StatusNotFound)
		return
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	bk := back(r, "/nodes")
	if reason == "" {
		s.setFlash(act.Verb + " " + name + ": not done, a reason is required.")
		http.Redirect(w, r, "/nodes/"+url.PathEscape(name)+"/confirm?"+url.Values{"action": {action}, "back": {bk}}.Encode(), http.StatusSeeOther)
		return
	}
	ctx, cancel := apiContext(r)
	defer cancel()
	ctx = withReason(ctx, reason)
	a := c.admin(s)
	var res *api.ChangeResult
	var err error
	switch action {
	case "drain":
		res, err = a.Drain(ctx, name)
	case "undrain":
		res, err = a.Undrain(ctx, name)
	case "remove":
		res, err = a.RemoveNode(ctx, name)
	case "withdraw":
		res, err = a.BGPWithdraw(ctx, name, reason)
	case "resume":
		res, err = a.BGPResume(ctx, name)
	}
	if err != nil {
		c.afterChange(w, r, s, bk, "", err)
		return
	}
	c.log.Info("console change", "operator", s.name, "action", action, "node", name, "reason", reason, "version", res.Version)
	c.afterChange(w, r, s, bk, fmt.Sprintf("%s %s: done (snapshot %d).", act.Verb, name, res.Version), nil)
}

// afterChange redirects to the page the change came from with a message.
func (c *Console) afterChange(w http.ResponseWriter, r *http.Request, s *session, to, msg string, err error) {
	if err != nil {
		msg = "Failed: " + err.Error()
	}
	s.setFlash(msg)
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// ---- Sync

type syncBody struct {
	Report  *api.SyncReport
	History []api.SyncEvent
}

func (c *Console) syncPage(r *http.Request, s *session, p *pageData) error {
	p.Page, p.Title = "sync", "Sync"
	b := &syncBody{}
	p.Body = b
	ctx, cancel := apiContext(r)
	defer cancel()
	h, err := c.admin(s).SyncHistory(ctx)
	b.History = h
	return err
}

func (c *Console) syncNow(w http.ResponseWriter, r *http.Request, s *session) {
	p := &pageData{Page: "sync", Title: "Sync", Operator: s.name, CSRF: s.csrf, Version: c.version(r.Context())}
	b := &syncBody{}
	p.Body = b
	ctx, cancel := context.WithTimeout(callContext(r), callTimeout+10*time.Second)
	defer cancel()
	a := c.admin(s)
	rep, err := a.SyncNow(ctx, 5*time.Second)
	if err != nil {
		p.Error = "Sync now failed: " + err.Error()
	} else {
		b.Report = rep
		c.log.Info("console sync now", "operator", s.name, "version", rep.Version)
	}
	if h, err := a.SyncHistory(ctx); err == nil {
		b.History = h
	} else if p.Error == "" {
		p.Error = err.Error()
	}
	c.render(w, http.StatusOK, p)
}

// ---- Clients

type clientsBody struct {
	Node    string
	Nodes   []string
	Clients *api.Clients
}

func (c *Console) clientsPage(r *http.Request, s *session, p *pageData) error {
	p.Page, p.Title = "clients", "Clients"
	b := &clientsBody{Node: r.URL.Query().Get("node")}
	p.Body = b
	ctx, cancel := apiContext(r)
	defer cancel()
	a := c.admin(s)
	all, err := a.Clients(ctx, "")
	if err != nil {
		return err
	}
	for _, n := range all.Nodes {
		b.Nodes = append(b.Nodes, n.Node)
	}
	if b.Node == "" {
		b.Clients = all
		return nil
	}
	b.Clients, err = a.Clients(ctx, b.Node)
	return err
}

// ---- Explain

type explainBody struct {
	IP, Offset string
	Result     *api.Explain
}

func (c *Console) explainPage(r *http.Request, s *session, p *pageData) error {
	p.Page, p.Title = "explain", "Explain"
	q := r.URL.Query()
	b := &explainBody{IP: strings.TrimSpace(q.Get("ip")), Offset: strings.TrimSpace(q.Get("offset"))}
	p.Body = b
	if b.IP == "" {
		return nil
	}
	ctx, cancel := apiContext(r)
	defer cancel()
	res, err := c.admin(s).Explain(ctx, b.IP, b.Offset)
	if err != nil {
		return err
	}
	b.Result = res
	return nil
}

// ---- Audit

type auditBody struct {
	Entries []api.AuditEntry
	Limit   int
}

func (c *Console) auditPage(r *http.Request, s *session, p *pageData) error {
	p.Page, p.Title = "audit", "Audit"
	limit := 200
	if n, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && n > 0 && n <= 5000 {
		limit = n
	}
	b := &auditBody{Limit: limit}
	p.Body = b
	ctx, cancel := apiContext(r)
	defer cancel()
	e, err := c.audit(ctx, s, limit)
	b.Entries = e
	return err
}
