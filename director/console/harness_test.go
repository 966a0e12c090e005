package console_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/internal/testkit"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/api/client"
	"github.com/meridian-traffic/meridian/api/client/clienttest"
)

// healthServer is a node agent's health endpoint that a test can close.
type healthServer struct {
	addr string
	srv  *http.Server
	once sync.Once
}

func startHealth(t *testing.T) *healthServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &healthServer{addr: ln.Addr().String(), srv: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok")
	})}}
	go h.srv.Serve(ln)
	t.Cleanup(h.close)
	return h
}

func (h *healthServer) close() { h.once.Do(func() { h.srv.Close() }) }

// siteYAML is a test site: two masters (the primary probed at primary,
// the backup nowhere), the nodes probed over http every 250 ms with rise
// and fall 1, in two regions.
func siteYAML(primary string, nodes []string, health []*healthServer) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# Console test site.
site: con
zone: con.example.
masters:
  primary: {name: m1, ipv4: 192.0.2.1, internal: %q}
  backup: {name: m2, ipv4: 192.0.2.2, internal: "127.0.0.1:1"}
selection: {method: random}
health: {kind: http, path: /healthz, interval: 250ms, timeout: 200ms, rise: 1, fall: 1}
nodes:
`, primary)
	for i, n := range nodes {
		fmt.Fprintf(&b, "  - name: %s\n    ipv4: 192.0.2.%d\n    internal: %q\n    region: %s\n", n, 11+i, health[i].addr, []string{"eu-west", "us-east"}[i%2])
	}
	return b.String()
}

// env is a running director with health-checked nodes that poll it and
// send heartbeats.
type env struct {
	d      *clienttest.Director
	nodes  []string
	health []*healthServer
	admin  *client.Admin
	site   string
}

func startEnv(t *testing.T, n int) *env {
	t.Helper()
	e := &env{}
	master := startHealth(t)
	for i := range n {
		e.nodes = append(e.nodes, fmt.Sprintf("n%d", i+1))
		e.health = append(e.health, startHealth(t))
	}
	e.site = siteYAML(master.addr, e.nodes, e.health)
	e.d = clienttest.Start(t, []byte(e.site))
	e.admin = client.NewAdmin(e.d.URL, clienttest.Token, nil)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for i, name := range e.nodes {
		sub, err := client.NewSubscriber(client.SubscriberConfig{
			Director: e.d.URL, PSK: e.d.PSK, Site: "con", ID: name, Kind: api.KindNode, Wait: 2 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		go sub.Run(ctx)
		go func() {
			for {
				st := sub.Stats()
				sub.SendHeartbeat(ctx, &api.Heartbeat{
					Node: name, Version: st.Version, Uptime: api.Duration(time.Hour), Clients: 3 * i,
					Relay:      &api.RelayStats{Allocations: 2 * i, BytesIn: 1 << 20, BytesOut: 3 << 20},
					BGP:        []api.BGPPeer{{Neighbor: "192.0.2.254", State: "established", Since: time.Now().Add(-time.Hour)}},
					RelayUsers: []api.RelayUser{{User: fmt.Sprintf("%032x/customer", i+1), Allocations: 1, Since: time.Now(), ToPeerBytes: 40 << 10, ToClientBytes: 90 << 10}},
				})
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Second):
				}
			}
		}()
	}
	testkit.Eventually(t, 20*time.Second, "every node up", func() bool {
		st, err := e.admin.Status(context.Background())
		if err != nil {
			return false
		}
		for _, n := range st.Nodes {
			if n.Health != "up" || n.Heartbeat == nil {
				return false
			}
		}
		return true
	})
	return e
}

// browserClient is a cookie-keeping client that does not follow
// redirects, for checking them.
func browserClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func fetch(t *testing.T, hc *http.Client, method, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// hidden returns the value of the first hidden input named name.
func hidden(t *testing.T, page, name string) string {
	t.Helper()
	k := `name="` + name + `" value="`
	i := strings.Index(page, k)
	if i < 0 {
		t.Fatalf("no %s input in the page", name)
	}
	rest := page[i+len(k):]
	return rest[:strings.IndexByte(rest, '"')]
}

// consolePages are the pages behind the login.
var consolePages = []string{"/", "/nodes", "/config", "/sync", "/clients", "/explain", "/explain?ip=198.51.100.7", "/audit", "/nodes/n1/confirm?action=drain", "/config/rollback?version=1"}
