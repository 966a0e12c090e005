package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/director/store"
	"github.com/meridian-traffic/meridian/director/web"
)

// maxWithdrawBody bounds a POST PathBGPWithdraw body: a reason, nothing
// more.
const maxWithdrawBody = 4 << 10

func (a *API) handleBGPWithdraw(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	e := newEntry(r, api.AuditBGPWithdraw, name)
	reason, err := withdrawReason(w, r)
	if err != nil {
		err = fmt.Errorf("bgp withdraw: %w", err)
		a.refuse(w, r, e, http.StatusBadRequest, err.Error())
		return
	}
	if e.Reason == "" && reason != api.DefaultWithdrawReason {
		e.Reason = reason // the withdraw's own reason, shown by ctl bgp
	}
	res, err := a.setWithdrawn(r.Context(), name, reason, operator(r))
	a.answer(w, r, e, "bgp withdraw", res.Version, res, err)
}

func (a *API) handleBGPResume(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	res, err := a.setWithdrawn(r.Context(), name, "", operator(r))
	a.answer(w, r, newEntry(r, api.AuditBGPResume, name), "bgp resume", res.Version, res, err)
}

// withdrawReason reads the reason from a BGPWithdraw body, else from
// ?reason=, else gives the default. It is cleaned for display: one line,
// printable, bounded.
func withdrawReason(w http.ResponseWriter, r *http.Request) (string, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWithdrawBody))
	if err != nil {
		return "", fmt.Errorf("body: %w", err)
	}
	reason := r.URL.Query().Get("reason")
	if len(strings.TrimSpace(string(body))) > 0 {
		var b api.BGPWithdraw
		if err := json.Unmarshal(body, &b); err != nil {
			return "", fmt.Errorf("body: want {\"reason\": TEXT}: %w", err)
		}
		if b.Reason != "" {
			reason = b.Reason
		}
	}
	if reason = cleanText(reason); reason == "" {
		return api.DefaultWithdrawReason, nil
	}
	return reason, nil
}

// setWithdrawn withdraws a node's anycast prefixes for the operator (reason
// set) or resumes them (reason empty): a run-time state like drain, carried
// to the node's speaker in NodeState.Withdrawn.
func (a *API) setWithdrawn(ctx context.Context, name, reason, by string) (api.ChangeResult, error) {
	p := a.pub.Current()
	if p.Snap == nil || p.Snap.Config.Node(name) == nil {
		return api.ChangeResult{}, fmt.Errorf("node %q: %w", web.Truncate(name, web.MaxIDLen), store.ErrNoNode)
	}
	rev, err := a.site.UpdateState(ctx, a.site.Keys.Node(name), func(r *store.StateRecord) bool {
		if r.Withdrawn == reason {
			return false
		}
		r.Withdrawn, r.WithdrawnBy = reason, by
		if reason == "" {
			r.WithdrawnBy = ""
		}
		return true
	})
	if err != nil {
		return api.ChangeResult{}, err
	}
	if rev == 0 {
		return api.ChangeResult{ConfigVersion: p.Snap.ConfigVersion, Version: p.Snap.Version}, nil
	}
	if reason == "" {
		a.log.Info("node bgp resumed", "node", name, "author", by)
	} else {
		a.log.Info("node bgp withdrawn", "node", name, "reason", reason, "author", by)
	}
	a.awaitPublished(ctx, uint64(rev))
	q := a.pub.Current()
	return api.ChangeResult{ConfigVersion: q.Snap.ConfigVersion, Version: uint64(rev)}, nil
}
