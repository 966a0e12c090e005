package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/api/client/clienttest"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

// TestTLS runs ctl and the node agent against a director serving TLS: they
// trust it with --ca and refuse it without.
func TestTLS(t *testing.T) {
	listen := testkit.FreeAddr(t)
	d := clienttest.Start(t, clienttest.Site("lab", clienttest.Node{Name: "n1", Internal: listen, IPv4: "127.0.0.212"}), clienttest.WithTLS())
	if !strings.HasPrefix(d.URL, "https://") {
		t.Fatalf("URL %s", d.URL)
	}
	t.Setenv(envPSK, "")
	t.Setenv(envPSKFile, "")
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"with ca", []string{"--ca", d.CAFile}, ""},
		{"without ca", nil, "certificate"},
		{"bad ca file", []string{"--ca", d.TokenFile}, "no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run("ctl "+tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := runCtl(context.Background(), append([]string{"nodes", "--director", d.URL, "--token-file", d.TokenFile}, tt.args...), &out)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
	t.Run("node with ca", func(t *testing.T) {
		logs := &testkit.Buffer{}
		testkit.Go(t, "runNode", 10*time.Second, func(ctx context.Context) error {
			return runNode(ctx, []string{"--name", "n1", "--director", d.URL, "--psk-file", d.PSKFile, "--ca", d.CAFile,
				"--cache", filepath.Join(t.TempDir(), "c")}, logs)
		})
		testkit.Eventually(t, 10*time.Second, "health 200", serving(listen))
		clienttest.NoSecrets(t, "node logs", logs.String())
	})
}
