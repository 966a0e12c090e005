package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/meridian-traffic/meridian/api"
)

// SessionClient is a client application of the session broker (a support
// portal, a customer or representative app), authenticated with a client
// API token. Non-2xx answers are *APIError values: 400 bad input, 401 bad
// token, 404 unknown or ended session, 409 representative not joined, 429
// rate limited.
type SessionClient struct{ bearer }

// NewSessionClient returns a session API client for the director at
// baseURL. hc nil means DefaultHTTPClient().
func NewSessionClient(baseURL, token string, hc *http.Client) *SessionClient {
	return &SessionClient{newBearer(baseURL, token, "client API token", hc)}
}

// Create opens a session for a customer and returns the customer's grant.
func (s *SessionClient) Create(ctx context.Context, req api.SessionRequest) (*api.Grant, error) {
	return s.grant(ctx, http.MethodPost, api.PathSessions, "", req)
}

// Join adds the representative: its grant holds its home node and, in
// View, the customer's.
func (s *SessionClient) Join(ctx context.Context, id string, req api.SessionRequest) (*api.Grant, error) {
	return s.grant(ctx, http.MethodPost, api.PathSessionJoin, id, req)
}

// ShowMyScreen returns the customer's grant with the representative's home
// node in View.
func (s *SessionClient) ShowMyScreen(ctx context.Context, id string, req api.SessionRequest) (*api.Grant, error) {
	return s.grant(ctx, http.MethodPost, api.PathSessionShow, id, req)
}

// Renew keeps the session alive and returns req.Party's current grant
// (the customer's by default): the same home node while it is alive.
func (s *SessionClient) Renew(ctx context.Context, id string, req api.SessionRequest) (*api.Grant, error) {
	return s.grant(ctx, http.MethodPost, api.PathSessionRenew, id, req)
}

// End ends the session at once.
func (s *SessionClient) End(ctx context.Context, id string) error {
	return s.call(ctx, http.MethodDelete, sessionPath(api.PathSession, id), nil, nil)
}

// Clients returns the connected clients per node and per session; node ""
// means every node.
func (a *Admin) Clients(ctx context.Context, node string) (*api.Clients, error) {
	var q url.Values
	if node != "" {
		q = url.Values{"node": {node}}
	}
	var out api.Clients
	return &out, a.call(ctx, http.MethodGet, api.PathClients, q, nil, &out)
}

func sessionPath(pattern, id string) string {
	return strings.Replace(pattern, "{id}", url.PathEscape(id), 1)
}

func (s *SessionClient) grant(ctx context.Context, method, pattern, id string, req api.SessionRequest) (*api.Grant, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode session request: %w", err)
	}
	var out api.Grant
	if err := s.call(ctx, method, sessionPath(pattern, id), body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (s *SessionClient) call(ctx context.Context, method, path string, body []byte, out any) error {
	var h http.Header
	if body != nil {
		h = http.Header{"Content-Type": {"application/json"}}
	}
	return s.do(ctx, method, path, nil, body, h, out)
}
