package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/api/client"
	"github.com/meridian-traffic/meridian/api/client/clienttest"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

// TestCtlBGP runs `ctl bgp` and its withdraw and resume against a real
// director, with n1's speaker state in a real signed heartbeat.
func TestCtlBGP(t *testing.T) {
	d := clienttest.Start(t, clienttest.Site("lab", clienttest.Node{Name: "n1", Internal: testkit.FreeAddr(t)},
		clienttest.Node{Name: "n2", Internal: testkit.FreeAddr(t)}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	agent, err := client.NewSubscriber(client.SubscriberConfig{Director: d.URL, PSK: d.PSK, ID: "n1", Kind: api.KindNode})
	if err != nil {
		t.Fatal(err)
	}
	changed := time.Now().Add(-90 * time.Second)
	hb := &api.Heartbeat{
		Node:       "n1",
		Announcing: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")},
		BGP: []api.BGPPeer{
			{Neighbor: "192.0.2.254", State: "established", Since: time.Now().Add(-5 * time.Minute), Reason: "session up"},
			{Neighbor: "2001:db8::fe", State: "active", Since: time.Now(), Reason: "notification received: code 6 subcode 2"},
		},
		BGPSpeaker: &api.BGPSpeaker{Phase: "announced", Healthy: true, LastChange: changed, Reason: "healthy (2 checks in a row) and accepting"},
	}
	if err := agent.SendHeartbeat(ctx, hb); err != nil {
		t.Fatal(err)
	}
	global := []string{"--director", d.URL, "--token-file", d.TokenFile}

	tests := []ctlCase{
		{"help", []string{"help"}, []string{"bgp withdraw NODE [--reason TEXT]", "bgp resume NODE"}, nil},
		{"table", []string{"bgp"}, []string{
			"NODE  NEIGHBOR", "PHASE", "WITHDRAWN",
			"192.0.2.254", "established", "5m ago", "198.51.100.0/24", "announced", "1m ago", "healthy (2 checks in a row) and accepting",
			"2001:db8::fe", "notification received: code 6 subcode 2",
			"\nn2  ", // a node without a speaker still shows
		}, nil},
		{"withdraw", []string{"bgp", "withdraw", "n1", "--reason", "uplink maintenance"}, []string{"withdrew anycast of n1: snapshot"}, nil},
		{"withdrawn shows", []string{"bgp"}, []string{"uplink maintenance"}, nil},
		{"withdraw default reason", []string{"bgp", "withdraw", "n2"}, []string{"withdrew anycast of n2"}, nil},
		{"resume", []string{"bgp", "resume", "n1", "--json"}, []string{`"version":`}, nil},
		{"withdraw unknown", []string{"bgp", "withdraw", "nope"}, nil, []string{"bgp: director", "404"}},
		{"resume no name", []string{"bgp", "resume"}, nil, []string{"want a node name"}},
		{"withdraw two names", []string{"bgp", "withdraw", "n1", "n2"}, nil, []string{"want a node name"}},
		{"unknown sub", []string{"bgp", "flap", "n1"}, nil, []string{`unknown bgp command "flap"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			args := append(append([]string{}, tt.args...), global...)
			if tt.args[0] == "help" {
				args = tt.args
			}
			err := runCtl(ctx, args, &out)
			checkCtl(t, out.String(), err, tt.want, tt.wantErr)
		})
	}

	// --json: one entry per node, the operator's withdraw and the speaker.
	var out bytes.Buffer
	if err := runCtl(ctx, append([]string{"bgp", "--json"}, global...), &out); err != nil {
		t.Fatal(err)
	}
	var nodes []ctlBGPNode
	dec := json.NewDecoder(&out)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&nodes); err != nil {
		t.Fatalf("bgp --json: %v\n%s", err, out.String())
	}
	if len(nodes) != 2 || nodes[0].Node != "n1" || nodes[0].Withdrawn != "" || len(nodes[0].Neighbors) != 2 ||
		nodes[0].Speaker == nil || nodes[0].Speaker.Phase != "announced" ||
		nodes[1].Withdrawn != api.DefaultWithdrawReason || nodes[1].Speaker != nil {
		t.Errorf("bgp --json: %+v", nodes)
	}
	clienttest.NoSecrets(t, "director logs", d.Logs.String())
}
