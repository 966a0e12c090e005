package console_test

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/api/client/clienttest"
)

// TestSecurity checks the console over HTTP against a real director: the
// login, the cookie, the headers, CSRF, the live stream and the logout.
func TestSecurity(t *testing.T) {
	e := startEnv(t, 2)
	base := e.d.URL
	hc := browserClient()

	// Every page redirects to the login form; the API is where it was.
	for _, p := range consolePages {
		resp, _ := fetch(t, hc, "GET", base+p, nil)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
			t.Errorf("GET %s before login: %s to %q, want a redirect to /login", p, resp.Status, resp.Header.Get("Location"))
		}
	}
	if resp, _ := fetch(t, hc, "GET", base+"/events", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("events before login: %s", resp.Status)
	}
	if resp, _ := fetch(t, hc, "GET", base+"/healthz", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %s", resp.Status)
	}
	if resp, _ := fetch(t, hc, "GET", base+"/v1/status", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/v1/status without a token: %s", resp.Status)
	}
	if resp, _ := fetch(t, hc, "GET", base+"/no/such/page", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown path: %s", resp.Status)
	}

	resp, page := fetch(t, hc, "GET", base+"/login", nil)
	h := resp.Header
	if got := h.Get("Content-Security-Policy"); !strings.Contains(got, "default-src 'self'") || strings.Contains(got, "unsafe-inline") {
		t.Errorf("Content-Security-Policy %q", got)
	}
	if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("frame and type headers: %v", h)
	}
	if strings.Contains(page, "<script>") || strings.Contains(page, "style=") || strings.Contains(page, "<style") {
		t.Error("inline script or style in the login page")
	}
	csrf := hidden(t, page, "csrf")

	// A login without the form's CSRF token, and a wrong token, fail.
	if resp, _ := fetch(t, hc, "POST", base+"/login", url.Values{"token": {clienttest.Token}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("login without CSRF token: %s", resp.Status)
	}
	resp, page = fetch(t, hc, "GET", base+"/login", nil)
	csrf = hidden(t, page, "csrf")
	resp, page = fetch(t, hc, "POST", base+"/login", url.Values{"csrf": {csrf}, "token": {"wrong-token-0123456789abcdef"}})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong token: %s", resp.Status)
	}
	csrf = hidden(t, page, "csrf") // the form again, with a new CSRF token
	resp, _ = fetch(t, hc, "POST", base+"/login", url.Values{"csrf": {csrf}, "token": {clienttest.Token}, "next": {"//evil.example/"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("login: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "meridian_console" {
			session = c
		}
	}
	switch {
	case session == nil:
		t.Fatal("no session cookie")
	case !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/":
		t.Errorf("session cookie %v: want HttpOnly, SameSite=Strict, Path=/", session)
	case session.MaxAge <= 0 || session.MaxAge > 8*3600:
		t.Errorf("session cookie max age %d, want at most 8h", session.MaxAge)
	case strings.Contains(session.Value, clienttest.Token):
		t.Error("the token is in the cookie")
	}

	// Every page renders, none holds the token.
	for _, p := range consolePages {
		resp, page := fetch(t, hc, "GET", base+p, nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", p, resp.Status)
		}
		clienttest.NoSecrets(t, p, page)
		if strings.Contains(page, "style=") || strings.Contains(page, "<script>") {
			t.Errorf("%s: inline script or style", p)
		}
	}
	_, page = fetch(t, hc, "GET", base+"/nodes", nil)
	csrf = hidden(t, page, "csrf")

	// A change without the session's CSRF token, or from another origin, is refused.
	if resp, _ := fetch(t, hc, "POST", base+"/nodes/n1/drain", url.Values{"reason": {"x"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("drain without CSRF: %s", resp.Status)
	}
	req, _ := http.NewRequest("POST", base+"/nodes/n1/drain", strings.NewReader(url.Values{"csrf": {csrf}, "reason": {"x"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://evil.example")
	if resp, err := hc.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("drain from another origin: %v %v", resp.Status, err)
	}
	// Without a reason, nothing is drained.
	fetch(t, hc, "POST", base+"/nodes/n1/drain", url.Values{"csrf": {csrf}})
	if st, _ := e.admin.Status(context.Background()); st.Nodes[0].Drained {
		t.Error("drained without a reason")
	}

	// The live stream announces the current version, then the drain's.
	req, _ = http.NewRequest("GET", base+"/events", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	evc := &http.Client{Jar: hc.Jar}
	resp, err := evc.Do(req.WithContext(ctx))
	if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %v %v", resp, err)
	}
	defer resp.Body.Close()
	events := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				events <- v
			}
		}
		close(events)
	}()
	first := <-events
	resp, _ = fetch(t, hc, "POST", base+"/nodes/n1/drain", url.Values{"csrf": {csrf}, "reason": {"maintenance"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("drain: %s", resp.Status)
	}
	select {
	case v := <-events:
		if v == first {
			t.Errorf("event after the drain repeats version %s", v)
		}
	case <-time.After(2 * time.Second):
		t.Error("no event within 2s of the drain")
	}
	st, err := e.admin.Status(context.Background())
	if err != nil || !st.Nodes[0].Drained {
		t.Fatalf("n1 not drained: %v", err)
	}
	_, page = fetch(t, hc, "GET", base+"/nodes", nil)
	if !strings.Contains(page, "Drain n1: done") {
		t.Error("no message after the drain")
	}

	// The anycast withdraw keeps the operator's reason, until resumed.
	fetch(t, hc, "POST", base+"/nodes/n1/withdraw", url.Values{"csrf": {csrf}, "reason": {"link flapping"}})
	if st, err := e.admin.Status(context.Background()); err != nil || st.Nodes[0].Withdrawn != "link flapping" {
		t.Errorf("withdraw: %+v %v", st.Nodes[0].NodeState, err)
	}
	if _, page = fetch(t, hc, "GET", base+"/nodes", nil); !strings.Contains(page, "anycast withdrawn: link flapping") || !strings.Contains(page, `id="resume-n1"`) {
		t.Error("the nodes page does not show the withdraw")
	}
	fetch(t, hc, "POST", base+"/nodes/n1/resume", url.Values{"csrf": {csrf}, "reason": {"stable again"}})
	if st, err := e.admin.Status(context.Background()); err != nil || st.Nodes[0].Withdrawn != "" {
		t.Errorf("resume: %v", err)
	}

	// Remove n2, confirmed with a reason: a new config version without it.
	resp, _ = fetch(t, hc, "POST", base+"/nodes/n2/remove", url.Values{"csrf": {csrf}, "reason": {"decommissioned"}, "back": {"/nodes?region=us-east"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/nodes?region=us-east" {
		t.Errorf("remove: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	if st, err := e.admin.Status(context.Background()); err != nil || len(st.Nodes) != 1 || st.ConfigVersion != 2 {
		t.Errorf("after removing n2: %v", err)
	}
	_, page = fetch(t, hc, "GET", base+"/config", nil)
	if !strings.Contains(page, "by admin:") {
		t.Error("the config history does not name the console's operator")
	}
	// An unknown node's drain fails with the admin API's answer.
	fetch(t, hc, "POST", base+"/nodes/nope/drain", url.Values{"csrf": {csrf}, "reason": {"x"}})
	if _, page = fetch(t, hc, "GET", base+"/nodes", nil); !strings.Contains(page, "Failed: ") || !strings.Contains(page, "404") {
		t.Error("no failure message for an unknown node")
	}

	// Logout: every page redirects to the login form again.
	resp, _ = fetch(t, hc, "POST", base+"/logout", url.Values{"csrf": {csrf}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Errorf("logout: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	for _, p := range consolePages {
		resp, _ := fetch(t, hc, "GET", base+p, nil)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
			t.Errorf("GET %s after logout: %s", p, resp.Status)
		}
	}
	// The old cookie is dead on the server too.
	old := browserClient()
	u, _ := url.Parse(base)
	old.Jar.SetCookies(u, []*http.Cookie{session})
	if resp, _ := fetch(t, old, "GET", base+"/nodes", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("old session cookie after logout: %s", resp.Status)
	}
	if strings.Contains(e.d.Logs.String(), clienttest.Token) {
		t.Error("the token is in the director's log")
	}
}
