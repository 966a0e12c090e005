package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/api/client/clienttest"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

// TestRunNode starts `meridian node` against a real director and checks it
// serves, both with the key in a file and in the environment, and never
// logs a secret.
func TestRunNode(t *testing.T) {
	listen := testkit.FreeAddr(t)
	d := clienttest.Start(t, clienttest.Site("lab", clienttest.Node{Name: "n1", Internal: listen, IPv4: "127.0.0.211"}))
	tests := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"psk file", nil, []string{"--psk-file", d.PSKFile}},
		{"psk env", map[string]string{envPSK: clienttest.PSKText}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			logs := &testkit.Buffer{}
			args := append([]string{"--name", "n1", "--director", d.URL, "--site", "lab", "--cache", filepath.Join(t.TempDir(), "c"),
				"--listen", listen, "--log-level", "debug"}, tt.args...)
			node := testkit.Go(t, "runNode", 10*time.Second, func(ctx context.Context) error { return runNode(ctx, args, logs) })
			testkit.Eventually(t, 10*time.Second, "health 200", serving(listen))
			_ = node.Stop()
			if !strings.Contains(logs.String(), "snapshot received") {
				t.Errorf("logs:\n%s", logs.String())
			}
			clienttest.NoSecrets(t, "node logs", logs.String())
		})
	}
}

// serving reports whether the node agent whose health endpoint is at addr
// answers 200 "ok".
func serving(addr string) func() bool {
	return func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == 200 && string(b) == "ok"
	}
}

func TestRunNodeFlags(t *testing.T) {
	t.Setenv(envPSK, "")
	t.Setenv(envPSKFile, "")
	dir := t.TempDir()
	secret := func(name, data string, mode os.FileMode) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		return f
	}
	good := secret("psk", "0123456789abcdef0123456789abcdef\n", 0o600)
	short := secret("short", "0123\n", 0o600)
	empty := secret("empty", "\n", 0o600)
	open := secret("open", "0123456789abcdef0123456789abcdef\n", 0o644)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no name", nil, "--name is required"},
		{"bad level", []string{"--name", "n1", "--log-level", "loud"}, `--log-level "loud"`},
		{"no psk", []string{"--name", "n1"}, "no pre-shared key"},
		{"short psk", []string{"--name", "n1", "--psk-file", short}, "too short"},
		{"empty psk", []string{"--name", "n1", "--psk-file", empty}, empty + ": empty"},
		{"psk others may read", []string{"--name", "n1", "--psk-file", open}, "readable by group or others (mode 0644"},
		{"psk others may read, allowed", []string{"--name", "n1", "--psk-file", open, "--allow-insecure-secret-files", "--director", "nowhere"}, "director URL"},
		{"bad director", []string{"--name", "n1", "--psk-file", good, "--director", "nowhere"}, "director URL"},
		{"bad second director", []string{"--name", "n1", "--psk-file", good, "--director", "http://127.0.0.1:1,nowhere"}, "director URL"},
		{"empty director list", []string{"--name", "n1", "--psk-file", good, "--director", " , "}, "no director URL"},
		{"unknown flag", []string{"--colour"}, "not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := runNode(context.Background(), tt.args, &out)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
