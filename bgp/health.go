package bgp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"time"

	"github.com/meridian-traffic/meridian/cluster"
)

// HTTPProbe is healthy when GET url answers with status expect (200 when
// zero). Every probe opens a new connection: a kept-alive one could outlive
// a listener that is gone.
func HTTPProbe(url string, expect int) Probe {
	return httpProbe("http "+url, url, expect, nil)
}

func httpProbe(name, url string, expect int, tlsConf *tls.Config) Probe {
	if expect == 0 {
		expect = http.StatusOK
	}
	client := &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: tlsConf, Proxy: nil},
		// A redirect is an answer, not a reason to follow it elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return Probe{Name: name, Check: func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("%s: %w", url, err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode != expect {
			return fmt.Errorf("%s: status %d, want %d", url, resp.StatusCode, expect)
		}
		return nil
	}}
}

// TCPProbe is healthy when a TCP connection to addr (host:port) opens.
func TCPProbe(addr string) Probe {
	return Probe{Name: "tcp " + addr, Check: func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}}
}

// TLSProbe is healthy when a TLS handshake with addr completes. The node
// checks that its own listener answers, not who it is, so the certificate
// is not verified.
func TLSProbe(addr string) Probe {
	return Probe{Name: "tls " + addr, Check: func(ctx context.Context) error {
		d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // liveness, not identity
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}}
}

// CommandProbe is healthy when the command exits 0 before the check's
// timeout; it is killed when the timeout passes.
func CommandProbe(name string, args ...string) Probe {
	return Probe{Name: "command " + name, Check: func(ctx context.Context) error {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.WaitDelay = 100 * time.Millisecond // do not wait on children holding our pipes
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	}}
}

// mainProbe is the probe the site's check block describes.
func mainProbe(h cluster.HealthCheck, haveProbes bool) (Probe, error) {
	kind := h.Kind
	if kind == "" {
		kind = cluster.HealthHTTP
	}
	if kind == cluster.HealthTURN {
		// The relay package supplies the allocation probe.
		if !haveProbes {
			return Probe{}, fmt.Errorf("%w: check kind turn needs the relay's probe in Config.Probes", ErrOption)
		}
		return Probe{}, nil
	}
	if h.Target == "" {
		return Probe{}, fmt.Errorf("%w: check target: want host:port", ErrOption)
	}
	if _, _, err := net.SplitHostPort(h.Target); err != nil {
		return Probe{}, fmt.Errorf("%w: check target %q: want host:port", ErrOption, h.Target)
	}
	path := h.Path
	if path == "" {
		path = "/healthz"
	}
	switch kind {
	case cluster.HealthHTTP:
		return httpProbe("http "+h.Target+path, "http://"+h.Target+path, h.Expect, nil), nil
	case cluster.HealthHTTPS:
		// As TLSProbe: the node's own endpoint, checked for life.
		conf := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // liveness, not identity
		return httpProbe("https "+h.Target+path, "https://"+h.Target+path, h.Expect, conf), nil
	case cluster.HealthTCP:
		return TCPProbe(h.Target), nil
	case cluster.HealthTLS:
		return TLSProbe(h.Target), nil
	}
	return Probe{}, fmt.Errorf("%w: check kind %q: want http, https, tcp, tls or turn", ErrOption, kind)
}

// checkResult is one round of all probes.
type checkResult struct {
	ok     bool
	detail string // the first failing probe and why; "" when ok
	at     time.Time
}

// runChecks probes every interval, starting at once, and sends each result
// to out until ctx ends. All probes of a round share one deadline.
func runChecks(ctx context.Context, cs checkSettings, out chan<- checkResult) {
	t := time.NewTicker(cs.interval)
	defer t.Stop()
	for {
		r := checkOnce(ctx, cs)
		if ctx.Err() != nil {
			return
		}
		select {
		case out <- r:
		case <-ctx.Done():
			return
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

func checkOnce(ctx context.Context, cs checkSettings) checkResult {
	ctx, cancel := context.WithTimeout(ctx, cs.timeout)
	defer cancel()
	for _, p := range cs.probes {
		if err := p.Check(ctx); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				err = fmt.Errorf("no answer within %s", cs.timeout)
			}
			return checkResult{detail: fmt.Sprintf("%s: %v", p.Name, err), at: time.Now()}
		}
	}
	return checkResult{ok: true, at: time.Now()}
}
