package client_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/internal/testkit"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/api/client"
	"github.com/meridian-traffic/meridian/api/client/clienttest"
	"github.com/meridian-traffic/meridian/cluster"
)

// TestAuditWhoAmI: each operator's token names its actions; a reason given
// with WithReason reaches the audit on one line; a refused action is
// audited with its error.
func TestAuditWhoAmI(t *testing.T) {
	const carolToken = "carol-admin-token-0a1b2c3d"
	d := clienttest.Start(t, clienttest.Site("lab", clienttest.Node{Name: "n1", Internal: testkit.FreeAddr(t)}),
		clienttest.WithOperators(cluster.NamedToken{Name: "carol", Token: carolToken}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := client.NewAdmin(d.URL, clienttest.Token, nil)
	carol := client.NewAdmin(d.URL, carolToken, nil).WithReason("kernel update\nticket 42")

	for adm, want := range map[*client.Admin]string{admin: "admin", carol: "carol"} {
		who, err := adm.WhoAmI(ctx)
		if err != nil || who.Name != want {
			t.Errorf("whoami: %+v %v, want %s", who, err, want)
		}
	}
	res, err := carol.Drain(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Undrain(ctx, "nope"); !client.IsStatus(err, http.StatusNotFound) {
		t.Fatalf("undrain of an unknown node: %v", err)
	}
	es, err := admin.Audit(ctx, 0)
	if err != nil || len(es) != 2 {
		t.Fatalf("audit: %v %+v", err, es)
	}
	want := []api.AuditEntry{
		{Who: "admin", Action: api.AuditUndrain, Target: "nope", Result: `node "nope": no such node`},
		{Who: "carol", Action: api.AuditDrain, Target: "n1", Reason: "kernel update ticket 42", Version: res.Version, Result: "ok"},
	}
	for i, w := range want {
		got := es[i]
		got.Time = time.Time{}
		if got != w {
			t.Errorf("audit[%d] = %+v, want %+v", i, got, w)
		}
	}
	if es, err := admin.Audit(ctx, 1); err != nil || len(es) != 1 || es[0].Who != "admin" {
		t.Errorf("audit limit 1: %v %+v", err, es)
	}
	hs, err := admin.History(ctx)
	if err != nil || len(hs) != 1 {
		t.Fatalf("history: %v %+v", err, hs)
	}
	clienttest.NoSecrets(t, "director logs", d.Logs.String())
}
