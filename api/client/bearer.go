package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// requestTimeout bounds one operator or session request that has no
// deadline of its own; SyncNow adds its own wait.
const requestTimeout = 30 * time.Second

// bearer is a director API client that authenticates with a bearer token:
// the admin token (Admin) or a client API token (SessionClient).
type bearer struct {
	base  *url.URL
	err   error  // a bad base URL, reported by every call
	token string // never printed
	what  string // the token's name in errors
	hc    *http.Client
}

func newBearer(baseURL, token, what string, hc *http.Client) bearer {
	base, err := parseBase(baseURL)
	if hc == nil {
		hc = DefaultHTTPClient()
	}
	return bearer{base: base, err: err, token: strings.TrimSpace(token), what: what, hc: hc}
}

// rawBody receives an answer as it is.
type rawBody []byte

// do sends one request and decodes a 2xx answer into out (nil: ignore it,
// *rawBody: keep it as it is). Non-2xx answers are *APIError values.
func (c *bearer) do(ctx context.Context, method, path string, q url.Values, body []byte, hdr http.Header, out any) error {
	if c.err != nil {
		return c.err
	}
	if c.token == "" {
		return errors.New("no " + c.what)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, requestTimeout)
		defer cancel()
	}
	u := endpoint(c.base, path, q)
	req, err := newRequest(ctx, method, u, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("director %s: %w", u.Path, err)
	}
	defer resp.Body.Close()
	b, err := readAnswer(resp, u.Path)
	if err != nil {
		return err
	}
	switch o := out.(type) {
	case nil:
	case *rawBody:
		*o = b
	default:
		if len(strings.TrimSpace(string(b))) == 0 {
			return nil
		}
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("director %s: decode answer: %w", u.Path, err)
		}
	}
	return nil
}
