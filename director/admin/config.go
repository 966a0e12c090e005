package admin

import (
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/director/store"
	"github.com/meridian-traffic/meridian/director/web"
)

func (a *API) handleGetConfig(w http.ResponseWriter, _ *http.Request) {
	p := a.pub.Current()
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("X-Meridian-Config-Version", strconv.FormatUint(p.Config.Version, 10))
	io.WriteString(w, p.Config.Text)
}

func (a *API) handlePostConfig(w http.ResponseWriter, r *http.Request) {
	file := web.Truncate(r.Header.Get(api.HeaderFile), web.MaxIDLen)
	if file == "" {
		file = "site.yaml"
	}
	e := newEntry(r, api.AuditApply, file)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, cluster.MaxSiteFile))
	if err != nil {
		msg := fmt.Sprintf("site file too large: more than the limit of %d bytes (%d KiB)", cluster.MaxSiteFile, cluster.MaxSiteFile>>10)
		a.refuse(w, r, e, http.StatusRequestEntityTooLarge, msg)
		return
	}
	res, err := a.changeConfig(r.Context(), store.Change{
		Author: operator(r), Comment: "apply", File: file,
		Mutate: func(store.ConfigRecord) ([]byte, error) { return body, nil },
	})
	a.answer(w, r, e, "apply", res.ConfigVersion, res, err)
}

func (a *API) handleHistory(w http.ResponseWriter, r *http.Request) {
	h, err := a.site.History(r.Context())
	if err != nil {
		web.StoreError(w, a.log, "history", err)
		return
	}
	web.WriteJSON(w, http.StatusOK, h)
}

func (a *API) handleRollback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query().Get("version")
	e := newEntry(r, api.AuditRollback, q)
	v, err := strconv.ParseUint(q, 10, 64)
	if err != nil || v == 0 {
		const msg = "version: want a config version number"
		a.refuse(w, r, e, http.StatusBadRequest, msg)
		return
	}
	res, err := a.rollback(r.Context(), v, operator(r))
	a.answer(w, r, e, "rollback", res.ConfigVersion, res, err)
}

func (a *API) handleDrain(drained bool) http.HandlerFunc {
	action := api.AuditDrain
	if !drained {
		action = api.AuditUndrain
	}
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		res, err := a.setDrained(r.Context(), name, drained)
		a.answer(w, r, newEntry(r, action, name), action, res.Version, res, err)
	}
}

func (a *API) handleRemove(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	res, err := a.removeNode(r.Context(), name, operator(r))
	a.answer(w, r, newEntry(r, api.AuditRemove, name), "remove node", res.Version, res, err)
}
