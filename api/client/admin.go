package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/meridian-traffic/meridian/api"
)

// Admin is the operator client of one director: one method per admin
// endpoint of package api. Non-2xx answers are *APIError values.
//
// The director records every change and action under the name of the
// operator whose admin token the client holds (WhoAmI).
type Admin struct {
	bearer
	reason string // api.HeaderReason of every request; "" for none
}

// NewAdmin returns an operator client for the director at baseURL, using
// the admin token. hc nil means DefaultHTTPClient().
func NewAdmin(baseURL, token string, hc *http.Client) *Admin {
	return &Admin{bearer: newBearer(baseURL, token, "admin token", hc)}
}

// WithReason returns a client that gives reason (one line) for every
// action it asks for; the director keeps it in the audit.
func (a *Admin) WithReason(reason string) *Admin {
	b := *a
	b.reason = strings.Join(strings.FieldsFunc(reason, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	return &b
}

// WhoAmI names the operator of the client's admin token.
func (a *Admin) WhoAmI(ctx context.Context) (*api.WhoAmI, error) {
	var out api.WhoAmI
	return &out, a.call(ctx, http.MethodGet, api.PathWhoAmI, nil, nil, &out)
}

// Audit returns up to limit audit entries, newest first (limit 0: the
// director's default).
func (a *Admin) Audit(ctx context.Context, limit int) ([]api.AuditEntry, error) {
	var q url.Values
	if limit > 0 {
		q = url.Values{"limit": {strconv.Itoa(limit)}}
	}
	var out []api.AuditEntry
	return out, a.call(ctx, http.MethodGet, api.PathAudit, q, nil, &out)
}

// Status returns the cluster page.
func (a *Admin) Status(ctx context.Context) (*api.Status, error) {
	var out api.Status
	return &out, a.call(ctx, http.MethodGet, api.PathStatus, nil, nil, &out)
}

// Nodes returns one row per traffic node.
func (a *Admin) Nodes(ctx context.Context) ([]api.NodeStatus, error) {
	var out []api.NodeStatus
	return out, a.call(ctx, http.MethodGet, api.PathNodes, nil, nil, &out)
}

// GetConfig returns the current site file (YAML).
func (a *Admin) GetConfig(ctx context.Context) ([]byte, error) {
	var out rawBody
	err := a.call(ctx, http.MethodGet, api.PathConfig, nil, nil, &out)
	return out, err
}

// Apply submits a site file as a new config version. file names it in
// validation errors (APIError.Fields).
func (a *Admin) Apply(ctx context.Context, file string, yaml []byte) (*api.ChangeResult, error) {
	if yaml == nil {
		yaml = []byte{}
	}
	h := http.Header{"Content-Type": {"application/yaml"}}
	if file != "" {
		h.Set(api.HeaderFile, file)
	}
	var out api.ChangeResult
	return &out, a.call(ctx, http.MethodPost, api.PathConfig, nil, yaml, &out, h)
}

// History returns the config versions, newest first.
func (a *Admin) History(ctx context.Context) ([]api.ConfigVersion, error) {
	var out []api.ConfigVersion
	return out, a.call(ctx, http.MethodGet, api.PathHistory, nil, nil, &out)
}

// Rollback restores config version v as a new version.
func (a *Admin) Rollback(ctx context.Context, v uint64) (*api.ChangeResult, error) {
	q := url.Values{"version": {strconv.FormatUint(v, 10)}}
	var out api.ChangeResult
	return &out, a.call(ctx, http.MethodPost, api.PathRollback, q, []byte{}, &out)
}

// Drain stops new clients going to the named node.
func (a *Admin) Drain(ctx context.Context, node string) (*api.ChangeResult, error) {
	var out api.ChangeResult
	return &out, a.call(ctx, http.MethodPost, nodePath(api.PathDrain, node), nil, []byte{}, &out)
}

// Undrain lets new clients go to the named node again.
func (a *Admin) Undrain(ctx context.Context, node string) (*api.ChangeResult, error) {
	var out api.ChangeResult
	return &out, a.call(ctx, http.MethodPost, nodePath(api.PathUndrain, node), nil, []byte{}, &out)
}

// RemoveNode drops the named node from the site (a new config version);
// its agent is told to stop serving and delete its cache.
func (a *Admin) RemoveNode(ctx context.Context, node string) (*api.ChangeResult, error) {
	var out api.ChangeResult
	return &out, a.call(ctx, http.MethodDelete, nodePath(api.PathNode, node), nil, nil, &out)
}

// SyncNow makes every subscriber fetch the current snapshot and reports
// what each did within timeout (0 = the director's default).
func (a *Admin) SyncNow(ctx context.Context, timeout time.Duration) (*api.SyncReport, error) {
	var q url.Values
	if timeout > 0 {
		q = url.Values{"timeout": {timeout.String()}}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout+requestTimeout)
		defer cancel()
	}
	var out api.SyncReport
	return &out, a.call(ctx, http.MethodPost, api.PathSyncNow, q, []byte{}, &out)
}

// SyncHistory returns the cluster status history, newest first.
func (a *Admin) SyncHistory(ctx context.Context) ([]api.SyncEvent, error) {
	var out []api.SyncEvent
	return out, a.call(ctx, http.MethodGet, api.PathSyncHistory, nil, nil, &out)
}

// Explain traces the selection for a client address; offset ("+02:00") is
// the client's UTC offset, "" for none.
func (a *Admin) Explain(ctx context.Context, ip, offset string) (*api.Explain, error) {
	q := url.Values{"ip": {ip}}
	if offset != "" {
		q.Set("offset", offset)
	}
	var out api.Explain
	return &out, a.call(ctx, http.MethodGet, api.PathExplain, q, nil, &out)
}

func nodePath(pattern, node string) string {
	return strings.Replace(pattern, "{name}", url.PathEscape(node), 1)
}

// call runs one admin request and decodes a 2xx JSON answer into out.
func (a *Admin) call(ctx context.Context, method, path string, q url.Values, body []byte, out any, hdr ...http.Header) error {
	h := http.Header{}
	if a.reason != "" {
		h.Set(api.HeaderReason, a.reason)
	}
	for _, x := range hdr {
		for k, v := range x {
			h[k] = v
		}
	}
	return a.do(ctx, method, path, q, body, h, out)
}
