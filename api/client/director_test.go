package client_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/api/client"
	"github.com/meridian-traffic/meridian/api/client/clienttest"
	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

func version(s *client.Subscriber) uint64 {
	if c := s.Current(); c != nil {
		return c.Version
	}
	return 0
}

// TestAgainstDirector runs the subscriber and the admin client against a
// real director: new versions arrive, a wrong key is refused, every admin
// call works, a removed node gets 410.
func TestAgainstDirector(t *testing.T) {
	site := clienttest.Site("lab",
		clienttest.Node{Name: "n1", Internal: testkit.FreeAddr(t)},
		clienttest.Node{Name: "n2", Internal: testkit.FreeAddr(t)})
	d := clienttest.Start(t, site)
	ctx := context.Background()
	adm := client.NewAdmin(d.URL, clienttest.Token, nil)

	var calls atomic.Int32
	dns, err := client.NewSubscriber(client.SubscriberConfig{Director: d.URL, PSK: d.PSK, Site: "lab", ID: "dns/ns1",
		Kind: api.KindDNS, CacheFile: t.TempDir() + "/snap.json", OnSnapshot: func(*cluster.Snapshot) { calls.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Go(t, "subscriber", 10*time.Second, dns.Run)
	var removed atomic.Bool
	n2, err := client.NewSubscriber(client.SubscriberConfig{Director: d.URL, PSK: d.PSK, ID: "n2", Kind: api.KindNode,
		MaxBackoff: 100 * time.Millisecond, OnRemoved: func() { removed.Store(true) }})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Go(t, "subscriber", 10*time.Second, n2.Run)
	testkit.Eventually(t, 10*time.Second, "first snapshot", func() bool { return version(dns) > 0 && version(n2) > 0 })

	t.Run("wrong psk refused", func(t *testing.T) {
		other, _ := cluster.NewPSK([]byte("a-different-key-of-the-right-length"))
		s, err := client.NewSubscriber(client.SubscriberConfig{Director: d.URL, PSK: other, ID: "dns/bad", Kind: api.KindDNS,
			MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		testkit.Go(t, "subscriber", 10*time.Second, s.Run)
		testkit.Eventually(t, 10*time.Second, "refusals", func() bool { return s.Stats().Errors >= 2 })
		if st := s.Stats(); s.Current() != nil || !strings.Contains(st.LastError, "401") {
			t.Errorf("stats %+v", st)
		}
		hb := &api.Heartbeat{Node: "n1"}
		if err := s.SendHeartbeat(ctx, hb); !client.IsStatus(err, http.StatusUnauthorized) {
			t.Errorf("heartbeat with a wrong key: %v", err)
		}
	})

	t.Run("apply and follow", func(t *testing.T) {
		before := version(dns)
		changed := strings.Replace(string(site), "method: random", "method: srv", 1)
		res, err := adm.Apply(ctx, "lab.yaml", []byte(changed))
		if err != nil {
			t.Fatal(err)
		}
		if res.Version <= before || res.ConfigVersion != 2 {
			t.Fatalf("apply: %+v (held %d)", res, before)
		}
		testkit.Eventually(t, 10*time.Second, "new version", func() bool { return version(dns) >= res.Version })
		if m := dns.Current().Config.Selection.Method; m != cluster.MethodSRV {
			t.Errorf("method %s, want srv", m)
		}
		got, err := adm.GetConfig(ctx)
		if err != nil || !strings.Contains(string(got), "method: srv") {
			t.Errorf("GetConfig = %q, %v", got, err)
		}
	})

	t.Run("bad apply keeps the running version", func(t *testing.T) {
		before := version(dns)
		bad := strings.Replace(string(site), "ipv4: 192.0.2.12", "ipv4: 192.0.2.999", 1)
		_, err := adm.Apply(ctx, "bad.yaml", []byte(bad))
		var ae *client.APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || len(ae.Fields) == 0 {
			t.Fatalf("apply bad = %v", err)
		}
		if f := ae.Fields[0]; f.File != "bad.yaml" || f.Line == 0 || !strings.Contains(f.Field, "nodes[1].ipv4") {
			t.Errorf("field error %+v", f)
		}
		st, err := adm.Status(ctx)
		if err != nil || st.ConfigVersion != 2 || st.Version != before {
			t.Errorf("status %+v, %v", st, err)
		}
	})

	t.Run("history and rollback", func(t *testing.T) {
		hs, err := adm.History(ctx)
		if err != nil || len(hs) != 2 || hs[0].Version != 2 || hs[0].Author != "admin" || hs[0].Diff == "" {
			t.Fatalf("history %+v, %v", hs, err)
		}
		res, err := adm.Rollback(ctx, 1)
		if err != nil || res.ConfigVersion != 3 {
			t.Fatalf("rollback %+v, %v", res, err)
		}
		testkit.Eventually(t, 10*time.Second, "rolled back", func() bool { return version(dns) >= res.Version })
		if m := dns.Current().Config.Selection.Method; m != cluster.MethodRandom {
			t.Errorf("method %s after rollback", m)
		}
		if _, err := adm.Rollback(ctx, 99); !client.IsStatus(err, http.StatusNotFound) && !client.IsStatus(err, http.StatusBadRequest) {
			t.Errorf("rollback to 99: %v", err)
		}
	})

	t.Run("drain undrain", func(t *testing.T) {
		res, err := adm.Drain(ctx, "n1")
		if err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, 10*time.Second, "drained", func() bool { return version(dns) >= res.Version })
		if !dns.Current().Node("n1").Drained {
			t.Error("n1 not drained in the snapshot")
		}
		if res, err = adm.Undrain(ctx, "n1"); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, 10*time.Second, "undrained", func() bool { return version(dns) >= res.Version })
		if dns.Current().Node("n1").Drained {
			t.Error("n1 still drained")
		}
		if _, err := adm.Drain(ctx, "nope"); !client.IsStatus(err, http.StatusNotFound) {
			t.Errorf("drain unknown node: %v", err)
		}
	})

	t.Run("heartbeat shows in nodes", func(t *testing.T) {
		hb := &api.Heartbeat{Node: "n1", Version: version(dns), Load: 0.5, Uptime: api.Duration(time.Minute)}
		if err := dns.SendHeartbeat(ctx, hb); err != nil {
			t.Fatal(err)
		}
		ns, err := adm.Nodes(ctx)
		if err != nil || len(ns) != 2 {
			t.Fatalf("nodes %+v, %v", ns, err)
		}
		if ns[0].Name != "n1" || ns[0].Heartbeat == nil || ns[0].Heartbeat.Load != 0.5 || ns[0].LastHeartbeat.IsZero() {
			t.Errorf("n1: %+v", ns[0])
		}
	})

	t.Run("sync now", func(t *testing.T) {
		// A subscriber pinned to another site refuses every snapshot and
		// says so on its next poll: "sync now" reports it failed.
		foreign, err := client.NewSubscriber(client.SubscriberConfig{Director: d.URL, PSK: d.PSK, Site: "other", ID: "dns/foreign",
			Kind: api.KindDNS, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		testkit.Go(t, "subscriber", 10*time.Second, foreign.Run)
		testkit.Eventually(t, 10*time.Second, "foreign refuses", func() bool { return foreign.Stats().Refused > 0 })
		rep, err := adm.SyncNow(ctx, 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Version > version(dns) {
			t.Errorf("report version %d, dns holds %d", rep.Version, version(dns))
		}
		got := map[string]api.SyncEvent{}
		for _, e := range rep.Events {
			if e.Event != "started" {
				got[e.Subscriber] = e
			}
		}
		if e := got["dns/ns1"]; e.Event != "finished" || e.Version != rep.Version {
			t.Errorf("dns/ns1: %+v in %+v", e, rep)
		}
		if e := got["dns/foreign"]; e.Event != "failed" || !strings.Contains(e.Reason, cluster.ErrForeignSite.Error()) {
			t.Errorf("dns/foreign: %+v in %+v", e, rep)
		}
		evs, err := adm.SyncHistory(ctx)
		if err != nil || len(evs) == 0 {
			t.Errorf("sync history %v, %v", evs, err)
		}
	})

	t.Run("explain", func(t *testing.T) {
		ex, err := adm.Explain(ctx, "10.1.2.3", "")
		if err != nil {
			t.Fatal(err)
		}
		if ex.Client == "" || len(ex.Trace) == 0 {
			t.Errorf("explain %+v", ex)
		}
	})

	t.Run("remove node", func(t *testing.T) {
		res, err := adm.RemoveNode(ctx, "n2")
		if err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, 10*time.Second, "n2 told", func() bool { return removed.Load() })
		if n2.Current() != nil || !n2.Stats().Removed {
			t.Errorf("n2 still holds %d", version(n2))
		}
		testkit.Eventually(t, 10*time.Second, "dns follows", func() bool { return version(dns) >= res.Version })
		if dns.Current().Config.Node("n2") != nil {
			t.Error("n2 still in the site")
		}
		err = n2.SendHeartbeat(ctx, &api.Heartbeat{Node: "n2"})
		if !errors.Is(err, client.ErrRemoved) {
			t.Errorf("heartbeat of removed node: %v", err)
		}
	})

	t.Run("wrong token", func(t *testing.T) {
		_, err := client.NewAdmin(d.URL, "wrong", nil).Status(ctx)
		if !client.IsStatus(err, http.StatusUnauthorized) {
			t.Errorf("status with a wrong token: %v", err)
		}
	})

	if n := calls.Load(); int(n) < 5 {
		t.Errorf("dns saw %d snapshots", n)
	}
	if st := dns.Stats(); st.Refused != 0 {
		t.Errorf("dns refused snapshots: %+v", st)
	}
	clienttest.NoSecrets(t, "director logs", d.Logs.String())
}

// TestDirectorAway checks that a subscriber keeps its snapshot while the
// director is stopped, retries, and follows it again once it is back.
func TestDirectorAway(t *testing.T) {
	site := clienttest.Site("lab", clienttest.Node{Name: "n1", Internal: testkit.FreeAddr(t)})
	d := clienttest.Start(t, site)
	s, err := client.NewSubscriber(client.SubscriberConfig{Director: d.URL, PSK: d.PSK, ID: "dns/ns1", Kind: api.KindDNS,
		CacheFile: t.TempDir() + "/snap.json", MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Go(t, "subscriber", 10*time.Second, s.Run)
	testkit.Eventually(t, 10*time.Second, "first snapshot", func() bool { return version(s) > 0 })
	d.Stop(t)
	held := version(s)
	testkit.Eventually(t, 10*time.Second, "retries", func() bool { st := s.Stats(); return !st.Reachable && st.Errors >= 3 })
	if version(s) != held {
		t.Fatalf("held %d, want %d", version(s), held)
	}

	d.Restart(t)
	res, err := client.NewAdmin(d.URL, clienttest.Token, nil).Drain(context.Background(), "n1")
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the change after the restart", func() bool { return version(s) >= res.Version })
	if st := s.Stats(); !st.Reachable || st.Refused != 0 || !s.Current().Node("n1").Drained {
		t.Errorf("stats %+v", st)
	}
}
