package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/meridian-traffic/meridian/api"
)

// Admin is the operator client of one director: one method per admin
// endpoint of package api. Non-2xx answers are *APIError values.
type Admin struct{ bearer }

// NewAdmin returns an operator client for the director at baseURL, using
// the admin token. hc nil means DefaultHTTPClient().
func NewAdmin(baseURL, token string, hc *http.Client) *Admin {
	return &Admin{newBearer(baseURL, token, "admin token", hc)}
}

// Status returns the cluster page.
func (a *Admin) Status(ctx context.Context) (*api.Status, error) {
	var out api.Status
	return &out, a.call(ctx, http.MethodGet, api.PathStatus, nil, nil, "", &out)
}

// Nodes returns one row per traffic node.
func (a *Admin) Nodes(ctx context.Context) ([]api.NodeStatus, error) {
	var out []api.NodeStatus
	return out, a.call(ctx, http.MethodGet, api.PathNodes, nil, nil, "", &out)
}

// GetConfig returns the current site file (YAML).
func (a *Admin) GetConfig(ctx context.Context) ([]byte, error) {
	var out rawBody
	err := a.call(ctx, http.MethodGet, api.PathConfig, nil, nil, "", &out)
	return out, err
}

// Apply submits a site file as a new config version. file names it in
// validation errors (APIError.Fields); author is stored with the version.
func (a *Admin) Apply(ctx context.Context, file string, yaml []byte, author string) (*api.ChangeResult, error) {
	if yaml == nil {
		yaml = []byte{}
	}
	h := http.Header{"Content-Type": {"application/yaml"}}
	if file != "" {
		h.Set(api.HeaderFile, file)
	}
	var out api.ChangeResult
	return &out, a.call(ctx, http.MethodPost, api.PathConfig, nil, yaml, author, &out, h)
}

// History returns the config versions, newest first.
func (a *Admin) History(ctx context.Context) ([]api.ConfigVersion, error) {
	var out []api.ConfigVersion
	return out, a.call(ctx, http.MethodGet, api.PathHistory, nil, nil, "", &out)
}

// Rollback restores config version v as a new version.
func (a *Admin) Rollback(ctx context.Context, v uint64, author string) (*api.ChangeResult, error) {
	q := url.Values{"version": {strconv.FormatUint(v, 10)}}
	var out api.ChangeResult
	return &out, a.call(ctx, http.MethodPost, api.PathRollback, q, []byte{}, author, &out)
}

// Drain stops new clients going to the named node.
func (a *Admin) Drain(ctx context.Context, node, author string) (*api.ChangeResult, error) {
	var out api.ChangeResult
	return &out, a.call(ctx, http.MethodPost, nodePath(api.PathDrain, node), nil, []byte{}, author, &out)
}

// Undrain lets new clients go to the named node again.
func (a *Admin) Undrain(ctx context.Context, node, author string) (*api.ChangeResult, error) {
	var out api.ChangeResult
	return &out, a.call(ctx, http.MethodPost, nodePath(api.PathUndrain, node), nil, []byte{}, author, &out)
}

// RemoveNode drops the named node from the site (a new config version);
// its agent is told to stop serving and delete its cache.
func (a *Admin) RemoveNode(ctx context.Context, node, author string) (*api.ChangeResult, error) {
	var out api.ChangeResult
	return &out, a.call(ctx, http.MethodDelete, nodePath(api.PathNode, node), nil, nil, author, &out)
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
	return &out, a.call(ctx, http.MethodPost, api.PathSyncNow, q, []byte{}, "", &out)
}

// SyncHistory returns the cluster status history, newest first.
func (a *Admin) SyncHistory(ctx context.Context) ([]api.SyncEvent, error) {
	var out []api.SyncEvent
	return out, a.call(ctx, http.MethodGet, api.PathSyncHistory, nil, nil, "", &out)
}

// Explain traces the selection for a client address; offset ("+02:00") is
// the client's UTC offset, "" for none.
func (a *Admin) Explain(ctx context.Context, ip, offset string) (*api.Explain, error) {
	q := url.Values{"ip": {ip}}
	if offset != "" {
		q.Set("offset", offset)
	}
	var out api.Explain
	return &out, a.call(ctx, http.MethodGet, api.PathExplain, q, nil, "", &out)
}

func nodePath(pattern, node string) string {
	return strings.Replace(pattern, "{name}", url.PathEscape(node), 1)
}

// call runs one admin request and decodes a 2xx JSON answer into out.
func (a *Admin) call(ctx context.Context, method, path string, q url.Values, body []byte, author string, out any, hdr ...http.Header) error {
	h := http.Header{}
	if author != "" {
		h.Set(api.HeaderAuthor, author)
	}
	for _, x := range hdr {
		for k, v := range x {
			h[k] = v
		}
	}
	return a.do(ctx, method, path, q, body, h, out)
}
