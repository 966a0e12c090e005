package admin

import (
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/director/web"
)

// handleExplain runs the selection engine on the current snapshot for one
// client address, with Config.Locator (meridian director --geoip) when
// set; without it geo and timezone decisions fall back as the engine
// documents. The answer names the database build, so that it can be held
// against the DNS servers' (ctl status).
func (a *API) handleExplain(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	addr, err := netip.ParseAddr(q.Get("ip"))
	if err != nil {
		web.WriteError(w, http.StatusBadRequest, fmt.Sprintf("ip: %q is not an IP address", web.Truncate(q.Get("ip"), 64)))
		return
	}
	query := cluster.Query{Client: addr, SourceBits: addr.BitLen(), Now: time.Now()}
	if s := q.Get("offset"); s != "" {
		off, err := cluster.ParseOffset(s)
		if err != nil {
			web.WriteError(w, http.StatusBadRequest, "offset: "+err.Error())
			return
		}
		query.Offset, query.HasOffset = off, true
	}
	p := a.pub.Current()
	var dec cluster.Decision
	p.Engine(a.cfg.Locator).Select(query, &dec)
	out := api.Explain{Client: addr.String(), Scope: dec.Scope, Trace: dec.Explain(), Nodes: []string{}, GeoIP: a.geoipBuild()}
	for _, n := range dec.Chosen() {
		out.Nodes = append(out.Nodes, n.Name)
	}
	web.WriteJSON(w, http.StatusOK, out)
}
