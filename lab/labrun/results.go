package labrun

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Status is a scenario's outcome.
type Status string

const (
	Pass Status = "pass"
	Fail Status = "fail"
	Skip Status = "skip"
)

// Result is one scenario's outcome and figures.
type Result struct {
	ID      int               `json:"id"`
	Name    string            `json:"name"`
	Status  Status            `json:"status"`
	Figures map[string]string `json:"figures,omitempty"`
	// Families holds the figures measured per address family, under
	// "ipv4" and "ipv6".
	Families map[string]map[string]string `json:"families,omitempty"`
	Detail   string                       `json:"detail,omitempty"` // why it failed or was skipped
	Took     float64                      `json:"seconds"`

	failures int
	reasons  []string
}

// Report is the whole run, as written to results.json.
type Report struct {
	Run      string    `json:"run"`
	Started  time.Time `json:"started"`
	Seconds  float64   `json:"seconds"`
	Passed   bool      `json:"passed"`
	Results  []Result  `json:"results"`
	Topology string    `json:"topology"`
}

// figure adds a named figure to r.
func (r *Result) figure(name, format string, args ...any) {
	if r.Figures == nil {
		r.Figures = map[string]string{}
	}
	r.Figures[name] = fmt.Sprintf(format, args...)
}

// ffig adds a named figure of family f to r.
func (r *Result) ffig(f fam, name, format string, args ...any) {
	if r.Families == nil {
		r.Families = map[string]map[string]string{}
	}
	m := r.Families[f.String()]
	if m == nil {
		m = map[string]string{}
		r.Families[f.String()] = m
	}
	m[name] = fmt.Sprintf(format, args...)
}

// maxReasons is how many failure reasons a result keeps; one root cause
// often fails every check after it.
const maxReasons = 3

// fail marks r failed, keeping the first few reasons and counting the rest.
func (r *Result) fail(format string, args ...any) {
	r.Status = Fail
	r.failures++
	if r.failures <= maxReasons {
		r.reasons = append(r.reasons, fmt.Sprintf(format, args...))
	}
	r.Detail = strings.Join(r.reasons, "; ")
	if more := r.failures - maxReasons; more > 0 {
		r.Detail += fmt.Sprintf("; and %d more", more)
	}
}

// printTable writes one row per scenario, its figures beneath it.
func printTable(w io.Writer, rep *Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tSCENARIO\tRESULT\tSECONDS\tFIGURES / DETAIL")
	for _, r := range rep.Results {
		var keys []string
		for k := range r.Figures {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		lines := make([]string, 0, len(keys)+1)
		for _, k := range keys {
			lines = append(lines, k+": "+r.Figures[k])
		}
		for _, f := range families {
			m := r.Families[f.String()]
			var fk []string
			for k := range m {
				fk = append(fk, k)
			}
			slices.Sort(fk)
			for _, k := range fk {
				lines = append(lines, f.String()+" "+k+": "+m[k])
			}
		}
		if r.Detail != "" {
			lines = append(lines, r.Detail)
		}
		if len(lines) == 0 {
			lines = append(lines, "")
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%.1f\t%s\n", r.ID, r.Name, strings.ToUpper(string(r.Status)), r.Took, lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(tw, "\t\t\t\t%s\n", l)
		}
	}
	tw.Flush()
	verdict := "PASS"
	if !rep.Passed {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "lab %s: %s in %.0fs\n", rep.Run, verdict, rep.Seconds)
}

func writeJSON(path string, rep *Report) error {
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	return nil
}

// stats returns the median and the maximum of ds.
func stats(ds []time.Duration) (median, max time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2], s[len(s)-1]
}

func fmtStats(ds []time.Duration) string {
	med, max := stats(ds)
	return fmt.Sprintf("median %s, max %s (%d runs)", med.Round(time.Millisecond), max.Round(time.Millisecond), len(ds))
}
