package relay

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

// TestRefusalCodes: refused peers get 403 on CreatePermission and
// ChannelBind, signed; missing, bad, expired or malformed credentials get
// 401 with REALM and NONCE, as RFC 8656 and coturn answer.
func TestRefusalCodes(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := startRelay(t, "127.0.0.71", Config{Registerer: reg})
	now := time.Now()
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			u, p := cluster.RelayCredential(testSecret, "alice", now.Add(time.Hour))
			c := newRawClient(t, network, "127.0.0.72", "127.0.0.71:3478", u, p)
			if res := c.request(stun.MethodAllocate, udpTransport); errorCode(t, res) != 0 {
				t.Fatalf("allocate: %v", res)
			}
			before := r.Stats().RefusedBy[ReasonPeer]
			for _, tc := range []struct {
				name   string
				method stun.Method
				attrs  []stun.Setter
			}{
				{"permission private", stun.MethodCreatePermission, []stun.Setter{xorPeer{"10.1.2.3"}}},
				{"permission loopback", stun.MethodCreatePermission, []stun.Setter{xorPeer{"127.0.0.1"}}},
				{"permission one of two", stun.MethodCreatePermission, []stun.Setter{xorPeer{"8.8.8.8"}, xorPeer{"192.168.1.1"}}},
				{"channel private", stun.MethodChannelBind, []stun.Setter{channelAttr(0x4000), xorPeer{"10.1.2.3"}}},
				{"channel metadata", stun.MethodChannelBind, []stun.Setter{channelAttr(0x4001), xorPeer{"169.254.169.254"}}},
			} {
				res := c.request(tc.method, tc.attrs...)
				if code := errorCode(t, res); code != stun.CodeForbidden {
					t.Errorf("%s: code %d, want 403", tc.name, code)
				}
				if err := stun.NewLongTermIntegrity(c.user, c.realm, c.pass).Check(res); err != nil {
					t.Errorf("%s: answer not signed: %v", tc.name, err)
				}
			}
			if got := r.Stats().RefusedBy[ReasonPeer] - before; got != 5 {
				t.Errorf("peer refusals %d, want 5", got)
			}
			if res := c.request(stun.MethodCreatePermission, xorPeer{"8.8.8.8"}); errorCode(t, res) != 0 {
				t.Errorf("permission to a public peer: code %d", errorCode(t, res))
			}

			for _, tc := range []struct {
				name, user, pass string
			}{
				{"expired", "", ""},
				{"bad password", u, "d3JvbmcgcGFzc3dvcmQ="},
				{"malformed", "alice", cluster.RelayPassword(testSecret, "alice")},
				{"future", "", ""},
			} {
				switch tc.name {
				case "expired":
					tc.user, tc.pass = cluster.RelayCredential(testSecret, "alice", now.Add(-time.Minute))
				case "future":
					tc.user, tc.pass = cluster.RelayCredential(testSecret, "alice", now.Add(72*time.Hour))
				}
				b := newRawClient(t, network, "127.0.0.73", "127.0.0.71:3478", tc.user, tc.pass)
				res := b.request(stun.MethodAllocate, udpTransport)
				if code := errorCode(t, res); code != stun.CodeUnauthorized {
					t.Errorf("%s: code %d, want 401", tc.name, code)
				}
				var realm stun.Realm
				var nonce stun.Nonce
				if realm.GetFrom(res) != nil || realm.String() != "support.example.com" || nonce.GetFrom(res) != nil || len(nonce) == 0 {
					t.Errorf("%s: 401 without REALM and NONCE: %v", tc.name, res)
				}
			}
		})
	}
	for _, reason := range []string{ReasonPeer, ReasonExpired, ReasonBadPassword, ReasonMalformed, ReasonFuture} {
		if v := testkit.Metric(t, reg, "meridian_relay_refusals_total", "reason", reason); v < 2 {
			t.Errorf("refusals_total{reason=%q} = %v, want 2+", reason, v)
		}
	}
}

// TestRefusalLogSummary: a flood of refused requests writes a few log
// lines (the first, then one summary per interval) and counts every one.
func TestRefusalLogSummary(t *testing.T) {
	const n = 20000
	// At INFO, as a node agent logs.
	logs := &testkit.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	reg := prometheus.NewRegistry()
	r := startRelay(t, "127.0.0.74", Config{Logger: logger, Registerer: reg},
		func(r *Relay) { r.authTimeout = time.Minute })

	u, p := cluster.RelayCredential(testSecret, "replay", time.Now().Add(-time.Minute))
	c := newRawClient(t, "tcp", "127.0.0.75", "127.0.0.74:3478", u, p)
	c.request(stun.MethodAllocate, udpTransport) // fetches a nonce
	replay := stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest), udpTransport,
		stun.NewUsername(u), stun.NewRealm(c.realm), c.nonce, stun.NewLongTermIntegrity(u, c.realm, p), stun.Fingerprint)
	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(1)
	var got, unauthorized int
	go func() {
		defer wg.Done()
		for got < n {
			m, err := c.read()
			if err != nil {
				t.Errorf("after %d answers: %v", got, err)
				return
			}
			got++
			if errorCode(t, m) == stun.CodeUnauthorized {
				unauthorized++
			}
		}
	}()
	batch := append([]byte(nil), replay.Raw...)
	for range 99 {
		batch = append(batch, replay.Raw...)
	}
	for i := 0; i < n; i += 100 {
		if _, err := c.conn.Write(batch); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	took := time.Since(start)
	// Close returns once Run has.
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if unauthorized != n {
		t.Errorf("%d of %d answers were 401", unauthorized, n)
	}
	// One more than the replays: the request that fetched the nonce.
	if got := r.Stats().RefusedBy[ReasonExpired]; got != n+1 {
		t.Errorf("refusals[expired] = %d, want %d", got, n+1)
	}
	out := logs.String()
	lines := strings.Count(out, "refused")
	t.Logf("%d refused requests in %s: %d log lines, %d bytes of log", n+1, took.Round(time.Millisecond), lines, len(out))
	if lines > 4 || len(out) > 4096 {
		t.Errorf("%d log lines about refusals, want at most 4:\n%s", lines, out)
	}
	if !strings.Contains(out, fmt.Sprintf("reason=expired count=%d", n)) {
		t.Errorf("no summary line counting the refusals:\n%s", out)
	}
}
