package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/api/client/clienttest"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

// TestCtl runs every ctl command against a real director, in order: each
// step's output and error are checked, and no secret is ever printed.
func TestCtl(t *testing.T) {
	site := clienttest.Site("lab", clienttest.Node{Name: "n1", Internal: testkit.FreeAddr(t)},
		clienttest.Node{Name: "n2", Internal: testkit.FreeAddr(t)})
	d := clienttest.Start(t, site)
	dir := t.TempDir()
	write := func(name, text string) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	good := write("good.yaml", strings.Replace(string(site), "method: random", "method: srv", 1))
	badOffline := write("bad.yaml", string(site)+"    weight: heavy\n")
	foreign := write("foreign.yaml", strings.Replace(string(site), "site: lab", "site: other", 1))
	global := []string{"--director", d.URL, "--token-file", d.TokenFile}

	tests := []ctlCase{
		{"help", []string{"help"}, []string{"node remove NAME", "--json"}, nil},
		{"unknown", []string{"frobnicate"}, nil, []string{`unknown command "frobnicate"`}},
		{"validate good", []string{"validate", good}, []string{"good.yaml: site lab, 2 nodes, method srv: ok"}, nil},
		{"validate bad", []string{"validate", good, badOffline}, nil, []string{"1 of 2 files invalid", "bad.yaml:16:13: nodes[1].weight: want a whole number"}},
		{"status", []string{"status"}, []string{"site      lab", "MASTER", "NODE", "SUBSCRIBER"}, nil},
		{"nodes", []string{"nodes"}, []string{"NODE  REGION  STATE", "n1", "n2"}, nil},
		{"apply good", []string{"apply", "-f", good, "--author", "alice"}, []string{"applied " + good + ": config version 2"}, nil},
		{"apply unchanged", []string{"apply", "-f", good}, []string{"unchanged: config version 2"}, nil},
		{"apply bad offline", []string{"apply", "-f", badOffline}, nil, []string{"bad.yaml rejected (1 problem)", "\n" + badOffline + ":16:13: nodes[1].weight: want a whole number"}},
		{"apply foreign", []string{"apply", "-f", foreign}, nil, []string{"400", "\n" + foreign + ":1:7: site: \"other\" is not this director's site \"lab\""}},
		{"apply no file", []string{"apply"}, nil, []string{"want -f FILE"}},
		{"history", []string{"history"}, []string{"VERSION  TIME", "admin", "apply"}, nil},
		{"history diff", []string{"history", "--diff"}, []string{"+selection: {method: srv}"}, nil},
		{"rollback", []string{"rollback", "1", "--author", "bob"}, []string{"rolled back to 1: config version 3"}, nil},
		{"rollback bad", []string{"rollback", "one"}, nil, []string{`version "one": want a positive number`}},
		{"rollback missing", []string{"rollback", "42"}, nil, []string{"rollback: director"}},
		{"drain", []string{"drain", "n1", "--reason", "kernel update"}, []string{"drained n1: snapshot"}, nil},
		{"drain again", []string{"drain", "n1"}, []string{"unchanged: n1 already drained"}, nil},
		{"drained in nodes", []string{"nodes"}, []string{",drained"}, nil},
		{"flags before", []string{"--json", "nodes"}, []string{`"name": "n1"`}, nil},
		{"undrain flags after", []string{"undrain", "n1", "--json"}, []string{`"version":`}, nil},
		{"drain unknown", []string{"drain", "nope"}, nil, []string{`404: drain: node "nope"`}},
		{"undrain unknown", []string{"undrain", "nope"}, nil, []string{`404: undrain: node "nope"`}},
		{"drain no name", []string{"drain"}, nil, []string{"want a node name"}},
		{"sync", []string{"sync", "--timeout", "2s"}, []string{"sync of version", "SUBSCRIBER"}, nil},
		{"sync history", []string{"sync", "--history"}, []string{"TIME", "EVENT"}, nil},
		{"explain", []string{"explain", "10.1.2.3"}, []string{"client  10.1.2.3"}, nil},
		{"node remove", []string{"node", "remove", "n2"}, []string{"removed n2: config version 4"}, nil},
		{"node bad", []string{"node", "delete", "n2"}, nil, []string{"want: node remove NAME"}},
		{"config", []string{"config"}, []string{"site: lab"}, nil},
		{"whoami", []string{"whoami"}, []string{"admin\n"}, nil},
		{"audit", []string{"audit", "--limit", "3"}, []string{"TIME  ", "WHO", "ACTION", "admin  node remove  n2", "sync now",
			`node "nope": no such node`}, nil},
		{"audit all", []string{"audit", "--limit", "20"}, []string{"kernel update", "rollback     42", "no such config version",
			"apply        " + good}, nil},
		{"audit bad limit", []string{"audit", "--limit", "0"}, nil, []string{"--limit 0: want a positive number"}},
		{"bad flag", []string{"nodes", "--colour"}, nil, []string{"flag provided but not defined: -colour"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			args := append(append([]string{}, tt.args...), global...)
			if tt.args[0] == "--json" {
				args = append(append([]string{}, global...), tt.args...)
			}
			if tt.args[0] == "help" || tt.args[0] == "validate" {
				args = tt.args
			}
			err := runCtl(context.Background(), args, &out)
			checkCtl(t, out.String(), err, tt.want, tt.wantErr)
		})
	}
	clienttest.NoSecrets(t, "director logs", d.Logs.String())
}

// ctlCase is one ctl command of a table test.
type ctlCase struct {
	name    string
	args    []string
	want    []string // substrings of the output
	wantErr []string // substrings of the error; nil = success
}

// checkCtl checks one ctl run: its error holds every wantErr substring
// (nil wantErr: no error), its output every want substring, and neither
// shows a secret.
func checkCtl(t *testing.T, out string, err error, want, wantErr []string) {
	t.Helper()
	if wantErr == nil && err != nil {
		t.Fatalf("error %v; output:\n%s", err, out)
	}
	if wantErr != nil {
		if err == nil {
			t.Fatalf("no error; output:\n%s", out)
		}
		for _, w := range wantErr {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q lacks %q", err, w)
			}
		}
		clienttest.NoSecrets(t, "the error", err.Error())
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	clienttest.NoSecrets(t, "the output", out)
}

// TestCtlJSON checks that --json prints the api structs.
func TestCtlJSON(t *testing.T) {
	site := clienttest.Site("lab", clienttest.Node{Name: "n1", Internal: testkit.FreeAddr(t)})
	d := clienttest.Start(t, site)
	siteFile := filepath.Join(t.TempDir(), "site.yaml")
	if err := os.WriteFile(siteFile, site, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		into any
	}{
		{[]string{"status"}, &api.Status{}},
		{[]string{"nodes"}, &[]api.NodeStatus{}},
		{[]string{"history"}, &[]api.ConfigVersion{}},
		{[]string{"audit"}, &[]api.AuditEntry{}},
		{[]string{"whoami"}, &api.WhoAmI{}},
		{[]string{"drain", "n1"}, &api.ChangeResult{}},
		{[]string{"sync", "--history"}, &[]api.SyncEvent{}},
		{[]string{"explain", "192.0.2.99"}, &api.Explain{}},
		{[]string{"validate", siteFile}, &[]validateResult{}},
	}
	for _, tt := range tests {
		t.Run(tt.args[0], func(t *testing.T) {
			var out bytes.Buffer
			args := append([]string{tt.args[0], "--json", "--director", d.URL, "--token-file", d.TokenFile}, tt.args[1:]...)
			if err := runCtl(context.Background(), args, &out); err != nil {
				t.Fatal(err)
			}
			dec := json.NewDecoder(&out)
			dec.DisallowUnknownFields()
			if err := dec.Decode(tt.into); err != nil {
				t.Fatalf("not the api struct: %v\n%s", err, out.String())
			}
		})
	}
}

// TestCtlToken checks the token's sources and that it is never printed.
func TestCtlToken(t *testing.T) {
	d := clienttest.Start(t, clienttest.Site("lab", clienttest.Node{Name: "n1", Internal: testkit.FreeAddr(t)}))
	wrong := filepath.Join(t.TempDir(), "wrong")
	if err := os.WriteFile(wrong, []byte("not-the-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string
	}{
		{"env", map[string]string{envDirector: d.URL, envTokenFile: d.TokenFile}, nil, ""},
		{"env list: the first", map[string]string{envDirector: d.URL + ", http://" + testkit.FreeAddr(t), envTokenFile: d.TokenFile}, nil, ""},
		{"no token", map[string]string{envDirector: d.URL, envTokenFile: ""}, nil, "no admin token"},
		{"missing file", map[string]string{envDirector: d.URL}, []string{"--token-file", "/nonexistent/token"}, "admin token: open"},
		{"wrong token", map[string]string{envDirector: d.URL}, []string{"--token-file", wrong}, "401"},
		{"no director", map[string]string{envDirector: "http://" + testkit.FreeAddr(t), envTokenFile: d.TokenFile}, nil, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var out bytes.Buffer
			err := runCtl(context.Background(), append([]string{"status"}, tt.args...), &out)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if err != nil {
				clienttest.NoSecrets(t, "the error", err.Error())
			}
			clienttest.NoSecrets(t, "the output", out.String())
		})
	}
}

// TestCtlTimeout checks that a director which accepts connections but never
// answers costs the operator --timeout, and the message says where and how
// long.
func TestCtlTimeout(t *testing.T) {
	ln := testkit.Silent(t)
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"status", "--timeout", "300ms"}, "within 300ms"},
		{[]string{"nodes", "--timeout", "200ms"}, "within 200ms"},
		{[]string{"sync", "--timeout", "200ms", "--wait", "100ms"}, "within 300ms"},
		{[]string{"status", "--timeout", "0s"}, "want a positive duration"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			start := time.Now()
			var out bytes.Buffer
			err := runCtl(context.Background(), append(tt.args, "--director", url, "--token-file", tok), &out)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if strings.Contains(tt.want, "within") && !strings.Contains(err.Error(), url) {
				t.Errorf("err = %v: does not name the director %s", err, url)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
}
