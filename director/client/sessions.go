package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/meridian-traffic/meridian/director/api"
)

// SessionClient is a client application of the session broker (a support
// portal, a customer or representative app), authenticated with a client
// API token. Non-2xx answers are *APIError values: 400 bad input, 401 bad
// token, 404 unknown or ended session, 409 representative not joined, 429
// rate limited.
type SessionClient struct {
	base  *url.URL
	err   error
	token string
	hc    *http.Client
}

// NewSessionClient returns a session API client for the director at
// baseURL. hc nil means DefaultHTTPClient().
func NewSessionClient(baseURL, token string, hc *http.Client) *SessionClient {
	base, err := parseBase(baseURL)
	if hc == nil {
		hc = DefaultHTTPClient()
	}
	return &SessionClient{base: base, err: err, token: strings.TrimSpace(token), hc: hc}
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
	return &out, a.call(ctx, http.MethodGet, api.PathClients, q, nil, "", &out)
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
	if s.err != nil {
		return s.err
	}
	if s.token == "" {
		return errors.New("no client API token")
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, adminTimeout)
		defer cancel()
	}
	u := endpoint(s.base, path, nil)
	req, err := newRequest(ctx, method, u, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return fmt.Errorf("director %s: %w", u.Path, err)
	}
	defer resp.Body.Close()
	b, err := readAnswer(resp, u.Path)
	if err != nil {
		return err
	}
	if out == nil || len(strings.TrimSpace(string(b))) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("director %s: decode answer: %w", u.Path, err)
	}
	return nil
}
