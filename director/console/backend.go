package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/api/client"
)

// apiBase is the base URL of the in-process admin API; no request to it
// leaves the process.
const apiBase = "http://director.invalid"

// admin returns the admin client of a session: `meridian ctl`'s client,
// bearing the operator's token, over the in-process transport.
func (c *Console) admin(s *session) *client.Admin {
	return client.NewAdmin(apiBase, s.token, c.hc)
}

// author is the author the console stores with a session's changes.
func author(s *session) string { return "console/" + s.name }

type ctxKey int

const (
	keyRemote ctxKey = iota // the browser's address, for the API's logs
	keyReason               // the operator's reason, sent as api.HeaderReason
)

// callContext carries the browser's address (and a reason) into the
// in-process API requests made for r.
func callContext(r *http.Request) context.Context {
	return context.WithValue(r.Context(), keyRemote, r.RemoteAddr)
}

func withReason(ctx context.Context, reason string) context.Context {
	if reason == "" {
		return ctx
	}
	return context.WithValue(ctx, keyReason, reason)
}

// inProcess is an http.RoundTripper that serves requests with a handler in
// this process: the console's requests to the director's API never touch
// the network, and they pass every check the API makes.
type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(req *http.Request) (resp *http.Response, err error) {
	if t.h == nil {
		return nil, errors.New("console: no API handler")
	}
	ctx := req.Context()
	r := req.Clone(ctx)
	r.RequestURI = req.URL.RequestURI()
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, 1
	r.RemoteAddr = "console"
	if a, ok := ctx.Value(keyRemote).(string); ok && a != "" {
		r.RemoteAddr = a
	}
	if reason, ok := ctx.Value(keyReason).(string); ok {
		r.Header.Set(api.HeaderReason, reason)
	}
	if r.Body == nil {
		r.Body = http.NoBody
	}
	defer r.Body.Close()
	rec := &recorder{hdr: http.Header{}}
	defer func() {
		if p := recover(); p != nil {
			resp, err = nil, fmt.Errorf("console: API handler for %s failed: %v", req.URL.Path, p)
		}
	}()
	t.h.ServeHTTP(rec, r)
	if rec.code == 0 {
		rec.code = http.StatusOK
	}
	return &http.Response{
		Status: fmt.Sprintf("%d %s", rec.code, http.StatusText(rec.code)), StatusCode: rec.code,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: rec.hdr, Body: io.NopCloser(bytes.NewReader(rec.body.Bytes())),
		ContentLength: int64(rec.body.Len()), Request: req,
	}, nil
}

// recorder is the http.ResponseWriter of an in-process request.
type recorder struct {
	hdr  http.Header
	code int
	body bytes.Buffer
}

func (w *recorder) Header() http.Header { return w.hdr }

func (w *recorder) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *recorder) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

func (w *recorder) Flush() {}

// getJSON reads an admin endpoint that api/client has no method for (yet)
// with the session's token and decodes its JSON answer into out. Non-2xx
// answers are *client.APIError values, as the client's.
func (c *Console) getJSON(ctx context.Context, s *session, path string, q url.Values, out any) error {
	u := apiBase + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("director %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("director %s: %w", path, err)
	}
	if resp.StatusCode/100 != 2 {
		ae := &client.APIError{Status: resp.StatusCode, Path: path, Message: http.StatusText(resp.StatusCode)}
		var e api.Error
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			ae.Message, ae.Fields = e.Error, e.Fields
		}
		return ae
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("director %s: decode answer: %w", path, err)
	}
	return nil
}

// whoAmI checks a token with the admin API and names its operator: GET
// /v1/whoami, or, from a director without it, GET /v1/status (a single
// unnamed admin token, "admin"). A wrong token is a 401 *client.APIError.
func (c *Console) whoAmI(ctx context.Context, token string) (string, error) {
	s := &session{token: token}
	var who api.WhoAmI
	err := c.getJSON(ctx, s, api.PathWhoAmI, nil, &who)
	switch {
	case err == nil && who.Name != "":
		return who.Name, nil
	case err == nil, client.IsStatus(err, http.StatusNotFound), client.IsStatus(err, http.StatusMethodNotAllowed):
		if _, err := c.admin(s).Status(ctx); err != nil {
			return "", err
		}
		return "admin", nil
	default:
		return "", err
	}
}

// audit reads the newest audit entries; a director without the audit
// endpoint has none.
func (c *Console) audit(ctx context.Context, s *session, limit int) ([]api.AuditEntry, error) {
	var out []api.AuditEntry
	err := c.getJSON(ctx, s, api.PathAudit, url.Values{"limit": {strconv.Itoa(limit)}}, &out)
	if client.IsStatus(err, http.StatusNotFound) {
		return nil, nil
	}
	return out, err
}
