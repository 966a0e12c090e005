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
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, cluster.MaxSiteFile))
	if err != nil {
		web.WriteError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("site file too large: more than the limit of %d bytes (%d KiB)", cluster.MaxSiteFile, cluster.MaxSiteFile>>10))
		return
	}
	file := web.Truncate(r.Header.Get(api.HeaderFile), web.MaxIDLen)
	if file == "" {
		file = "site.yaml"
	}
	res, err := a.changeConfig(r.Context(), store.Change{
		Author: author(r), Comment: "apply", File: file,
		Mutate: func(store.ConfigRecord) ([]byte, error) { return body, nil },
	})
	if err != nil {
		a.changeError(w, "apply", err)
		return
	}
	web.WriteJSON(w, http.StatusOK, res)
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
	v, err := strconv.ParseUint(r.URL.Query().Get("version"), 10, 64)
	if err != nil || v == 0 {
		web.WriteError(w, http.StatusBadRequest, "version: want a config version number")
		return
	}
	res, err := a.rollback(r.Context(), v, author(r))
	if err != nil {
		a.changeError(w, "rollback", err)
		return
	}
	web.WriteJSON(w, http.StatusOK, res)
}

func (a *API) handleDrain(drained bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		what := map[bool]string{true: "drain", false: "undrain"}[drained]
		res, err := a.setDrained(r.Context(), r.PathValue("name"), drained)
		if err != nil {
			a.changeError(w, what, err)
			return
		}
		web.WriteJSON(w, http.StatusOK, res)
	}
}

func (a *API) handleRemove(w http.ResponseWriter, r *http.Request) {
	res, err := a.removeNode(r.Context(), r.PathValue("name"), author(r))
	if err != nil {
		a.changeError(w, "remove node", err)
		return
	}
	web.WriteJSON(w, http.StatusOK, res)
}
