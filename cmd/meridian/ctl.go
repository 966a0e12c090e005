package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/api/client"
	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/geoip"
)

// ctlCmd is one `meridian ctl` command: the help text is made from the
// table, so a command cannot be missing from it.
type ctlCmd struct {
	name    string
	args    string // usage after the name
	summary string
	more    [][2]string                       // further forms: usage after the name, summary
	flags   func(fs *flag.FlagSet, c *ctlRun) // the command's own flags, or nil
	run     ctlCommand
}

// ctlCommand runs one `meridian ctl` command with its positional arguments.
type ctlCommand func(ctx context.Context, c *ctlRun, args []string) error

// ctlRun is what a command runs with.
type ctlRun struct {
	ctlGlobal
	out       io.Writer
	file      string // apply -f
	authorSet bool   // the deprecated --author was given
	diff      bool   // history --diff
	hist      bool   // sync --history
	wait      time.Duration
	offset    string
	reason    string // the operator's reason, kept in the audit
	node      string // clients --node
	limit     int    // audit --limit
}

// withAuthor accepts the --author of earlier releases: the director now
// records the name of the admin token's operator.
func withAuthor(fs *flag.FlagSet, c *ctlRun) {
	fs.Func("author", "deprecated and ignored: the director records the admin token's operator (ctl whoami)", func(string) error {
		c.authorSet = true
		return nil
	})
}

// withReason adds --reason, the operator's reason kept in the audit.
func withReason(fs *flag.FlagSet, c *ctlRun) {
	fs.StringVar(&c.reason, "reason", "", "why, kept in the audit (ctl audit)")
}

// changeFlags are the flags of every command that changes something.
func changeFlags(fs *flag.FlagSet, c *ctlRun) {
	withAuthor(fs, c)
	withReason(fs, c)
}

// admin is the operator client; it gives the director --reason with every
// request.
func (c *ctlRun) admin() (*client.Admin, error) {
	a, err := c.ctlGlobal.admin()
	if err != nil || c.reason == "" {
		return a, err
	}
	return a.WithReason(c.reason), nil
}

func ctlTable() []ctlCmd {
	return []ctlCmd{
		{name: "status", summary: "the cluster page: site, versions, masters, nodes, subscribers", run: ctlStatus},
		{name: "nodes", summary: "one row per traffic node", run: ctlNodes},
		{name: "config", summary: "print the current site file", run: ctlConfig},
		{name: "validate", args: "FILE...", summary: "check site files offline", run: ctlValidate},
		{name: "apply", args: "-f FILE [--reason TEXT]", summary: "validate and store FILE as a new config version",
			flags: func(fs *flag.FlagSet, c *ctlRun) {
				changeFlags(fs, c)
				fs.StringVar(&c.file, "f", "", "site file to apply")
			}, run: ctlApply},
		{name: "history", args: "[--diff]", summary: "config versions, newest first",
			flags: func(fs *flag.FlagSet, c *ctlRun) { fs.BoolVar(&c.diff, "diff", false, "show each version's diff") },
			run:   ctlHistory},
		{name: "rollback", args: "V [--reason TEXT]", summary: "restore config version V as a new version", flags: changeFlags, run: ctlRollback},
		{name: "drain", args: "NODE [--reason TEXT]", summary: "stop sending new clients to NODE", flags: changeFlags, run: ctlDrain(true)},
		{name: "undrain", args: "NODE [--reason TEXT]", summary: "send new clients to NODE again", flags: changeFlags, run: ctlDrain(false)},
		{name: "node", args: "remove NAME [--reason TEXT]", summary: "drop NAME from the site; its agent stops serving", flags: changeFlags, run: ctlNode},
		{name: "sync", args: "[--wait 5s] [--reason TEXT]", summary: "make every subscriber fetch the current snapshot",
			more: [][2]string{{"--history", "the cluster status history"}},
			flags: func(fs *flag.FlagSet, c *ctlRun) {
				changeFlags(fs, c)
				fs.BoolVar(&c.hist, "history", false, "show the cluster status history instead")
				fs.DurationVar(&c.wait, "wait", 5*time.Second, "how long the director waits for the subscribers")
			}, run: ctlSync},
		{name: "audit", args: "[--limit N]", summary: "who did what, when and why: every action, newest first",
			flags: func(fs *flag.FlagSet, c *ctlRun) {
				fs.IntVar(&c.limit, "limit", 50, "show the newest N entries")
			},
			run: ctlAudit},
		{name: "whoami", summary: "the operator the admin token names", run: ctlWhoAmI},
		{name: "explain", args: "IP [--offset +02:00]", summary: "which node the site chooses for IP, and why",
			flags: func(fs *flag.FlagSet, c *ctlRun) {
				fs.StringVar(&c.offset, "offset", "", "client UTC offset, e.g. +02:00")
			},
			run: ctlExplain},
		{name: "bgp", summary: "anycast speakers: sessions, prefixes, last change and why",
			more: [][2]string{
				{"withdraw NODE [--reason TEXT]", "withdraw NODE's anycast prefixes gracefully until resumed"},
				{"resume NODE [--reason TEXT]", "let NODE announce its anycast prefixes again"},
			},
			flags: func(fs *flag.FlagSet, c *ctlRun) {
				withAuthor(fs, c)
				fs.StringVar(&c.reason, "reason", "", "why, kept in the audit; for bgp withdraw also the reason ctl bgp shows")
			}, run: ctlBGP},
		{name: "clients", args: "[--node N]", summary: "connected clients per node and per session",
			flags: func(fs *flag.FlagSet, c *ctlRun) { fs.StringVar(&c.node, "node", "", "show only this node") },
			run:   ctlClients},
	}
}

// ctlUsage is the help text, made from the command table.
func ctlUsage() string {
	var b strings.Builder
	b.WriteString("usage: meridian ctl COMMAND [flags]\n\ncommands:\n")
	for _, cmd := range append(ctlTable(), ctlCmd{name: "help", summary: "this text"}) {
		for _, form := range append([][2]string{{cmd.args, cmd.summary}}, cmd.more...) {
			use := strings.TrimSpace(cmd.name + " " + form[0])
			if len(use) > 30 {
				fmt.Fprintf(&b, "  %s\n  %-30s %s\n", use, "", form[1])
				continue
			}
			fmt.Fprintf(&b, "  %-30s %s\n", use, form[1])
		}
	}
	b.WriteString(`
flags of every command:
  --director URL     director (env MERIDIAN_DIRECTOR, default http://127.0.0.1:7700)
  --token-file FILE  admin token (env MERIDIAN_TOKEN_FILE)
  --ca FILE          CA certificate of an https director
  --timeout 10s      give up on a director that does not answer within this time
  --json             print JSON
`)
	return b.String()
}

func runCtl(ctx context.Context, args []string, out io.Writer) error {
	// Flags of every command may come before it: "ctl --json nodes".
	c := &ctlRun{ctlGlobal: newCtlGlobal(), out: out}
	gfs := newFlagSet("ctl", out)
	gfs.Usage = func() {} // ctlUsage is printed instead
	c.register(gfs)
	if err := gfs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(out, ctlUsage())
			return nil
		}
		return err
	}
	args = gfs.Args()
	if len(args) == 0 {
		return errors.New("missing command; see meridian ctl help")
	}
	name := args[0]
	if name == "help" {
		fmt.Fprint(out, ctlUsage())
		return nil
	}
	i := slices.IndexFunc(ctlTable(), func(cmd ctlCmd) bool { return cmd.name == name })
	if i < 0 {
		return fmt.Errorf("unknown command %q; see meridian ctl help", name)
	}
	cmd := ctlTable()[i]
	fs := newFlagSet("ctl "+strings.TrimSpace(name+" "+cmd.args), out)
	c.register(fs)
	if cmd.flags != nil {
		cmd.flags(fs, c)
	}
	pos, err := parseInterleaved(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if c.timeout <= 0 {
		return fmt.Errorf("--timeout %s: want a positive duration", c.timeout)
	}
	if c.authorSet {
		fmt.Fprintln(os.Stderr, "ctl: --author is deprecated and ignored: the director records the operator its admin token names (ctl whoami)")
	}
	// The director's own wait (sync) comes on top of the time to answer.
	rctx, cancel := context.WithTimeout(ctx, c.timeout+c.wait)
	defer cancel()
	if err := cmd.run(rctx, c, pos); err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("no answer from director %s within %s (--timeout)", c.director, c.timeout+c.wait)
		}
		return fmt.Errorf("%s: %w", name, describe(err))
	}
	return nil
}

// describe turns a director error into its lines: the summary, then one
// line per field problem, so validation errors show file:line:col: field.
func describe(err error) error {
	var ae *client.APIError
	if errors.As(err, &ae) && len(ae.Fields) > 0 {
		return errors.New(strings.Join(ae.Lines(), "\n"))
	}
	return err
}

// wantArgs checks the number of positional arguments.
func wantArgs(args []string, n int, what string) error {
	if len(args) != n {
		if n == 0 {
			return fmt.Errorf("unexpected argument %q", args[0])
		}
		return fmt.Errorf("want %s", what)
	}
	return nil
}

// call runs one admin request. With --json it prints the answer itself
// and returns show false; otherwise the caller shows v to a person.
func call[T any](ctx context.Context, c *ctlRun, req func(*client.Admin, context.Context) (T, error)) (v T, show bool, err error) {
	a, err := c.admin()
	if err != nil {
		return v, false, err
	}
	if v, err = req(a, ctx); err != nil {
		return v, false, err
	}
	if c.json {
		return v, false, c.printJSON(v)
	}
	return v, true, nil
}

// printJSON prints v indented.
func (c *ctlRun) printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	_, err = fmt.Fprintf(c.out, "%s\n", b)
	return err
}

func ctlApply(ctx context.Context, c *ctlRun, args []string) error {
	if c.file == "" && len(args) == 1 {
		c.file = args[0]
		args = nil
	}
	if c.file == "" {
		return errors.New("want -f FILE")
	}
	if err := wantArgs(args, 0, ""); err != nil {
		return err
	}
	data, err := os.ReadFile(c.file)
	if err != nil {
		return err
	}
	// Check offline first: the same messages, without a round trip.
	if _, err := cluster.Parse(c.file, data); err != nil {
		var ve *cluster.ValidationError
		if errors.As(err, &ve) {
			return fmt.Errorf("%s rejected (%s):\n%w", c.file, ve.Summary(), err)
		}
		return err
	}
	res, show, err := call(ctx, c, func(a *client.Admin, ctx context.Context) (*api.ChangeResult, error) {
		return a.Apply(ctx, c.file, data)
	})
	if !show {
		return err
	}
	if res.Unchanged {
		fmt.Fprintf(c.out, "unchanged: config version %d (%s is the running site file), snapshot %d\n", res.ConfigVersion, c.file, res.Version)
		return nil
	}
	fmt.Fprintf(c.out, "applied %s: config version %d, snapshot %d\n", c.file, res.ConfigVersion, res.Version)
	return nil
}

func ctlConfig(ctx context.Context, c *ctlRun, args []string) error {
	if err := wantArgs(args, 0, ""); err != nil {
		return err
	}
	cfg, show, err := call(ctx, c, func(a *client.Admin, ctx context.Context) (map[string]string, error) {
		b, err := a.GetConfig(ctx)
		return map[string]string{"config": string(b)}, err
	})
	if !show {
		return err
	}
	_, err = io.WriteString(c.out, cfg["config"])
	return err
}

func ctlRollback(ctx context.Context, c *ctlRun, args []string) error {
	if err := wantArgs(args, 1, "a config version"); err != nil {
		return err
	}
	v, err := strconv.ParseUint(args[0], 10, 64)
	if err != nil || v == 0 {
		return fmt.Errorf("version %q: want a positive number", args[0])
	}
	res, show, err := call(ctx, c, func(a *client.Admin, ctx context.Context) (*api.ChangeResult, error) { return a.Rollback(ctx, v) })
	if !show {
		return err
	}
	if res.Unchanged {
		fmt.Fprintf(c.out, "unchanged: config version %d already has the site file of version %d, snapshot %d\n", res.ConfigVersion, v, res.Version)
		return nil
	}
	fmt.Fprintf(c.out, "rolled back to %d: config version %d, snapshot %d\n", v, res.ConfigVersion, res.Version)
	return nil
}

func ctlDrain(drain bool) func(ctx context.Context, c *ctlRun, args []string) error {
	return func(ctx context.Context, c *ctlRun, args []string) error {
		if err := wantArgs(args, 1, "a node name"); err != nil {
			return err
		}
		f, verb := (*client.Admin).Drain, "drained"
		if !drain {
			f, verb = (*client.Admin).Undrain, "undrained"
		}
		res, show, err := call(ctx, c, func(a *client.Admin, ctx context.Context) (*api.ChangeResult, error) {
			return f(a, ctx, args[0])
		})
		if !show {
			return err
		}
		if res.Unchanged {
			fmt.Fprintf(c.out, "unchanged: %s already %s, snapshot %d\n", args[0], verb, res.Version)
			return nil
		}
		fmt.Fprintf(c.out, "%s %s: snapshot %d\n", verb, args[0], res.Version)
		return nil
	}
}

func ctlNode(ctx context.Context, c *ctlRun, args []string) error {
	if len(args) != 2 || args[0] != "remove" {
		return errors.New("want: node remove NAME")
	}
	res, show, err := call(ctx, c, func(a *client.Admin, ctx context.Context) (*api.ChangeResult, error) {
		return a.RemoveNode(ctx, args[1])
	})
	if !show {
		return err
	}
	fmt.Fprintf(c.out, "removed %s: config version %d, snapshot %d\n", args[1], res.ConfigVersion, res.Version)
	return nil
}

func ctlExplain(ctx context.Context, c *ctlRun, args []string) error {
	if err := wantArgs(args, 1, "a client address"); err != nil {
		return err
	}
	ex, show, err := call(ctx, c, func(a *client.Admin, ctx context.Context) (*api.Explain, error) {
		return a.Explain(ctx, args[0], c.offset)
	})
	if !show {
		return err
	}
	fmt.Fprintf(c.out, "client  %s (scope /%d)\nnodes   %s\n", ex.Client, ex.Scope, strings.Join(ex.Nodes, ", "))
	geo := geoip.DescribeBuild(ex.GeoIP)
	if ex.GeoIP == "" {
		geo += " (the director runs without --geoip: geo and timezone fall back)"
	}
	fmt.Fprintf(c.out, "geoip   %s\n", geo)
	for _, t := range ex.Trace {
		fmt.Fprintf(c.out, "  %s\n", t)
	}
	return nil
}

// validateResult is one file of `ctl validate --json`.
type validateResult struct {
	File     string   `json:"file"`
	OK       bool     `json:"ok"`
	Site     string   `json:"site,omitempty"`
	Nodes    int      `json:"nodes,omitempty"`
	Method   string   `json:"method,omitempty"`
	Problems []string `json:"problems,omitempty"`
}

// ctlValidate checks site files offline; every problem is one line of the
// returned error.
func ctlValidate(_ context.Context, c *ctlRun, args []string) error {
	if len(args) == 0 {
		return errors.New("want a site file")
	}
	var results []validateResult
	var problems []string
	for _, f := range args {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		s, err := cluster.Parse(f, data)
		if err != nil {
			problems = append(problems, err.Error())
			results = append(results, validateResult{File: f, Problems: strings.Split(err.Error(), "\n")})
			continue
		}
		results = append(results, validateResult{File: f, OK: true, Site: s.Name, Nodes: len(s.Nodes), Method: string(s.Selection.Method)})
		if !c.json {
			fmt.Fprintf(c.out, "%s: site %s, %d nodes, method %s: ok\n", f, s.Name, len(s.Nodes), s.Selection.Method)
		}
	}
	if c.json {
		if err := c.printJSON(results); err != nil {
			return err
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%d of %d files invalid:\n%s", len(problems), len(args), strings.Join(problems, "\n"))
	}
	return nil
}
