package admin

import (
	"net/http"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/director/publish"
	"github.com/meridian-traffic/meridian/director/web"
)

// maxSyncTimeout bounds "sync now"'s ?timeout= so a request cannot hold a
// handler for long.
const maxSyncTimeout = time.Minute

func (a *API) handleSyncNow(w http.ResponseWriter, r *http.Request) {
	e := newEntry(r, api.AuditSyncNow, "")
	timeout := publish.DefaultSyncTimeout
	if s := r.URL.Query().Get("timeout"); s != "" {
		v, err := time.ParseDuration(s)
		if err != nil || v <= 0 || v > maxSyncTimeout {
			const msg = "timeout: want a duration up to 1m"
			a.refuse(w, r, e, http.StatusBadRequest, msg)
			return
		}
		timeout = v
	}
	rep, err := a.pub.SyncNow(r.Context(), timeout, operator(r))
	a.record(r, e, rep.Version, err)
	if err != nil {
		web.StoreError(w, a.log, "sync now", err)
		return
	}
	web.WriteJSON(w, http.StatusOK, rep)
}

func (a *API) handleSyncHistory(w http.ResponseWriter, r *http.Request) {
	h, err := a.pub.SyncHistory(r.Context())
	if err != nil {
		web.StoreError(w, a.log, "sync history", err)
		return
	}
	web.WriteJSON(w, http.StatusOK, h)
}
