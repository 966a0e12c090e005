package health

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

// newHTTPTarget serves /healthz 200, /down 503, /moved a redirect and
// counts the connections it was offered.
func newHTTPTarget(t *testing.T, tlsOn bool) (srv *httptest.Server, conns *atomic.Int32) {
	t.Helper()
	conns = new(atomic.Int32)
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/healthz", http.StatusFound) })
	srv = httptest.NewUnstartedServer(mux)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	if tlsOn {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, conns
}

// serve accepts on l and hands each connection to f until l closes.
func serve(l net.Listener, f func(net.Conn)) {
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go f(c)
		}
	}()
}

// TestProbes runs each kind of probe against live, dead and silent
// loopback targets, bounded by the timeout.
func TestProbes(t *testing.T) {
	plain, _ := newHTTPTarget(t, false)
	secure, _ := newHTTPTarget(t, true)
	httpAddr := plain.Listener.Addr().String()
	httpsAddr := secure.Listener.Addr().String()

	tcpL := testkit.Accepting(t)

	tlsL := tls.NewListener(testkit.Listen(t), testkit.SelfSigned(t, "node.example").ServerConfig())
	serve(tlsL, func(c net.Conn) {
		defer c.Close()
		_ = c.(*tls.Conn).Handshake()
	})

	// silent accepts and never answers: a hung process.
	silent := testkit.Silent(t).Addr().String()
	dead := testkit.FreeAddr(t)

	const timeout = 300 * time.Millisecond
	tests := []struct {
		name    string
		probe   Probe
		ok      bool
		errHas  string // substring of the failure; "" skips
		wantNam string
	}{
		{"http up", HTTP(httpAddr, "/healthz", 0), true, "", "http " + httpAddr + "/healthz"},
		{"http down", HTTP(dead, "/healthz", 0), false, "refused", ""},
		{"http 503", HTTP(httpAddr, "/down", 200), false, "http status 503, want 200", ""},
		{"http 503 expected", HTTP(httpAddr, "/down", 503), true, "", ""},
		{"http redirect not followed", HTTP(httpAddr, "/moved", 200), false, "http status 302, want 200", ""},
		{"http redirect is an answer", HTTP(httpAddr, "/moved", 302), true, "", ""},
		{"http silent", HTTP(silent, "/healthz", 0), false, "no answer within 300ms", ""},
		{"https self-signed up", HTTPS(httpsAddr, "/healthz", 0), true, "", "https " + httpsAddr + "/healthz"},
		{"https against plain http", HTTPS(httpAddr, "/healthz", 0), false, "", ""},
		{"https 503", HTTPS(httpsAddr, "/down", 0), false, "http status 503", ""},
		{"tcp up", TCP(tcpL.Addr().String()), true, "", "tcp " + tcpL.Addr().String()},
		{"tcp down", TCP(dead), false, "refused", ""},
		{"tls self-signed up", TLS(tlsL.Addr().String()), true, "", "tls " + tlsL.Addr().String()},
		{"tls against plain tcp", TLS(tcpL.Addr().String()), false, "", ""},
		{"tls against plain http", TLS(httpAddr), false, "", ""},
		{"tls silent", TLS(silent), false, "no answer within 300ms", ""},
		{"tls down", TLS(dead), false, "refused", ""},
		{"command true", Command("true"), true, "", "command true"},
		{"command false", Command("false"), false, "exit status 1", ""},
		{"command too slow", Command("sleep", "5"), false, "", ""},
		{"command missing", Command(filepath.Join(t.TempDir(), "nope")), false, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := Run(context.Background(), timeout, tt.probe)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !strings.HasPrefix(err.Error(), tt.probe.Name+": ") {
				t.Errorf("error %q does not name the probe %q", err, tt.probe.Name)
			}
			if tt.errHas != "" && (err == nil || !strings.Contains(err.Error(), tt.errHas)) {
				t.Errorf("error %v, want it to contain %q", err, tt.errHas)
			}
			if tt.wantNam != "" && tt.probe.Name != tt.wantNam {
				t.Errorf("name %q, want %q", tt.probe.Name, tt.wantNam)
			}
			if d := time.Since(start); d > timeout+500*time.Millisecond {
				t.Errorf("probe took %s, want it bounded by the %s timeout", d, timeout)
			}
		})
	}
}

// TestFreshConnections: every HTTP probe opens its own connection, so a
// listener that stops accepting cannot hide behind a kept-alive one.
func TestFreshConnections(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		srv, conns := newHTTPTarget(t, tlsOn)
		addr := srv.Listener.Addr().String()
		p := HTTP(addr, "/healthz", 0)
		if tlsOn {
			p = HTTPS(addr, "/healthz", 0)
		}
		for i := range 3 {
			if err := Run(context.Background(), time.Second, p); err != nil {
				t.Fatalf("%s probe %d: %v", p.Name, i, err)
			}
		}
		if n := conns.Load(); n != 3 {
			t.Errorf("%s: 3 probes opened %d connections, want 3", p.Name, n)
		}
	}
}

// TestRun: probes run in order, the first failure stops the round, and all
// share one deadline.
func TestRun(t *testing.T) {
	var ran []string
	p := func(name string, err error) Probe {
		return Probe{Name: name, Check: func(context.Context) error { ran = append(ran, name); return err }}
	}
	hang := Probe{Name: "hang", Check: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }}
	tests := []struct {
		name   string
		probes []Probe
		want   string // error; "" for nil
		ran    string
	}{
		{"none", nil, "", ""},
		{"all pass", []Probe{p("a", nil), p("b", nil)}, "", "a b"},
		{"first failure stops", []Probe{p("a", nil), p("b", errors.New("refused")), p("c", nil)}, "b: refused", "a b"},
		{"timeout", []Probe{p("a", nil), hang, p("c", nil)}, "hang: no answer within 50ms", "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ran = nil
			err := Run(context.Background(), 50*time.Millisecond, tt.probes...)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want || strings.Join(ran, " ") != tt.ran {
				t.Errorf("err %q ran %q, want %q ran %q", got, strings.Join(ran, " "), tt.want, tt.ran)
			}
		})
	}
	// A cancelled parent is not reported as a timeout.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Run(ctx, time.Second, hang); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled run: %v, want context.Canceled", err)
	}
}

// TestForCheck builds probes from site check blocks.
func TestForCheck(t *testing.T) {
	srv, _ := newHTTPTarget(t, false)
	addr := srv.Listener.Addr().String()
	var turnSaw cluster.HealthCheck
	turn := func(_ context.Context, hc cluster.HealthCheck) error {
		turnSaw = hc
		return errors.New("no allocation")
	}
	tests := []struct {
		name     string
		hc       cluster.HealthCheck
		turn     func(context.Context, cluster.HealthCheck) error
		wantName string // "" when an error is wanted
		wantErr  string
		ok       bool
	}{
		{"http defaults", cluster.HealthCheck{Target: addr}, nil, "http " + addr + "/healthz", "", true},
		{"http path and expect", cluster.HealthCheck{Kind: cluster.HealthHTTP, Target: addr, Path: "/down", Expect: 503}, nil, "http " + addr + "/down", "", true},
		{"http wrong status", cluster.HealthCheck{Kind: cluster.HealthHTTP, Target: addr, Path: "/down"}, nil, "http " + addr + "/down", "", false},
		{"https", cluster.HealthCheck{Kind: cluster.HealthHTTPS, Target: addr}, nil, "https " + addr + "/healthz", "", false},
		{"tcp", cluster.HealthCheck{Kind: cluster.HealthTCP, Target: addr}, nil, "tcp " + addr, "", true},
		{"tls", cluster.HealthCheck{Kind: cluster.HealthTLS, Target: addr}, nil, "tls " + addr, "", false},
		{"turn", cluster.HealthCheck{Kind: cluster.HealthTURN, Target: addr}, turn, "turn " + addr, "", false},
		{"turn without probe", cluster.HealthCheck{Kind: cluster.HealthTURN, Target: addr}, nil, "", "no turn probe", false},
		{"unknown kind", cluster.HealthCheck{Kind: "icmp", Target: addr}, nil, "", `"icmp"`, false},
		{"no target", cluster.HealthCheck{Kind: cluster.HealthTCP}, nil, "", "want host:port", false},
		{"bad target", cluster.HealthCheck{Kind: cluster.HealthTCP, Target: "nowhere"}, nil, "", `"nowhere"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ForCheck(tt.hc, tt.turn)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrCheck) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want ErrCheck with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Name != tt.wantName {
				t.Errorf("name %q, want %q", p.Name, tt.wantName)
			}
			if err := Run(context.Background(), time.Second, p); (err == nil) != tt.ok {
				t.Errorf("run: %v, want ok %v", err, tt.ok)
			}
		})
	}
	if turnSaw.Target != addr {
		t.Errorf("turn probe saw %+v, want the check", turnSaw)
	}
}
