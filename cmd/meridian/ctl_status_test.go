package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/internal/testkit"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/api/client"
	"github.com/meridian-traffic/meridian/api/client/clienttest"
	"github.com/meridian-traffic/meridian/cluster"
)

// TestCtlStatusTruth checks what `ctl status` says of subscribers against
// a real director: one refused for a wrong key is listed with the reason
// and a count; a lagging one's lag is counted in versions, not store
// revisions; a removed node leaves the list at once.
func TestCtlStatusTruth(t *testing.T) {
	site := clienttest.Site("lab", clienttest.Node{Name: "n1", Internal: testkit.FreeAddr(t)},
		clienttest.Node{Name: "n2", Internal: testkit.FreeAddr(t)})
	d := clienttest.Start(t, site)
	global := []string{"--director", d.URL, "--token-file", d.TokenFile}
	ctl := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := runCtl(context.Background(), append(args, global...), &out); err != nil {
			t.Fatalf("ctl %v: %v\n%s", args, err, out.String())
		}
		return out.String()
	}
	subscribe := func(id string, psk cluster.PSK) (*client.Subscriber, context.CancelFunc) {
		s, err := client.NewSubscriber(client.SubscriberConfig{Director: d.URL, PSK: psk, ID: id, Kind: api.KindNode,
			MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = s.Run(ctx) }()
		stop := func() { cancel(); <-done }
		t.Cleanup(stop)
		return s, stop
	}
	wrong, _ := cluster.NewPSK([]byte("a-key-the-director-does-not-have-42"))
	bad, _ := subscribe("n-wrong-key", wrong)
	n1, stopN1 := subscribe("n1", d.PSK)
	n2, _ := subscribe("n2", d.PSK)
	testkit.Eventually(t, 10*time.Second, "snapshots and refusals", func() bool {
		return n1.Current() != nil && n2.Current() != nil && bad.Stats().Errors >= 3
	})
	held := n1.Current().Version
	stopN1()
	// Versions are store revisions: sync now's history writes make them
	// jump by more than one per snapshot.
	ctl("sync", "--wait", "1s")
	ctl("drain", "n1")
	ctl("undrain", "n1")
	ctl("node", "remove", "n2")
	adm := client.NewAdmin(d.URL, clienttest.Token, nil)
	var st *api.Status
	var sub *api.Subscriber
	// Lagging once the newest snapshot is older than LagAfter (1s); the
	// health checks may publish more meanwhile.
	testkit.Eventually(t, 15*time.Second, "n1 lagging", func() bool {
		var err error
		if st, err = adm.Status(context.Background()); err != nil {
			t.Fatal(err)
		}
		sub = nil
		for i, s := range st.Subscribers {
			if s.ID == "n1" {
				sub = &st.Subscribers[i]
			}
		}
		return sub != nil && sub.Lagging
	})
	for _, s := range st.Subscribers {
		if s.ID == "n2" {
			t.Errorf("removed node n2 still listed: %+v", s)
		}
	}
	if sub == nil || !sub.Lagging || sub.Version != held {
		t.Fatalf("n1 %+v, want lagging at %d", sub, held)
	}
	if revs := st.Version - held; sub.Behind < 4 || sub.Behind >= revs {
		t.Errorf("n1 %d versions behind, want at least the 4 made and fewer than the %d revisions", sub.Behind, revs)
	}
	out := ctl("status")
	for _, want := range []string{
		"lagging (", " versions behind)",
		"REFUSED SUBSCRIBER", "n-wrong-key", "mac (wrong pre-shared key)", "127.0.0.1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "n2 ") && strings.Contains(l, "node") && strings.Contains(l, "ago") {
			t.Errorf("status lists removed n2 as a subscriber: %q", l)
		}
	}
}
