package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

const testToken = "admin-token-never-shown-4242"

// TestAdminErrors checks the client side of failures: answers that are not
// the contract's JSON, an unreachable director, a bad URL. The token never
// shows in an error.
func TestAdminErrors(t *testing.T) {
	serve := func(status int, body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+testToken {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	dead := "http://" + testkit.FreeAddr(t)
	tests := []struct {
		name   string
		url    string
		status int // of the *APIError; 0 = not one
		want   string
	}{
		{"garbage 200", serve(200, "{not json"), 0, "decode answer"},
		{"html 502", serve(502, "<html>\n<b>bad</b></html>"), 502, "Bad Gateway: <html>"},
		{"empty 500", serve(500, ""), 500, "Internal Server Error"},
		{"api error", serve(404, `{"error":"no such node"}`), 404, "no such node"},
		{"validation", serve(400, `{"error":"invalid site","fields":[{"File":"s.yaml","Line":3,"Col":5,"Field":"zone","Msg":"bad"}]}`), 400, "(1 problem)"},
		{"refused", dead, 0, "connection refused"},
		{"bad url", "127.0.0.1:7700", 0, "director URL"},
		{"no scheme", "ftp://127.0.0.1:7700", 0, "want http"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewAdmin(tt.url, testToken+"\n", nil)
			_, err := a.Nodes(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Fatal("token in error")
			}
			var ae *APIError
			if got := errors.As(err, &ae); got != (tt.status != 0) || got && ae.Status != tt.status {
				t.Fatalf("err = %#v, want status %d", err, tt.status)
			}
			if ae != nil && tt.name == "validation" {
				lines := ae.Lines()
				if len(lines) != 2 || lines[1] != "s.yaml:3:5: zone: bad" {
					t.Fatalf("lines %q", lines)
				}
			}
		})
	}
}

func TestEndpoint(t *testing.T) {
	base, err := parseBase("http://127.0.0.1:7700/meridian/")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ path, want string }{
		{api.PathStatus, "http://127.0.0.1:7700/meridian/v1/status"},
		{nodePath(api.PathNode, "a/b"), "http://127.0.0.1:7700/meridian/v1/nodes/a%2Fb"},
	}
	for _, tt := range tests {
		if got := endpoint(base, tt.path, nil).String(); got != tt.want {
			t.Errorf("endpoint(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

func TestNodePath(t *testing.T) {
	tests := []struct{ pattern, node, want string }{
		{api.PathDrain, "us-traffic1", "/v1/nodes/us-traffic1/drain"},
		{api.PathNode, "a/b", "/v1/nodes/a%2Fb"},
		{api.PathUndrain, "x y", "/v1/nodes/x%20y/undrain"},
	}
	for _, tt := range tests {
		if got := nodePath(tt.pattern, tt.node); got != tt.want {
			t.Errorf("nodePath(%q, %q) = %q, want %q", tt.pattern, tt.node, got, tt.want)
		}
	}
}
