package director

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

const (
	testPSK   = "test-psk-0123456789-abcdefghij"
	testToken = "admin-token-9f8e7d6c5b4a"
	// testOperator is the name of testToken: the author of the changes.
	testOperator = "alice"
	testSite     = "t"
)

// siteDown is the test site (testkit.SiteYAML) with the master and nodes
// at addresses where nothing listens.
func siteDown(t testing.TB, nodes int) string {
	addrs := make([]string, nodes+1)
	for i := range addrs {
		addrs[i] = testkit.FreeAddr(t)
	}
	return testkit.SiteYAML(addrs[0], addrs[1:]...)
}

// harness is one running director and clients for both of its APIs.
type harness struct {
	t      testing.TB
	d      *Director
	base   string
	psk    cluster.PSK
	reg    *prometheus.Registry
	client *http.Client
	stop   func()
}

// startDirector runs a director with test defaults filled into cfg.
func startDirector(t testing.TB, cfg Config) *harness {
	t.Helper()
	psk, err := cluster.NewPSK([]byte(testPSK))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name == "" {
		cfg.Name = "d1"
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if len(cfg.Etcd.Endpoints) == 0 && cfg.Etcd.DataDir == "" {
		cfg.Etcd.DataDir = t.TempDir()
	}
	if cfg.PSK.IsZero() {
		cfg.PSK = psk
	}
	if cfg.AdminToken == "" && len(cfg.AdminTokens) == 0 {
		cfg.AdminTokens = []cluster.NamedToken{{Name: testOperator, Token: testToken}}
	}
	if cfg.ElectionTTL == 0 {
		cfg.ElectionTTL = 2
	}
	reg := prometheus.NewRegistry()
	if cfg.Metrics == nil {
		cfg.Metrics = reg
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, d: d, psk: psk, reg: reg,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 200}, Timeout: 40 * time.Second}}
	run := testkit.Go(t, "director "+cfg.Name, 30*time.Second, d.Run)
	h.stop = func() { _ = run.Stop() }
	if cfg.Etcd.InitialCluster != "" {
		return h // members of a new cluster start together; see waitReady
	}
	h.waitReady()
	return h
}

func (h *harness) waitReady() {
	h.t.Helper()
	select {
	case <-h.d.Ready():
	case <-time.After(60 * time.Second):
		h.t.Fatalf("director %s not ready within 60s", h.d.cfg.Name)
	}
	h.base = "http://" + h.d.Addr()
}

// do sends a request and returns the status and body.
func (h *harness) do(req *http.Request) (int, []byte) {
	h.t.Helper()
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	return resp.StatusCode, b
}

// admin sends an admin request with the test token.
func (h *harness) admin(method, pathQuery string, body []byte, hdr ...string) (int, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.base+pathQuery, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return h.do(req)
}

// adminJSON sends an admin request, wants 200 and decodes the answer.
func (h *harness) adminJSON(method, pathQuery string, body []byte, out any, hdr ...string) {
	h.t.Helper()
	code, b := h.admin(method, pathQuery, body, hdr...)
	if code != http.StatusOK {
		h.t.Fatalf("%s %s: status %d: %s", method, pathQuery, code, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			h.t.Fatalf("%s %s: decode %s: %v", method, pathQuery, b, err)
		}
	}
}

func nonce() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// signed builds a PSK-signed request as a subscriber would.
func (h *harness) signed(method, pathQuery string, body []byte, ts time.Time, n string, psk cluster.PSK) *http.Request {
	h.t.Helper()
	req, err := http.NewRequest(method, h.base+pathQuery, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", cluster.NewRequestAuth(psk).Header(method, pathQuery, body, ts, n))
	return req
}

func syncPath(after uint64, id, kind string, wait time.Duration, extra ...string) string {
	q := url.Values{}
	q.Set("after", fmt.Sprint(after))
	q.Set("subscriber", id)
	q.Set("kind", kind)
	q.Set("wait", wait.String())
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return api.PathSync + "?" + q.Encode()
}

// sync long-polls once and returns the status and the verified snapshot
// (nil unless 200).
func (h *harness) sync(after uint64, id, kind string, wait time.Duration, extra ...string) (int, *cluster.Snapshot) {
	h.t.Helper()
	code, b := h.do(h.signed(http.MethodGet, syncPath(after, id, kind, wait, extra...), nil, time.Now(), nonce(), h.psk))
	if code != http.StatusOK {
		return code, nil
	}
	s, err := cluster.NewSnapshotSigner(h.psk, testSite).Verify(b, after)
	if err != nil {
		h.t.Fatalf("sync: verify snapshot: %v", err)
	}
	return code, s
}

// current returns the director's current snapshot as a subscriber sees it.
func (h *harness) current() *cluster.Snapshot {
	h.t.Helper()
	code, s := h.sync(0, "test", api.KindDNS, time.Second)
	if code != http.StatusOK {
		h.t.Fatalf("sync after=0: status %d", code)
	}
	return s
}

// counter reads one counter of the harness registry, 0 before it counts;
// labels are name, value pairs.
func (h *harness) counter(name string, labels ...string) float64 {
	h.t.Helper()
	v, _, err := testkit.Lookup(h.reg, name, labels...)
	if err != nil {
		h.t.Fatal(err)
	}
	return v
}

// memberName names director i of threeMembers: d1, d2, d3.
func memberName(i int) string { return fmt.Sprintf("d%d", i+1) }

// threeMembers is the store configuration of a three-director site on
// free loopback ports, one entry a director, named by memberName.
func threeMembers(t *testing.T) []EtcdConfig {
	peers := make([]string, 3)
	initial := make([]string, 3)
	for i := range peers {
		peers[i] = "http://" + testkit.FreeAddr(t)
		initial[i] = memberName(i) + "=" + peers[i]
	}
	out := make([]EtcdConfig, 3)
	for i := range out {
		out[i] = EtcdConfig{DataDir: t.TempDir(), PeerURL: peers[i], ClientURL: "http://" + testkit.FreeAddr(t),
			InitialCluster: strings.Join(initial, ",")}
	}
	return out
}
