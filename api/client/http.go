package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/meridian-traffic/meridian/api"
)

// maxBody bounds what is read from the director: a snapshot of a large site
// is a few hundred kilobytes, so this only stops a runaway peer.
const maxBody = 64 << 20

// DefaultHTTPClient returns a client with dial, TLS and idle timeouts but no
// overall timeout: long-polls last up to the director's wait, so every
// request carries its own deadline instead.
func DefaultHTTPClient() *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{Transport: &http.Transport{
		Proxy:                 nil, // loopback and private networks: never through a proxy
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
		ExpectContinueTimeout: time.Second,
	}}
}

// parseBase checks a director base URL.
func parseBase(s string) (*url.URL, error) {
	if s == "" {
		return nil, fmt.Errorf("director URL is empty")
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("director URL %q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("director URL %q: want http://HOST:PORT or https://HOST:PORT", s)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("director URL %q: want no user, query or fragment", s)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// endpoint returns base joined with an API path (escaped form, as
// nodePath makes it) and query.
func endpoint(base *url.URL, path string, q url.Values) *url.URL {
	u := *base
	u.RawPath = base.EscapedPath() + path
	if p, err := url.PathUnescape(u.RawPath); err == nil {
		u.Path = p
	} else {
		u.Path, u.RawPath = base.Path+path, ""
	}
	u.RawQuery = q.Encode()
	return &u
}

// nonce returns a fresh random request nonce (32 hex characters).
func nonce() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("request nonce: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// readAnswer reads a response body and turns a non-2xx status into an
// *APIError.
func readAnswer(resp *http.Response, path string) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("director %s: read answer: %w", path, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return body, nil
	}
	ae := &APIError{Status: resp.StatusCode, Path: path}
	var e api.Error
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		ae.Message, ae.Fields = e.Error, e.Fields
		return nil, ae
	}
	ae.Message = http.StatusText(resp.StatusCode)
	if x := excerpt(body); x != "" {
		ae.Message += ": " + x
	}
	return nil, ae
}

// newRequest builds a request with an optional body.
func newRequest(ctx context.Context, method string, u *url.URL, body []byte) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), r)
	if err != nil {
		return nil, fmt.Errorf("director %s: %w", u.Path, err)
	}
	return req, nil
}
