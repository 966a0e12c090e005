package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/api/client"
	"github.com/meridian-traffic/meridian/api/client/clienttest"
	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/director"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

// twoDirectors starts B, which keeps the store in its embedded etcd, and A,
// a second director of the same site on B's etcd as an external cluster:
// both serve the same snapshots and A can stop while the store lives on.
func twoDirectors(t *testing.T, site []byte) (a, b *clienttest.Director) {
	t.Helper()
	etcdURL := "http://" + testkit.FreeAddr(t)
	b = clienttest.Start(t, site, func(_ testing.TB, _ string, _ *clienttest.Director, cfg *director.Config) {
		cfg.Name = "b"
		cfg.Etcd.ClientURL = etcdURL
	})
	a = clienttest.Start(t, nil, func(_ testing.TB, _ string, _ *clienttest.Director, cfg *director.Config) {
		cfg.Name = "a"
		cfg.SiteFile, cfg.SiteData = "", nil // the store has it
		cfg.Etcd = director.EtcdConfig{Endpoints: []string{etcdURL}}
	})
	return a, b
}

// TestFailoverDead starts a subscriber whose first director does not
// exist: it moves to the live one and gets the site's snapshot.
func TestFailoverDead(t *testing.T) {
	site := clienttest.Site("lab", clienttest.Node{Name: "n1", Internal: testkit.FreeAddr(t)})
	d := clienttest.Start(t, site)
	dead := "http://" + testkit.FreeAddr(t)
	s, err := client.NewSubscriber(client.SubscriberConfig{Directors: []string{dead, d.URL}, PSK: d.PSK, ID: "n1",
		Kind: api.KindNode, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Director != dead {
		t.Errorf("director before Run %q, want %q", st.Director, dead)
	}
	// A heartbeat on the dead director moves on and is sent to the live
	// one within the same call.
	if err := s.SendHeartbeat(context.Background(), &api.Heartbeat{Node: "n1", Clients: 5}); err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	testkit.Go(t, "subscriber", 10*time.Second, s.Run)
	testkit.Eventually(t, 10*time.Second, "snapshot from the live director", func() bool { return version(s) > 0 })
	if st := s.Stats(); st.Director != d.URL || !st.Reachable || st.Failovers != 1 || st.Site != "lab" {
		t.Errorf("stats %+v", st)
	}
}

// TestFailoverStopped runs a subscriber on [A, B]: after A stops, new
// versions still arrive (from B) and heartbeats reach B.
func TestFailoverStopped(t *testing.T) {
	site := clienttest.Site("lab", clienttest.Node{Name: "n1", Internal: testkit.FreeAddr(t)})
	a, b := twoDirectors(t, site)
	s, err := client.NewSubscriber(client.SubscriberConfig{Directors: []string{a.URL, b.URL}, PSK: b.PSK, ID: "n1",
		Kind: api.KindNode, Wait: 2 * time.Second, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Go(t, "subscriber", 10*time.Second, s.Run)
	testkit.Eventually(t, 10*time.Second, "first snapshot from A", func() bool { return version(s) > 0 })
	if st := s.Stats(); st.Director != a.URL || st.Failovers != 0 {
		t.Fatalf("stats %+v, want on A", st)
	}

	a.Stop(t)
	ctx := context.Background()
	adm := client.NewAdmin(b.URL, clienttest.Token, nil)
	res, err := adm.Drain(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 15*time.Second, "the new version from B", func() bool { return version(s) >= res.Version })
	if st := s.Stats(); st.Director != b.URL || !st.Reachable || st.Failovers == 0 || !s.Current().Node("n1").Drained {
		t.Errorf("stats %+v", st)
	}

	if err := s.SendHeartbeat(ctx, &api.Heartbeat{Node: "n1", Version: version(s), Clients: 42}); err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	testkit.Eventually(t, 10*time.Second, "the heartbeat at B", func() bool {
		ns, err := adm.Nodes(ctx)
		return err == nil && len(ns) == 1 && ns[0].Heartbeat != nil && ns[0].Heartbeat.Clients == 42
	})
	clienttest.NoSecrets(t, "director logs", a.Logs.String()+b.Logs.String())
}

// TestFailoverStatus checks which answers move the subscriber on: no
// answer and 5xx do, 4xx (a wrong key, a removed node) do not.
func TestFailoverStatus(t *testing.T) {
	psk, err := cluster.NewPSK([]byte(clienttest.PSKText))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		status int
		move   bool
	}{
		{"503 moves", http.StatusServiceUnavailable, true},
		{"500 moves", http.StatusInternalServerError, true},
		{"401 stays", http.StatusUnauthorized, false},
		{"410 stays", http.StatusGone, false},
		{"400 stays", http.StatusBadRequest, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(`{"error":"test"}`))
			}))
			t.Cleanup(first.Close)
			second := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusNoContent)
			}))
			t.Cleanup(second.Close)
			s, err := client.NewSubscriber(client.SubscriberConfig{Directors: []string{first.URL, second.URL},
				PSK: psk, ID: "n1", Kind: api.KindNode})
			if err != nil {
				t.Fatal(err)
			}
			err = s.SendHeartbeat(context.Background(), &api.Heartbeat{Node: "n1"})
			want := first.URL
			if tc.move {
				want = second.URL
				if err != nil {
					t.Errorf("heartbeat after the move: %v", err)
				}
			} else if !client.IsStatus(err, tc.status) {
				t.Errorf("heartbeat error %v, want status %d", err, tc.status)
			}
			if st := s.Stats(); st.Director != want {
				t.Errorf("director %q, want %q", st.Director, want)
			}
		})
	}
}
