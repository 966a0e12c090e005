package client_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/api/client"
	"github.com/meridian-traffic/meridian/api/client/clienttest"
	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

const wrongKey = "a-key-the-director-does-not-have-42"

// refusedEntry finds a subscriber in the status's refused list.
func refusedEntry(t *testing.T, adm *client.Admin, id string) (api.RefusedSubscriber, bool) {
	t.Helper()
	st, err := adm.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range st.Refused {
		if r.ID == id {
			return r, true
		}
	}
	return api.RefusedSubscriber{}, false
}

// TestKeyRefusedLoud runs subscribers with a wrong key against a real
// director: the director names each once in its log and lists it in
// status with the reason and a count; the subscriber logs the refusal
// once however often it polls. The same id with the right key clears the
// director's entry, logged once.
func TestKeyRefusedLoud(t *testing.T) {
	d := clienttest.Start(t, clienttest.Site("lab", clienttest.Node{Name: "n1", Internal: testkit.FreeAddr(t)}))
	adm := client.NewAdmin(d.URL, clienttest.Token, nil)
	wrong, err := cluster.NewPSK([]byte(wrongKey))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id, kind string
	}{
		{"dns/ns-wrong", api.KindDNS},
		{"n1", api.KindNode},
		{"director/d9", api.KindDirector},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			logs := &testkit.Buffer{}
			s, err := client.NewSubscriber(client.SubscriberConfig{Director: d.URL, PSK: wrong, ID: tt.id, Kind: tt.kind,
				MinBackoff: 10 * time.Millisecond, MaxBackoff: 30 * time.Millisecond,
				Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); _ = s.Run(ctx) }()
			stop := func() {
				cancel()
				<-done
			}
			defer stop()
			// Many polls: the lines below must not follow them.
			testkit.Eventually(t, 10*time.Second, "10 refusals", func() bool {
				r, ok := refusedEntry(t, adm, tt.id)
				return ok && r.Count >= 10
			})
			r, _ := refusedEntry(t, adm, tt.id)
			if r.Kind != tt.kind || r.Reason != "mac" || r.Address != "127.0.0.1" || time.Since(r.LastSeen) > 10*time.Second {
				t.Errorf("status lists %+v, want kind %s, reason mac, address 127.0.0.1, seen just now", r, tt.kind)
			}
			if n := testkit.CountLines(d.Logs.String(), "subscriber refused", "subscriber="+tt.id, "kind="+tt.kind, "reason=mac", "remote=127.0.0.1"); n != 1 {
				t.Errorf("director logged %d refusal lines for %s after %d refusals, want 1:\n%s", n, tt.id, r.Count, d.Logs.String())
			}
			st := s.Stats()
			if !st.KeyRefused || st.KeyRefusedBy != d.URL || !strings.Contains(st.KeyRefusal, "401") {
				t.Errorf("stats %+v, want the key refused by %s with 401", st, d.URL)
			}
			if n := testkit.CountLines(logs.String(), "the director refused our key", "director="+d.URL, "status=401", "reason=Unauthorized"); n != 1 {
				t.Errorf("subscriber logged the refusal %d times, want 1:\n%s", n, logs.String())
			}
			if n := testkit.CountLines(logs.String(), "level=WARN"); n != 0 {
				t.Errorf("subscriber logged %d warnings besides, want none (one line per poll):\n%s", n, logs.String())
			}
			clienttest.NoSecrets(t, "director log", d.Logs.String())

			// The same id with the right key: the entry goes, once.
			stop()
			good, err := client.NewSubscriber(client.SubscriberConfig{Director: d.URL, PSK: d.PSK, ID: tt.id, Kind: tt.kind})
			if err != nil {
				t.Fatal(err)
			}
			testkit.Go(t, "subscriber", 10*time.Second, good.Run)
			testkit.Eventually(t, 10*time.Second, "a snapshot with the right key", func() bool { return version(good) > 0 })
			if _, ok := refusedEntry(t, adm, tt.id); ok {
				t.Errorf("%s still listed as refused after its key was accepted", tt.id)
			}
			if n := testkit.CountLines(d.Logs.String(), "subscriber accepted again", "subscriber="+tt.id); n != 1 {
				t.Errorf("director logged %d acceptance lines for %s, want 1", n, tt.id)
			}
			if good.Stats().KeyRefused {
				t.Error("a subscriber with the right key shows its key refused")
			}
		})
	}
}

// TestKeyRefusedClears: a subscriber whose key the director refuses logs
// it once; when the director takes that key (restarted with it), the
// subscriber logs once that it is accepted, clears its state and gets
// the site.
func TestKeyRefusedClears(t *testing.T) {
	d := clienttest.Start(t, clienttest.Site("lab", clienttest.Node{Name: "n1", Internal: testkit.FreeAddr(t)}))
	wrong, err := cluster.NewPSK([]byte(wrongKey))
	if err != nil {
		t.Fatal(err)
	}
	logs := &testkit.Buffer{}
	s, err := client.NewSubscriber(client.SubscriberConfig{Director: d.URL, PSK: wrong, ID: "dns/ns-late", Kind: api.KindDNS,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 30 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Go(t, "subscriber", 10*time.Second, s.Run)
	testkit.Eventually(t, 10*time.Second, "the key refused", func() bool { return s.Stats().KeyRefused })
	since := s.Stats().KeyRefusedSince
	time.Sleep(200 * time.Millisecond) // several more polls
	if got := s.Stats(); got.KeyRefusedSince != since || got.Errors < 3 {
		t.Errorf("refusal spell restarted or polls stopped: %+v", got)
	}
	d.Stop(t)
	d.RestartWithPSK(t, wrongKey)
	testkit.Eventually(t, 20*time.Second, "the key accepted", func() bool { return !s.Stats().KeyRefused && version(s) > 0 })
	time.Sleep(100 * time.Millisecond)
	out := logs.String()
	if n := testkit.CountLines(out, "the director refused our key"); n != 1 {
		t.Errorf("refusal logged %d times, want 1:\n%s", n, out)
	}
	if n := testkit.CountLines(out, "the director accepts our key again", "director="+d.URL); n != 1 {
		t.Errorf("acceptance logged %d times, want 1:\n%s", n, out)
	}
	if st := s.Stats(); st.KeyRefusedBy != "" || st.KeyRefusal != "" || !st.KeyRefusedSince.IsZero() {
		t.Errorf("refusal state not cleared: %+v", st)
	}
}
