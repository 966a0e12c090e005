package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/meridian-traffic/meridian/api/client"
)

// ctlEnv names the environment of `meridian ctl`.
const (
	envDirector  = "MERIDIAN_DIRECTOR"
	envTokenFile = "MERIDIAN_TOKEN_FILE"
	envPSK       = "MERIDIAN_PSK"
	envPSKFile   = "MERIDIAN_PSK_FILE"
	// defaultDirector is where `meridian director` listens by default.
	defaultDirector = "http://127.0.0.1:7700"
)

// ctlGlobal are the flags every ctl command takes.
type ctlGlobal struct {
	director  string
	tokenFile string
	ca        string
	json      bool
	timeout   time.Duration
	insecure  bool // accept a token file others may read
}

// newCtlGlobal returns the defaults, from the environment.
func newCtlGlobal() ctlGlobal {
	// The variable may list several directors for node agents; operator
	// commands go to the first, since every director serves them alike.
	director, _, _ := strings.Cut(envOr(envDirector, defaultDirector), ",")
	return ctlGlobal{director: strings.TrimSpace(director), tokenFile: os.Getenv(envTokenFile), timeout: 10 * time.Second}
}

// register adds the flags to fs with the current values as defaults, so
// flags given before the command carry over to the command's flag set.
func (g *ctlGlobal) register(fs *flag.FlagSet) {
	fs.StringVar(&g.director, "director", g.director, "director URL (env "+envDirector+")")
	fs.StringVar(&g.tokenFile, "token-file", g.tokenFile, "file holding the admin token (env "+envTokenFile+")")
	fs.StringVar(&g.ca, "ca", g.ca, "PEM file of the CA that signed an https director's certificate")
	fs.BoolVar(&g.json, "json", g.json, "print JSON")
	fs.BoolVar(&g.insecure, flagAllowInsecure, g.insecure, "accept a token file that the group or others may read (warns)")
	fs.DurationVar(&g.timeout, "timeout", g.timeout, "give up on a director that does not answer within this time")
}

// admin returns the operator client; the token is read from its file and
// never printed.
func (g *ctlGlobal) admin() (*client.Admin, error) {
	if g.tokenFile == "" {
		return nil, errors.New("no admin token: give --token-file or set " + envTokenFile)
	}
	b, err := readSecretFile("admin token", g.tokenFile, g.insecure, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		return nil, err
	}
	tok := strings.TrimSpace(string(b))
	hc, err := httpClientWithCA(g.ca)
	if err != nil {
		return nil, err
	}
	return client.NewAdmin(g.director, tok, hc), nil
}

// httpClientWithCA returns the default director client, trusting only the
// CA in caFile when one is given.
func httpClientWithCA(caFile string) (*http.Client, error) {
	hc := client.DefaultHTTPClient()
	if caFile == "" {
		return hc, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca: %s holds no PEM certificate", caFile)
	}
	hc.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return hc, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// parseInterleaved parses flags that may come before, between or after the
// positional arguments ("drain us-traffic1 --json") and returns the
// positional ones. "--" ends the flags.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > 0 && len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// newFlagSet returns a silent flag set: errors come back to the caller as
// one line, usage goes to out on -h.
func newFlagSet(name string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(out, "usage: meridian %s\n", name)
		fs.SetOutput(out)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}
