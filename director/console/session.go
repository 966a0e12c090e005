package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"sync"
	"time"
)

// Cookie names. The login cookie carries the login form's CSRF token
// (double submit) before there is a session.
const (
	sessionCookie = "meridian_console"
	loginCookie   = "meridian_console_login"
)

// session is one operator's login. The token is the admin token the
// operator logged in with; it stays on the server and every admin call of
// the session bears it, so the admin API and its audit see the operator.
type session struct {
	key     [sha256.Size]byte // sha256 of the cookie value
	token   string
	name    string // the operator, from GET /v1/whoami ("admin" without it)
	csrf    string
	created time.Time
	expires time.Time

	mu    sync.Mutex
	flash string // one message for the next page
}

func (s *session) setFlash(msg string) {
	s.mu.Lock()
	s.flash = msg
	s.mu.Unlock()
}

func (s *session) takeFlash() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.flash
	s.flash = ""
	return f
}

// sessions is the bounded session table, keyed by the hash of the cookie
// value so that the table holds no cookie.
type sessions struct {
	mu  sync.Mutex
	max int
	m   map[[sha256.Size]byte]*session
}

func newSessions(max int) *sessions {
	return &sessions{max: max, m: map[[sha256.Size]byte]*session{}}
}

// add stores a new session and returns its cookie value. A full table
// drops expired sessions, then the oldest.
func (t *sessions) add(s *session, now time.Time) string {
	id := randomString(32)
	s.key = sha256.Sum256([]byte(id))
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.m) >= t.max {
		var oldest *session
		for k, o := range t.m {
			if !now.Before(o.expires) {
				delete(t.m, k)
			} else if oldest == nil || o.created.Before(oldest.created) {
				oldest = o
			}
		}
		if len(t.m) >= t.max && oldest != nil {
			delete(t.m, oldest.key)
		}
	}
	t.m[s.key] = s
	return id
}

// get returns the live session of a cookie value, or nil.
func (t *sessions) get(id string, now time.Time) *session {
	if id == "" {
		return nil
	}
	k := sha256.Sum256([]byte(id))
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.m[k]
	if s == nil {
		return nil
	}
	if !now.Before(s.expires) {
		delete(t.m, k)
		return nil
	}
	return s
}

func (t *sessions) remove(s *session) {
	t.mu.Lock()
	delete(t.m, s.key)
	t.mu.Unlock()
}

func (t *sessions) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// session returns the request's live session, or nil.
func (c *Console) session(r *http.Request) *session {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	return c.sessions.get(ck.Value, c.now())
}

// secure reports whether cookies of r's answer are marked Secure.
func (c *Console) secure(r *http.Request) bool { return r.TLS != nil || c.cfg.SecureCookies }

func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	ck := &http.Cookie{
		Name: name, Value: value, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.secure(r),
	}
	if maxAge > 0 {
		ck.MaxAge = int(maxAge / time.Second)
		ck.Expires = c.now().Add(maxAge)
	} else {
		ck.MaxAge = -1
	}
	http.SetCookie(w, ck)
}

// csrfOK checks the form's CSRF token against want in constant time, and
// the Origin header, when the browser sends one, against the request's
// host.
func csrfOK(r *http.Request, want string) bool {
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		scheme := "http://"
		if r.TLS != nil {
			scheme = "https://"
		}
		if o != scheme+r.Host {
			return false
		}
	}
	got := r.PostFormValue("csrf")
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// loginLimiter slows token guessing: at most loginBurst failed logins per
// source address in loginWindow.
type loginLimiter struct {
	mu sync.Mutex
	m  map[string]*loginFailures
}

type loginFailures struct {
	n     int
	since time.Time
}

const (
	loginBurst     = 10
	loginWindow    = time.Minute
	loginAddresses = 4096 // bound of the table
)

func newLoginLimiter() *loginLimiter { return &loginLimiter{m: map[string]*loginFailures{}} }

func sourceIP(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// allowed reports whether ip may try to log in now.
func (l *loginLimiter) allowed(ip string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.m[ip]
	if f == nil || now.Sub(f.since) > loginWindow {
		return true
	}
	return f.n < loginBurst
}

func (l *loginLimiter) failed(ip string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.m[ip]
	if f == nil || now.Sub(f.since) > loginWindow {
		if f == nil && len(l.m) >= loginAddresses {
			for k, o := range l.m {
				if now.Sub(o.since) > loginWindow {
					delete(l.m, k)
				}
			}
			if len(l.m) >= loginAddresses {
				clear(l.m)
			}
		}
		f = &loginFailures{since: now}
		l.m[ip] = f
	}
	f.n++
}

func (l *loginLimiter) succeeded(ip string) {
	l.mu.Lock()
	delete(l.m, ip)
	l.mu.Unlock()
}
