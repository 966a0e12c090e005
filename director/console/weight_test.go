package console

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/cluster"
)

const fakeToken = "fake-admin-token-0123456789"

// fakeAPI is an admin API of a site of n nodes, all with heartbeats: it
// answers GET /v1/status and /v1/whoami and refuses every other token.
func fakeAPI(n int) http.Handler {
	now := time.Now()
	st := api.Status{Site: "big", Version: 900, ConfigVersion: 7, Director: "d1", Leader: "d1",
		Masters: []cluster.MasterState{{Name: "m1", Health: cluster.Up, Since: now}}}
	for i := range n {
		health := cluster.Up
		if i%17 == 0 {
			health = cluster.Down
		}
		st.Nodes = append(st.Nodes, api.NodeStatus{
			NodeState: cluster.NodeState{Name: fmt.Sprintf("node-%04d", i), Health: health, Since: now.Add(-time.Hour),
				Reason: "http /healthz: 200", Drained: i%31 == 0,
				Announcing: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}},
			Region: fmt.Sprintf("region-%d", i%8), Accepting: true, LastHeartbeat: now.Add(-3 * time.Second),
			Heartbeat: &api.Heartbeat{Node: fmt.Sprintf("node-%04d", i), Version: 900 - uint64(i%2), Clients: i % 40,
				Relay: &api.RelayStats{Allocations: i % 50},
				BGP:   []api.BGPPeer{{Neighbor: "10.0.0.1", State: "established"}, {Neighbor: "10.0.0.2", State: "established"}}},
		})
	}
	body, _ := json.Marshal(st)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+fakeToken {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"Unauthorized"}`)
			return
		}
		if r.URL.Path == api.PathWhoAmI {
			io.WriteString(w, `{"name":"admin"}`)
			return
		}
		if r.URL.Path != api.PathStatus {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":"no such path"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
}

// loginFake logs a client into a console in front of fakeAPI.
func loginFake(t *testing.T, srv *httptest.Server) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	resp, err := hc.Get(srv.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csrf := formValue(t, string(page), "csrf")
	resp, err = hc.PostForm(srv.URL+"/login", url.Values{"csrf": {csrf}, "token": {fakeToken}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/" {
		t.Fatalf("login: %s at %s", resp.Status, resp.Request.URL)
	}
	return hc
}

// formValue finds the value of the first hidden input named name.
func formValue(t *testing.T, page, name string) string {
	t.Helper()
	i := strings.Index(page, `name="`+name+`" value="`)
	if i < 0 {
		t.Fatalf("no %s input in the page", name)
	}
	rest := page[i+len(`name="`+name+`" value="`):]
	return rest[:strings.IndexByte(rest, '"')]
}

func get(t *testing.T, hc *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := hc.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestPageWeight1000Nodes measures the nodes page of a 1,000-node site:
// the default page (100 rows), every node on one page, and the static
// files every page loads once.
func TestPageWeight1000Nodes(t *testing.T) {
	c := New(Config{API: fakeAPI(1000)})
	srv := httptest.NewServer(c)
	defer srv.Close()
	hc := loginFake(t, srv)

	start := time.Now()
	code, first := get(t, hc, srv.URL+"/nodes")
	took := time.Since(start)
	if code != http.StatusOK {
		t.Fatalf("nodes: %d", code)
	}
	if n := strings.Count(first, `<tr id="node-`); n != defaultPerPage {
		t.Errorf("first page has %d rows, want %d", n, defaultPerPage)
	}
	if !strings.Contains(first, "Showing 1–100 of 1000") || !strings.Contains(first, "Page 1 of 10") {
		t.Error("the first page does not say which rows of how many it shows")
	}
	_, all := get(t, hc, srv.URL+"/nodes?per=1000")
	if n := strings.Count(all, `<tr id="node-`); n != 1000 {
		t.Errorf("per=1000 has %d rows", n)
	}
	_, last := get(t, hc, srv.URL+"/nodes?page=10&sort=clients&dir=desc&health=up")
	if !strings.Contains(last, "Page ") && !strings.Contains(last, "Showing") {
		t.Error("filtered last page is empty")
	}
	var static int
	for _, f := range []string{"console.css", "console.js", "icon.svg"} {
		_, b := get(t, hc, srv.URL+"/static/"+f)
		static += len(b)
	}
	t.Logf("page weight at 1,000 nodes: /nodes (100 rows) %d bytes in %s; /nodes?per=1000 %d bytes; static files %d bytes (cached)",
		len(first), took.Round(time.Millisecond), len(all), static)
	if len(first) > 128<<10 {
		t.Errorf("the default nodes page of 1,000 nodes weighs %d bytes, want at most 128 KiB", len(first))
	}
	if len(all) > 1<<20 {
		t.Errorf("all 1,000 nodes on one page weigh %d bytes, want at most 1 MiB", len(all))
	}
}

func TestNodeQuery(t *testing.T) {
	q := parseNodeQuery(url.Values{"sort": {"bogus"}, "per": {"7"}, "page": {"-3"}})
	if q.Sort != "name" || q.PerPage != defaultPerPage || q.Page != 1 {
		t.Errorf("bad input not defaulted: %+v", q)
	}
	q = parseNodeQuery(url.Values{"sort": {"clients"}, "dir": {"desc"}, "q": {"eu"}, "page": {"2"}})
	if got := q.URL(nil); got != "/nodes?dir=desc&page=2&q=eu&sort=clients" {
		t.Errorf("URL = %s", got)
	}
	if !localPath("/nodes?x=1") || localPath("//evil.example/") || localPath("https://evil.example/") || localPath("/\\evil") {
		t.Error("localPath")
	}
}

func TestSessionTable(t *testing.T) {
	now := time.Now()
	tab := newSessions(3)
	var ids []string
	for i := range 5 {
		ids = append(ids, tab.add(&session{created: now.Add(time.Duration(i) * time.Second), expires: now.Add(time.Hour)}, now))
	}
	if n := tab.len(); n != 3 {
		t.Errorf("%d sessions, want the bound 3", n)
	}
	if tab.get(ids[0], now) != nil || tab.get(ids[1], now) != nil || tab.get(ids[4], now) == nil {
		t.Error("a full table did not drop the oldest sessions")
	}
	if tab.get(ids[4], now.Add(2*time.Hour)) != nil {
		t.Error("an expired session is live")
	}
	if tab.get("", now) != nil || tab.get("forged", now) != nil {
		t.Error("unknown cookie values find a session")
	}
}

// TestTLSCookie: under TLS the session cookie is Secure, and a login
// ends after SessionTTL.
func TestTLSCookie(t *testing.T) {
	c := New(Config{API: fakeAPI(1), SessionTTL: 2 * time.Second})
	srv := httptest.NewTLSServer(c)
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	hc := srv.Client()
	hc.Jar = jar
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	_, page := get(t, hc, srv.URL+"/login")
	resp, err := hc.PostForm(srv.URL+"/login", url.Values{"csrf": {formValue(t, page, "csrf")}, "token": {fakeToken}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var ck *http.Cookie
	for _, x := range resp.Cookies() {
		if x.Name == sessionCookie {
			ck = x
		}
	}
	if ck == nil || !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.MaxAge != 2 {
		t.Fatalf("session cookie under TLS: %+v", ck)
	}
	if code, _ := get(t, hc, srv.URL+"/nodes"); code != http.StatusOK {
		t.Errorf("nodes after login: %d", code)
	}
	time.Sleep(2100 * time.Millisecond)
	if code, _ := get(t, hc, srv.URL+"/nodes"); code != http.StatusSeeOther {
		t.Errorf("nodes after the session's end: %d, want a redirect to the login", code)
	}
}

// TestLoginLimit: a source address that keeps failing is held off.
func TestLoginLimit(t *testing.T) {
	c := New(Config{API: fakeAPI(1)})
	srv := httptest.NewServer(c)
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	codes := map[int]int{}
	for range loginBurst + 2 {
		_, page := get(t, hc, srv.URL+"/login")
		resp, err := hc.PostForm(srv.URL+"/login", url.Values{"csrf": {formValue(t, page, "csrf")}, "token": {"wrong-token-0123456789"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes[resp.StatusCode]++
	}
	if codes[http.StatusUnauthorized] != loginBurst || codes[http.StatusTooManyRequests] != 2 {
		t.Errorf("answers to %d wrong tokens: %v", loginBurst+2, codes)
	}
}
