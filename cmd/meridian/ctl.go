package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/api/client"
)

const ctlUsage = `usage: meridian ctl COMMAND [flags]

commands:
  status                        the cluster page: site, versions, masters, nodes, subscribers
  nodes                         one row per traffic node
  config                        print the current site file
  apply -f FILE [--author NAME] validate and store FILE as a new config version
  validate FILE...              check site files offline
  history [--diff]              config versions, newest first
  rollback V [--author NAME]    restore config version V as a new version
  drain NODE                    stop sending new clients to NODE
  undrain NODE                  send new clients to NODE again
  node remove NAME              drop NAME from the site; its agent stops serving
  sync [--timeout 5s]           make every subscriber fetch the current snapshot
  sync --history                the cluster status history
  explain IP [--offset +02:00]  which node the site chooses for IP, and why
  bgp                           anycast speakers: sessions, prefixes, last change and why
  bgp withdraw NODE [--reason TEXT]
                                withdraw NODE's anycast prefixes gracefully until resumed
  bgp resume NODE               let NODE announce its anycast prefixes again
  clients [--node N]            connected clients per node and per session
  help                          this text

flags of every command:
  --director URL     director (env MERIDIAN_DIRECTOR, default http://127.0.0.1:7700)
  --token-file FILE  admin token (env MERIDIAN_TOKEN_FILE)
  --ca FILE          CA certificate of an https director
  --json             print JSON
`

// ctlCommand runs one `meridian ctl` command with its positional arguments.
type ctlCommand func(ctx context.Context, c *ctlRun, args []string) error

// ctlRun is what a command runs with.
type ctlRun struct {
	ctlGlobal
	out    io.Writer
	file   string // apply -f
	author string
	diff   bool // history --diff
	hist   bool // sync --history
	wait   time.Duration
	offset string
	reason string // bgp withdraw --reason
}

func ctlCommands() map[string]ctlCommand {
	return map[string]ctlCommand{
		"status":   ctlStatus,
		"nodes":    ctlNodes,
		"config":   ctlConfig,
		"apply":    ctlApply,
		"history":  ctlHistory,
		"rollback": ctlRollback,
		"drain":    ctlDrain(true),
		"undrain":  ctlDrain(false),
		"node":     ctlNode,
		"sync":     ctlSync,
		"explain":  ctlExplain,
		"bgp":      ctlBGP,
	}
}

func runCtl(ctx context.Context, args []string, out io.Writer) error {
	// Flags of every command may come before it: "ctl --json nodes".
	c := &ctlRun{ctlGlobal: newCtlGlobal(), out: out}
	gfs := newFlagSet("ctl", out)
	gfs.Usage = func() {} // ctlUsage is printed instead
	c.register(gfs)
	if err := gfs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(out, ctlUsage)
			return nil
		}
		return err
	}
	args = gfs.Args()
	if len(args) == 0 {
		return errors.New("missing command; see meridian ctl help")
	}
	name := args[0]
	switch name {
	case "help":
		fmt.Fprint(out, ctlUsage)
		return nil
	case "validate":
		return ctlValidate(args[1:], out)
	case "clients":
		return ctlClients(ctx, c, args[1:])
	}
	cmd, ok := ctlCommands()[name]
	if !ok {
		return fmt.Errorf("unknown command %q; see meridian ctl help", name)
	}
	fs := newFlagSet("ctl "+name, out)
	c.register(fs)
	fs.StringVar(&c.author, "author", defaultAuthor(), "author stored with a change")
	switch name {
	case "apply":
		fs.StringVar(&c.file, "f", "", "site file to apply")
	case "history":
		fs.BoolVar(&c.diff, "diff", false, "show each version's diff")
	case "sync":
		fs.BoolVar(&c.hist, "history", false, "show the cluster status history instead")
		fs.DurationVar(&c.wait, "timeout", 5*time.Second, "how long to wait for the subscribers")
	case "explain":
		fs.StringVar(&c.offset, "offset", "", "client UTC offset, e.g. +02:00")
	case "bgp":
		fs.StringVar(&c.reason, "reason", "", "bgp withdraw: the reason shown by ctl bgp")
	}
	pos, err := parseInterleaved(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := cmd(ctx, c, pos); err != nil {
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

func defaultAuthor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return envOr("USER", "ctl")
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
			return fmt.Errorf("%s rejected (%d problems):\n%w", c.file, len(ve.Errors), err)
		}
		return err
	}
	a, err := c.admin()
	if err != nil {
		return err
	}
	res, err := a.Apply(ctx, c.file, data, c.author)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(res)
	}
	fmt.Fprintf(c.out, "applied %s: config version %d, snapshot %d\n", c.file, res.ConfigVersion, res.Version)
	return nil
}

func ctlConfig(ctx context.Context, c *ctlRun, args []string) error {
	if err := wantArgs(args, 0, ""); err != nil {
		return err
	}
	a, err := c.admin()
	if err != nil {
		return err
	}
	b, err := a.GetConfig(ctx)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(map[string]string{"config": string(b)})
	}
	_, err = c.out.Write(b)
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
	a, err := c.admin()
	if err != nil {
		return err
	}
	res, err := a.Rollback(ctx, v, c.author)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(res)
	}
	fmt.Fprintf(c.out, "rolled back to %d: config version %d, snapshot %d\n", v, res.ConfigVersion, res.Version)
	return nil
}

func ctlDrain(drain bool) func(ctx context.Context, c *ctlRun, args []string) error {
	return func(ctx context.Context, c *ctlRun, args []string) error {
		if err := wantArgs(args, 1, "a node name"); err != nil {
			return err
		}
		a, err := c.admin()
		if err != nil {
			return err
		}
		f, verb := a.Drain, "drained"
		if !drain {
			f, verb = a.Undrain, "undrained"
		}
		res, err := f(ctx, args[0], c.author)
		if err != nil {
			return err
		}
		if c.json {
			return c.printJSON(res)
		}
		fmt.Fprintf(c.out, "%s %s: snapshot %d\n", verb, args[0], res.Version)
		return nil
	}
}

func ctlNode(ctx context.Context, c *ctlRun, args []string) error {
	if len(args) != 2 || args[0] != "remove" {
		return errors.New("want: node remove NAME")
	}
	a, err := c.admin()
	if err != nil {
		return err
	}
	res, err := a.RemoveNode(ctx, args[1], c.author)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(res)
	}
	fmt.Fprintf(c.out, "removed %s: config version %d, snapshot %d\n", args[1], res.ConfigVersion, res.Version)
	return nil
}

func ctlExplain(ctx context.Context, c *ctlRun, args []string) error {
	if err := wantArgs(args, 1, "a client address"); err != nil {
		return err
	}
	a, err := c.admin()
	if err != nil {
		return err
	}
	ex, err := a.Explain(ctx, args[0], c.offset)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(ex)
	}
	fmt.Fprintf(c.out, "client  %s (scope /%d)\nnodes   %s\n", ex.Client, ex.Scope, strings.Join(ex.Nodes, ", "))
	for _, t := range ex.Trace {
		fmt.Fprintf(c.out, "  %s\n", t)
	}
	return nil
}

// ctlValidate checks site files offline; every problem is one line of the
// returned error.
func ctlValidate(args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("validate: want a site file")
	}
	var problems []string
	bad := 0
	for _, f := range args {
		data, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("validate: %w", err)
		}
		s, err := cluster.Parse(f, data)
		if err != nil {
			problems = append(problems, err.Error())
			bad++
			continue
		}
		fmt.Fprintf(out, "%s: site %s, %d nodes, method %s: ok\n", f, s.Name, len(s.Nodes), s.Selection.Method)
	}
	if bad > 0 {
		return fmt.Errorf("validate: %d of %d files invalid:\n%s", bad, len(args), strings.Join(problems, "\n"))
	}
	return nil
}
