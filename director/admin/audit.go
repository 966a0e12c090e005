package admin

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/director/web"
)

// Audit bounds.
const (
	// DefaultAuditLimit is how many audit entries the store keeps unless
	// Config.AuditLimit says otherwise.
	DefaultAuditLimit = 10000
	// defaultAuditList is how many entries GET PathAudit returns without
	// ?limit.
	defaultAuditList = 100
	// maxResult bounds the error kept as an entry's result.
	maxResult = 300
	// auditWait bounds the write of one entry. The write outlives the
	// operator's request: an action done is recorded even if the operator
	// went away.
	auditWait = 5 * time.Second
)

// operator names who made a change: the operator whose admin token
// authenticated the request.
func operator(r *http.Request) string {
	if name := web.Operator(r.Context()); name != "" {
		return name
	}
	return "unknown"
}

// headerReason is the operator's reason for an action (HeaderReason),
// cleaned for display: one line, printable, bounded.
func headerReason(r *http.Request) string {
	return cleanText(r.Header.Get(api.HeaderReason))
}

// cleanText makes text from a request one printable line of at most
// web.MaxIDLen bytes.
func cleanText(s string) string {
	s = strings.Map(func(c rune) rune {
		if unicode.IsPrint(c) {
			return c
		}
		return ' '
	}, strings.ToValidUTF8(s, " "))
	s = strings.Join(strings.Fields(s), " ")
	return strings.ToValidUTF8(web.Truncate(s, web.MaxIDLen), "")
}

// newEntry starts the audit entry of an action on target.
func newEntry(r *http.Request, action, target string) api.AuditEntry {
	return api.AuditEntry{Who: operator(r), Action: action, Target: cleanText(target), Reason: headerReason(r)}
}

// record stores the entry with the action's outcome: "ok" and the version
// that carries it, or the error that refused it. A store that cannot take
// the entry is logged; the action's answer does not change.
func (a *API) record(r *http.Request, e api.AuditEntry, version uint64, err error) {
	e.Time = time.Now().UTC()
	e.Result = "ok"
	if err != nil {
		e.Result, version = resultOf(err), 0
	}
	e.Version = version
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), auditWait)
	defer cancel()
	if werr := a.site.AppendAudit(ctx, e, a.cfg.AuditLimit); werr != nil {
		a.log.Error("audit entry not stored", "action", e.Action, "target", e.Target, "who", e.Who, "result", e.Result, "err", werr)
		return
	}
	a.log.Info("audit", "action", e.Action, "target", e.Target, "who", e.Who, "reason", e.Reason, "version", e.Version, "result", e.Result)
}

// resultOf is an error as an entry's result: one bounded line; a site
// file's problems are summed up with the first of them.
func resultOf(err error) string {
	var ve *cluster.ValidationError
	msg := err.Error()
	if errors.As(err, &ve) && len(ve.Errors) > 0 {
		msg = ve.Summary() + " in the site file, first " + ve.Errors[0].Error()
	}
	msg, _, _ = strings.Cut(msg, "\n")
	return strings.ToValidUTF8(web.Truncate(msg, maxResult), "")
}

// handleAudit lists the audit, newest first: ?limit= entries (default
// 100, at most the number kept).
func (a *API) handleAudit(w http.ResponseWriter, r *http.Request) {
	limit := defaultAuditList
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			web.WriteError(w, http.StatusBadRequest, "limit: want a positive number")
			return
		}
		limit = min(n, a.cfg.AuditLimit)
	}
	es, err := a.site.Audit(r.Context(), limit)
	if err != nil {
		web.StoreError(w, a.log, "audit", err)
		return
	}
	web.WriteJSON(w, http.StatusOK, es)
}

// handleWhoAmI names the operator of the request's admin token.
func (a *API) handleWhoAmI(w http.ResponseWriter, r *http.Request) {
	web.WriteJSON(w, http.StatusOK, api.WhoAmI{Name: operator(r)})
}

// answer records the change e in the audit under version and answers it:
// the result, or the error in changeError's words for what.
func (a *API) answer(w http.ResponseWriter, r *http.Request, e api.AuditEntry, what string, version uint64, res api.ChangeResult, err error) {
	a.record(r, e, version, err)
	if err != nil {
		a.changeError(w, what, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, res)
}

// refuse records e as refused before any change and answers code with
// msg.
func (a *API) refuse(w http.ResponseWriter, r *http.Request, e api.AuditEntry, code int, msg string) {
	a.record(r, e, 0, errors.New(msg))
	web.WriteError(w, code, msg)
}
