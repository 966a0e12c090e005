package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

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

// whoAmI checks a token with the admin API and names its operator. A
// wrong token is a 401 *client.APIError.
func (c *Console) whoAmI(ctx context.Context, token string) (string, error) {
	who, err := c.admin(&session{token: token}).WhoAmI(ctx)
	if err != nil {
		return "", err
	}
	return who.Name, nil
}

// audit reads the newest audit entries.
func (c *Console) audit(ctx context.Context, s *session, limit int) ([]api.AuditEntry, error) {
	return c.admin(s).Audit(ctx, limit)
}
