package director

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/cluster"
)

// routes is the director's HTTP API.
func (d *Director) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+api.PathHealth, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET "+api.PathSync, d.withPSK(d.handleSync))
	mux.HandleFunc("POST "+api.PathHeartbeat, d.withPSK(d.handleHeartbeat))

	admin := func(pattern string, h http.HandlerFunc) { mux.HandleFunc(pattern, d.withAdmin(h)) }
	admin("GET "+api.PathStatus, d.handleStatus)
	admin("GET "+api.PathNodes, d.handleNodes)
	admin("DELETE "+api.PathNode, d.handleRemove)
	admin("POST "+api.PathDrain, d.handleDrain(true))
	admin("POST "+api.PathUndrain, d.handleDrain(false))
	admin("POST "+api.PathBGPWithdraw, d.handleBGPWithdraw)
	admin("POST "+api.PathBGPResume, d.handleBGPResume)
	admin("GET "+api.PathConfig, d.handleGetConfig)
	admin("POST "+api.PathConfig, d.handlePostConfig)
	admin("GET "+api.PathHistory, d.handleHistory)
	admin("POST "+api.PathRollback, d.handleRollback)
	admin("POST "+api.PathSyncNow, d.handleSyncNow)
	admin("GET "+api.PathSyncHistory, d.handleSyncHistory)
	admin("GET "+api.PathExplain, d.handleExplain)
	d.sessionRoutes(mux)

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such path")
	})
	// Metrics carry no secret and are read by scrapers without a token.
	if g, ok := d.cfg.Metrics.(prometheus.Gatherer); ok {
		mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	}
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, api.Error{Error: msg})
}

// storeError answers a failed store operation; the detail goes to the log.
func (d *Director) storeError(w http.ResponseWriter, what string, err error) {
	d.log.Error(what, "err", err)
	writeError(w, http.StatusServiceUnavailable, what+": store unavailable")
}

// changeError maps the error of a change to its answer.
func (d *Director) changeError(w http.ResponseWriter, what string, err error) {
	var ve *cluster.ValidationError
	switch {
	case errors.As(err, &ve):
		writeJSON(w, http.StatusBadRequest, api.Error{Error: fmt.Sprintf("%s: %d problem(s) in the site file", what, len(ve.Errors)), Fields: ve.Errors})
	case errors.Is(err, errNoNode), errors.Is(err, errNoVersion):
		writeError(w, http.StatusNotFound, fmt.Sprintf("%s: %v", what, err))
	case errors.Is(err, errConflict):
		writeError(w, http.StatusConflict, fmt.Sprintf("%s: %v", what, err))
	default:
		d.storeError(w, what, err)
	}
}
