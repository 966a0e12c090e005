package admin

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/director/store"
	"github.com/meridian-traffic/meridian/director/web"
)

// Handler is the director's HTTP API.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+api.PathHealth, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET "+api.PathSync, a.guard.WithPSK(a.pub.HandleSync))
	mux.HandleFunc("POST "+api.PathHeartbeat, a.guard.WithPSK(a.pub.HandleHeartbeat))

	admin := func(pattern string, h http.HandlerFunc) { mux.HandleFunc(pattern, a.guard.WithAdmin(h)) }
	admin("GET "+api.PathStatus, a.handleStatus)
	admin("GET "+api.PathNodes, a.handleNodes)
	admin("DELETE "+api.PathNode, a.handleRemove)
	admin("POST "+api.PathDrain, a.handleDrain(true))
	admin("POST "+api.PathUndrain, a.handleDrain(false))
	admin("POST "+api.PathBGPWithdraw, a.handleBGPWithdraw)
	admin("POST "+api.PathBGPResume, a.handleBGPResume)
	admin("GET "+api.PathConfig, a.handleGetConfig)
	admin("POST "+api.PathConfig, a.handlePostConfig)
	admin("GET "+api.PathHistory, a.handleHistory)
	admin("POST "+api.PathRollback, a.handleRollback)
	admin("POST "+api.PathSyncNow, a.handleSyncNow)
	admin("GET "+api.PathSyncHistory, a.handleSyncHistory)
	admin("GET "+api.PathExplain, a.handleExplain)
	admin("GET "+api.PathAudit, a.handleAudit)
	admin("GET "+api.PathWhoAmI, a.handleWhoAmI)
	a.broker.Routes(mux)

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		web.WriteError(w, http.StatusNotFound, "no such path")
	})
	// Metrics carry no secret and are read by scrapers without a token.
	if g, ok := a.cfg.Metrics.(prometheus.Gatherer); ok {
		mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	}
	return mux
}

// changeError maps the error of a change to its answer.
func (a *API) changeError(w http.ResponseWriter, what string, err error) {
	var ve *cluster.ValidationError
	switch {
	case errors.As(err, &ve):
		web.WriteJSON(w, http.StatusBadRequest, api.Error{Error: fmt.Sprintf("%s: %s in the site file", what, ve.Summary()), Fields: ve.Errors})
	case errors.Is(err, store.ErrNoNode), errors.Is(err, store.ErrNoVersion):
		web.WriteError(w, http.StatusNotFound, fmt.Sprintf("%s: %v", what, err))
	case errors.Is(err, store.ErrConflict):
		web.WriteError(w, http.StatusConflict, fmt.Sprintf("%s: %v", what, err))
	default:
		web.StoreError(w, a.log, what, err)
	}
}
