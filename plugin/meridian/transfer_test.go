package meridian

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/meridian-traffic/meridian/cluster"
)

func TestTransfersRefused(t *testing.T) {
	withSnap := testPlugin(t, testSnapshot(t, cluster.MethodGeo, nil), false)
	noSnap := New(Config{Zones: []string{"support.example.com."}})
	plain := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	plain.SetUDPSize(1232)
	tests := []struct {
		name  string
		m     *Meridian
		qname string
		qtype uint16
		opt   *dns.OPT
	}{
		{"AXFR of the apex", withSnap, support, dns.TypeAXFR, nil},
		{"IXFR of the apex", withSnap, support, dns.TypeIXFR, nil},
		{"AXFR of the traffic hostname", withSnap, traffic, dns.TypeAXFR, nil},
		{"AXFR of a name the site does not own", withSnap, "www.support.example.com.", dns.TypeAXFR, nil},
		{"AXFR with EDNS", withSnap, support, dns.TypeAXFR, plain},
		{"IXFR with ECS", withSnap, support, dns.TypeIXFR, ecsOpt(1, 24, "10.2.3.0")},
		{"AXFR without a snapshot", noSnap, support, dns.TypeAXFR, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			counter := transferRefusedCount.WithLabelValues("", dns.TypeToString[tt.qtype])
			before := testutil.ToFloat64(counter)
			hadOPT := tt.opt != nil
			r := query(t, tt.m, tt.qname, tt.qtype, "192.0.2.200", tt.opt)
			if r.Rcode != dns.RcodeRefused || len(r.Answer) != 0 {
				t.Fatalf("got %s with %d answers, want REFUSED", dns.RcodeToString[r.Rcode], len(r.Answer))
			}
			if (r.IsEdns0() != nil) != hadOPT {
				t.Errorf("OPT in the answer: %v, in the query: %v", r.IsEdns0() != nil, hadOPT)
			}
			if got := testutil.ToFloat64(counter) - before; got != 1 {
				t.Errorf("transfers_refused_total rose by %v, want 1", got)
			}
		})
	}
}

func TestReady(t *testing.T) {
	m := New(Config{Zones: []string{"support.example.com."}})
	if m.Ready() {
		t.Fatal("ready without a snapshot")
	}
	snap := testSnapshot(t, cluster.MethodGeo, nil)
	m.install(snap)
	if !m.Ready() {
		t.Fatal("not ready with a snapshot")
	}
}

// TestServerReady checks CoreDNS's ready endpoint: 503 while the plugin
// has no snapshot (its director answers 503, no cache), 200 once one
// arrives.
func TestServerReady(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and CoreDNS")
	}
	l := newLab(t, cluster.MethodGeo)
	var open atomic.Bool
	target, err := url.Parse("http://" + l.d.Addr())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	gate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !open.Load() {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(gate.Close) // after the server's cleanup, which ends the poll
	readyAddr := freeTCPAddr(t)
	corefile := fmt.Sprintf(`support.example.com:0 {
    bind 127.0.0.1
    ready %s
    meridian {
        director %s
        psk_file %s
        cache_dir %s
    }
}
`, readyAddr, gate.URL, l.pskFile, filepath.Join(l.dir, "ready-cache"))
	s := startServer(t, corefile)
	status := func() int {
		c := &http.Client{Timeout: time.Second}
		resp, err := c.Get("http://" + readyAddr + "/ready")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	eventually(t, 5*time.Second, func() string {
		if st := status(); st != http.StatusServiceUnavailable {
			return fmt.Sprintf("ready endpoint %d without a snapshot, want 503", st)
		}
		return ""
	})
	if r := s.ask(t, support, dns.TypeA, ""); r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("without a snapshot: %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
	open.Store(true)
	eventually(t, 20*time.Second, func() string {
		if st := status(); st != http.StatusOK {
			return fmt.Sprintf("ready endpoint %d after the director opened, want 200", st)
		}
		return ""
	})
	expectAddrs(t, s, support, dns.TypeA, "", "192.0.2.10")
}

// freeTCPAddr returns a loopback address nothing listens on (just now).
func freeTCPAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
