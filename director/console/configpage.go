package console

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/meridian-traffic/meridian/api/client"
	"github.com/meridian-traffic/meridian/cluster"
)

// maxSiteFile is the admin API's limit of a posted site file.
const maxSiteFile = 256 << 10

// historyShown is how many config versions the page lists unless asked
// for all.
const historyShown = 25

type configBody struct {
	Current       string
	ConfigVersion uint64
	History       []historyRow
	AllHistory    bool
	MoreHistory   int

	// The submitted file, after "Validate" or a failed "Apply".
	Draft     string
	DraftName string
	Checked   bool // Draft was validated
	Valid     bool
	Listing   []listingLine // the draft's lines with their problems
	General   []cluster.FieldError
	Problems  int // problems in all
	Hidden    int // problems the validator counted but did not list
}

type historyRow struct {
	Version, Author, Comment string
	V                        uint64
	When                     string
	Diff                     []string
	Current                  bool
}

type listingLine struct {
	N        int
	Text     string
	Problems []cluster.FieldError
}

func (c *Console) configPage(r *http.Request, s *session, p *pageData) error {
	b := &configBody{AllHistory: r.URL.Query().Get("history") == "all"}
	p.Page, p.Title, p.Body = "config", "Config", b
	return c.loadConfig(r, s, b)
}

func (c *Console) loadConfig(r *http.Request, s *session, b *configBody) error {
	ctx, cancel := apiContext(r)
	defer cancel()
	a := c.admin(s)
	raw, err := a.GetConfig(ctx)
	if err != nil {
		return err
	}
	b.Current = string(raw)
	h, err := a.History(ctx)
	if err != nil {
		return err
	}
	if len(h) > 0 {
		b.ConfigVersion = h[0].Version
	}
	if !b.AllHistory && len(h) > historyShown {
		b.MoreHistory = len(h) - historyShown
		h = h[:historyShown]
	}
	for i, v := range h {
		row := historyRow{
			V: v.Version, Version: strconv.FormatUint(v.Version, 10), Author: v.Author,
			Comment: v.Comment, When: v.Time.UTC().Format("2006-01-02 15:04:05Z"), Current: i == 0,
		}
		if d := strings.TrimRight(v.Diff, "\n"); d != "" {
			row.Diff = strings.Split(d, "\n")
		}
		b.History = append(b.History, row)
	}
	return nil
}

// configSubmit validates a pasted or uploaded site file and, for "apply",
// stores it as a new config version once it is valid.
func (c *Console) configSubmit(w http.ResponseWriter, r *http.Request, s *session) {
	b := &configBody{}
	p := &pageData{Page: "config", Title: "Config", Operator: s.name, CSRF: s.csrf, Version: c.version(r.Context()), Body: b}
	data, name, err := submittedFile(r)
	b.Draft, b.DraftName = string(data), name
	if err != nil {
		p.Error = err.Error()
		c.finishConfig(w, r, s, p, b, http.StatusBadRequest)
		return
	}
	b.Checked = true
	if _, err := cluster.Parse(name, data); err != nil {
		b.setProblems(err)
		p.Error = fmt.Sprintf("%s: %s; nothing was applied.", name, problemCount(b.Problems))
		c.finishConfig(w, r, s, p, b, http.StatusOK)
		return
	}
	b.Valid = true
	if r.PostFormValue("action") != "apply" {
		c.finishConfig(w, r, s, p, b, http.StatusOK)
		return
	}
	ctx, cancel := apiContext(r)
	defer cancel()
	ctx = withReason(ctx, strings.TrimSpace(r.PostFormValue("reason")))
	a := c.admin(s)
	if cur, err := a.GetConfig(ctx); err == nil && string(cur) == string(data) {
		c.afterChange(w, r, s, "/config", name+" equals the running site file: nothing stored.", nil)
		return
	}
	res, err := a.Apply(ctx, name, data)
	if err != nil {
		var ae *client.APIError
		if errors.As(err, &ae) && len(ae.Fields) > 0 {
			b.Valid = false
			b.setProblems(&cluster.ValidationError{Errors: ae.Fields})
		}
		if client.IsStatus(err, http.StatusUnauthorized) {
			c.sessions.remove(s)
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		p.Error = "Apply failed: " + err.Error()
		c.finishConfig(w, r, s, p, b, http.StatusOK)
		return
	}
	c.log.Info("console apply", "operator", s.name, "file", name, "config_version", res.ConfigVersion, "version", res.Version)
	c.afterChange(w, r, s, "/config", fmt.Sprintf("Applied %s as config version %d (snapshot %d).", name, res.ConfigVersion, res.Version), nil)
}

func (c *Console) finishConfig(w http.ResponseWriter, r *http.Request, s *session, p *pageData, b *configBody, status int) {
	if err := c.loadConfig(r, s, b); err != nil && p.Error == "" {
		p.Error = err.Error()
	}
	c.render(w, status, p)
}

func problemCount(n int) string {
	if n == 1 {
		return "1 problem"
	}
	return fmt.Sprintf("%d problems", n)
}

// submittedFile is the form's uploaded file, else its pasted text.
func submittedFile(r *http.Request) ([]byte, string, error) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	var data []byte
	if f, hdr, err := r.FormFile("file"); err == nil {
		defer f.Close()
		data, err = io.ReadAll(io.LimitReader(f, maxSiteFile+1))
		if err != nil {
			return nil, name, fmt.Errorf("read the uploaded file: %w", err)
		}
		if name == "" {
			name = filepath.Base(hdr.Filename)
		}
	}
	if len(data) == 0 {
		data = []byte(strings.ReplaceAll(r.PostFormValue("text"), "\r\n", "\n"))
	}
	if name == "" || strings.ContainsAny(name, "\r\n") {
		name = "site.yaml"
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, name, errors.New("no site file: paste one or choose a file")
	}
	if len(data) > maxSiteFile {
		return nil, name, fmt.Errorf("%s is larger than %d KiB", name, maxSiteFile>>10)
	}
	return data, name, nil
}

// setProblems lists the draft's lines with the problems of each line
// beneath it; problems without a line come first.
func (b *configBody) setProblems(err error) {
	var ve *cluster.ValidationError
	if !errors.As(err, &ve) {
		b.General = []cluster.FieldError{{Msg: err.Error()}}
		b.Problems = 1
		b.listing(nil)
		return
	}
	b.Problems = ve.Count()
	b.Hidden = ve.Count() - len(ve.Errors)
	byLine := map[int][]cluster.FieldError{}
	lines := strings.Count(b.Draft, "\n") + 1
	for _, fe := range ve.Errors {
		if fe.Line > 0 && fe.Line <= lines {
			byLine[fe.Line] = append(byLine[fe.Line], fe)
		} else {
			b.General = append(b.General, fe)
		}
	}
	b.listing(byLine)
}

func (b *configBody) listing(byLine map[int][]cluster.FieldError) {
	lines := strings.Split(strings.TrimSuffix(b.Draft, "\n"), "\n")
	b.Listing = make([]listingLine, len(lines))
	for i, l := range lines {
		ps := byLine[i+1]
		slices.SortFunc(ps, func(x, y cluster.FieldError) int { return x.Col - y.Col })
		b.Listing[i] = listingLine{N: i + 1, Text: l, Problems: ps}
	}
}

// ---- Rollback

func (c *Console) confirmRollback(r *http.Request, s *session, p *pageData) error {
	v, err := strconv.ParseUint(r.URL.Query().Get("version"), 10, 64)
	p.Page, p.Title = "confirm", "Roll back"
	if err != nil || v == 0 {
		return httpError{http.StatusBadRequest, "no config version to roll back to"}
	}
	p.Title = fmt.Sprintf("Roll back to config version %d", v)
	p.Body = confirmBody{
		Action: "rollback", Verb: "Roll back", Target: fmt.Sprintf("config version %d", v),
		Warning: fmt.Sprintf("Config version %d's site file is stored as a new config version and published.", v),
		Path:    "/config/rollback", Back: "/config",
		Hidden: map[string]string{"version": strconv.FormatUint(v, 10)},
	}
	return nil
}

func (c *Console) rollback(w http.ResponseWriter, r *http.Request, s *session) {
	v, err := strconv.ParseUint(r.PostFormValue("version"), 10, 64)
	if err != nil || v == 0 {
		http.Error(w, "bad version", http.StatusBadRequest)
		return
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if reason == "" {
		s.setFlash("Rollback: not done, a reason is required.")
		http.Redirect(w, r, fmt.Sprintf("/config/rollback?version=%d", v), http.StatusSeeOther)
		return
	}
	ctx, cancel := apiContext(r)
	defer cancel()
	res, err := c.admin(s).Rollback(withReason(ctx, reason), v)
	if err != nil {
		c.afterChange(w, r, s, "/config", "", err)
		return
	}
	c.log.Info("console rollback", "operator", s.name, "to", v, "config_version", res.ConfigVersion, "reason", reason)
	c.afterChange(w, r, s, "/config", fmt.Sprintf("Rolled back to config version %d: now config version %d (snapshot %d).", v, res.ConfigVersion, res.Version), nil)
}
