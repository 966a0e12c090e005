package console

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/cluster"
)

// Page sizes of the nodes table.
var perPageChoices = []int{25, 50, 100, 250, 1000}

const defaultPerPage = 100

// nodeQuery is the nodes table's filter, order and page, from the URL.
type nodeQuery struct {
	Q       string // substring of name, region, reason or a prefix
	Health  string // up, down, unknown or ""
	State   string // accepting, drained, closed (config: not accepting), withdrawn or ""
	Region  string
	Sort    string // a column of sortKeys
	Desc    bool
	Page    int // from 1
	PerPage int
}

func parseNodeQuery(q url.Values) nodeQuery {
	nq := nodeQuery{
		Q: strings.TrimSpace(q.Get("q")), Health: q.Get("health"), State: q.Get("state"),
		Region: q.Get("region"), Sort: q.Get("sort"), Desc: q.Get("dir") == "desc",
		Page: 1, PerPage: defaultPerPage,
	}
	if _, ok := sortKeys[nq.Sort]; !ok {
		nq.Sort, nq.Desc = "name", false
	}
	if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 1 {
		nq.Page = n
	}
	if n, err := strconv.Atoi(q.Get("per")); err == nil && slices.Contains(perPageChoices, n) {
		nq.PerPage = n
	}
	return nq
}

// values is the query as URL values, without defaults.
func (nq nodeQuery) values() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("q", nq.Q)
	set("health", nq.Health)
	set("state", nq.State)
	set("region", nq.Region)
	if nq.Sort != "name" || nq.Desc {
		v.Set("sort", nq.Sort)
		if nq.Desc {
			v.Set("dir", "desc")
		}
	}
	if nq.PerPage != defaultPerPage {
		v.Set("per", strconv.Itoa(nq.PerPage))
	}
	if nq.Page > 1 {
		v.Set("page", strconv.Itoa(nq.Page))
	}
	return v
}

// URL returns the nodes page of the query with changes applied.
func (nq nodeQuery) URL(change func(*nodeQuery)) string {
	x := nq
	if change != nil {
		change(&x)
	}
	if e := x.values().Encode(); e != "" {
		return "/nodes?" + e
	}
	return "/nodes"
}

// nodeRow is one row of the nodes table.
type nodeRow struct {
	api.NodeStatus
	ID          string // for element ids
	Allocations int
	Clients     int
	BGPUp       int
	BGPTotal    int
	Prefixes    []string
	Served      uint64
	Behind      bool // lags: holds an older snapshot than the director serves for too long
	HasBeat     bool
}

func newRow(n api.NodeStatus, lagging bool) nodeRow {
	r := nodeRow{NodeStatus: n, ID: elementID(n.Name)}
	if hb := n.Heartbeat; hb != nil {
		r.HasBeat = true
		r.Clients = hb.Clients
		if hb.Relay != nil {
			r.Allocations = hb.Relay.Allocations
		}
		r.BGPTotal = len(hb.BGP)
		for _, p := range hb.BGP {
			if strings.EqualFold(p.State, "established") {
				r.BGPUp++
			}
		}
		r.Served = hb.Version
	}
	r.Behind = lagging
	for _, p := range n.Announcing {
		r.Prefixes = append(r.Prefixes, p.String())
	}
	return r
}

// elementID makes a node name safe in an HTML id.
func elementID(name string) string {
	var b strings.Builder
	for _, r := range name {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			b.WriteRune(r)
		} else {
			b.WriteString("_" + strconv.FormatInt(int64(r), 16) + "_")
		}
	}
	return b.String()
}

var healthOrder = map[cluster.Health]int{cluster.Down: 0, cluster.Unknown: 1, cluster.Up: 2}

// sortKeys are the sortable columns.
var sortKeys = map[string]func(a, b *nodeRow) int{
	"name":   func(a, b *nodeRow) int { return strings.Compare(a.Name, b.Name) },
	"region": func(a, b *nodeRow) int { return strings.Compare(a.Region, b.Region) },
	"health": func(a, b *nodeRow) int { return cmp.Compare(healthOrder[a.Health], healthOrder[b.Health]) },
	"state": func(a, b *nodeRow) int {
		return cmp.Compare(stateOrder(a), stateOrder(b))
	},
	"allocations": func(a, b *nodeRow) int { return cmp.Compare(a.Allocations, b.Allocations) },
	"clients":     func(a, b *nodeRow) int { return cmp.Compare(a.Clients, b.Clients) },
	"bgp":         func(a, b *nodeRow) int { return cmp.Compare(a.BGPUp, b.BGPUp) },
	"prefixes":    func(a, b *nodeRow) int { return cmp.Compare(len(a.Prefixes), len(b.Prefixes)) },
	"version":     func(a, b *nodeRow) int { return cmp.Compare(a.Served, b.Served) },
	"heartbeat":   func(a, b *nodeRow) int { return a.LastHeartbeat.Compare(b.LastHeartbeat) },
}

func stateOrder(r *nodeRow) int {
	switch {
	case r.Drained:
		return 0
	case !r.Accepting:
		return 1
	}
	return 2
}

func (nq nodeQuery) match(r *nodeRow) bool {
	if nq.Health != "" && string(r.Health) != nq.Health {
		return false
	}
	if nq.Region != "" && r.Region != nq.Region {
		return false
	}
	switch nq.State {
	case "accepting":
		if r.Drained || !r.Accepting {
			return false
		}
	case "drained":
		if !r.Drained {
			return false
		}
	case "closed":
		if r.Accepting {
			return false
		}
	case "withdrawn":
		if r.Withdrawn == "" {
			return false
		}
	}
	if nq.Q == "" {
		return true
	}
	q := strings.ToLower(nq.Q)
	for _, s := range append([]string{r.Name, r.Region, r.Reason, r.Withdrawn}, r.Prefixes...) {
		if strings.Contains(strings.ToLower(s), q) {
			return true
		}
	}
	return false
}

// column is one header of the nodes table.
type column struct {
	Key, Title string
	Sortable   bool
	Sorted     string // "", "ascending", "descending" (aria-sort)
	URL        string // sorts by it (the other way when sorted)
}

type nodesBody struct {
	Query      nodeQuery
	Columns    []column
	Rows       []nodeRow
	Total      int // nodes in the site
	Matched    int // nodes the filter keeps
	First      int // 1-based index of the first row shown
	Last       int
	Pages      int
	Prev, Next string
	Regions    []string
	PerPage    []int
	Current    uint64
	Back       string // this page, for the actions' return
	BackParam  string // Back, when not the first page of the defaults
	Healths    []string
	States     [][2]string
}

var columnTitles = [][2]string{
	{"name", "Node"}, {"region", "Region"}, {"health", "Health"}, {"state", "New clients"},
	{"allocations", "Relay allocations"}, {"clients", "Clients"}, {"bgp", "BGP sessions"},
	{"prefixes", "Prefixes"}, {"version", "Version"}, {"heartbeat", "Last heartbeat"},
}

func (c *Console) nodes(r *http.Request, s *session, p *pageData) error {
	p.Page, p.Title = "nodes", "Nodes"
	nq := parseNodeQuery(r.URL.Query())
	b := &nodesBody{
		Query: nq, PerPage: perPageChoices, Healths: []string{"up", "down", "unknown"},
		States: [][2]string{{"accepting", "accepting"}, {"drained", "drained"}, {"closed", "closed in config"}, {"withdrawn", "anycast withdrawn"}},
	}
	p.Body = b
	for _, ct := range columnTitles {
		col := column{Key: ct[0], Title: ct[1], Sortable: true}
		if nq.Sort == ct[0] {
			col.Sorted = "ascending"
			if nq.Desc {
				col.Sorted = "descending"
			}
		}
		col.URL = nq.URL(func(x *nodeQuery) {
			x.Desc = x.Sort == ct[0] && !x.Desc
			x.Sort, x.Page = ct[0], 1
		})
		b.Columns = append(b.Columns, col)
	}
	ctx, cancel := apiContext(r)
	defer cancel()
	st, err := c.admin(s).Status(ctx)
	if err != nil {
		return err
	}
	b.Current = st.Version
	b.Total = len(st.Nodes)
	rows := make([]nodeRow, 0, len(st.Nodes))
	regions := map[string]bool{}
	// A node lags as the director's subscriber registry says, the same
	// verdict as on the overview and in `ctl status`.
	lagging := map[string]bool{}
	for _, sub := range st.Subscribers {
		if sub.Kind == api.KindNode && sub.Lagging {
			lagging[sub.ID] = true
		}
	}
	for _, n := range st.Nodes {
		row := newRow(n, lagging[n.Name])
		if n.Region != "" && !regions[n.Region] {
			regions[n.Region] = true
			b.Regions = append(b.Regions, n.Region)
		}
		if nq.match(&row) {
			rows = append(rows, row)
		}
	}
	slices.Sort(b.Regions)
	key := sortKeys[nq.Sort]
	slices.SortStableFunc(rows, func(x, y nodeRow) int {
		d := key(&x, &y)
		if d == 0 {
			d = strings.Compare(x.Name, y.Name)
		}
		if nq.Desc {
			d = -d
		}
		return d
	})
	b.Matched = len(rows)
	b.Pages = max(1, (len(rows)+nq.PerPage-1)/nq.PerPage)
	page := min(nq.Page, b.Pages)
	b.Query.Page = page
	lo := (page - 1) * nq.PerPage
	hi := min(lo+nq.PerPage, len(rows))
	b.Rows = rows[lo:hi]
	if len(b.Rows) > 0 {
		b.First, b.Last = lo+1, hi
	}
	if page > 1 {
		b.Prev = b.Query.URL(func(x *nodeQuery) { x.Page = page - 1 })
	}
	if page < b.Pages {
		b.Next = b.Query.URL(func(x *nodeQuery) { x.Page = page + 1 })
	}
	b.Back = b.Query.URL(nil)
	if b.Back != "/nodes" {
		b.BackParam = b.Back
	}
	return nil
}

// heartbeatFresh reports whether a heartbeat is recent enough to trust
// its numbers (the director keeps them 30 to 60 s).
func heartbeatFresh(t time.Time) bool { return !t.IsZero() && time.Since(t) < 30*time.Second }
