package web

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/meridian-traffic/meridian/api"
)

// MaxIDLen bounds ids, names and reasons taken from requests and kept in
// memory or the store.
const MaxIDLen = 200

// WriteJSON answers with status and v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// WriteError answers with status and an api.Error.
func WriteError(w http.ResponseWriter, status int, msg string) {
	WriteJSON(w, status, api.Error{Error: msg})
}

// StoreError answers a failed store operation; the detail goes to log
// only, so that a client learns nothing of the store.
func StoreError(w http.ResponseWriter, log *slog.Logger, what string, err error) {
	log.Error(what, "err", err)
	WriteError(w, http.StatusServiceUnavailable, what+": store unavailable")
}

// Truncate cuts s to at most n bytes.
func Truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
