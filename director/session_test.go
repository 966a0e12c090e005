package director

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/api/client"
	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

// startBroker runs a director whose two nodes have no relay (so the
// engine fails open to both) with a short session TTL and a rate limit of
// 30 requests per source, refilled at 2/s.
func startBroker(t *testing.T) *harness {
	t.Helper()
	return startDirector(t, Config{
		SiteData:     []byte(twoNodeSite("127.0.0.51", "127.0.0.61", "127.0.0.52", "127.0.0.62")),
		ClientTokens: []string{"other-app-token-1234567", testClientToken},
		SessionTTL:   2 * time.Second,
		SessionRate:  2,
		SessionBurst: 30,
	})
}

func TestSessionRequestErrors(t *testing.T) {
	h := startBroker(t)
	ctx := context.Background()
	g, err := h.sessionsFrom("127.0.0.61").Create(ctx, api.SessionRequest{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if g.Home.Node != "a" {
		t.Errorf("customer 127.0.0.61 sent to %q, want a (its prefix)", g.Home.Node)
	}
	id := g.ID
	renew := "/v1/sessions/" + id + "/renew"
	const src = "127.0.0.63"
	for _, c := range []struct {
		name, method, path, token, body string
		status                          int
		msg                             string
	}{
		{"no token", "POST", api.PathSessions, "", "", 401, "Unauthorized"},
		{"wrong token", "POST", api.PathSessions, "nope", "", 401, "Unauthorized"},
		{"admin token", "POST", api.PathSessions, testToken, "", 401, "Unauthorized"},
		{"malformed JSON", "POST", api.PathSessions, testClientToken, `{"address":`, 400, "malformed JSON"},
		{"two values", "POST", api.PathSessions, testClientToken, `{} {}`, 400, "more than one value"},
		{"unknown field", "POST", api.PathSessions, testClientToken, `{"adress":"192.0.2.1"}`, 400, "unknown field"},
		{"wrong type", "POST", api.PathSessions, testClientToken, `{"address":17}`, 400, "malformed JSON"},
		{"bad address", "POST", api.PathSessions, testClientToken, `{"address":"192.0.2"}`, 400, `address: "192.0.2" is not`},
		{"multicast address", "POST", api.PathSessions, testClientToken, `{"address":"224.0.0.1"}`, 400, "not a unicast"},
		{"bad offset", "POST", api.PathSessions, testClientToken, `{"offset":"+25:00"}`, 400, "offset"},
		{"bad party", "POST", renew, testClientToken, `{"party":"viewer"}`, 400, `party "viewer"`},
		{"unknown session", "POST", "/v1/sessions/" + strings.Repeat("ab", 16) + "/renew", testClientToken, "", 404, "no such session"},
		{"malformed session id", "POST", "/v1/sessions/xyz/join", testClientToken, "", 404, "no such session"},
		{"upper-case session id", "POST", "/v1/sessions/" + strings.ToUpper(id) + "/join", testClientToken, "", 404, "no such session"},
		{"show before join", "POST", "/v1/sessions/" + id + "/show-my-screen", testClientToken, "", 409, "not joined"},
		{"renew rep before join", "POST", renew, testClientToken, `{"party":"representative"}`, 409, "not joined"},
		{"end unknown", "DELETE", "/v1/sessions/" + strings.Repeat("0", 32), testClientToken, "", 404, "no such session"},
		{"clients needs admin", "GET", api.PathClients, testClientToken, "", 401, "Unauthorized"},
		{"body too large", "POST", api.PathSessions, testClientToken, `{"address":"` + strings.Repeat("1", 5000) + `"}`, 413, "request body"},
		{"ok, other token", "POST", api.PathSessions, "other-app-token-1234567", `{"address":"127.0.0.62","offset":"+02:00"}`, 200, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, msg := h.raw(src, c.method, c.path, c.token, c.body)
			if code != c.status || !strings.Contains(msg, c.msg) {
				t.Errorf("%s %s: %d %q, want %d with %q", c.method, c.path, code, msg, c.status, c.msg)
			}
			if strings.Contains(msg, testClientToken) {
				t.Errorf("answer quotes the token: %q", msg)
			}
		})
	}
	if got := h.counter("meridian_director_auth_refused_total", "reason", "token"); got < 4 {
		t.Errorf("token refusals counted %v, want at least 4", got)
	}
	if got := h.counter("meridian_director_sessions_requests_total", "op", "create", "code", "400"); got != 7 {
		t.Errorf("create 400s counted %v, want 7", got)
	}
}

func TestSessionAddressAndView(t *testing.T) {
	h := startBroker(t)
	ctx := context.Background()
	portal := h.sessionsFrom("127.0.0.70") // a portal brokers for both parties
	g, err := portal.Create(ctx, api.SessionRequest{Address: "127.0.0.62"})
	if err != nil || g.Home.Node != "b" {
		t.Fatalf("create for 127.0.0.62: %+v, %v; want home b", g, err)
	}
	r, err := portal.Join(ctx, g.ID, api.SessionRequest{Address: "::ffff:127.0.0.61"})
	if err != nil || r.Home.Node != "a" || r.View.Node != "b" || r.Party != api.PartyRepresentative {
		t.Fatalf("join from 127.0.0.61: %+v, %v; want home a, view b", r, err)
	}
	// The customer sees the representative's home only after asking.
	c, err := portal.Renew(ctx, g.ID, api.SessionRequest{})
	if err != nil || c.View != nil {
		t.Fatalf("customer renew before show-my-screen: %+v, %v; want no view", c, err)
	}
	c, err = portal.ShowMyScreen(ctx, g.ID, api.SessionRequest{})
	if err != nil || c.Home.Node != "b" || c.View == nil || c.View.Node != "a" {
		t.Fatalf("show-my-screen: %+v, %v; want home b, view a", c, err)
	}
	if got := h.gauge("meridian_director_sessions_active"); got != 1 {
		t.Errorf("active sessions %v, want 1", got)
	}
	if err := portal.End(ctx, g.ID); err != nil {
		t.Fatalf("end: %v", err)
	}
	if _, err := portal.Renew(ctx, g.ID, api.SessionRequest{}); !client.IsStatus(err, http.StatusNotFound) {
		t.Errorf("renew after end: %v, want 404", err)
	}
	if got := h.gauge("meridian_director_sessions_active"); got != 0 {
		t.Errorf("active sessions after end %v, want 0", got)
	}
}

func TestSessionExpires(t *testing.T) {
	h := startBroker(t)
	ctx := context.Background()
	cs := h.sessionsFrom("127.0.0.64")
	g, err := cs.Create(ctx, api.SessionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// Renewals keep it past its TTL.
	for range 5 {
		time.Sleep(time.Second)
		if _, err := cs.Renew(ctx, g.ID, api.SessionRequest{}); err != nil {
			t.Fatalf("renew: %v", err)
		}
	}
	// Left alone, it ends with its lease.
	key := h.d.site.Keys.Session(g.ID)
	testkit.Eventually(t, 10*time.Second, "session key to expire", func() bool {
		resp, err := h.d.site.Client().Get(ctx, key)
		return err == nil && len(resp.Kvs) == 0
	})
	for _, f := range []func() error{
		func() error { _, err := cs.Renew(ctx, g.ID, api.SessionRequest{}); return err },
		func() error { _, err := cs.Join(ctx, g.ID, api.SessionRequest{}); return err },
		func() error { _, err := cs.ShowMyScreen(ctx, g.ID, api.SessionRequest{}); return err },
	} {
		if err := f(); !client.IsStatus(err, http.StatusNotFound) {
			t.Errorf("request on an expired session: %v, want 404", err)
		}
	}
}

func TestSessionRateLimit(t *testing.T) {
	h := startBroker(t)
	const src = "127.0.0.77"
	limited := 0
	for i := range 40 {
		code, _ := h.raw(src, "POST", api.PathSessions, "", "")
		switch code {
		case http.StatusTooManyRequests:
			limited++
		case http.StatusUnauthorized:
			if limited > 0 {
				t.Fatalf("request %d passed the limit after %d were refused", i, limited)
			}
		default:
			t.Fatalf("request %d: status %d", i, code)
		}
	}
	// 30 of burst plus at most a few refilled at 2/s.
	if limited < 5 || limited > 10 {
		t.Errorf("%d of 40 rate-limited, want 5 to 10", limited)
	}
	// Another source has its own bucket.
	if code, _ := h.raw("127.0.0.78", "POST", api.PathSessions, testClientToken, ""); code != http.StatusOK {
		t.Errorf("other source: %d, want 200", code)
	}
	if got := h.counter("meridian_director_sessions_requests_total", "op", "create", "code", "429"); got != float64(limited) {
		t.Errorf("429s counted %v, want %d", got, limited)
	}
}

func TestParseClientTokens(t *testing.T) {
	for _, c := range []struct {
		name, text string
		want       []string
		err        string
	}{
		{"two tokens", "# portal\nportal-token-1\n\n  app-token-2  \n", []string{"portal-token-1", "app-token-2"}, ""},
		{"only comments", "# none yet\n\n", nil, "clients holds no token"},
		{"empty", "", nil, "clients holds no token"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseClientTokens("clients", []byte(c.text))
			if (err == nil) != (c.err == "") || (err != nil && !strings.Contains(err.Error(), c.err)) || !slices.Equal(got, c.want) {
				t.Errorf("got %q, %v; want %q, %q", got, err, c.want, c.err)
			}
		})
	}
}

func TestSessionConfig(t *testing.T) {
	for _, c := range []struct {
		name string
		set  func(*Config)
		err  string
	}{
		{"defaults", func(*Config) {}, ""},
		{"ttl too short", func(c *Config) { c.SessionTTL = 100 * time.Millisecond }, "session ttl"},
		{"max age below ttl", func(c *Config) { c.SessionTTL, c.SessionMaxAge = time.Hour, time.Minute }, "session max age"},
		{"max age past credentials", func(c *Config) { c.SessionMaxAge = 72 * time.Hour }, "session max age"},
		{"negative rate", func(c *Config) { c.SessionRate = -1 }, "rate limit"},
		{"empty client token", func(c *Config) { c.ClientTokens = []string{" "} }, "client token 1 is empty"},
		{"client token is the admin token", func(c *Config) { c.ClientTokens = []string{"x", testToken} }, "client token 2 equals the admin token"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{Name: "d", Etcd: EtcdConfig{DataDir: t.TempDir()}, AdminToken: testToken}
			cfg.PSK = mustPSK(t)
			c.set(&cfg)
			err := cfg.validate()
			if (err == nil) != (c.err == "") || (err != nil && !strings.Contains(err.Error(), c.err)) {
				t.Errorf("validate: %v, want %q", err, c.err)
			}
			if err == nil && (cfg.SessionTTL != DefaultSessionTTL || cfg.SessionBurst != DefaultSessionBurst) {
				t.Errorf("defaults not filled: %+v", cfg)
			}
		})
	}
}

func mustPSK(t *testing.T) cluster.PSK {
	t.Helper()
	psk, err := cluster.NewPSK([]byte(testPSK))
	if err != nil {
		t.Fatal(err)
	}
	return psk
}

// TestSessionAnycast: under the anycast method a party is sent to the
// site's anycast address while a node announces it, and to the nearest
// node (geo) before.
func TestSessionAnycast(t *testing.T) {
	const site = `# Anycast site.
site: t
zone: z.example.
masters:
  primary: {name: m1, ipv4: 192.0.2.1, internal: "127.0.0.1:1"}
selection: {method: anycast, anycast_ipv4: 203.0.113.1}
health: {kind: tcp, interval: 250ms, timeout: 200ms, rise: 2, fall: 2}
relay: {udp_port: 3478, tcp_port: 3479, tls_port: 5349}
nodes:
  - {name: a, ipv4: 192.0.2.11, internal: "127.0.0.53:1", lat: 50.1, lon: 8.7, anycast: [203.0.113.0/24]}
  - {name: b, ipv4: 192.0.2.12, internal: "127.0.0.54:1", lat: 40.7, lon: -74.0, anycast: [203.0.113.0/24]}
`
	h := startDirector(t, Config{SiteData: []byte(site), ClientTokens: []string{testClientToken}, TURNTLS: true})
	ctx := context.Background()
	cs := h.sessionsFrom("127.0.0.65")
	before, err := cs.Create(ctx, api.SessionRequest{})
	if err != nil || before.Home.Node == "" {
		t.Fatalf("create before any announcement: %+v, %v; want a node", before, err)
	}
	body := []byte(`{"node":"a","announcing":["203.0.113.0/24"]}`)
	if code, b := h.do(h.signed("POST", api.PathHeartbeat, body, time.Now(), nonce(), h.psk)); code != http.StatusNoContent {
		t.Fatalf("heartbeat: %d %s", code, b)
	}
	testkit.Eventually(t, 5*time.Second, "a announcing", func() bool { return len(h.d.pub.Current().Snap.Node("a").Announcing) == 1 })
	g, err := cs.Create(ctx, api.SessionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"turn:203.0.113.1:3478?transport=udp", "turn:203.0.113.1:3479?transport=tcp", "turns:203.0.113.1:5349?transport=tcp"}
	if g.Home.Node != "" || g.Home.Host != "203.0.113.1" || !slices.Equal(g.Home.URIs, want) {
		t.Errorf("anycast home: node %q host %q URIs %q; want the anycast address with %q", g.Home.Node, g.Home.Host, g.Home.URIs, want)
	}
	// The earlier session keeps its node while that node is alive.
	if r, err := cs.Renew(ctx, before.ID, api.SessionRequest{}); err != nil || r.Home.Node != before.Home.Node {
		t.Errorf("renew of the earlier session: %+v, %v; want node %s", r, err, before.Home.Node)
	}
}

// TestSessionMaxAge: renewals keep a session no longer than its max age,
// when its credentials expire.
func TestSessionMaxAge(t *testing.T) {
	h := startDirector(t, Config{
		SiteData:     []byte(twoNodeSite("127.0.0.51", "127.0.0.61", "127.0.0.52", "127.0.0.62")),
		ClientTokens: []string{testClientToken},
		SessionTTL:   time.Second, SessionMaxAge: 3 * time.Second,
	})
	ctx := context.Background()
	cs := h.sessionsFrom("127.0.0.66")
	g, err := cs.Create(ctx, api.SessionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(g.Home.Expires); d > 3*time.Second || d < time.Second || !g.Home.Expires.Equal(g.Expires) {
		t.Errorf("credential expires in %s (session %s), want within the 3s max age", d, g.Expires)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := cs.Renew(ctx, g.ID, api.SessionRequest{})
		if client.IsStatus(err, http.StatusNotFound) {
			break
		}
		if err != nil {
			t.Fatalf("renew: %v", err)
		}
		if time.Now().After(g.Expires.Add(time.Second)) || time.Now().After(deadline) {
			t.Fatalf("session renewed past its max age (%s)", g.Expires)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if time.Now().Before(g.Expires) {
		t.Errorf("session ended before its max age")
	}
	testkit.Eventually(t, 5*time.Second, "session key removed", func() bool {
		resp, err := h.d.site.Client().Get(ctx, h.d.site.Keys.Session(g.ID))
		return err == nil && len(resp.Kvs) == 0
	})
}
