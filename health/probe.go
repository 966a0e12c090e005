// Package health is the one vocabulary for liveness checks: probes of a
// listener or a program, and the rise/fall hysteresis that turns probe
// results into up and down. The director probes nodes and masters with it,
// a node's BGP speaker probes itself.
//
// It sits just above the site model: it imports the standard library and
// cluster only, and the relay supplies its TURN allocation probe as a
// func, so health never imports relay.
package health

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"time"

	"github.com/meridian-traffic/meridian/cluster"
)

// Probe is one health check. Check reports whether the thing probed
// serves: nil means healthy. It must return by the time ctx ends.
type Probe struct {
	Name  string // names the probe in failure reasons, e.g. "tcp 10.0.0.1:80"
	Check func(ctx context.Context) error
}

// Defaults of a check that leaves fields zero; the site parser sets the
// same ones.
const (
	DefaultPath   = "/healthz"
	DefaultExpect = http.StatusOK
)

// ErrCheck is returned by ForCheck for a check it cannot build a probe
// from: an unknown kind, a malformed target, a turn check without a
// turn probe.
var ErrCheck = errors.New("bad health check")

// ForCheck returns the probe a site's check block describes: kind (default
// http), target host:port, and for http(s) the path (default /healthz) and
// the status expected (default 200). A check of kind turn runs turn with
// the check; health cannot allocate on a relay itself, so turn is the
// relay's probe, and a turn check with a nil turn is an error.
func ForCheck(hc cluster.HealthCheck, turn func(ctx context.Context, hc cluster.HealthCheck) error) (Probe, error) {
	kind := hc.Kind
	if kind == "" {
		kind = cluster.HealthHTTP
	}
	switch kind {
	case cluster.HealthTCP, cluster.HealthHTTP, cluster.HealthHTTPS, cluster.HealthTLS, cluster.HealthTURN:
	default:
		return Probe{}, fmt.Errorf("%w: check kind %q: want http, https, tcp, tls or turn", ErrCheck, kind)
	}
	if hc.Target == "" {
		return Probe{}, fmt.Errorf("%w: check target: want host:port", ErrCheck)
	}
	if _, _, err := net.SplitHostPort(hc.Target); err != nil {
		return Probe{}, fmt.Errorf("%w: check target %q: want host:port", ErrCheck, hc.Target)
	}
	path := hc.Path
	if path == "" {
		path = DefaultPath
	}
	switch kind {
	case cluster.HealthHTTP:
		return HTTP(hc.Target, path, hc.Expect), nil
	case cluster.HealthHTTPS:
		return HTTPS(hc.Target, path, hc.Expect), nil
	case cluster.HealthTCP:
		return TCP(hc.Target), nil
	case cluster.HealthTLS:
		return TLS(hc.Target), nil
	}
	if turn == nil {
		return Probe{}, fmt.Errorf("%w: check kind turn: no turn probe given", ErrCheck)
	}
	return Probe{Name: "turn " + hc.Target, Check: func(ctx context.Context) error { return turn(ctx, hc) }}, nil
}

// HTTP is healthy when GET http://addr+path answers with status expect
// (200 when zero). A redirect is an answer, not followed.
func HTTP(addr, path string, expect int) Probe {
	return httpProbe("http", addr, path, expect)
}

// HTTPS is HTTP over TLS; the certificate is not verified (see tlsConfig).
func HTTPS(addr, path string, expect int) Probe {
	return httpProbe("https", addr, path, expect)
}

func httpProbe(scheme, addr, path string, expect int) Probe {
	if expect == 0 {
		expect = DefaultExpect
	}
	url := scheme + "://" + addr + path
	client := &http.Client{
		// Every probe opens a new connection: a kept-alive one could hide
		// a listener that stopped accepting.
		Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: tlsConfig(), Proxy: nil},
		// A redirect is an answer, not a reason to go elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return Probe{Name: scheme + " " + addr + path, Check: func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("health request: %w", err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		// The connection is not reused, so the body is not read.
		resp.Body.Close()
		if resp.StatusCode != expect {
			return fmt.Errorf("http status %d, want %d", resp.StatusCode, expect)
		}
		return nil
	}}
}

// TCP is healthy when a TCP connection to addr (host:port) opens.
func TCP(addr string) Probe {
	return Probe{Name: "tcp " + addr, Check: func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}}
}

// TLS is healthy when a TLS handshake with addr (host:port) completes; the
// certificate is not verified (see tlsConfig).
func TLS(addr string) Probe {
	return Probe{Name: "tls " + addr, Check: func(ctx context.Context) error {
		// The server name is the target's host, as tls.Dialer would infer.
		host, _, _ := net.SplitHostPort(addr)
		conf := tlsConfig()
		conf.ServerName = host
		d := tls.Dialer{Config: conf}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}}
}

// tlsConfig does not verify the peer: a probe asks whether a listener
// serves, not who it is, and node certificates name the public host, not
// the internal address probed.
func tlsConfig() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // liveness probe, see above
}

// commandWaitDelay bounds the wait for a killed command's children that
// still hold its output pipes.
const commandWaitDelay = 100 * time.Millisecond

// Command is healthy when the program exits 0 before ctx ends; it is
// killed when ctx ends.
func Command(name string, args ...string) Probe {
	return Probe{Name: "command " + name, Check: func(ctx context.Context) error {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.WaitDelay = commandWaitDelay
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	}}
}

// Run runs probes in order under one deadline, timeout from now, and
// returns the first failure named by its probe ("tcp 10.0.0.1:80: connect:
// connection refused"), or nil when all pass. A probe still running at the
// deadline fails with "no answer within <timeout>".
func Run(ctx context.Context, timeout time.Duration, probes ...Probe) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, p := range probes {
		if err := p.Check(ctx); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				err = fmt.Errorf("no answer within %s", timeout)
			}
			return fmt.Errorf("%s: %w", p.Name, err)
		}
	}
	return nil
}
