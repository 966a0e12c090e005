package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/api/client"
	"github.com/meridian-traffic/meridian/api/client/clienttest"
	"github.com/meridian-traffic/meridian/director"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

// TestCtlClients shows a real session's parties from a node's heartbeat.
func TestCtlClients(t *testing.T) {
	const clientToken = "ctl-clients-app-token-77"
	site := clienttest.Site("lab", clienttest.Node{Name: "n1", Internal: testkit.FreeAddr(t)},
		clienttest.Node{Name: "n2", Internal: testkit.FreeAddr(t)})
	d := clienttest.Start(t, site, func(_ testing.TB, _ string, _ *clienttest.Director, cfg *director.Config) {
		cfg.ClientTokens = []string{clientToken}
	})
	ctx := context.Background()
	g, err := client.NewSessionClient(d.URL, clientToken, nil).Create(ctx, api.SessionRequest{Address: "198.51.100.7"})
	if err != nil {
		t.Fatalf("create session: %v", err)
	}
	sub, err := client.NewSubscriber(client.SubscriberConfig{Director: d.URL, PSK: d.PSK, ID: "n1", Kind: api.KindNode})
	if err != nil {
		t.Fatal(err)
	}
	since := time.Now().Add(-time.Minute)
	err = sub.SendHeartbeat(ctx, &api.Heartbeat{Node: "n1", Clients: 3, RelayUsers: []api.RelayUser{
		{User: g.ID + "/customer", Allocations: 2, Since: since, ToPeerBytes: 1234, ToClientBytes: 5678},
		{User: "probe", Allocations: 1, Since: since},
	}})
	if err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	global := []string{"--director", d.URL, "--token-file", d.TokenFile}
	for _, tt := range []struct {
		name    string
		args    []string
		want    []string
		wantErr string
	}{
		{"all", []string{"clients"}, []string{"NODE  HEARTBEAT", "n1", g.ID + "/customer", "1234", "5678", "probe", "n2", "SESSION", g.ID + "  active  customer  n1"}, ""},
		{"one node", []string{"clients", "--node", "n2"}, []string{"n2", "SESSION", "(none)"}, ""},
		{"json", []string{"clients", "--json", "--node", "n1"}, []string{`"to_client_bytes": 5678`, `"active": true`}, ""},
		{"unknown node", []string{"clients", "--node", "nope"}, nil, "clients: director /v1/clients: 404"},
		{"extra argument", []string{"clients", "n1"}, nil, `unexpected argument "n1"`},
		{"help lists it", []string{"help"}, []string{"clients [--node N]"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			args := append(append([]string{}, tt.args...), global...)
			err := runCtl(ctx, args, &out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ctl %v: %v\n%s", tt.args, err, out.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if strings.Contains(out.String(), clienttest.Token) || strings.Contains(out.String(), clientToken) {
				t.Error("output shows a token")
			}
		})
	}
	var out bytes.Buffer
	if err := runCtl(ctx, append([]string{"clients", "--json"}, global...), &out); err != nil {
		t.Fatal(err)
	}
	var cl api.Clients
	if err := json.Unmarshal(out.Bytes(), &cl); err != nil || len(cl.Nodes) != 2 || len(cl.Sessions) != 1 || len(cl.Sessions[0].Parties) != 1 {
		t.Errorf("clients --json: %+v, %v", cl, err)
	}
}
