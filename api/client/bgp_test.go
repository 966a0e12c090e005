package client_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/api/client"
	"github.com/meridian-traffic/meridian/api/client/clienttest"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

// TestBGPWithdrawResume drives the operator's anycast withdraw through a
// real director: the reason reaches the node's state, resume clears it, an
// unknown node is a 404.
func TestBGPWithdrawResume(t *testing.T) {
	d := clienttest.Start(t, clienttest.Site("lab", clienttest.Node{Name: "n1", Internal: testkit.FreeAddr(t)}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := client.NewAdmin(d.URL, clienttest.Token, nil)
	withdrawn := func() string {
		t.Helper()
		nodes, err := adm.Nodes(ctx)
		if err != nil || len(nodes) != 1 {
			t.Fatalf("nodes: %v %+v", err, nodes)
		}
		return nodes[0].Withdrawn
	}

	steps := []struct {
		name   string
		call   func() error
		want   string
		status int // of the error; 0 = none
	}{
		{"withdraw", func() error { _, err := adm.BGPWithdraw(ctx, "n1", "uplink maintenance"); return err }, "uplink maintenance", 0},
		{"default reason", func() error { _, err := adm.BGPWithdraw(ctx, "n1", ""); return err }, "operator", 0},
		{"resume", func() error { _, err := adm.BGPResume(ctx, "n1"); return err }, "", 0},
		{"unknown withdraw", func() error { _, err := adm.BGPWithdraw(ctx, "nope", "x"); return err }, "", http.StatusNotFound},
		{"unknown resume", func() error { _, err := adm.BGPResume(ctx, "nope"); return err }, "", http.StatusNotFound},
	}
	for _, st := range steps {
		err := st.call()
		if st.status == 0 && err != nil || st.status != 0 && !client.IsStatus(err, st.status) {
			t.Fatalf("%s: err %v, want status %d", st.name, err, st.status)
		}
		if got := withdrawn(); got != st.want {
			t.Errorf("%s: withdrawn %q, want %q", st.name, got, st.want)
		}
	}
	clienttest.NoSecrets(t, "director logs", d.Logs.String())
}
