package console

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/meridian-traffic/meridian/api/client"
	"github.com/meridian-traffic/meridian/cluster"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// assetVersion is a hash of the static files: their URLs carry it, so
// they can be cached for long and change with the binary.
var assetVersion = func() string {
	h := sha256.New()
	fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := staticFS.ReadFile(p)
			h.Write([]byte(p))
			h.Write(b)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}()

func serveStatic(w http.ResponseWriter, r *http.Request) {
	name := path.Clean(strings.TrimPrefix(r.URL.Path, "/"))
	b, err := staticFS.ReadFile(name)
	if err != nil || !strings.HasPrefix(name, "static/") {
		http.NotFound(w, r)
		return
	}
	switch path.Ext(name) {
	case ".css":
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	case ".js":
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	case ".svg":
		w.Header().Set("Content-Type", "image/svg+xml")
	}
	if r.URL.Query().Get("v") == assetVersion {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Write(b)
}

var funcs = template.FuncMap{
	"asset": func(name string) string { return "/static/" + name + "?v=" + assetVersion },
	"utc": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"iso":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"ago":   ago,
	"join":  strings.Join,
	"bytes": humanBytes,
	"diffClass": func(line string) string {
		switch {
		case strings.HasPrefix(line, "+++"), strings.HasPrefix(line, "---"):
			return "diff-file"
		case strings.HasPrefix(line, "@@"):
			return "diff-hunk"
		case strings.HasPrefix(line, "+"):
			return "diff-add"
		case strings.HasPrefix(line, "-"):
			return "diff-del"
		}
		return ""
	},
	"lines":  func(s string) []string { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") },
	"health": func(h cluster.Health) string { return string(h) },
	"add":    func(a, b int) int { return a + b },
	"fresh":  heartbeatFresh,
	"dur": func(d cluster.Duration) string {
		x := d.D()
		switch {
		case x >= time.Second:
			x = x.Round(10 * time.Millisecond)
		case x >= time.Millisecond:
			x = x.Round(100 * time.Microsecond)
		}
		return x.String()
	},
}

// ago is a short relative time for tables: "4s ago", "3m ago", "2h ago".
func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd ago", int(d/(24*time.Hour)))
}

func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// pages are the templates, one per page, each with the layout.
var pages = func() map[string]*template.Template {
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	out := map[string]*template.Template{}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".html")
		if name == "layout" {
			continue
		}
		out[name] = template.Must(template.Must(base.Clone()).ParseFS(templateFS, n))
	}
	return out
}()

// pageData is what every page template gets; Body is the page's own.
type pageData struct {
	Page     string // template name, also the active navigation entry
	Title    string
	Operator string // "" on the login page
	CSRF     string
	Flash    string
	Error    string
	Version  uint64 // the snapshot version the page was rendered at
	Body     any
}

// nav is the navigation, in order.
var nav = []struct{ Page, Title, Path string }{
	{"overview", "Overview", "/"},
	{"nodes", "Nodes", "/nodes"},
	{"config", "Config", "/config"},
	{"sync", "Sync", "/sync"},
	{"clients", "Clients", "/clients"},
	{"explain", "Explain", "/explain"},
	{"audit", "Audit", "/audit"},
}

func (p *pageData) Nav() any { return nav }

func (c *Console) render(w http.ResponseWriter, status int, p *pageData) {
	t := pages[p.Page]
	if t == nil {
		c.log.Error("no template", "page", p.Page)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout.html", p); err != nil {
		c.log.Error("render page", "page", p.Page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// errUnauthorized: the admin API refused the session's token (rotated
// since the login): the session ends.
var errUnauthorized = errors.New("the admin API refused the token")

// page wraps a page's handler: it needs a session (else a redirect to the
// login form), fills the common data and renders the template f chose.
func (c *Console) page(f func(r *http.Request, s *session, p *pageData) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := c.session(r)
		if s == nil {
			toLogin(w, r)
			return
		}
		p := &pageData{Operator: s.name, CSRF: s.csrf, Version: c.version(r.Context())}
		if r.Header.Get("X-Console-Live") == "" {
			p.Flash = s.takeFlash()
		}
		status := http.StatusOK
		if err := f(r, s, p); err != nil {
			if client.IsStatus(err, http.StatusUnauthorized) || errors.Is(err, errUnauthorized) {
				c.sessions.remove(s)
				toLogin(w, r)
				return
			}
			p.Error = err.Error()
			var he httpError
			if errors.As(err, &he) {
				status = he.status
			}
		}
		c.render(w, status, p)
	}
}

// httpError is an error with the status its page is answered with.
type httpError struct {
	status int
	msg    string
}

func (e httpError) Error() string { return e.msg }

// post wraps a form handler: it needs a session and the session's CSRF
// token.
func (c *Console) post(f func(w http.ResponseWriter, r *http.Request, s *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		s := c.session(r)
		if s == nil {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		if err := r.ParseMultipartForm(maxForm); err != nil && !errors.Is(err, http.ErrNotMultipart) {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				http.Error(w, fmt.Sprintf("the form is larger than %d KiB", maxForm>>10), http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "the form could not be read", http.StatusBadRequest)
			return
		}
		if !csrfOK(r, s.csrf) {
			c.log.Warn("console form refused: bad CSRF token or origin", "path", r.URL.Path, "remote", r.RemoteAddr)
			http.Error(w, "forbidden: the form is stale or from elsewhere; reload the page", http.StatusForbidden)
			return
		}
		f(w, r, s)
	}
}

// maxForm bounds a form: a site file (256 KiB) with room for its encoding.
const maxForm = 1 << 20

func toLogin(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Console-Live") != "" {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	u := "/login"
	if next := r.URL.RequestURI(); next != "/" && localPath(next) {
		u += "?" + url.Values{"next": {next}}.Encode()
	}
	http.Redirect(w, r, u, http.StatusSeeOther)
}

// localPath reports whether p is a path of this console (not another
// host's: no scheme, no "//", no backslash).
func localPath(p string) bool {
	return strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "//") && !strings.ContainsAny(p, "\\\r\n") &&
		!strings.HasPrefix(p, "/login") && !strings.HasPrefix(p, "/logout") && !strings.HasPrefix(p, "/events")
}

// version is the snapshot version served now, 0 when unknown.
func (c *Console) version(ctx context.Context) uint64 {
	if c.cfg.Versions == nil {
		return 0
	}
	v, err := c.cfg.Versions(ctx, 0)
	if err != nil {
		return 0
	}
	return v
}

// back returns the form's local "back" path, else def.
func back(r *http.Request, def string) string {
	if b := r.PostFormValue("back"); localPath(b) {
		return b
	}
	return def
}
