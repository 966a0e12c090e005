package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadAdminTokens: a bare token is the operator "admin", NAME TOKEN
// lines name several; a short token is refused with the file and line,
// never the token.
func TestReadAdminTokens(t *testing.T) {
	const a, b = "alice-token-0123456789", "bob-token-9876543210ab"
	tests := []struct {
		name    string
		data    string
		want    []string // operator names
		wantErr string
	}{
		{"bare", a + "\n", []string{"admin"}, ""},
		{"named", "# operators\nalice " + a + "\nbob " + b + "\n", []string{"alice", "bob"}, ""},
		{"short", "alice " + a + "\nbob short-token\n", nil, ":2: bob: token is too short: 11 bytes, want at least 16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "admin-tokens")
			if err := os.WriteFile(f, []byte(tt.data), 0o600); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			ts, err := readAdminTokens(f, false, slog.New(slog.NewTextHandler(&logs, nil)))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), f+tt.wantErr) {
					t.Fatalf("err = %v, want %s%s", err, f, tt.wantErr)
				}
				if strings.Contains(err.Error(), "short-token") || strings.Contains(err.Error(), a) {
					t.Errorf("the error quotes a token: %v", err)
				}
				return
			}
			if err != nil || len(ts) != len(tt.want) {
				t.Fatalf("tokens %v, err %v; want %v", len(ts), err, tt.want)
			}
			for i, n := range tt.want {
				if ts[i].Name != n {
					t.Errorf("token %d named %q, want %q", i, ts[i].Name, n)
				}
			}
			if strings.Contains(logs.String(), a) || strings.Contains(logs.String(), b) {
				t.Errorf("a token is logged: %s", logs.String())
			}
		})
	}
}

// TestDirectorShortToken: the director refuses to start with a short
// admin token, naming the file and line.
func TestDirectorShortToken(t *testing.T) {
	dir := t.TempDir()
	psk, tok := filepath.Join(dir, "psk"), filepath.Join(dir, "tokens")
	os.WriteFile(psk, []byte("director-test-pre-shared-key-0123\n"), 0o600)
	os.WriteFile(tok, []byte("# ops\nalice tiny\n"), 0o600)
	var out bytes.Buffer
	err := runDirector(context.Background(), []string{"--data", filepath.Join(dir, "etcd"), "--psk-file", psk, "--admin-token-file", tok}, &out)
	if err == nil || !strings.Contains(err.Error(), tok+":2: alice: token is too short") || strings.Contains(err.Error(), "tiny") {
		t.Fatalf("err = %v, want the file and line of the short token", err)
	}
}
