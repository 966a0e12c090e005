package console

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/meridian-traffic/meridian/api/client"
)

// loginBody is the login page's data.
type loginBody struct {
	Next string
}

func (c *Console) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	if s := c.session(r); s != nil {
		http.Redirect(w, r, nextPath(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	c.loginPage(w, r, http.StatusOK, r.URL.Query().Get("next"), "")
}

// loginPage renders the login form with a fresh CSRF token, also set in
// the login cookie (double submit: there is no session yet).
func (c *Console) loginPage(w http.ResponseWriter, r *http.Request, status int, next, msg string) {
	tok := randomString(24)
	c.setCookie(w, r, loginCookie, tok, 30*time.Minute)
	if !localPath(next) {
		next = ""
	}
	c.render(w, status, &pageData{Page: "login", Title: "Log in", CSRF: tok, Error: msg, Body: loginBody{Next: next}})
}

func (c *Console) handleLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		c.loginPage(w, r, http.StatusBadRequest, "", "The form could not be read.")
		return
	}
	next := r.PostFormValue("next")
	ck, err := r.Cookie(loginCookie)
	if err != nil || !csrfOK(r, ck.Value) {
		c.loginPage(w, r, http.StatusForbidden, next, "The login form expired; try again.")
		return
	}
	ip := sourceIP(r)
	now := c.now()
	if !c.limiter.allowed(ip, now) {
		c.log.Warn("console login refused: too many failures", "remote", r.RemoteAddr)
		c.loginPage(w, r, http.StatusTooManyRequests, next, "Too many failed logins; wait a minute.")
		return
	}
	token := strings.TrimSpace(r.PostFormValue("token"))
	if token == "" {
		c.loginPage(w, r, http.StatusUnauthorized, next, "Enter the admin token.")
		return
	}
	ctx, cancel := context.WithTimeout(callContext(r), 10*time.Second)
	defer cancel()
	// The admin API checks the token (in constant time) and names its
	// operator.
	name, err := c.whoAmI(ctx, token)
	if err != nil {
		if client.IsStatus(err, http.StatusUnauthorized) {
			c.limiter.failed(ip, now)
			c.log.Warn("console login refused: wrong token", "remote", r.RemoteAddr)
			c.loginPage(w, r, http.StatusUnauthorized, next, "The admin API refused this token.")
			return
		}
		c.loginPage(w, r, http.StatusServiceUnavailable, next, "The admin API did not answer: "+err.Error())
		return
	}
	c.limiter.succeeded(ip)
	s := &session{token: token, name: name, csrf: randomString(24), created: now, expires: now.Add(c.cfg.SessionTTL)}
	id := c.sessions.add(s, now)
	c.setCookie(w, r, sessionCookie, id, c.cfg.SessionTTL)
	c.setCookie(w, r, loginCookie, "", 0)
	c.log.Info("console login", "operator", name, "remote", r.RemoteAddr)
	http.Redirect(w, r, nextPath(next), http.StatusSeeOther)
}

func nextPath(next string) string {
	if localPath(next) {
		return next
	}
	return "/"
}

func (c *Console) handleLogout(w http.ResponseWriter, r *http.Request, s *session) {
	c.sessions.remove(s)
	c.setCookie(w, r, sessionCookie, "", 0)
	c.log.Info("console logout", "operator", s.name, "remote", r.RemoteAddr)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
